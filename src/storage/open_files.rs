//! Derived per-shard files kept open between queries (`log_index/open.rs`,
//! `tx_index/open.rs`): keyed by (shard, segment generation). A sealed shard's files never
//! change while the store is open, and every write of such a file empties its cache anyway, so
//! an entry is never stale. Bounded by `MAX` (each holds a file descriptor): when full it starts
//! over. Never opens or checks files itself: the caller hands it what it opened.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The cache of files of type `T`, at most `MAX` of them.
#[derive(Debug)]
pub struct OpenFiles<T, const MAX: usize>(Mutex<HashMap<(u64, u32), Arc<T>>>);

impl<T, const MAX: usize> Default for OpenFiles<T, MAX> {
    fn default() -> Self {
        Self(Mutex::new(HashMap::new()))
    }
}

impl<T, const MAX: usize> OpenFiles<T, MAX> {
    /// The open file of `shard` at segment generation `generation`, if kept.
    pub fn get(&self, shard: u64, generation: u32) -> Option<Arc<T>> {
        let g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        g.get(&(shard, generation)).cloned()
    }

    /// Keeps `file` as the file of `shard` at `generation`.
    pub fn put(&self, shard: u64, generation: u32, file: Arc<T>) {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if g.len() >= MAX {
            g.clear();
        }
        g.insert((shard, generation), file);
    }

    /// Forgets every file (one was written).
    pub fn clear(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}
