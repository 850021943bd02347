//! Durable file operations: fsync of files and directories, positioned reads, durable creation and
//! truncation. Every durability claim in the store goes through here. It must never decide what to
//! write or when: callers own the protocol (tmp → fsync → rename → fsync dir → redb commit).
//!
//! With the `testkit` feature (tests, benches) it also keeps a durability ledger: every path with
//! bytes or directory entries written but not yet fsynced. [`assert_durable`], called before every
//! redb commit, panics if anything under the data directory is still unsynced: "redb commits last"
//! is checked on every commit the test suite makes, not just argued.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::error::{CorruptError, FileError, IoContext, IoError};

#[cfg(any(test, feature = "testkit"))]
mod ledger {
    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};
    use std::sync::Mutex;

    static DIRTY: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

    fn set() -> std::sync::MutexGuard<'static, BTreeSet<PathBuf>> {
        DIRTY.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn dirty(p: &Path) {
        set().insert(p.to_path_buf());
    }

    pub fn clean(p: &Path) {
        set().remove(p);
    }

    pub fn forget_under(dir: &Path) {
        set().retain(|p| !p.starts_with(dir));
    }

    pub fn assert_durable(dir: &Path) {
        let pending: Vec<PathBuf> = set()
            .iter()
            .filter(|p| p.starts_with(dir))
            .cloned()
            .collect();
        assert!(
            pending.is_empty(),
            "redb commit while these are not fsynced: {pending:?}"
        );
    }
}

#[cfg(not(any(test, feature = "testkit")))]
mod ledger {
    use std::path::Path;
    pub fn dirty(_: &Path) {}
    pub fn clean(_: &Path) {}
    pub fn forget_under(_: &Path) {}
    pub fn assert_durable(_: &Path) {}
}

/// Checks (in test builds) that nothing under `dir` awaits an fsync; call right before a redb
/// commit. A no-op in the product binary.
pub fn assert_durable(dir: &Path) {
    ledger::assert_durable(dir);
}

fn parent_of(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("."))
}

/// A file being written, whose writes and syncs are recorded in the durability ledger.
#[derive(Debug)]
pub struct TrackedFile {
    file: File,
    path: PathBuf,
}

impl TrackedFile {
    /// Opens `path` for writing (creating it if asked: its directory entry then awaits an fsync).
    pub fn open(path: &Path, create: bool) -> Result<Self, IoError> {
        let existed = path.exists();
        let file = open_rw(path, create)?;
        if !existed {
            ledger::dirty(parent_of(path));
        }
        Ok(Self {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Current length.
    pub fn len(&self) -> Result<u64, IoError> {
        file_len(&self.file, &self.path)
    }

    /// Truncates or extends (not durable until synced).
    pub fn set_len(&self, len: u64) -> Result<(), IoError> {
        ledger::dirty(&self.path);
        self.file.set_len(len).ctx("truncate", &self.path)
    }

    /// Positions the write cursor.
    pub fn seek_to(&mut self, offset: u64) -> Result<(), IoError> {
        self.file
            .seek(SeekFrom::Start(offset))
            .map(|_| ())
            .ctx("seek", &self.path)
    }

    /// fdatasync: data and the size needed to read it.
    pub fn sync_data(&self) -> Result<(), IoError> {
        self.file.sync_data().ctx("fsync", &self.path)?;
        ledger::clean(&self.path);
        Ok(())
    }
}

impl Write for TrackedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        ledger::dirty(&self.path);
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// fsyncs a directory so entries created, renamed or removed in it survive a crash.
pub fn fsync_dir(dir: &Path) -> Result<(), IoError> {
    File::open(dir)
        .ctx("open directory", dir)?
        .sync_all()
        .ctx("fsync directory", dir)?;
    ledger::clean(dir);
    Ok(())
}

/// Creates `dir` (and parents) and fsyncs its parent, so the new entry is durable.
pub fn create_dir_durable(dir: &Path) -> Result<(), IoError> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir).ctx("create directory", dir)?;
    if let Some(parent) = dir.parent() {
        fsync_dir(parent)?;
    }
    Ok(())
}

/// Removes a directory tree (its parent then awaits an fsync).
pub fn remove_dir_all(dir: &Path) -> Result<(), IoError> {
    fs::remove_dir_all(dir).ctx("remove", dir)?;
    ledger::forget_under(dir);
    ledger::dirty(parent_of(dir));
    Ok(())
}

/// Opens a file for reading and writing (creating it if asked).
pub fn open_rw(path: &Path, create: bool) -> Result<File, IoError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .truncate(false)
        .open(path)
        .ctx("open", path)
}

/// Length of a file.
pub fn file_len(file: &File, path: &Path) -> Result<u64, IoError> {
    Ok(file.metadata().ctx("stat", path)?.len())
}

/// Truncates a file to `len` and fsyncs it.
pub fn truncate_durable(file: &File, path: &Path, len: u64) -> Result<(), IoError> {
    file.set_len(len).ctx("truncate", path)?;
    file.sync_all().ctx("fsync", path)?;
    ledger::clean(path);
    Ok(())
}

/// Reads exactly `buf.len()` bytes at `offset`; a short file is reported as corruption.
pub fn read_exact_at(
    file: &File,
    path: &Path,
    buf: &mut [u8],
    offset: u64,
) -> Result<(), FileError> {
    match file.read_exact_at(buf, offset) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(CorruptError {
            path: path.to_path_buf(),
            offset,
            what: format!("{} bytes expected, file ends first", buf.len()),
        }
        .into()),
        Err(e) => Err(IoError {
            op: "read",
            path: path.to_path_buf(),
            source: e,
        }
        .into()),
    }
}

/// Removes a file if it exists (missing is fine).
pub fn remove_file_if_exists(path: &Path) -> Result<bool, IoError> {
    match fs::remove_file(path) {
        Ok(()) => {
            ledger::clean(path);
            ledger::dirty(parent_of(path));
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(IoError {
            op: "remove",
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

/// Renames `from` to `to` (same directory; the caller fsyncs the directory).
pub fn rename(from: &Path, to: &Path) -> Result<(), IoError> {
    fs::rename(from, to).ctx("rename", from)?;
    ledger::dirty(parent_of(to));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledger_tracks_unsynced_bytes_and_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut f = TrackedFile::open(&path, true).unwrap();
        f.write_all(b"x").unwrap();
        let unsynced = std::panic::catch_unwind(|| assert_durable(dir.path()));
        assert!(
            unsynced.is_err(),
            "unsynced bytes and a new entry must be reported"
        );
        f.sync_data().unwrap();
        assert!(
            std::panic::catch_unwind(|| assert_durable(dir.path())).is_err(),
            "entry not synced"
        );
        fsync_dir(dir.path()).unwrap();
        assert_durable(dir.path());
    }
}
