//! The machine's view of the chain head: `head_seen` and `safe_head`, both monotonic (docs/architecture.md §3).
//!
//! Owns the arithmetic `safe_head = head_seen - rollback_window`, the head gauges, and the watch
//! channel through which a fast-sync worker follows its moving target. It must never ask peers
//! anything: the head tracker service reports heads as `HeadAdvanced` events.

use tokio::sync::watch;

use crate::primitives::BlockNumber;

/// Head bookkeeping shared by all phases.
#[derive(Debug)]
pub struct HeadState {
    rollback_window: u64,
    head_seen: Option<BlockNumber>,
    safe_head: watch::Sender<BlockNumber>,
}

impl HeadState {
    /// No head seen yet; the safe head starts at genesis.
    pub fn new(rollback_window: u64) -> Self {
        Self {
            rollback_window,
            head_seen: None,
            safe_head: watch::Sender::new(BlockNumber::ZERO),
        }
    }

    /// Record a reported head. Lower or equal heads are ignored (both values are monotonic).
    /// Returns whether `head_seen` moved.
    pub fn observe(&mut self, head: BlockNumber) -> bool {
        if self.head_seen.is_some_and(|seen| head <= seen) {
            return false;
        }
        self.head_seen = Some(head);
        let safe = head.saturating_sub(self.rollback_window);
        self.safe_head.send_if_modified(|cur| {
            if safe > *cur {
                *cur = safe;
                true
            } else {
                false
            }
        });
        metrics::gauge!(crate::metrics::HEAD_SEEN).set(head.get() as f64);
        metrics::gauge!(crate::metrics::SAFE_HEAD).set(self.safe_head().get() as f64);
        true
    }

    /// Highest head seen, if any.
    pub fn head_seen(&self) -> Option<BlockNumber> {
        self.head_seen
    }

    /// Current safe head.
    pub fn safe_head(&self) -> BlockNumber {
        *self.safe_head.borrow()
    }

    /// A receiver that sees every safe-head increase (the fast-sync target in follow mode).
    pub fn watch_safe_head(&self) -> watch::Receiver<BlockNumber> {
        self.safe_head.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_with_window() {
        let mut h = HeadState::new(64);
        let rx = h.watch_safe_head();
        assert!(h.observe(BlockNumber(100)));
        assert_eq!(h.safe_head(), BlockNumber(36));
        assert!(!h.observe(BlockNumber(90)));
        assert_eq!(h.head_seen(), Some(BlockNumber(100)));
        assert!(!h.observe(BlockNumber(30)));
        assert_eq!(*rx.borrow(), BlockNumber(36));
        let mut small = HeadState::new(64);
        small.observe(BlockNumber(10));
        assert_eq!(small.safe_head(), BlockNumber::ZERO);
    }
}
