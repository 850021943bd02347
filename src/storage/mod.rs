//! Storage: the verified history, in shard files indexed by redb (docs/architecture.md §4).
//!
//! Owns everything under the data directory. Callers see [`Storage`] and its typed errors only;
//! file formats live in `layout.rs`. It must never accept unverified data: write paths take
//! [`VerifiedBlock`] only, produced by `verify`. It knows nothing of p2p, sync or the CLI (the
//! layer test in `layers.rs` checks): callers above it adapt its data to their needs.
//!
//! ```text
//! data_dir/
//!   LOCK                      flock + holder pid: one process at a time
//!   index.redb                meta, shard rows (state, committed lengths, presence bitset),
//!                             block hash → number, the unsealed tail's tx hash prefixes by
//!                             block, peer cache
//!   shards/<first block>/     12-digit first block of the shard
//!     wal                     checksummed records, any order (state Filling)
//!     seg-<gen>.dat / .idx    sorted block frames + fixed-size offset table (Sorted, Sealed)
//!     logs-<gen>.idx          the log index (Sealed only; derived, rebuilt on open if missing)
//!     txs-<gen>.idx           the transaction index (Sealed only, until its group's run in
//!                             txruns/ replaces it; derived, rebuilt on open)
//!     txhashes                ingest's transaction hashes for the seal (unsealed only;
//!                             derived, never fsynced: `log_index/tx_hashes.rs`)
//! ```
//!
//! The commit rule ("redb commits last"): shard bytes are written and fsynced (files, then their
//! directory) before the redb commit that names their lengths; anything on disk beyond what redb
//! names is garbage, removed on open (`repair.rs`). In test builds a durability ledger
//! (`fsio.rs`) checks the rule on every commit. Module map: `store` (open, identity), `write`
//! (put, append, seal), `compact`, `rollback`, `read`, `missing`, `repair`, `admin` (what `histd db` reads),
//! `log_index` (per sealed shard, `logs-<gen>.idx`: the logs and their posting lists; DESIGN §7),
//! `tx_index` (transaction hash → candidates: the tail in redb, sealed shards in `txs-<gen>.idx`),
//! `wal`, `segment`, `record` (a block's stored form), `layout` (byte formats), `index` (redb
//! schema), `shard` (lifecycle), `lock`, `fsio`, `backend` (the file-system seam every file
//! operation goes through, redb's file included), `sim` (a simulated disk with power cuts, test
//! builds only), `error`.
//!
//! [`VerifiedBlock`]: crate::primitives::VerifiedBlock

pub mod admin;
mod backend;
mod compact;
mod error;
mod fsio;
mod handle;
mod index;
mod layout;
mod lock;
mod log_index;
mod missing;
mod open_files;
mod read;
mod record;
mod repair;
mod rollback;
mod segment;
mod shard;
/// A simulated disk for power-cut and fault-walk tests (feature `testkit`).
#[cfg(any(test, feature = "testkit"))]
pub mod sim;
mod store;
mod tx_index;
mod wal;
mod write;

pub use admin::{ShardContents, ShardStats, StoreStats};
pub use backend::{Disk, FileSystem, OpenMode, ReadCursor, RealFs, RedbFile, StoreFile};
pub use compact::{CompactFailure, CompactOutcome, CompactReport};
/// Test-only fault injection for shard files (feature `testkit`).
#[cfg(feature = "testkit")]
pub use fsio::fault;
pub use fsio::free_bytes;
pub use open_files::descriptor_limits;

pub use error::{
    CorruptError, FileError, IndexError, IoError, LockError, OpenError, ReadError, StorageError,
    WriteError, is_no_space,
};
pub use handle::{StoreError, StoreHandle};
pub use lock::DirLock;
pub use log_index::{FoundLog, LogIndexStats, LogQuery, LogSearch, TOPIC_POSITIONS};
pub use missing::MissingRanges;
pub use read::TxLookup;
pub use record::{Retention, StoredBlock, StoredBody, StoredTransactions, TxRetention};
pub use repair::{DropOutcome, LinkFault, RepairReport};
pub use rollback::RollbackOutcome;
pub use shard::{ShardState, TRANSITIONS};
pub use store::{DEFAULT_SHARD_SIZE, MAX_SHARD_SIZE, OpenOptions, Storage};
pub use write::{PreparedBlock, PutOutcome};
