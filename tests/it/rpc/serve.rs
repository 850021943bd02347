//! `histd serve` as the real binary on a real data directory: it prints where it listens,
//! answers `eth_blockNumber` with the stored tip, and exits 0 on SIGTERM; without blocks it
//! refuses with one line and exit 1; on an address already taken it names the address and the
//! cause and exits 2 (config error: systemd must not restart it in a loop).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::json;

use super::{hex_n, mainnet_store, result};

/// `histd serve` on `dir` on a free port: the child (stdout read up to its first line) and the
/// address it printed.
pub async fn spawn_serve(dir: &Path) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_histd"))
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start histd serve");
    let stdout = child.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    let addr: SocketAddr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .parse()
        .unwrap();
    (child, addr)
}

/// SIGTERM to `child`; it must exit 0.
pub async fn stop_serve(child: Child) {
    // SAFETY: signalling our own child by its pid.
    let rc = unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(rc, 0);
    let mut child = child;
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn histd_serve_answers_on_a_stopped_nodes_data() {
    let dir = tempfile::tempdir().unwrap();
    let (_, blocks) = mainnet_store(dir.path());
    let top = blocks.last().unwrap();
    let (child, addr) = spawn_serve(dir.path()).await;
    assert_eq!(
        result(addr, "eth_blockNumber", json!([])).await,
        hex_n(top.number().get())
    );
    let b = result(addr, "eth_getBlockByNumber", json!(["latest", false])).await;
    assert_eq!(b["hash"], json!(top.hash()));
    stop_serve(child).await;
}

#[test]
fn histd_serve_refuses_a_directory_without_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_histd"))
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("histd serve: "), "{err}");
}

#[test]
fn histd_serve_on_a_taken_address_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    mainnet_store(dir.path());
    // Held until the end of the test: the port stays taken while histd tries it.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_histd"))
        .args(["serve", "--bind", &addr.to_string(), "--data-dir"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(histd::daemon::Exit::Config.code().into()),
        "{err}"
    );
    assert!(err.contains(&addr.to_string()), "{err}");
    assert!(err.contains("rpc.bind"), "{err}");
    assert!(err.contains("in use"), "{err}");
    drop(taken);
}
