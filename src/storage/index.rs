//! The redb index (`data_dir/index.redb`): table definitions and typed accessors for metadata,
//! shard rows, block hash → number, the unsealed tail's transaction hash prefixes by block, and
//! the migrations from older schemas.
//!
//! Owns the schema (version `layout::SCHEMA_VERSION`). It must never touch shard files. Its
//! commit is the commit point of every write: callers fsync shard files before committing here.
//! A transaction entry names only a candidate: readers must check the full hash of the stored
//! transaction it points at (`tx_index`).

use alloy_primitives::B256;
use redb::{ReadableTable, TableDefinition};

use super::error::CorruptError;
use super::layout::ShardRow;

/// Metadata: `&str` key → bytes (integers little-endian).
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Shard index → encoded [`ShardRow`]. Empty shards have no row.
pub const SHARDS: TableDefinition<u64, &[u8]> = TableDefinition::new("shards");
/// Block hash → block number.
pub const BLOCK_HASHES: TableDefinition<[u8; 32], u64> = TableDefinition::new("block_hashes");
/// The unsealed tail's transactions (schema 3): block number → the first 8 bytes of each of
/// its transactions' hashes, in block order (`tx_index`). One insert per block with nearly
/// sequential keys, so a commit rewrites a handful of leaf pages; schema 2's table keyed by
/// hash prefix rewrote about one page per transaction. Sealed shards' transactions are in
/// their `txs-<gen>.idx` files instead: the commit that seals a shard removes its range.
pub const TX_BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("tx_blocks");
/// Schema 2's transaction table ((hash prefix, block number, index in block) → nothing): read
/// only by [`migrate`], which moves it into [`TX_BLOCKS`] and deletes it.
pub const TX_KEYS_V2: TableDefinition<(u64, u64, u32), ()> = TableDefinition::new("tx_keys");
/// Schema 1's transaction table (full hash → (block number, index in block)): read only by
/// [`migrate`], which moves it into [`TX_KEYS_V2`] and deletes it.
pub const TX_HASHES_V1: TableDefinition<[u8; 32], (u64, u32)> = TableDefinition::new("tx_hashes");

/// Meta keys.
pub mod key {
    /// Schema version (u32).
    pub const SCHEMA: &str = "schema_version";
    /// EIP-155 chain id (u64).
    pub const CHAIN_ID: &str = "chain_id";
    /// Genesis hash (32 bytes).
    pub const GENESIS: &str = "genesis_hash";
    /// Blocks per shard (u64), fixed at creation.
    pub const SHARD_SIZE: &str = "shard_size";
    /// Highest head reported by peers (u64), monotonic.
    pub const HEAD_SEEN: &str = "head_seen";
    /// Lowest stored block (u64); absent when nothing is stored.
    pub const LOW: &str = "low";
    /// Last block of the contiguous run starting at `low` (u64).
    pub const CONTIG: &str = "last_contiguous";
    /// The peer pool's persisted peer cache (opaque bytes owned by p2p).
    pub const PEER_CACHE: &str = "peer_cache";
    /// The peer pool's temporary bans, kept across restarts (opaque bytes owned by p2p).
    pub const PEER_BANS: &str = "peer_bans";
}

/// Reads a u64 meta value.
pub fn meta_u64(
    t: &impl ReadableTable<&'static str, &'static [u8]>,
    k: &str,
) -> Result<Option<u64>, redb::StorageError> {
    Ok(t.get(k)?.and_then(|v| {
        let b = v.value();
        <[u8; 8]>::try_from(b).ok().map(u64::from_le_bytes)
    }))
}

/// Reads raw meta bytes.
pub fn meta_bytes(
    t: &impl ReadableTable<&'static str, &'static [u8]>,
    k: &str,
) -> Result<Option<Vec<u8>>, redb::StorageError> {
    Ok(t.get(k)?.map(|v| v.value().to_vec()))
}

/// Reads a shard row.
pub fn shard_row(
    t: &impl ReadableTable<u64, &'static [u8]>,
    shard: u64,
    shard_size: u64,
) -> Result<Option<ShardRow>, RowError> {
    t.get(shard)?
        .map(|v| decode_shard_row(shard, v.value(), shard_size))
        .transpose()
}

/// Decodes shard `shard`'s row from its stored value (for a caller already holding it, e.g.
/// from a range over the table).
pub fn decode_shard_row(shard: u64, value: &[u8], shard_size: u64) -> Result<ShardRow, RowError> {
    ShardRow::decode(value, shard_size).map_err(|what| RowError::Corrupt { shard, what })
}

/// Looks up a block number by hash.
pub fn block_number(
    t: &impl ReadableTable<[u8; 32], u64>,
    hash: &B256,
) -> Result<Option<u64>, redb::StorageError> {
    Ok(t.get(hash.0)?.map(|v| v.value()))
}

/// The first 8 bytes of a transaction hash, big-endian: what the transaction index keeps of it
/// (a candidate the reader confirms against the stored transaction's full hash).
pub fn tx_prefix(hash: &B256) -> u64 {
    let mut p = [0u8; 8];
    p.copy_from_slice(&hash.0[..8]);
    u64::from_be_bytes(p)
}

/// The redb errors a migration can meet, as the caller's error type.
pub trait MigrateError:
    From<redb::TransactionError>
    + From<redb::TableError>
    + From<redb::StorageError>
    + From<redb::CommitError>
{
}

impl<E> MigrateError for E where
    E: From<redb::TransactionError>
        + From<redb::TableError>
        + From<redb::StorageError>
        + From<redb::CommitError>
{
}

/// Brings an index of an older schema to the current one (schema 1 → 2 → 3, one commit per
/// step). Returns whether it migrated (`false`: already current, or no schema to migrate).
/// Any other version is left for the caller's schema check to refuse. Sealed shards'
/// transaction files are not written here (redb only): the open-time repair writes every
/// sealed shard's missing file.
pub fn migrate<E: MigrateError>(db: &redb::Database) -> Result<bool, E> {
    let one = migrate_1_to_2::<E>(db)?;
    let two = migrate_2_to_3::<E>(db)?;
    Ok(one || two)
}

/// Schema 1 (full transaction hashes) → schema 2 ([`TX_KEYS_V2`]) in one commit.
fn migrate_1_to_2<E: MigrateError>(db: &redb::Database) -> Result<bool, E> {
    let txn = db.begin_write()?;
    {
        let mut meta = txn.open_table(META)?;
        if meta_u64(&meta, key::SCHEMA)? != Some(1) {
            // Dropping the transaction aborts it: nothing changes.
            return Ok(false);
        }
        let mut keys = txn.open_table(TX_KEYS_V2)?;
        {
            let old = txn.open_table(TX_HASHES_V1)?;
            // The old table is in hash order, so the new keys arrive in prefix order too: the
            // copy appends to the new tree rather than rewriting pages all over it.
            for item in old.iter()? {
                let (k, v) = item?;
                let (block, index) = v.value();
                keys.insert((tx_prefix(&B256::from(k.value())), block, index), ())?;
            }
        }
        txn.delete_table(TX_HASHES_V1)?;
        meta.insert(key::SCHEMA, &2u64.to_le_bytes()[..])?;
    }
    txn.commit()?;
    Ok(true)
}

/// Schema 2 ([`TX_KEYS_V2`]) → schema 3 ([`TX_BLOCKS`]) in one commit: the entries of blocks
/// in shards not sealed become their blocks' [`TX_BLOCKS`] values; those of sealed shards are
/// dropped (their files are built from the segments on open, as for a lost file), so the
/// memory this takes is bounded by the unsealed tail, not by the whole history.
fn migrate_2_to_3<E: MigrateError>(db: &redb::Database) -> Result<bool, E> {
    let txn = db.begin_write()?;
    {
        let mut meta = txn.open_table(META)?;
        if meta_u64(&meta, key::SCHEMA)? != Some(2) {
            return Ok(false);
        }
        // A store without a shard size has no shards either (its identity check refuses it).
        let shard_size = meta_u64(&meta, key::SHARD_SIZE)?.filter(|&s| s > 0);
        let mut sealed = std::collections::HashSet::new();
        if let Some(size) = shard_size {
            let shards = txn.open_table(SHARDS)?;
            for item in shards.iter()? {
                let (k, v) = item?;
                // A row that does not decode is not sealed here; open's checks report it.
                if ShardRow::decode(v.value(), size)
                    .is_ok_and(|r| r.state == super::shard::ShardState::Sealed)
                {
                    sealed.insert(k.value());
                }
            }
        }
        let mut blocks: std::collections::BTreeMap<u64, Vec<u64>> = Default::default();
        {
            let old = txn.open_table(TX_KEYS_V2)?;
            for item in old.iter()? {
                let (k, _) = item?;
                let (prefix, block, index) = k.value();
                if shard_size.is_some_and(|s| sealed.contains(&(block / s))) {
                    continue;
                }
                let v = blocks.entry(block).or_default();
                let i = index as usize;
                if v.len() <= i {
                    // Schema 2 had every transaction of a block; a gap would only cost a
                    // candidate that the reader's full-hash check rejects.
                    v.resize(i + 1, 0);
                }
                v[i] = prefix;
            }
        }
        let mut tail = txn.open_table(TX_BLOCKS)?;
        for (block, prefixes) in blocks {
            let value = super::tx_index::block_value(prefixes.into_iter());
            tail.insert(block, value.as_slice())?;
        }
        txn.delete_table(TX_KEYS_V2)?;
        meta.insert(key::SCHEMA, &3u64.to_le_bytes()[..])?;
    }
    txn.commit()?;
    Ok(true)
}

/// A shard row could not be read.
#[derive(Debug)]
pub enum RowError {
    /// redb failed.
    Index(redb::StorageError),
    /// The row's bytes are malformed.
    Corrupt { shard: u64, what: String },
}

impl From<redb::StorageError> for RowError {
    fn from(e: redb::StorageError) -> Self {
        RowError::Index(e)
    }
}

impl RowError {
    /// Converts into a caller's error type.
    pub fn into_err<E>(self, index_path: &std::path::Path) -> E
    where
        E: From<redb::StorageError> + From<CorruptError>,
    {
        match self {
            RowError::Index(e) => e.into(),
            RowError::Corrupt { shard, what } => CorruptError {
                path: index_path.to_path_buf(),
                offset: 0,
                what: format!("shard {shard} row: {what}"),
            }
            .into(),
        }
    }
}
