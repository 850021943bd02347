//! The one walk over the TOML table: reads every known key (a missing key takes its value from
//! [`Config::default`]), parses it into its typed value, checks the rules and cross-field rules,
//! and collects every problem before giving up. Unknown keys are problems too.

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use toml::{Table, Value};

use super::overrides::{self, FlagOrigins};
use super::{
    ChainChoice, Config, DiscoveryConfig, LogConfig, LogFormat, MetricsConfig, Override, P2pConfig,
    Problem, ProblemKind, RpcConfig, StorageConfig, SyncConfig,
};
use crate::p2p::chain::{ChainSpec, ChainSpecError};
use crate::p2p::discovery::NodeRecord;
use crate::p2p::eth::limits::MAX_HEADERS;
use crate::primitives::{BlockNumber, Checkpoint};
use crate::storage::{MAX_SHARD_SIZE, Retention, TxRetention};
use crate::sync::fetch::TARGET_ANSWER_BYTES;

/// Ceiling of `sync.max_inflight_mib` (1 TiB).
const MAX_INFLIGHT_MIB: u64 = 1 << 20;
/// Ceiling of `sync.headers_ahead`: about a million headers, some 1 GiB held.
const MAX_HEADERS_AHEAD: u64 = 1 << 20;
/// Ceiling of `rpc.max_concurrent` and `rpc.max_connections`.
const MAX_RPC_PERMITS: u64 = 1_000_000;
/// Ceiling of `rpc.request_timeout_secs` (a day).
const MAX_REQUEST_TIMEOUT_SECS: u64 = 86_400;

/// Records a problem when `v` of `key` is above `ceiling` (`unit` follows the number).
fn at_most(r: &mut Reader, key: &str, v: u64, ceiling: u64, unit: &str) {
    if v > ceiling {
        r.problem(
            key,
            v,
            format!("at most {ceiling} {unit}").trim_end().to_string(),
        );
    }
}

/// Applies `overrides` to `table` and validates the result.
pub(super) fn from_table(mut table: Table, overrides: &[Override]) -> Result<Config, Vec<Problem>> {
    let d = Config::default();
    let mut r = Reader {
        origins: overrides::apply(&mut table, overrides),
        ..Reader::default()
    };

    let chain = match r.opt_string(&table, "chain") {
        Some(raw) => r.chain(&raw).unwrap_or_else(|| d.chain.clone()),
        None => d.chain.clone(),
    };
    let data_dir = r.opt_string(&table, "data_dir").map(PathBuf::from);
    if data_dir.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
        r.problem("data_dir", "\"\"", "a non-empty directory path");
    }
    let data_dir = data_dir.unwrap_or_else(|| d.data_dir.clone());

    let start_block = r.u64(&table, "sync.start_block", d.sync.start_block.get());
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
    let rollback_window = r.u64(&table, "sync.rollback_window", d.sync.rollback_window);
    if rollback_window == 0 {
        r.problem("sync.rollback_window", 0, "at least 1 block");
    }
    let min_peers = r.u32(&table, "sync.min_peers", d.sync.min_peers);
    if min_peers == 0 {
        r.problem("sync.min_peers", 0, "at least 1 peer");
    }

    let anchor = r.opt_string(&table, "sync.anchor").and_then(|raw| {
        raw.parse::<Checkpoint>()
            .map_err(|e| {
                r.problem(
                    "sync.anchor",
                    format!("{raw:?}"),
                    format!(
                        "N:0xHASH, a block number and its 32-byte hash ({})",
                        e.problem
                    ),
                )
            })
            .ok()
    });
    if let (Some(a), Some(end)) = (anchor, end_block)
        && a.number.get() < end
    {
        r.problem(
            "sync.anchor",
            format!("\"{a}\""),
            format!("a block at or above sync.end_block ({end}): the anchor authenticates the blocks below it"),
        );
    }
    let anchor_quorum = r.u32(&table, "sync.anchor_quorum", d.sync.anchor_quorum);
    if anchor_quorum == 0 {
        r.problem("sync.anchor_quorum", 0, "at least 1 network");
    }

    let era1_dir = r.opt_string(&table, "sync.era1_dir").map(PathBuf::from);
    if era1_dir.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
        r.problem(
            "sync.era1_dir",
            "\"\"",
            "a directory of era1 files, or unset",
        );
    }

    // Below two answers' target size fetching would stall; below one header window the
    // lookahead would plan less than one request.
    let at_least = |r: &mut Reader, key: &str, default: u64, floor: u64, unit: &str| {
        let v = r.u64(&table, key, default);
        if v < floor {
            r.problem(key, v, format!("at least {floor} {unit}"));
        }
        v
    };
    let max_inflight_mib = at_least(
        &mut r,
        "sync.max_inflight_mib",
        d.sync.max_inflight_mib,
        2 * TARGET_ANSWER_BYTES.div_ceil(super::MIB),
        "MiB (two answers)",
    );
    // Fast sync counts this in bytes (`* MIB`): past the ceiling that would overflow.
    at_most(
        &mut r,
        "sync.max_inflight_mib",
        max_inflight_mib,
        MAX_INFLIGHT_MIB,
        "MiB (1 TiB)",
    );
    let headers_ahead = at_least(
        &mut r,
        "sync.headers_ahead",
        d.sync.headers_ahead,
        MAX_HEADERS as u64,
        "headers (one window)",
    );
    // Held headers cost memory (about a kilobyte each, decoded): a typo's extra digits should
    // be refused, not allocated for.
    at_most(
        &mut r,
        "sync.headers_ahead",
        headers_ahead,
        MAX_HEADERS_AHEAD,
        "headers (about 1 GiB held)",
    );

    let shard_size = r.u64(&table, "storage.shard_size", d.storage.shard_size);
    if shard_size == 0 {
        r.problem(
            "storage.shard_size",
            0,
            format!("at least 1 block (default {})", d.storage.shard_size),
        );
    }
    // The storage layer's own ceiling, said here with the key's name.
    at_most(
        &mut r,
        "storage.shard_size",
        shard_size,
        MAX_SHARD_SIZE,
        "blocks",
    );
    let transactions = r.choice(
        &table,
        "storage.retention.transactions",
        &[("full", TxRetention::Full), ("hashes", TxRetention::Hashes)],
        d.storage.retention.transactions,
    );

    let listen = r.addr(&table, "p2p.listen", d.p2p.listen);
    let max_peers = r.u32(&table, "p2p.max_peers", d.p2p.max_peers);
    if max_peers < min_peers {
        r.problem(
            "p2p.max_peers",
            max_peers,
            format!(">= sync.min_peers ({min_peers})"),
        );
    }
    let inbound_percent = r.u32(&table, "p2p.inbound_percent", d.p2p.inbound_percent);
    if inbound_percent > 100 {
        r.problem(
            "p2p.inbound_percent",
            inbound_percent,
            "a percentage, 0 to 100",
        );
    }
    let bootnodes = r.enodes(&table, "p2p.bootnodes");
    let static_peers = r.enodes(&table, "p2p.static_peers");
    let dns = r.bool(&table, "p2p.discovery.dns", d.p2p.discovery.dns);
    let discv4 = r.bool(&table, "p2p.discovery.discv4", d.p2p.discovery.discv4);

    let rpc_bind = r.addr(&table, "rpc.bind", d.rpc.bind);
    let max_block_range = r.u64(&table, "rpc.max_block_range", d.rpc.max_block_range);
    let max_logs = r.u64(&table, "rpc.max_logs", d.rpc.max_logs);
    if max_logs == 0 {
        r.problem("rpc.max_logs", 0, "at least 1 log");
    }
    let rpc_at_least_1 = |r: &mut Reader, key: &str, default: u64| {
        let v = r.u64(&table, key, default);
        if v == 0 {
            r.problem(key, 0, "at least 1");
        }
        v
    };
    let max_body_bytes = rpc_at_least_1(&mut r, "rpc.max_body_bytes", d.rpc.max_body_bytes);
    let max_batch = rpc_at_least_1(&mut r, "rpc.max_batch", d.rpc.max_batch);
    let max_concurrent = rpc_at_least_1(&mut r, "rpc.max_concurrent", d.rpc.max_concurrent);
    let max_connections = r.u64(&table, "rpc.max_connections", d.rpc.max_connections);
    // Each is a semaphore's permits (tokio panics past `Semaphore::MAX_PERMITS`); a million is
    // far past any descriptor limit.
    for (key, v) in [
        ("rpc.max_concurrent", max_concurrent),
        ("rpc.max_connections", max_connections),
    ] {
        at_most(&mut r, key, v, MAX_RPC_PERMITS, "");
    }
    let request_timeout_secs = rpc_at_least_1(
        &mut r,
        "rpc.request_timeout_secs",
        d.rpc.request_timeout_secs,
    );
    // Added to the clock for every request's deadline (a sum past the clock's range panics).
    at_most(
        &mut r,
        "rpc.request_timeout_secs",
        request_timeout_secs,
        MAX_REQUEST_TIMEOUT_SECS,
        "seconds (a day)",
    );
    let max_filters = r.u64(&table, "rpc.max_filters", d.rpc.max_filters);
    let filter_ttl_secs = rpc_at_least_1(&mut r, "rpc.filter_ttl_secs", d.rpc.filter_ttl_secs);
    let cors_origins = r.strings(&table, "rpc.cors_origins");

    let metrics_bind = r.addr(&table, "metrics.bind", d.metrics.bind);
    let format = r.choice(
        &table,
        "log.format",
        &[
            ("auto", LogFormat::Auto),
            ("human", LogFormat::Human),
            ("json", LogFormat::Json),
        ],
        d.log.format,
    );

    r.unknown_keys(&table, "");
    if !r.problems.is_empty() {
        return Err(r.problems);
    }
    Ok(Config {
        chain,
        data_dir,
        sync: SyncConfig {
            start_block: BlockNumber(start_block),
            end_block: end_block.map(BlockNumber),
            rollback_window,
            min_peers,
            anchor,
            anchor_quorum,
            era1_dir,
            max_inflight_mib,
            headers_ahead,
        },
        storage: StorageConfig {
            shard_size,
            retention: Retention { transactions },
        },
        p2p: P2pConfig {
            listen,
            max_peers,
            inbound_percent,
            bootnodes,
            static_peers,
            discovery: DiscoveryConfig { dns, discv4 },
        },
        rpc: RpcConfig {
            bind: rpc_bind,
            max_block_range,
            max_logs,
            max_body_bytes,
            max_batch,
            max_concurrent,
            max_connections,
            request_timeout_secs,
            cors_origins,
            max_filters,
            filter_ttl_secs,
        },
        metrics: MetricsConfig { bind: metrics_bind },
        log: LogConfig { format },
    })
}

/// Reads known keys out of the table, remembering which were read and what was wrong.
#[derive(Default)]
struct Reader {
    known: BTreeSet<String>,
    problems: Vec<Problem>,
    /// Keys (and list items) whose value came from a CLI flag.
    origins: FlagOrigins,
}

impl Reader {
    fn problem(&mut self, key: &str, value: impl fmt::Display, allowed: impl Into<String>) {
        let key = match self.origins.flag_of(key) {
            Some(flag) => format!("{key} (from {flag})"),
            None => key.to_string(),
        };
        self.problems.push(Problem {
            key,
            value: value.to_string(),
            allowed: allowed.into(),
            kind: ProblemKind::BadValue,
        });
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

    fn opt_string(&mut self, table: &Table, key: &str) -> Option<String> {
        match self.get(table, key) {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                self.problem(key, other, "a string");
                None
            }
        }
    }

    /// One of a few named values; anything else is a problem listing them.
    fn choice<T: Copy>(&mut self, table: &Table, key: &str, names: &[(&str, T)], default: T) -> T {
        let Some(raw) = self.opt_string(table, key) else {
            return default;
        };
        match names.iter().find(|(name, _)| *name == raw) {
            Some((_, value)) => *value,
            None => {
                let quoted: Vec<String> = names.iter().map(|(n, _)| format!("{n:?}")).collect();
                let allowed = match quoted.split_last() {
                    Some((last, [])) => last.clone(),
                    Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
                    None => String::new(),
                };
                self.problem(key, format!("{raw:?}"), allowed);
                default
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

    fn addr(&mut self, table: &Table, key: &str, default: SocketAddr) -> SocketAddr {
        let Some(raw) = self.opt_string(table, key) else {
            return default;
        };
        raw.parse::<SocketAddr>().unwrap_or_else(|_| {
            self.problem(
                key,
                format!("{raw:?}"),
                "an IP:port socket address such as \"127.0.0.1:9464\" or \"[::1]:9464\"",
            );
            default
        })
    }

    /// A list of strings (each bad item named `key[index]`).
    fn strings(&mut self, table: &Table, key: &str) -> Vec<String> {
        let items = match self.get(table, key) {
            None => return Vec::new(),
            Some(Value::Array(items)) => items.clone(),
            Some(other) => {
                self.problem(key, other, "an array of strings");
                return Vec::new();
            }
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item {
                Value::String(s) => out.push(s.clone()),
                other => self.problem(&format!("{key}[{i}]"), other, "a string"),
            }
        }
        out
    }

    /// Enode URLs, parsed by the p2p layer's own parser (the one dialling uses), so a value
    /// accepted here is one the node can dial. Each bad item is named `key[index]`.
    fn enodes(&mut self, table: &Table, key: &str) -> Vec<NodeRecord> {
        let items = match self.get(table, key) {
            None => return Vec::new(),
            Some(Value::Array(items)) => items.clone(),
            Some(other) => {
                self.problem(key, other, "an array of enode URLs");
                return Vec::new();
            }
        };
        let shape = "an enode URL \"enode://<128 hex chars>@<ip>:<port>\"";
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let item_key = format!("{key}[{i}]");
            match item {
                Value::String(s) => match s.parse::<NodeRecord>() {
                    Ok(node) => out.push(node),
                    Err(e) => self.problem(
                        &item_key,
                        format!("{s:?}"),
                        format!("{shape} ({})", e.reason),
                    ),
                },
                other => self.problem(&item_key, other, shape),
            }
        }
        out
    }

    /// A built-in chain name, or a chain spec file that loads: the same rule (and the same
    /// loader) as the daemon's start, so a chain accepted here is one the node can start on.
    fn chain(&mut self, raw: &str) -> Option<ChainChoice> {
        match raw {
            "mainnet" => return Some(ChainChoice::Mainnet),
            "sepolia" => return Some(ChainChoice::Sepolia),
            "hoodi" => return Some(ChainChoice::Hoodi),
            _ => {}
        }
        match ChainSpec::resolve(raw) {
            Ok(_) => Some(ChainChoice::Custom(PathBuf::from(raw))),
            Err(ChainSpecError::UnknownChain { .. }) => {
                self.problem(
                    "chain",
                    format!("{raw:?}"),
                    "\"mainnet\", \"sepolia\", \"hoodi\" or a path to a .toml/.json chain spec file",
                );
                None
            }
            Err(e) => {
                self.problem(
                    "chain",
                    format!("{raw:?}"),
                    format!("a usable chain spec file ({e})"),
                );
                None
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::p2p::node_key::NodeKey;

    /// A dialable enode URL (a real public key) on `port`.
    fn enode(port: u16) -> String {
        NodeRecord::new(NodeKey::random().id(), [127, 0, 0, 1].into(), port).to_string()
    }

    fn lines(text: &str, overrides: &[Override]) -> Vec<String> {
        Config::from_toml_str(text, overrides).unwrap_err().lines()
    }

    /// Values that would overflow or panic where they are used (a byte count, a semaphore's
    /// permits, a deadline on the clock, a shard's bit set) are refused naming their key.
    #[test]
    fn values_past_their_ceilings_are_refused_naming_the_key() {
        for (text, key, allowed) in [
            (
                "[sync]\nmax_inflight_mib = 9223372036854775807\n",
                "sync.max_inflight_mib",
                "at most 1048576 MiB (1 TiB)",
            ),
            (
                "[storage]\nshard_size = 1000001\n",
                "storage.shard_size",
                "at most 1000000 blocks",
            ),
            (
                "[rpc]\nmax_concurrent = 2305843009213693952\n",
                "rpc.max_concurrent",
                "at most 1000000",
            ),
            (
                "[rpc]\nmax_connections = 9223372036854775807\n",
                "rpc.max_connections",
                "at most 1000000",
            ),
            (
                "[rpc]\nrequest_timeout_secs = 9223372036854775807\n",
                "rpc.request_timeout_secs",
                "at most 86400 seconds (a day)",
            ),
        ] {
            let problems = lines(text, &[]);
            assert!(
                problems
                    .iter()
                    .any(|l| l.starts_with(key) && l.contains(allowed)),
                "{text}: {problems:?}"
            );
        }
        // The ceilings themselves are accepted.
        let c = Config::from_toml_str(
            "[sync]\nmax_inflight_mib = 1048576\n[storage]\nshard_size = 1000000\n[rpc]\nmax_concurrent = 1000000\nmax_connections = 1000000\nrequest_timeout_secs = 86400\n",
            &[],
        )
        .expect("valid");
        assert_eq!(c.rpc.request_timeout_secs, 86_400);
    }

    #[test]
    fn anchor_and_quorum_are_checked_naming_their_keys() {
        let hash = alloy_primitives::B256::repeat_byte(0xab);
        let c = Config::from_toml_str(
            &format!("[sync]\nend_block = 100\nanchor = \"100:{hash}\"\nanchor_quorum = 5\n"),
            &[],
        )
        .expect("valid");
        assert_eq!(
            c.sync.anchor.map(|a| (a.number.get(), a.hash)),
            Some((100, hash))
        );
        assert_eq!(c.sync.anchor_quorum, 5);
        assert_eq!(Config::defaults().sync.anchor_quorum, 3);
        for (text, key) in [
            ("[sync]\nanchor = \"12\"\n".to_string(), "sync.anchor"),
            (
                format!("[sync]\nend_block = 100\nanchor = \"99:{hash}\"\n"),
                "sync.anchor",
            ),
            (
                "[sync]\nanchor_quorum = 0\n".to_string(),
                "sync.anchor_quorum",
            ),
        ] {
            let problems = lines(&text, &[]);
            assert!(
                problems.iter().any(|l| l.starts_with(key)),
                "{text}: {problems:?}"
            );
        }
    }

    #[test]
    fn fast_sync_bounds_are_the_sync_layers_defaults_and_have_floors() {
        let d = Config::defaults().sync;
        let limits = crate::sync::fastsync::Limits::default();
        assert_eq!(d.max_inflight_mib * super::super::MIB, limits.max_bytes);
        assert_eq!(d.headers_ahead, limits.headers_ahead);
        let c = Config::from_toml_str("[sync]\nmax_inflight_mib = 4\nheaders_ahead = 1024\n", &[])
            .expect("the floors are valid");
        assert_eq!((c.sync.max_inflight_mib, c.sync.headers_ahead), (4, 1024));
        for (text, key) in [
            ("[sync]\nmax_inflight_mib = 3\n", "sync.max_inflight_mib"),
            ("[sync]\nheaders_ahead = 1023\n", "sync.headers_ahead"),
            ("[sync]\nheaders_ahead = 1048577\n", "sync.headers_ahead"),
        ] {
            let problems = lines(text, &[]);
            assert!(
                problems.iter().any(|l| l.starts_with(key)),
                "{text}: {problems:?}"
            );
        }
    }

    #[test]
    fn era1_dir_is_a_path_or_unset() {
        assert_eq!(Config::defaults().sync.era1_dir, None);
        let c = Config::from_toml_str("[sync]\nera1_dir = \"/srv/era1\"\n", &[]).expect("valid");
        assert_eq!(c.sync.era1_dir, Some(PathBuf::from("/srv/era1")));
        let problems = lines("[sync]\nera1_dir = \"\"\n", &[]);
        assert!(
            problems.iter().any(|l| l.starts_with("sync.era1_dir")),
            "{problems:?}"
        );
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
        let lines = lines(text, &[]);
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
        let c = Config::from_toml_str(
            "[sync]\nstart_block = 5\n",
            &[Override::set(
                "sync.start_block",
                Value::Integer(7),
                "--start-block",
            )],
        )
        .unwrap();
        assert_eq!(c.sync.start_block, BlockNumber(7));
        let lines = lines(
            "",
            &[Override::set(
                "rpc.bind",
                Value::String("nope".into()),
                "--rpc-bind",
            )],
        );
        assert!(lines[0].starts_with("rpc.bind (from --rpc-bind): got \"nope\""));
    }

    #[test]
    fn effective_config_round_trips() {
        let mut c = Config::default();
        c.sync.end_block = Some(BlockNumber(99));
        c.p2p.static_peers = vec![enode(30303).parse().unwrap()];
        c.p2p.bootnodes = vec![enode(30304).parse().unwrap()];
        let again = Config::from_toml_str(&c.to_toml().unwrap(), &[]).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn section_of_wrong_type_is_reported_once() {
        assert_eq!(
            lines("sync = 3\n", &[]),
            vec!["sync: got 3, expected a table".to_string()]
        );
    }

    #[test]
    fn enodes_are_parsed_into_node_records_and_bad_ones_name_key_and_index() {
        let good = enode(30303);
        let c = Config::from_toml_str(&format!("[p2p]\nstatic_peers = [\"{good}\"]\n"), &[]);
        assert_eq!(c.unwrap().p2p.static_peers[0].tcp_port, 30303);

        // 128 hex characters that are not a curve point, a host name (never resolved), an id of
        // the wrong length, and a number: each is what dialling would refuse.
        let not_a_point = format!("enode://{}@127.0.0.1:30303", "ab".repeat(64));
        let host = good.replace("127.0.0.1", "localhost");
        let text = format!(
            "[p2p]\nstatic_peers = [\"{good}\", \"{not_a_point}\", \"{host}\"]\n\
             bootnodes = [\"enode://abc@1.2.3.4:30303\", 7]\n"
        );
        let lines = lines(&text, &[]);
        let keys: Vec<&str> = lines
            .iter()
            .map(|l| l.split(": ").next().unwrap())
            .collect();
        assert_eq!(
            keys,
            [
                "p2p.bootnodes[0]",
                "p2p.bootnodes[1]",
                "p2p.static_peers[1]",
                "p2p.static_peers[2]"
            ],
            "{lines:#?}"
        );
        assert!(
            lines[2].contains(&format!("got {not_a_point:?}")),
            "{}",
            lines[2]
        );
        assert!(lines.iter().all(|l| l.contains("expected an enode URL")));
    }

    #[test]
    fn a_peer_flag_adds_to_the_files_list_and_is_named_when_bad() {
        let (file, flag) = (enode(1), enode(2));
        let text = format!("[p2p]\nstatic_peers = [\"{file}\"]\n");
        let peer =
            |s: &str| Override::append("p2p.static_peers", Value::String(s.into()), "--peer");
        let c = Config::from_toml_str(&text, &[peer(&flag)]).unwrap();
        let ports: Vec<u16> = c.p2p.static_peers.iter().map(|n| n.tcp_port).collect();
        assert_eq!(ports, [1, 2]);

        let c = Config::from_toml_str("", &[peer(&flag)]).unwrap();
        assert_eq!(c.p2p.static_peers.len(), 1);

        let bad = "[p2p]\nstatic_peers = [\"enode://file\"]\n";
        let lines = lines(bad, &[peer(&flag), peer("enode://flag")]);
        assert_eq!(lines.len(), 2, "{lines:#?}");
        assert!(lines[0].starts_with("p2p.static_peers[0]: got \"enode://file\""));
        assert!(lines[1].starts_with("p2p.static_peers[2] (from --peer): got \"enode://flag\""));
    }

    #[test]
    fn the_chain_is_a_built_in_name_or_a_spec_file_that_loads() {
        for (name, choice) in [
            ("mainnet", ChainChoice::Mainnet),
            ("sepolia", ChainChoice::Sepolia),
            ("hoodi", ChainChoice::Hoodi),
        ] {
            let c = Config::from_toml_str(&format!("chain = \"{name}\""), &[]).unwrap();
            assert_eq!(c.chain, choice);
        }
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("chain.toml");
        std::fs::write(
            &good,
            format!(
                "chain_id = 9\ngenesis_hash = \"{}\"\ngenesis_timestamp = 0\n",
                alloy_primitives::B256::repeat_byte(1)
            ),
        )
        .unwrap();
        let c = Config::from_toml_str(&format!("chain = {:?}", good.display().to_string()), &[]);
        assert_eq!(c.unwrap().chain, ChainChoice::Custom(good.clone()));

        let broken = dir.path().join("broken.toml");
        std::fs::write(&broken, "chain_id = 0\n").unwrap();
        let missing = dir.path().join("missing.json");
        let no_extension = dir.path().join("chain");
        for (path, says) in [
            (&broken, "chain_id"),
            (&missing, "missing.json"),
            (&no_extension, ".toml/.json chain spec file"),
        ] {
            let o = Override::set(
                "chain",
                Value::String(path.display().to_string()),
                "--chain",
            );
            let lines = lines("", &[o]);
            assert_eq!(lines.len(), 1, "{lines:#?}");
            assert!(
                lines[0].starts_with("chain (from --chain): got "),
                "{}",
                lines[0]
            );
            assert!(lines[0].contains(says), "{} names {says}", lines[0]);
        }
    }

    #[test]
    fn no_discovery_overrides_turn_both_sources_off() {
        let off = |key| Override::set(key, Value::Boolean(false), "--no-discovery");
        let c = Config::from_toml_str(
            "[p2p.discovery]\ndns = true\n",
            &[off("p2p.discovery.dns"), off("p2p.discovery.discv4")],
        )
        .unwrap();
        assert!(!c.p2p.discovery.dns && !c.p2p.discovery.discv4);
    }
}
