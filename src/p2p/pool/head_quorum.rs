//! The head resolution rule: from the heads usable peers report (their Status best hash resolved
//! to a number by the session, or an eth/69 `latest`, then moved by `BlockRangeUpdate`) to
//! `head_seen`.
//!
//! **Evidence counts per network, not per node id.** Node ids cost nothing to make, so a vote
//! belongs to a network an attacker has to pay for: one per IPv4 /24 or IPv6 /48 (prefix lengths in
//! [`super::PoolConfig`]). A network's vote is the highest head any of its peers reports (so one
//! network can never outvote another, and an attacker sharing a network with an honest peer can
//! only push that one vote, never suppress it).
//!
//! **Rule.** `head_seen` is the *k-th highest* network vote, `k = min(head_quorum, min_peers)`
//! (at least 1); fewer than `k` networks give no value. Equivalently: the highest number that at
//! least `k` networks report a head at or above. With the default quorum of 2 no single network
//! (however many ids it hosts) can raise `head_seen` beyond what another network confirms; with
//! `min_peers = 1` the operator chose to trust one peer. `head_seen` never moves down (heads of
//! peers that leave stay seen).
//!
//! **Physical bound.** No claim may exceed [`HeadBound::max_head`]: the blocks the chain can have
//! produced by now (12 s slots since the merge, at most one block per 13 s before it) plus a
//! slack for clock skew. A peer claiming more is lying; the pool penalises it and ignores the
//! claim.
//!
//! Pure arithmetic: no I/O, no peers, no clock (callers pass `now`).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::p2p::chain::ChainSpec;
use crate::primitives::BlockNumber;

/// Seconds per slot since the merge (and on chains that were proof of stake from genesis).
pub const SLOT_SECONDS: u64 = 12;
/// Shortest average block time assumed before the merge (mainnet averaged ~14.5 s).
pub const POW_BLOCK_SECONDS: u64 = 13;

/// Mainnet: the merge block and its timestamp (alloy-hardforks `MAINNET_PARIS_*`).
const MAINNET_MERGE: (u64, u64) = (15_537_394, 1_663_224_162);
/// Mainnet block 1 (block 0's timestamp is 0, so it cannot anchor the proof-of-work era).
const MAINNET_FIRST_BLOCK: (u64, u64) = (1, 1_438_269_988);
/// Sepolia: the merge block (TTD reached on 2022-07-06) and an *earlier* time than its real
/// timestamp (2022-07-05 00:00 UTC), so the bound errs high, never low. alloy-hardforks has no
/// usable merge timestamp for sepolia (its `SEPOLIA_PARIS_TIMESTAMP` is the genesis time).
const SEPOLIA_MERGE: (u64, u64) = (1_450_409, 1_656_979_200);

/// The network a peer votes from: its address with everything past the prefix zeroed.
pub fn network_of(ip: IpAddr, v4_prefix: u8, v6_prefix: u8) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(a) => {
            let bits = u32::from(v4_prefix.min(32));
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
        }
        IpAddr::V6(a) => {
            let bits = u32::from(v6_prefix.min(128));
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
        }
    }
}

/// One vote per network: the highest head reported from it. Returns `(network, head)` pairs.
pub fn network_votes(
    claims: impl IntoIterator<Item = (IpAddr, BlockNumber)>,
    v4_prefix: u8,
    v6_prefix: u8,
) -> HashMap<IpAddr, BlockNumber> {
    let mut votes: HashMap<IpAddr, BlockNumber> = HashMap::new();
    for (ip, head) in claims {
        let v = votes
            .entry(network_of(ip, v4_prefix, v6_prefix))
            .or_insert(head);
        *v = (*v).max(head);
    }
    votes
}

/// The `k`-th highest of `votes` (`k` 0 counts as 1); `None` with fewer than `k` votes.
pub fn confirmed_head(votes: &[BlockNumber], k: usize) -> Option<BlockNumber> {
    let k = k.max(1);
    if votes.len() < k {
        return None;
    }
    let mut sorted = votes.to_vec();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    Some(sorted[k - 1])
}

/// Networks that must agree: `head_quorum`, capped by `min_peers` (an operator trusting one peer
/// with `min_peers = 1` trusts one network).
pub fn votes_needed(head_quorum: usize, min_peers: usize) -> usize {
    head_quorum.clamp(1, min_peers.max(1))
}

/// The highest block number the chain can have reached at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadBound {
    /// The first proof-of-stake block and its timestamp: 12 s slots from there.
    pos: (u64, u64),
    /// Proof-of-work era anchor (block, timestamp), if the chain had one: at most one block per
    /// [`POW_BLOCK_SECONDS`] from there until `pos`.
    pow: Option<(u64, u64)>,
    /// Blocks added for clock skew between us and the chain.
    slack: u64,
}

impl HeadBound {
    /// The bound of `spec`'s chain with `slack` blocks of tolerance. Mainnet and sepolia use
    /// their merge; other chains (hoodi, custom) count 12 s slots from their genesis timestamp.
    pub fn for_chain(spec: &ChainSpec, slack: u64) -> Self {
        let (pos, pow) = if spec.genesis_hash == ChainSpec::mainnet().genesis_hash {
            (MAINNET_MERGE, Some(MAINNET_FIRST_BLOCK))
        } else if spec.genesis_hash == ChainSpec::sepolia().genesis_hash {
            (SEPOLIA_MERGE, Some((0, spec.genesis_timestamp)))
        } else {
            ((0, spec.genesis_timestamp), None)
        };
        Self { pos, pow, slack }
    }

    /// The highest plausible head at unix time `now` (seconds).
    pub fn max_head(&self, now: u64) -> BlockNumber {
        let (pos_block, pos_time) = self.pos;
        let n = if now >= pos_time {
            pos_block.saturating_add((now - pos_time) / SLOT_SECONDS)
        } else if let Some((pow_block, pow_time)) = self.pow {
            let pow = pow_block.saturating_add(now.saturating_sub(pow_time) / POW_BLOCK_SECONDS);
            pow.min(pos_block)
        } else {
            pos_block
        };
        BlockNumber(n.saturating_add(self.slack))
    }

    /// Whether a claimed head is possible at `now`.
    pub fn allows(&self, head: BlockNumber, now: u64) -> bool {
        head <= self.max_head(now)
    }
}

/// `head_seen`, monotonic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeadSeen(Option<BlockNumber>);

impl HeadSeen {
    /// The current value.
    pub fn get(&self) -> Option<BlockNumber> {
        self.0
    }

    /// Applies the rule to the current network votes; returns the new value if it rose.
    pub fn update(&mut self, votes: &[BlockNumber], k: usize) -> Option<BlockNumber> {
        let confirmed = confirmed_head(votes, k)?;
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

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn one_liar_cannot_raise_the_head() {
        assert_eq!(
            confirmed_head(&n(&[100, 1_000_000_000, 99]), 2),
            Some(BlockNumber(100))
        );
        // Two votes: the lower one bounds it.
        assert_eq!(confirmed_head(&n(&[5_000, 100]), 2), Some(BlockNumber(100)));
        // Two liars agreeing are a quorum of two: raise the quorum to resist more.
        assert_eq!(
            confirmed_head(&n(&[100, 9_999, 9_999, 100]), 3),
            Some(BlockNumber(100))
        );
    }

    #[test]
    fn too_few_votes_give_nothing() {
        assert_eq!(confirmed_head(&[], 2), None);
        assert_eq!(confirmed_head(&n(&[42]), 2), None);
        assert_eq!(confirmed_head(&n(&[42]), 1), Some(BlockNumber(42)));
        assert_eq!(confirmed_head(&n(&[42]), 0), Some(BlockNumber(42)));
        assert_eq!(votes_needed(2, 3), 2);
        assert_eq!(votes_needed(2, 1), 1);
        assert_eq!(votes_needed(0, 0), 1);
    }

    #[test]
    fn networks_not_ids_vote() {
        assert_eq!(network_of(ip("10.1.2.3"), 24, 48), ip("10.1.2.0"));
        assert_eq!(network_of(ip("::ffff:10.1.2.3"), 24, 48), ip("10.1.2.0"));
        assert_eq!(
            network_of(ip("2001:db8:1:2::5"), 24, 48),
            ip("2001:db8:1::")
        );
        assert_eq!(network_of(ip("10.1.2.3"), 0, 0), ip("0.0.0.0"));
        assert_eq!(network_of(ip("10.1.2.3"), 40, 200), ip("10.1.2.3"));
        // Ten ids on one /24 claiming a far head are one vote; two honest networks outvote it.
        let mut claims: Vec<(IpAddr, BlockNumber)> = (1..=10)
            .map(|i| (ip(&format!("192.0.2.{i}")), BlockNumber(1_000_000)))
            .collect();
        claims.push((ip("198.51.100.7"), BlockNumber(100)));
        claims.push((ip("203.0.113.9"), BlockNumber(101)));
        let votes = network_votes(claims, 24, 48);
        assert_eq!(votes.len(), 3);
        let v: Vec<_> = votes.into_values().collect();
        assert_eq!(confirmed_head(&v, 2), Some(BlockNumber(101)));
        // Alone, the ten are one network: not enough for a quorum of two.
        let only: Vec<_> = (1..=10)
            .map(|i| (ip(&format!("192.0.2.{i}")), BlockNumber(1_000_000)))
            .collect();
        let v: Vec<_> = network_votes(only, 24, 48).into_values().collect();
        assert_eq!(confirmed_head(&v, 2), None);
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

    #[test]
    fn the_physical_bound_follows_the_clock() {
        let mainnet = HeadBound::for_chain(&ChainSpec::mainnet(), 0);
        // Block 24_000_000 was produced around 2025-12 (unix ~1.767e9): allowed.
        assert!(mainnet.allows(BlockNumber(24_000_000), 1_767_747_671));
        // A year's slots ahead of that are not.
        assert!(!mainnet.allows(BlockNumber(24_000_000 + 2_700_000), 1_767_747_671));
        assert!(!mainnet.allows(BlockNumber(1_000_000_000_000_000), 1_767_747_671));
        // At the merge, the merge block; before it, at most one block per 13 s since block 1.
        assert_eq!(mainnet.max_head(1_663_224_162), BlockNumber(15_537_394));
        assert_eq!(mainnet.max_head(1_438_269_988 + 130), BlockNumber(11));
        // The actual head a year after the merge (block ~18.1M on 2023-09-15) is inside.
        assert!(mainnet.allows(BlockNumber(18_140_000), 1_663_224_162 + 365 * 86_400));

        let hoodi = HeadBound::for_chain(&ChainSpec::hoodi(), 64);
        let g = ChainSpec::hoodi().genesis_timestamp;
        assert_eq!(hoodi.max_head(g + 120), BlockNumber(10 + 64));
        // A clock before genesis: only the slack.
        assert_eq!(hoodi.max_head(0), BlockNumber(64));

        let sepolia = HeadBound::for_chain(&ChainSpec::sepolia(), 0);
        // Sepolia was at ~9.5M in late 2025.
        assert!(sepolia.allows(BlockNumber(9_500_000), 1_764_000_000));
        assert!(!sepolia.allows(BlockNumber(20_000_000), 1_764_000_000));
    }
}
