//! [`StorageHistory`]: the [`HistoryProvider`] that serves peers the history this node holds.
//!
//! Owns answering GetBlockHeaders / GetBlockBodies / GetReceipts from [`Storage`] (start by hash
//! or number, skip, reverse, stop at the first block we do not have). It must never write, and
//! never serve what it cannot read back whole: a read error or a block stored with transaction
//! hashes only ends the answer there (logged), as the eth protocol allows.
//!
//! It lives in the node's wiring, not in `storage` or `p2p`, because it is the adapter between the
//! two: storage knows nothing of the eth protocol and p2p knows nothing of storage.

use std::sync::Arc;

use alloy_primitives::B256;

use crate::p2p::eth::{BlockHashOrNumber, GetBlockHeaders};
use crate::p2p::session::{HistoryProvider, SOFT_RESPONSE_LIMIT};
use crate::primitives::{BlockNumber, Body, Header, Receipt};
use crate::storage::{Storage, StoreHandle};

/// Most blocks read for one bodies/receipts request (the session caps the answer by size too,
/// but this bounds the disk work a single request can cause).
const MAX_BLOCKS_READ: usize = crate::p2p::eth::limits::MAX_BLOCKS_PER_REQUEST;

/// Serves peers from a [`Storage`].
#[derive(Debug, Clone)]
pub struct StorageHistory(pub Arc<Storage>);

impl StorageHistory {
    fn number_of(&self, hash: &B256) -> Option<BlockNumber> {
        match self.0.block_number(hash) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(%hash, error = %e, "serving peers: cannot read the hash index");
                None
            }
        }
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
            .map_while(|n| match self.0.header(n) {
                Ok(h) => h,
                Err(e) => {
                    tracing::warn!(block = %n, error = %e, "serving peers: cannot read a header");
                    None
                }
            })
            .collect()
    }

    fn bodies(&self, hashes: &[B256]) -> Vec<Body> {
        let mut total = 0usize;
        let mut out = Vec::new();
        for hash in hashes.iter().take(MAX_BLOCKS_READ) {
            if total > SOFT_RESPONSE_LIMIT {
                break;
            }
            match self.0.block_by_hash(hash) {
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
            match self.0.receipts(n) {
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
#[derive(Debug, Clone)]
pub struct HandleHistory(pub StoreHandle);

impl HandleHistory {
    fn serve<T>(&self, what: &'static str, f: impl FnOnce(&StorageHistory) -> Vec<T>) -> Vec<T> {
        self.0
            .blocking_shared(what, false, |s| f(&StorageHistory(s.clone())))
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
