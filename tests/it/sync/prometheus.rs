//! A real Prometheus (Debian's `prometheus`, installed by `scripts/setup-test-tools.sh`) scrapes
//! the real binary while it fast-syncs from testnet peers and then follows their advancing head,
//! with `config/prometheus-alerts.yml` loaded as its rule file. Its HTTP query API must show the
//! fast-sync phase, the contiguous tip moving, the verification failures a wrong-receipts peer
//! caused (by kind), every alert rule evaluating cleanly against histd's series, then the phase
//! moved to follow and the reorder gauges changing.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use histd::testkit::process::HistdProcess as Histd;
use histd::testkit::testnet::{ChainKind, PeerKnobs, TestnetConfig};

use super::*;

/// Prometheus, stopped (by its own pid) when dropped.
struct Prometheus {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

impl Prometheus {
    /// Scrapes `target` every second and evaluates the project's alert rules every second.
    fn start(dir: &Path, target: SocketAddr) -> Self {
        let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/prometheus-alerts.yml");
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 rule_files:\n  - {}\n\
                 scrape_configs:\n  - job_name: histd\n    static_configs:\n      - targets: ['{target}']\n",
                rules.display()
            ),
        )
        .expect("write prometheus.yml");
        let addr = free_port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus is not installed: run scripts/setup-test-tools.sh");
        let p = Self { child, addr };
        p.wait_until("prometheus ready", || p.get("/-/ready").is_some());
        p
    }

    /// GET `path`: the body of a 200 answer, `None` otherwise (not up yet, an error).
    fn get(&self, path: &str) -> Option<String> {
        let mut s = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        )
        .ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        let (head, body) = out.split_once("\r\n\r\n")?;
        head.starts_with("HTTP/1.1 200").then(|| body.to_string())
    }

    /// The instant vector of PromQL `q`: each series' labels and value.
    fn query(&self, q: &str) -> Vec<(serde_json::Value, f64)> {
        let encoded: String = q
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        let Some(body) = self.get(&format!("/api/v1/query?query={encoded}")) else {
            return Vec::new();
        };
        // Connection: close answers may be chunked: the JSON is between the first '{' and last '}'.
        let json = &body[body.find('{').unwrap_or(0)..=body.rfind('}').unwrap_or(0)];
        let v: serde_json::Value = serde_json::from_str(json).expect("query answer is JSON");
        assert_eq!(v["status"], "success", "{q}: {v}");
        v["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|r| {
                let value = r["value"][1]
                    .as_str()
                    .unwrap_or("NaN")
                    .parse()
                    .unwrap_or(f64::NAN);
                (r["metric"].clone(), value)
            })
            .collect()
    }

    /// The single value of `q` (`None` while it has no series).
    fn value(&self, q: &str) -> Option<f64> {
        self.query(q).first().map(|(_, v)| *v)
    }

    fn wait_until(&self, what: &str, mut ok: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while !ok() {
            assert!(Instant::now() < deadline, "{what}: timed out");
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

#[test]
#[ignore = "needs prometheus (Debian package prometheus, scripts/setup-test-tools.sh)"]
fn prometheus_scrapes_fast_sync_then_follow_and_evaluates_the_alert_rules() {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    // Fast-sync to the safe head below block 2000, then follow a head advancing every 250 ms.
    const HEAD_START: u64 = 2000;
    let mut config = TestnetConfig::new(ChainKind::Synthetic, HEAD_START + 1000, 5);
    // Slow enough that fast-sync spans many scrapes (~10 s: Prometheus itself takes seconds to
    // start scraping); peer 4 sends wrong receipts.
    let slow = PeerKnobs {
        latency: Duration::from_millis(300),
        max_items: Some(16),
        head_start: Some(HEAD_START),
        head_advance_every: Some(Duration::from_millis(250)),
        ..PeerKnobs::default()
    };
    config.knobs = slow.clone();
    config.peer_knobs = vec![(
        4,
        PeerKnobs {
            wrong_receipts: true,
            ..slow
        },
    )];
    let net = start_testnet(&rt, dir.path(), config);
    let mut h = Histd::spawn(run_cmd(
        dir.path(),
        &enodes(&net),
        &[
            "--min-peers",
            "5",
            "--rollback-window",
            "8",
            "--rpc-bind",
            "127.0.0.1:0",
        ],
    ));
    let listening = h.wait_for("metrics endpoint", |v| {
        v["message"] == "metrics endpoint listening"
    });
    let target: SocketAddr = listening["addr"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .expect("the metrics address");
    let prom = Prometheus::start(dir.path(), target);

    prom.wait_until("histd scraped in fast-sync", || {
        prom.value(r#"histd_phase{job="histd",phase="fast_sync"}"#) == Some(1.0)
    });
    assert_eq!(prom.value(r#"histd_phase{phase="startup"}"#), Some(0.0));
    assert_eq!(prom.value(r#"up{job="histd"}"#), Some(1.0));
    // Fast-sync's progress reaches the machine: the contiguous tip is set while it runs.
    prom.wait_until("last indexed block scraped", || {
        prom.value("histd_last_indexed_block")
            .is_some_and(|v| v > 0.0)
    });
    // The wrong receipts are counted by kind.
    prom.wait_until("verification failures scraped", || {
        prom.query("histd_verification_failures_total")
            .iter()
            .any(|(m, v)| m["kind"].as_str().is_some_and(|k| k.contains("receipt")) && *v >= 1.0)
    });
    // Every alert rule is loaded and evaluates without error against histd's series.
    let rules = || -> Vec<serde_json::Value> {
        let body = prom.get("/api/v1/rules").unwrap_or_default();
        let json = &body[body.find('{').unwrap_or(0)..=body.rfind('}').unwrap_or(0)];
        let v: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
        v["data"]["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .collect()
    };
    prom.wait_until("every alert rule evaluated", || {
        let r = rules();
        r.len() >= 5 && r.iter().all(|r| r["health"] != "unknown")
    });
    let evaluated = rules();
    for r in &evaluated {
        assert_eq!(r["health"], "ok", "alert rule failed to evaluate: {r}");
    }
    // Then follow: the phase moves, and the reorder gauges move with the head.
    prom.wait_until("histd scraped in follow", || {
        prom.value(r#"histd_phase{job="histd",phase="follow"}"#) == Some(1.0)
    });
    assert_eq!(
        prom.value(r#"max_over_time(histd_phase{phase="fast_sync"}[5m])"#),
        Some(1.0),
        "fast-sync was scraped before follow"
    );
    prom.wait_until("reorder gauges change in follow", || {
        prom.value("changes(histd_reorder_expected[1m])")
            .is_some_and(|v| v >= 2.0)
    });
    assert!(prom.value("histd_reorder_len").is_some());
    // Both phases store blocks: the dashboard's ingest-rate panels read these counters.
    for counter in ["histd_blocks_ingested_total", "histd_bytes_ingested_total"] {
        assert!(
            prom.value(counter).is_some_and(|v| v > 0.0),
            "{counter}: {:?}",
            prom.query(counter)
        );
    }
    // Finalizing sealed the first shard (1,000 blocks) with its log index.
    assert!(
        prom.value("histd_log_index_bytes").is_some_and(|v| v > 0.0),
        "{:?}",
        prom.query("histd_log_index_bytes")
    );
    println!(
        "prometheus scraped fast-sync then follow; {} alert rules evaluated; failures {:?}",
        evaluated.len(),
        prom.query("histd_verification_failures_total")
    );

    h.signal(libc::SIGINT);
    let status = h.wait_exit_within(RUN_LIMIT);
    assert_eq!(status.code(), Some(0), "{:#?}", h.seen);
}
