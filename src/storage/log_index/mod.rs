//! The log index (DESIGN §7): per sealed shard an immutable file beside its segments holding the
//! shard's logs in small compressed chunks and, per address and per topic at each position, the
//! posting list of the logs carrying it, found by a keyed hash. `eth_getLogs` intersects the
//! smallest lists first, knows the match count before decoding anything (the -32005 hint needs
//! it) and decodes only the chunks holding matches; blocks without an index (the unsealed tail)
//! are picked by per-block key sets kept in memory (header bloom until a query first decodes
//! the block), the matched ones kept decoded; both bounded.
//!
//! Owns the file format (`file.rs`), posting lists (`postings.rs`), the query and keyed hash
//! (`query.rs`), the search (`search.rs`), the tail's key sets and cache (`tail.rs`), the files kept open
//! (`open.rs`), the build's (key, log) pairs in bounded memory (`runs.rs`), the transaction hashes ingest
//! keeps beside an unsealed shard for its seal (`tx_hashes.rs`), and writing,
//! repairing and checking index files (`build.rs`). It must never change what redb says is
//! committed: an index file is derived data, written (tmp, fsync, rename, fsync directory)
//! before its shard is marked Sealed, rebuilt on open when a sealed shard lacks one (or has one
//! of an older format), and removed for shards not sealed.

mod build;
mod file;
mod open;
mod postings;
mod query;
mod runs;
mod search;
mod tail;
pub(super) mod tx_hashes;

use std::path::{Path, PathBuf};

pub use build::LogIndexStats;
pub(super) use open::OpenIndexes;
pub use query::{LogQuery, TOPIC_POSITIONS};
pub use search::{FoundLog, LogSearch};
pub(super) use tail::TailCache;

/// The log index file of segment generation `generation` in shard directory `dir`.
pub(super) fn index_path(dir: &Path, generation: u32) -> PathBuf {
    dir.join(format!("logs-{generation}.idx"))
}

/// Whether a file in a shard directory is (or was being written as) a log index.
pub(super) fn is_index_file(name: &str) -> bool {
    name.starts_with("logs-")
}
