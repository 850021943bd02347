//! The built-in configuration: the one place a default value is written. `validate` takes every
//! missing key from here, and `config/histd.toml` spells the same values out (a test keeps the
//! file, these impls and the file's annotations in step).

use std::net::SocketAddr;
use std::path::PathBuf;

use super::{
    ChainChoice, Config, DiscoveryConfig, LogConfig, LogFormat, MetricsConfig, P2pConfig,
    RpcConfig, StorageConfig, SyncConfig,
};
use crate::primitives::BlockNumber;
use crate::storage::{DEFAULT_SHARD_SIZE, Retention};
use crate::sync::fastsync::Limits;

/// Bytes in a MiB (the config speaks MiB, the sync layer bytes).
pub const MIB: u64 = 1024 * 1024;

impl Default for Config {
    fn default() -> Self {
        Self {
            chain: ChainChoice::Mainnet,
            data_dir: PathBuf::from("./histd-data"),
            sync: SyncConfig::default(),
            storage: StorageConfig::default(),
            p2p: P2pConfig::default(),
            rpc: RpcConfig::default(),
            metrics: MetricsConfig::default(),
            log: LogConfig::default(),
        }
    }
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            start_block: BlockNumber::ZERO,
            end_block: None,
            rollback_window: 64,
            min_peers: 3,
            anchor: None,
            anchor_quorum: 3,
            era1_dir: None,
            // The sync layer owns these bounds; the config only exposes them.
            max_inflight_mib: Limits::default().max_bytes / MIB,
            headers_ahead: Limits::default().headers_ahead,
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            // Storage owns both: they describe its files.
            shard_size: DEFAULT_SHARD_SIZE,
            retention: Retention::default(),
        }
    }
}

impl Default for P2pConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 30303)),
            max_peers: 50,
            inbound_percent: 50,
            bootnodes: Vec::new(),
            static_peers: Vec::new(),
            discovery: DiscoveryConfig::default(),
        }
    }
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        Self {
            dns: true,
            discv4: true,
        }
    }
}

impl Default for RpcConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8545)),
            max_block_range: 0,
            max_logs: 50_000,
            max_body_bytes: 5 * 1024 * 1024,
            max_batch: 1000,
            max_concurrent: 64,
            max_connections: 100,
            request_timeout_secs: 30,
            cors_origins: Vec::new(),
            max_filters: 10_000,
            filter_ttl_secs: 300,
        }
    }
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 9464)),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Auto,
        }
    }
}

#[cfg(test)]
mod tests {
    use toml::{Table, Value};

    use super::*;

    /// The shipped file, compiled in so that editing it re-runs this test.
    const SHIPPED: &str = include_str!("../../config/histd.toml");

    /// Dotted keys of every leaf value in `table`.
    fn leaf_keys(table: &Table, prefix: &str, out: &mut Vec<String>) {
        for (k, v) in table {
            let key = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                Value::Table(t) => leaf_keys(t, &key, out),
                _ => out.push(key),
            }
        }
    }

    /// Whether the line `key = ...` of `section` in `text` has a comment above it (directly, or
    /// above the group of keys it belongs to).
    fn annotated(text: &str, key: &str) -> bool {
        let (section, name) = key.rsplit_once('.').unwrap_or(("", key));
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        let mut current = "";
        for (i, line) in lines.iter().enumerate() {
            if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                current = header;
                continue;
            }
            if current != section || !line.starts_with(&format!("{name} =")) {
                continue;
            }
            let above = lines[..i]
                .iter()
                .rev()
                .find(|l| l.is_empty() || !l.contains(" = ") || l.starts_with('#'));
            return above.is_some_and(|l| l.starts_with('#'));
        }
        false
    }

    #[test]
    fn the_shipped_file_is_exactly_the_defaults() {
        let file = Config::from_toml_str(SHIPPED, &[]).expect("config/histd.toml is valid");
        assert_eq!(file, Config::default());
        assert_eq!(Config::from_toml_str("", &[]).unwrap(), Config::default());
    }

    #[test]
    fn every_default_key_is_written_out_and_annotated_in_the_shipped_file() {
        let defaults: Table = toml::from_str(&Config::default().to_toml().unwrap()).unwrap();
        let mut keys = Vec::new();
        leaf_keys(&defaults, "", &mut keys);
        assert!(keys.len() >= 16, "{keys:?}");
        for key in &keys {
            assert!(
                annotated(SHIPPED, key),
                "config/histd.toml lacks `{key} = ...` with a comment above it"
            );
        }
        // Optional keys without a default value are shown commented out.
        assert!(SHIPPED.contains("# end_block = "));
    }
}
