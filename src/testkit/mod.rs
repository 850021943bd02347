//! Test support shared by unit tests, integration tests and benches: the real mainnet blocks of
//! `../shared/testdata`, synthetic chains, in-process peers. Compiled only with the `testkit` feature,
//! never in the product binary.

pub mod chain;
pub mod clients;
pub mod cpu_limit;
pub mod discovery;
pub mod ethereumjs;
pub mod frontier;
pub mod history;
pub mod isolated;
pub mod logs;
pub mod mainnet;
pub mod pool;
pub mod process;
pub mod storage;
pub mod testnet;
pub mod txtypes;

use std::path::{Path, PathBuf};

/// `shared/testdata`: the nearest `shared/testdata` at or above the crate directory. The one place
/// that decides where the test data lives.
///
/// CI clones the repository beside `shared/` (so `<repo>/../shared/testdata`); a developer's git
/// worktree sits deeper (`/work/wt/<name>` finds `/work/shared/testdata`), which a fixed `../shared`
/// would miss.
///
/// # Panics
/// If there is none: every test that reads real blocks needs it, and a clear message beats a
/// missing-file error in the middle of a test.
pub fn testdata_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .map(|dir| dir.join("shared").join("testdata"))
        .find(|dir| dir.is_dir())
        .unwrap_or_else(|| panic!("no shared/testdata at or above {}", manifest.display()))
}

/// The EIP-8 devp2p vectors (`shared/testdata/devp2p/devp2p-vectors.json`).
pub fn devp2p_vectors_path() -> PathBuf {
    testdata_dir().join("devp2p").join("devp2p-vectors.json")
}
