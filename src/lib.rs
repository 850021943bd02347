//! histd: a verified local copy of Ethereum history (headers, transactions, receipts), fetched from
//! devp2p peers and served over JSON-RPC to event indexers.
//!
//! The module tree follows `docs/architecture.md`: `daemon` owns phases, `p2p` speaks devp2p,
//! `verify` holds the block rules, `sync` fetches, `storage` keeps shards indexed by redb, `rpc`
//! serves, `metrics` names every metric. Layers only point down; `layers.rs` is the test that keeps them so.

pub mod cli;
pub mod config;
pub mod daemon;
pub mod era1;
#[cfg(test)]
mod layers;
pub mod metrics;
pub mod p2p;
pub mod primitives;
pub mod rpc;
pub mod stage_cpu;
pub mod storage;
pub mod sync;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod verify;
