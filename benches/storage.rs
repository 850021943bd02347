//! Storage benchmarks on real files (the temp dir's disk, fsync included): WAL write throughput
//! (`put_unordered` of 100-block batches), compaction throughput (WAL → sorted segment), and
//! random block reads from compacted shards. Blocks are synthetic (`ChainGen`, up to 150 txs).
//! Run: `cargo bench --bench storage`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use alloy_primitives::B256;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use histd::primitives::{BlockNumber, VerifiedBlock};
use histd::storage::{OpenOptions, Retention, Storage};
use histd::testkit::chain::ChainGen;
use histd::testkit::storage::Rng;

const SHARD: u64 = 1000;

fn opts() -> OpenOptions {
    OpenOptions {
        chain_id: 1,
        genesis_hash: B256::ZERO,
        shard_size: SHARD,
        retention: Retention::default(),
    }
}

fn chain(n: u64) -> Vec<VerifiedBlock> {
    let mut g = ChainGen::new(42);
    g.max_txs = 150;
    g.max_logs = 4;
    g.chain(BlockNumber(0), n, B256::ZERO)
}

fn raw_bytes(blocks: &[VerifiedBlock]) -> u64 {
    blocks
        .iter()
        .map(|b| {
            let mut out = Vec::new();
            alloy_rlp::Encodable::encode(b.header(), &mut out);
            histd::primitives::encode_body(b.body(), &mut out);
            let r: usize = b.receipts().iter().map(|r| r.eth69_length()).sum();
            (out.len() + r) as u64
        })
        .sum()
}

fn benches(c: &mut Criterion) {
    let blocks = chain(SHARD);
    let raw = raw_bytes(&blocks);
    eprintln!(
        "{} synthetic blocks, {:.1} KiB raw RLP per block",
        blocks.len(),
        raw as f64 / blocks.len() as f64 / 1024.0
    );

    let mut g = c.benchmark_group("storage");
    g.sample_size(10).measurement_time(Duration::from_secs(8));

    // WAL: 10 batches of 100 blocks, in shuffled order, each batch fsynced and committed.
    g.throughput(Throughput::Bytes(raw));
    g.bench_function("wal_put_unordered_1000_blocks", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for i in 0..iters {
                let dir = tempfile::tempdir().unwrap();
                let store = Storage::open(dir.path(), opts()).unwrap();
                let mut order: Vec<&VerifiedBlock> = blocks.iter().collect();
                let mut rng = Rng::new(i);
                for k in (1..order.len()).rev() {
                    order.swap(k, rng.below(k as u64 + 1) as usize);
                }
                let batches: Vec<Vec<VerifiedBlock>> = order
                    .chunks(100)
                    .map(|c| c.iter().map(|b| (*b).clone()).collect())
                    .collect();
                let t = Instant::now();
                for batch in &batches {
                    store.put_unordered(batch).unwrap();
                }
                total += t.elapsed();
            }
            total
        })
    });

    // Compaction of one full shard's WAL (1000 blocks, random order) into a sorted segment.
    g.bench_function("compact_1000_block_shard", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().unwrap();
                let store = Storage::open(dir.path(), opts()).unwrap();
                let mut order = blocks.clone();
                order.reverse();
                for batch in order.chunks(250) {
                    store.put_unordered(batch).unwrap();
                }
                let t = Instant::now();
                store.compact(0).unwrap();
                total += t.elapsed();
            }
            total
        })
    });

    // Random reads of whole blocks (header, transactions, receipts decoded) from a segment.
    let dir = tempfile::tempdir().unwrap();
    let store = Storage::open(dir.path(), opts()).unwrap();
    store.put_unordered(&blocks).unwrap();
    store.compact_dirty().unwrap();
    let stats = store.stats().unwrap();
    eprintln!(
        "stored: {} segment bytes for {} raw bytes ({:.2})",
        stats.segment_bytes,
        raw,
        stats.segment_bytes as f64 / raw as f64
    );
    let mut rng = Rng::new(7);
    g.throughput(Throughput::Elements(1));
    g.bench_function("random_block_read", |b| {
        b.iter(|| {
            let n = BlockNumber(rng.below(SHARD));
            black_box(store.block(n).unwrap().unwrap())
        })
    });
    g.bench_function("random_receipts_read", |b| {
        b.iter(|| {
            let n = BlockNumber(rng.below(SHARD));
            black_box(store.receipts(n).unwrap().unwrap())
        })
    });
    g.bench_function("random_header_read", |b| {
        b.iter(|| {
            let n = BlockNumber(rng.below(SHARD));
            black_box(store.header(n).unwrap().unwrap())
        })
    });
    g.throughput(Throughput::Elements(SHARD));
    g.bench_function("bloom_scan_1000_blocks", |b| {
        b.iter(|| {
            let mut hits = 0u32;
            store
                .scan_blooms(BlockNumber(0), BlockNumber(SHARD - 1), |_, bloom| {
                    hits +=
                        u32::from(bloom.contains_input(alloy_primitives::BloomInput::Raw(b"x")));
                    std::ops::ControlFlow::Continue(())
                })
                .unwrap();
            black_box(hits)
        })
    });
    g.finish();
}

criterion_group!(storage, benches);
criterion_main!(storage);
