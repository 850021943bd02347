//! Transaction index files kept open between lookups: a lookup probes every sealed shard, and
//! opening a file (open, header read) would cost more than the two reads of the probe. Keyed
//! by (shard, segment generation); a sealed shard's file never changes while the store is
//! open, and every file write empties the cache anyway. Bounded (each holds a descriptor): when
//! full it starts over. Never opens files itself: `lookup.rs` hands it what it opened.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::file::TxFile;

/// Files kept open at most (one descriptor and a few dozen bytes each).
const MAX_OPEN: usize = 1024;

/// The cache.
#[derive(Debug, Default)]
pub struct OpenTxFiles(Mutex<HashMap<(u64, u32), Arc<TxFile>>>);

impl OpenTxFiles {
    /// The open file of `shard` at segment generation `generation`, if kept.
    pub fn get(&self, shard: u64, generation: u32) -> Option<Arc<TxFile>> {
        let g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        g.get(&(shard, generation)).cloned()
    }

    /// Keeps `file` as the file of `shard` at `generation`.
    pub fn put(&self, shard: u64, generation: u32, file: Arc<TxFile>) {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if g.len() >= MAX_OPEN {
            g.clear();
        }
        g.insert((shard, generation), file);
    }

    /// Forgets every file (one was written).
    pub fn clear(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}
