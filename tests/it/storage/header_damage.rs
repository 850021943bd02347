//! A damaged header frame or offset-table hash in a compacted segment, through the real store on
//! real mainnet blocks: every header read (`header`, `scan_headers`, the log search's bloom
//! pre-filter) and block read errors, naming the block and the file (unless zstd ignores the
//! flipped bit: then it reads the same header), and never answers another header or skips a
//! block; the undamaged store reads as before once the byte is put back.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use alloy_primitives::{Address, B256, Bloom, BloomInput};
use alloy_rlp::Decodable;
use histd::cli::db::VerifyStore;
use histd::primitives::{BlockNumber, Header, VerifiedBlock};
use histd::storage::{LogQuery, LogSearch, Storage};

use super::basic::{mainnet_verified, opts, segment_file};

/// `layout::FILE_HEADER` and `layout::INDEX_ENTRY`: where a segment index entry lies.
const FILE_HEADER: u64 = 24;
const INDEX_ENTRY: u64 = 56;
/// Where the block hash lies in an index entry (`layout.rs`).
const ENTRY_HASH: u64 = 24;

/// Large enough that the mainnet blocks share a few unsealed, compacted shards.
const SHARD: u64 = 1_000_000;

/// Where block `n`'s header frame and entry hash are: `(.dat path, frame offset, frame length,
/// .idx path, hash offset)`.
fn header_place(dir: &Path, n: u64) -> (PathBuf, u64, usize, PathBuf, u64) {
    let first = n / SHARD * SHARD;
    let (dat, idx) = (
        segment_file(dir, first, "dat"),
        segment_file(dir, first, "idx"),
    );
    let at = FILE_HEADER + (n - first) * INDEX_ENTRY;
    let mut entry = [0u8; INDEX_ENTRY as usize];
    std::fs::File::open(&idx)
        .unwrap()
        .read_exact_at(&mut entry, at)
        .unwrap();
    let offset = u64::from_le_bytes(entry[0..8].try_into().unwrap());
    let len = u32::from_le_bytes(entry[8..12].try_into().unwrap()) as usize;
    (dat, offset, len, idx, at + ENTRY_HASH)
}

/// Flips bit `bit` of the byte at `at` in `path`, in place (the store's open files see it).
fn flip(path: &Path, at: u64, bit: u32) {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8];
    f.read_exact_at(&mut b, at).unwrap();
    b[0] ^= 1 << bit;
    f.write_all_at(&b, at).unwrap();
}

/// A store of the mainnet test blocks, compacted into segments.
fn compacted() -> (tempfile::TempDir, Storage, Vec<VerifiedBlock>) {
    let blocks: Vec<VerifiedBlock> = mainnet_verified().into_iter().map(|(b, _)| b).collect();
    let dir = tempfile::tempdir().unwrap();
    let store = Storage::open(dir.path(), opts(SHARD)).unwrap();
    store.put_unordered(&blocks).unwrap();
    let report = store.compact_dirty().unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    (dir, store, blocks)
}

/// Block `n` read every way a header is read: none answers another header than `want`, and a
/// failure names `file` and the block. Whether every read failed.
fn no_read_answers_another(
    store: &Storage,
    n: BlockNumber,
    want: &Header,
    file: &Path,
    what: &str,
) -> bool {
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    let failed = match store.header(n) {
        Ok(h) => {
            assert_eq!(h.as_ref(), Some(want), "{what}");
            false
        }
        Err(e) => {
            let e = e.to_string();
            assert!(
                e.contains(&name) && e.contains(&format!("block {n}")),
                "{what}: {e}"
            );
            true
        }
    };
    let mut visited = Vec::new();
    let scan = store.scan_headers(n, n, |m, _, h| {
        visited.push((m, h.clone()));
        std::ops::ControlFlow::Continue(())
    });
    match scan {
        Ok(()) => assert_eq!(visited, [(n, want.clone())], "{what}"),
        Err(_) => assert!(visited.is_empty(), "{what}: scan visited {visited:?}"),
    }
    assert_eq!(failed, scan.is_err(), "{what}");
    failed
}

/// One bit flipped in every byte of every header frame (bit `i % 8` of byte `i`), then in every
/// byte of every entry hash: no read answers another header, each failure names the damage; put
/// back, all read as before.
#[test]
fn every_damaged_header_byte_or_entry_hash_is_an_error_never_another_header() {
    let (dir, store, blocks) = compacted();
    let (mut flips, mut failed) = (0, 0);
    for b in &blocks {
        let n = b.number();
        let (dat, offset, len, idx, hash_at) = header_place(dir.path(), n.get());
        for i in 0..len as u64 {
            flip(&dat, offset + i, (i % 8) as u32);
            let what = format!("block {n} frame byte {i}");
            failed += usize::from(no_read_answers_another(&store, n, b.header(), &dat, &what));
            flip(&dat, offset + i, (i % 8) as u32);
            flips += 1;
        }
        for i in 0..32 {
            flip(&idx, hash_at + i, (i % 8) as u32);
            let what = format!("block {n} hash byte {i}");
            assert!(
                no_read_answers_another(&store, n, b.header(), &dat, &what),
                "{what}"
            );
            // A whole-block read (crc-checked frames) serves the entry's hash: checked too.
            let e = store.block(n).expect_err(&what).to_string();
            assert!(e.contains(&format!("block {n}")), "{what}: {e}");
            if i == 0 {
                // `db verify` names it as it names a crc mismatch.
                let e = store.verify().expect_err(&what).to_string();
                assert!(e.contains(&format!("block {n}")), "{what}: {e}");
            }
            flip(&idx, hash_at + i, (i % 8) as u32);
        }
        assert_eq!(store.header(n).unwrap().as_ref(), Some(b.header()));
    }
    // Only bits zstd ignores leave a frame readable (the same header): see `record.rs`'s
    // `a_damaged_header_frame_or_hash_is_an_error_never_another_header`.
    println!(
        "{failed} of {flips} header frame flips failed every header read, the rest read the same header; all {} entry hash flips failed",
        blocks.len() * 32
    );
    assert!(flips > 11 * 300, "{flips} flips");
    assert!(
        failed * 100 > flips * 99,
        "{failed} of {flips} flips failed"
    );
    // Undamaged again: every read answers exactly what was stored.
    let (lo, hi) = (blocks[0].number(), blocks[blocks.len() - 1].number());
    let mut seen = Vec::new();
    store
        .scan_headers(lo, hi, |n, hash, h| {
            seen.push((n, hash, h.clone()));
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
    let want: Vec<(BlockNumber, B256, Header)> = blocks
        .iter()
        .map(|b| (b.number(), b.hash(), b.header().clone()))
        .collect();
    assert_eq!(seen, want);
    for b in &blocks {
        assert_eq!(store.block(b.number()).unwrap().as_ref(), Some(b));
    }
    store.verify().unwrap();
}

/// The header a damaged frame would decode to without the hash check (`None` if it does not).
fn unchecked_decode(frame: &[u8]) -> Option<Header> {
    let raw = zstd::bulk::decompress(frame, 1 << 20).ok()?;
    let mut buf = &raw[..];
    let h = Header::decode(&mut buf).ok()?;
    buf.is_empty().then_some(h)
}

/// The log search's bloom pre-filter on an unsealed shard reads the header frame only: a flip
/// that turns the block's bloom into one that rules out a log's address (so, unchecked, the
/// search would skip the block and miss the log) fails the search instead.
#[test]
fn a_damaged_header_frame_fails_the_log_search_instead_of_skipping_the_block() {
    let (dir, store, blocks) = compacted();
    // The first block, address and flip where the damaged header still decodes, but its bloom
    // rules the address out.
    let found = blocks.iter().find_map(|b| {
        let n = b.number();
        let (dat, offset, len, _, _) = header_place(dir.path(), n.get());
        let mut frame = vec![0u8; len];
        std::fs::File::open(&dat)
            .unwrap()
            .read_exact_at(&mut frame, offset)
            .unwrap();
        let addresses: Vec<Address> = b
            .receipts()
            .iter()
            .flat_map(|r| r.logs.iter().map(|l| l.address))
            .collect();
        (0..len * 8).find_map(|bit| {
            let mut bad = frame.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            let bloom: Bloom = unchecked_decode(&bad)?.logs_bloom;
            let a = addresses
                .iter()
                .find(|a| !bloom.contains_input(BloomInput::Raw(a.as_slice())))?;
            Some((
                n,
                *a,
                dat.clone(),
                offset + (bit / 8) as u64,
                (bit % 8) as u32,
            ))
        })
    });
    let (n, address, dat, at, bit) = found.expect("a flip that hides a log's address");
    let query = LogQuery {
        addresses: vec![address],
        topics: Vec::new(),
    };
    flip(&dat, at, bit);
    let e = store
        .find_logs(&query, n, n, u64::MAX)
        .expect_err("damaged header frame")
        .to_string();
    assert!(
        e.contains(&format!("block {n}")) && e.contains("seg-"),
        "{e}"
    );
    flip(&dat, at, bit);
    match store.find_logs(&query, n, n, u64::MAX).unwrap() {
        LogSearch::Found(logs) => {
            assert!(!logs.is_empty() && logs.iter().all(|l| l.log.address == address));
        }
        other => panic!("{other:?}"),
    }
}
