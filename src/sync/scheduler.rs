//! The fast-sync scheduler: a streaming cursor over what is still to be fetched, top-down from each
//! anchor, that skips what storage already holds.
//!
//! Owns the order in which header windows are planned. A *job* is a block range `bottom ..= top`
//! whose top block's hash is trusted (the anchor, or a later anchor whose chain must link down to
//! the previous one). The cursor `next_to_schedule` walks a job downward; it asks storage for the
//! missing ranges of one bounded chunk below it at a time (the caller reads them, so this module
//! stays pure) and turns them into [`Item`]s: header windows to fetch (at most `window` blocks
//! each) and stretches already stored (whose headers are read back instead of fetched). It never
//! holds a list of all blocks, whatever the range: memory is one chunk's items at most.
//! `target_end` is the highest block any job reaches; in SafeHead mode it grows by new jobs.
//! It must never do I/O and never decide whether data is trustworthy (that is the linker's job).

use std::collections::VecDeque;
use std::ops::RangeInclusive;

use alloy_primitives::B256;

use crate::primitives::BlockNumber;

/// One step of the plan, in descending block order within a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A job starts: the next header down (block `number`) must hash to `hash`.
    Anchor { number: BlockNumber, hash: B256 },
    /// Fetch headers `top - count + 1 ..= top` (one reverse request).
    Fetch { top: BlockNumber, count: u64 },
    /// Blocks `bottom ..= top` are stored: their headers were anchored when stored.
    Stored {
        top: BlockNumber,
        bottom: BlockNumber,
    },
    /// A job ends: the parent hash of its lowest header must be `hash` (the previous anchor).
    LinkBelow { hash: B256 },
}

#[derive(Debug, Clone, Copy)]
struct Job {
    top: BlockNumber,
    top_hash: B256,
    bottom: BlockNumber,
    below: Option<B256>,
}

#[derive(Debug, Clone, Copy)]
struct Cursor {
    /// Highest block of the job not yet planned; `None` once the job's bottom was planned.
    next: Option<BlockNumber>,
    bottom: BlockNumber,
    below: Option<B256>,
}

/// The streaming cursor (see the module doc).
#[derive(Debug)]
pub struct Scheduler {
    start: BlockNumber,
    window: u64,
    chunk: u64,
    jobs: Vec<Job>,
    current: Option<Cursor>,
    items: VecDeque<Item>,
    target_end: Option<BlockNumber>,
}

impl Scheduler {
    /// Nothing planned yet; blocks below `start` are never planned. Windows hold at most
    /// `window` blocks (the protocol caps headers at 1024); storage is asked `chunk` blocks at a
    /// time.
    pub fn new(start: BlockNumber, window: u64, chunk: u64) -> Self {
        Self {
            start,
            window: window.max(1),
            chunk: chunk.max(1),
            jobs: Vec::new(),
            current: None,
            items: VecDeque::new(),
            target_end: None,
        }
    }

    /// Plans `start ..= top` (or `bottom ..= top`), top block hashing to `top_hash`; `below`,
    /// when set, is the hash the block under the job's bottom must have (the previous anchor).
    /// A job entirely below `start` is ignored.
    pub fn add_job(
        &mut self,
        bottom: BlockNumber,
        top: BlockNumber,
        top_hash: B256,
        below: Option<B256>,
    ) {
        let bottom = bottom.max(self.start);
        if top < bottom {
            return;
        }
        self.target_end = Some(self.target_end.map_or(top, |t| t.max(top)));
        self.jobs.push(Job {
            top,
            top_hash,
            bottom,
            below,
        });
    }

    /// The highest block any job reaches (`None` before the first job).
    pub fn target_end(&self) -> Option<BlockNumber> {
        self.target_end
    }

    /// The next block the cursor will plan (descending), if a job is in progress.
    pub fn next_to_schedule(&self) -> Option<BlockNumber> {
        self.current.and_then(|c| c.next)
    }

    /// The next planned item, if one is ready without asking storage.
    pub fn next_item(&mut self) -> Option<Item> {
        if let Some(item) = self.items.pop_front() {
            return Some(item);
        }
        if self.current.is_none() {
            // Newest job first: its anchor is the freshest.
            let job = self.jobs.pop()?;
            self.current = Some(Cursor {
                next: Some(job.top),
                bottom: job.bottom,
                below: job.below,
            });
            return Some(Item::Anchor {
                number: job.top,
                hash: job.top_hash,
            });
        }
        None
    }

    /// The chunk whose missing ranges the caller must read next (then [`Self::feed`]), if the
    /// current job needs one.
    pub fn needs_chunk(&self) -> Option<(BlockNumber, BlockNumber)> {
        if !self.items.is_empty() {
            return None;
        }
        let c = self.current?;
        let hi = c.next?;
        let lo = BlockNumber(hi.get().saturating_sub(self.chunk - 1).max(c.bottom.get()));
        Some((lo, hi))
    }

    /// Feeds the missing ranges of the chunk `lo ..= hi` (ascending, inside it) given by
    /// [`Self::needs_chunk`]; plans the chunk top-down.
    pub fn feed(
        &mut self,
        lo: BlockNumber,
        hi: BlockNumber,
        missing: &[RangeInclusive<BlockNumber>],
    ) {
        let Some(mut c) = self.current else { return };
        // `above`: one more than the highest block of the chunk not yet planned (so block 0
        // needs no negative number).
        let mut above = u128::from(hi.get()) + 1;
        for r in missing.iter().rev() {
            let (rlo, rhi) = (r.start().get().max(lo.get()), r.end().get().min(hi.get()));
            if rlo > rhi {
                continue;
            }
            if u128::from(rhi) + 1 < above {
                self.items.push_back(Item::Stored {
                    top: BlockNumber((above - 1) as u64),
                    bottom: BlockNumber(rhi + 1),
                });
            }
            let mut top = rhi;
            loop {
                let count = (top - rlo + 1).min(self.window);
                self.items.push_back(Item::Fetch {
                    top: BlockNumber(top),
                    count,
                });
                if top - rlo + 1 == count {
                    break;
                }
                top -= count;
            }
            above = u128::from(rlo);
        }
        if above > u128::from(lo.get()) {
            self.items.push_back(Item::Stored {
                top: BlockNumber((above - 1) as u64),
                bottom: lo,
            });
        }
        if lo <= c.bottom {
            c.next = None;
            if let Some(hash) = c.below {
                self.items.push_back(Item::LinkBelow { hash });
            }
            self.current = None;
        } else {
            c.next = lo.prev();
            self.current = Some(c);
        }
    }

    /// Nothing left to plan: no job, no cursor, no item.
    pub fn is_done(&self) -> bool {
        self.jobs.is_empty() && self.current.is_none() && self.items.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(x: u64) -> BlockNumber {
        BlockNumber(x)
    }

    /// Runs the scheduler to the end against `missing` (a predicate over block numbers).
    fn drain(s: &mut Scheduler, missing: impl Fn(u64) -> bool) -> Vec<Item> {
        let mut out = Vec::new();
        loop {
            if let Some(item) = s.next_item() {
                out.push(item);
            } else if let Some((lo, hi)) = s.needs_chunk() {
                let mut ranges: Vec<RangeInclusive<BlockNumber>> = Vec::new();
                for b in lo.get()..=hi.get() {
                    if missing(b) {
                        match ranges.last_mut() {
                            Some(r) if r.end().get() + 1 == b => *r = *r.start()..=n(b),
                            _ => ranges.push(n(b)..=n(b)),
                        }
                    }
                }
                s.feed(lo, hi, &ranges);
            } else {
                break;
            }
        }
        assert!(s.is_done());
        out
    }

    #[test]
    fn nothing_stored_plans_windows_top_down() {
        let mut s = Scheduler::new(n(0), 4, 6);
        let h = B256::repeat_byte(1);
        s.add_job(n(0), n(9), h, None);
        assert_eq!(s.target_end(), Some(n(9)));
        let items = drain(&mut s, |_| true);
        assert_eq!(
            items,
            vec![
                Item::Anchor {
                    number: n(9),
                    hash: h
                },
                // Chunk 4..=9 then 0..=3: windows never cross a chunk.
                Item::Fetch {
                    top: n(9),
                    count: 4
                },
                Item::Fetch {
                    top: n(5),
                    count: 2
                },
                Item::Fetch {
                    top: n(3),
                    count: 4
                },
            ]
        );
    }

    #[test]
    fn stored_stretches_are_skipped_and_named() {
        let mut s = Scheduler::new(n(2), 100, 100);
        let h = B256::repeat_byte(1);
        s.add_job(n(0), n(20), h, None);
        // 15..=18 and 2..=5 stored.
        let items = drain(&mut s, |b| !(15..=18).contains(&b) && !(2..=5).contains(&b));
        assert_eq!(
            items,
            vec![
                Item::Anchor {
                    number: n(20),
                    hash: h
                },
                Item::Fetch {
                    top: n(20),
                    count: 2
                },
                Item::Stored {
                    top: n(18),
                    bottom: n(15)
                },
                Item::Fetch {
                    top: n(14),
                    count: 9
                },
                Item::Stored {
                    top: n(5),
                    bottom: n(2)
                },
            ]
        );
    }

    #[test]
    fn everything_stored_is_one_stored_item_and_a_grown_target_links_below() {
        let mut s = Scheduler::new(n(0), 100, 1_000_000);
        let (a, b) = (B256::repeat_byte(1), B256::repeat_byte(2));
        s.add_job(n(0), n(500_000), a, None);
        let items = drain(&mut s, |_| false);
        assert_eq!(items.len(), 2, "{items:?}");
        assert_eq!(
            items[1],
            Item::Stored {
                top: n(500_000),
                bottom: n(0)
            }
        );
        // The target grows: a job above the old top, linking to the old anchor.
        s.add_job(n(500_001), n(500_010), b, Some(a));
        assert_eq!(s.target_end(), Some(n(500_010)));
        let items = drain(&mut s, |_| true);
        assert_eq!(
            items,
            vec![
                Item::Anchor {
                    number: n(500_010),
                    hash: b
                },
                Item::Fetch {
                    top: n(500_010),
                    count: 10
                },
                Item::LinkBelow { hash: a },
            ]
        );
    }

    #[test]
    fn a_job_below_start_is_ignored() {
        let mut s = Scheduler::new(n(100), 10, 10);
        s.add_job(n(0), n(50), B256::ZERO, None);
        assert!(s.is_done());
        assert_eq!(s.target_end(), None);
    }
}
