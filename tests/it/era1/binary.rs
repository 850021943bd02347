//! `histd import era1` and `histd export era1` through the real binary: progress lines on stdout
//! and exit 0; a bad file gives one line on stderr naming the file and block, and exit 1.

use std::process::Command;

use super::epoch0;

fn histd(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_histd"))
        .args(args)
        .output()
        .expect("run histd");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn import_then_export_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    // A directory of era1 files.
    let files = dir.path().join("era1");
    std::fs::create_dir(&files).unwrap();
    std::fs::copy(epoch0(), files.join("mainnet-00000-5ec1ffb8.era1")).unwrap();
    let f = files.to_str().unwrap();

    let (code, out, err) = histd(&["import", "era1", f, "--data-dir", d]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("[1/1]"), "{out}");
    assert!(out.contains("8192 stored"), "{out}");
    assert!(out.contains("blocks/s"), "{out}");

    let (code, out, err) = histd(&["import", "era1", f, "--data-dir", d]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("already stored, skipped"), "{out}");

    let (code, out, err) = histd(&["db", "verify", "--data-dir", d]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("ok: 8192 blocks"), "{out}");

    let exported = dir.path().join("out");
    let o = exported.to_str().unwrap();
    let (code, out, err) = histd(&[
        "export",
        "era1",
        "--from",
        "0",
        "--to",
        "8191",
        o,
        "--data-dir",
        d,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("mainnet-00000-5ec1ffb8.era1"), "{out}");
    assert!(exported.join("mainnet-00000-5ec1ffb8.era1").is_file());

    let (code, out, err) = histd(&[
        "export",
        "era1",
        "--from",
        "0",
        "--to",
        "100",
        o,
        "--data-dir",
        d,
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("whole epochs"), "{err}");
}

#[test]
fn a_truncated_file_fails_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    let bad = dir.path().join("mainnet-00000-5ec1ffb8.era1");
    let bytes = std::fs::read(epoch0()).unwrap();
    std::fs::write(&bad, &bytes[..bytes.len() / 2]).unwrap();
    let (code, out, err) = histd(&[
        "import",
        "era1",
        bad.to_str().unwrap(),
        "--data-dir",
        d.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("mainnet-00000-5ec1ffb8.era1"), "{err}");
    assert!(err.contains("block "), "{err}");
    assert!(err.contains("truncated"), "{err}");
}
