//! Storage: the verified history, in shard files indexed by redb (DESIGN.md §5).
//!
//! Owns everything under the data directory: `index.redb` (the commit point), `shards/<first>/`
//! (WAL, sorted segments), `LOCK`. Callers see [`Storage`] and its typed errors only; file formats
//! live in `layout.rs`. It must never accept unverified data: write paths take [`VerifiedBlock`]
//! only, produced by `sync::verify`.
//!
//! [`VerifiedBlock`]: crate::primitives::VerifiedBlock

pub mod admin;
mod compact;
mod error;
mod fsio;
mod index;
mod layout;
mod lock;
mod missing;
mod read;
mod record;
mod repair;
mod rollback;
mod segment;
mod shard;
mod store;
mod wal;
mod write;

pub use admin::{DbCommand, ShardStats, StoreStats, VerifyReport};
pub use compact::CompactOutcome;
pub use error::{
    CorruptError, FileError, IndexError, IoError, LockError, OpenError, ReadError, StorageError,
    WriteError,
};
pub use missing::MissingRanges;
pub use read::TxLookup;
pub use record::{Retention, StoredBlock, StoredBody, StoredTransactions, TxRetention};
pub use repair::RepairReport;
pub use rollback::RollbackOutcome;
pub use shard::{ShardState, TRANSITIONS};
pub use store::{DEFAULT_SHARD_SIZE, OpenOptions, Storage};
pub use write::PutOutcome;
