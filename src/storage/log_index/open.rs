//! Index files kept open between queries: opening one costs a file open, a header read and
//! loading its dictionary (64 KiB) into a decompression table, more than a small query's whole
//! search. Keyed by (shard, segment generation); a sealed shard's index never changes while the
//! store is open, and every index write (a seal) empties the cache anyway, so an entry is never
//! stale. Bounded (each holds a file descriptor and a dictionary): when full it starts over.
//! Never opens or checks files itself: `search.rs` hands it what it opened.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::file::IndexFile;

/// Files kept open at most (some 100 KiB of memory and one descriptor each).
const MAX_OPEN: usize = 256;

/// The cache.
#[derive(Debug, Default)]
pub struct OpenIndexes(Mutex<HashMap<(u64, u32), Arc<IndexFile>>>);

impl OpenIndexes {
    /// The open index of `shard` at segment generation `generation`, if kept.
    pub fn get(&self, shard: u64, generation: u32) -> Option<Arc<IndexFile>> {
        let g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        g.get(&(shard, generation)).cloned()
    }

    /// Keeps `file` as the index of `shard` at `generation`.
    pub fn put(&self, shard: u64, generation: u32, file: Arc<IndexFile>) {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if g.len() >= MAX_OPEN {
            g.clear();
        }
        g.insert((shard, generation), file);
    }

    /// Forgets every file (an index was written).
    pub fn clear(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}
