//! Block numbers as their own type, so a block number is never confused with a count, an index or a
//! shard id.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A block height on the canonical chain.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct BlockNumber(pub u64);

impl BlockNumber {
    /// Genesis.
    pub const ZERO: Self = Self(0);

    /// The raw height.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The block after this one (saturating at `u64::MAX`, which no chain reaches).
    pub const fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }

    /// The block before this one, or `None` at genesis.
    pub const fn prev(self) -> Option<Self> {
        match self.0.checked_sub(1) {
            Some(n) => Some(Self(n)),
            None => None,
        }
    }

    /// `self + blocks`, saturating.
    pub const fn saturating_add(self, blocks: u64) -> Self {
        Self(self.0.saturating_add(blocks))
    }

    /// `self - blocks`, saturating at genesis.
    pub const fn saturating_sub(self, blocks: u64) -> Self {
        Self(self.0.saturating_sub(blocks))
    }

    /// Number of blocks in `self ..= end` (0 when `end < self`).
    pub const fn blocks_through(self, end: Self) -> u64 {
        if end.0 < self.0 {
            0
        } else {
            end.0 - self.0 + 1
        }
    }
}

impl fmt::Display for BlockNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<u64> for BlockNumber {
    fn from(n: u64) -> Self {
        Self(n)
    }
}

impl From<BlockNumber> for u64 {
    fn from(n: BlockNumber) -> Self {
        n.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_and_counts_inclusively() {
        assert_eq!(BlockNumber(0).prev(), None);
        assert_eq!(BlockNumber(5).prev(), Some(BlockNumber(4)));
        assert_eq!(BlockNumber(3).saturating_sub(10), BlockNumber::ZERO);
        assert_eq!(BlockNumber(10).blocks_through(BlockNumber(19)), 10);
        assert_eq!(BlockNumber(10).blocks_through(BlockNumber(9)), 0);
    }
}
