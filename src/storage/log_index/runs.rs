//! The (key hash, log id) pairs of an index build, in bounded memory: pairs gather in a buffer
//! of at most [`RUN`] pairs (16 bytes each); a full buffer is sorted and packed into a run (per
//! key: its hash, then the count and id deltas as varints, some 2-3 bytes a pair); finishing
//! merges the runs key by key. Ids grow as logs are pushed, so every id of run `i` precedes
//! every id of run `i + 1`: a key's ids taken from the runs in order are sorted. Never does I/O.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::postings::{get_varint, put_varint};

/// Pairs held unpacked at most (16 MiB).
pub const RUN: usize = 1 << 20;

/// The pairs.
#[derive(Debug)]
pub struct Runs {
    buf: Vec<u128>,
    cap: usize,
    runs: Vec<Vec<u8>>,
}

impl Runs {
    /// Pairs packed every `cap` pairs.
    pub fn new(cap: usize) -> Self {
        Self {
            buf: Vec::new(),
            cap: cap.max(1),
            runs: Vec::new(),
        }
    }

    /// Adds that log `id` carries `key`; ids never decrease from one call to the next.
    pub fn push(&mut self, key: u64, id: u32) {
        if self.buf.capacity() == 0 {
            self.buf.reserve_exact(self.cap);
        }
        self.buf.push(u128::from(key) << 64 | u128::from(id));
        if self.buf.len() >= self.cap {
            self.pack();
        }
    }

    fn pack(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        self.buf.sort_unstable();
        self.buf.dedup();
        let mut run = Vec::new();
        let mut i = 0;
        while i < self.buf.len() {
            let key = (self.buf[i] >> 64) as u64;
            let end = i + self.buf[i..].partition_point(|p| (p >> 64) as u64 == key);
            run.extend_from_slice(&key.to_le_bytes());
            put_varint(&mut run, (end - i) as u64);
            let mut prev = 0u32;
            for p in &self.buf[i..end] {
                let id = *p as u32;
                put_varint(&mut run, u64::from(id - prev));
                prev = id;
            }
            i = end;
        }
        run.shrink_to_fit();
        self.runs.push(run);
        self.buf.clear();
    }

    /// Visits every key, ascending, with its sorted ids.
    pub fn merge(mut self, mut visit: impl FnMut(u64, &[u32])) {
        self.pack();
        self.buf = Vec::new();
        // Per run: where its next group starts, and its current group.
        let mut cursors: Vec<(usize, Option<Group>)> =
            self.runs.iter().map(|_| (0, None)).collect();
        let mut heap = BinaryHeap::new();
        for (r, run) in self.runs.iter().enumerate() {
            let (pos, head) = &mut cursors[r];
            *head = next_group(run, pos);
            if let Some((key, _)) = head {
                heap.push(Reverse((*key, r)));
            }
        }
        let mut ids = Vec::new();
        let mut from = Vec::new();
        while let Some(Reverse((key, r))) = heap.pop() {
            from.clear();
            from.push(r);
            while let Some(Reverse((k, r))) = heap.peek().copied()
                && k == key
            {
                heap.pop();
                from.push(r);
            }
            // Runs in order: their ids are in order.
            from.sort_unstable();
            ids.clear();
            for &r in &from {
                let (pos, head) = &mut cursors[r];
                if let Some((_, group)) = head.take() {
                    // A log's pairs may straddle two runs: an id the run before ended with is
                    // not taken twice.
                    let skip = usize::from(ids.last().is_some() && ids.last() == group.first());
                    ids.extend_from_slice(&group[skip..]);
                }
                *head = next_group(&self.runs[r], pos);
                if let Some((k, _)) = head {
                    heap.push(Reverse((*k, r)));
                }
            }
            visit(key, &ids);
        }
    }
}

/// One key of a run and its ids.
type Group = (u64, Vec<u32>);

/// The key group at `*pos` of a run, advancing past it (`None` at the end: runs are written by
/// [`Runs::pack`] in memory, so a short read only means the end).
fn next_group(run: &[u8], pos: &mut usize) -> Option<Group> {
    let key = u64::from_le_bytes(run.get(*pos..*pos + 8)?.try_into().ok()?);
    *pos += 8;
    let n = get_varint(run, pos)?;
    let mut ids = Vec::with_capacity(n.min(1 << 20) as usize);
    let mut id = 0u64;
    for _ in 0..n {
        id += get_varint(run, pos)?;
        ids.push(u32::try_from(id).ok()?);
    }
    Some((key, ids))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    proptest! {
        /// Any run size gives what one sort of all pairs gives.
        #[test]
        fn runs_merge_like_one_sort(
            logs in proptest::collection::vec(proptest::collection::vec(0u64..40, 0..5), 0..300),
            cap in 1usize..50,
        ) {
            let mut want: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
            let mut runs = Runs::new(cap);
            for (id, keys) in logs.iter().enumerate() {
                for &k in keys {
                    // Spread keys over the whole u64 range, as hashes are.
                    let key = k.wrapping_mul(0x9e37_79b9_7f4a_7c15);
                    runs.push(key, id as u32);
                    let ids = want.entry(key).or_default();
                    if ids.last() != Some(&(id as u32)) {
                        ids.push(id as u32);
                    }
                }
            }
            let mut got = Vec::new();
            runs.merge(|k, ids| got.push((k, ids.to_vec())));
            prop_assert_eq!(got, want.into_iter().collect::<Vec<_>>());
        }
    }
}
