//! Export of what was imported: the same file name, the same accumulator root, entries equal to
//! the original's once decompressed, and a file histd imports again. Ranges that are not whole
//! stored epochs are refused.

use histd::era1::{self, Era1Error, Importer, decompress};

use super::{entries, epoch0, mainnet_store};

#[test]
fn exporting_what_was_imported_gives_the_original_entries() {
    let dir = tempfile::tempdir().unwrap();
    let store = mainnet_store(&dir.path().join("data"));
    let acc = era1::mainnet_accumulator().unwrap();
    Importer::new(&store, acc).import_file(&epoch0()).unwrap();
    // As `histd import era1` does: compacted, blocks are read from sorted segments.
    store.compact_dirty().unwrap();

    let out = dir.path().join("out");
    let mut seen = Vec::new();
    let files = era1::export(&store, acc, 0, 8191, &out, |f| seen.push(f.path.clone())).unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(seen, vec![files[0].path.clone()]);
    assert_eq!(
        files[0].path.file_name().and_then(|n| n.to_str()),
        Some("mainnet-00000-5ec1ffb8.era1")
    );
    assert_eq!(files[0].root, acc.epoch_root(0).unwrap());
    let leftovers: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no .partial file left behind");

    let original = std::fs::read(epoch0()).unwrap();
    let exported = std::fs::read(&files[0].path).unwrap();
    let (a, b) = (entries(&original), entries(&exported));
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.kind, y.kind, "entry at byte {}", x.offset);
        match x.kind {
            // Compressed parts: equal once decompressed (compressors may differ).
            3..=5 => assert_eq!(
                decompress("part", x.offset, &x.data).unwrap(),
                decompress("part", y.offset, &y.data).unwrap(),
                "entry at byte {}",
                x.offset
            ),
            // The block index: same start and count (its offsets follow the compressed sizes).
            0x3266 => {
                assert_eq!(x.data[..8], y.data[..8]);
                assert_eq!(x.data[x.data.len() - 8..], y.data[y.data.len() - 8..]);
            }
            // Version, total difficulty, accumulator: byte for byte.
            _ => assert_eq!(x.data, y.data, "entry at byte {}", x.offset),
        }
    }

    // histd imports its own export again, into a fresh store.
    let again = mainnet_store(&dir.path().join("again"));
    let r = Importer::new(&again, acc)
        .import_file(&files[0].path)
        .unwrap();
    assert_eq!((r.stored, r.first, r.last), (8192, 0, 8191));
}

#[test]
fn export_refuses_partial_epochs_and_missing_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let store = mainnet_store(&dir.path().join("data"));
    let acc = era1::mainnet_accumulator().unwrap();
    let out = dir.path().join("out");
    for (from, to) in [(1, 8191), (0, 100), (8192, 8191)] {
        let err = era1::export(&store, acc, from, to, &out, |_| {}).unwrap_err();
        assert!(
            matches!(err, Era1Error::Range { .. }),
            "{from}..={to}: {err}"
        );
    }
    let err = era1::export(&store, acc, 0, 8191, &out, |_| {}).unwrap_err();
    assert!(
        matches!(err, Era1Error::NotStored { number: 0, .. }),
        "{err}"
    );
    Importer::new(&store, acc).import_file(&epoch0()).unwrap();
    // As `histd import era1` does: compacted, blocks are read from sorted segments.
    store.compact_dirty().unwrap();
    // Epoch 1 is not stored: refused at its first block.
    let err = era1::export(&store, acc, 8192, 16383, &out, |_| {}).unwrap_err();
    assert!(
        matches!(err, Era1Error::NotStored { number: 8192, .. }),
        "{err}"
    );
    // Nothing left behind: no file under an era1 name, no half-written `.partial`.
    let left: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}
