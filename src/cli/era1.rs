//! `histd import era1 PATH...` and `histd export era1 --from N --to M OUT_DIR` on a stopped node's
//! data directory.
//!
//! Owns the subcommand definitions, opening the store for them (import creates the data
//! directory for the configured chain if it is new) and the progress lines. The format, the
//! proofs and the writes are `crate::era1`'s; this file only drives them and prints. Opening takes
//! the directory lock, so a running node makes these fail fast.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::era1::{self, Era1Error, ExportedFile, FileReport, Importer};
use crate::p2p::chain::ChainSpec;
use crate::primitives::BlockNumber;
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

fn mb_per_s(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / 1e6 / elapsed.as_secs_f64().max(1e-9)
}

fn per_s(n: u64, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64().max(1e-9)
}

fn file_line(r: &FileReport) -> String {
    let name = r.path.display();
    if r.skipped {
        return format!(
            "{name}: epoch {} (blocks {}..={}) already stored, skipped",
            r.epoch, r.first, r.last
        );
    }
    let blocks = r.last + 1 - r.first;
    format!(
        "{name}: epoch {} blocks {}..={} proven against the accumulator; {} stored, {} already \
         present; {:.1} MB in {:.2} s ({:.0} blocks/s, {:.1} MB/s)",
        r.epoch,
        r.first,
        r.last,
        r.stored,
        r.present,
        r.bytes as f64 / 1e6,
        r.elapsed.as_secs_f64(),
        per_s(blocks, r.elapsed),
        mb_per_s(r.bytes, r.elapsed),
    )
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
    let open_err = |source: StorageError| Era1CliError::Open {
        dir: dir.clone(),
        source: Box::new(source),
    };
    let store = Storage::open(&dir, opts).map_err(|e| open_err(e.into()))?;
    era1::check_mainnet(&store)?;
    let started = Instant::now();
    let mut importer = Importer::new(&store, accumulator);
    let (mut blocks, mut stored, mut bytes) = (0u64, 0u64, 0u64);
    for (i, path) in files.iter().enumerate() {
        let r = importer.import_file(path)?;
        // Progress lines are best effort: a closed stdout must not abort an import.
        let _ = writeln!(out, "[{}/{}] {}", i + 1, files.len(), file_line(&r));
        let _ = out.flush();
        if !r.skipped {
            blocks += r.last + 1 - r.first;
            bytes += r.bytes;
        }
        stored += r.stored as u64;
    }
    // Imported blocks are proven: a shard failing to compact is a storage fault, reported as such.
    let compacted = store
        .compact_dirty()
        .and_then(|r| r.into_result())
        .map_err(|e| open_err(e.into()))?;
    let sealed = store
        .seal_complete(BlockNumber(era1::MAINNET_LAST_POW_BLOCK))
        .map_err(|e| open_err(e.into()))?;
    let elapsed = started.elapsed();
    let _ = writeln!(
        out,
        "imported {} files: {blocks} blocks proven, {stored} stored; {} shards compacted, {} \
         sealed; {:.2} s ({:.0} blocks/s, {:.1} MB/s)",
        files.len(),
        compacted.len(),
        sealed.len(),
        elapsed.as_secs_f64(),
        per_s(blocks, elapsed),
        mb_per_s(bytes, elapsed),
    );
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
