//! The unsealed tail in memory, for blocks that have no index file (shards not sealed yet, or a
//! sealed shard whose index is missing): per block touched by a query, the exact set of its keys
//! (the keyed hashes of its addresses and of its topics by position, as the sealed index names
//! them), and the decoded logs of the blocks that matched a query. A query decodes a block only
//! when every criterion has a key in the block's set; header blooms, saturated on mainnet, decide
//! only for blocks no query touched yet. Entries are kept by number and checked against the
//! block's hash, so a rollback that replaces a block makes its entry unreachable (and the next
//! touch replaces it), never wrong. Both parts are bounded, oldest entries evicted first. Never
//! reads storage itself: `search.rs` hands it blocks.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use alloy_primitives::{B256, Log};

use super::query::{LogQuery, log_keys};

/// Logs kept at most (about 300 bytes each on mainnet: some 60 MB).
const MAX_LOGS: usize = 200_000;

/// Keys kept at most, over all blocks' sets: 8 bytes each, 64 MB. Mainnet blocks carry 1.1-1.6
/// distinct keys per log (1,142 for a block of 793 logs), so this covers the last 8,000-12,000
/// blocks of 600 logs touched; the oldest blocks of a longer tail are decoded again, never
/// answered wrong.
const MAX_KEYS: usize = 8 << 20;

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

/// The distinct keys of one block's logs, sorted.
#[derive(Debug)]
pub struct KeySet(Box<[u64]>);

impl KeySet {
    /// Whether the block has logs and every group has at least one key in the set: only then may
    /// a log of the block match (a 64-bit collision only adds a block that the exact check then
    /// drops).
    pub fn may_match(&self, groups: &[Vec<u64>]) -> bool {
        !self.0.is_empty()
            && groups
                .iter()
                .all(|g| g.iter().any(|k| self.0.binary_search(k).is_ok()))
    }
}

/// What an entry costs against its bound.
trait Weight {
    fn weight(&self) -> usize;
}

impl Weight for BlockLogs {
    fn weight(&self) -> usize {
        self.logs.len()
    }
}

impl Weight for KeySet {
    fn weight(&self) -> usize {
        self.0.len()
    }
}

#[derive(Debug)]
struct Inner<V> {
    /// Block number to (hash, value): one entry per number, so a replaced block's entry goes
    /// when the new one comes.
    blocks: HashMap<u64, (B256, Arc<V>)>,
    /// Insertion order; an element whose hash no longer matches `blocks` is stale and skipped.
    order: VecDeque<(u64, B256)>,
    weight: usize,
}

impl<V> Default for Inner<V> {
    fn default() -> Self {
        Self {
            blocks: HashMap::new(),
            order: VecDeque::new(),
            weight: 0,
        }
    }
}

/// Values per (number, hash), bounded by their total weight, oldest evicted first.
#[derive(Debug)]
struct Bounded<V> {
    inner: Mutex<Inner<V>>,
    max: usize,
}

impl<V: Weight> Bounded<V> {
    fn new(max: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            max,
        }
    }

    fn get(&self, n: u64, hash: B256) -> Option<Arc<V>> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match g.blocks.get(&n) {
            Some((h, v)) if *h == hash => Some(v.clone()),
            _ => None,
        }
    }

    fn put(&self, n: u64, hash: B256, v: Arc<V>) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.weight += v.weight();
        match g.blocks.insert(n, (hash, v)) {
            // Two queries built the same entry: replaced, counted once, queued once.
            Some((h, old)) if h == hash => g.weight -= old.weight(),
            // A block replaced by a rollback: its entry goes now, its queue element is stale.
            Some((_, old)) => {
                g.weight -= old.weight();
                g.order.push_back((n, hash));
            }
            None => g.order.push_back((n, hash)),
        }
        while g.weight > self.max {
            let Some((n, h)) = g.order.pop_front() else {
                break;
            };
            if g.blocks.get(&n).is_some_and(|(have, _)| *have == h)
                && let Some((_, v)) = g.blocks.remove(&n)
            {
                g.weight -= v.weight();
            }
        }
        // Stale queue elements (one per replaced block) must not pile up between evictions.
        if g.order.len() > 2 * g.blocks.len() + 1024 {
            let Inner { blocks, order, .. } = &mut *g;
            order.retain(|(n, h)| blocks.get(n).is_some_and(|(have, _)| have == h));
        }
    }

    #[cfg(test)]
    fn weight(&self) -> usize {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).weight
    }
}

/// The tail's key sets and decoded logs.
#[derive(Debug)]
pub struct TailCache {
    logs: Bounded<BlockLogs>,
    keys: Bounded<KeySet>,
    /// The key hash's seed for this process's sets (never written anywhere).
    seed: u64,
    /// Blocks decoded for a query so far (tests check that only candidates are).
    decodes: AtomicU64,
}

impl Default for TailCache {
    fn default() -> Self {
        Self::with_bounds(MAX_LOGS, MAX_KEYS)
    }
}

impl TailCache {
    fn with_bounds(max_logs: usize, max_keys: usize) -> Self {
        Self {
            logs: Bounded::new(max_logs),
            keys: Bounded::new(max_keys),
            seed: super::build::random_seed(),
            decodes: AtomicU64::new(0),
        }
    }

    /// The query's criteria as key groups under this cache's seed (see [`KeySet::may_match`]).
    pub fn key_groups(&self, query: &LogQuery) -> Vec<Vec<u64>> {
        query.key_groups(self.seed)
    }

    /// The logs of block `n` with hash `hash`, if cached.
    pub fn get(&self, n: u64, hash: B256) -> Option<Arc<BlockLogs>> {
        self.logs.get(n, hash)
    }

    /// Keeps `logs` for block `n`, dropping the oldest entries beyond the bound.
    pub fn put(&self, n: u64, logs: Arc<BlockLogs>) {
        self.logs.put(n, logs.hash, logs);
    }

    /// The key set of block `n` with hash `hash`, if built.
    pub fn keys(&self, n: u64, hash: B256) -> Option<Arc<KeySet>> {
        self.keys.get(n, hash)
    }

    /// Builds and keeps the key set of block `n` from its decoded logs.
    pub fn put_keys(&self, n: u64, logs: &BlockLogs) -> Arc<KeySet> {
        let mut keys = Vec::with_capacity(logs.logs.len() * 3);
        for (_, _, log) in &logs.logs {
            let topics = log.topics().iter().map(|t| t.as_slice());
            log_keys(self.seed, log.address.as_slice(), topics, |k| keys.push(k));
        }
        keys.sort_unstable();
        keys.dedup();
        let set = Arc::new(KeySet(keys.into_boxed_slice()));
        self.keys.put(n, logs.hash, set.clone());
        set
    }

    /// Counts one block decoded for a query.
    pub fn count_decode(&self) {
        self.decodes.fetch_add(1, Ordering::Relaxed);
    }

    /// Blocks decoded for queries since the store opened.
    pub fn decodes(&self) -> u64 {
        self.decodes.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{Address, Bytes, LogData};

    fn block(hash: u8, logs: &[(u8, &[u8])]) -> BlockLogs {
        BlockLogs {
            hash: B256::with_last_byte(hash),
            timestamp: 0,
            logs: logs
                .iter()
                .map(|(a, topics)| {
                    let log = Log {
                        address: Address::with_last_byte(*a),
                        data: LogData::new_unchecked(
                            topics.iter().map(|t| B256::with_last_byte(*t)).collect(),
                            Bytes::new(),
                        ),
                    };
                    (0, B256::ZERO, log)
                })
                .collect(),
        }
    }

    fn query(addresses: &[u8], topics: &[&[u8]]) -> LogQuery {
        LogQuery {
            addresses: addresses
                .iter()
                .map(|a| Address::with_last_byte(*a))
                .collect(),
            topics: topics
                .iter()
                .map(|s| s.iter().map(|t| B256::with_last_byte(*t)).collect())
                .collect(),
        }
    }

    #[test]
    fn a_set_admits_exactly_the_queries_its_keys_can_answer() {
        let tail = TailCache::default();
        let b = block(1, &[(1, &[10, 20]), (2, &[10]), (1, &[30])]);
        let set = tail.put_keys(5, &b);
        // Distinct keys: addresses 1, 2; topic0 10, 30; topic1 20.
        assert_eq!(set.0.len(), 5);
        let may = |q: LogQuery| set.may_match(&tail.key_groups(&q));
        assert!(may(query(&[], &[])));
        assert!(may(query(&[2, 9], &[&[10]])));
        assert!(may(query(&[], &[&[], &[20]])));
        // Each criterion has a key, though no single log carries both: a candidate, not a match.
        assert!(may(query(&[2], &[&[30]])));
        assert!(!may(query(&[9], &[])));
        // The same value at another position is another key.
        assert!(!may(query(&[], &[&[20]])));
        assert!(!may(query(&[], &[&[], &[], &[10]])));
        // A block without logs matches nothing, not even a query without criteria.
        let empty = tail.put_keys(6, &block(2, &[]));
        assert!(!empty.may_match(&tail.key_groups(&query(&[], &[]))));
    }

    #[test]
    fn a_replaced_block_is_never_served_and_the_bound_holds() {
        let tail = TailCache::with_bounds(3, 4);
        let old = block(1, &[(1, &[10])]);
        tail.put_keys(7, &old);
        tail.put(7, Arc::new(old));
        let new = block(2, &[(2, &[20])]);
        assert!(tail.keys(7, new.hash).is_none());
        assert!(tail.get(7, new.hash).is_none());
        tail.put_keys(7, &new);
        tail.put(7, Arc::new(new));
        // The old entries went with the replacement, not only out of reach.
        assert!(tail.keys(7, B256::with_last_byte(1)).is_none());
        assert!(tail.get(7, B256::with_last_byte(1)).is_none());
        assert_eq!(tail.keys.weight(), 2);
        assert_eq!(tail.logs.weight(), 1);
        // Past the bound the oldest go first; the stale queue element of block 7 is skipped.
        for n in 8..12u8 {
            let b = block(n, &[(n, &[n])]);
            tail.put_keys(u64::from(n), &b);
            tail.put(u64::from(n), Arc::new(b));
        }
        assert!(tail.keys.weight() <= 4 && tail.logs.weight() <= 3);
        assert!(tail.keys(7, B256::with_last_byte(2)).is_none());
        assert!(tail.keys(11, B256::with_last_byte(11)).is_some());
        assert!(tail.get(11, B256::with_last_byte(11)).is_some());
    }
}
