//! Storage against real files: mainnet blocks round-trip bit-identical (with a size table), identity
//! and lock checks, typed write errors, the shard diagram, `db` subcommands, streaming missing ranges.

use std::collections::BTreeSet;

use alloy_primitives::B256;
use histd::cli::db::{self as admin, DbCommand, VerifyStore};
use histd::primitives::{BlockNumber, VerifiedBlock};
use histd::storage::{
    LockError, OpenError, OpenOptions, Retention, ShardState, Storage, StorageError, TRANSITIONS,
    TxRetention, WriteError,
};
use histd::testkit::chain::ChainGen;
use histd::testkit::mainnet::load_blocks;
use histd::verify::{self, SealedHeader};

/// The one segment file (`seg-<gen>.dat` or `seg-<gen>.idx`, by `ext`) of the shard starting at
/// block `first` in data directory `dir`: the tests that damage one compact once.
pub(super) fn segment_file(dir: &std::path::Path, first: u64, ext: &str) -> std::path::PathBuf {
    let shard = dir.join("shards").join(format!("{first:012}"));
    std::fs::read_dir(&shard)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.extension().is_some_and(|x| x == ext)
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("seg-"))
        })
        .unwrap_or_else(|| panic!("no seg-*.{ext} in {}", shard.display()))
}

pub(super) fn opts(shard_size: u64) -> OpenOptions {
    OpenOptions {
        chain_id: 1,
        genesis_hash: B256::repeat_byte(0xd4),
        shard_size,
        retention: Retention::default(),
    }
}

pub(super) fn mainnet_verified() -> Vec<(VerifiedBlock, usize)> {
    load_blocks()
        .into_iter()
        .map(|b| {
            let raw = b.raw_header.len() + b.raw_body.len() + b.raw_receipts.len();
            let v = verify::verify_block(SealedHeader::seal(b.header), b.body, b.receipts)
                .expect("mainnet block verifies");
            (v, raw)
        })
        .collect()
}

#[test]
fn mainnet_blocks_round_trip_bit_identical_with_size_table() {
    let blocks = mainnet_verified();
    let dir = tempfile::tempdir().unwrap();
    let store = Storage::open(dir.path(), opts(10_000)).unwrap();
    let only: Vec<VerifiedBlock> = blocks.iter().map(|(b, _)| b.clone()).collect();
    assert_eq!(store.put_unordered(&only).unwrap().stored, blocks.len());
    for (b, _) in &blocks {
        assert_eq!(
            store.block(b.number()).unwrap().as_ref(),
            Some(b),
            "from WAL"
        );
    }
    store.compact_dirty().unwrap();
    drop(store);
    let store = Storage::open(dir.path(), opts(10_000)).unwrap();
    let hashes_dir = tempfile::tempdir().unwrap();
    let mut hopts = opts(10_000);
    hopts.retention = Retention {
        transactions: TxRetention::Hashes,
    };
    let hstore = Storage::open(hashes_dir.path(), hopts).unwrap();
    hstore.put_unordered(&only).unwrap();
    hstore.compact_dirty().unwrap();
    println!(
        "\n| block | txs | raw RLP bytes (header+body+receipts) | stored bytes (full) | ratio | stored bytes (hashes) | ratio |"
    );
    println!("|---|---|---|---|---|---|---|");
    let (mut raw_total, mut full_total, mut hash_total) = (0u64, 0u64, 0u64);
    for (b, raw) in &blocks {
        let n = b.number();
        assert_eq!(store.block(n).unwrap().as_ref(), Some(b), "from segment");
        assert_eq!(store.block_by_hash(&b.hash()).unwrap().as_ref(), Some(b));
        assert_eq!(store.receipts(n).unwrap().as_deref(), Some(b.receipts()));
        assert_eq!(store.header(n).unwrap().as_ref(), Some(b.header()));
        for (i, tx) in b.body().transactions.iter().enumerate() {
            let t = store.transaction(tx.tx_hash()).unwrap().unwrap();
            assert_eq!((t.block, t.index as usize), (n, i));
            assert_eq!(t.transaction.as_ref(), Some(tx));
            let h = hstore.transaction(tx.tx_hash()).unwrap().unwrap();
            assert_eq!((h.block, h.index as usize, h.transaction), (n, i, None));
        }
        let hb = hstore.stored_block(n).unwrap().unwrap();
        assert_eq!(hb.receipts, b.receipts());
        assert_eq!(
            hb.body.transactions.hashes(),
            b.transaction_hashes().collect::<Vec<_>>()
        );
        assert!(matches!(
            hstore.block(n),
            Err(histd::storage::ReadError::TransactionsNotRetained { .. })
        ));
        let full = store.stored_size(n).unwrap().unwrap();
        let hashes = hstore.stored_size(n).unwrap().unwrap();
        raw_total += *raw as u64;
        full_total += full;
        hash_total += hashes;
        println!(
            "| {n} | {} | {raw} | {full} | {:.2} | {hashes} | {:.2} |",
            b.body().transactions.len(),
            full as f64 / *raw as f64,
            hashes as f64 / *raw as f64
        );
    }
    println!(
        "| total | | {raw_total} | {full_total} | {:.2} | {hash_total} | {:.2} |",
        full_total as f64 / raw_total as f64,
        hash_total as f64 / raw_total as f64
    );
    assert_eq!(store.verify().unwrap().blocks, blocks.len() as u64);
    assert_eq!(hstore.verify().unwrap().blocks, blocks.len() as u64);
}

#[test]
fn identity_is_checked_and_named_on_open() {
    let dir = tempfile::tempdir().unwrap();
    drop(Storage::open(dir.path(), opts(100)).unwrap());
    let mut o = opts(100);
    o.chain_id = 5;
    let e = Storage::open(dir.path(), o).unwrap_err();
    assert!(
        matches!(
            e,
            OpenError::ChainMismatch {
                stored: 1,
                requested: 5,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("chain id 1") && e.to_string().contains("chain id 5"));
    let mut o = opts(100);
    o.genesis_hash = B256::ZERO;
    let e = Storage::open(dir.path(), o).unwrap_err();
    assert!(matches!(e, OpenError::GenesisMismatch { .. }), "{e}");
    let e = Storage::open(dir.path(), opts(200)).unwrap_err();
    assert!(
        matches!(
            e,
            OpenError::ShardSizeMismatch {
                stored: 100,
                requested: 200,
                ..
            }
        ),
        "{e}"
    );
    let nodb = tempfile::tempdir().unwrap();
    assert!(matches!(
        Storage::open_existing(nodb.path()),
        Err(OpenError::NotADatabase { .. })
    ));
}

#[test]
fn second_open_fails_fast_naming_dir_and_pid() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Storage::open(dir.path(), opts(100)).unwrap();
    let e = Storage::open(dir.path(), opts(100)).unwrap_err();
    match &e {
        OpenError::Lock(LockError::Held { dir: d, pid }) => {
            assert_eq!(d, dir.path());
            assert_eq!(*pid, Some(std::process::id()));
        }
        other => panic!("expected lock error, got {other}"),
    }
    let msg = e.to_string();
    assert!(
        msg.contains(&dir.path().display().to_string()) && msg.contains("pid"),
        "{msg}"
    );
    let e = admin::run(dir.path(), &DbCommand::Verify).unwrap_err();
    assert!(e.to_string().contains("in use"), "{e}");
}

#[test]
fn writes_reject_what_does_not_fit_with_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = Storage::open(dir.path(), opts(10)).unwrap();
    let chain = ChainGen::new(1).chain(BlockNumber(0), 30, B256::ZERO);
    let fork = ChainGen::new(2).chain(BlockNumber(5), 5, chain[4].hash());
    for b in &chain[..10] {
        store.append_sorted(b).unwrap();
    }
    assert_eq!(store.shard_state(0).unwrap(), ShardState::Sorted);
    let e = store.append_sorted(&chain[11]).unwrap_err();
    assert!(
        matches!(
            e,
            WriteError::NotNext {
                expected: BlockNumber(10),
                got: BlockNumber(11)
            }
        ),
        "{e}"
    );
    let e = store
        .append_sorted(&ChainGen::new(3).block(BlockNumber(10), B256::ZERO))
        .unwrap_err();
    assert!(matches!(e, WriteError::NotLinked { .. }), "{e}");
    let e = store.put_unordered(&fork[..1]).unwrap_err();
    assert!(
        matches!(
            e,
            WriteError::Conflict {
                number: BlockNumber(5),
                ..
            }
        ),
        "{e}"
    );
    // Identical blocks are duplicates, not conflicts.
    assert_eq!(store.put_unordered(&chain[..3]).unwrap().duplicates, 3);
    // Gap puts, then fill: contiguity follows.
    store.put_unordered(&chain[15..25]).unwrap();
    assert_eq!(store.last_contiguous().unwrap(), Some(BlockNumber(9)));
    let prepared: Vec<_> = chain[10..15].iter().map(|b| store.prepare(b)).collect();
    assert_eq!(store.put_prepared(prepared).unwrap().stored, 5);
    assert_eq!(store.last_contiguous().unwrap(), Some(BlockNumber(24)));
    store.seal(0).unwrap();
    assert_eq!(store.shard_state(0).unwrap(), ShardState::Sealed);
    let e = store.seal(2).unwrap_err();
    assert!(
        matches!(
            e,
            WriteError::Incomplete {
                shard: 2,
                present: 5,
                ..
            }
        ),
        "{e}"
    );
    let e = store.rollback_to(BlockNumber(7)).unwrap_err();
    assert!(matches!(e, WriteError::Sealed { shard: 0 }), "{e}");
    assert_eq!(store.rollback_to(BlockNumber(12)).unwrap().removed, 12);
    assert_eq!(store.last_contiguous().unwrap(), Some(BlockNumber(12)));
    let fork = ChainGen::new(9).chain(BlockNumber(13), 3, chain[12].hash());
    for b in &fork {
        store.append_sorted(b).unwrap();
    }
    assert_eq!(
        store.block(BlockNumber(15)).unwrap().as_ref(),
        Some(&fork[2])
    );
    assert_eq!(store.block_by_hash(&chain[15].hash()).unwrap(), None);
    store.verify().unwrap();
}

#[test]
fn shard_diagram_matches_transition_table() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/state-diagrams/shard.mmd"
    ))
    .unwrap();
    let mut drawn = BTreeSet::new();
    for line in text.lines() {
        let line = line.trim();
        let Some((from, rest)) = line.split_once("-->") else {
            continue;
        };
        let to = rest.split(':').next().unwrap().trim();
        let from = from.trim();
        if from == "[*]" || to == "[*]" {
            continue;
        }
        drawn.insert((from.to_string(), to.to_string()));
    }
    let code: BTreeSet<(String, String)> = TRANSITIONS
        .iter()
        .map(|(a, b, _)| (format!("{a:?}"), format!("{b:?}")))
        .collect();
    assert_eq!(
        drawn, code,
        "state-diagrams/shard.mmd differs from storage::TRANSITIONS"
    );
}

#[test]
fn db_subcommands_report_and_verify_catches_damage() {
    let dir = tempfile::tempdir().unwrap();
    let chain = ChainGen::new(4).chain(BlockNumber(0), 25, B256::ZERO);
    {
        let store = Storage::open(dir.path(), opts(10)).unwrap();
        store.put_unordered(&chain).unwrap();
        store.set_head_seen(BlockNumber(40)).unwrap();
        store.set_head_seen(BlockNumber(30)).unwrap();
        assert_eq!(store.head_seen().unwrap(), Some(BlockNumber(40)));
        store.set_peer_cache(b"enode list").unwrap();
    }
    assert_eq!(
        Storage::open(dir.path(), opts(10))
            .unwrap()
            .peer_cache()
            .unwrap()
            .as_deref(),
        Some(&b"enode list"[..])
    );
    let stats = admin::run(dir.path(), &DbCommand::Stats { json: true }).unwrap();
    let v: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(v["blocks"], 25);
    assert_eq!(v["shards"][0]["state"], "Filling");
    let out = admin::run(dir.path(), &DbCommand::Compact).unwrap();
    assert!(out.contains("3 shards compacted, 2 sealed"), "{out}");
    let text = admin::run(dir.path(), &DbCommand::Stats { json: false }).unwrap();
    assert!(text.contains("sealed") && text.contains("sorted"), "{text}");
    assert!(
        admin::run(dir.path(), &DbCommand::Repair { drop_broken: false })
            .unwrap()
            .starts_with("clean")
    );
    assert!(
        admin::run(dir.path(), &DbCommand::Verify)
            .unwrap()
            .starts_with("ok: 25 blocks")
    );
    // Damage one byte in shard 1's segment: verify names a block of shard 1.
    let seg = segment_file(dir.path(), 10, "dat");
    let mut bytes = std::fs::read(&seg).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(&seg, bytes).unwrap();
    let e = admin::run(dir.path(), &DbCommand::Verify).unwrap_err();
    match e {
        StorageError::Verify { number, .. } => {
            assert!((10..20).contains(&number.get()), "{number}")
        }
        other => panic!("expected verify failure, got {other}"),
    }
}

#[test]
fn missing_ranges_stream_over_huge_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let store = Storage::open(dir.path(), opts(100)).unwrap();
    let chain = ChainGen::new(5).chain(BlockNumber(0), 250, B256::ZERO);
    store.put_unordered(&chain[0..100]).unwrap();
    store.put_unordered(&chain[120..130]).unwrap();
    store.put_unordered(&chain[200..201]).unwrap();
    store.seal(0).unwrap();
    let got: Vec<(u64, u64)> = store
        .missing(BlockNumber(50), BlockNumber(1_000_000_000_000))
        .unwrap()
        .map(|r| {
            let r = r.unwrap();
            (r.start().get(), r.end().get())
        })
        .collect();
    assert_eq!(got, vec![(100, 119), (130, 199), (201, 1_000_000_000_000)]);
    let got: Vec<_> = store
        .missing(BlockNumber(125), BlockNumber(u64::MAX))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    assert_eq!(
        got,
        vec![
            BlockNumber(130)..=BlockNumber(199),
            BlockNumber(201)..=BlockNumber(u64::MAX)
        ]
    );
    let got: Vec<_> = store
        .missing(BlockNumber(0), BlockNumber(99))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    assert!(got.is_empty());
}

#[test]
fn compaction_refuses_blocks_that_do_not_link() {
    let dir = tempfile::tempdir().unwrap();
    let store = Storage::open(dir.path(), opts(10)).unwrap();
    let chain = ChainGen::new(6).chain(BlockNumber(0), 5, B256::ZERO);
    let stranger = ChainGen::new(7).block(BlockNumber(5), B256::repeat_byte(9));
    store.put_unordered(&chain).unwrap();
    store
        .put_unordered(std::slice::from_ref(&stranger))
        .unwrap();
    let e = store.compact(0).unwrap_err();
    assert!(
        matches!(
            e,
            WriteError::BrokenLink {
                shard: 0,
                number: BlockNumber(5),
                ..
            }
        ),
        "{e}"
    );
    // Nothing changed: still Filling, every block readable.
    assert_eq!(store.shard_state(0).unwrap(), ShardState::Filling);
    assert_eq!(
        store.block(BlockNumber(5)).unwrap().as_ref(),
        Some(&stranger)
    );
    drop(store);
    let store = Storage::open(dir.path(), opts(10)).unwrap();
    assert!(
        store.repair_report().is_clean(),
        "{:?}",
        store.repair_report()
    );
}

#[test]
fn damaged_or_missing_committed_bytes_are_named_errors() {
    let dir = tempfile::tempdir().unwrap();
    let chain = ChainGen::new(11).chain(BlockNumber(0), 5, B256::ZERO);
    let wal = dir
        .path()
        .join("shards")
        .join(format!("{:012}", 0))
        .join("wal");
    {
        let store = Storage::open(dir.path(), opts(10)).unwrap();
        store.put_unordered(&chain).unwrap();
    }
    // A flipped bit inside a committed WAL record: reads of that block fail naming the WAL.
    let mut bytes = std::fs::read(&wal).unwrap();
    let last = bytes.len() - 10;
    bytes[last] ^= 1;
    std::fs::write(&wal, &bytes).unwrap();
    {
        let store = Storage::open(dir.path(), opts(10)).unwrap();
        assert_eq!(
            store.block(BlockNumber(0)).unwrap().as_ref(),
            Some(&chain[0])
        );
        let e = store.block(BlockNumber(4)).unwrap_err();
        assert!(
            e.to_string().contains("checksum") && e.to_string().contains("wal"),
            "{e}"
        );
        let e = store.verify().unwrap_err();
        assert!(
            matches!(
                e,
                StorageError::Verify {
                    number: BlockNumber(4),
                    ..
                }
            ),
            "{e}"
        );
        assert!(
            store.compact(0).is_err(),
            "compaction must not drop a damaged block"
        );
        assert_eq!(store.shard_state(0).unwrap(), ShardState::Filling);
    }
    // Committed bytes missing altogether: open refuses, naming the file.
    std::fs::write(&wal, &bytes[..100]).unwrap();
    let e = Storage::open(dir.path(), opts(10)).unwrap_err();
    assert!(matches!(e, OpenError::Corrupt(_)), "{e}");
    assert!(
        e.to_string().contains("wal") && e.to_string().contains("shorter"),
        "{e}"
    );
}

#[test]
fn db_repair_reports_what_an_interrupted_writer_left() {
    let dir = tempfile::tempdir().unwrap();
    let chain = ChainGen::new(12).chain(BlockNumber(0), 5, B256::ZERO);
    {
        let store = Storage::open(dir.path(), opts(10)).unwrap();
        store.put_unordered(&chain).unwrap();
    }
    let shard = dir.path().join("shards").join(format!("{:012}", 0));
    // What a writer killed mid-append / mid-compaction / mid-new-shard leaves behind.
    let mut wal = std::fs::OpenOptions::new()
        .append(true)
        .open(shard.join("wal"))
        .unwrap();
    std::io::Write::write_all(&mut wal, &[0xab; 77]).unwrap();
    std::fs::write(shard.join("seg-1.dat.tmp"), b"half a segment").unwrap();
    std::fs::create_dir_all(dir.path().join("shards").join(format!("{:012}", 990))).unwrap();
    let out = admin::run(dir.path(), &DbCommand::Repair { drop_broken: false }).unwrap();
    assert!(out.contains("truncated 77 uncommitted bytes"), "{out}");
    assert!(
        out.contains("seg-1.dat.tmp") && out.contains("000000000990"),
        "{out}"
    );
    assert!(
        admin::run(dir.path(), &DbCommand::Repair { drop_broken: false })
            .unwrap()
            .starts_with("clean")
    );
    let store = Storage::open(dir.path(), opts(10)).unwrap();
    for b in &chain {
        assert_eq!(store.block(b.number()).unwrap().as_ref(), Some(b));
    }
}

#[test]
fn a_batch_of_sorted_appends_crosses_shards_in_one_commit_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let store = Storage::open(dir.path(), opts(10)).unwrap();
    let chain = ChainGen::new(4).chain(BlockNumber(0), 40, B256::ZERO);
    let refs: Vec<&VerifiedBlock> = chain.iter().collect();
    store.append_sorted_many(&refs[..7]).unwrap();
    // 7 ..= 24 crosses two shard boundaries; all of it lands, in order.
    store.append_sorted_many(&refs[7..25]).unwrap();
    assert_eq!(store.last_contiguous().unwrap(), Some(BlockNumber(24)));
    for s in [0, 1, 2] {
        assert_eq!(
            store.shard_state(s).unwrap(),
            ShardState::Sorted,
            "shard {s}"
        );
    }
    // A batch with a hole is refused whole: nothing of it is stored.
    let holed = [refs[25], refs[26], refs[28]];
    let e = store.append_sorted_many(&holed).unwrap_err();
    assert!(
        matches!(
            e,
            WriteError::NotNext {
                expected: BlockNumber(27),
                got: BlockNumber(28)
            }
        ),
        "{e}"
    );
    assert_eq!(store.last_contiguous().unwrap(), Some(BlockNumber(24)));
    assert_eq!(store.block_by_hash(&chain[25].hash()).unwrap(), None);
    // ... and the next batch appends over what the refused one left in the files.
    store.append_sorted_many(&refs[25..40]).unwrap();
    for (n, b) in chain.iter().enumerate() {
        assert_eq!(
            store.block(BlockNumber(n as u64)).unwrap().as_ref(),
            Some(b)
        );
    }
    store.verify().unwrap();
}
