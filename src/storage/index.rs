//! The redb index (`data_dir/index.redb`): table definitions and typed accessors for metadata,
//! shard rows, block hash → number and tx hash prefix → (block, index), and the migration from
//! older schemas.
//!
//! Owns the schema (version `layout::SCHEMA_VERSION`). It must never touch shard files. Its
//! commit is the commit point of every write: callers fsync shard files before committing here.
//! A transaction entry names only a candidate: readers must check the full hash of the stored
//! transaction it points at ([`tx_candidates`]).

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
/// Transactions: (hash prefix, block number, index in block) → nothing (schema 2).
///
/// The key holds the hash's first 8 bytes only ([`tx_prefix`]): 20 bytes an entry instead of
/// the 44 of a full hash → location entry. Transaction hashes land all over this tree, so every
/// commit rewrites about one leaf page per transaction it indexes: a smaller entry means fewer
/// pages, a smaller file and less to write (README "Memory"). Prefixes of different
/// transactions can collide, so an entry is a candidate the reader confirms against the stored
/// transaction's full hash; the block and index in the key keep colliding entries apart.
pub const TX_KEYS: TableDefinition<(u64, u64, u32), ()> = TableDefinition::new("tx_keys");
/// Schema 1's transaction table (full hash → (block number, index in block)): read only by
/// [`migrate`], which moves it into [`TX_KEYS`] and deletes it.
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
    match t.get(shard)? {
        None => Ok(None),
        Some(v) => ShardRow::decode(v.value(), shard_size)
            .map(Some)
            .map_err(|what| RowError::Corrupt { shard, what }),
    }
}

/// Looks up a block number by hash.
pub fn block_number(
    t: &impl ReadableTable<[u8; 32], u64>,
    hash: &B256,
) -> Result<Option<u64>, redb::StorageError> {
    Ok(t.get(hash.0)?.map(|v| v.value()))
}

/// The part of a transaction hash its [`TX_KEYS`] key holds.
pub fn tx_prefix(hash: &B256) -> u64 {
    let mut p = [0u8; 8];
    p.copy_from_slice(&hash.0[..8]);
    u64::from_be_bytes(p)
}

/// The [`TX_KEYS`] key of transaction `index` of block `block` with hash `hash`.
pub fn tx_key(hash: &B256, block: u64, index: u32) -> (u64, u64, u32) {
    (tx_prefix(hash), block, index)
}

/// The (block, index) of every transaction whose hash starts like `hash`, in block order: the
/// caller keeps the one whose stored transaction has exactly this hash (usually the only one).
pub fn tx_candidates(
    t: &impl ReadableTable<(u64, u64, u32), ()>,
    hash: &B256,
) -> Result<Vec<(u64, u32)>, redb::StorageError> {
    let p = tx_prefix(hash);
    t.range((p, 0, 0)..=(p, u64::MAX, u32::MAX))?
        .map(|item| item.map(|(k, _)| (k.value().1, k.value().2)))
        .collect()
}

/// Brings an index of schema 1 (full transaction hashes) to schema 2 ([`TX_KEYS`]) in one
/// commit. Returns whether it migrated (`false`: already schema 2, or no schema to migrate).
/// Any other version is left for the caller's schema check to refuse.
pub fn migrate<E>(db: &redb::Database) -> Result<bool, E>
where
    E: From<redb::TransactionError>
        + From<redb::TableError>
        + From<redb::StorageError>
        + From<redb::CommitError>,
{
    let txn = db.begin_write()?;
    {
        let mut meta = txn.open_table(META)?;
        if meta_u64(&meta, key::SCHEMA)? != Some(1) {
            // Dropping the transaction aborts it: nothing changes.
            return Ok(false);
        }
        let mut keys = txn.open_table(TX_KEYS)?;
        {
            let old = txn.open_table(TX_HASHES_V1)?;
            // The old table is in hash order, so the new keys arrive in prefix order too: the
            // copy appends to the new tree rather than rewriting pages all over it.
            for item in old.iter()? {
                let (k, v) = item?;
                let (block, index) = v.value();
                keys.insert(tx_key(&B256::from(k.value()), block, index), ())?;
            }
        }
        txn.delete_table(TX_HASHES_V1)?;
        meta.insert(key::SCHEMA, &2u64.to_le_bytes()[..])?;
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
