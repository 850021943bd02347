//! Durable file operations: fsync of files and directories, positioned reads, durable creation and
//! truncation. Every durability claim in the store goes through here. It must never decide what to
//! write or when: callers own the protocol (tmp → fsync → rename → fsync dir → redb commit).

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::error::{CorruptError, FileError, IoContext, IoError};

/// fsyncs a directory so entries created, renamed or removed in it survive a crash.
pub fn fsync_dir(dir: &Path) -> Result<(), IoError> {
    File::open(dir)
        .ctx("open directory", dir)?
        .sync_all()
        .ctx("fsync directory", dir)
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
    file.sync_all().ctx("fsync", path)
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
        Ok(()) => Ok(true),
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
    fs::rename(from, to).ctx("rename", from)
}
