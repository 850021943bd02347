//! What the server is told by whoever starts it: [`RpcSettings`] (limits, CORS, address), the
//! chain [`Head`] it answers tags against, and the [`ChainEvent`] feed its filters and
//! subscriptions follow. The daemon (or `histd serve`) builds these from the config; this module
//! never reads the config itself.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use alloy_eips::eip7840::BlobParams;
use alloy_primitives::B256;

use crate::primitives::{BlockNumber, VerifiedBlock};

/// Everything the server needs to know besides the store, the chain id and the head.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcSettings {
    /// HTTP and WebSocket address (one port for both). Port 0 picks a free port.
    pub bind: SocketAddr,
    /// Largest HTTP body or WebSocket message accepted, in bytes (larger: HTTP 413 / closed).
    pub max_body_bytes: usize,
    /// Most calls in one batch (more: one -32600 error for the whole batch).
    pub max_batch: usize,
    /// Bytes of results one batch may collect (geth's `--rpc.batch-response-max-size`, 25 MB):
    /// the call that passes it keeps its answer, every later call answers -32003 "response too
    /// large". Without it a small body of 1,000 full-block calls would hold hundreds of MB.
    pub max_batch_response_bytes: usize,
    /// Most requests (single calls or batches) worked on at once; the rest wait their turn,
    /// within the per-request time.
    pub max_concurrent: usize,
    /// Most open connections: HTTP connections beyond it are closed as they are accepted, and
    /// WebSocket upgrades beyond it are refused with HTTP 503.
    pub max_connections: usize,
    /// Time a connection may take to send a request's headers before it is closed (slow loris).
    pub header_timeout: Duration,
    /// Time one request may take (waiting for its turn included) before it answers -32002.
    pub request_timeout: Duration,
    /// Most logs one `eth_getLogs` answer may hold (over: -32005 with the largest range that fits).
    pub max_logs: u64,
    /// Largest `toBlock - fromBlock + 1` accepted by `eth_getLogs`; 0 (the default, as in the
    /// config): no cap.
    pub max_block_range: u64,
    /// Browser origins allowed (CORS): empty allows none (no CORS headers), `*` any.
    pub cors_origins: Vec<String>,
    /// Most installed filters (`eth_newFilter`, `eth_newBlockFilter`) at once.
    pub max_filters: usize,
    /// A filter not polled for this long is removed (geth: 5 minutes).
    pub filter_ttl: Duration,
    /// Blob fee parameters by activation timestamp, ascending (`blobGasPrice` in receipts).
    /// Empty: receipts of blob transactions carry no `blobGasPrice`.
    pub blob_schedule: Vec<(u64, BlobParams)>,
}

impl RpcSettings {
    /// Defaults for everything but the address (the config's defaults name the same values).
    pub fn new(bind: SocketAddr) -> Self {
        Self {
            bind,
            max_body_bytes: 5 * 1024 * 1024,
            max_batch: 1000,
            max_batch_response_bytes: 25_000_000,
            max_concurrent: 64,
            max_connections: 100,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_logs: 50_000,
            max_block_range: 0,
            cors_origins: Vec::new(),
            max_filters: 10_000,
            filter_ttl: Duration::from_secs(300),
            blob_schedule: Vec::new(),
        }
    }

    /// The blob fee parameters in force at `timestamp`.
    pub fn blob_params_at(&self, timestamp: u64) -> Option<BlobParams> {
        self.blob_schedule
            .iter()
            .rev()
            .find(|(at, _)| timestamp >= *at)
            .map(|(_, p)| *p)
    }
}

/// The chain as the server answers tags against it: `latest` (and `pending`) is `number`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// The head block (`latest`).
    pub number: BlockNumber,
    /// Its hash.
    pub hash: B256,
    /// The `safe` block, when known (unknown: the tag answers "safe block not found", as geth).
    pub safe: Option<BlockNumber>,
    /// The `finalized` block, when known.
    pub finalized: Option<BlockNumber>,
}

/// A change of the canonical chain, published by the follow worker (never by the server).
///
/// The blocks travel with the event: a removed block is gone from the store by the time
/// subscribers see the event, and `removed: true` logs must still name their fields.
#[derive(Debug, Clone)]
pub enum ChainEvent {
    /// A block joined the canonical chain (in ascending order).
    Added(Arc<VerifiedBlock>),
    /// A block left the canonical chain (rollback; highest first).
    Removed(Arc<VerifiedBlock>),
}
