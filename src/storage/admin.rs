//! What `histd db stats | verify` read from a stopped node's data directory, as data.
//!
//! Owns the store-wide figures ([`StoreStats`]) and the per-shard input of an integrity walk
//! ([`ShardContents`], [`Storage::check_seal`]): which blocks a shard holds and whether a sealed
//! shard's log index is there and matches its logs, and whether a sealed
//! shard still matches its recorded checksum. It must never parse commands, print, or apply the
//! block rules (`verify`): the CLI (`cli::db`) does those over what this returns, so storage
//! stays below `verify`'s users and knows nothing of clap.

use alloy_primitives::B256;
use serde::Serialize;

use super::Storage;
use super::error::{ReadError, StorageError};
use super::index;
use super::index::{META, SHARDS, key};
use super::layout::{ShardRow, index_entry_offset};
use super::segment;
use super::shard::{ShardState, shard_dir};
use crate::primitives::BlockNumber;

/// One shard in `db stats`.
#[derive(Debug, Clone, Serialize)]
pub struct ShardStats {
    /// Shard index.
    pub shard: u64,
    /// First block.
    pub first_block: u64,
    /// State.
    pub state: ShardState,
    /// Blocks present.
    pub blocks: u64,
    /// Committed WAL bytes.
    pub wal_bytes: u64,
    /// Committed segment bytes (data + offset table).
    pub segment_bytes: u64,
}

/// `db stats` report.
#[derive(Debug, Clone, Serialize)]
pub struct StoreStats {
    /// Chain id.
    pub chain_id: u64,
    /// Genesis hash.
    pub genesis_hash: B256,
    /// Blocks per shard.
    pub shard_size: u64,
    /// Highest head seen.
    pub head_seen: Option<u64>,
    /// Lowest stored block.
    pub lowest: Option<u64>,
    /// Last contiguous block.
    pub last_contiguous: Option<u64>,
    /// Blocks stored.
    pub blocks: u64,
    /// WAL bytes over all shards.
    pub wal_bytes: u64,
    /// Segment bytes over all shards.
    pub segment_bytes: u64,
    /// Size of index.redb.
    pub index_bytes: u64,
    /// Non-empty shards.
    pub shards: Vec<ShardStats>,
}

/// One shard as an integrity walk sees it (from [`Storage::shard_contents`]).
#[derive(Debug, Clone)]
pub struct ShardContents {
    /// Shard index.
    pub shard: u64,
    /// Its first block.
    pub first_block: BlockNumber,
    /// The blocks it holds, ascending.
    pub present: Vec<BlockNumber>,
    /// The committed row, for [`Storage::check_seal`].
    row: ShardRow,
}

impl Storage {
    /// Per-shard state, sizes and counts.
    pub fn stats(&self) -> Result<StoreStats, ReadError> {
        let txn = self.read_txn()?;
        let meta = txn.open_table(META)?;
        let shards = txn.open_table(SHARDS)?;
        let mut out = StoreStats {
            chain_id: self.chain_id,
            genesis_hash: self.genesis,
            shard_size: self.geo.shard_size,
            head_seen: index::meta_u64(&meta, key::HEAD_SEEN)?,
            lowest: index::meta_u64(&meta, key::LOW)?,
            last_contiguous: index::meta_u64(&meta, key::CONTIG)?,
            blocks: 0,
            wal_bytes: 0,
            segment_bytes: 0,
            index_bytes: self
                .fs
                .open(&self.index_path, super::backend::OpenMode::Read)
                .and_then(|f| f.len())
                .unwrap_or(0),
            shards: Vec::new(),
        };
        for item in redb::ReadableTable::range(&shards, 0u64..)? {
            let (k, _) = item?;
            let s = k.value();
            let Some(row) = self.row::<ReadError>(&shards, s)? else {
                continue;
            };
            let seg = if row.seg_gen > 0 {
                row.seg_data_len + index_entry_offset(u64::from(row.seg_entries))
            } else {
                0
            };
            out.blocks += u64::from(row.present);
            out.wal_bytes += row.wal_len;
            out.segment_bytes += seg;
            out.shards.push(ShardStats {
                shard: s,
                first_block: self.geo.first_of(s),
                state: row.state,
                blocks: u64::from(row.present),
                wal_bytes: row.wal_len,
                segment_bytes: seg,
            });
        }
        Ok(out)
    }

    /// Every non-empty shard in order, with the blocks it holds, read in one transaction.
    pub fn shard_contents(&self) -> Result<Vec<ShardContents>, ReadError> {
        let txn = self.read_txn()?;
        let shards = txn.open_table(SHARDS)?;
        let mut out = Vec::new();
        for item in redb::ReadableTable::range(&shards, 0u64..)? {
            let (k, _) = item?;
            let s = k.value();
            if let Some(row) = self.row::<ReadError>(&shards, s)? {
                let first = self.geo.first_of(s);
                let present = (0..self.geo.shard_size)
                    .filter(|&pos| row.has(pos))
                    .map(|pos| BlockNumber(first + pos))
                    .collect();
                out.push(ShardContents {
                    shard: s,
                    first_block: BlockNumber(first),
                    present,
                    row,
                });
            }
        }
        Ok(out)
    }

    /// For a sealed shard, recomputes the segment checksum and compares it with the one recorded
    /// at sealing, and checks its log and transaction indexes (present, checksummed, and what
    /// its logs and transactions build);
    /// other shards pass. A mismatch is [`StorageError::Verify`] naming the shard's first block.
    pub fn check_seal(&self, contents: &ShardContents) -> Result<(), StorageError> {
        let row = &contents.row;
        if row.state != ShardState::Sealed {
            return Ok(());
        }
        let dir = shard_dir(&self.dir, contents.first_block.get());
        let crc = segment::checksum(
            &*self.fs,
            &dir,
            row.seg_gen,
            row.seg_data_len,
            u64::from(row.seg_entries),
        )
        .map_err(ReadError::from)?;
        if crc != row.seal_crc {
            return Err(StorageError::Verify {
                number: contents.first_block,
                reason: format!(
                    "sealed shard {} checksum {crc:08x}, recorded {:08x}",
                    contents.shard, row.seal_crc
                ),
            });
        }
        self.check_log_index(contents.shard, row)?;
        self.check_tx_index(contents.shard, row)
    }
}
