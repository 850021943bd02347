//! systemd's notify protocol with the product workers: the real binary fast-syncs from testnet
//! peers with `NOTIFY_SOCKET` pointing at a unix datagram socket this test owns, and systemd would
//! see READY=1, STATUS lines carrying the phase and fast-sync's progress, then STOPPING=1.

use std::os::unix::net::UnixDatagram;
use std::time::Instant;

use histd::testkit::process::HistdProcess as Histd;

use super::*;

/// Every message on `socket` until STOPPING=1 (or the deadline fails the test).
fn messages_until_stopping(socket: &UnixDatagram) -> Vec<String> {
    let deadline = Instant::now() + RUN_LIMIT;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no STOPPING=1; got {seen:#?}");
        socket.set_read_timeout(Some(left)).expect("timeout");
        let n = socket
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("notify socket: {e}; got {seen:#?}"));
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        let stop = msg == "STOPPING=1";
        seen.push(msg);
        if stop {
            return seen;
        }
    }
}

/// `(last indexed, blocks stored)` of a fast-sync progress STATUS.
fn progress_of(msg: &str) -> Option<(u64, u64)> {
    let rest = msg.strip_prefix("STATUS=phase: fast_sync, last indexed block ")?;
    let (tip, rest) = rest.split_once(", ")?;
    let stored = rest.strip_suffix(" blocks stored this run")?;
    Some((tip.parse().ok()?, stored.parse().ok()?))
}

#[test]
fn systemd_hears_ready_fast_sync_progress_and_stopping_from_a_real_sync() {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    const END: u64 = 3000;
    // Slow enough that fast-sync lasts a few progress intervals.
    let net = start_slow_testnet(&rt, dir.path(), END, 3);
    let sock_path = dir.path().join("notify");
    let socket = UnixDatagram::bind(&sock_path).expect("bind the notify socket");
    let mut cmd = run_cmd(
        dir.path(),
        &enodes(&net),
        &["--end-block", &END.to_string(), "--min-peers", "3"],
    );
    cmd.env("NOTIFY_SOCKET", &sock_path)
        .env_remove("WATCHDOG_USEC");
    let mut h = Histd::spawn(cmd);
    let seen = messages_until_stopping(&socket);
    let status = h.wait_exit_within(RUN_LIMIT);
    assert_eq!(status.code(), Some(0), "{:#?}", h.seen);

    let at = |pred: &dyn Fn(&str) -> bool, what: &str| {
        seen.iter()
            .position(|m| pred(m))
            .unwrap_or_else(|| panic!("no {what} in {seen:#?}"))
    };
    let ready = at(&|m| m == "READY=1", "READY=1");
    let fast = at(&|m| m == "STATUS=phase: fast_sync", "fast_sync status");
    let first_progress = at(&|m| progress_of(m).is_some(), "fast-sync progress");
    let fin = at(&|m| m == "STATUS=phase: finalizing", "finalizing status");
    let stopping = at(&|m| m == "STOPPING=1", "STOPPING=1");
    assert!(
        ready < fast && fast < first_progress && first_progress < fin && fin < stopping,
        "out of order: {seen:#?}"
    );
    assert_eq!(seen.iter().filter(|m| *m == "READY=1").count(), 1);
    let progress: Vec<(u64, u64)> = seen.iter().filter_map(|m| progress_of(m)).collect();
    println!("fast-sync STATUS progress (last indexed, stored): {progress:?}");
    for &(tip, stored) in &progress {
        assert!(tip <= END && stored <= END + 1, "{progress:?}");
    }
    // The count of blocks stored only grows, and the run reports more than nothing.
    assert!(
        progress.windows(2).all(|w| w[0].1 <= w[1].1),
        "{progress:?}"
    );
    assert!(
        progress.iter().any(|&(_, stored)| stored > 0),
        "{progress:?}"
    );
    // Progress messages happen during fast-sync only: none after Finalizing began.
    assert!(
        seen[fin..].iter().all(|m| progress_of(m).is_none()),
        "{seen:#?}"
    );
}
