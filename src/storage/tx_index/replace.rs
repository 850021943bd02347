//! A run replaces its shards' files: once a run is durable and opens, the `txs-<gen>.idx` files
//! of the shards it covers are removed (the index is stored once, 16 bytes per transaction,
//! not twice); when a run stops matching its shards (one dropped or sealed again, found on
//! open), the files of the shards it still matches are written back from its entries before it
//! is removed, so no shard's file is rebuilt from its segment when the run still holds it.
//!
//! Owns only that hand-over between a run and its shards' files. It never removes a file a
//! lookup could need: a file goes only after a run covering its shard as sealed opened (a
//! lookup whose snapshot predates that run and misses the file retries: `lookup.rs`). It never
//! changes redb.

use std::collections::{BTreeSet, HashMap};

use super::file::Entry;
use super::index_path;
use super::run::{Covered, TxRun};
use crate::storage::Storage;
use crate::storage::error::{FileError, WriteError};
use crate::storage::fsio;
use crate::storage::layout::ShardRow;
use crate::storage::repair::RepairReport;
use crate::storage::shard::shard_dir;

/// Entries a split holds in memory at once (16 bytes each: 128 MiB). A run of mainnet's 64
/// shards of 10,000 blocks holds some 100 million: split in passes of a few shards each.
const SPLIT_BATCH: u64 = 1 << 23;

impl Storage {
    /// Removes the files of the shards `cover` names (a run covering them was just written or
    /// found valid on open, and opens). Best effort: a file left is removed by the next open.
    /// Returns the shards whose file was removed. `counted`: whether the files are in the
    /// index-size gauge (a leftover found on open is not).
    pub(super) fn remove_covered_tx_files(&self, cover: &[Covered], counted: bool) -> Vec<u64> {
        let mut removed = Vec::new();
        for c in cover {
            let dir = shard_dir(&self.dir, self.geo.first_of(c.shard));
            let path = index_path(&dir, c.seg_gen);
            let len = self
                .fs
                .open(&path, crate::storage::backend::OpenMode::Read)
                .and_then(|f| f.len());
            let Ok(len) = len else {
                continue;
            };
            match fsio::remove_file_if_exists(&*self.fs, &path)
                .and_then(|_| fsio::fsync_dir(&*self.fs, &dir))
            {
                Ok(()) => {
                    if counted {
                        ::metrics::gauge!(crate::metrics::TX_INDEX_BYTES).decrement(len as f64);
                    }
                    removed.push(c.shard);
                }
                Err(error) => {
                    tracing::warn!(shard = c.shard, %error, "a transaction index file its run covers not removed; the next open removes it");
                }
            }
            // Never probed again while the run matches; an open one would hold its disk space.
            self.tx_files.shards.forget_shard(c.shard);
        }
        removed
    }

    /// Before a run that no longer matches is removed (on open): writes from its entries the
    /// files of the shards it covers that are still sealed as it records (`sealed`) and have no
    /// file that opens. A damaged run body writes none of them (its checksum is checked before
    /// any is written): open then rebuilds them from their segments, as for any missing file.
    pub(super) fn split_tx_run(
        &self,
        run: &TxRun,
        sealed: &HashMap<u64, (Covered, ShardRow)>,
        report: &mut RepairReport,
    ) {
        let need: Vec<(u64, &ShardRow)> = run
            .cover
            .iter()
            .filter_map(|c| {
                let (now, row) = sealed.get(&c.shard)?;
                let dir = shard_dir(&self.dir, self.geo.first_of(c.shard));
                let present =
                    super::file::TxFile::open(&*self.fs, &index_path(&dir, c.seg_gen)).is_ok();
                (now == c && !present).then_some((c.shard, row))
            })
            .collect();
        if need.is_empty() {
            return;
        }
        if let Err(error) = self.try_split_tx_run(run, &need, report) {
            tracing::warn!(path = %run.file.path().display(), %error, "transaction run not split; its shards' files are rebuilt from their segments");
        }
    }

    fn try_split_tx_run(
        &self,
        run: &TxRun,
        need: &[(u64, &ShardRow)],
        report: &mut RepairReport,
    ) -> Result<(), WriteError> {
        let size = self.geo.shard_size;
        let first_shard = self.geo.shard_of(run.file.header.first_block);
        // The shard an entry of the run belongs to, and its offset in that shard.
        let place = |e: &Entry| {
            let o = u64::from(e.offset);
            (first_shard + o / size, (o % size) as u32)
        };
        // Pass 1: how many entries each shard has (and the body's checksum, before any write).
        let mut counts: HashMap<u64, u64> = HashMap::new();
        run.file
            .scan_entries(|e| *counts.entry(place(&e).0).or_default() += 1)?;
        // Then shards in batches of at most `SPLIT_BATCH` entries (at least one shard each).
        let mut batches: Vec<Vec<(u64, &ShardRow)>> = Vec::new();
        let mut held = u64::MAX;
        for &(shard, row) in need {
            let n = counts.get(&shard).copied().unwrap_or(0);
            if held.saturating_add(n) > SPLIT_BATCH {
                batches.push(Vec::new());
                held = 0;
            }
            held += n;
            if let Some(b) = batches.last_mut() {
                b.push((shard, row));
            }
        }
        for batch in batches {
            let wanted: BTreeSet<u64> = batch.iter().map(|(s, _)| *s).collect();
            let mut entries: HashMap<u64, Vec<Entry>> = wanted
                .iter()
                .map(|s| {
                    (
                        *s,
                        Vec::with_capacity(counts.get(s).copied().unwrap_or(0) as usize),
                    )
                })
                .collect();
            run.file.scan_entries(|e| {
                let (shard, offset) = place(&e);
                if let Some(v) = entries.get_mut(&shard) {
                    v.push(Entry { offset, ..e });
                }
            })?;
            for (shard, row) in batch {
                let mine = entries.remove(&shard).unwrap_or_default();
                self.tx_files.shards.forget_shard(shard);
                let bytes = self.write_tx_file(shard, row, mine)?;
                tracing::info!(
                    shard,
                    bytes,
                    "transaction index file written back from a run that no longer matches"
                );
                report.split_tx_indexes.push(shard);
            }
        }
        Ok(())
    }
}

#[cfg(any(test, feature = "testkit"))]
impl Storage {
    /// Writes back, from their runs, the files of every shard a valid run covers (lookups that
    /// ignore runs probe them: `Storage::ignore_tx_runs`). The next open removes them again.
    pub(super) fn restore_covered_tx_files(&self) -> Result<(), crate::storage::error::ReadError> {
        use crate::storage::error::ReadError;
        use crate::storage::index::SHARDS;
        use crate::storage::shard::ShardState;
        let mut sealed = HashMap::new();
        {
            let txn = self.read_txn()?;
            let shards = txn.open_table(SHARDS)?;
            for item in shards.range(0u64..)? {
                let shard = item?.0.value();
                if let Some(row) = self.row::<ReadError>(&shards, shard)?
                    && row.state == ShardState::Sealed
                {
                    sealed.insert(shard, (Covered::of(shard, &row), row));
                }
            }
        }
        let groups: BTreeSet<u64> = sealed.keys().map(|s| super::run::group_of(*s)).collect();
        for group in groups {
            if let Some(cover) = self.sealed_cover(group)?
                && let Some(kept) = self.tx_run(&cover)
                && let Some(run) = kept.as_ref()
            {
                self.split_tx_run(run, &sealed, &mut RepairReport::default());
            }
        }
        Ok(())
    }
}

/// Whether a failed open of a shard's file says the file is not there (removed after its
/// run was written: a lookup on an older snapshot retries).
pub(super) fn is_missing(error: &FileError) -> bool {
    matches!(error, FileError::Io(e) if e.source.kind() == std::io::ErrorKind::NotFound)
}
