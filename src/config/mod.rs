//! Configuration: the TOML file, CLI overrides, validation with errors that name the key.
//!
//! Owns the shape of `config/histd.toml` and the rules every value must satisfy. Loading goes
//! file text → TOML table → CLI overrides written into that table → one walk that reads every known
//! key, collects *every* problem (unknown keys, wrong types, bad values, cross-field rules) and only
//! then builds the typed [`Config`]. It must never open sockets, touch the data directory or start
//! anything: it only says what the operator asked for.

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Serialize;
use toml::{Table, Value};

use crate::primitives::BlockNumber;

/// Default shard size in blocks (DESIGN.md §5).
pub const DEFAULT_SHARD_SIZE: u64 = 10_000;

/// The built-in chains; anything else is a path to a custom genesis spec.
pub const BUILTIN_CHAINS: [&str; 3] = ["mainnet", "sepolia", "hoodi"];

/// Which chain to follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainChoice {
    Mainnet,
    Sepolia,
    Hoodi,
    /// A custom chain described by a genesis spec file (devnets, tests).
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

/// What to keep of each transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TxRetention {
    /// Whole signed transactions (needed for `eth_getTransactionByHash` with full data).
    Full,
    /// Only transaction hashes (enough for logs and receipts; much smaller).
    Hashes,
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
}

/// `[storage.retention]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetentionConfig {
    pub transactions: TxRetention,
}

/// `[storage]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StorageConfig {
    /// Blocks per shard; fixed when the database is created.
    pub shard_size: u64,
    pub retention: RetentionConfig,
}

/// `[p2p.discovery]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiscoveryConfig {
    /// EIP-1459 DNS discovery (enrtree).
    pub dns: bool,
    /// discv4 UDP discovery.
    pub discv4: bool,
}

/// `[p2p]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct P2pConfig {
    pub listen: SocketAddr,
    pub max_peers: u32,
    /// Empty: the chain's built-in bootnodes.
    pub bootnodes: Vec<String>,
    /// Peers dialled and kept regardless of discovery.
    pub static_peers: Vec<String>,
    pub discovery: DiscoveryConfig,
}

/// `[rpc]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RpcConfig {
    pub bind: SocketAddr,
    /// Largest `toBlock - fromBlock + 1` accepted by `eth_getLogs`.
    pub max_block_range: u64,
    /// Most logs one `eth_getLogs` answer may hold.
    pub max_logs: u64,
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

/// The validated, effective configuration.
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

impl Config {
    /// The built-in defaults: exactly what `config/histd.toml` says (a test keeps them equal).
    pub fn defaults() -> Self {
        Self::from_table(Table::new(), &[]).unwrap_or_else(|_| unreachable_defaults())
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
        Self::from_table(table, overrides).map_err(ConfigError::Invalid)
    }

    /// Validate TOML text (used by tests and `load`).
    pub fn from_toml_str(text: &str, overrides: &[Override]) -> Result<Self, ConfigError> {
        let table = text.parse::<Table>().map_err(|e| ConfigError::Syntax {
            path: PathBuf::from("<string>"),
            message: e.to_string().trim_end().to_string(),
        })?;
        Self::from_table(table, overrides).map_err(ConfigError::Invalid)
    }

    /// Walk the table, collecting every problem before giving up.
    fn from_table(mut table: Table, overrides: &[Override]) -> Result<Self, Vec<Problem>> {
        let mut r = Reader::default();
        for o in overrides {
            r.apply_override(&mut table, o);
        }
        let chain_raw = r.string(&table, "chain", "mainnet");
        let chain = r.chain(&chain_raw);
        let data_dir = r.string(&table, "data_dir", "./histd-data");
        if data_dir.is_empty() {
            r.problem("data_dir", "\"\"", "a non-empty directory path");
        }

        let start_block = r.u64(&table, "sync.start_block", 0);
        let end_block = r.opt_u64(&table, "sync.end_block");
        if let Some(end) = end_block
            && end < start_block
        {
            r.problem(
                "sync.end_block",
                end,
                format!(">= sync.start_block ({start_block}), or unset to follow the chain"),
            );
        }
        let rollback_window = r.u64(&table, "sync.rollback_window", 64);
        if rollback_window == 0 {
            r.problem("sync.rollback_window", 0, "at least 1 block");
        }
        let min_peers = r.u32(&table, "sync.min_peers", 3);
        if min_peers == 0 {
            r.problem("sync.min_peers", 0, "at least 1 peer");
        }

        let shard_size = r.u64(&table, "storage.shard_size", DEFAULT_SHARD_SIZE);
        if shard_size == 0 {
            r.problem("storage.shard_size", 0, "at least 1 block (default 10000)");
        }
        let transactions = match r
            .string(&table, "storage.retention.transactions", "full")
            .as_str()
        {
            "full" => TxRetention::Full,
            "hashes" => TxRetention::Hashes,
            other => {
                r.problem(
                    "storage.retention.transactions",
                    format!("{other:?}"),
                    "\"full\" or \"hashes\"",
                );
                TxRetention::Full
            }
        };

        let listen = r.addr(&table, "p2p.listen", "0.0.0.0:30303");
        let max_peers = r.u32(&table, "p2p.max_peers", 50);
        if max_peers < min_peers {
            r.problem(
                "p2p.max_peers",
                max_peers,
                format!(">= sync.min_peers ({min_peers})"),
            );
        }
        let bootnodes = r.enodes(&table, "p2p.bootnodes");
        let static_peers = r.enodes(&table, "p2p.static_peers");
        let dns = r.bool(&table, "p2p.discovery.dns", true);
        let discv4 = r.bool(&table, "p2p.discovery.discv4", true);

        let rpc_bind = r.addr(&table, "rpc.bind", "127.0.0.1:8545");
        let max_block_range = r.u64(&table, "rpc.max_block_range", 10_000);
        if max_block_range == 0 {
            r.problem("rpc.max_block_range", 0, "at least 1 block");
        }
        let max_logs = r.u64(&table, "rpc.max_logs", 50_000);
        if max_logs == 0 {
            r.problem("rpc.max_logs", 0, "at least 1 log");
        }

        let metrics_bind = r.addr(&table, "metrics.bind", "127.0.0.1:9464");
        let format = match r.string(&table, "log.format", "auto").as_str() {
            "auto" => LogFormat::Auto,
            "human" => LogFormat::Human,
            "json" => LogFormat::Json,
            other => {
                r.problem(
                    "log.format",
                    format!("{other:?}"),
                    "\"auto\", \"human\" or \"json\"",
                );
                LogFormat::Auto
            }
        };

        r.unknown_keys(&table, "");
        if !r.problems.is_empty() {
            return Err(r.problems);
        }
        Ok(Config {
            chain,
            data_dir: PathBuf::from(data_dir),
            sync: SyncConfig {
                start_block: BlockNumber(start_block),
                end_block: end_block.map(BlockNumber),
                rollback_window,
                min_peers,
            },
            storage: StorageConfig {
                shard_size,
                retention: RetentionConfig { transactions },
            },
            p2p: P2pConfig {
                listen,
                max_peers,
                bootnodes,
                static_peers,
                discovery: DiscoveryConfig { dns, discv4 },
            },
            rpc: RpcConfig {
                bind: rpc_bind,
                max_block_range,
                max_logs,
            },
            metrics: MetricsConfig { bind: metrics_bind },
            log: LogConfig { format },
        })
    }
}

/// The empty table always validates; if it ever stops doing so, a unit test fails first.
fn unreachable_defaults() -> Config {
    Config {
        chain: ChainChoice::Mainnet,
        data_dir: PathBuf::from("./histd-data"),
        sync: SyncConfig {
            start_block: BlockNumber::ZERO,
            end_block: None,
            rollback_window: 64,
            min_peers: 3,
        },
        storage: StorageConfig {
            shard_size: DEFAULT_SHARD_SIZE,
            retention: RetentionConfig {
                transactions: TxRetention::Full,
            },
        },
        p2p: P2pConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 30303)),
            max_peers: 50,
            bootnodes: vec![],
            static_peers: vec![],
            discovery: DiscoveryConfig {
                dns: true,
                discv4: true,
            },
        },
        rpc: RpcConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 8545)),
            max_block_range: 10_000,
            max_logs: 50_000,
        },
        metrics: MetricsConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 9464)),
        },
        log: LogConfig {
            format: LogFormat::Auto,
        },
    }
}

/// One value set on the command line, written over the file's value before validation so that it
/// is checked by the same rules (and named by the same key) as a file value.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    /// Dotted key, e.g. `sync.start_block`.
    pub key: &'static str,
    pub value: Value,
    /// The flag it came from, for messages.
    pub flag: &'static str,
}

/// One thing wrong with the configuration: which key, what value, what is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub value: String,
    /// What is allowed (for an unknown key: the keys its section accepts).
    pub allowed: String,
    pub kind: ProblemKind,
}

/// Whether the key exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// A known key with a value that breaks a rule.
    BadValue,
    /// A key histd does not know (a typo, or the wrong section).
    UnknownKey,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ProblemKind::BadValue => write!(
                f,
                "{}: got {}, expected {}",
                self.key, self.value, self.allowed
            ),
            ProblemKind::UnknownKey => write!(
                f,
                "{}: unknown key (value {}); {}",
                self.key, self.value, self.allowed
            ),
        }
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{} problem(s) in the configuration", .0.len())]
    Invalid(Vec<Problem>),
    #[error("cannot render the effective config as TOML: {0}")]
    Serialize(String),
}

impl ConfigError {
    /// One line per problem, ready to print.
    pub fn lines(&self) -> Vec<String> {
        match self {
            Self::Invalid(problems) => problems.iter().map(|p| p.to_string()).collect(),
            other => vec![other.to_string().replace('\n', " ")],
        }
    }
}

/// Reads known keys out of the table, remembering which were read and what was wrong.
#[derive(Default)]
struct Reader {
    known: BTreeSet<String>,
    problems: Vec<Problem>,
    /// Keys whose value came from a CLI flag: key → flag.
    from_flag: Vec<(&'static str, &'static str)>,
}

impl Reader {
    fn problem(&mut self, key: &str, value: impl fmt::Display, allowed: impl Into<String>) {
        let key = match self.from_flag.iter().find(|(k, _)| *k == key) {
            Some((_, flag)) => format!("{key} (from {flag})"),
            None => key.to_string(),
        };
        self.problems.push(Problem {
            key,
            value: value.to_string(),
            allowed: allowed.into(),
            kind: ProblemKind::BadValue,
        });
    }

    fn apply_override(&mut self, table: &mut Table, o: &Override) {
        let mut parts: Vec<&str> = o.key.split('.').collect();
        let Some(last) = parts.pop() else { return };
        let mut cur = &mut *table;
        for part in parts {
            let entry = cur
                .entry(part.to_string())
                .or_insert_with(|| Value::Table(Table::new()));
            if !entry.is_table() {
                *entry = Value::Table(Table::new());
            }
            match entry {
                Value::Table(t) => cur = t,
                _ => return,
            }
        }
        cur.insert(last.to_string(), o.value.clone());
        self.from_flag.push((o.key, o.flag));
    }

    /// The raw value at a dotted key, marking the key (and its parents) as known. A parent that
    /// is not a table is reported once, as a type problem.
    fn get<'t>(&mut self, table: &'t Table, key: &str) -> Option<&'t Value> {
        let parts: Vec<&str> = key.split('.').collect();
        let mut prefix = String::new();
        let mut cur = table;
        for (i, part) in parts.iter().enumerate() {
            if !prefix.is_empty() {
                prefix.push('.');
            }
            prefix.push_str(part);
            let first_visit = self.known.insert(prefix.clone());
            let v = cur.get(*part)?;
            if i + 1 == parts.len() {
                return Some(v);
            }
            match v {
                Value::Table(t) => cur = t,
                other => {
                    if first_visit {
                        self.problem(&prefix, other, "a table");
                    }
                    return None;
                }
            }
        }
        None
    }

    fn string(&mut self, table: &Table, key: &str, default: &str) -> String {
        match self.get(table, key) {
            None => default.to_string(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => {
                self.problem(key, other, "a string");
                default.to_string()
            }
        }
    }

    fn opt_u64(&mut self, table: &Table, key: &str) -> Option<u64> {
        match self.get(table, key) {
            None => None,
            Some(Value::Integer(i)) if *i >= 0 => Some(*i as u64),
            Some(other) => {
                self.problem(key, other, "a non-negative integer");
                None
            }
        }
    }

    fn u64(&mut self, table: &Table, key: &str, default: u64) -> u64 {
        self.opt_u64(table, key).unwrap_or(default)
    }

    fn u32(&mut self, table: &Table, key: &str, default: u32) -> u32 {
        match self.opt_u64(table, key) {
            None => default,
            Some(v) => u32::try_from(v).unwrap_or_else(|_| {
                self.problem(key, v, format!("an integer <= {}", u32::MAX));
                default
            }),
        }
    }

    fn bool(&mut self, table: &Table, key: &str, default: bool) -> bool {
        match self.get(table, key) {
            None => default,
            Some(Value::Boolean(b)) => *b,
            Some(other) => {
                self.problem(key, other, "true or false");
                default
            }
        }
    }

    fn addr(&mut self, table: &Table, key: &str, default: &str) -> SocketAddr {
        let fallback = || SocketAddr::from(([127, 0, 0, 1], 0));
        let raw = self.string(table, key, default);
        raw.parse::<SocketAddr>().unwrap_or_else(|_| {
            self.problem(
                key,
                format!("{raw:?}"),
                "an IP:port socket address such as \"127.0.0.1:9464\" or \"[::1]:9464\"",
            );
            fallback()
        })
    }

    /// Enode URLs: only their outer shape is checked here (`enode://<128 hex>@host:port`); the
    /// p2p layer parses them fully when it dials.
    fn enodes(&mut self, table: &Table, key: &str) -> Vec<String> {
        let items = match self.get(table, key) {
            None => return vec![],
            Some(Value::Array(items)) => items.clone(),
            Some(other) => {
                self.problem(key, other, "an array of enode URLs");
                return vec![];
            }
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let item_key = format!("{key}[{i}]");
            match item {
                Value::String(s) if looks_like_enode(s) => out.push(s.clone()),
                other => self.problem(
                    &item_key,
                    other,
                    "an enode URL \"enode://<128 hex chars>@<ip>:<port>\"",
                ),
            }
        }
        out
    }

    fn chain(&mut self, raw: &str) -> ChainChoice {
        match raw {
            "mainnet" => ChainChoice::Mainnet,
            "sepolia" => ChainChoice::Sepolia,
            "hoodi" => ChainChoice::Hoodi,
            path if path.contains('/') || path.ends_with(".json") => {
                let p = PathBuf::from(path);
                if !p.is_file() {
                    self.problem(
                        "chain",
                        format!("{raw:?}"),
                        "an existing genesis spec file (no such file)",
                    );
                }
                ChainChoice::Custom(p)
            }
            other => {
                self.problem(
                    "chain",
                    format!("{other:?}"),
                    "\"mainnet\", \"sepolia\", \"hoodi\" or a path to a genesis spec file",
                );
                ChainChoice::Mainnet
            }
        }
    }

    /// Every key in the table that no reader asked for is an error: a typo must not be silently
    /// ignored (`min_peer = 5` would otherwise leave the default in force).
    fn unknown_keys(&mut self, table: &Table, prefix: &str) {
        for (k, v) in table {
            let key = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            if !self.known.contains(&key) {
                let section = if prefix.is_empty() {
                    "the top level".to_string()
                } else {
                    format!("[{prefix}]")
                };
                let accepted = self.children(prefix).join(", ");
                self.problems.push(Problem {
                    key: key.clone(),
                    value: short(v),
                    allowed: format!("{section} accepts: {accepted}"),
                    kind: ProblemKind::UnknownKey,
                });
            } else if let Value::Table(t) = v {
                self.unknown_keys(t, &key);
            }
        }
    }
}

impl Reader {
    /// Known keys directly under `prefix` ("" = top level), in reading order of the file format.
    fn children(&self, prefix: &str) -> Vec<String> {
        self.known
            .iter()
            .filter_map(|k| {
                let rest = if prefix.is_empty() {
                    Some(k.as_str())
                } else {
                    k.strip_prefix(prefix).and_then(|r| r.strip_prefix('.'))
                };
                rest.filter(|r| !r.contains('.')).map(str::to_string)
            })
            .collect()
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 60 {
        format!("{}…", &s[..s.floor_char_boundary(60)])
    } else {
        s
    }
}

fn looks_like_enode(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("enode://") else {
        return false;
    };
    let Some((id, host)) = rest.split_once('@') else {
        return false;
    };
    id.len() == 128 && id.bytes().all(|b| b.is_ascii_hexdigit()) && host.contains(':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_table_is_the_defaults() {
        let c = Config::from_toml_str("", &[]).unwrap();
        assert_eq!(c, unreachable_defaults());
        assert_eq!(Config::defaults(), c);
    }

    #[test]
    fn collects_every_problem() {
        let text = r#"
            chain = "goerli"
            data_dir = ""
            colour = "blue"
            [sync]
            start_block = 10
            end_block = 5
            min_peer = 3
            [storage]
            shard_size = 0
            retention.transactions = "some"
            [p2p]
            listen = "localhost"
            bootnodes = ["enode://abc"]
            [metrics]
            bind = 9100
        "#;
        let err = Config::from_toml_str(text, &[]).unwrap_err();
        let lines = err.lines();
        let keys: Vec<&str> = lines.iter().map(|l| l.split(':').next().unwrap()).collect();
        for k in [
            "chain",
            "data_dir",
            "colour",
            "sync.end_block",
            "sync.min_peer",
            "storage.shard_size",
            "storage.retention.transactions",
            "p2p.listen",
            "p2p.bootnodes[0]",
            "metrics.bind",
        ] {
            assert!(keys.contains(&k), "missing {k} in {lines:#?}");
        }
        assert_eq!(lines.len(), 10, "{lines:#?}");
    }

    #[test]
    fn overrides_win_and_are_validated() {
        let o = |key, value, flag| Override { key, value, flag };
        let c = Config::from_toml_str(
            "[sync]\nstart_block = 5\n",
            &[o("sync.start_block", Value::Integer(7), "--start-block")],
        )
        .unwrap();
        assert_eq!(c.sync.start_block, BlockNumber(7));
        let err = Config::from_toml_str(
            "",
            &[o("rpc.bind", Value::String("nope".into()), "--rpc-bind")],
        )
        .unwrap_err();
        assert!(err.lines()[0].starts_with("rpc.bind (from --rpc-bind): got \"nope\""));
    }

    #[test]
    fn effective_config_round_trips() {
        let mut c = Config::defaults();
        c.sync.end_block = Some(BlockNumber(99));
        c.p2p.static_peers = vec![format!("enode://{}@127.0.0.1:30303", "ab".repeat(64))];
        let again = Config::from_toml_str(&c.to_toml().unwrap(), &[]).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn section_of_wrong_type_is_reported_once() {
        let err = Config::from_toml_str("sync = 3\n", &[]).unwrap_err();
        assert_eq!(
            err.lines(),
            vec!["sync: got 3, expected a table".to_string()]
        );
    }
}
