//! `rollback_to(n)`: removes every block above `n` (a reorg in follow mode), truncating sorted
//! segment tails and the hash and transaction indexes in one redb commit (the transactions of
//! unsealed shards are `TX_BLOCKS` entries keyed by block, so nothing is decoded).
//!
//! Shards above `n` that still have a WAL are compacted first (a logical no-op), so truncation only
//! ever cuts a sorted segment. Files are truncated after the commit; if that is interrupted, repair
//! truncates them on open. It must never touch a sealed shard: that is an error, not a rewrite.

use redb::ReadableDatabase;

use super::Storage;
use super::error::WriteError;
use super::fsio;
use super::index;
use super::index::{BLOCK_HASHES, META, SHARDS, TX_BLOCKS, key};
use super::layout::index_entry_offset;
use super::segment::SegmentReader;
use super::shard::{ShardState, seg_data_path, seg_index_path, shard_dir, shards_dir};
use crate::primitives::BlockNumber;

/// What a rollback did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RollbackOutcome {
    /// Blocks removed.
    pub removed: u64,
}

impl Storage {
    /// Removes every stored block above `n`. Fails without change if one of them is in a sealed
    /// shard ([`WriteError::Sealed`]).
    pub fn rollback_to(&self, n: BlockNumber) -> Result<RollbackOutcome, WriteError> {
        let Some(cut_block) = n.get().checked_add(1) else {
            return Ok(RollbackOutcome::default());
        };
        let _w = self.write_lock();
        let first_shard = self.geo.shard_of(cut_block);
        let affected: Vec<(u64, ShardState)> = {
            let txn = self.db.begin_read()?;
            let shards = txn.open_table(SHARDS)?;
            let mut out = Vec::new();
            for item in shards.range(first_shard..)? {
                let (k, _) = item?;
                let s = k.value();
                if let Some(row) = self.row::<WriteError>(&shards, s)? {
                    let cut = if s == first_shard {
                        self.geo.pos_of(cut_block)
                    } else {
                        0
                    };
                    if row.first_present(cut, self.geo.shard_size).is_some() {
                        out.push((s, row.state));
                    }
                }
            }
            out
        };
        if let Some(&(shard, _)) = affected.iter().find(|(_, st)| *st == ShardState::Sealed) {
            return Err(WriteError::Sealed { shard });
        }
        if affected.is_empty() {
            return Ok(RollbackOutcome::default());
        }
        for &(s, st) in &affected {
            if st.awaits_compaction() {
                self.compact_locked(s)?;
            }
        }
        let mut removed = 0u64;
        let mut truncate = Vec::new();
        let mut emptied = Vec::new();
        let txn = self.db.begin_write()?;
        {
            let mut shards = txn.open_table(SHARDS)?;
            let mut hashes = txn.open_table(BLOCK_HASHES)?;
            let mut txs = txn.open_table(TX_BLOCKS)?;
            let mut meta = txn.open_table(META)?;
            for &(s, _) in &affected {
                let Some(mut row) = self.row::<WriteError>(&shards, s)? else {
                    continue;
                };
                let first = self.geo.first_of(s);
                let dir = shard_dir(&self.dir, first);
                let cut = if s == first_shard {
                    self.geo.pos_of(cut_block)
                } else {
                    0
                };
                let entries = u64::from(row.seg_entries);
                let mut new_data_len = row.seg_data_len;
                if row.seg_gen > 0 && cut < entries {
                    let seg = SegmentReader::open(&*self.fs, &dir, row.seg_gen, entries, first)?;
                    let mut first_cut = None;
                    for pos in cut..entries {
                        let e = seg.entry(pos)?;
                        if !e.is_present() {
                            continue;
                        }
                        first_cut.get_or_insert(e.offset);
                        // The tail's transaction entries are keyed by block: no body to read.
                        txs.remove(first + pos)?;
                        hashes.remove(e.hash.0)?;
                        removed += 1;
                    }
                    if let Some(off) = first_cut {
                        new_data_len = off;
                    }
                    row.seg_entries = cut as u32;
                    row.seg_data_len = new_data_len;
                }
                row.clear_from(cut);
                if row.present == 0 {
                    self.check_transition(s, row.state, ShardState::Empty)?;
                    shards.remove(s)?;
                    emptied.push(dir);
                } else {
                    shards.insert(s, row.encode().as_slice())?;
                    truncate.push((
                        dir,
                        row.seg_gen,
                        row.seg_data_len,
                        u64::from(row.seg_entries),
                    ));
                }
            }
            let low = index::meta_u64(&meta, key::LOW)?;
            let contig = index::meta_u64(&meta, key::CONTIG)?;
            match low {
                Some(l) if l > n.get() => {
                    meta.remove(key::LOW)?;
                    meta.remove(key::CONTIG)?;
                }
                _ => {
                    if let Some(c) = contig
                        && c > n.get()
                    {
                        meta.insert(key::CONTIG, &n.get().to_le_bytes()[..])?;
                    }
                }
            }
        }
        self.commit(txn)?;
        // Committed. Trim the files now; if this is interrupted, repair trims them on open.
        for (dir, generation, data_len, entries) in truncate {
            for (path, len) in [
                (seg_data_path(&dir, generation), data_len),
                (
                    seg_index_path(&dir, generation),
                    index_entry_offset(entries),
                ),
            ] {
                let r = fsio::open_rw(&*self.fs, &path, false)
                    .and_then(|f| fsio::truncate_durable(&*f, &path, len));
                if let Err(e) = r {
                    tracing::warn!(error = %e, "truncating after rollback; repair will retry");
                }
            }
        }
        for dir in emptied {
            if let Err(e) = fsio::remove_dir_all(&*self.fs, &dir) {
                tracing::warn!(dir = %dir.display(), error = %e, "removing emptied shard; repair will retry");
            }
        }
        let shards = shards_dir(&self.dir);
        if fsio::fsync_dir(&*self.fs, &shards).is_err() {
            // Removed shard directories past the commit: repair removes them if they come back.
            fsio::abandon(&[&shards]);
        }
        Ok(RollbackOutcome { removed })
    }
}
