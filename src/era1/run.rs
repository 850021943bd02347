//! One import run over many era1 files: each file proven and stored in turn (see `import`), then
//! dirty shards compacted and complete pre-merge shards sealed, with one progress report per
//! file. Shared by `histd import era1` on a stopped node and by `histd run`'s Startup
//! (`sync.era1_dir`), so both import, resume and report alike.
//!
//! Owns the order of a run, its stop points (between files only: a file is stored whole or not at
//! all) and the wording of progress lines. It must never store a file that `import` refused, and
//! never continue past a refused file (the run ends with that file's error).

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::MAINNET_LAST_POW_BLOCK;
use super::error::Era1Error;
use super::import::{FileReport, Importer};
use crate::primitives::BlockNumber;
use crate::storage::{Storage, StorageError};
use crate::verify::accumulator::HistoricalHashesAccumulator;

/// What a whole run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunReport {
    /// Files given.
    pub files: usize,
    /// Files read (not skipped as already stored).
    pub read: usize,
    /// Blocks proven (in files read).
    pub blocks: u64,
    /// Blocks newly stored.
    pub stored: u64,
    /// Bytes of the files read.
    pub bytes: u64,
    /// Shards compacted at the end.
    pub compacted: usize,
    /// Shards sealed at the end.
    pub sealed: usize,
    /// Wall time.
    pub elapsed: Duration,
    /// Stopped on request before the last file (what was stored stays; a rerun resumes).
    pub stopped: bool,
}

fn per_s(n: f64, elapsed: Duration) -> f64 {
    n / elapsed.as_secs_f64().max(1e-9)
}

impl fmt::Display for FileReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.path.display();
        if self.skipped {
            return write!(
                f,
                "{name}: epoch {} (blocks {}..={}) already stored, skipped",
                self.epoch, self.first, self.last
            );
        }
        let blocks = (self.last + 1 - self.first) as f64;
        write!(
            f,
            "{name}: epoch {} blocks {}..={} proven against the accumulator; {} stored, {} already \
             present; {:.1} MB in {:.2} s ({:.0} blocks/s, {:.1} MB/s)",
            self.epoch,
            self.first,
            self.last,
            self.stored,
            self.present,
            self.bytes as f64 / 1e6,
            self.elapsed.as_secs_f64(),
            per_s(blocks, self.elapsed),
            per_s(self.bytes as f64 / 1e6, self.elapsed),
        )
    }
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.stopped {
            "stopped on request after"
        } else {
            "imported"
        };
        write!(
            f,
            "{verb} {} files: {} blocks proven, {} stored; {} shards compacted, {} sealed; {:.2} s \
             ({:.0} blocks/s, {:.1} MB/s)",
            self.files,
            self.blocks,
            self.stored,
            self.compacted,
            self.sealed,
            self.elapsed.as_secs_f64(),
            per_s(self.blocks as f64, self.elapsed),
            per_s(self.bytes as f64 / 1e6, self.elapsed),
        )
    }
}

/// Imports `files` in order into `store` (checked to be mainnet's by the caller), calling
/// `progress(index, report)` after each; `stop()` is asked before each file. Ends with the first
/// refused file's error (files before it stay stored), else compacts and seals.
pub fn import_files(
    store: &Storage,
    accumulator: &HistoricalHashesAccumulator,
    files: &[PathBuf],
    mut progress: impl FnMut(usize, &FileReport),
    stop: impl Fn() -> bool,
) -> Result<RunReport, Era1Error> {
    let started = Instant::now();
    let mut importer = Importer::new(store, accumulator);
    let mut report = RunReport::default();
    for (i, path) in files.iter().enumerate() {
        if stop() {
            report.stopped = true;
            break;
        }
        let r = importer.import_file(path)?;
        progress(i, &r);
        report.files += 1;
        if !r.skipped {
            report.read += 1;
            report.blocks += r.last + 1 - r.first;
            report.bytes += r.bytes;
        }
        report.stored += r.stored as u64;
    }
    // Imported blocks are proven: a shard failing to compact is a storage fault, reported as such.
    let storage_err = |source: StorageError| Era1Error::Storage {
        path: store.data_dir().to_path_buf(),
        source: Box::new(source),
    };
    report.compacted = store
        .compact_dirty()
        .and_then(|r| r.into_result())
        .map_err(|e| storage_err(e.into()))?
        .len();
    // Pre-merge blocks are final: their complete shards can be sealed at once.
    report.sealed = store
        .seal_complete(BlockNumber(MAINNET_LAST_POW_BLOCK))
        .map_err(|e| storage_err(e.into()))?
        .len();
    report.elapsed = started.elapsed();
    Ok(report)
}
