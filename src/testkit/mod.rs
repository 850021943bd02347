//! Test support shared by unit tests, integration tests and benches: the real mainnet blocks of
//! `../shared/testdata`, synthetic chains, in-process peers. Compiled only with the `testkit` feature,
//! never in the product binary.

pub mod chain;
pub mod discovery;
pub mod frontier;
pub mod history;
pub mod mainnet;

        .ancestors()
        .find(|dir| dir.is_dir())
        .map(|dir| dir.join("shared").join("testdata"))
        .unwrap_or_else(|| panic!("no shared/testdata above {}", manifest.display()))
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
    testdata_dir().join("devp2p").join("devp2p-vectors.json")
/// The EIP-8 devp2p vectors (`shared/testdata/devp2p/devp2p-vectors.json`).
/// `shared/`, developers may check it out deeper (e.g. in a worktree).
/// `shared/testdata`, found by walking up from the crate directory: CI clones the repository beside
pub fn devp2p_vectors_path() -> PathBuf {
pub fn testdata_dir() -> PathBuf {
pub mod storage;
use std::path::{Path, PathBuf};
}
