//! Storage benchmarks on real files (the temp dir's disk, fsync included): WAL write throughput
//! (`put_unordered` of 100-block batches), compaction throughput (WAL → sorted segment), and
//! random block reads from compacted shards. Blocks are synthetic (`ChainGen`, up to 150 txs).
//! Transaction lookups by hash (a hit, and a miss: the index's own cost) in a 10,000-block
//! unsealed tail and over 100 sealed shards' files, on mainnet-like blocks (`TestnetChain`).
//! The same over 2,000 sealed shards of 10 small blocks, their files' cache warm and cold, each
//! with the shards' files probed one by one and with the groups' runs. Run: `cargo bench --bench
//! storage` (without `--bench`, the lookups on 100 blocks and 20 shards). A filter
//! (`cargo bench --bench storage -- sealed`) skips the set-up of groups it selects nothing of.
use std::hint::black_box;
use std::time::{Duration, Instant};

use alloy_primitives::B256;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use histd::primitives::{BlockNumber, VerifiedBlock};
use histd::storage::{OpenOptions, Retention, Storage};
use histd::testkit::chain::ChainGen;
use histd::testkit::storage::Rng;
use histd::testkit::testnet::{ChainKind, TestnetChain};

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

/// Whether the filter on the command line (criterion's positional argument) may select one of
/// `names` (bench ids without the group): a plain filter is matched as a substring, anything
/// else (a regex) selects every set-up.
fn selected(names: &[&str]) -> bool {
    // Criterion's options that take a value (the value is not a filter).
    const VALUED: &[&str] = &[
        "--baseline",
        "--save-baseline",
        "--load-baseline",
        "--sample-size",
        "--warm-up-time",
        "--measurement-time",
        "--nresamples",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--profile-time",
        "--plotting-backend",
        "--output-format",
        "--color",
        "--format",
    ];
    let mut args = std::env::args().skip(1);
    let mut filter = None;
    while let Some(a) = args.next() {
        if VALUED.contains(&a.as_str()) {
            args.next();
        } else if !a.starts_with('-') {
            filter = Some(a);
            break;
        }
    }
    let Some(f) = filter else {
        return true;
    };
    if f.chars()
        .any(|c| !(c.is_ascii_alphanumeric() || c == '_' || c == '/'))
    {
        return true;
    }
    names
        .iter()
        .any(|n| format!("storage/{n}").contains(&f) || f.contains(n))
}

fn benches(c: &mut Criterion) {
    if !selected(&[
        "wal_put_unordered_1000_blocks",
        "wal_put_prepared_1000_blocks",
        "compact_1000_block_shard",
        "random_block_read",
        "random_receipts_read",
        "random_header_read",
        "bloom_scan_1000_blocks",
    ]) {
        return;
    }
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

    // The same with blocks prepared (encoded + compressed) beforehand, as a sync worker pool would:
    // the writer's share alone (WAL append, fsync, index inserts, commit).
    g.bench_function("wal_put_prepared_1000_blocks", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().unwrap();
                let store = Storage::open(dir.path(), opts()).unwrap();
                let batches: Vec<Vec<_>> = blocks
                    .chunks(100)
                    .map(|c| c.iter().map(|b| store.prepare(b)).collect())
                    .collect();
                let t = Instant::now();
                for batch in batches {
                    store.put_prepared(batch).unwrap();
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

/// Lookups by transaction hash: every stored transaction in the unsealed tail (one shard of
/// `blocks` blocks, not sealed) and in 100 sealed shards' `txs-*.idx` files.
fn tx_lookups(c: &mut Criterion) {
    // The full measurement needs 10,000 mainnet-like blocks (a minute to build and store);
    // `cargo test --benches` runs the same code on 100.
    let full = std::env::args().any(|a| a == "--bench");
    let n: u64 = if full { 10_000 } else { 100 };
    if !selected(&[
        "tx_lookup_hit_tail",
        "tx_lookup_miss_tail",
        "_100_sealed_shards_",
    ]) {
        return;
    }
    let chain = TestnetChain::build(ChainKind::Mainnet, 5, n);
    let blocks: Vec<VerifiedBlock> = (0..n)
        .map(|i| chain.verified_block(i).unwrap().unwrap())
        .collect();
    let hashes: Vec<B256> = blocks.iter().flat_map(|b| b.transaction_hashes()).collect();
    eprintln!("{n} mainnet-like blocks, {} transactions", hashes.len());
    let store_with = |shard_size: u64| {
        let dir = tempfile::tempdir().unwrap();
        let store = Storage::open(
            dir.path(),
            OpenOptions {
                shard_size,
                ..opts()
            },
        )
        .unwrap();
        for batch in blocks.chunks(500) {
            store.put_unordered(batch).unwrap();
        }
        store.compact_dirty().unwrap();
        (dir, store)
    };
    let (_tail_dir, tail) = store_with(n);
    let (_sealed_dir, sealed) = store_with(n / 100);
    assert_eq!(sealed.seal_complete(BlockNumber(n - 1)).unwrap().len(), 100);

    let mut g = c.benchmark_group("storage");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(1));
    let mut rng = Rng::new(3);
    for (name, store) in [("tail", &tail), ("100_sealed_shards", &sealed)] {
        g.bench_function(format!("tx_lookup_hit_{name}_{n}_blocks"), |b| {
            b.iter(|| {
                let h = hashes[rng.below(hashes.len() as u64) as usize];
                black_box(store.transaction(&h).unwrap().unwrap())
            })
        });
        g.bench_function(format!("tx_lookup_miss_{name}_{n}_blocks"), |b| {
            b.iter(|| {
                let mut h = B256::ZERO;
                h.0[..8].copy_from_slice(&rng.below(u64::MAX).to_be_bytes());
                black_box(store.transaction(&h).unwrap())
            })
        });
    }
    g.finish();
    // The tail store's one shard sealed: the log index, the transaction file from `tx_blocks`
    // and the commit that removes the shard's range (printed, not a criterion measurement: a
    // seal happens once).
    // CPU time beside wall time: the seal runs on this thread, and its CPU time is what a
    // comparison on a shared machine can trust.
    let t = Instant::now();
    let cpu = histd::testkit::cpu_limit::thread_cpu();
    assert!(tail.seal(0).unwrap());
    eprintln!(
        "seal of a {n}-block shard: {} ms ({} ms CPU)",
        t.elapsed().as_millis(),
        (histd::testkit::cpu_limit::thread_cpu() - cpu).as_millis()
    );
}

/// Lookups by transaction hash over many sealed shards (mainnet has some 2,300 of 10,000
/// blocks): 2,000 shards of 10 small blocks, since a lookup's cost is per shard (a probe of its
/// `txs-*.idx`) or per run (`txruns/run-*.idx`, one per group of 64 sealed shards: 31 runs and
/// 16 shards' files here), not per transaction. Measured with every file kept open ("warm") and
/// with the soft descriptor limit lowered to 256 before the store opens, so its cache keeps only
/// some 40 shards' files and a lookup reopens the rest ("cold": open and header read per shard);
/// each with the runs ignored (every shard's file probed, `Storage::ignore_tx_runs`) and used
/// (`_runs`).
fn tx_lookups_many_shards(c: &mut Criterion) {
    let full = std::env::args().any(|a| a == "--bench");
    let shards: u64 = if full { 2000 } else { 20 };
    if !selected(&[&format!("_{shards}_sealed_shards_")]) {
        return;
    }
    const SMALL: u64 = 10;
    let mut g = ChainGen::new(9);
    g.max_txs = 4;
    g.max_logs = 1;
    let blocks = g.chain(BlockNumber(0), shards * SMALL, B256::ZERO);
    let hashes: Vec<B256> = blocks.iter().flat_map(|b| b.transaction_hashes()).collect();
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        Storage::open(
            dir.path(),
            OpenOptions {
                shard_size: SMALL,
                ..opts()
            },
        )
        .unwrap()
    };
    let t = Instant::now();
    {
        let store = open();
        for batch in blocks.chunks(2000) {
            store.put_unordered(batch).unwrap();
        }
        store.compact_dirty().unwrap();
        let sealed = store
            .seal_complete(BlockNumber(shards * SMALL - 1))
            .unwrap();
        assert_eq!(sealed.len() as u64, shards);
    }
    eprintln!(
        "{shards} sealed shards of {SMALL} blocks, {} transactions, stored and sealed in {} s",
        hashes.len(),
        t.elapsed().as_secs()
    );

    let mut g = c.benchmark_group("storage");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(1));
    let mut rng = Rng::new(5);
    let mut measure = |g: &mut criterion::BenchmarkGroup<'_, _>, store: &Storage, case: &str| {
        g.bench_function(
            format!("tx_lookup_hit_{shards}_sealed_shards_{case}"),
            |b| {
                b.iter(|| {
                    let h = hashes[rng.below(hashes.len() as u64) as usize];
                    black_box(store.transaction(&h).unwrap().unwrap())
                })
            },
        );
        g.bench_function(
            format!("tx_lookup_miss_{shards}_sealed_shards_{case}"),
            |b| {
                b.iter(|| {
                    let mut h = B256::ZERO;
                    h.0[..8].copy_from_slice(&rng.below(u64::MAX).to_be_bytes());
                    black_box(store.transaction(&h).unwrap())
                })
            },
        );
    };
    // Each cache state on a store of its own: the per-shard figures first (the runs ignored),
    // then the runs'.
    let mut both = |g: &mut criterion::BenchmarkGroup<'_, _>, cache: &str| {
        let store = open();
        store.ignore_tx_runs();
        measure(g, &store, cache);
        drop(store);
        let store = open();
        measure(g, &store, &format!("{cache}_runs"));
    };
    both(&mut g, "warm");
    let limit = nofile();
    set_nofile(libc::rlimit {
        rlim_cur: 256.min(limit.rlim_cur),
        ..limit
    });
    both(&mut g, "cold");
    set_nofile(limit);
    g.finish();
}

fn nofile() -> libc::rlimit {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    lim
}

fn set_nofile(lim: libc::rlimit) {
    // SAFETY: setrlimit only reads the struct it is given.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
}

criterion_group!(storage, benches, tx_lookups, tx_lookups_many_shards);
criterion_main!(storage);
