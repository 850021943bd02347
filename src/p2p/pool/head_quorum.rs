//! The head resolution rule: from the heads usable peers report (their Status best hash resolved
//! to a number by the session, then moved by `BlockRangeUpdate`) to `head_seen`.
//!
//! **Rule.** `head_seen` is the *k-th highest* head among usable peers, with
//! `k = min(head_quorum, usable peers)` (default quorum 2). Equivalently: the highest number
//! that at least `k` peers report a head at or above. So once two peers are connected, no single
//! peer can raise `head_seen` beyond what another peer confirms; a lying peer claiming block
//! 10⁹ changes nothing. The rule is applied only while the pool is ready (at least `min_peers`
//! usable peers), so with `min_peers >= 2` a lone peer — the first to connect, or the last one
//! left — never sets it; with `min_peers = 1` the operator chose to trust one peer.
//! `head_seen` never moves down (heads of peers that leave stay seen).
//!
//! Pure arithmetic: no I/O, no peers.

use crate::primitives::BlockNumber;

/// The k-th highest of `heads`, `k = min(quorum, heads.len())` (quorum 0 counts as 1); `None`
/// without heads.
pub fn confirmed_head(heads: &[BlockNumber], quorum: usize) -> Option<BlockNumber> {
    if heads.is_empty() {
        return None;
    }
    let k = quorum.clamp(1, heads.len());
    let mut sorted = heads.to_vec();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    Some(sorted[k - 1])
}

/// `head_seen`, monotonic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeadSeen(Option<BlockNumber>);

impl HeadSeen {
    /// The current value.
    pub fn get(&self) -> Option<BlockNumber> {
        self.0
    }

    /// Applies the rule to the current heads; returns the new value if it rose.
    pub fn update(&mut self, heads: &[BlockNumber], quorum: usize) -> Option<BlockNumber> {
        let confirmed = confirmed_head(heads, quorum)?;
        if self.0.is_some_and(|seen| confirmed <= seen) {
            return None;
        }
        self.0 = Some(confirmed);
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(v: &[u64]) -> Vec<BlockNumber> {
        v.iter().map(|&x| BlockNumber(x)).collect()
    }

    #[test]
    fn one_liar_cannot_raise_the_head() {
        assert_eq!(
            confirmed_head(&n(&[100, 1_000_000_000, 99]), 2),
            Some(BlockNumber(100))
        );
        // Two peers: the lower one bounds it.
        assert_eq!(confirmed_head(&n(&[5_000, 100]), 2), Some(BlockNumber(100)));
        // Two liars agreeing are a quorum of two: raise the quorum to resist more.
        assert_eq!(
            confirmed_head(&n(&[100, 9_999, 9_999, 100]), 3),
            Some(BlockNumber(100))
        );
    }

    #[test]
    fn few_peers() {
        assert_eq!(confirmed_head(&[], 2), None);
        assert_eq!(confirmed_head(&n(&[42]), 2), Some(BlockNumber(42)));
        assert_eq!(confirmed_head(&n(&[42]), 0), Some(BlockNumber(42)));
    }

    #[test]
    fn head_seen_is_monotonic() {
        let mut h = HeadSeen::default();
        assert_eq!(h.update(&n(&[10, 12]), 2), Some(BlockNumber(10)));
        assert_eq!(h.update(&n(&[12, 11]), 2), Some(BlockNumber(11)));
        // A peer leaves and the confirmed head drops: head_seen stays.
        assert_eq!(h.update(&n(&[3, 2]), 2), None);
        assert_eq!(h.get(), Some(BlockNumber(11)));
        assert_eq!(h.update(&[], 2), None);
    }
}
