//! `histd db stats | compact | repair | verify | rollback` on a stopped node's data directory.
//!
//! Owns the subcommand definitions, the integrity walk of `db verify` (storage's per-block input
//! checked with the block rules of [`crate::verify`]) and the reports (text or JSON; `db stats`
//! ends with the summary of the last run report). `main.rs`
//! calls [`run`] and prints the string. Storage only returns data; it must never learn these
//! formats. It must never run against a live node: opening takes the directory lock, so a running
//! histd makes these fail fast.

use std::fmt::Write as _;
use std::path::Path;

use alloy_primitives::Bloom;

use crate::primitives::BlockNumber;
use crate::storage::{RepairReport, Storage, StorageError, StoreStats, StoredTransactions};
use crate::verify::{self, SealedHeader};

/// `histd db ...` subcommands.
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum DbCommand {
    /// Per-shard state, sizes and block counts.
    Stats {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Compact every dirty shard and seal every complete one, except (follow mode) shards that
    /// reach into the rollback window below the stored tip, which follow may still roll back (a
    /// shard that fails is reported; the others are still compacted).
    Compact,
    /// Bring shard files back to the committed state (also done on every open) and report it;
    /// report shards whose blocks do not hash-link.
    Repair {
        /// Drop the blocks of every shard whose blocks do not hash-link (a storage fault), so
        /// fast-sync fetches them again. Without it they are only reported.
        #[arg(long)]
        drop_broken: bool,
    },
    /// Recompute roots and parent links of every stored block; report the first bad block.
    Verify,
    /// Remove every stored block above `--to` (recovery after a reorg deeper than
    /// `sync.rollback_window`: roll back below the fork, then start histd again). Refuses to cut
    /// into a sealed shard.
    Rollback {
        /// The last block to keep.
        #[arg(long, value_name = "N")]
        to: u64,
    },
}

/// The highest block whose shard `db compact` may seal: everything in range mode
/// (`rollback_window` 0), else what lies at least `rollback_window` blocks below the stored tip
/// (a follow node may still roll back above that; `None`: nothing may be sealed). The tip is the
/// last contiguous block: never above the highest stored one, so the bound errs on the safe side.
pub fn compact_seal_bound(
    store: &Storage,
    rollback_window: u64,
) -> Result<Option<BlockNumber>, StorageError> {
    if rollback_window == 0 {
        return Ok(Some(BlockNumber(u64::MAX)));
    }
    let top = store
        .shard_contents()?
        .iter()
        .filter_map(|c| c.present.last().copied())
        .max();
    Ok(top
        .and_then(|t| t.get().checked_sub(rollback_window))
        .map(BlockNumber))
}

/// Runs a `db` subcommand on `data_dir` of a range-mode node (compaction seals every complete
/// shard) and returns the report to print.
pub fn run(data_dir: &Path, cmd: &DbCommand) -> Result<String, StorageError> {
    run_in(data_dir, cmd, 0)
}

/// [`run`] for a node whose follow mode may roll back `rollback_window` blocks below its stored
/// tip (0: range mode): `db compact` seals nothing that reaches into that window.
pub fn run_in(
    data_dir: &Path,
    cmd: &DbCommand,
    rollback_window: u64,
) -> Result<String, StorageError> {
    let store = Storage::open_existing(data_dir)?;
    match cmd {
        DbCommand::Stats { json } => {
            let stats = store.stats()?;
            if *json {
                serde_json::to_string_pretty(&stats)
                    .map_err(|e| StorageError::Render(e.to_string()))
            } else {
                let mut out = render_stats(&stats);
                if let Some(line) = last_run_summary(data_dir) {
                    out.push_str(&line);
                }
                Ok(out)
            }
        }
        DbCommand::Compact => {
            let report = store.compact_dirty()?;
            let sealed = match compact_seal_bound(&store, rollback_window)? {
                Some(bound) => store.seal_complete_except(bound, &report.failed_shards())?,
                None => Vec::new(),
            };
            let mut out = String::new();
            for c in &report.compacted {
                let _ = writeln!(
                    out,
                    "compacted shard {}: {} blocks, {} WAL bytes -> {} segment bytes",
                    c.shard, c.blocks, c.wal_bytes, c.bytes
                );
            }
            for f in &report.failed {
                let _ = writeln!(out, "shard {} FAILED: {}", f.shard, f.error);
                if f.is_broken_link() {
                    let _ = writeln!(out, "  {DROP_HINT}");
                }
            }
            let _ = writeln!(
                out,
                "{} shards compacted, {} sealed",
                report.compacted.len(),
                sealed.len()
            );
            if report.failed.is_empty() {
                Ok(out)
            } else {
                let _ = writeln!(out, "{} shards failed", report.failed.len());
                Err(StorageError::Incomplete(out))
            }
        }
        DbCommand::Repair { drop_broken } => {
            let mut out = render_repair(store.repair_report());
            let faults = store.link_faults()?;
            for f in &faults {
                let _ = writeln!(
                    out,
                    "shard {} (from block {}): block {} has parent {} but the block before it is {}: its blocks do not hash-link (a storage fault)",
                    f.shard, f.first_block, f.number, f.got, f.expected
                );
                if *drop_broken {
                    let d = store.drop_shard(f.shard)?;
                    let _ = writeln!(
                        out,
                        "dropped shard {}: {} blocks removed; fast-sync fetches them again",
                        d.shard, d.blocks
                    );
                }
            }
            if !faults.is_empty() && !*drop_broken {
                let _ = writeln!(out, "{DROP_HINT}");
            }
            Ok(out)
        }
        DbCommand::Rollback { to } => {
            let last = store.last_contiguous()?;
            let done = store.rollback_to(BlockNumber(*to))?;
            Ok(format!(
                "rolled back to block {to}: {} blocks removed (stored tip was {})\n",
                done.removed,
                last.map_or_else(|| "none".to_string(), |l| l.to_string())
            ))
        }
        DbCommand::Verify => {
            let r = verify_store(&store)?;
            Ok(format!(
                "ok: {} blocks in {} shards verified (roots, parent links, checksums)\n",
                r.blocks, r.shards
            ))
        }
    }
}

/// The remedy for a shard whose blocks do not hash-link, as printed.
const DROP_HINT: &str = "remedy: `histd db repair --drop-broken` drops that shard's blocks so fast-sync fetches them again";

fn render_repair(r: &RepairReport) -> String {
    if r.is_clean() {
        return "clean: shard files match the committed index\n".into();
    }
    let mut out = String::new();
    for s in &r.interrupted_compactions {
        let _ = writeln!(out, "shard {s}: interrupted compaction rolled back");
    }
    for (p, n) in &r.truncated {
        let _ = writeln!(out, "truncated {n} uncommitted bytes from {}", p.display());
    }
    for p in &r.removed_files {
        let _ = writeln!(out, "removed uncommitted file {}", p.display());
    }
    for p in &r.removed_dirs {
        let _ = writeln!(out, "removed uncommitted shard directory {}", p.display());
    }
    out
}

/// One line about the newest run report in `data_dir`, if there is a readable one. The report is
/// the daemon's (`daemon/report.rs`: `reports/run-<UTC start>.json`); the CLI sits beside the
/// daemon and never names it, so it reads the file as data.
pub fn last_run_summary(data_dir: &Path) -> Option<String> {
    let dir = data_dir.join("reports");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("run-") && n.ends_with(".json"))
        .collect();
    names.sort();
    let path = dir.join(names.pop()?);
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
    let phases: Vec<String> = r["phases"]
        .as_array()?
        .iter()
        .map(|p| {
            format!(
                "{} {:.1}s",
                p["phase"].as_str().unwrap_or("?"),
                p["secs"].as_f64().unwrap_or(0.0)
            )
        })
        .collect();
    Some(format!(
        "last run {} ({} mode, {:.1}s): exit {} ({}); {} blocks stored, {} bytes fetched; phases: {}\n",
        r["started_at"].as_str().unwrap_or("?"),
        r["mode"].as_str().unwrap_or("?"),
        r["duration_secs"].as_f64().unwrap_or(0.0),
        r["exit"]["code"],
        r["exit"]["reason"].as_str().unwrap_or("?"),
        r["sync"]["blocks_stored"].as_u64().unwrap_or(0),
        r["sync"]["bytes_fetched"].as_u64().unwrap_or(0),
        phases.join(", ")
    ))
}

/// `db stats` as a human-readable table.
pub fn render_stats(stats: &StoreStats) -> String {
    let mut out = String::new();
    let opt = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
    let _ = writeln!(
        out,
        "chain {} genesis {} shard size {}\nhead_seen {} lowest {} last_contiguous {}\n{} blocks, {} WAL bytes, {} segment bytes, {} index bytes",
        stats.chain_id,
        stats.genesis_hash,
        stats.shard_size,
        opt(stats.head_seen),
        opt(stats.lowest),
        opt(stats.last_contiguous),
        stats.blocks,
        stats.wal_bytes,
        stats.segment_bytes,
        stats.index_bytes
    );
    let _ = writeln!(
        out,
        "{:>8} {:>12} {:>10} {:>8} {:>12} {:>14}",
        "shard", "first", "state", "blocks", "wal", "segment"
    );
    for s in &stats.shards {
        let _ = writeln!(
            out,
            "{:>8} {:>12} {:>10} {:>8} {:>12} {:>14}",
            s.shard,
            s.first_block,
            s.state.name(),
            s.blocks,
            s.wal_bytes,
            s.segment_bytes
        );
    }
    out
}

/// `db verify` result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyReport {
    /// Blocks checked.
    pub blocks: u64,
    /// Shards checked.
    pub shards: u64,
}

/// `db verify` as a method on [`Storage`], so tests and tools read `store.verify()`.
pub trait VerifyStore {
    /// See [`verify_store`].
    fn verify(&self) -> Result<VerifyReport, StorageError>;
}

impl VerifyStore for Storage {
    fn verify(&self) -> Result<VerifyReport, StorageError> {
        verify_store(self)
    }
}

/// Recomputes every stored block's hash, roots and bloom, checks parent links between
/// consecutive stored blocks, the hash index and sealed checksums. The first bad block is an
/// error naming it.
pub fn verify_store(store: &Storage) -> Result<VerifyReport, StorageError> {
    let shards = store.shard_contents()?;
    let mut report = VerifyReport {
        blocks: 0,
        shards: 0,
    };
    let mut prev: Option<SealedHeader> = None;
    for contents in &shards {
        report.shards += 1;
        store.check_seal(contents)?;
        for &n in &contents.present {
            // Name the shard: it is what `db repair --drop-broken` acts on.
            let sealed = verify_stored_block(store, n, prev.as_ref()).map_err(|e| match e {
                StorageError::Verify { number, reason } => StorageError::Verify {
                    number,
                    reason: format!("(shard {}) {reason}", contents.shard),
                },
                other => other,
            })?;
            prev = Some(sealed);
            report.blocks += 1;
        }
    }
    Ok(report)
}

/// Checks one stored block (after `prev`, the last block checked) and returns its sealed header.
fn verify_stored_block(
    store: &Storage,
    n: BlockNumber,
    prev: Option<&SealedHeader>,
) -> Result<SealedHeader, StorageError> {
    let bad = |reason: String| StorageError::Verify { number: n, reason };
    let block = store
        .stored_block(n)
        .map_err(|e| bad(e.to_string()))?
        .ok_or_else(|| bad("marked present but unreadable".into()))?;
    let sealed = SealedHeader::seal(block.header.clone());
    if sealed.hash != block.hash {
        return Err(bad(format!(
            "header hashes to {}, stored as {}",
            sealed.hash, block.hash
        )));
    }
    if store.block_number(&block.hash)? != Some(n) {
        return Err(bad("hash index does not point at this block".into()));
    }
    if let Some(p) = prev
        && p.number().next() == n
    {
        verify::check_link(p, &sealed).map_err(|e| bad(format!("{e}; {DROP_HINT}")))?;
    }
    match block.clone().into_verified() {
        Some(v) => {
            let (_, _, body, receipts) = v.into_parts();
            verify::verify_block(sealed.clone(), body, receipts).map_err(|e| bad(e.to_string()))?;
        }
        None => {
            // Hashes only: the transactions root cannot be recomputed; receipts can.
            if let StoredTransactions::Hashes(h) = &block.body.transactions
                && h.len() != block.receipts.len()
            {
                return Err(bad(format!(
                    "{} receipts for {} transactions",
                    block.receipts.len(),
                    h.len()
                )));
            }
            let root = verify::receipts_root(&block.receipts);
            if root != block.header.receipts_root {
                return Err(bad(format!(
                    "receiptsRoot {root}, header says {}",
                    block.header.receipts_root
                )));
            }
            let mut bloom = Bloom::ZERO;
            for r in &block.receipts {
                bloom |= r.bloom();
            }
            if bloom != block.header.logs_bloom {
                return Err(bad("logsBloom differs from the receipts' logs".into()));
            }
        }
    }
    Ok(sealed)
}
