//! `histd config check` on the real binary: one clear line per problem and exit 2 for a broken
//! config; the effective config (TOML) for a valid one; flags override the file.

use std::path::Path;
use std::process::{Command, Output};

use histd::config::{ChainChoice, Config};
use histd::p2p::discovery::NodeRecord;
use histd::p2p::node_key::NodeKey;

fn histd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_histd"))
        .args(args)
        .env_remove("HISTD_CONFIG")
        .env_remove("RUST_LOG")
        .output()
        .expect("run histd")
}

fn write(dir: &Path, text: &str) -> String {
    let p = dir.join("histd.toml");
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn broken_config_prints_one_line_per_problem_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        r#"
chain = "goerli"
[sync]
start_block = 100
end_block = 10
min_peerz = 4
[storage]
shard_size = 0
[p2p]
listen = "not-an-address"
[rpc]
bind = "127.0.0.1:99999"
[log]
format = "xml"
"#,
    );
    let out = histd(&["config", "check", "--config", &path]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "nothing printed as config");
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    let expect = [
        ("chain", "\"goerli\""),
        ("sync.end_block", "10"),
        ("sync.min_peerz", "4"),
        ("storage.shard_size", "0"),
        ("p2p.listen", "\"not-an-address\""),
        ("rpc.bind", "\"127.0.0.1:99999\""),
        ("log.format", "\"xml\""),
    ];
    assert_eq!(lines.len(), expect.len(), "{stderr}");
    for (key, value) in expect {
        let line = lines
            .iter()
            .find(|l| l.starts_with(&format!("config error: {key}: ")))
            .unwrap_or_else(|| panic!("no line for {key} in\n{stderr}"));
        assert!(line.contains(value), "{line} names the value {value}");
        assert!(
            line.contains("expected") || line.contains("accepts"),
            "{line} says what is allowed"
        );
    }
}

#[test]
fn valid_config_prints_the_effective_config_with_flags_applied() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "[sync]\nstart_block = 5\nmin_peers = 1\n");
    let out = histd(&[
        "config",
        "check",
        "--config",
        &path,
        "--end-block",
        "9",
        "--metrics-bind",
        "127.0.0.1:0",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let effective = Config::from_toml_str(&text, &[]).expect("output is a valid config");
    assert_eq!(effective.sync.start_block.get(), 5);
    assert_eq!(effective.sync.end_block.map(|b| b.get()), Some(9));
    assert_eq!(effective.sync.min_peers, 1);
    assert_eq!(effective.metrics.bind.port(), 0);
}

#[test]
fn a_flag_is_validated_and_named() {
    let out = histd(&["config", "check", "--end-block", "3", "--start-block", "4"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with("config error: sync.end_block (from --end-block): got 3"),
        "{stderr}"
    );
}

#[test]
fn the_shipped_config_file_is_the_built_in_default() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/histd.toml");
    let file = Config::load(Some(&path), &[]).expect("config/histd.toml is valid");
    assert_eq!(file, Config::defaults());
}

#[test]
fn unreadable_or_malformed_files_are_exit_2_with_the_path() {
    let out = histd(&["config", "check", "--config", "/nonexistent/histd.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/histd.toml"));

    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "[sync\nstart_block = 1\n");
    let out = histd(&["config", "check", "--config", &path]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not valid TOML") && stderr.contains(&path),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
}

#[test]
fn run_refuses_a_broken_config_before_starting_anything() {
    let out = histd(&["run", "--shard-size", "0"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("storage.shard_size (from --shard-size)"),
        "{stderr}"
    );
    assert!(!stderr.contains("metrics endpoint listening"), "{stderr}");
}

/// A dialable enode URL (a real public key) on `port`.
fn enode(port: u16) -> String {
    NodeRecord::new(NodeKey::random().id(), [127, 0, 0, 1].into(), port).to_string()
}

fn stderr_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn bad_enodes_are_refused_by_check_and_run_alike_naming_key_and_index() {
    let dir = tempfile::tempdir().unwrap();
    // Right shape, but not a public key: the old shape check let it through to `run`.
    let not_a_point = format!("enode://{}@127.0.0.1:30303", "ab".repeat(64));
    let path = write(
        dir.path(),
        &format!(
            "[p2p]\nstatic_peers = [\"{}\", \"enode://abc\"]\nbootnodes = [\"{not_a_point}\"]\n",
            enode(30303)
        ),
    );
    let check = histd(&["config", "check", "--config", &path]);
    let run = histd(&["run", "--config", &path]);
    for out in [&check, &run] {
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        let lines = stderr_lines(out);
        assert_eq!(lines.len(), 2, "{lines:#?}");
        assert!(lines[0].starts_with(&format!(
            "config error: p2p.bootnodes[0]: got {not_a_point:?}, expected an enode URL"
        )));
        assert!(lines[1].starts_with(
            "config error: p2p.static_peers[1]: got \"enode://abc\", expected an enode URL"
        ));
    }
    assert_eq!(
        check.stderr, run.stderr,
        "check refuses exactly what run does"
    );

    let out = histd(&["config", "check", "--peer", "enode://flag"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_lines(&out)[0]
            .starts_with("config error: p2p.static_peers[0] (from --peer): got \"enode://flag\""),
        "{out:?}"
    );
}

#[test]
fn testnet_flags_chain_file_peers_and_no_discovery() {
    let dir = tempfile::tempdir().unwrap();
    let chain = dir.path().join("chain.toml");
    std::fs::write(
        &chain,
        format!(
            "name = \"testnet\"\nchain_id = 1337\ngenesis_hash = \"0x{}\"\ngenesis_timestamp = 0\n",
            "11".repeat(32)
        ),
    )
    .unwrap();
    let chain_arg = chain.display().to_string();
    let (a, b) = (enode(30303), enode(30304));
    let out = histd(&[
        "config",
        "check",
        "--chain",
        &chain_arg,
        "--peer",
        &a,
        "--no-discovery",
        "--peer",
        &b,
        "--end-block",
        "64",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let effective = Config::from_toml_str(&String::from_utf8(out.stdout).unwrap(), &[])
        .expect("output is a valid config");
    assert_eq!(effective.chain, ChainChoice::Custom(chain.clone()));
    let peers: Vec<String> = effective
        .p2p
        .static_peers
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert_eq!(peers, [a, b]);
    assert!(!effective.p2p.discovery.dns && !effective.p2p.discovery.discv4);
    assert_eq!(effective.sync.end_block.map(|b| b.get()), Some(64));

    // A chain file that does not load is refused by `config check` too, naming the flag.
    let missing = dir.path().join("missing.toml").display().to_string();
    let out = histd(&["config", "check", "--chain", &missing]);
    assert_eq!(out.status.code(), Some(2));
    let lines = stderr_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].starts_with(&format!(
            "config error: chain (from --chain): got {missing:?}"
        )),
        "{lines:#?}"
    );
}
