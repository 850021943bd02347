//! Follow end to end: the real `histd` binary past fast-sync, against in-process testnet peers
//! (each on its own loopback /24) whose head the test moves and whose chain it switches, all peers
//! at once, through the testnet's `Control`. A small `rollback_window` (8) keeps every scenario to
//! a few hundred synthetic blocks: a head advancing every 100 ms (`head`), reorgs of depth 1, 3
//! and the window, and one deeper (`reorg`), a stop in Follow and a reorg while stopped
//! (`restart`), out-of-order arrivals from a slow peer (`reorder`).

mod db;
mod head;
mod reorder;
mod reorg;
mod restart;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use histd::testkit::process::HistdProcess as Histd;
use histd::testkit::testnet::{ChainKind, Testnet, TestnetConfig};
use serde_json::Value;

pub use super::sync::{assert_store_equals, db_verify, enodes, open_store, runtime, start_testnet};

/// The rollback window of these runs.
pub const WINDOW: u64 = 8;
/// How long reaching a head may take on a busy machine.
pub const LIMIT: Duration = Duration::from_secs(120);
/// The line follow logs on each edge into "up to date".
pub const UP_TO_DATE: &str = "follow: up to date with the network";

/// `histd run` in follow mode on `dir` against `net`: four peers required, a window of
/// [`WINDOW`], the JSON-RPC server on a free port, plus `extra`.
pub fn follow_cmd(dir: &Path, net: &Testnet, extra: &[&str]) -> Command {
    let window = WINDOW.to_string();
    let mut args = vec![
        "--min-peers",
        "4",
        "--rollback-window",
        &window,
        "--rpc-bind",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(extra);
    super::sync::run_cmd(dir, &enodes(net), &args)
}

/// Four honest peers serving 300 synthetic blocks (and the given reorg chains), capped at
/// `head`, and a node following them that is up to date at `head`.
pub fn following_at(
    reorgs: Vec<u64>,
    head: u64,
) -> (tokio::runtime::Runtime, tempfile::TempDir, Testnet, Histd) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = TestnetConfig::new(ChainKind::Synthetic, 300, 4);
    config.reorgs = reorgs;
    let net = start_testnet(&rt, dir.path(), config);
    net.control.cap_head(head);
    let mut h = Histd::spawn(follow_cmd(dir.path(), &net, &[]));
    wait_up_to_date(&mut h, head);
    (rt, dir, net, h)
}

/// A number field of a log line (numbers may be logged as strings).
pub fn num(v: &Value, field: &str) -> u64 {
    v[field]
        .as_u64()
        .or_else(|| v[field].as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("no number {field} in {v}"))
}

/// Waits until follow says it is up to date at `head` exactly.
pub fn wait_up_to_date(h: &mut Histd, head: u64) -> Value {
    h.wait_for_within(LIMIT, &format!("up to date at {head}"), |v| {
        v["message"] == UP_TO_DATE && v["head"].as_u64() == Some(head)
    })
}

/// Log lines with exactly `message`.
pub fn count(h: &Histd, message: &str) -> usize {
    h.seen.iter().filter(|v| v["message"] == message).count()
}

/// Stops `h` with SIGINT and expects exit 0 and the follow summary line, which it returns.
pub fn stop(h: &mut Histd) -> Value {
    h.signal(libc::SIGINT);
    let status = h.wait_exit_within(LIMIT);
    assert_eq!(status.code(), Some(0), "{:#?}", h.seen);
    assert!(!h.logged("worker failed"), "{:#?}", h.seen);
    h.seen
        .iter()
        .rev()
        .find(|v| v["message"] == "follow stopped")
        .cloned()
        .unwrap_or_else(|| panic!("no follow summary: {:#?}", h.seen))
}
