//! The reorder buffer: verified blocks arrive in any order (several peers, different speeds) and
//! leave strictly in order, for storage's in-order append.
//!
//! Owns [`ReorderBuffer`]: blocks keyed by number in `[expected, expected + capacity)`, popped
//! only while the smallest held key is `expected`. A block outside that range is refused (never
//! held), so the buffer can never grow past `capacity`: the follow scheduler fetches only inside
//! the same window, and a full window stops the fetching (backpressure). It also computes the
//! gauges (`expected`, `len`, `min_key`, `max_key`, `max_gap`) and keeps the peak length. It never
//! writes or fetches.

use std::collections::BTreeMap;

/// Why a block was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Already written (below `expected`): a late or duplicate arrival.
    #[error("block {got} is below the next block to write ({expected})")]
    Behind { expected: u64, got: u64 },
    /// Beyond the window: the scheduler never asked for it.
    #[error("block {got} is beyond the window ending before {end}")]
    Beyond { end: u64, got: u64 },
}

/// The gauges of one moment (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Gauges {
    /// The next block the writer expects.
    pub expected: u64,
    /// Blocks held.
    pub len: u64,
    /// Smallest block held (`expected` when empty).
    pub min_key: u64,
    /// Largest block held (`expected` when empty).
    pub max_key: u64,
    /// Largest run of missing numbers between `expected` and a held block, or between two held
    /// blocks: the hole the writer waits on.
    pub max_gap: u64,
}

/// See the module doc. `T` is the block (any type: the unit tests use numbers).
#[derive(Debug)]
pub struct ReorderBuffer<T> {
    expected: u64,
    capacity: u64,
    held: BTreeMap<u64, T>,
    peak: u64,
}

impl<T> ReorderBuffer<T> {
    /// Empty, expecting `expected` next, holding blocks `expected .. expected + capacity`.
    pub fn new(expected: u64, capacity: u64) -> Self {
        Self {
            expected,
            capacity: capacity.max(1),
            held: BTreeMap::new(),
            peak: 0,
        }
    }

    /// The next block number to write.
    pub fn expected(&self) -> u64 {
        self.expected
    }

    /// Blocks held.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// Nothing held.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// First number past the window.
    pub fn end(&self) -> u64 {
        self.expected.saturating_add(self.capacity)
    }

    /// Most blocks held at once so far.
    pub fn peak(&self) -> u64 {
        self.peak
    }

    /// Whether `n` is held.
    pub fn contains(&self, n: u64) -> bool {
        self.held.contains_key(&n)
    }

    /// Holds `block` as number `n` (replacing what was held under `n`), if `n` is inside the window.
    pub fn insert(&mut self, n: u64, block: T) -> Result<(), Refused> {
        if n < self.expected {
            return Err(Refused::Behind {
                expected: self.expected,
                got: n,
            });
        }
        if n >= self.end() {
            return Err(Refused::Beyond {
                end: self.end(),
                got: n,
            });
        }
        self.held.insert(n, block);
        self.peak = self.peak.max(self.held.len() as u64);
        Ok(())
    }

    /// Takes the blocks `expected, expected + 1, ...` that are held, in order, and moves
    /// `expected` past them.
    pub fn pop_ready(&mut self) -> Vec<T> {
        let mut out = Vec::new();
        while let Some(block) = self.held.remove(&self.expected) {
            out.push(block);
            self.expected += 1;
        }
        out
    }

    /// Drops every block at or above `n` (a reorg above the stored tip).
    pub fn drop_from(&mut self, n: u64) {
        drop(self.held.split_off(&n));
    }

    /// Drops everything and expects `expected` next (after a rollback).
    pub fn reset(&mut self, expected: u64) {
        self.held.clear();
        self.expected = expected;
    }

    /// The gauges now.
    pub fn gauges(&self) -> Gauges {
        let min_key = self.held.keys().next().copied().unwrap_or(self.expected);
        let max_key = self
            .held
            .keys()
            .next_back()
            .copied()
            .unwrap_or(self.expected);
        let mut max_gap = 0;
        // `expected - 1` is the block written last: a gap above it is what the writer waits on.
        let mut prev = self.expected.checked_sub(1);
        for &k in self.held.keys() {
            let gap = match prev {
                Some(p) => k - p - 1,
                None => k,
            };
            max_gap = max_gap.max(gap);
            prev = Some(k);
        }
        Gauges {
            expected: self.expected,
            len: self.held.len() as u64,
            min_key,
            max_key,
            max_gap,
        }
    }

    /// Sets the reorder gauges of [`crate::metrics`].
    pub fn publish(&self) {
        let g = self.gauges();
        metrics::gauge!(crate::metrics::REORDER_EXPECTED).set(g.expected as f64);
        metrics::gauge!(crate::metrics::REORDER_LEN).set(g.len as f64);
        metrics::gauge!(crate::metrics::REORDER_MIN_KEY).set(g.min_key as f64);
        metrics::gauge!(crate::metrics::REORDER_MAX_KEY).set(g.max_key as f64);
        metrics::gauge!(crate::metrics::REORDER_MAX_GAP).set(g.max_gap as f64);
        metrics::gauge!(crate::metrics::REORDER_PEAK).set(self.peak as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_strictly_in_order_whatever_the_arrival_order() {
        let mut b = ReorderBuffer::new(10, 8);
        for n in [12, 14, 11] {
            b.insert(n, n).unwrap();
        }
        // 10 is missing: nothing leaves.
        assert!(b.pop_ready().is_empty());
        assert_eq!(
            b.gauges(),
            Gauges {
                expected: 10,
                len: 3,
                min_key: 11,
                max_key: 14,
                max_gap: 1
            }
        );
        b.insert(10, 10).unwrap();
        assert_eq!(b.pop_ready(), vec![10, 11, 12]);
        assert_eq!(b.expected(), 13);
        b.insert(13, 13).unwrap();
        assert_eq!(b.pop_ready(), vec![13, 14]);
        assert!(b.is_empty());
        assert_eq!(b.peak(), 4);
    }

    #[test]
    fn refuses_what_is_behind_or_beyond_the_window() {
        let mut b = ReorderBuffer::new(100, 4);
        assert_eq!(
            b.insert(99, 0),
            Err(Refused::Behind {
                expected: 100,
                got: 99
            })
        );
        assert_eq!(
            b.insert(104, 0),
            Err(Refused::Beyond { end: 104, got: 104 })
        );
        for n in 100..104 {
            b.insert(n, 0).unwrap();
        }
        assert_eq!(b.len(), 4, "never beyond the window");
        assert_eq!(b.pop_ready().len(), 4);
        // The window moved with `expected`.
        b.insert(107, 0).unwrap();
        assert_eq!(b.gauges().max_gap, 3);
    }

    #[test]
    fn drops_a_reorged_tail_and_resets_after_a_rollback() {
        let mut b = ReorderBuffer::new(1, 16);
        for n in [2, 3, 5, 8] {
            b.insert(n, n).unwrap();
        }
        b.drop_from(5);
        assert_eq!(b.len(), 2);
        b.insert(1, 1).unwrap();
        assert_eq!(b.pop_ready(), vec![1, 2, 3]);
        b.reset(2);
        assert!(b.is_empty());
        assert_eq!(b.expected(), 2);
        assert_eq!(b.gauges().max_gap, 0);
    }
}
