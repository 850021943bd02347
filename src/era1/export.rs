//! `histd export era1`: write stored pre-merge epochs as era1 files other clients read.
//!
//! Per epoch: read each stored block, re-encode its parts exactly as era1 carries them (see
//! `codec.rs`), add the running total difficulty, and prove the epoch's records against the
//! mainnet accumulator *before* the file gets its final name (so a file under an era1 name is
//! always one that imports). Files are written as `<name>.partial`, fsynced, then renamed.
//!
//! Total difficulty is not stored (see the module doc of `era1`): the running sum starts from the
//! stored headers below the range, so export needs every header from genesis up to the range.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use alloy_primitives::{B256, U256};

use super::error::Era1Error;
use super::file::Era1Writer;
use super::name::Era1Name;
use super::{MAINNET_LAST_POW_BLOCK, NETWORK, codec, epoch_last_block};
use crate::primitives::BlockNumber;
use crate::storage::{ReadError, Storage, StorageError};
use crate::verify::accumulator::{EPOCH_SIZE, HeaderRecord, HistoricalHashesAccumulator};

/// One file written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedFile {
    /// Where it is.
    pub path: PathBuf,
    /// Epoch.
    pub epoch: u64,
    /// First block.
    pub first: u64,
    /// Last block.
    pub last: u64,
    /// The epoch's accumulator root.
    pub root: B256,
    /// File size.
    pub bytes: u64,
}

/// Checks that `from ..= to` is whole pre-merge epochs.
pub fn check_range(from: u64, to: u64) -> Result<(), Era1Error> {
    let bad = |reason: String| Era1Error::Range { from, to, reason };
    if from > to {
        return Err(bad("from is above to".into()));
    }
    if to > MAINNET_LAST_POW_BLOCK {
        return Err(bad(format!(
            "era1 covers pre-merge blocks only (up to {MAINNET_LAST_POW_BLOCK})"
        )));
    }
    if !from.is_multiple_of(EPOCH_SIZE) {
        return Err(bad(format!(
            "files hold whole epochs of {EPOCH_SIZE} blocks: start at {}",
            from - from % EPOCH_SIZE
        )));
    }
    if to != epoch_last_block(to / EPOCH_SIZE) {
        return Err(bad(format!(
            "files hold whole epochs of {EPOCH_SIZE} blocks: end at {} or {}",
            (to / EPOCH_SIZE * EPOCH_SIZE).saturating_sub(1),
            epoch_last_block(to / EPOCH_SIZE)
        )));
    }
    Ok(())
}

fn read_err(e: ReadError) -> StorageError {
    e.into()
}

/// Total difficulty up to and including block `from - 1`: the sum of the stored difficulties
/// from genesis.
fn total_difficulty_before(store: &Storage, from: u64) -> Result<U256, Era1Error> {
    let Some(last) = from.checked_sub(1) else {
        return Ok(U256::ZERO);
    };
    let mut td = U256::ZERO;
    let mut next = 0u64;
    store
        .scan_headers(BlockNumber(0), BlockNumber(last), |n, _, h| {
            if n.get() != next {
                return ControlFlow::Break(());
            }
            td = td.saturating_add(h.difficulty);
            next += 1;
            ControlFlow::Continue(())
        })
        .map_err(|e| Era1Error::Storage {
            path: store.data_dir().to_path_buf(),
            source: Box::new(read_err(e)),
        })?;
    if next != from {
        return Err(Era1Error::NotStored {
            number: next,
            reason: "not stored; the total difficulty era1 carries is summed from genesis, so \
                     export needs every block from 0"
                .into(),
        });
    }
    Ok(td)
}

/// Writes the epochs of `from ..= to` (whole pre-merge epochs) into `out_dir`.
pub fn export(
    store: &Storage,
    accumulator: &HistoricalHashesAccumulator,
    from: u64,
    to: u64,
    out_dir: &Path,
    mut on_file: impl FnMut(&ExportedFile),
) -> Result<Vec<ExportedFile>, Era1Error> {
    check_range(from, to)?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Era1Error::Io { path, source }
    };
    std::fs::create_dir_all(out_dir).map_err(io(out_dir))?;
    let mut td = total_difficulty_before(store, from)?;
    let mut written = Vec::new();
    for epoch in from / EPOCH_SIZE..=to / EPOCH_SIZE {
        let partial = out_dir.join(format!("{NETWORK}-{epoch:05}.era1.partial"));
        let done = match write_epoch(store, accumulator, epoch, &mut td, &partial, out_dir) {
            Ok(done) => done,
            Err(e) => {
                // A half-written file is of no use to anyone; the error says what went wrong.
                let _ = std::fs::remove_file(&partial);
                return Err(e);
            }
        };
        on_file(&done);
        written.push(done);
    }
    Ok(written)
}

/// Writes one epoch to `partial`, proves it, then renames it to its era1 name in `out_dir`.
fn write_epoch(
    store: &Storage,
    accumulator: &HistoricalHashesAccumulator,
    epoch: u64,
    td: &mut U256,
    partial: &Path,
    out_dir: &Path,
) -> Result<ExportedFile, Era1Error> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Era1Error::Io { path, source }
    };
    let first = epoch * EPOCH_SIZE;
    let last = epoch_last_block(epoch);
    let file = File::create(partial).map_err(io(partial))?;
    let mut writer =
        Era1Writer::new(BufWriter::with_capacity(1 << 20, file), first).map_err(io(partial))?;
    let mut records = Vec::with_capacity(EPOCH_SIZE as usize);
    for n in first..=last {
        let block = match store.block(BlockNumber(n)) {
            Ok(Some(b)) => b,
            Ok(None) => {
                return Err(Era1Error::NotStored {
                    number: n,
                    reason: "not stored".into(),
                });
            }
            Err(ReadError::TransactionsNotRetained { .. }) => {
                return Err(Era1Error::NotStored {
                    number: n,
                    reason: "only transaction hashes are retained ([retention]); era1 needs \
                             whole bodies"
                        .into(),
                });
            }
            Err(e) => {
                return Err(Era1Error::Storage {
                    path: store.data_dir().to_path_buf(),
                    source: Box::new(read_err(e)),
                });
            }
        };
        *td = td.saturating_add(block.header().difficulty);
        writer
            .add_block(&codec::tuple(&block, *td))
            .map_err(io(partial))?;
        records.push(HeaderRecord {
            block_hash: block.hash(),
            total_difficulty: *td,
        });
    }
    // Never give a file an era1 name unless it proves against the accumulator.
    let root = accumulator
        .verify_epoch(epoch, &records)
        .map_err(|source| Era1Error::Accumulator {
            path: partial.to_path_buf(),
            source,
        })?;
    let mut buf = writer.finish(root).map_err(io(partial))?;
    buf.flush().map_err(io(partial))?;
    let file = buf.into_inner().map_err(|e| io(partial)(e.into_error()))?;
    file.sync_all().map_err(io(partial))?;
    let bytes = file.metadata().map_err(io(partial))?.len();
    drop(file);
    let path = out_dir.join(Era1Name::format(NETWORK, epoch, &root));
    std::fs::rename(partial, &path).map_err(io(&path))?;
    File::open(out_dir)
        .and_then(|d| d.sync_all())
        .map_err(io(out_dir))?;
    Ok(ExportedFile {
        path,
        epoch,
        first,
        last,
        root,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_must_be_whole_epochs() {
        assert!(check_range(0, 8191).is_ok());
        assert!(check_range(8192, 3 * 8192 - 1).is_ok());
        assert!(check_range(15_532_032, MAINNET_LAST_POW_BLOCK).is_ok());
        for (from, to) in [
            (1, 8191),
            (0, 8190),
            (0, 8192),
            (8192, 0),
            (0, MAINNET_LAST_POW_BLOCK + 1),
        ] {
            assert!(
                matches!(check_range(from, to), Err(Era1Error::Range { .. })),
                "{from}..={to}"
            );
        }
    }
}
