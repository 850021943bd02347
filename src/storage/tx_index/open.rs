//! Transaction index files and runs kept open between lookups: a lookup probes every sealed
//! shard's file or its group's run, and opening one (open, header read) would cost more than
//! the two reads of the probe. The caches themselves are `open_files.rs`'s; this module opens
//! what they lack and hands it to them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::file::TxFile;
use super::index_path;
use super::run::TxRun;
use crate::storage::Storage;
use crate::storage::error::FileError;
use crate::storage::open_files::OpenFiles;
use crate::storage::shard::shard_dir;

/// The caches, sized by `open_files::Budget::tx_files` (a lookup probes every sealed shard not
/// covered by a run, so it should hold them all: mainnet has some 2,300 of 10,000 blocks). A
/// file not kept is reopened, which costs an open and a header read, not a wrong answer.
#[derive(Debug)]
pub struct OpenTxFiles {
    /// Sealed shards' files, keyed by (shard, segment generation).
    pub shards: OpenFiles<TxFile>,
    /// Runs keyed by (group, tag): `None` remembers that the run a snapshot named is absent or
    /// unreadable, so lookups do not retry its open each time (a run written later replaces it).
    pub runs: OpenFiles<Option<TxRun>>,
    /// Whether lookups use runs (always, but for a benchmark's per-shard figures:
    /// [`Storage::ignore_tx_runs`]).
    pub use_runs: AtomicBool,
}

impl OpenTxFiles {
    /// Caches keeping at most `capacity` files between them: a run stands for 64 shards' files,
    /// so a sixteenth of the budget keeps every run open with room to spare.
    pub fn new(capacity: usize) -> Self {
        let runs = (capacity / 16).max(4);
        Self {
            shards: OpenFiles::new(capacity.saturating_sub(runs)),
            runs: OpenFiles::new(runs),
            use_runs: AtomicBool::new(true),
        }
    }
}

impl Storage {
    /// The open transaction index file of sealed shard `shard` at generation `seg_gen`.
    pub(super) fn shard_tx_file(&self, shard: u64, seg_gen: u32) -> Result<Arc<TxFile>, FileError> {
        if let Some(f) = self.tx_files.shards.get(shard, seg_gen) {
            return Ok(f);
        }
        let dir = shard_dir(&self.dir, self.geo.first_of(shard));
        let f = Arc::new(TxFile::open(&*self.fs, &index_path(&dir, seg_gen))?);
        self.tx_files.shards.put(shard, seg_gen, f.clone());
        Ok(f)
    }
}

impl Storage {
    /// Lookups of this store stop using transaction runs and probe every sealed shard's file
    /// (benchmarks: the per-shard figures beside the runs'). Answers do not change. A run
    /// replaces its shards' files, so they are written back from the runs first (the next
    /// open removes them again).
    #[cfg(any(test, feature = "testkit"))]
    pub fn ignore_tx_runs(&self) {
        if let Err(error) = self.restore_covered_tx_files() {
            tracing::warn!(%error, "transaction index files not written back from their runs");
        }
        self.tx_files.use_runs.store(false, Ordering::Relaxed);
    }

    /// Whether lookups use transaction runs.
    pub(super) fn uses_tx_runs(&self) -> bool {
        self.tx_files.use_runs.load(Ordering::Relaxed)
    }
}
