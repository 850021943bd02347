//! The daemon's wiring of the configuration: turns the operator's [`Config`] (and the chain
//! spec) into each part's own settings — [`PoolConfig`] for the peer pool, [`DiscoverySettings`]
//! for discovery, [`OpenOptions`] for storage.
//!
//! Owns the mapping from config keys to those settings, and nothing else: the parts below
//! (p2p, storage) never see [`Config`], and nothing here does I/O.

use std::time::Duration;

use crate::config::Config;
use crate::p2p::chain::ChainSpec;
use crate::p2p::discovery::DiscoverySettings;
use crate::p2p::discovery::v4::Discv4Config;
use crate::p2p::node_key::NodeKey;
use crate::p2p::pool::PoolConfig;
use crate::storage::OpenOptions;

/// How often DNS node lists are resolved again.
const DNS_REFRESH: Duration = Duration::from_secs(30 * 60);
/// Capacity of the merged discovery channel.
const DISCOVERY_CAPACITY: usize = 1024;

/// The pool's limits: `p2p.max_peers`, `p2p.inbound_percent`, `p2p.listen`, `sync.min_peers`;
/// the rest keep the pool's own defaults.
pub fn pool_config(config: &Config) -> PoolConfig {
    let max_peers = config.p2p.max_peers as usize;
    // Validated to be at most 100, so this is at most `max_peers`.
    let percent = config.p2p.inbound_percent.min(100) as usize;
    PoolConfig {
        max_inbound: max_peers * percent / 100,
        ..PoolConfig::new(
            max_peers,
            config.sync.min_peers as usize,
            Some(config.p2p.listen),
        )
    }
}

/// Discovery sources: `p2p.static_peers` always; the chain's DNS lists when `p2p.discovery.dns`;
/// discv4 when `p2p.discovery.discv4`, seeded by `p2p.bootnodes` or, when that is empty, by the
/// chain's own bootnodes.
pub fn discovery_settings(config: &Config, spec: &ChainSpec, key: &NodeKey) -> DiscoverySettings {
    let dns = if config.p2p.discovery.dns {
        spec.dns_networks().to_vec()
    } else {
        Vec::new()
    };
    let discv4 = config.p2p.discovery.discv4.then(|| {
        let mut v4 = Discv4Config::new(*key.secret(), config.p2p.listen);
        v4.bootnodes = if config.p2p.bootnodes.is_empty() {
            spec.bootnodes().to_vec()
        } else {
            config.p2p.bootnodes.clone()
        };
        v4
    });
    DiscoverySettings {
        static_peers: config.p2p.static_peers.clone(),
        dns,
        dns_refresh: DNS_REFRESH,
        discv4,
        capacity: DISCOVERY_CAPACITY,
    }
}

/// How storage opens the data directory: the chain's identity and `[storage]`.
pub fn open_options(config: &Config, spec: &ChainSpec) -> OpenOptions {
    OpenOptions {
        chain_id: spec.chain_id,
        genesis_hash: spec.genesis_hash,
        shard_size: config.storage.shard_size,
        retention: config.storage.retention,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::p2p::discovery::NodeRecord;

    fn key() -> NodeKey {
        NodeKey::random()
    }

    #[test]
    fn pool_config_from_the_operator_config() {
        let cfg = Config::from_toml_str("[p2p]\nmax_peers = 7\n[sync]\nmin_peers = 2\n", &[]);
        let c = pool_config(&cfg.unwrap());
        assert_eq!((c.max_peers, c.min_peers), (7, 2));
        assert_eq!(c.listen, Some("0.0.0.0:30303".parse().unwrap()));
        // Half of the slots, rounded down, may be inbound unless the operator says otherwise.
        assert_eq!(c.max_inbound, 3);
        let cfg = Config::from_toml_str("[p2p]\nmax_peers = 7\ninbound_percent = 80\n", &[]);
        assert_eq!(pool_config(&cfg.unwrap()).max_inbound, 5);
        let cfg = Config::from_toml_str("[p2p]\ninbound_percent = 0\n", &[]);
        assert_eq!(pool_config(&cfg.unwrap()).max_inbound, 0);
        assert!(Config::from_toml_str("[p2p]\ninbound_percent = 101\n", &[]).is_err());
    }

    #[test]
    fn discovery_takes_the_chains_lists_unless_the_operator_names_bootnodes() {
        let spec = ChainSpec::mainnet();
        let d = discovery_settings(&Config::default(), &spec, &key());
        assert_eq!(d.dns, spec.dns_networks());
        assert_eq!(d.discv4.unwrap().bootnodes, spec.bootnodes());

        let mut config = Config::default();
        let own: NodeRecord = spec.bootnodes()[0];
        config.p2p.bootnodes = vec![own];
        let d = discovery_settings(&config, &spec, &key());
        assert_eq!(d.discv4.unwrap().bootnodes, vec![own]);
    }

    #[test]
    fn switched_off_sources_and_a_custom_chain_without_lists() {
        let mut config = Config::default();
        config.p2p.discovery.dns = false;
        config.p2p.discovery.discv4 = false;
        let d = discovery_settings(&config, &ChainSpec::mainnet(), &key());
        assert!(d.dns.is_empty() && d.discv4.is_none());

        let custom = ChainSpec::new(
            "devnet",
            9,
            9,
            Default::default(),
            0,
            Default::default(),
            [],
        );
        let d = discovery_settings(&Config::default(), &custom, &key());
        assert!(d.dns.is_empty());
        assert!(d.discv4.unwrap().bootnodes.is_empty());
    }

    #[test]
    fn storage_options_carry_the_chain_and_storage_section() {
        let config = Config::from_toml_str(
            "[storage]\nshard_size = 500\nretention.transactions = \"hashes\"\n",
            &[],
        )
        .unwrap();
        let spec = ChainSpec::sepolia();
        let o = open_options(&config, &spec);
        assert_eq!(
            (o.chain_id, o.genesis_hash),
            (spec.chain_id, spec.genesis_hash)
        );
        assert_eq!(o.shard_size, 500);
        assert_eq!(
            o.retention.transactions,
            crate::storage::TxRetention::Hashes
        );
    }
}
