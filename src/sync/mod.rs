//! Fetch → verify → process, shared by FastSync and Follow.
//!
//! Sits above `verify`, `storage` and `p2p`: it may use all three, and none of them may use it;
//! it never imports `config` or `daemon` (the node's wiring hands it what it needs). The block
//! rules themselves live in [`crate::verify`], not here. One job per module: [`anchor`] (the
//! trusted top hash), [`scheduler`] (the streaming cursor), [`headers`] (windows linked top-down
//! from the anchor), [`fetch`] (bodies and receipts, sizing, timeouts), [`process`] (verify and
//! encode off the runtime), [`progress`] (what a person sees), [`stats`] (counters of a run),
//! [`fastsync`] (the backfill run that joins them) and [`follow`] (the in-order run at the head:
//! head probes, reorder buffer, reorg rollback).

pub mod anchor;
pub mod fastsync;
pub mod fetch;
pub mod follow;
pub mod headers;
pub mod process;
pub mod progress;
pub mod scheduler;
pub mod stats;
