//! [`MemoryHistory`]: an in-memory [`HistoryProvider`] over synthetic (`ChainGen`) or real mainnet
//! blocks, so sessions can serve real data in tests. Follows the GetBlockHeaders rules (start by
//! hash or number, skip, reverse, stop at the first gap) the way storage must.

use std::collections::{BTreeMap, HashMap};

use alloy_primitives::B256;

use crate::p2p::eth::{BlockHashOrNumber, GetBlockHeaders};
use crate::p2p::session::HistoryProvider;
use crate::primitives::{BlockNumber, Body, Header, Receipt, VerifiedBlock};

/// Blocks by hash and number.
#[derive(Debug, Clone, Default)]
pub struct MemoryHistory {
    by_hash: HashMap<B256, (Header, Body, Vec<Receipt>)>,
    by_number: BTreeMap<u64, B256>,
}

impl MemoryHistory {
    /// From verified blocks (e.g. `ChainGen::chain`).
    pub fn from_verified(blocks: &[VerifiedBlock]) -> Self {
        let mut h = Self::default();
        for b in blocks {
            h.insert(b.header().clone(), b.body().clone(), b.receipts().to_vec());
        }
        h
    }

    /// Adds one block (hash computed from the header).
    pub fn insert(&mut self, header: Header, body: Body, receipts: Vec<Receipt>) {
        let hash = header.hash_slow();
        self.by_number.insert(header.number, hash);
        self.by_hash.insert(hash, (header, body, receipts));
    }

    fn header_at(&self, n: u64) -> Option<&Header> {
        self.by_number
            .get(&n)
            .and_then(|h| self.by_hash.get(h))
            .map(|b| &b.0)
    }
}

impl HistoryProvider for MemoryHistory {
    fn headers(&self, req: &GetBlockHeaders) -> Vec<Header> {
        let start = match req.start {
            BlockHashOrNumber::Hash(h) => match self.by_hash.get(&h) {
                Some(b) => b.0.number,
                None => return Vec::new(),
            },
            BlockHashOrNumber::Number(n) => n.get(),
        };
        req.numbers_from(BlockNumber(start))
            .map_while(|n| self.header_at(n.get()).cloned())
            .collect()
    }

    fn bodies(&self, hashes: &[B256]) -> Vec<Body> {
        hashes
            .iter()
            .map_while(|h| self.by_hash.get(h).map(|b| b.1.clone()))
            .collect()
    }

    fn receipts(&self, hashes: &[B256]) -> Vec<Vec<Receipt>> {
        hashes
            .iter()
            .map_while(|h| self.by_hash.get(h).map(|b| b.2.clone()))
            .collect()
    }
}
