//! `histd import era1 PATH...` and `histd export era1 --from N --to M OUT_DIR` on a stopped node's
//! data directory.
//!
//! Owns the subcommand definitions, opening the store for them (import creates the data
//! directory for the configured chain if it is new) and the progress lines. The format, the
//! proofs and the writes are `crate::era1`'s; this file only drives them and prints. Opening takes
//! the directory lock, so a running node makes these fail fast.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use crate::config::Config;
use crate::era1::{self, Era1Error, ExportedFile};
use crate::p2p::chain::ChainSpec;
use crate::storage::{OpenOptions, Storage, StorageError};

/// `histd import ...`
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum ImportCommand {
    /// Import era1 files (or directories of them), proving every block against the pre-merge
    /// history accumulator; already stored epochs are skipped, so an interrupted import resumes.
    Era1 {
        /// era1 files or directories holding them.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
}

/// `histd export ...`
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum ExportCommand {
    /// Write stored pre-merge epochs as era1 files (`mainnet-EEEEE-RRRRRRRR.era1`).
    Era1 {
        /// First block: the start of an epoch (a multiple of 8192).
        #[arg(long, value_name = "N")]
        from: u64,
        /// Last block: the end of an epoch (or 15537393, the last proof-of-work block).
        #[arg(long, value_name = "M")]
        to: u64,
        /// Directory to write the files into (created if missing).
        #[arg(value_name = "OUT_DIR")]
        out_dir: PathBuf,
    },
}

/// Why an era1 subcommand failed.
#[derive(Debug, thiserror::Error)]
pub enum Era1CliError {
    /// The configured chain could not be resolved.
    #[error("chain {chain}: {reason}")]
    Chain { chain: String, reason: String },
    /// Opening the data directory failed.
    #[error("{}: {source}", dir.display())]
    Open {
        dir: PathBuf,
        #[source]
        source: Box<StorageError>,
    },
    /// The import or export failed.
    #[error(transparent)]
    Era1(#[from] Era1Error),
}

/// `histd import era1`: imports every file, one line per file to `out`, then compacts and seals
/// what it wrote (pre-merge blocks are final, so their shards can be sealed at once).
pub fn import(config: &Config, paths: &[PathBuf], out: &mut dyn Write) -> Result<(), Era1CliError> {
    let accumulator = era1::mainnet_accumulator()?;
    let files = era1::collect_files(paths)?;
    let spec =
        ChainSpec::resolve(&config.chain.as_config_value()).map_err(|e| Era1CliError::Chain {
            chain: config.chain.as_config_value(),
            reason: e.to_string(),
        })?;
    let opts = OpenOptions {
        chain_id: spec.chain_id,
        genesis_hash: spec.genesis_hash,
        shard_size: config.storage.shard_size,
        retention: config.storage.retention,
    };
    let dir = config.data_dir.clone();
    let store = Storage::open(&dir, opts).map_err(|e| Era1CliError::Open {
        dir: dir.clone(),
        source: Box::new(e.into()),
    })?;
    era1::check_mainnet(&store)?;
    let report = era1::import_files(
        &store,
        accumulator,
        &files,
        |i, r| {
            // Progress lines are best effort: a closed stdout must not abort an import.
            let _ = writeln!(out, "[{}/{}] {r}", i + 1, files.len());
            let _ = out.flush();
        },
        || false,
    )?;
    let _ = writeln!(out, "{report}");
    Ok(())
}

/// `histd export era1`: writes the epochs of `from ..= to`, one line per file to `out`.
pub fn export(
    config: &Config,
    from: u64,
    to: u64,
    out_dir: &std::path::Path,
    out: &mut dyn Write,
) -> Result<(), Era1CliError> {
    era1::check_range(from, to)?;
    let accumulator = era1::mainnet_accumulator()?;
    let dir = config.data_dir.clone();
    let store = Storage::open_existing(&dir).map_err(|e| Era1CliError::Open {
        dir: dir.clone(),
        source: Box::new(e.into()),
    })?;
    era1::check_mainnet(&store)?;
    let started = Instant::now();
    let files = era1::export(
        &store,
        accumulator,
        from,
        to,
        out_dir,
        |f: &ExportedFile| {
            let _ = writeln!(
                out,
                "{}: epoch {} blocks {}..={}, root {}, {:.1} MB",
                f.path.display(),
                f.epoch,
                f.first,
                f.last,
                f.root,
                f.bytes as f64 / 1e6
            );
            let _ = out.flush();
        },
    )?;
    let _ = writeln!(
        out,
        "exported {} files in {:.2} s",
        files.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
