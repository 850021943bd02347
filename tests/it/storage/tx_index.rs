//! The transaction index keyed by hash prefix (schema 2): an index of schema 1 (full hashes) is
//! migrated on open, and a prefix shared with another transaction never gives a wrong answer.

use std::path::Path;

use alloy_primitives::B256;
use histd::primitives::VerifiedBlock;
use histd::storage::Storage;
use redb::{ReadableDatabase, ReadableTableMetadata, TableDefinition};

use super::basic::{mainnet_verified, opts};

/// The tables as stored (names and types are the file format, so they are spelled out here).
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const TX_KEYS: TableDefinition<(u64, u64, u32), ()> = TableDefinition::new("tx_keys");
const TX_HASHES_V1: TableDefinition<[u8; 32], (u64, u32)> = TableDefinition::new("tx_hashes");

fn prefix(h: &B256) -> u64 {
    u64::from_be_bytes(h.0[..8].try_into().expect("8 bytes"))
}

/// Real mainnet blocks stored, compacted, and the store closed.
fn stored_mainnet(dir: &Path) -> Vec<VerifiedBlock> {
    let blocks: Vec<VerifiedBlock> = mainnet_verified().into_iter().map(|(b, _)| b).collect();
    let store = Storage::open(dir, opts(10_000)).expect("open");
    store.put_unordered(&blocks).expect("put");
    store.compact_dirty().expect("compact");
    blocks
}

/// Every transaction of `blocks` is found where it is, with its full body.
fn assert_all_found(store: &Storage, blocks: &[VerifiedBlock]) {
    for b in blocks {
        for (i, tx) in b.body().transactions.iter().enumerate() {
            let t = store
                .transaction(tx.tx_hash())
                .expect("lookup")
                .expect("found");
            assert_eq!((t.block, t.index as usize), (b.number(), i));
            assert_eq!(t.transaction.as_ref(), Some(tx));
        }
    }
}

#[test]
fn an_index_of_schema_1_is_migrated_on_open_and_every_transaction_is_still_found() {
    let dir = tempfile::tempdir().expect("tempdir");
    let blocks = stored_mainnet(dir.path());
    let txs: usize = blocks.iter().map(|b| b.body().transactions.len()).sum();
    assert!(txs > 1000, "the sample has {txs} transactions");
    // Rewrite the index as schema 1 wrote it: full hash → (block, index), no `tx_keys`.
    let path = dir.path().join("index.redb");
    {
        let db = redb::Database::open(&path).expect("open the index");
        let txn = db.begin_write().expect("begin");
        {
            let mut old = txn.open_table(TX_HASHES_V1).expect("table");
            for b in &blocks {
                for (i, h) in b.transaction_hashes().enumerate() {
                    old.insert(h.0, (b.number().get(), i as u32))
                        .expect("insert");
                }
            }
            assert!(txn.delete_table(TX_KEYS).expect("delete"));
            txn.open_table(META)
                .expect("meta")
                .insert("schema_version", &1u64.to_le_bytes()[..])
                .expect("schema");
        }
        txn.commit().expect("commit");
    }
    let store = Storage::open(dir.path(), opts(10_000)).expect("open migrates");
    assert_all_found(&store, &blocks);
    drop(store);
    // The old table is gone, the new one holds one entry per transaction, the schema says 2.
    let db = redb::Database::open(&path).expect("open the index");
    let txn = db.begin_read().expect("read");
    assert!(txn.open_table(TX_HASHES_V1).is_err(), "old table deleted");
    assert_eq!(
        txn.open_table(TX_KEYS)
            .expect("tx_keys")
            .len()
            .expect("len"),
        txs as u64
    );
    let schema = txn
        .open_table(META)
        .expect("meta")
        .get("schema_version")
        .expect("get")
        .map(|v| v.value().to_vec());
    assert_eq!(schema, Some(2u64.to_le_bytes().to_vec()));
    drop(txn);
    drop(db);
    // A second open finds nothing to migrate.
    let store = Storage::open(dir.path(), opts(10_000)).expect("reopen");
    assert_all_found(&store, &blocks);
}

#[test]
fn a_hash_prefix_shared_with_another_transaction_never_gives_a_wrong_answer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let blocks = stored_mainnet(dir.path());
    let (first, last) = (&blocks[0], &blocks[blocks.len() - 1]);
    assert!(first.number() < last.number());
    let target = *last.body().transactions[0].tx_hash();
    // A transaction stored nowhere whose hash starts like `target`'s.
    let mut stranger = target;
    stranger.0[31] ^= 0xff;
    // Entries that collide with `target`'s prefix but point at other transactions, placed before
    // its own entry in key order (a lower block), as a real prefix collision would be.
    let path = dir.path().join("index.redb");
    {
        let db = redb::Database::open(&path).expect("open the index");
        let txn = db.begin_write().expect("begin");
        {
            let mut keys = txn.open_table(TX_KEYS).expect("table");
            for i in 0..first.body().transactions.len().min(3) {
                keys.insert((prefix(&target), first.number().get(), i as u32), ())
                    .expect("insert");
            }
        }
        txn.commit().expect("commit");
    }
    let store = Storage::open(dir.path(), opts(10_000)).expect("open");
    let t = store.transaction(&target).expect("lookup").expect("found");
    assert_eq!((t.block, t.index), (last.number(), 0));
    assert_eq!(t.transaction.as_ref().map(|t| *t.tx_hash()), Some(target));
    assert_eq!(store.transaction(&stranger).expect("lookup"), None);
    assert_all_found(&store, &blocks);
}
