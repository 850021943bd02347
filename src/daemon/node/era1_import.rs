//! Startup's era1 import (`sync.era1_dir`): before the network starts, the era1 files in that
//! directory are proven against the built-in mainnet accumulator and stored, so fast-sync finds
//! them stored and fetches nothing of them. Pre-merge history is what most peers no longer serve.
//!
//! Owns running [`era1::import_files`] on the store the startup worker opened, on the blocking
//! pool, with one INFO line per file and one at the end, stopping between files on cancel. A
//! refused file fails Startup with an error naming the file and its first bad block (files before
//! it stay stored, nothing of it is; a restart resumes). It must never import into a store that
//! is not mainnet's, and never run after the network started.

use std::path::{Path, PathBuf};

use tokio_util::sync::CancellationToken;

use crate::era1::{self, Era1Error, RunReport};
use crate::storage::{StoreError, StoreHandle};

/// Why the Startup import failed.
#[derive(Debug, thiserror::Error)]
pub enum Era1ImportError {
    /// A file was refused, the directory holds none, or the store is not mainnet's.
    #[error("importing era1 files from {} (sync.era1_dir): {source}", dir.display())]
    Era1 {
        dir: PathBuf,
        #[source]
        source: Era1Error,
    },
    /// The store was closed or its blocking task lost.
    #[error("importing era1 files from {} (sync.era1_dir): {source}", dir.display())]
    Store {
        dir: PathBuf,
        #[source]
        source: StoreError<Era1Error>,
    },
}

/// Imports the era1 files of `dir` into `store` (the report says whether a cancel stopped it).
pub async fn run(
    store: &StoreHandle,
    dir: &Path,
    cancel: &CancellationToken,
) -> Result<RunReport, Era1ImportError> {
    let err = |source| Era1ImportError::Era1 {
        dir: dir.to_path_buf(),
        source,
    };
    let accumulator = era1::mainnet_accumulator().map_err(err)?;
    let files = era1::collect_files(&[dir.to_path_buf()]).map_err(err)?;
    tracing::info!(dir = %dir.display(), files = files.len(), "era1 import: proving and storing the files of sync.era1_dir before fast-sync");
    let total = files.len();
    let stop = cancel.clone();
    let report = store
        .write("importing era1 files", move |s| {
            era1::check_mainnet(s)?;
            era1::import_files(
                s,
                accumulator,
                &files,
                |i, r| {
                    tracing::info!(
                        file = %r.path.display(),
                        epoch = r.epoch,
                        stored = r.stored,
                        skipped = r.skipped,
                        "era1 import [{}/{total}] {r}",
                        i + 1
                    );
                },
                || stop.is_cancelled(),
            )
        })
        .await
        .map_err(|e| match e {
            StoreError::Storage { source, .. } => err(source),
            other => Era1ImportError::Store {
                dir: dir.to_path_buf(),
                source: other,
            },
        })?;
    tracing::info!(
        files = report.files,
        blocks = report.blocks,
        stored = report.stored,
        "era1 import: {report}"
    );
    Ok(report)
}
