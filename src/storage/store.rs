//! The [`Storage`] facade: opening (create, check identity, lock, repair) and the state every
//! operation shares. Reads, writes, compaction, rollback and repair live in their own modules as
//! further `impl Storage` blocks. It must never let a write commit in redb before its shard bytes are
//! fsynced ("redb commits last", checked on every open by `repair.rs`).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use alloy_primitives::B256;
use redb::{Database, ReadableDatabase};

use super::backend::{Disk, RealFs};
use super::error::{OpenError, ReadError};
use super::fsio;
use super::index::{self, META, key};
use super::layout::{SCHEMA_VERSION, ShardRow};
use super::lock::DirLock;
use super::record::Retention;
use super::repair::RepairReport;
use super::shard::{Geometry, shards_dir};

/// Default blocks per shard.
pub const DEFAULT_SHARD_SIZE: u64 = 10_000;
/// Largest shard size a data directory may have (a shard's presence bits and compaction table are
/// sized by it).
pub const MAX_SHARD_SIZE: u64 = 1_000_000;

/// What a data directory must be (checked on open, recorded on creation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenOptions {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// Genesis block hash.
    pub genesis_hash: B256,
    /// Blocks per shard (fixed at creation).
    pub shard_size: u64,
    /// What to retain of new blocks.
    pub retention: Retention,
}

/// The history store of one data directory. Reads take `&self` and run concurrently with writes;
/// writes (puts, appends, compactions, seals, rollbacks) are serialised by one internal lock, so
/// one compaction runs at a time. Share it behind an `Arc`.
pub struct Storage {
    /// The file system every file operation goes through (real files in the product).
    pub(super) fs: Disk,
    pub(super) dir: PathBuf,
    pub(super) index_path: PathBuf,
    pub(super) db: Database,
    pub(super) geo: Geometry,
    pub(super) chain_id: u64,
    pub(super) genesis: B256,
    pub(super) retention: Retention,
    writer: Mutex<()>,
    pub(super) repair: RepairReport,
    /// Decoded logs of recently queried blocks without an index file (`log_index/tail.rs`).
    pub(super) log_tail: super::log_index::TailCache,
    /// Sealed shards' index files kept open between queries (`log_index/open.rs`).
    pub(super) log_files: super::log_index::OpenIndexes,
    /// Sealed shards' transaction index files kept open (`tx_index/open.rs`).
    pub(super) tx_files: super::tx_index::OpenTxFiles,
    /// Filling shards' WAL indexes kept between reads (`read.rs`).
    pub(super) wal_indexes: std::sync::Arc<super::read::WalIndexes>,
    lock: DirLock,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("dir", &self.dir)
            .field("chain_id", &self.chain_id)
            .field("shard_size", &self.geo.shard_size)
            .finish_non_exhaustive()
    }
}

impl Storage {
    /// Opens `data_dir`, creating it for `opts` if new. Fails fast if another process holds it,
    /// or if it belongs to another chain, genesis or shard size. Repairs an interrupted shutdown.
    pub fn open(data_dir: &Path, opts: OpenOptions) -> Result<Self, OpenError> {
        Self::open_on(RealFs::disk(), data_dir, opts)
    }

    /// [`Self::open`] on the file system `fs` (tests: a simulated disk).
    pub fn open_on(fs: Disk, data_dir: &Path, opts: OpenOptions) -> Result<Self, OpenError> {
        if !(1..=MAX_SHARD_SIZE).contains(&opts.shard_size) {
            return Err(OpenError::InvalidShardSize(opts.shard_size));
        }
        fsio::create_dir_durable(&*fs, data_dir)?;
        let lock = fs.lock_dir(data_dir)?;
        let index_path = data_dir.join("index.redb");
        let (db, fresh) = open_index(&*fs, &index_path)?;
        let txn = db.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            txn.open_table(index::SHARDS)?;
            txn.open_table(index::BLOCK_HASHES)?;
            txn.open_table(index::TX_BLOCKS)?;
            if index::meta_u64(&meta, key::SCHEMA)?.is_none() {
                meta.insert(key::SCHEMA, &u64::from(SCHEMA_VERSION).to_le_bytes()[..])?;
                meta.insert(key::CHAIN_ID, &opts.chain_id.to_le_bytes()[..])?;
                meta.insert(key::GENESIS, opts.genesis_hash.as_slice())?;
                meta.insert(key::SHARD_SIZE, &opts.shard_size.to_le_bytes()[..])?;
            }
        }
        fsio::assert_durable(data_dir);
        txn.commit()?;
        if let Some(tmp) = fresh {
            // The new index holds its identity durably: only now does it take its name.
            fsio::rename(&*fs, &tmp, &index_path)?;
            fsio::fsync_dir(&*fs, data_dir)?;
        }
        migrate_index(&db, data_dir)?;
        let stored = read_identity(&db, data_dir)?;
        if stored.chain_id != opts.chain_id {
            return Err(OpenError::ChainMismatch {
                dir: data_dir.to_path_buf(),
                stored: stored.chain_id,
                requested: opts.chain_id,
            });
        }
        if stored.genesis_hash != opts.genesis_hash {
            return Err(OpenError::GenesisMismatch {
                dir: data_dir.to_path_buf(),
                stored: stored.genesis_hash,
                requested: opts.genesis_hash,
            });
        }
        if stored.shard_size != opts.shard_size {
            return Err(OpenError::ShardSizeMismatch {
                dir: data_dir.to_path_buf(),
                stored: stored.shard_size,
                requested: opts.shard_size,
            });
        }
        Self::finish_open(fs, data_dir, lock, index_path, db, stored, opts.retention)
    }

    /// Opens an existing data directory with the identity recorded in it (for `histd db ...`).
    pub fn open_existing(data_dir: &Path) -> Result<Self, OpenError> {
        Self::open_existing_on(RealFs::disk(), data_dir)
    }

    /// [`Self::open_existing`] on the file system `fs`.
    pub fn open_existing_on(fs: Disk, data_dir: &Path) -> Result<Self, OpenError> {
        let index_path = data_dir.join("index.redb");
        if !fs.is_file(&index_path) {
            return Err(OpenError::NotADatabase {
                dir: data_dir.to_path_buf(),
            });
        }
        let lock = fs.lock_dir(data_dir)?;
        let db = fs.open_index(&index_path)?;
        migrate_index(&db, data_dir)?;
        let stored = read_identity(&db, data_dir)?;
        Self::finish_open(
            fs,
            data_dir,
            lock,
            index_path,
            db,
            stored,
            Retention::default(),
        )
    }

    fn finish_open(
        fs: Disk,
        data_dir: &Path,
        lock: DirLock,
        index_path: PathBuf,
        db: Database,
        id: OpenOptions,
        retention: Retention,
    ) -> Result<Self, OpenError> {
        fsio::create_dir_durable(&*fs, &shards_dir(data_dir))?;
        let budget = super::open_files::Budget::of_process();
        let mut store = Self {
            fs,
            dir: data_dir.to_path_buf(),
            index_path,
            db,
            geo: Geometry {
                shard_size: id.shard_size,
            },
            chain_id: id.chain_id,
            genesis: id.genesis_hash,
            retention,
            writer: Mutex::new(()),
            repair: RepairReport::default(),
            log_tail: Default::default(),
            log_files: super::open_files::OpenFiles::new(budget.log_files),
            tx_files: super::tx_index::OpenTxFiles::new(budget.tx_files),
            wal_indexes: Default::default(),
            lock,
        };
        store.repair = store.repair_on_open()?;
        Ok(store)
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    /// The lock file held by this store.
    pub fn lock_path(&self) -> &Path {
        self.lock.path()
    }

    /// Chain id, genesis hash and shard size of this directory.
    pub fn identity(&self) -> OpenOptions {
        OpenOptions {
            chain_id: self.chain_id,
            genesis_hash: self.genesis,
            shard_size: self.geo.shard_size,
            retention: self.retention,
        }
    }

    /// Blocks per shard.
    pub fn shard_size(&self) -> u64 {
        self.geo.shard_size
    }

    /// What the open-time repair did.
    pub fn repair_report(&self) -> &RepairReport {
        &self.repair
    }

    /// Serialises writers; the guard protects no data, so a poisoned lock is still usable.
    pub(super) fn write_lock(&self) -> MutexGuard<'_, ()> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Decodes a shard row read from `t`.
    pub(super) fn row<E>(
        &self,
        t: &impl redb::ReadableTable<u64, &'static [u8]>,
        shard: u64,
    ) -> Result<Option<ShardRow>, E>
    where
        E: From<redb::StorageError> + From<super::error::CorruptError>,
    {
        index::shard_row(t, shard, self.geo.shard_size).map_err(|e| e.into_err(&self.index_path))
    }

    /// Commits a write transaction: the commit point. In test builds, first checks that no shard
    /// file or directory entry under the data directory awaits an fsync.
    pub(super) fn commit(&self, txn: redb::WriteTransaction) -> Result<(), redb::CommitError> {
        fsio::assert_durable(&self.dir);
        // Dropping the transaction aborts it: an injected commit fault commits nothing.
        fsio::commit_fault(&self.dir)
            .map_err(|e| redb::CommitError::Storage(redb::StorageError::Io(e)))?;
        txn.commit()
    }

    /// A read transaction.
    pub(super) fn read_txn(&self) -> Result<redb::ReadTransaction, ReadError> {
        Ok(self.db.begin_read()?)
    }
}

/// Opens the redb index, or creates a new one under a temporary name (returned): the caller renames
/// it into place after its first commit. A failure or power cut while redb writes its first pages
/// (a full disk on the first start, say) then never leaves an `index.redb` that is not a database
/// and refuses every later start; a leftover temporary file is started over.
fn open_index(
    fs: &dyn super::backend::FileSystem,
    index_path: &Path,
) -> Result<(Database, Option<PathBuf>), OpenError> {
    if fs.is_file(index_path) {
        return Ok((fs.open_index(index_path)?, None));
    }
    let tmp = index_path.with_extension("redb.tmp");
    fsio::open_rw(fs, &tmp, true)?
        .set_len(0)
        .map_err(|source| super::error::IoError {
            op: "truncate",
            path: tmp.clone(),
            source,
        })?;
    Ok((fs.open_index(&tmp)?, Some(tmp)))
}

/// Migrates an index of an older schema (see [`index::migrate`]), saying so in the log.
fn migrate_index(db: &Database, dir: &Path) -> Result<(), OpenError> {
    let started = std::time::Instant::now();
    if index::migrate::<OpenError>(db)? {
        tracing::info!(
            dir = %dir.display(),
            to = SCHEMA_VERSION,
            ms = started.elapsed().as_millis() as u64,
            "index migrated to the current schema"
        );
    }
    Ok(())
}

fn read_identity(db: &Database, dir: &Path) -> Result<OpenOptions, OpenError> {
    let txn = db.begin_read()?;
    let meta = txn.open_table(META)?;
    let schema =
        index::meta_u64(&meta, key::SCHEMA)?.ok_or(OpenError::Meta { key: key::SCHEMA })?;
    if schema != u64::from(SCHEMA_VERSION) {
        return Err(OpenError::Schema {
            dir: dir.to_path_buf(),
            // Saturating: a damaged value past u32 still reads as unsupported, not as another.
            found: u32::try_from(schema).unwrap_or(u32::MAX),
            supported: SCHEMA_VERSION,
        });
    }
    let chain_id =
        index::meta_u64(&meta, key::CHAIN_ID)?.ok_or(OpenError::Meta { key: key::CHAIN_ID })?;
    // Held to the range a new store is created with: a damaged value would size allocations
    // (presence bits, compaction tables) and shard arithmetic.
    let shard_size = index::meta_u64(&meta, key::SHARD_SIZE)?
        .filter(|s| (1..=MAX_SHARD_SIZE).contains(s))
        .ok_or(OpenError::Meta {
            key: key::SHARD_SIZE,
        })?;
    let genesis = index::meta_bytes(&meta, key::GENESIS)?
        .filter(|b| b.len() == 32)
        .map(|b| B256::from_slice(&b))
        .ok_or(OpenError::Meta { key: key::GENESIS })?;
    Ok(OpenOptions {
        chain_id,
        genesis_hash: genesis,
        shard_size,
        retention: Retention::default(),
    })
}
