//! Test support shared by unit tests, integration tests and benches: the real mainnet blocks of
//! `../shared/testdata`, synthetic chains, in-process peers. Compiled only with the `testkit` feature,
//! never in the product binary.

pub mod chain;
pub mod discovery;
pub mod frontier;
pub mod history;
pub mod mainnet;
pub mod pool;
pub mod storage;
pub mod testnet;

use std::path::{Path, PathBuf};

/// `shared/testdata`, found by walking up from the crate directory: CI clones the repository beside
/// `shared/`, developers may check it out deeper (e.g. in a worktree).
pub fn testdata_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .map(|dir| dir.join("shared").join("testdata"))
        .find(|dir| dir.is_dir())
        .unwrap_or_else(|| panic!("no shared/testdata above {}", manifest.display()))
}

/// The EIP-8 devp2p vectors (`shared/testdata/devp2p/devp2p-vectors.json`).
pub fn devp2p_vectors_path() -> PathBuf {
    testdata_dir().join("devp2p").join("devp2p-vectors.json")
}
