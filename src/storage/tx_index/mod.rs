//! The transaction index (hash → block and index), split like an LSM tree (DESIGN §7):
//!
//! - the unsealed tail lives in redb table `index::TX_BLOCKS` (block number → the 8-byte hash
//!   prefixes of its transactions, in order): one insert per block with nearly sequential keys,
//!   so a commit rewrites a handful of leaf pages instead of one per transaction (the schema-2
//!   table keyed by prefix did the latter, and was the costliest part of a block write);
//! - each sealed shard has an immutable file `txs-<gen>.idx` beside its segment (`file.rs`):
//!   entries sorted by prefix with a bucket table, so a lookup is two positioned reads.
//!
//! - each aligned group of 64 sealed shards then gets a run `txruns/run-<first>-<tag>.idx`
//!   (`run.rs`): the group's files merged into one of the same format, written when the group's
//!   last shard is sealed and on open (`merge.rs`), so a lookup probes one file per group. The
//!   run replaces the files it was merged from (`replace.rs`): the index is stored once.
//!
//! A lookup scans the tail's values and probes every group's run, or where a group has none
//! matching the snapshot, its sealed shards' files (a file missing because a run replaced it
//! after the snapshot was taken makes it retry in a fresh one); every hit is only a candidate
//! the reader confirms against the stored transaction's full hash (`read.rs`).
//!
//! Owns the file format (`file.rs`), writing, repairing and checking the files (`build.rs`),
//! the runs' format (`run.rs`), their writing and repair (`merge.rs`), the hand-over between a
//! run and its shards' files (`replace.rs`), checking a run (`check_run.rs`), the files kept
//! open (`open.rs`) and the lookup of candidates (`lookup.rs`). It must never change what redb
//! says is committed: a file is derived data, written (tmp, fsync, rename, fsync directory)
//! before the commit that marks its shard Sealed and removes the shard's `TX_BLOCKS` range,
//! removed once a valid run covering its shard opens, rebuilt on open when a sealed shard no
//! valid run covers lacks a readable one (from a run that stopped matching if it has the
//! shard, else from the segment), and removed for shards not sealed. A run is derived from
//! those files and never trusted blindly: a lookup uses it only if the shards it covers are,
//! in the lookup's snapshot, sealed as it recorded.

mod build;
mod check_run;
mod file;
mod lookup;
mod merge;
mod open;
mod replace;
mod run;

use std::path::{Path, PathBuf};

pub(super) use open::OpenTxFiles;

/// The transaction index file of segment generation `generation` in shard directory `dir`.
pub(super) fn index_path(dir: &Path, generation: u32) -> PathBuf {
    dir.join(format!("txs-{generation}.idx"))
}

/// Whether a file in a shard directory is (or was being written as) a transaction index.
pub(super) fn is_index_file(name: &str) -> bool {
    name.starts_with("txs-")
}

/// The bytes a block's transactions occupy in `index::TX_BLOCKS`: each hash's prefix
/// (`index::tx_prefix`, big-endian), in block order. [`block_prefixes`] reads them back.
pub(super) fn block_value(prefixes: impl ExactSizeIterator<Item = u64>) -> Vec<u8> {
    let mut v = Vec::with_capacity(prefixes.len() * 8);
    for p in prefixes {
        v.extend_from_slice(&p.to_be_bytes());
    }
    v
}

/// The prefixes of a `index::TX_BLOCKS` value ([`block_value`]), in block order.
pub(super) fn block_prefixes(value: &[u8]) -> impl Iterator<Item = u64> + '_ {
    value.chunks_exact(8).map(|c| {
        let mut p = [0u8; 8];
        p.copy_from_slice(c);
        u64::from_be_bytes(p)
    })
}
