//! The file-backend seam: every file operation of the store (shard files, their directories, the
//! lock, and redb's own file) goes through a [`FileSystem`] chosen once per store, so the same
//! storage code runs on real files in the product and on a simulated disk in tests (power cuts,
//! fault walks: `sim.rs`).
//!
//! Owns only the mapping of an operation to the OS (or the simulation). It must never decide what
//! to write, when to sync or what is committed: that protocol lives in `fsio.rs` and its callers.
//! The cost in the product is one virtual call per operation on an already-buffered path (writes
//! go through 1 MiB `BufWriter`s, reads are positioned reads of whole records), never per byte.

use std::fmt::Debug;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::LockError;
use super::lock::DirLock;

/// How a file is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Read only; the file must exist.
    Read,
    /// Read and write; the file must exist.
    ReadWrite,
    /// Read and write, created empty if missing (never truncated).
    Create,
}

/// One open file. Positioned reads and writes only: callers keep their own cursor.
pub trait StoreFile: Debug + Send + Sync {
    /// Reads up to `buf.len()` bytes at `offset`; 0 at or past the end.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    /// Writes up to `buf.len()` bytes at `offset`; returns how many (a short write is legal).
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize>;
    /// Current length.
    fn len(&self) -> io::Result<u64>;
    /// Whether the file is empty.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
    /// Truncates or extends (with zeros).
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// fdatasync: the data and the size needed to read it are durable.
    fn sync_data(&self) -> io::Result<()>;
    /// fsync: data and all metadata.
    fn sync_all(&self) -> io::Result<()>;

    /// Reads exactly `buf.len()` bytes at `offset` (`UnexpectedEof` if the file ends first).
    fn read_exact_at(&self, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            match self.read_at(buf, offset) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "file ends before the bytes asked for",
                    ));
                }
                Ok(n) => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Writes all of `buf` at `offset`, looping over short writes.
    fn write_all_at(&self, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            match self.write_at(buf, offset) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "the disk accepted no bytes",
                    ));
                }
                Ok(n) => {
                    buf = &buf[n..];
                    offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Memory redb may keep for the index's pages (its read cache plus its write buffer, which redb
/// holds to at most half of it). redb's default is 1 GiB, and with it the cache grows with the
/// index (block and transaction hashes land on pages all over their trees), so peak memory grew
/// with the range synced. A few MiB hold the trees' upper levels, which is what lookups need: a
/// hash lookup then reads one leaf page.
pub const INDEX_CACHE_BYTES: usize = 32 * 1024 * 1024;

/// A directory tree of files: what the store needs of a file system.
pub trait FileSystem: Debug + Send + Sync + 'static {
    /// Opens a file.
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn StoreFile>>;
    /// Renames (the caller fsyncs the directory).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Removes a directory tree.
    fn remove_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Creates a directory and any missing parents.
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// fsyncs a directory: entries created, renamed or removed in it become durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
    /// The entries of a directory (full paths), in no particular order.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>>;
    /// Whether `path` is a directory.
    fn is_dir(&self, path: &Path) -> bool;
    /// Whether `path` is a regular file.
    fn is_file(&self, path: &Path) -> bool;
    /// Takes the data-directory lock (one process at a time).
    fn lock_dir(&self, data_dir: &Path) -> Result<DirLock, LockError>;

    /// Opens (creating if missing) the redb index at `path` on this file system.
    fn open_index(&self, path: &Path) -> Result<redb::Database, redb::DatabaseError> {
        let file = self.open(path, OpenMode::Create)?;
        index_builder().create_with_backend(RedbFile { file })
    }
}

/// How every file system opens the index: with the cache bounded to [`INDEX_CACHE_BYTES`].
pub fn index_builder() -> redb::Builder {
    let mut b = redb::Builder::new();
    b.set_cache_size(INDEX_CACHE_BYTES);
    b
}

/// The store's file system, shared by every operation of one store.
pub type Disk = Arc<dyn FileSystem>;

/// The real file system (the product).
#[derive(Debug, Clone, Copy, Default)]
pub struct RealFs;

impl RealFs {
    /// As a [`Disk`].
    pub fn disk() -> Disk {
        Arc::new(RealFs)
    }
}

#[derive(Debug)]
struct RealFile(File);

impl StoreFile for RealFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.0.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        self.0.write_at(buf, offset)
    }
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }
    fn sync_all(&self) -> io::Result<()> {
        self.0.sync_all()
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        FileExt::read_exact_at(&self.0, buf, offset)
    }
}

impl FileSystem for RealFs {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn StoreFile>> {
        let file = match mode {
            OpenMode::Read => File::open(path)?,
            OpenMode::ReadWrite | OpenMode::Create => OpenOptions::new()
                .read(true)
                .write(true)
                .create(mode == OpenMode::Create)
                .truncate(false)
                .open(path)?,
        };
        Ok(Box::new(RealFile(file)))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }
    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        fs::remove_dir_all(path)
    }
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        fs::create_dir_all(path)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        File::open(path)?.sync_all()
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        fs::read_dir(path)?.map(|e| e.map(|e| e.path())).collect()
    }
    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }
    fn is_file(&self, path: &Path) -> bool {
        path.is_file()
    }
    fn lock_dir(&self, data_dir: &Path) -> Result<DirLock, LockError> {
        DirLock::acquire(data_dir)
    }
    /// redb's own file backend, as `Database::create` opens it but with the store's cache bound:
    /// `Database::create` takes redb's default cache (1 GiB), which fills with index pages as
    /// the index grows, so fast-sync's peak RSS grew with the range (README "Memory").
    fn open_index(&self, path: &Path) -> Result<redb::Database, redb::DatabaseError> {
        index_builder().create(path)
    }
}

/// redb's [`redb::StorageBackend`] over one [`StoreFile`], so the index lives on the same
/// (possibly simulated) disk as the shards.
#[derive(Debug)]
pub struct RedbFile {
    file: Box<dyn StoreFile>,
}

impl redb::StorageBackend for RedbFile {
    fn len(&self) -> Result<u64, io::Error> {
        self.file.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        self.file.read_exact_at(out, offset)
    }
    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        self.file.set_len(len)
    }
    fn sync_data(&self) -> Result<(), io::Error> {
        self.file.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        self.file.write_all_at(data, offset)
    }
}

/// A sequential reader over a [`StoreFile`] (for `BufReader`, which needs `Read + Seek`).
#[derive(Debug)]
pub struct ReadCursor {
    file: Box<dyn StoreFile>,
    pos: u64,
}

impl ReadCursor {
    /// Reads `file` from its start.
    pub fn new(file: Box<dyn StoreFile>) -> Self {
        Self { file, pos: 0 }
    }
}

impl io::Read for ReadCursor {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl io::Seek for ReadCursor {
    fn seek(&mut self, to: io::SeekFrom) -> io::Result<u64> {
        let base = match to {
            io::SeekFrom::Start(p) => {
                self.pos = p;
                return Ok(p);
            }
            io::SeekFrom::Current(d) => (self.pos, d),
            io::SeekFrom::End(d) => (self.file.len()?, d),
        };
        self.pos = base
            .0
            .checked_add_signed(base.1)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.pos)
    }
}
