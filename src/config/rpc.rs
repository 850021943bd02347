//! The `[rpc]` section as the server's own [`RpcSettings`], in one place for both starters: the
//! follow node (`histd run`, on its first `UpToDate`) and `histd serve`. They sit side by side
//! above this layer and may not name each other, so the mapping lives here.
//!
//! Owns the mapping from `rpc.*` keys (plus the chain's blob schedule) to [`RpcSettings`] only;
//! it never starts the server.

use std::time::Duration;

use alloy_eips::eip7840::BlobParams;
use alloy_hardforks::mainnet as mn;

use super::Config;
use crate::rpc::RpcSettings;

/// The server settings `config` asks for on chain `chain_id`.
pub fn rpc_settings(config: &Config, chain_id: u64) -> RpcSettings {
    let r = &config.rpc;
    let usize_of = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
    let mut s = RpcSettings::new(r.bind);
    s.max_logs = r.max_logs;
    s.max_block_range = r.max_block_range;
    s.max_body_bytes = usize_of(r.max_body_bytes);
    s.max_batch = usize_of(r.max_batch);
    s.max_concurrent = usize_of(r.max_concurrent);
    s.max_connections = usize_of(r.max_connections);
    s.request_timeout = Duration::from_secs(r.request_timeout_secs);
    s.cors_origins = r.cors_origins.clone();
    s.max_filters = usize_of(r.max_filters);
    s.filter_ttl = Duration::from_secs(r.filter_ttl_secs);
    s.blob_schedule = blob_schedule(chain_id);
    s
}

/// Blob fee parameters by activation time, for the chains whose schedule is known (mainnet).
pub fn blob_schedule(chain_id: u64) -> Vec<(u64, BlobParams)> {
    match chain_id {
        1 => vec![
            (mn::MAINNET_CANCUN_TIMESTAMP, BlobParams::cancun()),
            (mn::MAINNET_PRAGUE_TIMESTAMP, BlobParams::prague()),
            (mn::MAINNET_OSAKA_TIMESTAMP, BlobParams::osaka()),
            (mn::MAINNET_BPO1_TIMESTAMP, BlobParams::bpo1()),
            (mn::MAINNET_BPO2_TIMESTAMP, BlobParams::bpo2()),
        ],
        _ => Vec::new(),
    }
}
