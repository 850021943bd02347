//! era1 import and export (issue 15) on the real mainnet epoch 0 file
//! (`testdata/mainnet/era1/mainnet-00000-5ec1ffb8.era1`), proven against the real accumulator.
//! `import`: proof, resumption and refusals (each tampered copy names its file and first bad
//! block and leaves the store unchanged); `export`: the round trip; `binary`: both through the
//! real `histd` binary.

mod anchor;
mod binary;
mod export;
mod import;

use std::path::{Path, PathBuf};

use histd::era1::{E2Reader, Entry};
use histd::storage::{DEFAULT_SHARD_SIZE, OpenOptions, Retention, Storage};

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
