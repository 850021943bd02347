//! The redb index (`data_dir/index.redb`): table definitions and typed accessors for metadata,
//! shard rows, block hash → number and tx hash → (block, index).
//!
//! Owns the schema (version `layout::SCHEMA_VERSION`). It must never touch shard files. Its
//! commit is the commit point of every write: callers fsync shard files before committing here.

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
/// Transaction hash → (block number, index in block).
pub const TX_HASHES: TableDefinition<[u8; 32], (u64, u32)> = TableDefinition::new("tx_hashes");

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
