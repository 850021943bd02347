//! Compaction: turns a Filling shard (WAL, maybe beside an older segment) into one sorted segment of
//! a new generation, checking parent links between consecutive blocks on the way, including across
//! the shard's edges where the neighbouring blocks are stored ("linkage checked where ranges meet,
//! at the latest at compaction").
//!
//! Protocol: commit state Compacting → write `seg-<g+1>.{dat,idx}.tmp` → fsync → rename → fsync
//! directory → commit the new generation (state Sorted, WAL length 0) → remove the WAL and the old
//! generation. A crash anywhere leaves the old committed state, which `repair.rs` restores.
//! Memory is bounded: one pass over WAL record heads (one small entry per shard position), then one
//! block's frames at a time. It must never read a WAL whole, and runs under the writer lock, so only
//! one compaction runs at a time.

use alloy_primitives::B256;
use redb::ReadableDatabase;

use super::Storage;
use super::error::{CorruptError, FileError, WriteError};
use super::fsio;
use super::index::SHARDS;
use super::layout::{FrameLens, ShardRow};
use super::record;
use super::segment::{SegmentReader, SegmentWriter};
use super::shard::{ShardState, seg_data_path, seg_index_path, shard_dir, tmp_path, wal_path};
use super::wal::{self, WalEntry, WalScanner};
use crate::primitives::BlockNumber;

/// What one compaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactOutcome {
    /// The shard.
    pub shard: u64,
    /// Blocks in the new segment.
    pub blocks: u64,
    /// Bytes of block frames written.
    pub bytes: u64,
    /// WAL bytes folded in.
    pub wal_bytes: u64,
}

/// A dirty shard whose compaction failed; [`Storage::compact_dirty`] went on with the others.
#[derive(Debug)]
pub struct CompactFailure {
    /// The shard, still dirty (its WAL and committed state are as before).
    pub shard: u64,
    /// Why. [`WriteError::BrokenLink`] is a storage fault: only anchored, verified blocks reach
    /// storage, so blocks that do not hash-link were damaged here (`histd db repair
    /// --drop-broken` drops the shard's blocks so they are fetched again).
    pub error: WriteError,
}

impl CompactFailure {
    /// Whether the shard's blocks do not hash-link (the fault `db repair --drop-broken` fixes).
    pub fn is_broken_link(&self) -> bool {
        matches!(self.error, WriteError::BrokenLink { .. })
    }
}

/// What [`Storage::compact_dirty`] did: every dirty shard was tried, in order; one failing does
/// not stop the others.
#[derive(Debug, Default)]
pub struct CompactReport {
    /// Shards compacted now.
    pub compacted: Vec<CompactOutcome>,
    /// Shards whose compaction failed (left dirty).
    pub failed: Vec<CompactFailure>,
}

impl CompactReport {
    /// The shards that failed.
    pub fn failed_shards(&self) -> Vec<u64> {
        self.failed.iter().map(|f| f.shard).collect()
    }

    /// The compacted shards, or the first failure, for callers that treat any failure as theirs
    /// (the crash workloads, which expect an injected fault back).
    pub fn into_result(self) -> Result<Vec<CompactOutcome>, WriteError> {
        match self.failed.into_iter().next() {
            Some(f) => Err(f.error),
            None => Ok(self.compacted),
        }
    }
}

impl Storage {
    /// Compacts one shard if it is Filling (or left Compacting by a failed compaction whose undo
    /// could not be committed); `None` if there was nothing to do.
    pub fn compact(&self, shard: u64) -> Result<Option<CompactOutcome>, WriteError> {
        let _w = self.write_lock();
        self.compact_locked(shard)
    }

    /// Compacts every Filling shard, one at a time, lowest first. A shard that fails (a broken
    /// link, a damaged WAL, an I/O error) is left as it was and reported in
    /// [`CompactReport::failed`]; the others are still compacted, so one bad shard never holds the
    /// rest dirty. `Err` only when the list of dirty shards cannot be read.
    pub fn compact_dirty(&self) -> Result<CompactReport, WriteError> {
        let _w = self.write_lock();
        let dirty: Vec<u64> = {
            let txn = self.db.begin_read()?;
            let shards = txn.open_table(SHARDS)?;
            let mut out = Vec::new();
            for item in shards.range(0u64..)? {
                let (k, _) = item?;
                if let Some(row) = self.row::<WriteError>(&shards, k.value())?
                    && row.state.awaits_compaction()
                {
                    out.push(k.value());
                }
            }
            out
        };
        let mut report = CompactReport::default();
        for s in dirty {
            match self.compact_locked(s) {
                Ok(Some(o)) => report.compacted.push(o),
                Ok(None) => {}
                Err(error) => {
                    if let WriteError::BrokenLink {
                        number,
                        expected,
                        got,
                        ..
                    } = &error
                    {
                        tracing::error!(
                            shard = s,
                            block = number.get(),
                            %expected,
                            %got,
                            "storage fault: the blocks of this shard do not hash-link; it stays dirty, the other shards are compacted"
                        );
                    } else {
                        tracing::warn!(shard = s, %error, "compaction of this shard failed; it stays dirty, the other shards are compacted");
                    }
                    report.failed.push(CompactFailure { shard: s, error });
                }
            }
        }
        Ok(report)
    }

    /// Seals every complete shard whose last block is at or below `up_to`, like
    /// [`Self::seal_complete`], except the shards in `skip` (those whose compaction just failed:
    /// sealing compacts first, so it would fail on them again and stop the others). Returns the
    /// shards sealed.
    pub fn seal_complete_except(
        &self,
        up_to: BlockNumber,
        skip: &[u64],
    ) -> Result<Vec<u64>, WriteError> {
        let candidates: Vec<u64> = {
            let txn = self.db.begin_read()?;
            let shards = txn.open_table(SHARDS)?;
            let mut out = Vec::new();
            for item in shards.range(0u64..)? {
                let (k, _) = item?;
                let s = k.value();
                if self.geo.last_of(s) > up_to.get() {
                    break;
                }
                if let Some(row) = self.row::<WriteError>(&shards, s)?
                    && row.state != ShardState::Sealed
                    && u64::from(row.present) == self.geo.shard_size
                    && !skip.contains(&s)
                {
                    out.push(s);
                }
            }
            out
        };
        let mut sealed = Vec::new();
        for s in candidates {
            if self.seal(s)? {
                sealed.push(s);
            }
        }
        Ok(sealed)
    }

    pub(super) fn compact_locked(&self, shard: u64) -> Result<Option<CompactOutcome>, WriteError> {
        let _cpu = crate::stage_cpu::Stage::Compaction.timer();
        let Some(mut row) = self.read_row(shard)? else {
            return Ok(None);
        };
        if !row.state.awaits_compaction() {
            return Ok(None);
        }
        let started = std::time::Instant::now();
        self.check_transition(shard, row.state, ShardState::Compacting)?;
        row.state = ShardState::Compacting;
        self.commit_row(shard, &row)?;
        let first = self.geo.first_of(shard);
        let dir = shard_dir(&self.dir, first);
        let new_gen = row.seg_gen + 1;
        let written = match self.write_generation(shard, &row, new_gen) {
            Ok(w) => w,
            Err(e) => {
                // Nothing new is committed: drop the tmp files and return to Filling. The tmp files
                // are referenced by no commit, so whether their removal is durable does not matter.
                let data_tmp = tmp_path(&seg_data_path(&dir, new_gen));
                let index_tmp = tmp_path(&seg_index_path(&dir, new_gen));
                let _ = fsio::remove_file_if_exists(&*self.fs, &data_tmp);
                let _ = fsio::remove_file_if_exists(&*self.fs, &index_tmp);
                let _ = fsio::fsync_dir(&*self.fs, &dir);
                fsio::abandon(&[&data_tmp, &index_tmp, &dir]);
                row.state = ShardState::Filling;
                if let Err(undo) = self.commit_row(shard, &row) {
                    // redb still says Compacting. Nothing relies on it: the next compaction of
                    // this shard (a put or append may also return it to Filling first) or the
                    // next open settles it. The compaction's own failure is the one to report.
                    tracing::warn!(shard, error = %undo, "could not return shard to Filling after a failed compaction; the next compaction or reopen settles it");
                }
                return Err(e);
            }
        };
        let old_gen = row.seg_gen;
        let wal_bytes = row.wal_len;
        self.check_transition(shard, ShardState::Compacting, ShardState::Sorted)?;
        row.state = ShardState::Sorted;
        row.seg_gen = new_gen;
        row.seg_data_len = written.data_len;
        row.seg_entries = written.entries as u32;
        row.wal_len = 0;
        self.commit_row(shard, &row)?;
        // Committed: the WAL and the old generation are garbage now (repair removes them too).
        let mut cleanup = vec![wal_path(&dir)];
        if old_gen > 0 {
            cleanup.push(seg_data_path(&dir, old_gen));
            cleanup.push(seg_index_path(&dir, old_gen));
        }
        for p in cleanup {
            if let Err(e) = fsio::remove_file_if_exists(&*self.fs, &p) {
                tracing::warn!(error = %e, "leftover file after compaction; repair removes it");
            }
        }
        if let Err(e) = fsio::fsync_dir(&*self.fs, &dir) {
            // The removals need not be durable: the files are past the commit, and repair removes
            // them if they come back.
            fsio::abandon(&[&dir]);
            tracing::warn!(error = %e, "fsync after compaction cleanup");
        }
        ::metrics::histogram!(crate::metrics::COMPACTION_SECONDS)
            .record(started.elapsed().as_secs_f64());
        Ok(Some(CompactOutcome {
            shard,
            blocks: u64::from(row.present),
            bytes: written.data_len,
            wal_bytes,
        }))
    }

    fn write_generation(
        &self,
        shard: u64,
        row: &ShardRow,
        new_gen: u32,
    ) -> Result<Written, WriteError> {
        let first = self.geo.first_of(shard);
        let dir = shard_dir(&self.dir, first);
        let size = self.geo.shard_size;
        // Pass 1: where each WAL record is (heads only).
        let mut at: Vec<Option<WalEntry>> = vec![None; size as usize];
        let mut wal_file = None;
        if row.wal_len > 0 {
            let mut scan = WalScanner::open(&*self.fs, &dir, first, row.wal_len)?;
            while let Some(e) = scan.next_head()? {
                if self.geo.shard_of(e.head.number) != shard {
                    return Err(corrupt(
                        &wal_path(&dir),
                        e.offset,
                        format!("record for block {} in shard {shard}", e.head.number),
                    ));
                }
                at[self.geo.pos_of(e.head.number) as usize] = Some(e);
            }
            wal_file = Some(wal::open_for_read(&*self.fs, &dir)?);
        }
        let old = if row.seg_gen > 0 {
            Some(SegmentReader::open(
                &*self.fs,
                &dir,
                row.seg_gen,
                u64::from(row.seg_entries),
                first,
            )?)
        } else {
            None
        };
        // Pass 2: every present block in order, one at a time.
        let data_final = seg_data_path(&dir, new_gen);
        let index_final = seg_index_path(&dir, new_gen);
        let mut out = SegmentWriter::create(
            &*self.fs,
            tmp_path(&data_final),
            tmp_path(&index_final),
            first,
        )?;
        // The block before this shard, if stored, anchors the link check of the first block.
        let mut prev: Option<(u64, B256)> = match first.checked_sub(1) {
            Some(before) if row.has(0) => self.hash_and_header(before)?.map(|(h, _)| (before, h)),
            _ => None,
        };
        for pos in 0..size {
            if !row.has(pos) {
                continue;
            }
            let n = first + pos;
            let from_old = match &old {
                Some(seg) => {
                    let e = seg.entry(pos)?;
                    if e.is_present() {
                        Some((e.lens, seg.frames(&e)?, e.hash))
                    } else {
                        None
                    }
                }
                None => None,
            };
            let (lens, frames, hash): (FrameLens, Vec<u8>, B256) = match from_old {
                Some(x) => x,
                None => match (&at[pos as usize], &wal_file) {
                    (Some(e), Some((file, path))) => (
                        e.head.lens,
                        wal::read_record(&**file, path, e)?,
                        e.head.hash,
                    ),
                    _ => {
                        return Err(corrupt(
                            &dir,
                            0,
                            format!(
                                "block {n} is marked present but is in neither segment nor WAL"
                            ),
                        ));
                    }
                },
            };
            if let Some((pn, ph)) = prev
                && pn + 1 == n
            {
                let header = record::decode_header(&frames[..lens.header as usize], &hash)
                    .map_err(|what| corrupt(&dir, 0, format!("block {n}: {what}")))?;
                if header.parent_hash != ph {
                    return Err(WriteError::BrokenLink {
                        shard,
                        number: BlockNumber(n),
                        expected: ph,
                        got: header.parent_hash,
                    });
                }
            }
            out.push(pos, lens, &frames, crc32fast::hash(&frames), hash)?;
            prev = Some((n, hash));
        }
        // Where this shard meets the next one, the next shard's first block must link to our last.
        if let Some((last, last_hash)) = prev
            && last == self.geo.last_of(shard)
            && let Some(after) = last.checked_add(1)
            && let Some((_, header)) = self.hash_and_header(after)?
            && header.parent_hash != last_hash
        {
            return Err(WriteError::BrokenLink {
                shard,
                number: BlockNumber(after),
                expected: last_hash,
                got: header.parent_hash,
            });
        }
        let (data_len, entries) = out.finish()?;
        fsio::rename(&*self.fs, &tmp_path(&data_final), &data_final)?;
        fsio::rename(&*self.fs, &tmp_path(&index_final), &index_final)?;
        fsio::fsync_dir(&*self.fs, &dir)?;
        Ok(Written { data_len, entries })
    }
}

struct Written {
    data_len: u64,
    entries: u64,
}

fn corrupt(path: &std::path::Path, offset: u64, what: String) -> WriteError {
    FileError::from(CorruptError {
        path: path.to_path_buf(),
        offset,
        what,
    })
    .into()
}
