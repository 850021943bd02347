//! histd: a verified local copy of Ethereum history (headers, transactions, receipts), fetched from
//! devp2p peers and served over JSON-RPC to event indexers.
//!
//! The module tree follows `docs/architecture.md`: `daemon` owns phases, `p2p` speaks devp2p, `sync` fetches and
//! verifies, `storage` keeps shards indexed by redb, `rpc` serves, `metrics` names every metric.

pub mod cli;
pub mod config;
pub mod daemon;
pub mod metrics;
pub mod p2p;
pub mod primitives;
pub mod rpc;
pub mod storage;
pub mod sync;
#[cfg(feature = "testkit")]
pub mod testkit;
