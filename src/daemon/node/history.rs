//! [`StorageHistory`]: the [`HistoryProvider`] that serves peers the history this node holds.
//!
//! Owns answering GetBlockHeaders / GetBlockBodies / GetReceipts from [`Storage`] (start by hash
//! or number, skip, reverse, stop at the first block we do not have). It must never write, and
//! never serve what it cannot read back whole: a read error or a block stored with transaction
//! hashes only ends the answer there (logged), as the eth protocol allows.
//!
//! The genesis header is also answered from the chain spec when the spec carries it: our Status
//! announces that genesis (and, for eth/69, a served range starting at it), so a peer asking for
//! block 0 must get it even when storage does not hold block 0.
//!
//! It lives in the node's wiring, not in `storage` or `p2p`, because it is the adapter between the
//! two: storage knows nothing of the eth protocol and p2p knows nothing of storage.

use std::sync::Arc;

use alloy_primitives::B256;

use crate::p2p::chain::ChainSpec;
use crate::p2p::eth::{BlockHashOrNumber, GetBlockHeaders};
use crate::p2p::session::{HistoryProvider, SOFT_RESPONSE_LIMIT};
use crate::primitives::{BlockNumber, Body, Header, Receipt};
use crate::storage::{Storage, StoreHandle};

/// Most blocks read for one bodies/receipts request (the session caps the answer by size too,
/// but this bounds the disk work a single request can cause).
const MAX_BLOCKS_READ: usize = crate::p2p::eth::limits::MAX_BLOCKS_PER_REQUEST;

/// The genesis header of the spec, with its hash (the spec's genesis hash).
#[derive(Debug, Clone)]
struct Genesis {
    hash: B256,
    header: Arc<Header>,
}

impl Genesis {
    fn of(spec: &ChainSpec) -> Option<Self> {
        spec.genesis_header().map(|header| Self {
            hash: spec.genesis_hash,
            header: header.clone(),
        })
    }
}

/// Serves peers from a [`Storage`] (and block 0's header from the chain spec when it has it).
#[derive(Debug, Clone)]
pub struct StorageHistory {
    storage: Arc<Storage>,
    genesis: Option<Genesis>,
}

impl StorageHistory {
    /// Serves `storage`, a store of the chain `spec`.
    pub fn new(storage: Arc<Storage>, spec: &ChainSpec) -> Self {
        Self {
            storage,
            genesis: Genesis::of(spec),
        }
    }

    fn number_of(&self, hash: &B256) -> Option<BlockNumber> {
        match self.storage.block_number(hash) {
            Ok(Some(n)) => Some(n),
            Ok(None) => self
                .genesis
                .as_ref()
                .filter(|g| g.hash == *hash)
                .map(|_| BlockNumber::ZERO),
            Err(e) => {
                tracing::warn!(%hash, error = %e, "serving peers: cannot read the hash index");
                None
            }
        }
    }

    /// The header of block `n`: stored, or for block 0 the spec's genesis header.
    fn header_at(&self, n: BlockNumber) -> Option<Header> {
        let stored = match self.storage.header(n) {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(block = %n, error = %e, "serving peers: cannot read a header");
                None
            }
        };
        stored.or_else(|| {
            self.genesis
                .as_ref()
                .filter(|_| n == BlockNumber::ZERO)
                .map(|g| Header::clone(&g.header))
        })
    }
}

/// Rough wire size of a receipt list, to stop reading once an answer is big enough.
fn receipts_weight(receipts: &[Receipt]) -> usize {
    receipts
        .iter()
        .map(|r| {
            64 + r
                .logs
                .iter()
                .map(|l| 20 + 32 * l.data.topics().len() + l.data.data.len())
                .sum::<usize>()
        })
        .sum()
}

impl HistoryProvider for StorageHistory {
    fn headers(&self, req: &GetBlockHeaders) -> Vec<Header> {
        let start = match req.start {
            BlockHashOrNumber::Hash(h) => match self.number_of(&h) {
                Some(n) => n,
                None => return Vec::new(),
            },
            BlockHashOrNumber::Number(n) => n,
        };
        req.numbers_from(start)
            .map_while(|n| self.header_at(n))
            .collect()
    }

    fn bodies(&self, hashes: &[B256]) -> Vec<Body> {
        let mut total = 0usize;
        let mut out = Vec::new();
        for hash in hashes.iter().take(MAX_BLOCKS_READ) {
            if total > SOFT_RESPONSE_LIMIT {
                break;
            }
            match self.storage.block_by_hash(hash) {
                Ok(Some(block)) => {
                    let body = block.body().clone();
                    total = total.saturating_add(alloy_rlp::Encodable::length(&body));
                    out.push(body);
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(%hash, error = %e, "serving peers: body not served");
                    break;
                }
            }
        }
        out
    }

    fn receipts(&self, hashes: &[B256]) -> Vec<Vec<Receipt>> {
        let mut total = 0usize;
        let mut out = Vec::new();
        for hash in hashes.iter().take(MAX_BLOCKS_READ) {
            if total > SOFT_RESPONSE_LIMIT {
                break;
            }
            let Some(n) = self.number_of(hash) else { break };
            match self.storage.receipts(n) {
                Ok(Some(receipts)) => {
                    total = total.saturating_add(receipts_weight(&receipts));
                    out.push(receipts);
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(block = %n, error = %e, "serving peers: cannot read receipts");
                    break;
                }
            }
        }
        out
    }
}

/// [`StorageHistory`] reached through the store handle: each answer holds the handle's gate, so
/// closing the store waits for answers in progress, and after the close peers get nothing.
/// The genesis header is served under the same gate: after the close, nothing at all.
#[derive(Debug, Clone)]
pub struct HandleHistory {
    store: StoreHandle,
    genesis: Option<Genesis>,
}

impl HandleHistory {
    /// Serves the store behind `store`, a store of the chain `spec`.
    pub fn new(store: StoreHandle, spec: &ChainSpec) -> Self {
        Self {
            store,
            genesis: Genesis::of(spec),
        }
    }

    fn serve<T>(&self, what: &'static str, f: impl FnOnce(&StorageHistory) -> Vec<T>) -> Vec<T> {
        self.store
            .blocking_shared(what, false, |s| {
                f(&StorageHistory {
                    storage: s.clone(),
                    genesis: self.genesis.clone(),
                })
            })
            .unwrap_or_else(|e| {
                tracing::debug!(error = %e, "not serving peers");
                Vec::new()
            })
    }
}

impl HistoryProvider for HandleHistory {
    fn headers(&self, req: &GetBlockHeaders) -> Vec<Header> {
        self.serve("serving headers", |h| h.headers(req))
    }

    fn bodies(&self, hashes: &[B256]) -> Vec<Body> {
        self.serve("serving bodies", |h| h.bodies(hashes))
    }

    fn receipts(&self, hashes: &[B256]) -> Vec<Vec<Receipt>> {
        self.serve("serving receipts", |h| h.receipts(hashes))
    }
}
