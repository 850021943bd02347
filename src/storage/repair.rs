//! Recovery on open ("redb commits last", checked): makes shard files agree with what redb says is
//! committed. Bytes past a committed length are truncated, files of uncommitted generations and tmp
//! files removed, directories of shards redb does not know removed, interrupted compactions returned
//! to Filling. Committed bytes that are missing are an error, never silently dropped.
//!
//! It must never change what redb says is committed, other than undoing the Compacting mark.
//!
//! Also the remedy for a shard whose blocks do not hash-link (`histd db repair`): [`Storage::
//! link_faults`] finds such shards without changing anything, and [`Storage::drop_shard`] removes
//! one shard's blocks (rows, hash and transaction index entries, files) so fast-sync fetches them
//! again. Only anchored, verified blocks reach storage, so such a break is a storage fault, never
//! a peer's: dropping is the repair, and it runs only when the operator asks for it.

use std::path::PathBuf;

use alloy_primitives::B256;
use redb::ReadableTable;
use serde::Serialize;

use super::Storage;
use super::error::{CorruptError, IoContext, OpenError, ReadError, WriteError};
use super::fsio;
use super::index::{self, BLOCK_HASHES, META, SHARDS, TX_BLOCKS, key};
use super::layout::{ShardRow, index_entry_offset};
use super::log_index;
use super::read::ShardFiles;
use super::shard::{ShardState, seg_data_path, seg_index_path, shard_dir, shards_dir, wal_path};
use super::tx_index;
use crate::primitives::BlockNumber;

/// A shard whose stored blocks do not hash-link (found by [`Storage::link_faults`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkFault {
    /// The shard to drop (the unsealed one, when the break is where two shards meet).
    pub shard: u64,
    /// Its first block.
    pub first_block: BlockNumber,
    /// The block whose parent hash is not the hash of the block stored before it.
    pub number: BlockNumber,
    /// The hash of the block stored before it.
    pub expected: B256,
    /// The parent hash `number` names.
    pub got: B256,
}

/// What [`Storage::drop_shard`] removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct DropOutcome {
    /// The shard.
    pub shard: u64,
    /// Blocks removed.
    pub blocks: u64,
    /// Whether some block could not be read, so the block hash index was scanned for the
    /// shard's entries instead of being cleaned block by block.
    pub scanned_indexes: bool,
}

/// What the open-time repair found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RepairReport {
    /// Shards whose compaction was interrupted (returned to Filling).
    pub interrupted_compactions: Vec<u64>,
    /// Files truncated to their committed length, with the bytes cut.
    pub truncated: Vec<(PathBuf, u64)>,
    /// Uncommitted files removed.
    pub removed_files: Vec<PathBuf>,
    /// Directories of uncommitted shards removed.
    pub removed_dirs: Vec<PathBuf>,
    /// Sealed shards whose missing log index was written again.
    pub rebuilt_log_indexes: Vec<u64>,
    /// Sealed shards whose missing or unreadable transaction index was written again.
    pub rebuilt_tx_indexes: Vec<u64>,
    /// Transaction runs removed: tmp runs, and runs whose shards are no longer sealed as they
    /// record (dropped, rolled back, sealed again) or that do not open.
    pub removed_tx_runs: Vec<PathBuf>,
    /// Groups of sealed shards (their first shard) whose missing transaction run was written.
    pub rebuilt_tx_runs: Vec<u64>,
    /// Sealed shards whose transaction index file was written back from a run that no longer
    /// matches (its group changed), not rebuilt from their segments.
    pub split_tx_indexes: Vec<u64>,
    /// Sealed shards whose transaction index file a valid run covers, removed (left by a crash
    /// between the run's rename and the removal of its shards' files).
    pub removed_covered_tx_indexes: Vec<u64>,
}

impl RepairReport {
    /// Whether anything needed repair.
    pub fn is_clean(&self) -> bool {
        self == &Self::default()
    }
}

impl Storage {
    pub(super) fn repair_on_open(&self) -> Result<RepairReport, OpenError> {
        let mut report = RepairReport::default();
        let mut rows: Vec<(u64, ShardRow)> = Vec::new();
        let txn = self.db.begin_write()?;
        {
            let mut shards = txn.open_table(SHARDS)?;
            let keys: Vec<u64> = shards
                .range(0u64..)?
                .map(|r| r.map(|(k, _)| k.value()))
                .collect::<Result<_, _>>()?;
            for s in keys {
                let Some(mut row) = self.row::<OpenError>(&shards, s)? else {
                    continue;
                };
                if row.state == ShardState::Compacting {
                    row.state = if row.wal_len > 0 {
                        ShardState::Filling
                    } else {
                        ShardState::Sorted
                    };
                    shards.insert(s, row.encode().as_slice())?;
                    report.interrupted_compactions.push(s);
                }
                rows.push((s, row));
            }
        }
        self.commit(txn)?;
        let root = shards_dir(&self.dir);
        let mut known = std::collections::HashSet::new();
        for (s, row) in &rows {
            let dir = shard_dir(&self.dir, self.geo.first_of(*s));
            known.insert(dir.clone());
            self.repair_shard(&dir, row, &mut report)?;
        }
        let mut removed_any = false;
        for path in self.fs.list_dir(&root).ctx("list", &root)? {
            if known.contains(&path) || !self.fs.is_dir(&path) {
                continue;
            }
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            if name.len() == 12 && name.bytes().all(|b| b.is_ascii_digit()) {
                fsio::remove_dir_all(&*self.fs, &path)?;
                report.removed_dirs.push(path);
                removed_any = true;
            }
        }
        if removed_any {
            fsio::fsync_dir(&*self.fs, &root)?;
        }
        for (s, row) in &rows {
            self.repair_log_index(*s, row, &mut report);
        }
        self.repair_tx(&rows, &mut report);
        if !report.is_clean() {
            tracing::info!(?report, "storage repaired an interrupted shutdown");
        }
        Ok(report)
    }

    fn repair_shard(
        &self,
        dir: &std::path::Path,
        row: &ShardRow,
        report: &mut RepairReport,
    ) -> Result<(), OpenError> {
        if !self.fs.is_dir(dir) {
            return Err(CorruptError {
                path: dir.to_path_buf(),
                offset: 0,
                what: "committed shard directory is missing".into(),
            }
            .into());
        }
        let mut expected: Vec<(PathBuf, u64)> = Vec::new();
        if row.wal_len > 0 {
            expected.push((wal_path(dir), row.wal_len));
        }
        let sealed = row.state == ShardState::Sealed;
        let index = sealed.then(|| log_index::index_path(dir, row.seg_gen));
        let tx_index = sealed.then(|| tx_index::index_path(dir, row.seg_gen));
        if row.seg_gen > 0 {
            expected.push((seg_data_path(dir, row.seg_gen), row.seg_data_len));
            expected.push((
                seg_index_path(dir, row.seg_gen),
                index_entry_offset(u64::from(row.seg_entries)),
            ));
        }
        let mut changed = false;
        for path in self.fs.list_dir(dir).ctx("list", dir)? {
            if expected.iter().any(|(p, _)| p == &path)
                || index.as_ref() == Some(&path)
                || tx_index.as_ref() == Some(&path)
            {
                continue;
            }
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            // Log and transaction indexes belong to a sealed shard's generation only; the
            // transaction hash side file to an unsealed shard only (its seal's input).
            if name == "wal"
                || name.starts_with("seg-")
                || log_index::is_index_file(&name)
                || tx_index::is_index_file(&name)
                || (sealed && name == log_index::tx_hashes::NAME)
            {
                fsio::remove_file_if_exists(&*self.fs, &path)?;
                report.removed_files.push(path);
                changed = true;
            }
        }
        for (path, len) in expected {
            let file = match fsio::open_rw(&*self.fs, &path, false) {
                Ok(f) => f,
                Err(e) if e.source.kind() == std::io::ErrorKind::NotFound => {
                    return Err(CorruptError {
                        path,
                        offset: 0,
                        what: format!("committed file ({len} bytes) is missing"),
                    }
                    .into());
                }
                Err(e) => return Err(e.into()),
            };
            let actual = fsio::file_len(&*file, &path)?;
            if actual < len {
                return Err(CorruptError {
                    path,
                    offset: actual,
                    what: format!("file is shorter than its committed length {len}"),
                }
                .into());
            }
            if actual > len {
                fsio::truncate_durable(&*file, &path, len)?;
                report.truncated.push((path, actual - len));
            }
        }
        if changed {
            fsio::fsync_dir(&*self.fs, dir)?;
        }
        if !sealed {
            log_index::tx_hashes::cut_torn_tail(&*self.fs, dir);
        }
        Ok(())
    }
}

impl Storage {
    /// Writes the log index of a sealed shard that has none (a store from before the index, or
    /// one lost). A failure is logged, not fatal: queries scan that shard instead, and `db
    /// verify` names it.
    fn repair_log_index(&self, shard: u64, row: &ShardRow, report: &mut RepairReport) {
        if row.state != ShardState::Sealed {
            return;
        }
        let dir = shard_dir(&self.dir, self.geo.first_of(shard));
        let path = log_index::index_path(&dir, row.seg_gen);
        // A file of an older format version is written again (derived data).
        if self.fs.is_file(&path) && !self.log_index_outdated(&path) {
            // Counted into the index-size gauge; a file that can't be opened is `db verify`'s
            // to report, not open's.
            let len = self
                .fs
                .open(&path, super::backend::OpenMode::Read)
                .and_then(|f| f.len());
            if let Ok(len) = len {
                ::metrics::gauge!(crate::metrics::LOG_INDEX_BYTES).increment(len as f64);
            }
            return;
        }
        match self.write_log_index(shard, row) {
            Ok(stats) => {
                tracing::info!(shard, ?stats, "log index of a sealed shard written again");
                report.rebuilt_log_indexes.push(shard);
            }
            Err(error) => {
                tracing::warn!(shard, %error, "log index could not be written; eth_getLogs scans this shard");
            }
        }
    }
}

impl Storage {
    /// Every shard whose stored blocks do not hash-link (consecutive stored blocks whose parent
    /// hash is not the hash of the block before), at most one fault per shard, lowest first.
    /// Read-only. Sealed shards were link-checked when compacted and are checksummed, so only
    /// their edges to unsealed neighbours are checked; a break at such an edge names the unsealed
    /// shard.
    pub fn link_faults(&self) -> Result<Vec<LinkFault>, ReadError> {
        let txn = self.read_txn()?;
        let shards = txn.open_table(SHARDS)?;
        let mut faults: Vec<LinkFault> = Vec::new();
        // The last block walked: number, hash, and whether its shard is sealed.
        let mut prev: Option<(u64, B256, bool)> = None;
        for item in shards.range(0u64..)? {
            let (k, _) = item?;
            let s = k.value();
            let Some(row) = self.row::<ReadError>(&shards, s)? else {
                continue;
            };
            let first = self.geo.first_of(s);
            let sealed = row.state == ShardState::Sealed;
            let mut files = ShardFiles::open(self, s, row.clone());
            let positions: Vec<u64> = (0..self.geo.shard_size).filter(|&p| row.has(p)).collect();
            for (i, &pos) in positions.iter().enumerate() {
                let n = first + pos;
                // Inside a sealed shard only its first block (an edge) and last (the next
                // edge's anchor) matter.
                if sealed && i != 0 && i + 1 != positions.len() {
                    continue;
                }
                let Some((hash, header)) = files.header(n)? else {
                    continue;
                };
                if let Some((pn, ph, prev_sealed)) = prev
                    && pn + 1 == n
                {
                    let at_edge = pos == 0;
                    let blamed = if sealed && at_edge {
                        (!prev_sealed).then(|| self.geo.shard_of(pn))
                    } else {
                        Some(s)
                    };
                    if header.parent_hash != ph
                        && let Some(shard) = blamed
                        && !faults.iter().any(|x| x.shard == shard)
                    {
                        faults.push(LinkFault {
                            shard,
                            first_block: BlockNumber(self.geo.first_of(shard)),
                            number: BlockNumber(n),
                            expected: ph,
                            got: header.parent_hash,
                        });
                    }
                }
                prev = Some((n, hash, sealed));
            }
        }
        faults.sort_by_key(|f| f.shard);
        Ok(faults)
    }

    /// Removes every block of `shard` (its row, its block and transaction hash entries, its
    /// files) in one redb commit, and moves `lowest`/`last_contiguous` below the gap it leaves, so
    /// fast-sync fetches those blocks again. The remedy for a [`LinkFault`]; a sealed shard is
    /// refused ([`WriteError::Sealed`]). Blocks that cannot be read no longer name their block
    /// hash entries, so then that table is scanned for entries inside the shard instead
    /// (transaction entries are keyed by block: their range is removed either way).
    pub fn drop_shard(&self, shard: u64) -> Result<DropOutcome, WriteError> {
        let _w = self.write_lock();
        let mut outcome = DropOutcome {
            shard,
            ..DropOutcome::default()
        };
        let Some(row) = self.read_row(shard)? else {
            return Ok(outcome);
        };
        if row.state == ShardState::Sealed {
            return Err(WriteError::Sealed { shard });
        }
        self.check_transition(shard, row.state, ShardState::Empty)?;
        let (first, last) = (self.geo.first_of(shard), self.geo.last_of(shard));
        // What each readable block put in the indexes (read before the write transaction).
        let mut named: Vec<B256> = Vec::new();
        let mut files = ShardFiles::open(self, shard, row.clone());
        for pos in (0..self.geo.shard_size).filter(|&p| row.has(p)) {
            let n = first + pos;
            outcome.blocks += 1;
            let read = files.frames(n).map_err(|e| e.to_string()).and_then(|f| {
                let f = f.ok_or_else(|| "marked present but missing".to_string())?;
                Ok(f.hash)
            });
            match read {
                Ok(entry) => named.push(entry),
                Err(what) => {
                    tracing::warn!(shard, block = n, %what, "unreadable block in a dropped shard; scanning the hash indexes for its entries");
                    outcome.scanned_indexes = true;
                }
            }
        }
        let in_shard = |n: u64| (first..=last).contains(&n);
        let txn = self.db.begin_write()?;
        {
            let mut shards = txn.open_table(SHARDS)?;
            let mut hashes = txn.open_table(BLOCK_HASHES)?;
            let mut meta = txn.open_table(META)?;
            for hash in &named {
                // Only entries that point into this shard: an entry elsewhere is another block's.
                if hashes.get(hash.0)?.is_some_and(|v| in_shard(v.value())) {
                    hashes.remove(hash.0)?;
                }
            }
            // The tail's transaction entries are keyed by block: the shard's range is its own,
            // readable blocks or not.
            txn.open_table(TX_BLOCKS)?
                .retain_in(first..=last, |_, _| false)?;
            if outcome.scanned_indexes {
                let stale: Vec<[u8; 32]> = hashes
                    .iter()?
                    .filter_map(|r| {
                        r.map(|(k, v)| in_shard(v.value()).then(|| k.value()))
                            .transpose()
                    })
                    .collect::<Result<_, _>>()?;
                for k in stale {
                    hashes.remove(k)?;
                }
            }
            shards.remove(shard)?;
            let low = index::meta_u64(&meta, key::LOW)?;
            let contig = index::meta_u64(&meta, key::CONTIG)?;
            match (low, contig) {
                // The lowest stored block was in this shard: the run now starts at the next
                // stored block above it, if any.
                (Some(l), _) if in_shard(l) => {
                    meta.remove(key::LOW)?;
                    meta.remove(key::CONTIG)?;
                    let mut next = None;
                    for item in shards.range(shard + 1..)? {
                        let (k, _) = item?;
                        let s = k.value();
                        if let Some(r) = self.row::<WriteError>(&shards, s)?
                            && let Some(p) = r.first_present(0, self.geo.shard_size)
                        {
                            next = Some(self.geo.first_of(s) + p);
                            break;
                        }
                    }
                    if let Some(n) = next {
                        self.update_contiguity(&mut meta, &shards, n)?;
                    }
                }
                // The contiguous run went through this shard: it now ends before it.
                (Some(l), Some(c)) if l < first && c >= first => {
                    meta.insert(key::CONTIG, &(first - 1).to_le_bytes()[..])?;
                }
                _ => {}
            }
        }
        self.commit(txn)?;
        // Committed: the files are garbage now (repair on open removes the directory too).
        let dir = shard_dir(&self.dir, first);
        if let Err(e) = fsio::remove_dir_all(&*self.fs, &dir) {
            tracing::warn!(dir = %dir.display(), error = %e, "removing a dropped shard; repair on open retries");
        }
        let _ = fsio::fsync_dir(&*self.fs, &shards_dir(&self.dir));
        tracing::warn!(
            shard,
            blocks = outcome.blocks,
            "dropped the blocks of a shard; fast-sync fetches them again"
        );
        Ok(outcome)
    }
}
