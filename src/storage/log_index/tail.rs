//! The unsealed tail in memory: the decoded logs of recently queried blocks that have no index
//! file (shards not sealed yet, or a sealed shard whose index is missing), kept by (number, hash)
//! so a rollback that replaces a block makes its entry unreachable, never wrong. Bounded by a log
//! count; oldest entries go first. Never reads storage itself: `search.rs` hands it blocks.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use alloy_primitives::{B256, Log};

/// Logs kept at most (about 300 bytes each on mainnet: some 60 MB).
const MAX_LOGS: usize = 200_000;

/// One block's logs, decoded once.
#[derive(Debug)]
pub struct BlockLogs {
    /// Block hash.
    pub hash: B256,
    /// Block timestamp.
    pub timestamp: u64,
    /// (transaction index, transaction hash, log), in block order.
    pub logs: Vec<(u64, B256, Log)>,
}

#[derive(Debug, Default)]
struct Inner {
    blocks: HashMap<(u64, B256), Arc<BlockLogs>>,
    order: VecDeque<(u64, B256)>,
    logs: usize,
}

/// The cache.
#[derive(Debug, Default)]
pub struct TailCache(Mutex<Inner>);

impl TailCache {
    /// The logs of block `n` with hash `hash`, if cached.
    pub fn get(&self, n: u64, hash: B256) -> Option<Arc<BlockLogs>> {
        let g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        g.blocks.get(&(n, hash)).cloned()
    }

    /// Keeps `logs` for block `n`, dropping the oldest entries beyond the bound.
    pub fn put(&self, n: u64, logs: Arc<BlockLogs>) {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let key = (n, logs.hash);
        g.logs += logs.logs.len();
        match g.blocks.insert(key, logs) {
            // Two queries decoded the same block: the entry is replaced, counted once.
            Some(old) => g.logs -= old.logs.len(),
            None => g.order.push_back(key),
        }
        while g.logs > MAX_LOGS {
            let Some(old) = g.order.pop_front() else {
                break;
            };
            if let Some(b) = g.blocks.remove(&old) {
                g.logs -= b.logs.len();
            }
        }
    }
}
