//! Command-line interface: flags that override the config file, and subcommands.
//!
//! Owns argument parsing (clap derive) and, for subcommands that are not the daemon, their
//! parsing, rendering and checks over data the lower layers return (`db`: `histd db ...` over
//! storage). Every override flag maps to one dotted config key and is validated by `config` like
//! a file value. The daemon is not run from here: `main.rs` dispatches.
//!
//! Adding a subcommand: add a variant to [`Command`] (its args a subcommand enum in its own file
//! here, like [`db::DbCommand`]), then one match arm in `main.rs` calling that file's entry
//! function and returning its exit code. Lower layers return data and never import this module. The global flags (`--config`, `-v`, overrides) are available to every subcommand.

pub mod db;
pub mod era1;
pub mod serve;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use toml::Value;

use crate::config::Override;

/// histd: a verified local copy of Ethereum history, served over JSON-RPC.
#[derive(Debug, Parser)]
#[command(name = "histd", version, about, propagate_version = true)]
pub struct Cli {
    /// Config file (TOML). Without it the built-in defaults apply (= config/histd.toml).
    #[arg(
        long,
        short = 'c',
        global = true,
        value_name = "PATH",
        env = "HISTD_CONFIG"
    )]
    pub config: Option<PathBuf>,

    /// More log output: -v debug, -vv trace. `RUST_LOG` overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    #[command(flatten)]
    pub overrides: OverrideFlags,

    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon.
    Run,
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Inspect or maintain the data directory of a stopped node.
    #[command(subcommand)]
    Db(db::DbCommand),
    /// Serve a stopped node's data directory over JSON-RPC, read-only (HTTP and WebSocket).
    Serve(serve::ServeArgs),
    /// Import history into the data directory of a stopped node.
    #[command(subcommand)]
    Import(era1::ImportCommand),
    /// Export history from the data directory of a stopped node.
    #[command(subcommand)]
    Export(era1::ExportCommand),
}

/// `histd config ...`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the config (file + flags); print the effective config, or one line per problem
    /// (exit code 2).
    Check,
}

/// Flags that override config-file values. Each names its key in `--help`.
#[derive(Debug, Default, Args)]
pub struct OverrideFlags {
    /// chain: mainnet | sepolia | hoodi | path to a .toml/.json chain spec (checked to load).
    #[arg(long, global = true, value_name = "NAME|PATH")]
    pub chain: Option<String>,
    /// data_dir.
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// sync.start_block.
    #[arg(long, global = true, value_name = "N")]
    pub start_block: Option<u64>,
    /// sync.end_block (range mode: sync, finalize, exit).
    #[arg(long, global = true, value_name = "N")]
    pub end_block: Option<u64>,
    /// sync.rollback_window.
    #[arg(long, global = true, value_name = "BLOCKS")]
    pub rollback_window: Option<u64>,
    /// sync.min_peers.
    #[arg(long, global = true, value_name = "N")]
    pub min_peers: Option<u64>,
    /// sync.anchor: the trusted hash of a block at or above the target, `N:0xHASH` (e.g. from your
    /// own node: `cast block N --field hash`).
    #[arg(long, global = true, value_name = "N:0xHASH")]
    pub anchor: Option<String>,
    /// sync.era1_dir: a directory of era1 files `run` imports at startup, before fast-sync.
    #[arg(long, global = true, value_name = "DIR")]
    pub era1_dir: Option<PathBuf>,
    /// storage.shard_size (only for a new database).
    #[arg(long, global = true, value_name = "BLOCKS")]
    pub shard_size: Option<u64>,
    /// p2p.listen.
    #[arg(long, global = true, value_name = "ADDR")]
    pub p2p_listen: Option<String>,
    /// p2p.max_peers.
    #[arg(long, global = true, value_name = "N")]
    pub max_peers: Option<u64>,
    /// p2p.static_peers: adds one peer to the file's list (repeatable).
    #[arg(long = "peer", global = true, value_name = "ENODE")]
    pub peers: Vec<String>,
    /// p2p.discovery.dns = false and p2p.discovery.discv4 = false (so no bootnodes either):
    /// only static peers are dialled.
    #[arg(long, global = true)]
    pub no_discovery: bool,
    /// rpc.bind.
    #[arg(long, global = true, value_name = "ADDR")]
    pub rpc_bind: Option<String>,
    /// metrics.bind (port 0 picks a free port; the bound address is logged).
    #[arg(long, global = true, value_name = "ADDR")]
    pub metrics_bind: Option<String>,
    /// log.format: auto | human | json.
    #[arg(long, global = true, value_name = "FORMAT")]
    pub log_format: Option<String>,
}

fn int(v: u64) -> Value {
    // TOML integers are i64; larger values are clamped so validation still names the key.
    Value::Integer(i64::try_from(v).unwrap_or(i64::MAX))
}

impl OverrideFlags {
    /// The flags that were given, as config overrides.
    pub fn to_overrides(&self) -> Vec<Override> {
        let mut out = Vec::new();
        let mut push = |key, flag, value: Option<Value>| {
            if let Some(value) = value {
                out.push(Override::set(key, value, flag));
            }
        };
        push("chain", "--chain", self.chain.clone().map(Value::String));
        push(
            "data_dir",
            "--data-dir",
            self.data_dir
                .as_ref()
                .map(|p| Value::String(p.display().to_string())),
        );
        push(
            "sync.start_block",
            "--start-block",
            self.start_block.map(int),
        );
        push("sync.end_block", "--end-block", self.end_block.map(int));
        push(
            "sync.rollback_window",
            "--rollback-window",
            self.rollback_window.map(int),
        );
        push("sync.min_peers", "--min-peers", self.min_peers.map(int));
        push(
            "sync.anchor",
            "--anchor",
            self.anchor.clone().map(Value::String),
        );
        push(
            "sync.era1_dir",
            "--era1-dir",
            self.era1_dir
                .as_ref()
                .map(|p| Value::String(p.display().to_string())),
        );
        push(
            "storage.shard_size",
            "--shard-size",
            self.shard_size.map(int),
        );
        push(
            "p2p.listen",
            "--p2p-listen",
            self.p2p_listen.clone().map(Value::String),
        );
        push("p2p.max_peers", "--max-peers", self.max_peers.map(int));
        if self.no_discovery {
            push(
                "p2p.discovery.dns",
                "--no-discovery",
                Some(Value::Boolean(false)),
            );
            push(
                "p2p.discovery.discv4",
                "--no-discovery",
                Some(Value::Boolean(false)),
            );
        }
        push(
            "rpc.bind",
            "--rpc-bind",
            self.rpc_bind.clone().map(Value::String),
        );
        push(
            "metrics.bind",
            "--metrics-bind",
            self.metrics_bind.clone().map(Value::String),
        );
        push(
            "log.format",
            "--log-format",
            self.log_format.clone().map(Value::String),
        );
        out.extend(self.peers.iter().map(|enode| {
            Override::append("p2p.static_peers", Value::String(enode.clone()), "--peer")
        }));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OverrideAction;

    #[test]
    fn flags_parse_anywhere_and_become_overrides() {
        let cli = Cli::try_parse_from([
            "histd",
            "run",
            "--end-block",
            "10",
            "--metrics-bind",
            "127.0.0.1:0",
        ])
        .unwrap();
        assert!(matches!(cli.command, Command::Run));
        let o = cli.overrides.to_overrides();
        assert_eq!(o.len(), 2);
        assert_eq!(o[0].key, "sync.end_block");
        assert_eq!(o[1].value, Value::String("127.0.0.1:0".into()));
        let cli = Cli::try_parse_from(["histd", "-vv", "config", "check"]).unwrap();
        assert_eq!(cli.verbose, 2);
        assert!(matches!(cli.command, Command::Config(ConfigCommand::Check)));
    }

    #[test]
    fn testnet_flags_become_overrides() {
        let cli = Cli::try_parse_from([
            "histd",
            "run",
            "--chain",
            "net/chain.toml",
            "--peer",
            "enode://a",
            "--no-discovery",
            "--peer",
            "enode://b",
            "--end-block",
            "64",
        ])
        .unwrap();
        let o = cli.overrides.to_overrides();
        let find = |key: &'static str| o.iter().filter(move |o| o.key == key);
        assert_eq!(
            find("chain").next().map(|o| &o.value),
            Some(&Value::String("net/chain.toml".into()))
        );
        for key in ["p2p.discovery.dns", "p2p.discovery.discv4"] {
            let off: Vec<_> = find(key).collect();
            assert_eq!(off.len(), 1, "{key}");
            assert_eq!(off[0].value, Value::Boolean(false));
            assert_eq!(off[0].flag, "--no-discovery");
        }
        let peers: Vec<_> = find("p2p.static_peers").collect();
        assert_eq!(peers.len(), 2);
        assert!(peers.iter().all(|p| p.action == OverrideAction::Append));
        assert_eq!(peers[1].value, Value::String("enode://b".into()));
        assert_eq!(find("sync.end_block").count(), 1);

        // Without them, nothing is overridden.
        let cli = Cli::try_parse_from(["histd", "run"]).unwrap();
        assert!(cli.overrides.to_overrides().is_empty());
    }
}
