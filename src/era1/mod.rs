//! Pre-merge history in era1 files: import (proven against the mainnet history accumulator) and
//! export (DESIGN §9, issue 15).
//!
//! Owns the era1 format (`e2store` framing, `file` layout, `codec` between era1 parts and histd's
//! blocks, `name` of files), the built-in mainnet accumulator, and the two operations `import`
//! and `export` over an open [`Storage`], and a `run` over many files (shared by the CLI and
//! the node's Startup, `sync.era1_dir`). It sits beside `sync` (it uses `verify` and
//! `storage`); the CLI opens the store and prints. It must never store a block that `verify` did
//! not pass, nor any block of a file whose epoch does not prove against the accumulator.
//!
//! **The trust anchor.** The mainnet accumulator's 1,897 epoch roots (60 KB, embedded from
//! `mainnet_accumulator.ssz`, a copy of portal-spec-tests' `historical_hashes_accumulator.ssz`)
//! are fixed forever: an epoch whose `(block hash, total difficulty)` records hash to its root is
//! canonical, with no peer asked. The headers' own hashes tie bodies and receipts to it.
//!
//! **Total difficulty.** era1 carries each block's total difficulty, and the epoch roots commit
//! to it, so export must produce it. Storage does not keep it: before the merge it is a pure
//! function of the stored headers (the sum of `difficulty` from genesis), and keeping a second
//! copy would be one more thing that can disagree (and a storage format change). Import checks
//! each block's TD is its parent's plus its difficulty (across files of one run too), so a bad TD
//! entry names its block; export sums the stored difficulties from genesis (a header-only scan,
//! hence every block from 0 up to the range must be stored) and proves each epoch against the
//! accumulator before naming the file, so a wrong sum can never be written out as era1.

mod codec;
mod e2store;
mod error;
mod export;
mod file;
mod import;
mod name;
mod run;

use std::sync::OnceLock;

use alloy_primitives::B256;

pub use e2store::{E2Error, E2Reader, E2Writer, Entry};
pub use error::{BlockError, Era1Error};
pub use export::{ExportedFile, check_range, export};
pub use file::{BlockTuple, Era1Reader, Era1Writer, FormatError, Trailer, compress, decompress};
pub use import::{FileReport, Importer, collect_files};
pub use name::Era1Name;
pub use run::{RunReport, import_files};

use crate::storage::Storage;
use crate::verify::accumulator::{AccumulatorError, EPOCH_SIZE, HistoricalHashesAccumulator};

/// The network name in era1 file names.
pub const NETWORK: &str = "mainnet";

/// The last proof-of-work block of mainnet: the last block any era1 file holds (epoch 1896 is
/// partial and ends here).
pub const MAINNET_LAST_POW_BLOCK: u64 = 15_537_393;

/// Mainnet's EIP-155 chain id.
const MAINNET_CHAIN_ID: u64 = 1;

static MAINNET_ACCUMULATOR_SSZ: &[u8] = include_bytes!("mainnet_accumulator.ssz");

/// The last block of `epoch` (8,191 blocks after its first, or the last proof-of-work block).
pub fn epoch_last_block(epoch: u64) -> u64 {
    (epoch * EPOCH_SIZE + EPOCH_SIZE - 1).min(MAINNET_LAST_POW_BLOCK)
}

/// The built-in mainnet historical hashes accumulator.
pub fn mainnet_accumulator() -> Result<&'static HistoricalHashesAccumulator, Era1Error> {
    static ACC: OnceLock<Result<HistoricalHashesAccumulator, AccumulatorError>> = OnceLock::new();
    ACC.get_or_init(|| HistoricalHashesAccumulator::from_ssz(MAINNET_ACCUMULATOR_SSZ))
        .as_ref()
        .map_err(|e| Era1Error::BuiltIn(e.clone()))
}

/// Refuses a store that is not mainnet's: era1 files and the accumulator are mainnet history.
pub fn check_mainnet(store: &Storage) -> Result<(), Era1Error> {
    let id = store.identity();
    let genesis: B256 = alloy_consensus::constants::MAINNET_GENESIS_HASH;
    if id.chain_id != MAINNET_CHAIN_ID || id.genesis_hash != genesis {
        return Err(Era1Error::NotMainnet {
            chain_id: id.chain_id,
            genesis: id.genesis_hash,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_accumulator_is_mainnet_s() {
        let acc = mainnet_accumulator().unwrap();
        assert_eq!(acc.epochs(), 1897);
        // The roots era1 file names repeat (testdata README).
        assert_eq!(&acc.epoch_root(0).unwrap()[..4], &[0x5e, 0xc1, 0xff, 0xb8]);
        assert_eq!(&acc.epoch_root(1).unwrap()[..4], &[0xa5, 0x36, 0x4e, 0x9a]);
        // The last epoch ends at the last proof-of-work block.
        assert_eq!(MAINNET_LAST_POW_BLOCK / EPOCH_SIZE, acc.epochs() - 1);
        assert_eq!(epoch_last_block(1896), MAINNET_LAST_POW_BLOCK);
        assert_eq!(epoch_last_block(0), 8191);
    }
}
