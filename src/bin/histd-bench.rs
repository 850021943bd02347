//! `histd-bench`: the ingest benchmark of issue 14, end to end with the real binaries.
//!
//! ```text
//! cargo build --release --features testkit --bins
//! target/release/histd-bench --blocks 50000 [--peers 8] [--latency-ms 20] [--bandwidth 10000000] [--json FILE]
//! ```
//! Starts `histd-testnet` (a mainnet-like chain of `--blocks` blocks, `--peers` peers) in its own
//! process, runs the real `histd run --end-block N` on a fresh data directory (full verification,
//! finalization included) until it exits, then reports, as a table and optionally as JSON:
//! blocks/s, wire MB/s (the RLPx frames of the peers' answers as read from the socket, snappy
//! form) and eth RLP MB/s (the same answers' eth messages after snappy), histd's own CPU per 1,000 blocks (its utime + stime, the peers' excluded)
//! and split by stage (the run report's `cpu_seconds_by_stage`, the same clocks as
//! `histd_cpu_seconds_total`), peak RSS, bytes on disk per block against the raw RLP, the time in
//! Finalizing, and the single-core cost of the same pure CPU work (decode + verify + compress, no
//! I/O, no network) measured in this process before and after the run, so histd's CPU reads as a
//! ratio to that limit. Twice because a shared machine's speed moves by tens of percent within
//! minutes: the ratio is to the mean of the two, and how far they differ tells whether the machine
//! held still long enough for the ratio to mean anything. The binaries it runs are its siblings
//! (`--histd`, `--testnet` to override).
//! Test tooling only (built with the `testkit` feature); never part of the product.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use alloy_rlp::Encodable;
use clap::Parser;
use histd::primitives::{encode_body, encode_eth69_list};
use histd::stage_cpu::Stage;

use histd::testkit::cpu_limit::{self, RawBlock};
use histd::testkit::process::{HistdProcess, TestnetProcess};
use histd::testkit::testnet::{ChainKind, TestnetChain};
use serde_json::{Value, json};

#[derive(Debug, Parser)]
#[command(
    name = "histd-bench",
    about = "Ingest benchmark: histd fast-syncs a local testnet; speed, CPU by stage, memory, disk"
)]
struct Args {
    /// Blocks after genesis to sync (the testnet's head and histd's --end-block).
    #[arg(long, default_value_t = 50_000)]
    blocks: u64,
    /// Testnet peers (each on its own loopback /24).
    #[arg(long, default_value_t = 8)]
    peers: usize,
    /// Small synthetic blocks instead of re-linked mainnet blocks.
    #[arg(long)]
    synthetic: bool,
    /// Chain seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Delay before every answer, ms (passed to histd-testnet).
    #[arg(long)]
    latency_ms: Option<String>,
    /// Answer bytes per second per peer (passed to histd-testnet).
    #[arg(long)]
    bandwidth: Option<String>,
    /// histd's shard size (complete shards are sealed, log index included, in Finalizing).
    #[arg(long, default_value_t = histd::storage::DEFAULT_SHARD_SIZE)]
    shard_size: u64,
    /// Blocks the single-core limit is measured on (spread over the chain).
    #[arg(long, default_value_t = 2000)]
    limit_sample: u64,
    /// Also write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Directory for the testnet's chain.toml and histd's data directory (default: a fresh
    /// directory under the system's temp dir, removed at the end unless --keep).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Keep the work directory.
    #[arg(long)]
    keep: bool,
    /// The `histd` binary (default: beside this one).
    #[arg(long)]
    histd: Option<PathBuf>,
    /// The `histd-testnet` binary (default: beside this one).
    #[arg(long)]
    testnet: Option<PathBuf>,
    /// Longest the sync may take, seconds.
    #[arg(long, default_value_t = 7200)]
    timeout_secs: u64,
}

/// Why the benchmark could not run.
#[derive(Debug, thiserror::Error)]
enum BenchError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Run(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BenchError {
    let what = what.into();
    move |source| BenchError::Io { what, source }
}

/// `name` beside this executable (cargo puts every binary of a build in one directory).
fn sibling(name: &str) -> Result<PathBuf, BenchError> {
    let exe = std::env::current_exe().map_err(io("where is histd-bench"))?;
    let path = exe.with_file_name(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(BenchError::Run(format!(
            "{} not found: build every binary first (cargo build --release --features testkit --bins) or pass its path",
            path.display()
        )))
    }
}

/// CPU seconds (user + system) of this process's children that have been waited for.
fn children_cpu_secs() -> f64 {
    // SAFETY: an all-zero rusage is valid; getrusage only writes it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage.
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) } != 0 {
        return 0.0;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// Bytes on disk under a data directory, by part.
#[derive(Debug, Default)]
struct Disk {
    /// `index.redb` (block and transaction hashes, shard rows).
    index: u64,
    /// Log index files of sealed shards (`logs-*.idx`).
    log_index: u64,
    /// Transaction index files of sealed shards (`txs-*.idx`) and the runs that replace them
    /// (`txruns/run-*.idx`).
    tx_index: u64,
    /// Everything else: segments, WALs, small files.
    other: u64,
}

impl Disk {
    fn total(&self) -> u64 {
        self.index + self.log_index + self.tx_index + self.other
    }

    /// Adds every file under `dir` except the run reports (they are not history).
    fn add(&mut self, dir: &Path) -> Result<(), BenchError> {
        for entry in std::fs::read_dir(dir).map_err(io(format!("read {}", dir.display())))? {
            let entry = entry.map_err(io(format!("read {}", dir.display())))?;
            let meta = entry
                .metadata()
                .map_err(io(format!("stat {}", entry.path().display())))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if meta.is_dir() {
                if name != histd::daemon::report::REPORTS_DIR {
                    self.add(&entry.path())?;
                }
            } else if name == "index.redb" {
                self.index += meta.len();
            } else if name.starts_with("logs-") {
                self.log_index += meta.len();
            } else if name.starts_with("txs-") || name.starts_with("run-") {
                self.tx_index += meta.len();
            } else {
                self.other += meta.len();
            }
        }
        Ok(())
    }
}

/// The run report histd wrote at exit (the only one in a fresh data directory).
fn run_report(data_dir: &Path) -> Result<Value, BenchError> {
    let dir = data_dir.join(histd::daemon::report::REPORTS_DIR);
    let newest = std::fs::read_dir(&dir)
        .map_err(io(format!("read {}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .max()
        .ok_or_else(|| BenchError::Run(format!("no run report in {}", dir.display())))?;
    let text =
        std::fs::read_to_string(&newest).map_err(io(format!("read {}", newest.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| BenchError::Run(format!("run report {}: {e}", newest.display())))
}

/// Seconds the run spent in `phase` (the run report's phase spans).
fn phase_secs(report: &Value, phase: &str) -> f64 {
    report["phases"]
        .as_array()
        .map(|spans| {
            spans
                .iter()
                .filter(|s| s["phase"] == phase)
                .filter_map(|s| s["secs"].as_f64())
                .sum()
        })
        .unwrap_or(0.0)
}

/// One block of `chain` in its wire forms (header, eth body, eth/69 receipts RLP).
fn raw_block(chain: &TestnetChain, n: u64) -> Option<RawBlock> {
    let mut header = Vec::new();
    chain.header(n)?.encode(&mut header);
    let mut body = Vec::new();
    encode_body(&chain.body(n)?, &mut body);
    let mut receipts = Vec::new();
    encode_eth69_list(&chain.receipts(n)?, &mut receipts);
    Some(RawBlock {
        header,
        body,
        receipts,
    })
}

/// The raw RLP size of every block `1..=head` of `chain`, and the wire forms of `sample` of them
/// spread evenly over it.
fn chain_blocks(chain: &TestnetChain, sample: u64) -> (u64, Vec<RawBlock>) {
    let head = chain.head();
    let step = (head / sample.max(1)).max(1);
    let mut raw = 0;
    let mut picked = Vec::new();
    for n in 1..=head {
        if let Some(w) = raw_block(chain, n) {
            raw += w.len() as u64;
            if (n - 1) % step == 0 && (picked.len() as u64) < sample {
                picked.push(w);
            }
        }
    }
    (raw, picked)
}

fn testnet_args(args: &Args, out: &Path) -> Vec<OsString> {
    let mut a: Vec<OsString> = vec![
        "--blocks".into(),
        args.blocks.to_string().into(),
        "--peers".into(),
        args.peers.to_string().into(),
        "--seed".into(),
        args.seed.to_string().into(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--out".into(),
        out.into(),
    ];
    if args.synthetic {
        a.push("--synthetic".into());
    }
    for (flag, value) in [
        ("--latency-ms", &args.latency_ms),
        ("--bandwidth", &args.bandwidth),
    ] {
        if let Some(v) = value {
            a.push(flag.into());
            a.push(v.into());
        }
    }
    a
}

fn run(args: &Args, work: &Path) -> Result<Value, BenchError> {
    let histd_bin = match &args.histd {
        Some(p) => p.clone(),
        None => sibling("histd")?,
    };
    let testnet_bin = match &args.testnet {
        Some(p) => p.clone(),
        None => sibling("histd-testnet")?,
    };
    let data_dir = work.join("data");
    let net_dir = work.join("net");
    std::fs::create_dir_all(&net_dir).map_err(io(format!("create {}", net_dir.display())))?;

    let kind = if args.synthetic {
        ChainKind::Synthetic
    } else {
        ChainKind::Mainnet
    };
    let chain = TestnetChain::build(kind, args.seed, args.blocks + 1);
    let (raw_rlp, sample) = chain_blocks(&chain, args.limit_sample);
    drop(chain);
    if sample.is_empty() {
        return Err(BenchError::Run(
            "no block to measure the single-core limit on".into(),
        ));
    }
    eprintln!("histd-bench: measuring the single-core limit (before the sync)");
    // One round each time: the sample is already thousands of blocks.
    let limit_before = cpu_limit::measure_rounds(&sample, 1);

    eprintln!(
        "histd-bench: starting histd-testnet ({} blocks, {} peers)",
        args.blocks, args.peers
    );
    let net = TestnetProcess::spawn(&testnet_bin, &testnet_args(args, &net_dir))
        .map_err(io(format!("start {}", testnet_bin.display())))?;

    let mut cmd = HistdProcess::command(&histd_bin);
    cmd.arg("run")
        .arg("--chain")
        .arg(&net.chain_toml)
        .arg("--data-dir")
        .arg(&data_dir)
        .args(["--no-discovery", "--p2p-listen", "127.0.0.1:0"])
        .args(["--metrics-bind", "127.0.0.1:0", "--log-format", "json"])
        .args(["--shard-size", &args.shard_size.to_string()])
        .args(["--end-block", &args.blocks.to_string()])
        .args(["--min-peers", &args.peers.to_string()]);
    for e in &net.enodes {
        cmd.arg("--peer").arg(e);
    }
    eprintln!("histd-bench: histd syncing to block {}", args.blocks);
    let cpu_before = children_cpu_secs();
    let started = Instant::now();
    let mut histd = HistdProcess::spawn(cmd);
    let status = histd.wait_exit_within(Duration::from_secs(args.timeout_secs));
    let wall = started.elapsed().as_secs_f64();
    // histd has been waited for and the testnet has not: the children's CPU is histd's alone.
    let cpu = children_cpu_secs() - cpu_before;
    drop(net);
    if status.code() != Some(0) {
        let tail: Vec<String> = histd
            .seen
            .iter()
            .rev()
            .take(20)
            .map(Value::to_string)
            .collect();
        return Err(BenchError::Run(format!(
            "histd exited with {status}; last log lines (newest first):\n{}",
            tail.join("\n")
        )));
    }

    let report = run_report(&data_dir)?;
    let mut disk = Disk::default();
    disk.add(&data_dir)?;
    let blocks = args.blocks + 1;

    eprintln!("histd-bench: measuring the single-core limit (after the sync)");
    let limit_after = cpu_limit::measure_rounds(&sample, 1);
    let limit = Limit::mean(&limit_before, &limit_after);

    let per_k = |secs: f64| secs * 1000.0 / blocks as f64;
    let stages: BTreeMap<String, f64> = report["cpu_seconds_by_stage"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_f64().unwrap_or(0.0)))
                .collect()
        })
        .unwrap_or_default();
    let mut by_stage: serde_json::Map<String, Value> = Stage::ALL
        .iter()
        .map(|s| {
            let secs = stages.get(s.label()).copied().unwrap_or(0.0);
            (s.label().to_owned(), json!(per_k(secs)))
        })
        .collect();
    let staged: f64 = stages.values().sum();
    by_stage.insert("other".into(), json!(per_k((cpu - staged).max(0.0))));
    // The run report counts each answer as it arrived: the frame read from the socket and the
    // eth message's RLP after snappy (what the eth soft limit and request sizing count).
    let wire = report["sync"]["frame_bytes_fetched"].as_u64().unwrap_or(0);
    let eth_rlp = report["sync"]["bytes_fetched"].as_u64().unwrap_or(0);
    let peak_rss = report["peak_rss_bytes"].as_u64().unwrap_or(0);
    let cpu_per_block = cpu / blocks as f64;
    Ok(json!({
        "blocks": blocks,
        "peers": args.peers,
        "chain": if args.synthetic { "synthetic" } else { "mainnet-like" },
        "latency_ms": args.latency_ms,
        "bandwidth": args.bandwidth,
        "shard_size": args.shard_size,
        "wall_secs": wall,
        "blocks_per_sec": blocks as f64 / wall,
        "fast_sync_secs": phase_secs(&report, "fast_sync"),
        "finalizing_secs": phase_secs(&report, "finalizing"),
        "wire_bytes": wire,
        "wire_mb_per_sec": wire as f64 / 1e6 / wall,
        "eth_rlp_bytes": eth_rlp,
        "eth_rlp_mb_per_sec": eth_rlp as f64 / 1e6 / wall,
        "cpu_secs": cpu,
        "cpu_secs_per_1000_blocks": per_k(cpu),
        "cpu_secs_per_1000_blocks_by_stage": by_stage,
        "peak_rss_bytes": peak_rss,
        "disk_bytes": disk.total(),
        "disk_bytes_per_block": disk.total() as f64 / blocks as f64,
        "disk_bytes_per_block_by_part": {
            "index_redb": disk.index as f64 / blocks as f64,
            "log_index": disk.log_index as f64 / blocks as f64,
            "tx_index": disk.tx_index as f64 / blocks as f64,
            "segments_and_other": disk.other as f64 / blocks as f64,
        },
        "raw_rlp_bytes": raw_rlp,
        "disk_to_raw_rlp": disk.total() as f64 / raw_rlp.max(1) as f64,
        "limit_secs_per_1000_blocks": limit.total_ms,
        "limit_secs_per_1000_blocks_by_part": {
            "decode": limit.decode_ms,
            "verify": limit.verify_ms,
            "compress": limit.compress_ms,
        },
        "limit_before_secs_per_1000_blocks": limit_before.total_ms,
        "limit_after_secs_per_1000_blocks": limit_after.total_ms,
        "limit_spread": limit.spread,
        "limit_sample_blocks": limit_after.blocks,
        "limit_source": "testkit::cpu_limit: decode + verify + encode and compress on one thread, \
            measured before and after the sync; the figures are their mean",
        "cpu_to_limit": ratio(cpu_per_block, limit.total_ms),
        "cpu_to_limit_before": ratio(cpu_per_block, limit_before.total_ms),
        "cpu_to_limit_after": ratio(cpu_per_block, limit_after.total_ms),
    }))
}

/// The single-core limit the ratio is taken to: the mean of the two measurements, by part, ms per
/// block (= s per 1,000 blocks).
struct Limit {
    decode_ms: f64,
    verify_ms: f64,
    compress_ms: f64,
    total_ms: f64,
    /// The larger of the two totals over the smaller: 1.0 on a machine that held still.
    spread: f64,
}

impl Limit {
    fn mean(a: &cpu_limit::CpuLimit, b: &cpu_limit::CpuLimit) -> Self {
        let mean = |x: f64, y: f64| (x + y) / 2.0;
        let (lo, hi) = if a.total_ms <= b.total_ms {
            (a.total_ms, b.total_ms)
        } else {
            (b.total_ms, a.total_ms)
        };
        Self {
            decode_ms: mean(a.decode_ms, b.decode_ms),
            verify_ms: mean(a.verify_ms, b.verify_ms),
            compress_ms: mean(a.compress_ms, b.compress_ms),
            total_ms: mean(a.total_ms, b.total_ms),
            spread: hi / lo.max(f64::MIN_POSITIVE),
        }
    }
}

/// histd's CPU seconds per block over a limit in ms per block.
fn ratio(cpu_per_block: f64, limit_ms: f64) -> f64 {
    cpu_per_block / (limit_ms / 1000.0).max(f64::MIN_POSITIVE)
}

/// `r[object][key]` for each key, with `decimals`, joined by ` / `.
fn parts(r: &Value, object: &str, keys: &[&str], decimals: usize) -> String {
    keys.iter()
        .map(|k| format!("{:.decimals$}", r[object][k].as_f64().unwrap_or(f64::NAN)))
        .collect::<Vec<_>>()
        .join(" / ")
}

/// The results as a table for a person.
fn table(r: &Value) -> String {
    let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
    let mut rows = vec![
        format!("blocks                      {}", r["blocks"]),
        format!("wall                        {:.1} s", f("wall_secs")),
        format!("blocks/s                    {:.0}", f("blocks_per_sec")),
        format!("wire MB/s (frames)          {:.1}", f("wire_mb_per_sec")),
        format!("eth RLP MB/s                {:.1}", f("eth_rlp_mb_per_sec")),
        format!(
            "histd CPU per 1,000 blocks  {:.3} s",
            f("cpu_secs_per_1000_blocks")
        ),
    ];
    if let Some(stages) = r["cpu_secs_per_1000_blocks_by_stage"].as_object() {
        for (stage, secs) in stages {
            rows.push(format!(
                "  {stage:<26}{:.3} s",
                secs.as_f64().unwrap_or(f64::NAN)
            ));
        }
    }
    rows.extend([
        format!(
            "single-core limit / 1,000   {:.3} s (mean)",
            f("limit_secs_per_1000_blocks")
        ),
        format!(
            "  decode / verify / compress {}",
            parts(
                r,
                "limit_secs_per_1000_blocks_by_part",
                &["decode", "verify", "compress"],
                3
            )
        ),
        format!(
            "  before / after sync       {:.3} / {:.3} s (spread {:.2}x)",
            f("limit_before_secs_per_1000_blocks"),
            f("limit_after_secs_per_1000_blocks"),
            f("limit_spread")
        ),
        format!(
            "histd CPU / limit           {:.2}x ({:.2}x / {:.2}x to before / after)",
            f("cpu_to_limit"),
            f("cpu_to_limit_before"),
            f("cpu_to_limit_after")
        ),
        format!(
            "peak RSS                    {:.0} MiB",
            f("peak_rss_bytes") / 1_048_576.0
        ),
        format!(
            "disk per block              {:.0} B ({:.3}x raw RLP)",
            f("disk_bytes_per_block"),
            f("disk_to_raw_rlp")
        ),
        format!(
            "  index.redb / log index / tx index / segments {} B",
            parts(
                r,
                "disk_bytes_per_block_by_part",
                &["index_redb", "log_index", "tx_index", "segments_and_other"],
                0
            )
        ),
        format!("Finalizing                  {:.1} s", f("finalizing_secs")),
    ]);
    rows.join("\n")
}

fn main() -> ExitCode {
    let args = Args::parse();
    let (work, remove) = match &args.work_dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("histd-bench-{}", std::process::id())),
            !args.keep,
        ),
    };
    let result = run(&args, &work);
    if remove {
        let _ = std::fs::remove_dir_all(&work);
    }
    let results = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("histd-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", table(&results));
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&results).unwrap_or_default();
        if let Err(e) = std::fs::write(path, text + "\n") {
            eprintln!("histd-bench: write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
