//! Derived per-shard files kept open between queries (`log_index/open.rs`,
//! `tx_index/open.rs`): keyed by (shard, segment generation), or for a transaction run by
//! (group, tag). A sealed shard's files never
//! change while the store is open, and every write of such a file forgets that shard's entries
//! ([`OpenFiles::forget_shard`]), so an entry is never stale. Bounded by a capacity taken from
//! the process's descriptor limit ([`Budget`]; each entry holds a descriptor): when full, the
//! CLOCK policy evicts one file not used since the hand last passed it, so the files queries
//! keep using stay open. Never opens or checks files itself: the caller hands it what it opened.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One kept file and whether it was used since the clock hand last passed it.
#[derive(Debug)]
struct Slot<T> {
    key: (u64, u32),
    file: Arc<T>,
    used: bool,
}

#[derive(Debug)]
struct Clock<T> {
    slots: Vec<Slot<T>>,
    /// Key → index in `slots`.
    at: HashMap<(u64, u32), usize>,
    hand: usize,
}

impl<T> Clock<T> {
    /// Removes the slot at `i` (the last slot moves into its place).
    fn remove_at(&mut self, i: usize) {
        let gone = self.slots.swap_remove(i);
        self.at.remove(&gone.key);
        if let Some(moved) = self.slots.get(i) {
            self.at.insert(moved.key, i);
        }
        if self.hand >= self.slots.len() {
            self.hand = 0;
        }
    }

    /// The index of the slot to replace: the first from the hand not used since the hand last
    /// passed it, clearing the marks it passes (at most one turn and a step).
    fn victim(&mut self) -> usize {
        loop {
            let i = self.hand;
            self.hand = (self.hand + 1) % self.slots.len();
            let slot = &mut self.slots[i];
            if !slot.used {
                return i;
            }
            slot.used = false;
        }
    }
}

/// The cache of files of type `T`, at most `capacity` of them.
#[derive(Debug)]
pub struct OpenFiles<T> {
    capacity: usize,
    clock: Mutex<Clock<T>>,
}

impl<T> OpenFiles<T> {
    /// An empty cache keeping at most `capacity` files (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            clock: Mutex::new(Clock {
                slots: Vec::new(),
                at: HashMap::new(),
                hand: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Clock<T>> {
        self.clock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The open file of `shard` at segment generation `generation`, if kept.
    pub fn get(&self, shard: u64, generation: u32) -> Option<Arc<T>> {
        let mut guard = self.lock();
        let c = &mut *guard;
        let i = *c.at.get(&(shard, generation))?;
        let slot = &mut c.slots[i];
        slot.used = true;
        Some(slot.file.clone())
    }

    /// Keeps `file` as the file of `shard` at `generation`, evicting one file when full.
    pub fn put(&self, shard: u64, generation: u32, file: Arc<T>) {
        self.insert((shard, generation), file, true);
    }

    /// Keeps `file` unless a file is already kept under this key (a lookup remembering a run
    /// absent must not replace the run a writer has just put).
    pub fn put_if_absent(&self, shard: u64, generation: u32, file: Arc<T>) {
        self.insert((shard, generation), file, false);
    }

    fn insert(&self, key: (u64, u32), file: Arc<T>, replace: bool) {
        let mut guard = self.lock();
        let c = &mut *guard;
        if let Some(&i) = c.at.get(&key) {
            if replace {
                c.slots[i].file = file;
                c.slots[i].used = true;
            }
            return;
        }
        // A new file starts unmarked: one opened by a single scan goes before files in use.
        let slot = Slot {
            key,
            file,
            used: false,
        };
        if c.slots.len() < self.capacity {
            c.at.insert(key, c.slots.len());
            c.slots.push(slot);
            return;
        }
        let i = c.victim();
        let old = std::mem::replace(&mut c.slots[i], slot);
        c.at.remove(&old.key);
        c.at.insert(key, i);
    }

    /// Forgets every generation of `shard` (its file was written: a generation kept from before
    /// must not answer, and an older generation is dead).
    pub fn forget_shard(&self, shard: u64) {
        let mut c = self.lock();
        let mut i = 0;
        while i < c.slots.len() {
            if c.slots[i].key.0 == shard {
                c.remove_at(i);
            } else {
                i += 1;
            }
        }
    }

    /// How many files are kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().slots.len()
    }
}

/// How many files each cache may keep open, from the process's descriptor limit (its soft
/// `RLIMIT_NOFILE`, which `histd` raises to the hard limit at start). Half the limit stays for
/// everything else (peer sessions, discovery, RPC connections, redb, segments and WALs being
/// read or written), less a fixed reserve; of the other half the transaction index gets two
/// thirds (a lookup probes every sealed shard) and the log index one third (a query probes only
/// its range's shards). Capped: mainnet has some 2,300 sealed shards of 10,000 blocks, and a log
/// index file also holds its dictionary prepared for decompression (some 100 KiB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub tx_files: usize,
    pub log_files: usize,
}

/// Descriptors never counted into the caches' half.
const RESERVE: u64 = 128;
/// The most files either cache keeps (28 times mainnet's sealed shards of 10,000 blocks).
const MOST: u64 = 1 << 16;
/// The most log index files kept: their memory (some 100 KiB each, 50 MiB in all), not their
/// descriptors, bounds them.
const LOG_MOST: u64 = 512;
/// The fewest files either cache keeps, however low the limit.
const FEWEST: u64 = 16;

impl Budget {
    /// The budget for a soft descriptor limit of `limit`.
    pub fn for_limit(limit: u64) -> Self {
        let half = limit.saturating_sub(RESERVE) / 2;
        let share = |n: u64| (n.clamp(FEWEST, MOST)) as usize;
        Self {
            tx_files: share(half * 2 / 3),
            log_files: share(half / 3).min(LOG_MOST as usize),
        }
    }

    /// The budget for this process's current soft limit (1,024 if it cannot be read).
    pub fn of_process() -> Self {
        Self::for_limit(descriptor_limits().map_or(1024, |(soft, _)| soft))
    }
}

/// This process's limits on open descriptors (`RLIMIT_NOFILE`), `(soft, hard)`; `None` if they
/// cannot be read. One reader for the budget above and for `histd`'s raise of the soft limit at
/// start (`main.rs`), so both read the same limit the same way.
pub fn descriptor_limits() -> Option<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0;
    ok.then_some((lim.rlim_cur, lim.rlim_max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_in_use_survive_a_scan_of_more_files_than_fit() {
        let cache = OpenFiles::<u64>::new(4);
        for s in 0..4 {
            cache.put(s, 0, Arc::new(s));
        }
        // Shards 0 and 1 stay in use while 100 others pass through once.
        for s in 10..110 {
            assert!(cache.get(0, 0).is_some());
            assert!(cache.get(1, 0).is_some());
            cache.put(s, 0, Arc::new(s));
            assert_eq!(cache.len(), 4);
        }
        assert_eq!(cache.get(0, 0).as_deref(), Some(&0));
        assert_eq!(cache.get(1, 0).as_deref(), Some(&1));
        assert_eq!(cache.get(109, 0).as_deref(), Some(&109));
        assert!(cache.get(2, 0).is_none() && cache.get(50, 0).is_none());
    }

    #[test]
    fn a_full_cache_keeps_all_but_one_file() {
        // The old cache emptied itself when full; one put evicts exactly one file now.
        let cache = OpenFiles::<u64>::new(8);
        for s in 0..9 {
            cache.put(s, 0, Arc::new(s));
        }
        assert_eq!(cache.len(), 8);
        assert_eq!((0..9).filter(|&s| cache.get(s, 0).is_some()).count(), 8);
        assert!(cache.get(8, 0).is_some());
    }

    #[test]
    fn forgetting_a_shard_drops_every_generation_of_it_only() {
        let cache = OpenFiles::<u32>::new(8);
        cache.put(1, 0, Arc::new(10));
        cache.put(2, 0, Arc::new(20));
        cache.put(1, 3, Arc::new(13));
        cache.put(3, 1, Arc::new(31));
        cache.forget_shard(1);
        assert!(cache.get(1, 0).is_none() && cache.get(1, 3).is_none());
        assert_eq!(cache.get(2, 0).as_deref(), Some(&20));
        assert_eq!(cache.get(3, 1).as_deref(), Some(&31));
        assert_eq!(cache.len(), 2);
        // The slots moved by the removal are still found, and the cache fills again.
        for s in 10..20 {
            cache.put(s, 0, Arc::new(s as u32));
        }
        assert_eq!(cache.len(), 8);
    }

    #[test]
    fn the_budget_leaves_half_the_limit_and_scales_with_it() {
        let low = Budget::for_limit(1024);
        assert!(low.tx_files + low.log_files <= 1024 / 2);
        assert!(low.tx_files >= 256 && low.log_files >= 128);
        let raised = Budget::for_limit(524_288);
        // Mainnet's sealed shards all stay open with a raised limit.
        assert!(raised.tx_files >= 10_000);
        assert_eq!(raised.log_files, LOG_MOST as usize);
        assert_eq!(Budget::for_limit(0).tx_files, FEWEST as usize);
        assert_eq!(Budget::for_limit(u64::MAX).tx_files, MOST as usize);
    }
}
