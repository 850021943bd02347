//! The peer pool: finds, keeps and ranks the peers that serve history (issue 4).
//!
//! Dials up to `max_peers` (cached peers first, then static and discovered ones), accepts inbound
//! sessions on `p2p.listen` into at most `max_inbound` of those slots (so the rest only ever hold
//! peers we chose), with per-IP caps on inbound sessions and handshakes and a time budget per
//! inbound handshake ([`PoolConfig`]), and publishes a [`PoolSnapshot`] of every session (client, eth
//! version, head, served range, quality) plus [`PoolEvent`]s (`Ready` once `min_peers` usable
//! peers exist, `Lost`, peer counts, `head_seen`). The sync layer borrows peers for block ranges
//! ([`PoolHandle::best_peer_for`] → [`PeerLease`], whose requests feed per-peer latency/success
//! stats and an adaptive batch size) and reports bad data ([`PoolHandle::report`]). Bans:
//! temporary for protocol breaches and bad data, permanent for another chain. `head_seen`
//! follows the rule in [`head_quorum`]: votes are counted per network (IPv4 /24, IPv6 /48), not
//! per node id, no single network raises it beyond what another confirms, and a peer claiming
//! more than the chain can have produced by now is banned. Good peers are saved through a narrow
//! [`PeerCache`] (the node backs it with its data directory). Every task the pool starts runs on
//! its [`Tasks`](crate::p2p::tasks::Tasks) ([`RunningPool::tasks`]); when the pool's task
//! returns, all of them have ended.
//!
//! It must never verify or store block data (the sync layer verifies, storage stores), never
//! import storage (the node's wiring adapts it) and never decide daemon phases (it reports events).
//!
//! ```ignore
//! let pool = PeerPool::spawn(
//!     PoolConfig::new(cfg.p2p.max_peers as usize, cfg.sync.min_peers as usize, Some(cfg.p2p.listen)),
//!     PoolDeps { peer, provider, discovered: Some(discovery.records), cache /* a PeerCache: the node's is storage-backed */ },
//!     cancel.child_token(),
//! ).await?;
//! while let Some(ev) = pool.events.recv().await { /* PoolEvent::Ready { .. } → Event::PeersReady */ }
//! ```

mod address;
pub mod bans;
pub mod cache;
pub mod config;
pub mod dialer;
mod handle;
pub mod head_quorum;
mod listener;
pub mod peer;
pub mod ranking;
pub mod saved_bans;
mod service;
pub mod snapshot;
mod state;

pub use bans::{Ban, BanKind, Misbehaviour};
pub use cache::{CacheError, CachedPeer, MemoryPeerCache, PeerCache};
pub use config::{BatchLimits, PoolConfig};
pub use handle::{PeerLease, PoolHandle};
pub use peer::{Quality, Span};
pub use service::{PeerPool, PoolDeps, PoolError, RunningPool, TASKS_STOP_LIMIT};
pub use snapshot::{Direction, PeerInfo, PoolEvent, PoolSnapshot};
