//! A head advancing every 100 ms for `HISTD_FOLLOW_SECS` seconds (default 120: "for minutes"): follow keeps up,
//! the stored blocks equal the chain, the first shard is sealed once the tip is a rollback window
//! past it, and the JSON-RPC server starts exactly once, only after the first `UpToDate` (never
//! during FastSync), although the node falls behind and catches up again with every new block.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use histd::testkit::process::HistdProcess as Histd;
use histd::testkit::testnet::{ChainKind, PeerKnobs, TestnetConfig};
use serde_json::json;

use super::*;

const FIRST_RPC: &str = "up to date with the network for the first time: starting JSON-RPC";
const LISTENING: &str = "JSON-RPC server listening (HTTP and WebSocket)";

fn position(h: &Histd, pred: impl Fn(&Value) -> bool) -> usize {
    h.seen
        .iter()
        .position(pred)
        .unwrap_or_else(|| panic!("line not seen: {:#?}", h.seen))
}

#[test]
fn follow_keeps_up_with_a_head_advancing_every_100ms_and_starts_rpc_once() {
    let secs: u64 = std::env::var("HISTD_FOLLOW_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(120);
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    // Just below the end of the first shard (1000 blocks): follow crosses it, and seals it once
    // the tip is a window past it.
    let start = 900;
    let mut config = TestnetConfig::new(ChainKind::Synthetic, start + secs * 10 + 400, 4);
    config.knobs = PeerKnobs {
        head_start: Some(start),
        head_advance_every: Some(Duration::from_millis(100)),
        ..PeerKnobs::default()
    };
    let net = start_testnet(&rt, dir.path(), config);
    // The peers started just before this: their head is at least this far from here on.
    let t0 = Instant::now();
    let head_now = || start + t0.elapsed().as_millis() as u64 / 100;
    let mut h = Histd::spawn(follow_cmd(dir.path(), &net, &[]));
    h.wait_transition("startup", "fast_sync");
    h.wait_for_within(LIMIT, "finalizing -> follow", |v| {
        v["message"] == "phase transition" && v["from"] == "finalizing" && v["to"] == "follow"
    });
    let epoch = h.wait_for("follow epoch", |v| v["message"] == "follow epoch");
    for field in [
        "range_start",
        "range_end",
        "missing_blocks",
        "last_indexed",
        "observed_head",
    ] {
        assert!(!epoch[field].is_null(), "{field} missing: {epoch}");
    }
    let listening = h.wait_for_within(LIMIT, "RPC listening", |v| v["message"] == LISTENING);
    // Never during FastSync: the server starts after the switch to Follow and the first
    // UpToDate.
    let rpc_at = position(&h, |v| v["message"] == LISTENING);
    let follow_at = position(&h, |v| {
        v["message"] == "phase transition" && v["to"] == "follow"
    });
    let first_up = position(&h, |v| v["message"] == UP_TO_DATE);
    assert!(follow_at < first_up && first_up < rpc_at, "{:#?}", h.seen);
    let addr: SocketAddr = listening["addr"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .expect("the server's address");

    std::thread::sleep(Duration::from_secs(secs));
    let served = rt.block_on(crate::rpc::result(addr, "eth_blockNumber", json!([])));
    let served =
        u64::from_str_radix(served.as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    assert!(served > start, "the RPC head moves with follow: {served}");

    // Freeze the head a little above anything reached, and see follow arrive there.
    let cap = head_now() + 20;
    net.control.cap_head(cap);
    wait_up_to_date(&mut h, cap);
    // The log line is the sync's; the RPC head moves one channel hop later.
    let latest_at = || {
        rt.block_on(crate::rpc::result(
            addr,
            "eth_getBlockByNumber",
            json!(["latest", false]),
        ))
    };
    let mut latest = latest_at();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while latest["number"] != json!(format!("{cap:#x}")) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        latest = latest_at();
    }
    assert_eq!(
        latest["hash"].as_str(),
        Some(net.chain.hash(cap).unwrap().to_string().as_str()),
        "{latest}"
    );
    let summary = stop(&mut h);
    println!("{summary}");
    // It fell behind and caught up again many times; the server started once.
    assert!(count(&h, UP_TO_DATE) >= 2, "{:#?}", h.seen);
    assert_eq!(count(&h, FIRST_RPC), 1, "{:#?}", h.seen);
    assert_eq!(count(&h, LISTENING), 1, "{:#?}", h.seen);
    // Every block from where follow started up to the cap, each written once.
    let from = num(&epoch, "last_indexed");
    assert_eq!(num(&summary, "blocks_written"), cap - from, "{summary}");
    assert!(
        num(&summary, "buffer_peak") <= num(&summary, "window"),
        "{summary}"
    );
    assert_store_equals(dir.path(), &net.chain, 0..=cap);
    let sealed = h
        .seen
        .iter()
        .any(|v| v["message"] == "follow: sealed complete shards below the rollback window");
    let shard0 = open_store(dir.path(), &net.chain).shard_state(0).unwrap();
    if cap >= 1000 + WINDOW {
        assert!(sealed, "{:#?}", h.seen);
        assert_eq!(shard0, histd::storage::ShardState::Sealed);
    } else {
        assert!(!sealed && shard0 != histd::storage::ShardState::Sealed);
    }
    db_verify(dir.path());
}
