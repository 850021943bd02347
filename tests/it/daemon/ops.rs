//! What operators rely on, checked on the real binary and with the real tools: exit codes, the
//! systemd notify protocol over a real unix datagram socket, the SIGUSR1 state dump, the metrics
//! catalog in the README, `config/histd.service` (systemd-analyze), and the alert rules and
//! dashboard (promtool). Tests needing a tool that `scripts/setup-test-tools.sh` installs are
//! `#[ignore]`d so a bare `cargo test` works anywhere.

use std::collections::BTreeSet;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use histd::daemon::Exit;
use histd::metrics::{ALL, Kind};

use super::binary::Histd;

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo_file(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The README text between `<!-- {name}:start -->` and `<!-- {name}:end -->`.
fn readme_block(name: &str) -> String {
    let readme = read("README.md");
    let start = format!("<!-- {name}:start -->\n");
    let end = format!("<!-- {name}:end -->");
    let from = readme
        .find(&start)
        .unwrap_or_else(|| panic!("README has no {start:?}"))
        + start.len();
    let to = readme[from..]
        .find(&end)
        .unwrap_or_else(|| panic!("README has no {end:?}"))
        + from;
    readme[from..to].to_string()
}

// ---------------------------------------------------------------------------------------------
// Exit codes

fn exit_table() -> String {
    let mut out = String::from("| Code | Meaning | Restarted by the unit |\n| --- | --- | --- |\n");
    for e in Exit::ALL {
        let meaning = match e {
            Exit::Clean => "clean stop: SIGINT/SIGTERM (after finalizing), or range mode complete",
            Exit::Fatal => {
                "fatal: a worker failed, or the daemon could not start (async runtime, signal handlers)"
            }
            Exit::Config => {
                "config error: the file or a flag is invalid (one line per problem), or `rpc.bind` or `metrics.bind` cannot be bound (address in use, not on this host, privileged port; the error names the address and the cause)"
            }
            Exit::ReorgTooDeep => {
                "reorg deeper than `sync.rollback_window`: the stored tip left the canonical chain"
            }
            Exit::DiskFull => "disk full (ENOSPC/EDQUOT) under the data directory",
            Exit::Forced => "forced exit: a second SIGINT while stopping; nothing more was flushed",
        };
        let restart = if e == Exit::Clean || e == Exit::Forced {
            "no (not a failure)"
        } else if e.restart_cannot_fix() {
            "no (`RestartPreventExitStatus`)"
        } else {
            "yes"
        };
        out.push_str(&format!("| {} | {meaning} | {restart} |\n", e.code()));
    }
    out
}

#[test]
fn readme_documents_every_exit_code() {
    let expected = exit_table();
    assert_eq!(
        readme_block("exit-codes"),
        expected,
        "README's exit-code table differs from histd::daemon::Exit; expected:\n{expected}"
    );
}

#[test]
fn the_unit_prevents_restarts_exactly_for_codes_a_restart_cannot_fix() {
    let unit = read("config/histd.service");
    let line = unit
        .lines()
        .find_map(|l| l.strip_prefix("RestartPreventExitStatus="))
        .expect("RestartPreventExitStatus= in config/histd.service");
    let listed: BTreeSet<u8> = line
        .split_whitespace()
        .map(|c| c.parse().unwrap())
        .collect();
    let expected: BTreeSet<u8> = Exit::ALL
        .iter()
        .filter(|e| e.restart_cannot_fix())
        .map(|e| e.code())
        .collect();
    assert_eq!(listed, expected);
    for key in [
        "Type=notify",
        "DynamicUser=yes",
        "StateDirectory=histd",
        "--data-dir /var/lib/histd",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "Restart=on-failure",
        "KillSignal=SIGTERM",
    ] {
        assert!(unit.contains(key), "config/histd.service lacks {key}");
    }
}

#[test]
fn a_deep_reorg_exits_3_and_is_not_worth_a_restart() {
    let script = r#"{"peers_ready_ms":50,"caught_up_ms":100,"finalize_ms":50,"up_to_date_ms":50,
                     "reorg_too_deep_ms":50}"#;
    let mut h = Histd::start(Some(script), &[]);
    let t = h.wait_transition("follow", "shutting_down");
    assert_eq!(t["event"], "ReorgTooDeep");
    let status = h.wait_exit();
    assert_eq!(
        status.code(),
        Some(i32::from(Exit::ReorgTooDeep.code())),
        "{:#?}",
        h.seen
    );
}

#[test]
fn a_full_disk_exits_4_naming_it() {
    let script = r#"{"peers_ready_ms":50,"fatal_in":"fast_sync","fatal_disk_full":true}"#;
    let mut h = Histd::start(Some(script), &[]);
    let t = h.wait_transition("fast_sync", "shutting_down");
    assert_eq!(t["event"], "Fatal");
    assert!(t["reason"].as_str().unwrap().contains("disk full"), "{t}");
    let status = h.wait_exit();
    assert_eq!(
        status.code(),
        Some(i32::from(Exit::DiskFull.code())),
        "{:#?}",
        h.seen
    );
}

#[test]
fn an_invalid_config_exits_2_before_starting() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("histd.toml");
    std::fs::write(&path, "[sync]\nmin_peers = \"many\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_histd"))
        .args(["run", "--config"])
        .arg(&path)
        .env_remove("RUST_LOG")
        .env_remove("HISTD_TESTKIT_SCRIPT")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(i32::from(Exit::Config.code())),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------------------------------------
// systemd notify

/// A notify socket the test owns, like systemd's: a path socket or an abstract one.
struct NotifySocket {
    socket: UnixDatagram,
    env_value: std::ffi::OsString,
    _dir: Option<tempfile::TempDir>,
}

impl NotifySocket {
    fn path() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let socket = UnixDatagram::bind(&path).unwrap();
        Self {
            socket,
            env_value: path.into_os_string(),
            _dir: Some(dir),
        }
    }

    fn abstract_name() -> Self {
        use std::os::linux::net::SocketAddrExt;
        let name = format!(
            "histd-it-notify-{}-{:?}",
            std::process::id(),
            Instant::now()
        );
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let socket = UnixDatagram::bind_addr(&addr).unwrap();
        Self {
            socket,
            env_value: format!("@{name}").into(),
            _dir: None,
        }
    }

    /// Messages received until `done` holds for one of them (or the deadline fails the test).
    fn until(&self, seen: &mut Vec<String>, done: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut buf = [0u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "notify message never came; got {seen:#?}");
            self.socket.set_read_timeout(Some(left)).unwrap();
            let n = match self.socket.recv(&mut buf) {
                Ok(n) => n,
                Err(e) => panic!("notify socket: {e}; got {seen:#?}"),
            };
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            seen.push(msg.clone());
            if done(&msg) {
                return;
            }
        }
    }
}

/// Index of the first message equal to `m` (panics with all messages when absent).
fn position(seen: &[String], pred: impl Fn(&str) -> bool, what: &str) -> usize {
    seen.iter()
        .position(|m| pred(m))
        .unwrap_or_else(|| panic!("no {what} in {seen:#?}"))
}

fn notify_run(sock: &NotifySocket) {
    // Follow mode through every phase; the watchdog at 200 ms so pings come every 100 ms.
    let script = r#"{"peers_ready_ms":300,"caught_up_ms":400,"progress_every_ms":50,
                     "finalize_ms":200,"up_to_date_ms":50,"head_every_ms":50}"#;
    let mut h = Histd::start_with_env(
        Some(script),
        &[],
        &[
            ("NOTIFY_SOCKET", sock.env_value.as_os_str()),
            ("WATCHDOG_USEC", std::ffi::OsStr::new("200000")),
        ],
    );
    let mut seen = Vec::new();
    sock.until(&mut seen, |m| m == "STATUS=phase: follow");
    h.wait_transition("finalizing", "follow");
    h.signal(libc::SIGTERM);
    sock.until(&mut seen, |m| m == "STOPPING=1");
    assert_eq!(h.wait_exit().code(), Some(0), "{:#?}", h.seen);

    let startup = position(&seen, |m| m == "STATUS=phase: startup", "startup status");
    let ready = position(&seen, |m| m == "READY=1", "READY=1");
    let fast = position(
        &seen,
        |m| m == "STATUS=phase: fast_sync",
        "fast_sync status",
    );
    let progress = position(
        &seen,
        |m| m.starts_with("STATUS=phase: fast_sync, last indexed block"),
        "fast-sync progress",
    );
    let fin = position(
        &seen,
        |m| m == "STATUS=phase: finalizing",
        "finalizing status",
    );
    let follow = position(&seen, |m| m == "STATUS=phase: follow", "follow status");
    let stopping = position(&seen, |m| m == "STOPPING=1", "STOPPING=1");
    assert!(
        startup < ready
            && ready < fast
            && fast < progress
            && progress < fin
            && fin < follow
            && follow < stopping,
        "out of order: {seen:#?}"
    );
    assert_eq!(
        seen.iter().filter(|m| *m == "READY=1").count(),
        1,
        "{seen:#?}"
    );
    // Startup lasts 300 ms and the whole run well over a second: pings at 100 ms intervals.
    let pings = seen.iter().filter(|m| *m == "WATCHDOG=1").count();
    assert!(pings >= 5, "{pings} watchdog pings: {seen:#?}");
    assert!(
        seen.iter().position(|m| m == "WATCHDOG=1").unwrap() < ready,
        "the watchdog is fed while waiting in Startup: {seen:#?}"
    );
}

#[test]
fn systemd_notify_on_a_path_socket_sees_ready_status_watchdog_and_stopping_in_order() {
    notify_run(&NotifySocket::path());
}

#[test]
fn systemd_notify_works_on_an_abstract_socket() {
    notify_run(&NotifySocket::abstract_name());
}

#[test]
fn a_stop_during_startup_says_stopping_but_never_ready() {
    let sock = NotifySocket::path();
    let script = r#"{"peers_ready_ms":null}"#;
    let mut h = Histd::start_with_env(
        Some(script),
        &[],
        &[("NOTIFY_SOCKET", sock.env_value.as_os_str())],
    );
    let mut seen = Vec::new();
    sock.until(&mut seen, |m| m == "STATUS=phase: startup");
    h.signal(libc::SIGINT);
    sock.until(&mut seen, |m| m == "STOPPING=1");
    assert_eq!(h.wait_exit().code(), Some(0), "{:#?}", h.seen);
    assert!(!seen.iter().any(|m| m == "READY=1"), "{seen:#?}");
    assert!(
        !seen.iter().any(|m| m == "WATCHDOG=1"),
        "no WATCHDOG_USEC, no pings: {seen:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// SIGUSR1

#[test]
fn sigusr1_dumps_state_without_disturbing_the_product_daemon() {
    // The product workers with no peer to find: histd waits in Startup with its pool running.
    let cfg = tempfile::tempdir().unwrap();
    let path = cfg.path().join("histd.toml");
    std::fs::write(
        &path,
        "[p2p]\nlisten = \"127.0.0.1:0\"\n[p2p.discovery]\ndns = false\ndiscv4 = false\n",
    )
    .unwrap();
    let mut h = Histd::start(None, &["--config", path.to_str().unwrap()]);
    h.wait_for("waiting for peers", |v| v["message"] == "waiting for peers");
    // The pool registers its source once the network is up, just after "waiting for peers":
    // ask until the machine's line lists it, then once more.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut rounds_with_pool = 0;
    while rounds_with_pool < 2 {
        assert!(
            Instant::now() < deadline,
            "no pool dump source: {:#?}",
            h.seen
        );
        h.signal(libc::SIGUSR1);
        let machine = h.wait_for("machine dump", |v| {
            v["message"] == "state dump" && v["source"] == "machine"
        });
        assert_eq!(machine["phase"], "startup", "{machine}");
        if machine["sources"].as_str().unwrap_or("").contains("pool") {
            let pool = h.wait_for("pool dump", |v| {
                v["message"] == "state dump" && v["source"] == "pool"
            });
            let state: serde_json::Value =
                serde_json::from_str(pool["state"].as_str().unwrap()).unwrap();
            assert_eq!(state["sessions"], 0, "{state}");
            assert_eq!(state["ready"], false, "{state}");
            assert!(state["head_seen"].is_null(), "{state}");
            assert!(state["peers"].as_array().unwrap().is_empty(), "{state}");
            rounds_with_pool += 1;
        } else {
            std::thread::sleep(Duration::from_millis(100));
        }
        // The same lines are awaited again next round: forget these.
        h.seen.retain(|v| v["message"] != "state dump");
    }
    assert_eq!(h.scraped_phase(), "startup");
    h.signal(libc::SIGINT);
    assert_eq!(h.wait_exit().code(), Some(0), "{:#?}", h.seen);
}

#[test]
fn sigusr1_during_fast_sync_leaves_the_run_unchanged() {
    let script = r#"{"peers_ready_ms":50,"caught_up_ms":800,"finalize_ms":50}"#;
    let mut h = Histd::start(Some(script), &["--end-block", "500"]);
    h.wait_transition("startup", "fast_sync");
    h.signal(libc::SIGUSR1);
    let d = h.wait_for("machine dump", |v| {
        v["message"] == "state dump" && v["source"] == "machine"
    });
    assert_eq!(d["phase"], "fast_sync", "{d}");
    assert!(
        d["last_transition"]
            .as_str()
            .unwrap()
            .contains("startup -> fast_sync"),
        "{d}"
    );
    h.wait_transition("fast_sync", "finalizing");
    h.wait_transition("finalizing", "shutting_down");
    assert_eq!(h.wait_exit().code(), Some(0), "{:#?}", h.seen);
    let transitions = h
        .seen
        .iter()
        .filter(|v| v["message"] == "phase transition")
        .count();
    assert_eq!(transitions, 3, "{:#?}", h.seen);
}

// ---------------------------------------------------------------------------------------------
// Metrics catalog

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Counter => "counter",
        Kind::Gauge => "gauge",
        Kind::Histogram => "histogram",
    }
}

/// The README's catalog table, generated from `histd::metrics::ALL`.
fn catalog_table() -> String {
    let mut out = String::from("| Metric | Type | Meaning |\n| --- | --- | --- |\n");
    for &(name, kind, help) in ALL {
        out.push_str(&format!("| `{name}` | {} | {help} |\n", kind_name(kind)));
    }
    out
}

#[test]
fn readme_metrics_catalog_is_generated_from_src_metrics() {
    let expected = catalog_table();
    assert_eq!(
        readme_block("metrics-catalog"),
        expected,
        "README's metrics catalog differs from src/metrics.rs ALL; paste this between the markers:\n{expected}"
    );
}

#[test]
fn every_metric_constant_is_in_the_catalog_and_named_by_prometheus_conventions() {
    // Every `pub const X: &str = "histd_..."` in src/metrics.rs must be listed in ALL.
    let source = read("src/metrics.rs");
    let consts: BTreeSet<&str> = source
        .lines()
        .filter(|l| l.starts_with("pub const ") && l.contains(": &str = \""))
        .filter_map(|l| l.split('"').nth(1))
        .collect();
    let listed: BTreeSet<&str> = ALL.iter().map(|(n, _, _)| *n).collect();
    assert_eq!(consts, listed, "constants vs metrics::ALL");

    for &(name, kind, help) in ALL {
        assert!(name.starts_with("histd_"), "{name}: histd_ prefix");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{name}: snake_case"
        );
        assert!(!help.is_empty(), "{name}: help text");
        match kind {
            Kind::Counter => assert!(name.ends_with("_total"), "{name}: counters end in _total"),
            _ => assert!(
                !name.ends_with("_total"),
                "{name}: only counters end in _total"
            ),
        }
        if kind == Kind::Histogram {
            assert!(
                name.ends_with("_seconds") || name.ends_with("_bytes") || name.ends_with("_blocks"),
                "{name}: a histogram names its base unit"
            );
        }
        // Base units only: seconds and bytes, never milli/kilo/mega variants.
        for bad in [
            "_ms",
            "_millis",
            "_milliseconds",
            "_us",
            "_kb",
            "_mb",
            "_gb",
            "_kib",
            "_mib",
            "_minutes",
            "_hours",
        ] {
            assert!(
                !name.ends_with(bad) && !name.contains(&format!("{bad}_")),
                "{name}: use base units (seconds, bytes), not {bad}"
            );
        }
    }
}

/// `histd_*` names used in a file, with histogram/summary series suffixes mapped to their metric.
fn names_used(text: &str) -> BTreeSet<String> {
    let listed: BTreeSet<&str> = ALL.iter().map(|(n, _, _)| *n).collect();
    let mut out = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(off) = text[i..].find("histd_") {
        let start = i + off;
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
            end += 1;
        }
        // A word that merely contains histd_ (e.g. `job_histd_x`) is not a metric name.
        let preceded =
            start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        if !preceded {
            let name = &text[start..end];
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| {
                    name.strip_suffix(s)
                        .filter(|b| listed.contains(b) && !listed.contains(name))
                })
                .unwrap_or(name);
            out.insert(base.to_string());
        }
        i = end.max(start + 1);
    }
    out
}

#[test]
fn dashboard_and_alerts_name_only_catalog_metrics() {
    let listed: BTreeSet<String> = ALL.iter().map(|(n, _, _)| n.to_string()).collect();
    for file in [
        "config/grafana-dashboard.json",
        "config/prometheus-alerts.yml",
    ] {
        let used = names_used(&read(file));
        assert!(!used.is_empty(), "{file} names no metric");
        let unknown: Vec<&String> = used.difference(&listed).collect();
        assert!(
            unknown.is_empty(),
            "{file} names metrics histd does not export: {unknown:?}"
        );
    }
    let dashboard: serde_json::Value =
        serde_json::from_str(&read("config/grafana-dashboard.json")).unwrap();
    assert!(
        dashboard["panels"]
            .as_array()
            .is_some_and(|p| !p.is_empty())
    );
    // The alerts the issue asks for are there by name.
    let alerts = read("config/prometheus-alerts.yml");
    for alert in [
        "HistdSyncStalled",
        "HistdNoPeers",
        "HistdBehindHead",
        "HistdStoppedOnDeepReorg",
        "HistdRpcErrors",
    ] {
        assert!(
            alerts.contains(&format!("alert: {alert}")),
            "{alert} missing"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The real tools

fn tool(name: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/local/bin", "/bin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!("{name} is not installed: run scripts/setup-test-tools.sh");
}

fn run_tool(cmd: &mut Command) -> (bool, String) {
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
#[ignore = "needs systemd-analyze (scripts/setup-test-tools.sh)"]
fn systemd_analyze_verifies_the_unit() {
    // Verify a copy whose ExecStart is the binary under test: systemd-analyze checks it exists.
    let dir = tempfile::tempdir().unwrap();
    let unit =
        read("config/histd.service").replace("/usr/local/bin/histd", env!("CARGO_BIN_EXE_histd"));
    let path = dir.path().join("histd.service");
    std::fs::write(&path, unit).unwrap();
    let (ok, text) = run_tool(
        Command::new(tool("systemd-analyze"))
            .arg("verify")
            .arg(&path),
    );
    assert!(ok, "systemd-analyze verify failed:\n{text}");
    // Unknown keys and bad values are warnings with exit status 0: none allowed.
    assert!(
        !text.contains("histd.service"),
        "systemd-analyze verify complains about the unit:\n{text}"
    );
}

#[test]
#[ignore = "needs promtool (Debian package prometheus, scripts/setup-test-tools.sh)"]
fn promtool_accepts_the_alert_rules() {
    let (ok, text) = run_tool(
        Command::new(tool("promtool"))
            .args(["check", "rules"])
            .arg(repo_file("config/prometheus-alerts.yml")),
    );
    assert!(ok, "promtool check rules:\n{text}");
    assert!(text.contains("SUCCESS"), "{text}");
}

#[test]
#[ignore = "needs promtool (Debian package prometheus, scripts/setup-test-tools.sh)"]
fn promtool_accepts_our_metrics_output() {
    let script = r#"{"peers_ready_ms":50,"caught_up_ms":200,"finalize_ms":100,"up_to_date_ms":50,
                     "head_every_ms":50}"#;
    let mut h = Histd::start(Some(script), &[]);
    h.wait_transition("finalizing", "follow");
    let response = h.scrape();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap();
    let mut child = Command::new(tool("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(body.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "promtool check metrics:\n{text}\n---\n{body}"
    );
    // promtool exits 0 on lint findings too: none allowed.
    assert!(
        text.trim().is_empty(),
        "promtool check metrics findings:\n{text}\n---\n{body}"
    );
    h.signal(libc::SIGTERM);
    assert_eq!(h.wait_exit().code(), Some(0));
}

// ---------------------------------------------------------------------------------------------
// Config reference

/// What the config validator says section `prefix` ("" = the top level) accepts, asked the way an
/// operator would find out: by an unknown key in it. `None` when `prefix` is not a section.
fn accepted_keys(prefix: &str) -> Option<Vec<String>> {
    let text = if prefix.is_empty() {
        "zzz_not_a_key = 1\n".to_string()
    } else {
        format!("[{prefix}]\nzzz_not_a_key = 1\n")
    };
    let err = histd::config::Config::from_toml_str(&text, &[]).err()?;
    let section = if prefix.is_empty() {
        "the top level accepts: ".to_string()
    } else {
        format!("[{prefix}] accepts: ")
    };
    err.lines().iter().find_map(|l| {
        let at = l.find(&section)? + section.len();
        let keys: Vec<String> = l[at..]
            .split(", ")
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty())
            .collect();
        // A leaf written as a table is refused with nothing accepted in it.
        (!keys.is_empty()).then_some(keys)
    })
}

/// Every leaf key of the real config schema, as dotted paths.
fn schema_keys(prefix: &str, out: &mut BTreeSet<String>) {
    for child in accepted_keys(prefix).unwrap_or_default() {
        let key = if prefix.is_empty() {
            child
        } else {
            format!("{prefix}.{child}")
        };
        if accepted_keys(&key).is_some() {
            schema_keys(&key, out);
        } else {
            out.insert(key);
        }
    }
}

#[test]
fn readme_config_reference_lists_exactly_the_schema_keys_with_their_real_defaults() {
    let mut schema = BTreeSet::new();
    schema_keys("", &mut schema);
    assert!(schema.len() >= 20, "{schema:?}");
    let block = readme_block("config-reference");
    let rows: Vec<(String, String)> = block
        .lines()
        .skip(2)
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (
                cells[1].trim_matches('`').to_string(),
                cells[2].trim_matches('`').to_string(),
            )
        })
        .collect();
    let documented: BTreeSet<String> = rows.iter().map(|(k, _)| k.clone()).collect();
    let undocumented: Vec<&String> = schema.difference(&documented).collect();
    let unknown: Vec<&String> = documented.difference(&schema).collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty(),
        "README config reference: keys missing {undocumented:?}, unknown keys listed {unknown:?}"
    );
    // Each documented default, set explicitly, changes nothing.
    let defaults = histd::config::Config::defaults()
        .to_toml()
        .expect("defaults serialise");
    for (key, default) in rows.iter().filter(|(_, d)| d != "unset") {
        let (section, name) = key.rsplit_once('.').unwrap_or(("", key));
        let text = if section.is_empty() {
            format!("{name} = {default}\n")
        } else {
            format!("[{section}]\n{name} = {default}\n")
        };
        let config = histd::config::Config::from_toml_str(&text, &[])
            .unwrap_or_else(|e| panic!("README default of {key} ({default}) is refused: {e}"));
        assert_eq!(
            config.to_toml().expect("serialises"),
            defaults,
            "README default of {key} ({default}) is not the real default"
        );
    }
}
