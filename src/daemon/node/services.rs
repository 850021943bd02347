//! [`NodeServices`]: the one value every phase worker of `histd run` gets — the store, the peer
//! pool, `head_seen`, the chain spec and the settings the workers need.
//!
//! Owns what the services are and how a worker waits for them. They are published by the peer
//! pool worker as soon as the pool runs — before it reports any `PeersReady`, so every worker the
//! machine starts after Startup finds them in place — and released by the shutdown worker, which
//! closes the store. Metrics need no handle here: components record into the process-wide
//! recorder through the names in [`crate::metrics`]. This module must never start or stop a
//! service itself.

use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::p2p::chain::ChainSpec;
use crate::p2p::pool::PoolHandle;
use crate::primitives::BlockNumber;
use crate::storage::StoreHandle;
use crate::sync::stats::SyncStats;

/// The config values the phase workers run with (taken once from [`Config`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSettings {
    /// First block to hold.
    pub start_block: BlockNumber,
    /// Range mode's last block; `None`: follow the chain.
    pub end_block: Option<BlockNumber>,
    /// Blocks behind `head_seen` that may still be rolled back (nothing above is sealed).
    pub rollback_window: u64,
    /// Usable peers required to leave Startup.
    pub min_peers: u32,
}

impl NodeSettings {
    /// The settings in `config`.
    pub fn from_config(config: &Config) -> Self {
        Self {
            start_block: config.sync.start_block,
            end_block: config.sync.end_block,
            rollback_window: config.sync.rollback_window,
            min_peers: config.sync.min_peers,
        }
    }
}

/// What every phase worker gets. Cheap to clone: every field is a handle.
#[derive(Debug, Clone)]
pub struct NodeServices {
    /// The chain we follow.
    pub spec: Arc<ChainSpec>,
    /// The data directory's store: reads on the blocking pool, one writer.
    pub store: StoreHandle,
    /// The running peer pool: snapshot, leases, reports.
    pub pool: PoolHandle,
    /// `head_seen` as the pool reports it (monotonic; `None` until a head is known).
    pub head_seen: watch::Receiver<Option<BlockNumber>>,
    /// Config-derived settings.
    pub settings: NodeSettings,
    /// This run's sync counters (one per run, created with the workers): the fast-sync and
    /// follow workers record into it, the run report reads it.
    pub stats: SyncStats,
    /// The last block stored contiguously from the lowest one, as sync writes (`None`: nothing
    /// yet); the Status we announce to peers follows it.
    pub stored_tip: watch::Sender<Option<BlockNumber>>,
}

/// Where the services are published: `None` until the pool runs and after shutdown released
/// them.
pub type ServicesSlot = watch::Sender<Option<NodeServices>>;

/// Waits until the services are published; `None` if `cancel` fires first (or the slot is gone).
pub async fn wait_services(
    services: &mut watch::Receiver<Option<NodeServices>>,
    cancel: &CancellationToken,
) -> Option<NodeServices> {
    tokio::select! {
        _ = cancel.cancelled() => None,
        r = services.wait_for(Option::is_some) => r.ok().and_then(|v| v.clone()),
    }
}
