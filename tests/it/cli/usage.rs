//! The command line of the real binary: subcommands listed, usage errors exit 2.

use std::process::Command;

fn histd(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_histd"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn help_lists_the_commands_and_override_flags() {
    let out = histd(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "run",
        "config",
        "--config",
        "--end-block",
        "--metrics-bind",
        "-v",
    ] {
        assert!(text.contains(needle), "--help mentions {needle}:\n{text}");
    }
}

#[test]
fn unknown_subcommands_and_bad_flag_values_are_usage_errors() {
    assert_eq!(histd(&["frobnicate"]).status.code(), Some(2));
    let out = histd(&["run", "--start-block", "minus-one"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--start-block"));
}
