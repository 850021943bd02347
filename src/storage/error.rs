//! Error types of the store, one enum per kind of operation (open, read, write), each carrying the
//! file or block it is about. Owns no logic: it must never decide policy, only describe failures.

use std::io;
use std::path::{Path, PathBuf};

use alloy_primitives::B256;

use crate::primitives::BlockNumber;

/// An I/O failure on a named file.
#[derive(Debug, thiserror::Error)]
#[error("{op} {}: {source}", path.display())]
pub struct IoError {
    /// What was being done ("open", "fsync", "rename", ...).
    pub op: &'static str,
    /// The file or directory.
    pub path: PathBuf,
    /// The OS error.
    #[source]
    pub source: io::Error,
}

/// Attaches a file name and an operation to an `io::Result`.
pub(crate) trait IoContext<T> {
    fn ctx(self, op: &'static str, path: &Path) -> Result<T, IoError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, op: &'static str, path: &Path) -> Result<T, IoError> {
        self.map_err(|source| IoError {
            op,
            path: path.to_path_buf(),
            source,
        })
    }
}

/// A failure of the redb index (`index.redb`).
#[derive(Debug, thiserror::Error)]
#[error("index.redb: {0}")]
pub struct IndexError(#[from] pub redb::Error);

/// Bytes on disk that do not match their layout, checksum or committed length.
#[derive(Debug, thiserror::Error)]
#[error("{} at byte {offset}: {what}", path.display())]
pub struct CorruptError {
    /// The damaged file.
    pub path: PathBuf,
    /// Where the damage starts.
    pub offset: u64,
    /// What is wrong.
    pub what: String,
}

/// A failure reading or writing a shard file: either the OS failed or the bytes are damaged.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The OS failed.
    #[error(transparent)]
    Io(#[from] IoError),
    /// The bytes are damaged.
    #[error(transparent)]
    Corrupt(#[from] CorruptError),
}

/// Taking the data-directory lock failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// Another process holds the lock.
    #[error(
        "data directory {} is in use by another histd process{}",
        dir.display(),
        pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
    )]
    Held {
        /// The data directory.
        dir: PathBuf,
        /// Pid written by the holder, when readable.
        pid: Option<u32>,
    },
    /// The lock file could not be opened or locked.
    #[error(transparent)]
    Io(#[from] IoError),
}

/// Opening (or creating, or repairing) a data directory failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Another process uses the directory.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The directory belongs to another chain.
    #[error("data directory {} holds chain id {stored}, but chain id {requested} was asked for", dir.display())]
    ChainMismatch {
        dir: PathBuf,
        stored: u64,
        requested: u64,
    },
    /// The directory belongs to another genesis.
    #[error("data directory {} holds genesis {stored}, but genesis {requested} was asked for", dir.display())]
    GenesisMismatch {
        dir: PathBuf,
        stored: B256,
        requested: B256,
    },
    /// Shard size is fixed when the directory is created.
    #[error("data directory {} was created with shard size {stored}, but shard size {requested} was asked for (it cannot change)", dir.display())]
    ShardSizeMismatch {
        dir: PathBuf,
        stored: u64,
        requested: u64,
    },
    /// Shard size must be in `1 ..= 1_000_000`.
    #[error("shard size {0} is out of range (1 ..= 1000000)")]
    InvalidShardSize(u64),
    /// A newer or unknown schema.
    #[error("data directory {} has index schema {found}; this histd reads schema {supported}", dir.display())]
    Schema {
        dir: PathBuf,
        found: u32,
        supported: u32,
    },
    /// `open_existing` on a directory without an index.
    #[error("{} is not a histd data directory (no index.redb)", dir.display())]
    NotADatabase { dir: PathBuf },
    /// The index metadata is missing a key or is malformed.
    #[error("index.redb metadata `{key}` is missing or malformed")]
    Meta { key: &'static str },
    /// An I/O failure.
    #[error(transparent)]
    Io(#[from] IoError),
    /// An index failure.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// Committed bytes are missing or damaged.
    #[error(transparent)]
    Corrupt(#[from] CorruptError),
}

/// A read failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// A stored block's frames passed their checksum but do not decode.
    #[error("block {number}: stored bytes do not decode: {what}")]
    Undecodable { number: BlockNumber, what: String },
    /// The block's transactions were stored as hashes only (`retention.transactions = "hashes"`).
    #[error("block {number}: only transaction hashes are retained")]
    TransactionsNotRetained { number: BlockNumber },
    /// An I/O failure.
    #[error(transparent)]
    Io(#[from] IoError),
    /// An index failure.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// Stored bytes are damaged.
    #[error(transparent)]
    Corrupt(#[from] CorruptError),
}

/// A write (put, append, compaction, seal, rollback, head update) failed. Nothing was committed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// `append_sorted` got a block that is not the next one.
    #[error("append_sorted: block {got} is not the next block {expected}")]
    NotNext {
        expected: BlockNumber,
        got: BlockNumber,
    },
    /// `append_sorted` got a block whose parent is not the stored tip.
    #[error("append_sorted: block {number} has parent {got}, stored block before it is {expected}")]
    NotLinked {
        number: BlockNumber,
        expected: B256,
        got: B256,
    },
    /// A different block is already stored at this height.
    #[error("block {number}: {stored} is stored, {offered} was offered (roll back first)")]
    Conflict {
        number: BlockNumber,
        stored: B256,
        offered: B256,
    },
    /// Compaction found two consecutive stored blocks that do not link; nothing was changed.
    #[error("shard {shard}: block {number} has parent {got} but block before it is {expected}")]
    BrokenLink {
        shard: u64,
        number: BlockNumber,
        expected: B256,
        got: B256,
    },
    /// Sealed shards are immutable.
    #[error("shard {shard} is sealed and cannot change (rollback too deep?)")]
    Sealed { shard: u64 },
    /// Only complete shards can be sealed.
    #[error("shard {shard} holds {present} of {size} blocks; only complete shards can be sealed")]
    Incomplete { shard: u64, present: u64, size: u64 },
    /// A transition the shard lifecycle does not have (a bug, reported rather than obeyed).
    #[error("shard {shard}: no transition {from:?} -> {to:?}")]
    IllegalTransition {
        shard: u64,
        from: super::ShardState,
        to: super::ShardState,
    },
    /// Reading stored data failed.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The disk holding the data directory is full (ENOSPC, on a shard file or on redb's own
    /// file). Nothing was committed, and the store stays consistent; the write succeeds once space
    /// is freed. Callers stop writing instead of retrying in a loop (README "Storage").
    #[error("disk full: {what}: {source}")]
    DiskFull {
        /// What was being written (operation and file).
        what: String,
        /// The error the OS (or redb) returned.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An I/O failure.
    #[error(transparent)]
    Io(IoError),
    /// An index failure.
    #[error(transparent)]
    Index(IndexError),
    /// Stored bytes are damaged.
    #[error(transparent)]
    Corrupt(#[from] CorruptError),
}

/// Whether an I/O error means "no space left on device".
pub fn is_no_space(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::StorageFull || e.raw_os_error() == Some(libc::ENOSPC)
}

impl From<IoError> for WriteError {
    fn from(e: IoError) -> Self {
        if is_no_space(&e.source) {
            return WriteError::DiskFull {
                what: format!("{} {}", e.op, e.path.display()),
                source: Box::new(e.source),
            };
        }
        WriteError::Io(e)
    }
}

impl From<IndexError> for WriteError {
    fn from(e: IndexError) -> Self {
        if let redb::Error::Io(io) = &e.0
            && is_no_space(io)
        {
            return WriteError::DiskFull {
                what: "writing index.redb".into(),
                source: Box::new(e.0),
            };
        }
        WriteError::Index(e)
    }
}

/// Any storage failure, for callers (the `db` subcommands) that handle them alike.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// Opening failed.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// A read failed.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// A write failed.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// `db verify` found a bad block.
    #[error("verify: block {number}: {reason}")]
    Verify { number: BlockNumber, reason: String },
    /// Rendering a report failed.
    #[error("rendering report: {0}")]
    Render(String),
    /// An operation over many shards finished, but some failed; the report names them.
    #[error("some shards failed:\n{0}")]
    Incomplete(String),
}

macro_rules! redb_into {
    ($($target:ty),*) => {$(
        impl From<redb::DatabaseError> for $target { fn from(e: redb::DatabaseError) -> Self { IndexError(e.into()).into() } }
        impl From<redb::TransactionError> for $target { fn from(e: redb::TransactionError) -> Self { IndexError(e.into()).into() } }
        impl From<redb::TableError> for $target { fn from(e: redb::TableError) -> Self { IndexError(e.into()).into() } }
        impl From<redb::StorageError> for $target { fn from(e: redb::StorageError) -> Self { IndexError(e.into()).into() } }
        impl From<redb::CommitError> for $target { fn from(e: redb::CommitError) -> Self { IndexError(e.into()).into() } }
        impl From<redb::SetDurabilityError> for $target { fn from(e: redb::SetDurabilityError) -> Self { IndexError(e.into()).into() } }
    )*};
}
redb_into!(OpenError, ReadError, WriteError);

macro_rules! file_into {
    ($($target:ty),*) => {$(
        impl From<FileError> for $target {
            fn from(e: FileError) -> Self {
                match e {
                    FileError::Io(e) => e.into(),
                    FileError::Corrupt(e) => e.into(),
                }
            }
        }
    )*};
}
file_into!(OpenError, ReadError, WriteError);

impl ReadError {
    /// Whether retrying with a fresh snapshot may succeed (a concurrent compaction or rollback moved
    /// the files a reader had located).
    pub(crate) fn is_transient(&self) -> bool {
        matches!(
            self,
            ReadError::Io(_) | ReadError::Corrupt(_) | ReadError::Undecodable { .. }
        )
    }
}
