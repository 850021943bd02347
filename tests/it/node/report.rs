//! The run report: the real binary leaves one JSON file per run in `DATA_DIR/reports/` with the
//! version, mode, every phase with its duration, peak RSS and how it ended; only the last 20 are
//! kept.

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use histd::daemon::report::{self, KEEP, REPORTS_DIR};
use histd::testkit::process::HistdProcess;

fn reports(data: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(data.join(REPORTS_DIR))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

/// A range run with scripted workers: Startup → FastSync → Finalizing → ShuttingDown, exit 0;
/// its report names every phase in order with durations, the mode and the exit.
#[test]
fn a_range_run_leaves_a_report_with_its_phases_and_exit() {
    let dir = tempfile::tempdir().unwrap();
    let script = r#"{"peers_ready_ms":50,"caught_up_ms":200,"finalize_ms":100}"#;
    let mut cmd = HistdProcess::command(env!("CARGO_BIN_EXE_histd"));
    cmd.args([
        "run",
        "--metrics-bind",
        "127.0.0.1:0",
        "--log-format",
        "json",
        "--end-block",
        "500",
    ])
    .arg("--data-dir")
    .arg(dir.path())
    .env("HISTD_TESTKIT_SCRIPT", script);
    let mut h = HistdProcess::spawn(cmd);
    let written = h.wait_for("run report written", |v| {
        v["message"] == "run report written"
    });
    assert_eq!(h.wait_exit().code(), Some(0), "{:#?}", h.seen);

    let files = reports(dir.path());
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(written["path"], files[0].display().to_string());
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("run-") && name.ends_with("Z.json"),
        "{name}"
    );
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
    assert_eq!(r["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(r["mode"], "range");
    assert_eq!(r["end_block"], 500);
    assert!(r["started_at"].as_str().unwrap().ends_with('Z'), "{r}");
    let phases: Vec<&str> = r["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["phase"].as_str().unwrap())
        .collect();
    assert_eq!(
        phases,
        ["startup", "fast_sync", "finalizing", "shutting_down"],
        "{r}"
    );
    for p in r["phases"].as_array().unwrap() {
        assert!(p["secs"].as_f64().unwrap() >= 0.0, "{p}");
    }
    // The scripted fast-sync worker reports after ~200 ms.
    assert!(r["phases"][1]["secs"].as_f64().unwrap() >= 0.15, "{r}");
    assert_eq!(r["phases"][1]["entered_on"], "PeersReady");
    assert!(r["peak_rss_bytes"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(r["exit"]["code"], 0);
    assert!(
        r["exit"]["reason"].as_str().unwrap().contains("range"),
        "{r}"
    );
    // Scripted workers keep no sync counters; the field is there, empty.
    assert!(r.get("sync").is_some(), "{r}");
}

/// Only the newest [`KEEP`] reports stay; a tmp file of a run that died while writing goes too.
#[test]
fn retention_keeps_the_last_twenty() {
    let dir = tempfile::tempdir().unwrap();
    let template = report::RunRecorder::start(histd::daemon::SyncMode::Follow).finish(
        &[],
        None,
        &histd::daemon::ExitStatus::Clean,
    );
    let base = UNIX_EPOCH + Duration::from_secs(1_796_000_000);
    let mut names = Vec::new();
    for i in 0..25u64 {
        let name = report::file_name(base + Duration::from_secs(i * 3600));
        report::save(dir.path(), &name, &template).unwrap();
        names.push(name);
        if i == 3 {
            std::fs::write(
                dir.path().join(REPORTS_DIR).join("run-x.json.tmp"),
                b"partial",
            )
            .unwrap();
        }
    }
    let kept: Vec<String> = reports(dir.path())
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(kept.len(), KEEP);
    assert_eq!(kept, names[names.len() - KEEP..].to_vec());
    assert_eq!(
        report::latest(dir.path()).unwrap(),
        dir.path().join(REPORTS_DIR).join(&names[24])
    );
    // The same name twice (two runs in one millisecond) keeps both.
    report::save(dir.path(), &names[24], &template).unwrap();
    assert_eq!(reports(dir.path()).len(), KEEP);
    // No data directory: no report, and none is created.
    let missing = dir.path().join("absent");
    assert!(report::save(&missing, &names[0], &template).is_err());
    assert!(!missing.exists());
}

#[test]
fn names_are_utc_and_sort_by_time() {
    let t = UNIX_EPOCH + Duration::from_millis(1_796_032_446_500);
    assert_eq!(report::file_name(t), "run-20261130T095406.500Z.json");
    let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
    assert_eq!(report::file_name(leap), "run-20000229T000000.000Z.json");
    assert!(report::file_name(t + Duration::from_secs(86_400 * 40)) > report::file_name(t));
}
