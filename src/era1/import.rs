//! `histd import era1`: read era1 files, prove every block, then store them with the fast-sync
//! writer.
//!
//! One file at a time, in two steps, so a bad file leaves the store untouched:
//! 1. **Prove.** Stream the file; per block: decode, check it is the next number and links to
//!    the block before (in the file, in the previous file of this run, or stored), verify roots
//!    with [`crate::verify::verify_block`], check its total difficulty adds up, and prepare its
//!    stored form. Then check the file's accumulator entry is the root of those records, and
//!    that root is the mainnet accumulator's for the epoch (a fixed trust anchor: no peer needed).
//! 2. **Store.** Only now, `put_prepared` in batches (each one fsync + one redb commit).
//!
//! Resumable: blocks already stored are not prepared again, and a file whose whole epoch is
//! stored is skipped without being read. It must never store a block of a file that failed any
//! check of step 1.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use alloy_primitives::{B256, U256};

use super::error::{BlockError, Era1Error};
use super::file::Era1Reader;
use super::name::Era1Name;
use super::{NETWORK, codec, epoch_last_block};
use crate::primitives::BlockNumber;
use crate::storage::{PreparedBlock, Storage, StorageError};
use crate::verify::accumulator::{EPOCH_SIZE, HeaderRecord, HistoricalHashesAccumulator};
use crate::verify::{self, SealedHeader};

/// Blocks per `put_prepared` call: one fsync and one redb commit each.
const STORE_BATCH: usize = 2048;

/// What importing one file did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    /// The file.
    pub path: PathBuf,
    /// Its epoch.
    pub epoch: u64,
    /// First and last block.
    pub first: u64,
    /// Last block.
    pub last: u64,
    /// Blocks newly stored.
    pub stored: usize,
    /// Blocks that were already stored.
    pub present: usize,
    /// Whether the file was skipped unread (its whole epoch was stored).
    pub skipped: bool,
    /// File size.
    pub bytes: u64,
    /// Wall time.
    pub elapsed: Duration,
}

/// The last block proven in this run, to link the next file to.
#[derive(Debug, Clone, Copy)]
struct Tip {
    number: u64,
    hash: B256,
    total_difficulty: Option<U256>,
}

/// Imports era1 files into one store, in the order given.
#[derive(Debug)]
pub struct Importer<'a> {
    store: &'a Storage,
    accumulator: &'a HistoricalHashesAccumulator,
    tip: Option<Tip>,
}

/// The `.era1` files a list of paths names: files as given, directories' `*.era1` files sorted
/// by name (which is epoch order).
pub fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Era1Error> {
    let mut out = Vec::new();
    for path in paths {
        let io = |source| Era1Error::Io {
            path: path.clone(),
            source,
        };
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(io)?
                .map(|e| e.map(|e| e.path()))
                .collect::<Result<_, _>>()
                .map_err(io)?;
            found.retain(|p| p.is_file() && p.extension().is_some_and(|e| e == "era1"));
            found.sort();
            if found.is_empty() {
                return Err(Era1Error::NoFiles { path: path.clone() });
            }
            out.extend(found);
        } else {
            std::fs::metadata(path).map_err(io)?;
            out.push(path.clone());
        }
    }
    Ok(out)
}

impl<'a> Importer<'a> {
    /// An importer into `store` (checked to be mainnet's by the caller) proving against
    /// `accumulator`.
    pub fn new(store: &'a Storage, accumulator: &'a HistoricalHashesAccumulator) -> Self {
        Self {
            store,
            accumulator,
            tip: None,
        }
    }

    fn storage_err(path: &Path) -> impl Fn(StorageError) -> Era1Error + '_ {
        move |source| Era1Error::Storage {
            path: path.to_path_buf(),
            source: Box::new(source),
        }
    }

    /// Whether every block of `epoch` is stored already.
    fn epoch_stored(&self, path: &Path, epoch: u64) -> Result<bool, Era1Error> {
        if epoch >= self.accumulator.epochs() {
            return Ok(false);
        }
        for n in epoch * EPOCH_SIZE..=epoch_last_block(epoch) {
            let has = self
                .store
                .has_block(BlockNumber(n))
                .map_err(|e| Self::storage_err(path)(e.into()))?;
            if !has {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Proves one file and stores its blocks; nothing is stored if any check fails.
    pub fn import_file(&mut self, path: &Path) -> Result<FileReport, Era1Error> {
        let started = Instant::now();
        let io = |source| Era1Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(Era1Name::parse);
        let file = File::open(path).map_err(io)?;
        let bytes = file.metadata().map_err(io)?.len();
        if let Some(name) = &name
            && name.network == NETWORK
            && self.epoch_stored(path, name.epoch)?
        {
            let last = epoch_last_block(name.epoch);
            let hash = self
                .store
                .block_hash(BlockNumber(last))
                .map_err(|e| Self::storage_err(path)(e.into()))?;
            self.tip = hash.map(|hash| Tip {
                number: last,
                hash,
                total_difficulty: None,
            });
            return Ok(FileReport {
                path: path.to_path_buf(),
                epoch: name.epoch,
                first: name.epoch * EPOCH_SIZE,
                last,
                stored: 0,
                present: (last + 1 - name.epoch * EPOCH_SIZE) as usize,
                skipped: true,
                bytes,
                elapsed: started.elapsed(),
            });
        }
        let proven = self.prove(
            path,
            BufReader::with_capacity(1 << 20, file),
            bytes,
            name.as_ref(),
        )?;
        let mut stored = 0;
        let mut prepared = proven.prepared;
        while !prepared.is_empty() {
            let rest = prepared.split_off(prepared.len().min(STORE_BATCH));
            let outcome = self
                .store
                .put_prepared(prepared)
                .map_err(|e| Self::storage_err(path)(e.into()))?;
            stored += outcome.stored;
            prepared = rest;
        }
        let last = proven.first + proven.records.len() as u64 - 1;
        self.tip = proven.records.last().map(|r| Tip {
            number: last,
            hash: r.block_hash,
            total_difficulty: Some(r.total_difficulty),
        });
        Ok(FileReport {
            path: path.to_path_buf(),
            epoch: proven.first / EPOCH_SIZE,
            first: proven.first,
            last,
            stored,
            present: proven.records.len() - stored,
            skipped: false,
            bytes,
            elapsed: started.elapsed(),
        })
    }

    /// Step 1: reads and proves the whole file; returns what to store.
    fn prove(
        &self,
        path: &Path,
        reader: BufReader<File>,
        len: u64,
        name: Option<&Era1Name>,
    ) -> Result<Proven, Era1Error> {
        // Until the first header is read, a failing block is the one the name promises.
        let named_first = name.map_or(0, |n| n.epoch * EPOCH_SIZE);
        let block_err = |number: u64| {
            move |source: BlockError| Era1Error::Block {
                path: path.to_path_buf(),
                number,
                source,
            }
        };
        let mut file =
            Era1Reader::new(reader, len).map_err(|e| block_err(named_first)(e.into()))?;
        let mut records: Vec<HeaderRecord> = Vec::with_capacity(EPOCH_SIZE as usize);
        let mut prepared: Vec<PreparedBlock> = Vec::new();
        let mut prev: Option<(SealedHeader, U256)> = None;
        let mut first = None;
        loop {
            let expected = prev
                .as_ref()
                .map_or(named_first, |(h, _)| h.header.number + 1);
            let next = file.next_block().map_err(|source| {
                if file.in_trailer() {
                    Era1Error::Trailer {
                        path: path.to_path_buf(),
                        last: prev.as_ref().map(|(h, _)| h.header.number),
                        source,
                    }
                } else {
                    block_err(expected)(source.into())
                }
            });
            let Some(tuple) = next? else {
                break;
            };
            let header = codec::header(&tuple.header).map_err(block_err(expected))?;
            let number = header.number;
            let fail = block_err(number);
            // No epoch of any accumulator reaches this number (mainnet's last PoW block is
            // 15,537,393), and refusing it keeps `number + 1` (the next block expected, the stored
            // child checked) from overflowing on a file's say-so.
            if number == u64::MAX {
                return Err(fail(BlockError::Number { got: number }));
            }
            let sealed = SealedHeader::seal(header);
            match &prev {
                Some((parent, _)) => {
                    if number != expected {
                        return Err(fail(BlockError::Number { got: number }));
                    }
                    verify::check_link(parent, &sealed).map_err(|e| fail(e.into()))?;
                }
                None => {
                    first = Some(number);
                    self.check_stored_parent(path, &sealed)?;
                }
            }
            let difficulty = sealed.header.difficulty;
            let parent_td = match &prev {
                Some((_, td)) => Some(*td),
                None if number == 0 => Some(U256::ZERO),
                None => self
                    .tip
                    .filter(|t| t.number + 1 == number && t.hash == sealed.header.parent_hash)
                    .and_then(|t| t.total_difficulty),
            };
            if let Some(parent_td) = parent_td {
                let expected_td = parent_td.saturating_add(difficulty);
                if tuple.total_difficulty != expected_td {
                    return Err(fail(BlockError::TotalDifficulty {
                        expected: expected_td,
                        got: tuple.total_difficulty,
                    }));
                }
            }
            let body = codec::body(&tuple.body).map_err(&fail)?;
            let receipts = codec::receipts(&tuple.receipts).map_err(&fail)?;
            let block =
                verify::verify_block(sealed.clone(), body, receipts).map_err(|e| fail(e.into()))?;
            records.push(HeaderRecord {
                block_hash: sealed.hash,
                total_difficulty: tuple.total_difficulty,
            });
            let stored = self
                .store
                .has_block(BlockNumber(number))
                .map_err(|e| Self::storage_err(path)(e.into()))?;
            if !stored {
                prepared.push(self.store.prepare(&block));
            }
            prev = Some((sealed, tuple.total_difficulty));
        }
        let last_number = prev.as_ref().map(|(h, _)| h.header.number);
        let trailer = file.trailer().cloned().ok_or_else(|| Era1Error::Trailer {
            path: path.to_path_buf(),
            last: last_number,
            source: super::file::FormatError::MissingEntry {
                expected: "accumulator",
            },
        })?;
        let (Some(first), Some((last, _))) = (first, prev) else {
            return Err(Era1Error::NotAnEpoch {
                path: path.to_path_buf(),
                first: trailer.start,
                last: trailer.start,
            });
        };
        if trailer.start != first {
            return Err(Era1Error::Trailer {
                path: path.to_path_buf(),
                last: last_number,
                source: super::file::FormatError::Index(format!(
                    "starts at block {}, the first header is block {first}",
                    trailer.start
                )),
            });
        }
        if !first.is_multiple_of(EPOCH_SIZE) || last.header.number - first >= EPOCH_SIZE {
            return Err(Era1Error::NotAnEpoch {
                path: path.to_path_buf(),
                first,
                last: last.header.number,
            });
        }
        let epoch = first / EPOCH_SIZE;
        let computed =
            crate::verify::accumulator::epoch_root(&records).ok_or(Era1Error::NotAnEpoch {
                path: path.to_path_buf(),
                first,
                last: last.header.number,
            })?;
        if computed != trailer.accumulator {
            return Err(Era1Error::AccumulatorEntry {
                path: path.to_path_buf(),
                in_file: trailer.accumulator,
                computed,
            });
        }
        if let Some(name) = name {
            let actual = Era1Name::format(NETWORK, epoch, &computed);
            if name.epoch != epoch || name.short_root != computed[..4] || name.network != NETWORK {
                return Err(Era1Error::NameMismatch {
                    path: path.to_path_buf(),
                    named: Era1Name::format(
                        &name.network,
                        name.epoch,
                        &B256::right_padding_from(&name.short_root),
                    ),
                    actual,
                });
            }
        }
        self.accumulator
            .verify_epoch(epoch, &records)
            .map_err(|source| Era1Error::Accumulator {
                path: path.to_path_buf(),
                source,
            })?;
        self.check_stored_child(path, &last)?;
        Ok(Proven {
            first,
            records,
            prepared,
        })
    }

    /// The file's first block must link to block `first - 1` where that one is known.
    fn check_stored_parent(&self, path: &Path, first: &SealedHeader) -> Result<(), Era1Error> {
        let number = first.header.number;
        let Some(parent_number) = number.checked_sub(1) else {
            return Ok(());
        };
        let known = match self.tip.filter(|t| t.number == parent_number) {
            Some(t) => Some(t.hash),
            None => self
                .store
                .block_hash(BlockNumber(parent_number))
                .map_err(|e| Self::storage_err(path)(e.into()))?,
        };
        match known {
            Some(hash) if hash != first.header.parent_hash => Err(Era1Error::Block {
                path: path.to_path_buf(),
                number,
                source: BlockError::StoredNeighbour {
                    stored: parent_number,
                    reason: format!("parent hash {} is not {hash}", first.header.parent_hash),
                },
            }),
            _ => Ok(()),
        }
    }

    /// A stored block right after the file's last must name it as parent.
    fn check_stored_child(&self, path: &Path, last: &SealedHeader) -> Result<(), Era1Error> {
        let child = last.header.number + 1;
        let header = self
            .store
            .header(BlockNumber(child))
            .map_err(|e| Self::storage_err(path)(e.into()))?;
        match header {
            Some(h) if h.parent_hash != last.hash => Err(Era1Error::Block {
                path: path.to_path_buf(),
                number: last.header.number,
                source: BlockError::StoredNeighbour {
                    stored: child,
                    reason: format!("its parent hash {} is not {}", h.parent_hash, last.hash),
                },
            }),
            _ => Ok(()),
        }
    }
}

/// A proven file: its records and the blocks to store.
struct Proven {
    first: u64,
    records: Vec<HeaderRecord>,
    prepared: Vec<PreparedBlock>,
}
