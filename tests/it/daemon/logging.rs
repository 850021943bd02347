//! Log output of the real binary: JSON lines or human lines on request, `-v` for debug, `RUST_LOG`
//! wins over both. Uses the product workers (no script) on a data directory that cannot be opened
//! (a regular file), so startup fails at once with exit code 1.

use std::process::Command;

fn run(args: &[&str], rust_log: Option<&str>) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let not_a_dir = dir.path().join("file");
    std::fs::write(&not_a_dir, b"not a data directory").expect("write file");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_histd"));
    cmd.args(["run", "--metrics-bind", "127.0.0.1:0", "--data-dir"])
        .arg(&not_a_dir)
        .args(args)
        .env_remove("HISTD_TESTKIT_SCRIPT")
        .env_remove("HISTD_CONFIG");
    match rust_log {
        Some(v) => cmd.env("RUST_LOG", v),
        None => cmd.env_remove("RUST_LOG"),
    };
    let out = cmd.output().expect("run histd");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn levels(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("every line is JSON");
            v["level"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn json_lines_by_default_when_not_a_terminal_and_v_adds_debug() {
    let (code, stderr) = run(&[], None);
    assert_eq!(code, Some(1));
    let plain = levels(&stderr);
    assert!(plain.iter().any(|l| l == "INFO") && !plain.iter().any(|l| l == "DEBUG"));

    let (_, stderr) = run(&["-v"], None);
    assert!(levels(&stderr).iter().any(|l| l == "DEBUG"), "{stderr}");
}

#[test]
fn rust_log_overrides_verbosity() {
    let (_, stderr) = run(&["-vv", "--log-format", "json"], Some("error"));
    let l = levels(&stderr);
    assert!(!l.is_empty() && l.iter().all(|l| l == "ERROR"), "{stderr}");
}

#[test]
fn human_format_on_request() {
    let (_, stderr) = run(&["--log-format", "human"], None);
    assert!(stderr.contains("INFO") && stderr.contains("phase transition"));
    assert!(!stderr.lines().any(|l| l.starts_with('{')), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "no colour codes when not a terminal"
    );
}
