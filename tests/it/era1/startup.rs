//! `sync.era1_dir` (`--era1-dir`) in `histd run`: Startup proves and stores the directory's era1
//! files before the network starts, one progress line per file; a restart skips what is stored;
//! a bad file stops the start with an error naming the file and its first bad block, and nothing
//! of it is stored. Real binary, the real mainnet epoch 0 file, no peers (none are needed).

use std::path::Path;

use histd::primitives::BlockNumber;
use histd::storage::Storage;
use histd::testkit::process::HistdProcess as Histd;

use super::epoch0;

const NAME: &str = "mainnet-00000-5ec1ffb8.era1";

/// `histd run` on mainnet with no peers at all, importing `era1_dir` at startup.
fn run(data: &Path, era1_dir: &Path) -> Histd {
    let mut cmd = Histd::command(env!("CARGO_BIN_EXE_histd"));
    cmd.arg("run")
        .arg("--data-dir")
        .arg(data)
        .arg("--era1-dir")
        .arg(era1_dir)
        .args([
            "--chain",
            "mainnet",
            "--no-discovery",
            "--end-block",
            "8191",
        ])
        .args([
            "--p2p-listen",
            "127.0.0.1:0",
            "--metrics-bind",
            "127.0.0.1:0",
        ])
        .args(["--min-peers", "1", "--log-format", "json"]);
    Histd::spawn(cmd)
}

fn message_has(v: &serde_json::Value, text: &str) -> bool {
    v["message"].as_str().is_some_and(|m| m.contains(text))
}

#[test]
fn startup_imports_the_era1_dir_before_fast_sync_and_skips_it_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, files) = (dir.path().join("data"), dir.path().join("era1"));
    std::fs::create_dir(&files).expect("mkdir");
    std::fs::copy(epoch0(), files.join(NAME)).expect("copy");

    let mut h = run(&data, &files);
    let line = h.wait_for("the file's progress line", |v| {
        message_has(v, "era1 import [1/1]")
    });
    assert_eq!(line["stored"], 8192, "{line}");
    assert!(
        message_has(&line, NAME) && message_has(&line, "blocks/s"),
        "{line}"
    );
    h.wait_for("the run's line", |v| {
        message_has(v, "era1 import: imported 1 files")
    });
    // Then, and only then, the node looks for peers (there are none: it waits).
    h.wait_for("waiting for peers", |v| v["message"] == "waiting for peers");
    h.signal(libc::SIGINT);
    assert_eq!(h.wait_exit().code(), Some(0), "{:#?}", h.seen);

    let store = Storage::open_existing(&data).expect("open");
    assert_eq!(
        store.last_contiguous().expect("read"),
        Some(BlockNumber(8191))
    );
    drop(store);

    let mut h = run(&data, &files);
    let line = h.wait_for("the skip line", |v| message_has(v, "era1 import [1/1]"));
    assert!(message_has(&line, "already stored, skipped"), "{line}");
    assert_eq!(line["stored"], 0, "{line}");
    h.wait_for("waiting for peers", |v| v["message"] == "waiting for peers");
    h.signal(libc::SIGINT);
    assert_eq!(h.wait_exit().code(), Some(0), "{:#?}", h.seen);
}

#[test]
fn a_bad_file_in_the_era1_dir_stops_the_start_naming_the_file_and_block() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, files) = (dir.path().join("data"), dir.path().join("era1"));
    std::fs::create_dir(&files).expect("mkdir");
    let bytes = std::fs::read(epoch0()).expect("read");
    std::fs::write(files.join(NAME), &bytes[..bytes.len() / 2]).expect("write");

    let mut h = run(&data, &files);
    assert_eq!(h.wait_exit().code(), Some(1), "{:#?}", h.seen);
    let failed: Vec<_> = h
        .seen
        .iter()
        .filter(|v| v.to_string().contains(NAME) && v.to_string().contains("truncated"))
        .collect();
    assert!(!failed.is_empty(), "{:#?}", h.seen);
    let text = failed[0].to_string();
    assert!(
        text.contains("block ") && text.contains("sync.era1_dir"),
        "{text}"
    );
    assert!(!h.logged("waiting for peers"), "{:#?}", h.seen);

    let store = Storage::open_existing(&data).expect("open");
    assert_eq!(store.lowest().expect("read"), None, "nothing stored");
}
