//! Configuration: the TOML file, CLI overrides, validation with errors that name the key.
//!
//! Owns the shape of `config/histd.toml`, its defaults (one place: the [`Default`] impls in
//! `defaults`) and the rules every value must satisfy. Loading goes file text → TOML table → CLI
//! overrides written into that table (`overrides`) → one walk (`validate`) that reads every known
//! key, parses it into its typed value (socket addresses, enode URLs into [`NodeRecord`]s, the
//! chain: a built-in name or a spec file that loads), collects *every* problem (unknown keys,
//! wrong types, bad values, cross-field rules) and only then builds the typed [`Config`]. So
//! `histd config check` refuses exactly what `histd run` would.
//!
//! It must never open sockets, touch the data directory or start anything: it only says what the
//! operator asked for. Turning a `Config` into each part's own settings is the daemon's wiring
//! (`daemon::node::settings`), except the RPC server's ([`rpc`]), which both the node and
//! `histd serve` need; lower layers never see this type.

mod defaults;
mod error;
mod overrides;
pub mod rpc;
mod validate;

pub use defaults::MIB;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Serialize;
use toml::Table;

use crate::p2p::discovery::NodeRecord;
use crate::primitives::{BlockNumber, Checkpoint};
use crate::storage::Retention;

pub use error::{ConfigError, Problem, ProblemKind};
pub use overrides::{Override, OverrideAction};

/// Which chain to follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainChoice {
    Mainnet,
    Sepolia,
    Hoodi,
    /// A custom chain described by a `.toml`/`.json` chain spec file (devnets, tests). Validation
    /// has loaded it once; the daemon loads it again when it starts.
    Custom(PathBuf),
}

impl ChainChoice {
    /// The value as written in the config file.
    pub fn as_config_value(&self) -> String {
        match self {
            Self::Mainnet => "mainnet".into(),
            Self::Sepolia => "sepolia".into(),
            Self::Hoodi => "hoodi".into(),
            Self::Custom(path) => path.display().to_string(),
        }
    }
}

impl fmt::Display for ChainChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_config_value())
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable on a terminal, JSON lines otherwise.
    Auto,
    Human,
    Json,
}

/// `[sync]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncConfig {
    pub start_block: BlockNumber,
    /// Set: range mode (sync `start_block ..= end_block`, finalize, exit). Unset: follow the chain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_block: Option<BlockNumber>,
    /// Blocks behind the head that fast-sync stays, and the deepest reorg follow can undo.
    pub rollback_window: u64,
    /// Peers required before leaving Startup.
    pub min_peers: u32,
    /// The operator's trusted checkpoint (`N:0xHASH`): fast-sync anchors on it.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_checkpoint"
    )]
    pub anchor: Option<Checkpoint>,
    /// Distinct networks (IPv4 /24, IPv6 /48) that must agree on the anchor's hash without a
    /// checkpoint.
    pub anchor_quorum: u32,
    /// A directory of era1 files (pre-merge mainnet history) that Startup imports before
    /// fast-sync, proven against the built-in accumulator; epochs already stored are skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub era1_dir: Option<PathBuf>,
    /// Fast-sync's memory bound, MiB: block data being fetched (counted at its target size),
    /// verified or waiting for the writer.
    pub max_inflight_mib: u64,
    /// Fast-sync's header lookahead: headers fetched or waiting for their bodies at most.
    pub headers_ahead: u64,
}

fn ser_checkpoint<S: serde::Serializer>(c: &Option<Checkpoint>, s: S) -> Result<S::Ok, S::Error> {
    match c {
        Some(c) => s.serialize_str(&c.to_string()),
        None => s.serialize_none(),
    }
}

/// `[storage]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StorageConfig {
    /// Blocks per shard; fixed when the database is created.
    pub shard_size: u64,
    /// `[storage.retention]`: storage's own type, so its values are defined once.
    pub retention: Retention,
}

/// `[p2p.discovery]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiscoveryConfig {
    /// EIP-1459 DNS discovery (the chain's enrtree lists).
    pub dns: bool,
    /// discv4 UDP discovery (seeded by the bootnodes).
    pub discv4: bool,
}

/// `[p2p]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct P2pConfig {
    pub listen: SocketAddr,
    pub max_peers: u32,
    /// Percent of `max_peers` (rounded down) that peers dialling in may take; the rest are kept
    /// for the peers we dial, so identities that cost nothing can't take every slot.
    pub inbound_percent: u32,
    /// discv4 entry points. Empty: the chain's own bootnodes.
    #[serde(serialize_with = "serialize_enodes")]
    pub bootnodes: Vec<NodeRecord>,
    /// Peers dialled and kept regardless of discovery.
    #[serde(serialize_with = "serialize_enodes")]
    pub static_peers: Vec<NodeRecord>,
    pub discovery: DiscoveryConfig,
}

/// `[rpc]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RpcConfig {
    pub bind: SocketAddr,
    /// Largest `toBlock - fromBlock + 1` accepted by `eth_getLogs`; 0: no cap (the default:
    /// `max_logs` bounds an answer, and the log index makes wide selective ranges cheap).
    pub max_block_range: u64,
    /// Most logs one `eth_getLogs` answer may hold.
    pub max_logs: u64,
    /// Largest HTTP body or WebSocket message, in bytes.
    pub max_body_bytes: u64,
    /// Most calls in one batch.
    pub max_batch: u64,
    /// Most requests worked on at once (the rest wait, within the request time).
    pub max_concurrent: u64,
    /// Most open WebSocket connections.
    pub max_connections: u64,
    /// Seconds one request may take before it answers -32002.
    pub request_timeout_secs: u64,
    /// Browser origins allowed (CORS); empty: none, `"*"`: any.
    pub cors_origins: Vec<String>,
    /// Most installed filters at once.
    pub max_filters: u64,
    /// Seconds an unpolled filter lives.
    pub filter_ttl_secs: u64,
}

/// `[metrics]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MetricsConfig {
    /// Prometheus endpoint; port 0 picks a free port (the bound address is logged).
    pub bind: SocketAddr,
}

/// `[log]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogConfig {
    pub format: LogFormat,
}

/// The validated, effective configuration. [`Config::default`] is the built-in configuration,
/// which `config/histd.toml` spells out (a test keeps them equal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Config {
    #[serde(serialize_with = "serialize_chain")]
    pub chain: ChainChoice,
    pub data_dir: PathBuf,
    pub sync: SyncConfig,
    pub storage: StorageConfig,
    pub p2p: P2pConfig,
    pub rpc: RpcConfig,
    pub metrics: MetricsConfig,
    pub log: LogConfig,
}

fn serialize_chain<S: serde::Serializer>(chain: &ChainChoice, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&chain.as_config_value())
}

/// Node records in their config form, enode URLs (which parse back to the same records).
fn serialize_enodes<S: serde::Serializer>(nodes: &[NodeRecord], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(nodes.iter().map(ToString::to_string))
}

impl Config {
    /// The built-in defaults (same as [`Config::default`]).
    pub fn defaults() -> Self {
        Self::default()
    }

    /// The effective configuration as TOML (what `histd config check` prints).
    pub fn to_toml(&self) -> Result<String, ConfigError> {
        toml::to_string(self).map_err(|e| ConfigError::Serialize(e.to_string()))
    }

    /// Read `path` (or the built-in defaults when `None`), apply `overrides`, validate.
    pub fn load(path: Option<&Path>, overrides: &[Override]) -> Result<Self, ConfigError> {
        let table = match path {
            None => Table::new(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                text.parse::<Table>().map_err(|e| ConfigError::Syntax {
                    path: path.to_path_buf(),
                    message: e.to_string().trim_end().to_string(),
                })?
            }
        };
        validate::from_table(table, overrides).map_err(ConfigError::Invalid)
    }

    /// Validate TOML text (used by tests and `load`).
    pub fn from_toml_str(text: &str, overrides: &[Override]) -> Result<Self, ConfigError> {
        let table = text.parse::<Table>().map_err(|e| ConfigError::Syntax {
            path: PathBuf::from("<string>"),
            message: e.to_string().trim_end().to_string(),
        })?;
        validate::from_table(table, overrides).map_err(ConfigError::Invalid)
    }
}
