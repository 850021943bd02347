//! Writing transaction runs (`run.rs`): after the seal that completes a group (under the writer
//! lock, after that seal's commit) and on open for every group of sealed shards without a valid
//! run (a store from before runs, a run lost or damaged, a write that failed). A run is merged
//! from the group's `txs-<gen>.idx` files in two streaming passes (bucket counts with the
//! files' checksums checked, then a k-way merge), so its memory is the bucket table and a
//! chunk per file, never the entries. Written like the shards' files (tmp, fsync, rename,
//! fsync directory); once it opens it replaces those files (`replace.rs` removes them). Open
//! decides runs before files: it keeps the runs whose cover matches, splits each other run
//! back into the files of the shards it still matches, removes it and tmp runs, gives the
//! shards no valid run covers their files (`build.rs`), then writes the runs missing.
//!
//! Best effort throughout: a run is derived data no commit depends on, so a failure only logs a
//! WARN and lookups probe the group's shard files (which stay until a run opens). It never
//! changes redb, and never removes a shard's file but through `replace.rs`.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use super::file::{Entries, Entry, Header, TxFile, write_sorted};
use super::run::{
    Covered, GROUP, TxRun, encode_cover, group_of, parse_run_name, run_path, runs_dir, tag_of,
};
use crate::storage::Storage;
use crate::storage::error::{CorruptError, FileError, IoContext, ReadError, WriteError};
use crate::storage::fsio;
use crate::storage::index::SHARDS;
use crate::storage::layout::ShardRow;
use crate::storage::repair::RepairReport;
use crate::storage::shard::{ShardState, tmp_path};

impl Storage {
    /// After the seal of `shard` committed (writer lock held): writes its group's run if every
    /// shard of the group is sealed now (shards may be sealed in any order).
    pub(in crate::storage) fn write_tx_run_after_seal(&self, shard: u64) {
        let group = group_of(shard);
        let cover = match self.sealed_cover(group) {
            Ok(Some(cover)) => cover,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(group, %error, "transaction run not written; lookups probe the group's shard files");
                return;
            }
        };
        let started = Instant::now();
        match self.write_tx_run(group, &cover) {
            Ok(bytes) => tracing::debug!(
                group,
                bytes,
                ms = started.elapsed().as_millis() as u64,
                "transaction run written"
            ),
            Err(error) => {
                tracing::warn!(group, %error, "transaction run not written; lookups probe the group's shard files");
            }
        }
    }

    /// The cover of `group` if every shard of it is sealed.
    pub(super) fn sealed_cover(&self, group: u64) -> Result<Option<Vec<Covered>>, ReadError> {
        let txn = self.read_txn()?;
        let shards = txn.open_table(SHARDS)?;
        let mut cover = Vec::with_capacity(GROUP as usize);
        for shard in group * GROUP..(group + 1) * GROUP {
            match self.row::<ReadError>(&shards, shard)? {
                Some(row) if row.state == ShardState::Sealed => {
                    cover.push(Covered::of(shard, &row));
                }
                _ => return Ok(None),
            }
        }
        Ok(Some(cover))
    }

    /// Merges the files of the shards in `cover` (the whole of `group`, sealed) into the group's
    /// run, durably, and keeps it open. Returns its size.
    fn write_tx_run(&self, group: u64, cover: &[Covered]) -> Result<u64, WriteError> {
        let first_shard = group * GROUP;
        let first_block = self.geo.first_of(first_shard);
        let path = run_path(&self.dir, first_shard, tag_of(cover));
        let corrupt = |what: String| CorruptError {
            path: path.clone(),
            offset: 0,
            what,
        };
        let mut files = Vec::with_capacity(cover.len());
        for c in cover {
            let f = self.shard_tx_file(c.shard, c.seg_gen)?;
            if f.header.first_block != self.geo.first_of(c.shard) {
                return Err(corrupt(format!(
                    "{} starts at block {}, its shard at {}",
                    f.path().display(),
                    f.header.first_block,
                    self.geo.first_of(c.shard)
                ))
                .into());
            }
            files.push(f);
        }
        let total: u64 = files.iter().map(|f| u64::from(f.header.entries)).sum();
        // At most 64 × 1,000,000 blocks (`MAX_SHARD_SIZE`): a u32 holds it.
        let blocks = u32::try_from(GROUP * self.geo.shard_size)
            .map_err(|_| corrupt("a run's blocks do not fit a u32".into()))?;
        let header = Header::for_entries(first_block, blocks, total)
            .ok_or_else(|| corrupt("more than 2^32 transactions in one run".into()))?;
        let mut counts = vec![0u32; header.buckets()];
        for f in &files {
            f.scan_entries(|e| counts[header.bucket(e.prefix)] += 1)?;
        }
        let dir = runs_dir(&self.dir);
        fsio::create_dir_durable(&*self.fs, &dir)?;
        let tmp = tmp_path(&path);
        let written = fsio::write_with_header(&*self.fs, &tmp, &path, |mut out, tmp| {
            let mut merge = Merge::new(&files, first_block)?;
            let written = write_sorted(&mut out, header, &counts, merge.by_ref());
            if let Some(e) = merge.error {
                return Err(e.into());
            }
            let header = written.ctx("write", tmp)?;
            out.write_all(&encode_cover(cover)).ctx("write", tmp)?;
            Ok::<_, WriteError>((header, out))
        });
        // No commit depends on a run: whatever a failure left unsynced is garbage open removes.
        let bytes = written.inspect_err(|_| fsio::abandon(&[&tmp, &path, &dir]))?;
        // Whatever the caches remember for this group (an older run, or its absence) is stale.
        self.tx_files.runs.forget_shard(group);
        match TxRun::open(&*self.fs, &path) {
            Ok(run) => {
                self.tx_files
                    .runs
                    .put(group, tag_of(cover), Arc::new(Some(run)));
                ::metrics::gauge!(crate::metrics::TX_INDEX_BYTES).increment(bytes as f64);
                // The run replaces the shards' files only once it is durable and opens (a
                // lookup whose snapshot predates it and misses a file retries: `lookup.rs`).
                self.remove_covered_tx_files(cover, true);
            }
            Err(error) => {
                // Its shards' files stay: lookups keep probing them.
                tracing::warn!(group, %error, "a transaction run just written does not open")
            }
        }
        Ok(bytes)
    }

    /// On open, the transaction index of the sealed shards `rows`: runs first, then the
    /// files they do not cover. Keeps (and opens) the runs whose cover matches the sealed
    /// shards; a run that no longer matches first writes back the files of the shards it still
    /// matches (`replace.rs`), then goes with every other run and tmp run. A sealed shard a
    /// valid run covers needs no file (a leftover is removed); any other sealed shard gets its
    /// file as before (`build.rs`); then every whole sealed group without a run gets one, which
    /// replaces its shards' files. Logs, never fails: lookups probe shard files where a run is
    /// missing.
    pub(in crate::storage) fn repair_tx(
        &self,
        rows: &[(u64, ShardRow)],
        report: &mut RepairReport,
    ) {
        let mut sealed: HashMap<u64, (Covered, ShardRow)> = HashMap::new();
        let mut groups: BTreeMap<u64, Vec<Covered>> = BTreeMap::new();
        for (s, row) in rows.iter().filter(|(_, r)| r.state == ShardState::Sealed) {
            let covered = Covered::of(*s, row);
            groups.entry(group_of(*s)).or_default().push(covered);
            sealed.insert(*s, (covered, row.clone()));
        }
        // Rows come one per shard: a group with GROUP sealed rows is all sealed.
        groups.retain(|_, cover| cover.len() == GROUP as usize);
        let valid = match self.sort_tx_runs(&groups, &sealed, report) {
            Ok(valid) => valid,
            Err(error) => {
                tracing::warn!(%error, "transaction runs not repaired; lookups probe the shard files of groups without one");
                HashSet::new()
            }
        };
        // A file just split from a run is written (and counted in the size gauge) already.
        let split: HashSet<u64> = report.split_tx_indexes.iter().copied().collect();
        for (s, row) in rows {
            if !valid.contains(&group_of(*s)) && !split.contains(s) {
                self.repair_tx_index(*s, row, report);
            }
        }
        for (group, cover) in &groups {
            if valid.contains(group) {
                // Left by a crash between a run's rename and the removal of its shards' files.
                let removed = self.remove_covered_tx_files(cover, false);
                report.removed_covered_tx_indexes.extend(removed);
            }
        }
        let started = Instant::now();
        for (group, cover) in groups.iter().filter(|(g, _)| !valid.contains(*g)) {
            match self.write_tx_run(*group, cover) {
                Ok(bytes) => {
                    tracing::info!(group, bytes, "transaction run of a sealed group written");
                    report.rebuilt_tx_runs.push(group * GROUP);
                }
                Err(error) => {
                    tracing::warn!(group, %error, "transaction run not written; lookups probe the group's shard files");
                }
            }
        }
        if !report.rebuilt_tx_runs.is_empty() {
            tracing::info!(
                runs = report.rebuilt_tx_runs.len(),
                ms = started.elapsed().as_millis() as u64,
                "transaction runs written on open"
            );
        }
    }

    /// Keeps (and opens, and counts) the runs whose cover is one of `groups`' (whole sealed
    /// groups); splits each other run that opens into the files of the shards it still matches
    /// (`sealed`), then removes it, and removes tmp runs. Returns the groups with a valid run.
    fn sort_tx_runs(
        &self,
        groups: &BTreeMap<u64, Vec<Covered>>,
        sealed: &HashMap<u64, (Covered, ShardRow)>,
        report: &mut RepairReport,
    ) -> Result<HashSet<u64>, WriteError> {
        let dir = runs_dir(&self.dir);
        let mut valid = HashSet::new();
        if !self.fs.is_dir(&dir) {
            return Ok(valid);
        }
        let mut removed = false;
        for path in self.fs.list_dir(&dir).ctx("list", &dir)? {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if !name.starts_with("run-") {
                continue;
            }
            let run = parse_run_name(&name).and_then(|_| TxRun::open(&*self.fs, &path).ok());
            let keep = run.as_ref().and_then(|run| {
                let (first, tag) = parse_run_name(&name)?;
                let group = group_of(first);
                let cover = groups.get(&group)?;
                let ok = first % GROUP == 0
                    && tag == tag_of(cover)
                    && !valid.contains(&group)
                    && run.cover == *cover;
                ok.then_some((group, tag))
            });
            match (keep, run) {
                (Some((group, tag)), Some(run)) => {
                    valid.insert(group);
                    ::metrics::gauge!(crate::metrics::TX_INDEX_BYTES).increment(run.bytes() as f64);
                    self.tx_files.runs.put(group, tag, Arc::new(Some(run)));
                }
                (_, run) => {
                    if let Some(run) = run {
                        self.split_tx_run(&run, sealed, report);
                    }
                    fsio::remove_file_if_exists(&*self.fs, &path)?;
                    report.removed_tx_runs.push(path);
                    removed = true;
                }
            }
        }
        if removed {
            fsio::fsync_dir(&*self.fs, &dir)?;
        }
        Ok(valid)
    }
}

/// The k-way merge of a group's files: their entries in order, each block offset moved from
/// its shard's first block to the run's. Stops at the first read error, kept in `error`.
struct Merge<'a> {
    streams: Vec<Entries<'a>>,
    /// What each file's offsets gain: its shard's first block less the run's.
    shifts: Vec<u32>,
    heap: BinaryHeap<Reverse<(Entry, usize)>>,
    error: Option<FileError>,
}

impl<'a> Merge<'a> {
    fn new(files: &'a [Arc<TxFile>], first_block: u64) -> Result<Self, FileError> {
        let mut m = Self {
            streams: files.iter().map(|f| f.entries()).collect(),
            // The caller checked each file's first block: within the run, so within a u32.
            shifts: files
                .iter()
                .map(|f| (f.header.first_block - first_block) as u32)
                .collect(),
            heap: BinaryHeap::with_capacity(files.len()),
            error: None,
        };
        for i in 0..files.len() {
            m.pull(i)?;
        }
        Ok(m)
    }

    /// Puts the next entry of file `i`, if any, into the heap.
    fn pull(&mut self, i: usize) -> Result<(), FileError> {
        if let Some(mut e) = self.streams[i].next_entry()? {
            e.offset = e.offset.saturating_add(self.shifts[i]);
            self.heap.push(Reverse((e, i)));
        }
        Ok(())
    }
}

impl Iterator for Merge<'_> {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        let Reverse((e, i)) = self.heap.pop()?;
        if let Err(error) = self.pull(i) {
            self.error = Some(error);
            self.heap.clear();
            return None;
        }
        Some(e)
    }
}
