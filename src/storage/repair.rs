//! Recovery on open ("redb commits last", checked): makes shard files agree with what redb says is
//! committed. Bytes past a committed length are truncated, files of uncommitted generations and tmp
//! files removed, directories of shards redb does not know removed, interrupted compactions returned
//! to Filling. Committed bytes that are missing are an error, never silently dropped.
//!
//! It must never change what redb says is committed, other than undoing the Compacting mark.

use std::path::PathBuf;

use redb::ReadableTable;
use serde::Serialize;

use super::Storage;
use super::error::{CorruptError, IoContext, OpenError};
use super::fsio;
use super::index::SHARDS;
use super::layout::{ShardRow, index_entry_offset};
use super::shard::{ShardState, seg_data_path, seg_index_path, shard_dir, shards_dir, wal_path};

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
        if row.seg_gen > 0 {
            expected.push((seg_data_path(dir, row.seg_gen), row.seg_data_len));
            expected.push((
                seg_index_path(dir, row.seg_gen),
                index_entry_offset(u64::from(row.seg_entries)),
            ));
        }
        let mut changed = false;
        for path in self.fs.list_dir(dir).ctx("list", dir)? {
            if expected.iter().any(|(p, _)| p == &path) {
                continue;
            }
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if name == "wal" || name.starts_with("seg-") {
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
        Ok(())
    }
}
