//! [`HistoryProvider`]: what a session serves to peers that ask us for history. Storage implements
//! it; "empty" is always a valid answer. The session caps answers by size, so implementations
//! need not count bytes (they should still stop at the request's limits).

use alloy_primitives::B256;

use super::handle::WireSize;
use crate::p2p::eth::GetBlockHeaders;
use crate::primitives::{Body, Header, Receipt};

pub use crate::p2p::eth::limits::SOFT_RESPONSE_LIMIT;

/// Read access to the history we hold, for answering peers. Calls may block on disk: the session
/// runs them on the blocking pool.
pub trait HistoryProvider: Send + Sync + 'static {
    /// Headers matching `req` (start, skip, direction), at most `req.served_limit()`, stopping at
    /// the first one we do not have.
    fn headers(&self, req: &GetBlockHeaders) -> Vec<Header>;
    /// Bodies of `hashes`, in order, stopping at the first one we do not have.
    fn bodies(&self, hashes: &[B256]) -> Vec<Body>;
    /// Receipts of `hashes` (one list per block), in order, stopping at the first one we do not
    /// have.
    fn receipts(&self, hashes: &[B256]) -> Vec<Vec<Receipt>>;
    /// An answer built from this provider was sent: `msg` names it (`BlockHeaders`,
    /// `BlockBodies`, `Receipts`), `size` is what it took on the wire. For counting only (the
    /// testnet's byte counts); the default ignores it.
    fn sent(&self, _msg: &'static str, _size: WireSize) {}
}

/// Serves nothing: a node that holds no history yet.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmptyHistory;

impl HistoryProvider for EmptyHistory {
    fn headers(&self, _: &GetBlockHeaders) -> Vec<Header> {
        Vec::new()
    }
    fn bodies(&self, _: &[B256]) -> Vec<Body> {
        Vec::new()
    }
    fn receipts(&self, _: &[B256]) -> Vec<Vec<Receipt>> {
        Vec::new()
    }
}

/// Keeps the longest prefix of `items` whose summed `size` stays within [`SOFT_RESPONSE_LIMIT`]
/// (always at least one item, as the spec expects progress).
pub fn cap_by_size<T>(mut items: Vec<T>, size: impl Fn(&T) -> usize) -> Vec<T> {
    let mut total = 0usize;
    let mut keep = items.len();
    for (i, item) in items.iter().enumerate() {
        total = total.saturating_add(size(item));
        if total > SOFT_RESPONSE_LIMIT && i > 0 {
            keep = i;
            break;
        }
    }
    items.truncate(keep);
    items
}
