//! The data-directory lock: `data_dir/LOCK`, held with `flock` for the life of a [`Storage`], with
//! the holder's pid written inside so a second process can name it.
//!
//! Owns exclusion between processes (and between two opens in one process). It must never block:
//! a held lock is an immediate, clear error.
//!
//! [`Storage`]: super::Storage

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use super::error::{IoContext, LockError};

/// A held lock; released when dropped (the kernel also releases it if the process dies).
#[derive(Debug)]
pub struct DirLock {
    /// `None` for a directory on a simulated disk, which only this process can see.
    _file: Option<File>,
    path: PathBuf,
}

impl DirLock {
    /// Takes the lock of `data_dir` or fails at once naming the holder.
    pub fn acquire(data_dir: &Path) -> Result<Self, LockError> {
        let path = data_dir.join("LOCK");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .ctx("open lock file", &path)?;
        // SAFETY: flock on a valid, owned file descriptor; no memory is shared with the kernel.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(LockError::Held {
                    dir: data_dir.to_path_buf(),
                    pid: text.trim().parse().ok(),
                });
            }
            return Err(Err::<(), _>(err).ctx("flock", &path).unwrap_err().into());
        }
        file.set_len(0).ctx("truncate lock file", &path)?;
        file.seek(SeekFrom::Start(0)).ctx("seek lock file", &path)?;
        file.write_all(format!("{}\n", std::process::id()).as_bytes())
            .ctx("write lock file", &path)?;
        Ok(Self {
            _file: Some(file),
            path,
        })
    }

    /// The lock of a directory no other process can reach (a simulated disk in tests): nothing to
    /// hold.
    #[cfg(any(test, feature = "testkit"))]
    pub fn private(data_dir: &Path) -> Self {
        Self {
            _file: None,
            path: data_dir.join("LOCK"),
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
