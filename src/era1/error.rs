//! The errors of era1 import and export. Every variant names the file (or range) and, where one
//! block is at fault, the first bad block, so an operator knows which download to replace.

use std::io;
use std::path::PathBuf;

use alloy_primitives::{B256, U256};

use super::file::FormatError;
use crate::primitives::ReceiptDecodeError;
use crate::storage::StorageError;
use crate::verify::VerifyError;
use crate::verify::accumulator::AccumulatorError;

/// Why one block of an era1 file is refused.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// The file's layout broke while this block was read.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// The header is not valid RLP.
    #[error("header RLP: {0}")]
    Header(alloy_rlp::Error),
    /// The body is not valid RLP.
    #[error("body RLP: {0}")]
    Body(alloy_rlp::Error),
    /// The receipts are not a valid list.
    #[error("receipts: {0}")]
    Receipts(ReceiptDecodeError),
    /// Bytes after the RLP item of a part.
    #[error("{part}: {len} bytes after the RLP item")]
    Trailing { part: &'static str, len: usize },
    /// Headers out of order.
    #[error("header says block {got}")]
    Number { got: u64 },
    /// Roots or links do not match.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// The total difficulty is not the previous one plus this block's difficulty.
    #[error("total difficulty {got}, expected {expected}")]
    TotalDifficulty { expected: U256, got: U256 },
    /// The block does not link to the stored neighbour.
    #[error("does not link to stored block {stored}: {reason}")]
    StoredNeighbour { stored: u64, reason: String },
}

/// Why an era1 import or export failed.
#[derive(Debug, thiserror::Error)]
pub enum Era1Error {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A block (the first bad one) is refused; nothing of the file was stored.
    #[error("{}: block {number}: {source} (nothing of this file was stored)", path.display())]
    Block {
        path: PathBuf,
        number: u64,
        #[source]
        source: BlockError,
    },
    /// The layout after the last block is wrong; nothing of the file was stored.
    #[error("{}: after block {last:?}: {source} (nothing of this file was stored)", path.display())]
    Trailer {
        path: PathBuf,
        last: Option<u64>,
        #[source]
        source: FormatError,
    },
    /// The blocks do not form one epoch that starts at an epoch boundary.
    #[error("{}: blocks {first}..={last} are not one pre-merge epoch (8192 blocks from a multiple of 8192)", path.display())]
    NotAnEpoch {
        path: PathBuf,
        first: u64,
        last: u64,
    },
    /// The file's accumulator entry is not the root of its own blocks.
    #[error("{}: accumulator entry {in_file} is not the root {computed} of the file's blocks (nothing of this file was stored)", path.display())]
    AccumulatorEntry {
        path: PathBuf,
        in_file: B256,
        computed: B256,
    },
    /// The epoch is not the mainnet accumulator's.
    #[error("{}: {source} (nothing of this file was stored)", path.display())]
    Accumulator {
        path: PathBuf,
        #[source]
        source: AccumulatorError,
    },
    /// The file name says another epoch or root than the content.
    #[error("{}: the name says {named}, the content is {actual} (a file from another epoch?)", path.display())]
    NameMismatch {
        path: PathBuf,
        named: String,
        actual: String,
    },
    /// A path given is neither an era1 file nor a directory holding some.
    #[error("{}: no .era1 files here", path.display())]
    NoFiles { path: PathBuf },
    /// Storage failed.
    #[error("{}: storage: {source}", path.display())]
    Storage {
        path: PathBuf,
        // Boxed: storage errors are large and rare; this keeps every `Result` small.
        #[source]
        source: Box<StorageError>,
    },
    /// era1 files carry mainnet history only.
    #[error(
        "the data directory is for chain {chain_id} (genesis {genesis}); era1 history is mainnet's"
    )]
    NotMainnet { chain_id: u64, genesis: B256 },
    /// The built-in accumulator could not be read (a build defect).
    #[error("built-in mainnet accumulator: {0}")]
    BuiltIn(AccumulatorError),
    /// An export range that is not whole pre-merge epochs.
    #[error("export range {from}..={to}: {reason}")]
    Range { from: u64, to: u64, reason: String },
    /// A block needed for export is not stored, or not whole.
    #[error("export: block {number}: {reason}")]
    NotStored { number: u64, reason: String },
}
