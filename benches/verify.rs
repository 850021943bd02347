//! The single-core cost per block of histd's pure CPU work (decode, verify, encode + compress) over
//! the real mainnet blocks of `shared/testdata/mainnet/blocks/` and the testnet's mainnet-like
//! chain, as a table per step (`testkit::cpu_limit`, the same figure `histd-bench` reports), and
//! zstd levels 1-3 on the stored frames: ratio and CPU.
//!
//! Run: `cargo bench --bench verify` (about a minute). Run by `cargo test --all-targets` (no
//! `--bench` argument), it is a smoke run: one round, a short chain. `HISTD_BENCH_BLOCKS=N` sets the
//! testnet chain's length (0 skips it, e.g. under `valgrind --tool=callgrind`).

use std::time::{Duration, Instant};

use histd::testkit::cpu_limit::{self, RawBlock};
use histd::testkit::mainnet::load_blocks;
use histd::testkit::testnet::{ChainKind, TestnetChain};
use zstd::bulk::Compressor;

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary without it.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let measure = |blocks: &[RawBlock]| {
        if smoke {
            cpu_limit::measure_rounds(blocks, 1)
        } else {
            cpu_limit::measure(blocks)
        }
    };

    let mainnet: Vec<RawBlock> = load_blocks().iter().map(RawBlock::from_mainnet).collect();
    println!("## real mainnet blocks (shared/testdata/mainnet/blocks)\n");
    println!("{}", measure(&mainnet));
    zstd_levels(&mainnet, if smoke { 1 } else { 20 }, true);
    println!();

    let len: u64 = std::env::var("HISTD_BENCH_BLOCKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if smoke { 20 } else { 500 });
    if len == 0 {
        return;
    }
    let t = Instant::now();
    let chain = TestnetChain::build(ChainKind::Mainnet, 7, len + 1);
    let testnet: Vec<RawBlock> = (1..=len)
        .map(|n| {
            let b = chain
                .verified_block(n)
                .expect("block in range")
                .expect("testnet block verifies");
            RawBlock::from_verified(&b)
        })
        .collect();
    eprintln!(
        "built {len} mainnet-like testnet blocks in {:?}",
        t.elapsed()
    );
    println!("## testnet mainnet-like chain, blocks 1..={len}\n");
    println!("{}", measure(&testnet));
    zstd_levels(&testnet, if smoke { 1 } else { 5 }, false);
}

/// The three stored frames' contents of each block, uncompressed (`storage::record`'s layout:
/// header RLP, kind byte + body RLP, eth/69 receipt list RLP).
fn frames(blocks: &[RawBlock]) -> Vec<[Vec<u8>; 3]> {
    blocks
        .iter()
        .map(|b| {
            let mut txs = vec![0u8];
            txs.extend_from_slice(&b.body);
            [b.header.clone(), txs, b.receipts.clone()]
        })
        .collect()
}

/// Compresses every frame with `zstd` and returns (stored bytes, fastest round's CPU) in total.
fn compress_all(
    frames: &[[Vec<u8>; 3]],
    zstd: &mut Compressor<'_>,
    rounds: usize,
) -> (usize, Duration) {
    let mut best = Duration::MAX;
    let mut bytes = 0;
    for _ in 0..rounds {
        let start = cpu_limit::thread_cpu();
        bytes = frames
            .iter()
            .flatten()
            .map(|f| zstd.compress(f).expect("zstd compress").len())
            .sum();
        best = best.min(cpu_limit::thread_cpu() - start);
    }
    (bytes, best)
}

/// zstd levels on the stored frames: ratio to the raw RLP and CPU per block; with `dictionary`, also
/// a dictionary trained on every other block and tried on the rest (only meaningful when blocks
/// differ: the testnet's copies of 11 templates would flatter it).
fn zstd_levels(blocks: &[RawBlock], rounds: usize, dictionary: bool) {
    let frames = frames(blocks);
    let raw: usize = blocks.iter().map(RawBlock::len).sum();
    let n = blocks.len() as f64;
    println!("| zstd level | stored / raw | ms per block |");
    println!("|---|---|---|");
    for level in [-1, 1, 2, 3, 5] {
        let mut zstd = Compressor::new(level).expect("zstd level");
        let (bytes, cpu) = compress_all(&frames, &mut zstd, rounds);
        println!(
            "| {level} | {:.3} | {:.3} |",
            bytes as f64 / raw as f64,
            cpu.as_secs_f64() * 1000.0 / n
        );
    }
    if !dictionary {
        return;
    }
    let (train, test): (Vec<_>, Vec<_>) = frames.iter().enumerate().partition(|(i, _)| i % 2 == 0);
    let samples: Vec<&[u8]> = train
        .iter()
        .flat_map(|(_, f)| f.iter().map(|x| &x[..]))
        .collect();
    let test: Vec<[Vec<u8>; 3]> = test.into_iter().map(|(_, f)| f.clone()).collect();
    let test_raw: usize = test.iter().flatten().map(Vec::len).sum();
    let Ok(dict) = zstd::dict::from_samples(&samples, 112 * 1024) else {
        println!("(no dictionary: too few samples)");
        return;
    };
    for (name, mut zstd) in [
        ("3, no dictionary", Compressor::new(3).expect("zstd")),
        (
            "3, 112 KB dictionary",
            Compressor::with_dictionary(3, &dict).expect("zstd dict"),
        ),
    ] {
        let (bytes, cpu) = compress_all(&test, &mut zstd, rounds);
        println!(
            "| {name} (held-out half) | {:.3} | {:.3} |",
            bytes as f64 / test_raw as f64,
            cpu.as_secs_f64() * 1000.0 / test.len() as f64
        );
    }
}
