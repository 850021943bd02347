//! era1 import and export (issue 15) on the real mainnet epoch 0 file
//! (`testdata/mainnet/era1/mainnet-00000-5ec1ffb8.era1`), proven against the real accumulator.
//! `import`: proof, resumption and refusals (each tampered copy names its file and first bad
//! block and leaves the store unchanged); `export`: the round trip; `binary`: both through the
//! real `histd` binary; `anchor`: the merge block as mainnet's checkpoint; `cross_file`: several
//! files of one run linked to each other; `startup`: `sync.era1_dir` in `histd run`; `fastsync`:
//! fast-sync skips what was imported, and says so when no peer serves the rest.
//!
//! Only epoch 0 of mainnet is in the testdata, so several-file cases use a synthetic testnet chain
//! cut into era1 files by histd's own export, proven against an accumulator of that chain's epoch
//! roots ([`chain_epochs`]); the proof code is the same, only the trusted roots differ.

mod anchor;
mod binary;
mod cross_file;
mod export;
mod fastsync;
mod import;
mod startup;

use std::path::{Path, PathBuf};

use alloy_primitives::U256;
use histd::era1::{self, E2Reader, Entry};
use histd::primitives::BlockNumber;
use histd::storage::{DEFAULT_SHARD_SIZE, OpenOptions, Retention, Storage};
use histd::testkit::testnet::{TESTNET_CHAIN_ID, TestnetChain};
use histd::verify::accumulator::{
    EPOCH_SIZE, HeaderRecord, HistoricalHashesAccumulator, epoch_root,
};

/// The real epoch 0 file.
pub fn epoch0() -> PathBuf {
    histd::testkit::testdata_dir()
        .join("mainnet")
        .join("era1")
        .join("mainnet-00000-5ec1ffb8.era1")
}

/// A new mainnet store in `dir`.
pub fn mainnet_store(dir: &Path) -> Storage {
    Storage::open(
        dir,
        OpenOptions {
            chain_id: 1,
            genesis_hash: alloy_consensus::constants::MAINNET_GENESIS_HASH,
            shard_size: DEFAULT_SHARD_SIZE,
            retention: Retention::default(),
        },
    )
    .expect("open a mainnet store")
}

/// Every e2store entry of an era1 file.
pub fn entries(bytes: &[u8]) -> Vec<Entry> {
    let mut r = E2Reader::new(bytes, bytes.len() as u64);
    let mut out = Vec::new();
    while let Some(e) = r.next_entry().expect("a well-formed e2store file") {
        out.push(e);
    }
    out
}

/// A new store for `chain` (the testnet's identity) in `dir`, `shard_size` blocks per shard.
pub fn testnet_store(dir: &Path, chain: &TestnetChain, shard_size: u64) -> Storage {
    Storage::open(
        dir,
        OpenOptions {
            chain_id: TESTNET_CHAIN_ID,
            genesis_hash: chain.genesis().hash_slow(),
            shard_size,
            retention: Retention::default(),
        },
    )
    .expect("open a testnet store")
}

/// The accumulator of `chain`'s first `epochs` epochs: their roots over (hash, total difficulty).
pub fn chain_accumulator(chain: &TestnetChain, epochs: u64) -> HistoricalHashesAccumulator {
    let mut td = U256::ZERO;
    let mut roots = Vec::new();
    for epoch in 0..epochs {
        let records: Vec<HeaderRecord> = (epoch * EPOCH_SIZE..(epoch + 1) * EPOCH_SIZE)
            .map(|n| {
                let header = chain.sealed_header(n).expect("the chain is long enough");
                td += header.header.difficulty;
                HeaderRecord {
                    block_hash: header.hash,
                    total_difficulty: td,
                }
            })
            .collect();
        roots.push(epoch_root(&records).expect("a whole epoch"));
    }
    HistoricalHashesAccumulator::from_roots(roots)
}

/// The synthetic chain the several-file tests share (two epochs; seed 1, so its first 9,001
/// blocks are the default testnet chain's), its era1 files and their accumulator: built once per
/// test process, since cutting a chain into era1 files takes seconds in a debug build.
pub struct SharedEpochs {
    /// The chain (blocks 0..=16383).
    pub chain: TestnetChain,
    /// Its accumulator.
    pub acc: HistoricalHashesAccumulator,
    /// Epoch 0's and epoch 1's files.
    pub files: Vec<PathBuf>,
    _dir: tempfile::TempDir,
}

/// See [`SharedEpochs`].
pub fn shared_epochs() -> &'static SharedEpochs {
    static SHARED: std::sync::OnceLock<SharedEpochs> = std::sync::OnceLock::new();
    SHARED.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let chain = TestnetChain::build(
            histd::testkit::testnet::ChainKind::Synthetic,
            1,
            2 * EPOCH_SIZE,
        );
        let (acc, files) = chain_epochs(&chain, 2, dir.path());
        SharedEpochs {
            chain,
            acc,
            files,
            _dir: dir,
        }
    })
}

/// `chain`'s first `epochs` epochs as era1 files in `out` (written by histd's export from a
/// scratch store), and the accumulator that proves them.
pub fn chain_epochs(
    chain: &TestnetChain,
    epochs: u64,
    out: &Path,
) -> (HistoricalHashesAccumulator, Vec<PathBuf>) {
    let acc = chain_accumulator(chain, epochs);
    let scratch_dir = tempfile::tempdir().expect("tempdir");
    let scratch = testnet_store(scratch_dir.path(), chain, DEFAULT_SHARD_SIZE);
    let last = epochs * EPOCH_SIZE - 1;
    for lo in (0..=last).step_by(2048) {
        let blocks: Vec<_> = (lo..=(lo + 2047).min(last))
            .map(|n| {
                chain
                    .verified_block(n)
                    .expect("in the chain")
                    .expect("verifies")
            })
            .collect();
        scratch.put_unordered(&blocks).expect("store");
    }
    assert!(scratch.has_block(BlockNumber(last)).expect("read"));
    // Export reads block by block: from sorted segments, not from the WAL.
    scratch.compact_dirty().expect("compact");
    let files = era1::export(&scratch, &acc, 0, last, out, |_| {})
        .expect("export")
        .into_iter()
        .map(|f| f.path)
        .collect();
    (acc, files)
}
