//! The single-core cost per block of histd's pure CPU work (decode, verify, encode + compress) over
//! the real mainnet blocks of `shared/testdata/mainnet/blocks/` and the testnet's mainnet-like
//! chain, as a table per step (`testkit::cpu_limit`, the same figure `histd-bench` reports), and
//! zstd levels 1-3 on the stored frames: ratio and CPU.
//!
//! Run: `cargo bench --bench verify` (about a minute). Run by `cargo test --all-targets` (no
//! `--bench` argument), it is a smoke run: one round, a short chain. `HISTD_BENCH_BLOCKS=N` sets the
//! testnet chain's length (0 skips it, e.g. under `valgrind --tool=callgrind`).

use std::time::Instant;

use histd::testkit::cpu_limit::{self, RawBlock};
use histd::testkit::mainnet::load_blocks;
use histd::testkit::testnet::{ChainKind, TestnetChain};

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
}
