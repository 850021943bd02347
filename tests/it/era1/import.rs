//! Importing the real epoch 0 file: every block proven and stored, the epoch record rebuilt from
//! the stored blocks equals the accumulator's, a second import skips it, and every tampered copy
//! is refused naming the file and its first bad block, with nothing stored.

use std::ops::ControlFlow;

use alloy_primitives::{B256, U256};
use histd::era1::{self, BlockError, Era1Error, Era1Writer, FormatError, Importer};
use histd::primitives::BlockNumber;
use histd::storage::Storage;
use histd::verify::accumulator::{AccumulatorError, HeaderRecord, epoch_root};

use super::{entries, epoch0, mainnet_store};

/// The records of `first ..= last` as derived from the stored headers alone (total difficulty
/// summed from genesis).
fn stored_records(store: &Storage, last: u64) -> Vec<HeaderRecord> {
    let mut td = U256::ZERO;
    let mut records = Vec::new();
    store
        .scan_headers(BlockNumber(0), BlockNumber(last), |_, hash, h| {
            td += h.difficulty;
            records.push(HeaderRecord {
                block_hash: hash,
                total_difficulty: td,
            });
            ControlFlow::Continue(())
        })
        .unwrap();
    records
}

#[test]
fn epoch0_is_proven_stored_and_its_record_rebuilt_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = mainnet_store(dir.path());
    let acc = era1::mainnet_accumulator().unwrap();
    let r = Importer::new(&store, acc).import_file(&epoch0()).unwrap();
    assert_eq!(
        (r.epoch, r.first, r.last, r.stored, r.present, r.skipped),
        (0, 0, 8191, 8192, 0, false)
    );
    // As `histd import era1` does: compacted, blocks are read from sorted segments.
    store.compact_dirty().unwrap();

    // The epoch record derived from what was stored is the accumulator's root for epoch 0.
    let records = stored_records(&store, 8191);
    assert_eq!(records.len(), 8192);
    assert_eq!(epoch_root(&records), Some(acc.epoch_root(0).unwrap()));
    assert_eq!(
        store.block_hash(BlockNumber(0)).unwrap(),
        Some(alloy_consensus::constants::MAINNET_GENESIS_HASH)
    );
    // Bodies whole: the testdata README counts 1,410 ommers in this epoch.
    let ommers: usize = (0..8192)
        .map(|n| {
            store
                .block(BlockNumber(n))
                .unwrap()
                .unwrap()
                .body()
                .ommers
                .len()
        })
        .sum();
    assert_eq!(ommers, 1410);

    // Resumable: the same file again is skipped unread; a renamed copy is proven again and
    // finds everything present.
    let again = Importer::new(&store, acc).import_file(&epoch0()).unwrap();
    assert!(again.skipped, "{again:?}");
    let copy = dir.path().join("epoch-zero-copy.era1");
    std::fs::copy(epoch0(), &copy).unwrap();
    let r = Importer::new(&store, acc).import_file(&copy).unwrap();
    assert_eq!((r.stored, r.present, r.skipped), (0, 8192, false));
}

/// Imports `bytes` named `name` into a fresh store; returns the error (it must fail) after checking
/// that nothing was stored.
fn refused(bytes: &[u8], name: &str) -> (Era1Error, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    let store = mainnet_store(&dir.path().join("data"));
    let acc = era1::mainnet_accumulator().unwrap();
    let err = Importer::new(&store, acc)
        .import_file(&path)
        .expect_err("a tampered file is refused");
    assert_eq!(store.lowest().unwrap(), None, "nothing stored after: {err}");
    let text = err.to_string();
    assert!(text.contains(name), "the error names the file: {text}");
    (err, text)
}

/// Entry `k` of the given kind (header 3, body 4, receipts 5, total difficulty 6) of block `n`:
/// its data's byte range in the file.
fn data_range(bytes: &[u8], kind: u16, n: usize) -> std::ops::Range<usize> {
    let e = entries(bytes)
        .into_iter()
        .filter(|e| e.kind == kind)
        .nth(n)
        .unwrap();
    let start = e.offset as usize + 8;
    start..start + e.data.len()
}

const NAME: &str = "mainnet-00000-5ec1ffb8.era1";

fn block_of(err: &Era1Error) -> Option<u64> {
    match err {
        Era1Error::Block { number, .. } => Some(*number),
        _ => None,
    }
}

#[test]
fn flipped_bytes_are_refused_at_their_block() {
    let original = std::fs::read(epoch0()).unwrap();
    for (kind, block, part) in [
        (3u16, 100usize, "header"),
        (4, 200, "body"),
        (5, 300, "receipts"),
    ] {
        let mut bytes = original.clone();
        let range = data_range(&bytes, kind, block);
        bytes[range.start + range.len() / 2] ^= 0x10;
        let (err, text) = refused(&bytes, NAME);
        assert_eq!(block_of(&err), Some(block as u64), "{part}: {text}");
        assert!(text.contains(&format!("block {block}")), "{text}");
        assert!(text.contains("nothing of this file was stored"), "{text}");
    }

    // Total difficulty: the running sum catches it at its block.
    let mut bytes = original.clone();
    let range = data_range(&bytes, 6, 400);
    bytes[range.start] ^= 0x01;
    let (err, text) = refused(&bytes, NAME);
    assert!(
        matches!(
            err,
            Era1Error::Block {
                number: 400,
                source: BlockError::TotalDifficulty { .. },
                ..
            }
        ),
        "{text}"
    );

    // The accumulator entry.
    let mut bytes = original.clone();
    let acc = entries(&bytes)
        .into_iter()
        .find(|e| e.kind == 0x07)
        .unwrap();
    bytes[acc.offset as usize + 8 + 5] ^= 0x80;
    let (err, text) = refused(&bytes, NAME);
    assert!(matches!(err, Era1Error::AccumulatorEntry { .. }), "{text}");
}

#[test]
fn truncated_files_are_refused_at_the_block_cut() {
    let original = std::fs::read(epoch0()).unwrap();
    // Cut inside block 4000's body.
    let range = data_range(&original, 4, 4000);
    let (err, text) = refused(&original[..range.start + 3], NAME);
    assert!(
        matches!(
            err,
            Era1Error::Block {
                number: 4000,
                source: BlockError::Format(FormatError::E2(_)),
                ..
            }
        ),
        "{text}"
    );
    assert!(text.contains("truncated"), "{text}");
    // Cut inside the block index, after every block.
    let (err, text) = refused(&original[..original.len() - 10], NAME);
    assert!(
        matches!(
            err,
            Era1Error::Trailer {
                last: Some(8191),
                ..
            }
        ),
        "{text}"
    );
}

#[test]
fn files_from_another_epoch_or_outside_the_accumulator_are_refused() {
    let original = std::fs::read(epoch0()).unwrap();
    // Epoch 0's content under epoch 1's name.
    let (err, text) = refused(&original, "mainnet-00001-a5364e9a.era1");
    assert!(matches!(err, Era1Error::NameMismatch { .. }), "{text}");

    // A well-formed file whose blocks are real and whose own accumulator entry is right, but
    // which is not a whole epoch: the mainnet accumulator refuses it.
    let mut reader = era1::Era1Reader::new(&original[..], original.len() as u64).unwrap();
    let mut writer = Era1Writer::new(Vec::new(), 0).unwrap();
    let mut records = Vec::new();
    for _ in 0..100 {
        let t = reader.next_block().unwrap().unwrap();
        let header: alloy_consensus::Header =
            alloy_rlp::Decodable::decode(&mut t.header.as_slice()).unwrap();
        records.push(HeaderRecord {
            block_hash: header.hash_slow(),
            total_difficulty: t.total_difficulty,
        });
        writer.add_block(&t).unwrap();
    }
    let short = writer.finish(epoch_root(&records).unwrap()).unwrap();
    let (err, text) = refused(&short, "first-hundred.era1");
    assert!(
        matches!(
            err,
            Era1Error::Accumulator {
                source: AccumulatorError::RootMismatch { epoch: 0, .. },
                ..
            }
        ),
        "{text}"
    );
}

/// Numbers a file or its name controls, at the edge of u64: a block numbered `u64::MAX` is
/// refused at that block (nothing after it could be numbered), a name whose epoch's blocks do not
/// fit in u64 is no era1 name (the file is proven by its content, as an unnamed one), and an index
/// starting at `u64::MAX` whose offsets are wrong is refused, never an overflow.
#[test]
fn block_numbers_and_epochs_at_the_edge_of_u64_are_refused_not_overflowed() {
    let original = std::fs::read(epoch0()).unwrap();
    let mut reader = era1::Era1Reader::new(&original[..], original.len() as u64).unwrap();
    let mut genesis = reader.next_block().unwrap().unwrap();
    let mut header: alloy_consensus::Header =
        alloy_rlp::Decodable::decode(&mut genesis.header.as_slice()).unwrap();
    header.number = u64::MAX;
    genesis.header = alloy_rlp::encode(&header);
    let mut writer = Era1Writer::new(Vec::new(), u64::MAX).unwrap();
    writer.add_block(&genesis).unwrap();
    let record = HeaderRecord {
        block_hash: header.hash_slow(),
        total_difficulty: genesis.total_difficulty,
    };
    let bytes = writer.finish(epoch_root(&[record]).unwrap()).unwrap();
    let (err, text) = refused(&bytes, "last-number.era1");
    assert_eq!(block_of(&err), Some(u64::MAX), "{text}");
    assert!(
        text.contains("header says block 18446744073709551615"),
        "{text}"
    );

    // Two blocks indexed from u64::MAX, the second offset pointing elsewhere: the index is
    // refused naming the offset (block u64::MAX + 1 is not computed).
    let mut writer = Era1Writer::new(Vec::new(), u64::MAX).unwrap();
    writer.add_block(&genesis).unwrap();
    writer.add_block(&genesis).unwrap();
    let mut broken = writer.finish(B256::ZERO).unwrap();
    let second_offset = broken.len() - 16;
    broken[second_offset] ^= 0x01;
    let mut r = era1::Era1Reader::new(&broken[..], broken.len() as u64).unwrap();
    assert!(r.next_block().unwrap().is_some());
    assert!(r.next_block().unwrap().is_some());
    let e = r.next_block().unwrap_err().to_string();
    assert!(
        e.contains("offset 1 of the index (block 1 of the file)"),
        "{e}"
    );

    // Epoch 0 under a name whose epoch would put its first block past u64: imported by content.
    let dir = tempfile::tempdir().unwrap();
    let name = "mainnet-9999999999999999999-5ec1ffb8.era1";
    assert!(era1::Era1Name::parse(name).is_none());
    let path = dir.path().join(name);
    std::fs::copy(epoch0(), &path).unwrap();
    let store = mainnet_store(&dir.path().join("data"));
    let acc = era1::mainnet_accumulator().unwrap();
    let r = Importer::new(&store, acc).import_file(&path).unwrap();
    assert_eq!((r.first, r.last), (0, 8191));
}
