//! The real `histd` binary (testkit build) with scripted phase workers: real signals (libc::kill),
//! its JSON log lines on stderr, and its real `/metrics` endpoint scraped over TCP.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use histd::testkit::process::HistdProcess;

/// `histd run` with a temporary data directory and its metrics endpoint's address.
pub(super) struct Histd {
    process: HistdProcess,
    metrics: SocketAddr,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for Histd {
    type Target = HistdProcess;
    fn deref(&self) -> &HistdProcess {
        &self.process
    }
}

impl std::ops::DerefMut for Histd {
    fn deref_mut(&mut self) -> &mut HistdProcess {
        &mut self.process
    }
}

impl Histd {
    /// Start `histd run` with `script` (None: the product workers) and extra flags.
    pub(super) fn start(script: Option<&str>, extra: &[&str]) -> Self {
        Self::start_with_env(script, extra, &[])
    }

    /// [`Histd::start`] with extra environment variables.
    pub(super) fn start_with_env(
        script: Option<&str>,
        extra: &[&str],
        env: &[(&str, &std::ffi::OsStr)],
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = HistdProcess::command(env!("CARGO_BIN_EXE_histd"));
        cmd.args([
            "run",
            "--metrics-bind",
            "127.0.0.1:0",
            "--log-format",
            "json",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .args(extra);
        if let Some(s) = script {
            cmd.env("HISTD_TESTKIT_SCRIPT", s);
        }
        // Only the tests that give histd a notify socket see notifications, even under systemd.
        cmd.env_remove("NOTIFY_SOCKET").env_remove("WATCHDOG_USEC");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut process = HistdProcess::spawn(cmd);
        let l = process.wait_for("metrics endpoint listening", |v| {
            v["message"] == "metrics endpoint listening"
        });
        let metrics = l["addr"].as_str().unwrap().parse().unwrap();
        Histd {
            process,
            metrics,
            _dir: dir,
        }
    }

    /// GET /metrics over a plain TCP connection.
    pub(super) fn scrape(&self) -> String {
        let mut s = TcpStream::connect_timeout(&self.metrics, Duration::from_secs(5)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(
            s,
            "GET /metrics HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.metrics
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        out
    }

    /// The phase whose gauge is 1.
    pub(super) fn scraped_phase(&self) -> String {
        let body = self.scrape();
        let phases: Vec<String> = body
            .lines()
            .filter(|l| l.starts_with("histd_phase{") && l.ends_with(" 1"))
            .map(|l| l.split('"').nth(1).unwrap_or_default().to_string())
            .collect();
        assert_eq!(phases.len(), 1, "exactly one current phase in:\n{body}");
        phases[0].clone()
    }
}

#[test]
fn sigint_during_fast_sync_finalizes_then_exits_zero() {
    // Fast-sync never catches up on its own; finalizing takes long enough to be scraped.
    let script = r#"{"peers_ready_ms":100,"caught_up_ms":null,"progress_every_ms":50,
                     "finalize_ms":1500,"shutdown_ms":50,"head_every_ms":100}"#;
    let mut h = Histd::start(Some(script), &[]);
    h.wait_transition("startup", "fast_sync");
    assert_eq!(h.scraped_phase(), "fast_sync");

    h.signal(libc::SIGINT);
    let t = h.wait_transition("fast_sync", "finalizing");
    assert_eq!(t["event"], "ShutdownRequested");
    assert!(t["reason"].as_str().unwrap().contains("SIGINT"), "{t}");
    assert_eq!(h.scraped_phase(), "finalizing");
    let body = h.scrape();
    assert!(
        body.contains(r#"histd_phase_transitions_total{from="fast_sync",to="finalizing"} 1"#),
        "{body}"
    );

    let t = h.wait_transition("finalizing", "shutting_down");
    assert_eq!(t["event"], "Finalized");
    let status = h.wait_exit();
    assert_eq!(status.code(), Some(0), "{:#?}", h.seen);
    assert!(
        !h.entered("follow"),
        "a stop during fast-sync must never follow"
    );
    // Every transition is logged exactly once.
    let transitions = h
        .seen
        .iter()
        .filter(|v| v["message"] == "phase transition")
        .count();
    assert_eq!(transitions, 3, "{:#?}", h.seen);
}

#[test]
fn second_sigint_forces_exit_non_zero() {
    // Finalizing never finishes: only a forced exit ends the process.
    let script = r#"{"peers_ready_ms":50,"caught_up_ms":null,"finalize_ms":null}"#;
    let mut h = Histd::start(Some(script), &[]);
    h.wait_transition("startup", "fast_sync");
    h.signal(libc::SIGINT);
    h.wait_transition("fast_sync", "finalizing");
    assert_eq!(h.scraped_phase(), "finalizing");
    h.signal(libc::SIGINT);
    let status = h.wait_exit();
    assert_eq!(status.code(), Some(130), "{:#?}", h.seen);
    assert!(
        h.seen
            .iter()
            .any(|v| v["message"].as_str().unwrap_or("").contains("forcing exit")),
        "the forced exit is logged: {:#?}",
        h.seen
    );
    assert!(!h.entered("shutting_down"));
}

#[test]
fn range_mode_syncs_finalizes_and_exits_zero_without_following() {
    let script = r#"{"peers_ready_ms":50,"caught_up_ms":200,"finalize_ms":100}"#;
    let mut h = Histd::start(Some(script), &["--end-block", "500"]);
    h.wait_transition("startup", "fast_sync");
    h.wait_transition("fast_sync", "finalizing");
    let t = h.wait_transition("finalizing", "shutting_down");
    assert!(t["reason"].as_str().unwrap().contains("range"), "{t}");
    assert_eq!(h.wait_exit().code(), Some(0), "{:#?}", h.seen);
    assert!(!h.entered("follow"));
}

#[test]
fn follow_mode_reaches_follow_starts_rpc_once_and_stops_on_sigterm() {
    let script = r#"{"peers_ready_ms":50,"caught_up_ms":150,"finalize_ms":100,"up_to_date_ms":50,
                     "head_every_ms":50}"#;
    let mut h = Histd::start(Some(script), &[]);
    h.wait_transition("finalizing", "follow");
    h.wait_for("rpc start", |v| {
        v["message"]
            .as_str()
            .unwrap_or("")
            .contains("starting JSON-RPC")
    });
    assert_eq!(h.scraped_phase(), "follow");
    let body = h.scrape();
    assert!(body.contains("histd_head_seen "), "{body}");
    h.signal(libc::SIGTERM);
    let t = h.wait_transition("follow", "shutting_down");
    assert!(t["reason"].as_str().unwrap().contains("SIGTERM"), "{t}");
    assert_eq!(h.wait_exit().code(), Some(0), "{:#?}", h.seen);
}

#[test]
fn without_a_script_histd_waits_for_peers_in_startup_and_sigint_exits_zero() {
    // The product workers: storage opens, the pool listens, no peer exists (discovery off, no
    // static peers), so histd waits in Startup; it must never pretend to sync.
    let cfg = tempfile::tempdir().unwrap();
    let path = cfg.path().join("histd.toml");
    std::fs::write(
        &path,
        "[p2p]\nlisten = \"127.0.0.1:0\"\n[p2p.discovery]\ndns = false\ndiscv4 = false\n",
    )
    .unwrap();
    let mut h = Histd::start(None, &["--config", path.to_str().unwrap()]);
    h.wait_for("waiting for peers", |v| v["message"] == "waiting for peers");
    assert_eq!(h.scraped_phase(), "startup");
    h.signal(libc::SIGINT);
    let status = h.wait_exit();
    assert_eq!(status.code(), Some(0), "{:#?}", h.seen);
    assert!(!h.entered("fast_sync"), "must not pretend to sync");
}

#[test]
fn a_worker_failure_stops_with_an_error() {
    let script = r#"{"peers_ready_ms":50,"fatal_in":"fast_sync"}"#;
    let mut h = Histd::start(Some(script), &[]);
    let t = h.wait_transition("fast_sync", "shutting_down");
    assert_eq!(t["event"], "Fatal");
    assert_eq!(h.wait_exit().code(), Some(1), "{:#?}", h.seen);
}

#[test]
fn metrics_port_in_use_is_a_config_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_histd"))
        .args(["run", "--log-format", "json", "--metrics-bind", &addr])
        .env("HISTD_TESTKIT_SCRIPT", "{}")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    // Like an unbindable rpc.bind: exit 2, which the unit does not restart.
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("metrics.bind") && stderr.contains(&addr),
        "{stderr}"
    );
}
