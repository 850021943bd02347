//! `histd db stats | compact | repair | verify` on a stopped node's data directory.
//!
//! Owns the subcommand definitions and their reports (text or JSON). The CLI calls
//! `storage::admin::run(data_dir, &cmd)` and prints the string. It must never run against a live
//! node: opening takes the directory lock, so a running histd makes these fail fast.

use std::fmt::Write as _;
use std::path::Path;

use alloy_primitives::{B256, Bloom};
use serde::Serialize;

use super::Storage;
use super::error::{ReadError, StorageError};
use super::index;
use super::index::{META, SHARDS, key};
use super::layout::index_entry_offset;
use super::record::StoredTransactions;
use super::repair::RepairReport;
use super::segment;
use super::shard::{ShardState, shard_dir};
use crate::primitives::BlockNumber;
use crate::verify::{self, SealedHeader};

/// `histd db ...` subcommands.
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum DbCommand {
    /// Per-shard state, sizes and block counts.
    Stats {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Compact every dirty shard and seal every complete one.
    Compact,
    /// Bring shard files back to the committed state (also done on every open) and report it.
    Repair,
    /// Recompute roots and parent links of every stored block; report the first bad block.
    Verify,
}

/// Runs a `db` subcommand on `data_dir` and returns the report to print.
pub fn run(data_dir: &Path, cmd: &DbCommand) -> Result<String, StorageError> {
    let store = Storage::open_existing(data_dir)?;
    match cmd {
        DbCommand::Stats { json } => {
            let stats = store.stats()?;
            if *json {
                serde_json::to_string_pretty(&stats)
                    .map_err(|e| StorageError::Render(e.to_string()))
            } else {
                Ok(stats.to_text())
            }
        }
        DbCommand::Compact => {
            let compacted = store.compact_dirty()?;
            let sealed = store.seal_complete(BlockNumber(u64::MAX))?;
            let mut out = String::new();
            for c in &compacted {
                let _ = writeln!(
                    out,
                    "compacted shard {}: {} blocks, {} WAL bytes -> {} segment bytes",
                    c.shard, c.blocks, c.wal_bytes, c.bytes
                );
            }
            let _ = writeln!(
                out,
                "{} shards compacted, {} sealed",
                compacted.len(),
                sealed.len()
            );
            Ok(out)
        }
        DbCommand::Repair => Ok(render_repair(store.repair_report())),
        DbCommand::Verify => {
            let r = store.verify()?;
            Ok(format!(
                "ok: {} blocks in {} shards verified (roots, parent links, checksums)\n",
                r.blocks, r.shards
            ))
        }
    }
}

fn render_repair(r: &RepairReport) -> String {
    if r.is_clean() {
        return "clean: shard files match the committed index\n".into();
    }
    let mut out = String::new();
    for s in &r.interrupted_compactions {
        let _ = writeln!(out, "shard {s}: interrupted compaction rolled back");
    }
    for (p, n) in &r.truncated {
        let _ = writeln!(out, "truncated {n} uncommitted bytes from {}", p.display());
    }
    for p in &r.removed_files {
        let _ = writeln!(out, "removed uncommitted file {}", p.display());
    }
    for p in &r.removed_dirs {
        let _ = writeln!(out, "removed uncommitted shard directory {}", p.display());
    }
    out
}

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

impl StoreStats {
    /// Human-readable table.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let opt = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
        let _ = writeln!(
            out,
            "chain {} genesis {} shard size {}\nhead_seen {} lowest {} last_contiguous {}\n{} blocks, {} WAL bytes, {} segment bytes, {} index bytes",
            self.chain_id,
            self.genesis_hash,
            self.shard_size,
            opt(self.head_seen),
            opt(self.lowest),
            opt(self.last_contiguous),
            self.blocks,
            self.wal_bytes,
            self.segment_bytes,
            self.index_bytes
        );
        let _ = writeln!(
            out,
            "{:>8} {:>12} {:>10} {:>8} {:>12} {:>14}",
            "shard", "first", "state", "blocks", "wal", "segment"
        );
        for s in &self.shards {
            let _ = writeln!(
                out,
                "{:>8} {:>12} {:>10} {:>8} {:>12} {:>14}",
                s.shard,
                s.first_block,
                s.state.name(),
                s.blocks,
                s.wal_bytes,
                s.segment_bytes
            );
        }
        out
    }
}

/// `db verify` result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyReport {
    /// Blocks checked.
    pub blocks: u64,
    /// Shards checked.
    pub shards: u64,
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
            index_bytes: std::fs::metadata(&self.index_path).map_or(0, |m| m.len()),
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

    /// Recomputes every stored block's hash, roots and bloom, checks parent links between
    /// consecutive stored blocks, the hash index and sealed checksums. The first bad block is an
    /// error naming it.
    pub fn verify(&self) -> Result<VerifyReport, StorageError> {
        let rows = {
            let txn = self.read_txn()?;
            let shards = txn.open_table(SHARDS).map_err(ReadError::from)?;
            let mut rows = Vec::new();
            for item in redb::ReadableTable::range(&shards, 0u64..).map_err(ReadError::from)? {
                let (k, _) = item.map_err(ReadError::from)?;
                if let Some(row) = self.row::<ReadError>(&shards, k.value())? {
                    rows.push((k.value(), row));
                }
            }
            rows
        };
        let mut report = VerifyReport {
            blocks: 0,
            shards: 0,
        };
        let mut prev: Option<SealedHeader> = None;
        for (s, row) in rows {
            report.shards += 1;
            let first = self.geo.first_of(s);
            if row.state == ShardState::Sealed {
                let dir = shard_dir(&self.dir, first);
                let crc = segment::checksum(
                    &dir,
                    row.seg_gen,
                    row.seg_data_len,
                    u64::from(row.seg_entries),
                )
                .map_err(ReadError::from)?;
                if crc != row.seal_crc {
                    return Err(StorageError::Verify {
                        number: BlockNumber(first),
                        reason: format!(
                            "sealed shard {s} checksum {crc:08x}, recorded {:08x}",
                            row.seal_crc
                        ),
                    });
                }
            }
            for pos in 0..self.geo.shard_size {
                if !row.has(pos) {
                    continue;
                }
                let n = BlockNumber(first + pos);
                let bad = |reason: String| StorageError::Verify { number: n, reason };
                let block = self
                    .stored_block(n)
                    .map_err(|e| bad(e.to_string()))?
                    .ok_or_else(|| bad("marked present but unreadable".into()))?;
                let sealed = SealedHeader::seal(block.header.clone());
                if sealed.hash != block.hash {
                    return Err(bad(format!(
                        "header hashes to {}, stored as {}",
                        sealed.hash, block.hash
                    )));
                }
                if self.block_number(&block.hash)? != Some(n) {
                    return Err(bad("hash index does not point at this block".into()));
                }
                if let Some(p) = &prev
                    && p.number().next() == n
                {
                    verify::check_link(p, &sealed).map_err(|e| bad(e.to_string()))?;
                }
                match block.clone().into_verified() {
                    Some(v) => {
                        let (_, _, body, receipts) = v.into_parts();
                        verify::verify_block(sealed.clone(), body, receipts)
                            .map_err(|e| bad(e.to_string()))?;
                    }
                    None => {
                        // Hashes only: the transactions root cannot be recomputed; receipts can.
                        if let StoredTransactions::Hashes(h) = &block.body.transactions
                            && h.len() != block.receipts.len()
                        {
                            return Err(bad(format!(
                                "{} receipts for {} transactions",
                                block.receipts.len(),
                                h.len()
                            )));
                        }
                        let root = verify::receipts_root(&block.receipts);
                        if root != block.header.receipts_root {
                            return Err(bad(format!(
                                "receiptsRoot {root}, header says {}",
                                block.header.receipts_root
                            )));
                        }
                        let mut bloom = Bloom::ZERO;
                        for r in &block.receipts {
                            bloom |= r.bloom();
                        }
                        if bloom != block.header.logs_bloom {
                            return Err(bad("logsBloom differs from the receipts' logs".into()));
                        }
                    }
                }
                prev = Some(sealed);
                report.blocks += 1;
            }
        }
        Ok(report)
    }
}
