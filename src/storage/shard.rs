//! The shard lifecycle: its states, the only transitions allowed between them (the table that
//! `state-diagrams/shard.mmd` must match), and shard geometry (which shard holds which block, where
//! its files live). It must never touch files or redb itself.
//!
//! ```text
//! Empty ──put──▶ Filling ──compact──▶ Compacting ──commit──▶ Sorted ──seal──▶ Sealed
//!   └──append_sorted──────────────────────────────────────────▶ Sorted
//! ```

use std::path::{Path, PathBuf};

use serde::Serialize;

/// A shard's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ShardState {
    /// Nothing stored (no redb row, no directory).
    Empty,
    /// Blocks in an append-only WAL, any order (possibly beside a sorted segment from earlier).
    Filling,
    /// A compaction is writing a new segment generation; on a crash, repair returns to Filling. Also
    /// left behind, until the next compaction or open, when a failed compaction's return to Filling
    /// could not be committed.
    Compacting,
    /// Everything in one sorted segment; follow mode may append to its tail.
    Sorted,
    /// Complete, checksummed, immutable.
    Sealed,
}

/// Every allowed transition and what causes it. `state-diagrams/shard.mmd` is checked against it.
pub const TRANSITIONS: &[(ShardState, ShardState, &str)] = &[
    (ShardState::Empty, ShardState::Filling, "put_unordered"),
    (ShardState::Empty, ShardState::Sorted, "append_sorted"),
    (ShardState::Filling, ShardState::Compacting, "compact"),
    (
        ShardState::Compacting,
        ShardState::Sorted,
        "compaction committed",
    ),
    (
        ShardState::Compacting,
        ShardState::Filling,
        "crash or broken link - repair",
    ),
    (
        ShardState::Sorted,
        ShardState::Filling,
        "put_unordered or append behind a gap",
    ),
    (ShardState::Sorted, ShardState::Sealed, "seal (complete)"),
    (
        ShardState::Sorted,
        ShardState::Empty,
        "rollback_to removed every block",
    ),
    (
        ShardState::Filling,
        ShardState::Empty,
        "drop_shard - db repair --drop-broken",
    ),
    (
        ShardState::Sorted,
        ShardState::Empty,
        "drop_shard - db repair --drop-broken",
    ),
];

impl ShardState {
    /// Whether `self -> to` is in [`TRANSITIONS`] (staying in a state is always allowed).
    pub fn can_become(self, to: ShardState) -> bool {
        self == to || TRANSITIONS.iter().any(|&(a, b, _)| a == self && b == to)
    }

    /// Whether a compaction is due. Compacting counts: it is only seen under the writer lock (where
    /// no compaction runs) when a failed compaction's return to Filling could not be committed, and
    /// running the compaction again finishes or undoes it, as reopen's repair would.
    pub fn awaits_compaction(self) -> bool {
        matches!(self, ShardState::Filling | ShardState::Compacting)
    }

    /// Row code (see `layout.rs`).
    pub(crate) fn code(self) -> u8 {
        match self {
            ShardState::Empty => 0,
            ShardState::Filling => 1,
            ShardState::Compacting => 2,
            ShardState::Sorted => 3,
            ShardState::Sealed => 4,
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => ShardState::Filling,
            2 => ShardState::Compacting,
            3 => ShardState::Sorted,
            4 => ShardState::Sealed,
            _ => return None,
        })
    }

    /// Lower-case name for reports.
    pub fn name(self) -> &'static str {
        match self {
            ShardState::Empty => "empty",
            ShardState::Filling => "filling",
            ShardState::Compacting => "compacting",
            ShardState::Sorted => "sorted",
            ShardState::Sealed => "sealed",
        }
    }
}

/// Which shard holds which block, and where shard files live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Blocks per shard.
    pub shard_size: u64,
}

impl Geometry {
    /// Shard index of block `n`.
    pub fn shard_of(&self, n: u64) -> u64 {
        n / self.shard_size
    }

    /// Position of block `n` inside its shard.
    pub fn pos_of(&self, n: u64) -> u64 {
        n % self.shard_size
    }

    /// First block of shard `s`.
    pub fn first_of(&self, s: u64) -> u64 {
        s * self.shard_size
    }

    /// Last block of shard `s` (saturating: the last shard may be cut short by `u64::MAX`).
    pub fn last_of(&self, s: u64) -> u64 {
        self.first_of(s).saturating_add(self.shard_size - 1)
    }
}

/// `data_dir/shards`.
pub fn shards_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("shards")
}

/// `data_dir/shards/<first block, 12 digits>`.
pub fn shard_dir(data_dir: &Path, first_block: u64) -> PathBuf {
    shards_dir(data_dir).join(format!("{first_block:012}"))
}

/// The WAL of a shard directory.
pub fn wal_path(dir: &Path) -> PathBuf {
    dir.join("wal")
}

/// Segment data file of generation `gen`.
pub fn seg_data_path(dir: &Path, generation: u32) -> PathBuf {
    dir.join(format!("seg-{generation}.dat"))
}

/// Segment index file of generation `gen`.
pub fn seg_index_path(dir: &Path, generation: u32) -> PathBuf {
    dir.join(format!("seg-{generation}.idx"))
}

/// Temporary name a compaction writes before the rename.
pub fn tmp_path(final_path: &Path) -> PathBuf {
    let mut name = final_path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_is_final_and_codes_round_trip() {
        for s in [
            ShardState::Filling,
            ShardState::Compacting,
            ShardState::Sorted,
            ShardState::Sealed,
        ] {
            assert_eq!(ShardState::from_code(s.code()), Some(s));
        }
        assert!(!ShardState::Sealed.can_become(ShardState::Filling));
        assert!(!ShardState::Filling.can_become(ShardState::Sealed));
        assert!(ShardState::Filling.can_become(ShardState::Compacting));
    }
}
