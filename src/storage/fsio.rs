//! Durable file operations: fsync of files and directories, positioned reads, durable creation and
//! truncation. Every durability claim in the store goes through here. It must never decide what to
//! write or when: callers own the protocol (tmp → fsync → rename → fsync dir → redb commit).
//! Every operation goes to the store's [`FileSystem`] (`backend.rs`): real files, or a simulated
//! disk in tests.
//!
//! With the `testkit` feature (tests, benches) it also keeps a durability ledger: every path with
//! bytes or directory entries written but not yet fsynced. [`assert_durable`], called before every
//! redb commit, panics if anything under the data directory is still unsynced: "redb commits last"
//! is checked on every commit the test suite makes, not just argued. It also injects faults under a
//! directory (module `fault`): every operation after the k-th failing, one-off ENOSPC on one kind of
//! operation, and one-off redb commit failures.

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::backend::{FileSystem, OpenMode, StoreFile};
use super::error::{CorruptError, FileError, IoContext, IoError};

/// Kinds of file operation, for fault injection that targets one kind (test builds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// Writes are faulted through `write_fault`, which exists only in test builds, so the product
// build never names `Write`.
#[cfg_attr(not(any(test, feature = "testkit")), allow(dead_code))]
pub enum IoOp {
    /// Opening (maybe creating) a file.
    Open,
    /// Writing bytes.
    Write,
    /// Truncating or extending.
    Truncate,
    /// fsync of a file or directory.
    Fsync,
    /// Creating directories.
    CreateDir,
    /// Removing a file or tree.
    Remove,
    /// Renaming.
    Rename,
}

#[cfg(any(test, feature = "testkit"))]
mod ledger {
    use super::IoOp;
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::{Path, PathBuf};
    use std::sync::Mutex;

    static DIRTY: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());
    /// Injected faults, one per directory (tests in one binary run in parallel, each under its own
    /// directory): under it, fail every file operation after this many more.
    static FAULTS: Mutex<BTreeMap<PathBuf, u64>> = Mutex::new(BTreeMap::new());
    /// Directories fsynced, in order (for tests that check which levels were made durable).
    static SYNCED_DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

    fn faults() -> std::sync::MutexGuard<'static, BTreeMap<PathBuf, u64>> {
        FAULTS.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn fail_after(dir: &Path, ops: u64) {
        faults().insert(dir.to_path_buf(), ops);
    }

    /// Stops injecting under `dir`, keeping the ledger as it is.
    pub fn stop_faults(dir: &Path) {
        faults().remove(dir);
        once().remove(dir);
    }

    pub fn clear_fault(dir: &Path) {
        stop_faults(dir);
        // Bytes and entries an interrupted write left unsynced are past every committed length
        // (garbage by the commit rule); the ledger restarts from here.
        forget_under(dir);
    }

    /// A one-off fault: under a directory, the operation of this kind after `skip` more of them
    /// fails once with ENOSPC (a write first comes back short, as writes to a full disk do).
    #[derive(Debug, Clone, Copy)]
    struct Once {
        op: IoOp,
        skip: u64,
        short_first: bool,
    }

    static ONCE: Mutex<BTreeMap<PathBuf, Once>> = Mutex::new(BTreeMap::new());

    fn once() -> std::sync::MutexGuard<'static, BTreeMap<PathBuf, Once>> {
        ONCE.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn fail_once(dir: &Path, op: IoOp, skip: u64) {
        once().insert(
            dir.to_path_buf(),
            Once {
                op,
                skip,
                short_first: op == IoOp::Write,
            },
        );
    }

    pub fn once_pending(dir: &Path) -> bool {
        once().contains_key(dir)
    }

    fn enospc() -> std::io::Error {
        std::io::Error::new(
            std::io::ErrorKind::StorageFull,
            "injected ENOSPC (no space left on device), once",
        )
    }

    /// Whether a one-off fault fires for this operation: `Some(short_first)` if it does.
    fn once_fires(path: &Path, op: IoOp) -> Option<bool> {
        let mut o = once();
        let (dir, f) = o
            .iter_mut()
            .find(|(dir, f)| f.op == op && path.starts_with(dir))?;
        if f.skip > 0 {
            f.skip -= 1;
            return None;
        }
        let short = f.short_first;
        let dir = dir.clone();
        if short {
            // The short write is the first symptom; the next write is the one that fails.
            f.short_first = false;
        } else {
            o.remove(&dir);
        }
        Some(short)
    }

    fn permanent(path: &Path) -> std::io::Result<()> {
        let mut f = faults();
        if let Some((_, left)) = f.iter_mut().find(|(dir, _)| path.starts_with(dir)) {
            if *left == 0 {
                return Err(std::io::Error::other("injected I/O fault"));
            }
            *left -= 1;
        }
        Ok(())
    }

    pub fn fault(path: &Path, op: IoOp) -> std::io::Result<()> {
        permanent(path)?;
        match once_fires(path, op) {
            Some(_) => Err(enospc()),
            None => Ok(()),
        }
    }

    /// For a write of `len` bytes: how many to write, or the error to return instead.
    pub fn write_fault(path: &Path, len: usize) -> std::io::Result<usize> {
        permanent(path)?;
        match once_fires(path, IoOp::Write) {
            Some(true) if len >= 2 => Ok(len / 2),
            Some(_) => Err(enospc()),
            None => Ok(len),
        }
    }

    /// Injected redb commit faults, per directory: commits to let through before failing one.
    static COMMIT_FAULTS: Mutex<BTreeMap<PathBuf, u64>> = Mutex::new(BTreeMap::new());

    fn commit_faults() -> std::sync::MutexGuard<'static, BTreeMap<PathBuf, u64>> {
        COMMIT_FAULTS.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn fail_commit_after(dir: &Path, commits: u64) {
        commit_faults().insert(dir.to_path_buf(), commits);
    }

    /// One-off: the commit that finds its counter at zero fails, and later ones succeed again.
    pub fn commit_fault(dir: &Path) -> std::io::Result<()> {
        let mut f = commit_faults();
        if let Some(left) = f.get_mut(dir) {
            if *left == 0 {
                f.remove(dir);
                return Err(std::io::Error::other("injected redb commit fault"));
            }
            *left -= 1;
        }
        Ok(())
    }

    pub fn synced_dir(dir: &Path) {
        SYNCED_DIRS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(dir.to_path_buf());
    }

    /// Directories under `root` fsynced so far, in order.
    pub fn synced_dirs_under(root: &Path) -> Vec<PathBuf> {
        SYNCED_DIRS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|p| p.starts_with(root))
            .cloned()
            .collect()
    }

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
    pub fn synced_dir(_: &Path) {}
    pub fn fault(_: &Path, _: super::IoOp) -> std::io::Result<()> {
        Ok(())
    }
    pub fn write_fault(_: &Path, len: usize) -> std::io::Result<usize> {
        Ok(len)
    }
    pub fn commit_fault(_: &Path) -> std::io::Result<()> {
        Ok(())
    }
}

/// Test-only fault injection (feature `testkit`): every shard-file operation under a directory
/// fails after a given number of successful ones, as a failing disk would.
#[cfg(any(test, feature = "testkit"))]
pub mod fault {
    use std::path::Path;

    /// Under `dir`, let `ops` more file operations succeed, then fail every one.
    pub fn fail_after(dir: &Path, ops: u64) {
        super::ledger::fail_after(dir, ops);
    }

    pub use super::IoOp;

    /// Under `dir`, the operation of kind `op` after `skip` more of that kind fails once with
    /// ENOSPC; later ones succeed (a disk that was full for a moment). A write comes back short
    /// first, and the next write fails, as on a real full disk.
    pub fn fail_once(dir: &Path, op: IoOp, skip: u64) {
        super::ledger::fail_once(dir, op, skip);
    }

    /// Directories under `root` fsynced so far in this process, in order (to check which entries
    /// an operation made durable).
    pub fn synced_dirs_under(root: &Path) -> Vec<std::path::PathBuf> {
        super::ledger::synced_dirs_under(root)
    }

    /// Whether a [`fail_once`] fault under `dir` has not fired yet.
    pub fn once_pending(dir: &Path) -> bool {
        super::ledger::once_pending(dir)
    }

    /// Stops failing (and forgets unsynced garbage the failure left under `dir`).
    pub fn clear(dir: &Path) {
        super::ledger::clear_fault(dir);
    }

    /// For the store in `dir`: let `commits` more redb commits succeed, then fail the next one
    /// (before redb writes anything: the transaction is aborted), once.
    pub fn fail_commit_after(dir: &Path, commits: u64) {
        super::ledger::fail_commit_after(dir, commits);
    }
}

/// Test builds: fails this redb commit of the store in `dir` if a commit fault is due. A no-op in
/// the product binary.
pub fn commit_fault(dir: &Path) -> io::Result<()> {
    ledger::commit_fault(dir)
}

/// Declares unsynced bytes or entries of `paths` garbage that no commit will reference (an
/// abandoned attempt past every committed length), so the ledger stops tracking them.
pub fn abandon(paths: &[&Path]) {
    for p in paths {
        ledger::clean(p);
    }
}

/// Checks (in test builds) that nothing under `dir` awaits an fsync; call right before a redb
/// commit. A no-op in the product binary.
pub fn assert_durable(dir: &Path) {
    ledger::assert_durable(dir);
}

fn parent_of(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("."))
}

/// A file being written, whose writes and syncs are recorded in the durability ledger. Writes go
/// at its own cursor (the backend has positioned writes only).
#[derive(Debug)]
pub struct TrackedFile {
    file: Box<dyn StoreFile>,
    path: PathBuf,
    pos: u64,
}

impl TrackedFile {
    /// Opens `path` for writing (creating it if asked: its directory entry then awaits an fsync).
    pub fn open(fs: &dyn FileSystem, path: &Path, create: bool) -> Result<Self, IoError> {
        ledger::fault(path, IoOp::Open).ctx("open", path)?;
        let existed = fs.is_file(path);
        let file = open_rw(fs, path, create)?;
        if !existed {
            ledger::dirty(parent_of(path));
        }
        Ok(Self {
            file,
            path: path.to_path_buf(),
            pos: 0,
        })
    }

    /// Current length.
    pub fn len(&self) -> Result<u64, IoError> {
        file_len(&*self.file, &self.path)
    }

    /// Truncates or extends (not durable until synced).
    pub fn set_len(&self, len: u64) -> Result<(), IoError> {
        ledger::fault(&self.path, IoOp::Truncate).ctx("truncate", &self.path)?;
        ledger::dirty(&self.path);
        self.file.set_len(len).ctx("truncate", &self.path)
    }

    /// Positions the write cursor.
    pub fn seek_to(&mut self, offset: u64) -> Result<(), IoError> {
        self.pos = offset;
        Ok(())
    }

    /// fdatasync: data and the size needed to read it.
    pub fn sync_data(&self) -> Result<(), IoError> {
        ledger::fault(&self.path, IoOp::Fsync).ctx("fsync", &self.path)?;
        self.file.sync_data().ctx("fsync", &self.path)?;
        ledger::clean(&self.path);
        Ok(())
    }
}

impl Write for TrackedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let limit = ledger::write_fault(&self.path, buf.len())?;
        ledger::dirty(&self.path);
        let n = self.file.write_at(&buf[..limit], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// fsyncs a directory so entries created, renamed or removed in it survive a crash.
pub fn fsync_dir(fs: &dyn FileSystem, dir: &Path) -> Result<(), IoError> {
    ledger::fault(dir, IoOp::Fsync).ctx("fsync directory", dir)?;
    fs.sync_dir(dir).ctx("fsync directory", dir)?;
    ledger::clean(dir);
    ledger::synced_dir(dir);
    Ok(())
}

/// Directories whose entries are known durable in this process, and directories created here whose
/// entry in their parent awaits an fsync (a parent fsync failed, or has not run yet). A retry of
/// [`create_dir_durable`] must fsync what a failed attempt left pending even though the directory
/// now exists, so "exists" alone never means "durable".
#[derive(Default)]
struct DirState {
    durable: BTreeSet<PathBuf>,
    pending: BTreeSet<PathBuf>,
}

static DIRS: Mutex<Option<DirState>> = Mutex::new(None);

fn with_dirs<T>(f: impl FnOnce(&mut DirState) -> T) -> T {
    let mut g = DIRS.lock().unwrap_or_else(|p| p.into_inner());
    f(g.get_or_insert_with(DirState::default))
}

/// The directory holding `path`'s entry (`.` for a bare relative name).
fn entry_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Creates `dir` (and any missing parents) and makes every entry on the way durable: for each level
/// created, its parent is fsynced (deepest first), so the topmost new level lands in an existing,
/// fsynced directory. The first call for an existing `dir` in this process fsyncs its parent once
/// too: an earlier attempt (or an earlier process) may have created it and failed before the fsync.
pub fn create_dir_durable(fs: &dyn FileSystem, dir: &Path) -> Result<(), IoError> {
    if fs.is_dir(dir) && with_dirs(|d| d.durable.contains(dir)) {
        return Ok(());
    }
    // The levels missing now, deepest first.
    let mut created: Vec<PathBuf> = Vec::new();
    let mut level = dir;
    while !fs.is_dir(level) {
        created.push(level.to_path_buf());
        match level.parent() {
            Some(p) if !p.as_os_str().is_empty() => level = p,
            _ => break,
        }
    }
    if !created.is_empty() {
        ledger::fault(dir, IoOp::CreateDir).ctx("create directory", dir)?;
        // Pending before creating: a create_dir_all that fails half-way still left levels behind.
        with_dirs(|d| d.pending.extend(created.iter().cloned()));
        fs.create_dir_all(dir).ctx("create directory", dir)?;
        for c in &created {
            ledger::dirty(&entry_dir(c));
        }
    }
    // Deepest first: `dir` itself, then every ancestor a failed earlier attempt left pending.
    let to_sync: Vec<PathBuf> = with_dirs(|d| {
        dir.ancestors()
            .filter(|a| *a == dir || d.pending.contains(*a))
            .map(Path::to_path_buf)
            .collect()
    });
    for level in &to_sync {
        fsync_dir(fs, &entry_dir(level))?;
        with_dirs(|d| d.pending.remove(level));
    }
    with_dirs(|d| d.durable.insert(dir.to_path_buf()));
    Ok(())
}

/// Removes a directory tree (its parent then awaits an fsync).
pub fn remove_dir_all(fs: &dyn FileSystem, dir: &Path) -> Result<(), IoError> {
    ledger::fault(dir, IoOp::Remove).ctx("remove", dir)?;
    fs.remove_dir_all(dir).ctx("remove", dir)?;
    // A directory of that name made later is a new entry again.
    with_dirs(|d| {
        d.durable.retain(|p| !p.starts_with(dir));
        d.pending.retain(|p| !p.starts_with(dir));
    });
    ledger::forget_under(dir);
    ledger::dirty(parent_of(dir));
    Ok(())
}

/// Opens a file for reading and writing (creating it if asked).
pub fn open_rw(
    fs: &dyn FileSystem,
    path: &Path,
    create: bool,
) -> Result<Box<dyn StoreFile>, IoError> {
    let mode = if create {
        OpenMode::Create
    } else {
        OpenMode::ReadWrite
    };
    fs.open(path, mode).ctx("open", path)
}

/// Opens a file for reading.
pub fn open_read(fs: &dyn FileSystem, path: &Path) -> Result<Box<dyn StoreFile>, IoError> {
    fs.open(path, OpenMode::Read).ctx("open", path)
}

/// Length of a file.
pub fn file_len(file: &dyn StoreFile, path: &Path) -> Result<u64, IoError> {
    file.len().ctx("stat", path)
}

/// Truncates a file to `len` and fsyncs it.
pub fn truncate_durable(file: &dyn StoreFile, path: &Path, len: u64) -> Result<(), IoError> {
    ledger::fault(path, IoOp::Truncate).ctx("truncate", path)?;
    file.set_len(len).ctx("truncate", path)?;
    ledger::fault(path, IoOp::Fsync).ctx("fsync", path)?;
    file.sync_all().ctx("fsync", path)?;
    ledger::clean(path);
    Ok(())
}

/// Reads exactly `buf.len()` bytes at `offset`; a short file is reported as corruption.
pub fn read_exact_at(
    file: &dyn StoreFile,
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
pub fn remove_file_if_exists(fs: &dyn FileSystem, path: &Path) -> Result<bool, IoError> {
    ledger::fault(path, IoOp::Remove).ctx("remove", path)?;
    match fs.remove_file(path) {
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

/// Writes a derived file (a sealed shard's log or transaction index) durably: `body` streams the
/// body through the buffer it is given, placed `H` bytes into `tmp`, and returns the header it can
/// only know at the end; the header goes at offset 0, then fsync, rename over `path` (same
/// directory), fsync of the directory. A failure abandons `tmp` (open removes leftovers).
/// Returns the file's length.
pub fn write_with_header<const H: usize, E: From<IoError>>(
    fs: &dyn FileSystem,
    tmp: &Path,
    path: &Path,
    body: impl FnOnce(
        io::BufWriter<TrackedFile>,
        &Path,
    ) -> Result<([u8; H], io::BufWriter<TrackedFile>), E>,
) -> Result<u64, E> {
    let written = (|| -> Result<u64, E> {
        let mut file = TrackedFile::open(fs, tmp, true)?;
        file.set_len(0)?;
        file.seek_to(H as u64)?;
        let (header, out) = body(io::BufWriter::with_capacity(1 << 20, file), tmp)?;
        let mut file = out
            .into_inner()
            .map_err(|e| e.into_error())
            .ctx("write", tmp)?;
        file.seek_to(0)?;
        file.write_all(&header).ctx("write", tmp)?;
        file.sync_data()?;
        Ok(file.len()?)
    })();
    let bytes = written.inspect_err(|_| abandon(&[tmp]))?;
    rename(fs, tmp, path)?;
    fsync_dir(fs, parent_of(path))?;
    Ok(bytes)
}

/// Renames `from` to `to` (same directory; the caller fsyncs the directory).
pub fn rename(fs: &dyn FileSystem, from: &Path, to: &Path) -> Result<(), IoError> {
    ledger::fault(from, IoOp::Rename).ctx("rename", from)?;
    fs.rename(from, to).ctx("rename", from)?;
    ledger::dirty(parent_of(to));
    Ok(())
}

/// Bytes free for an unprivileged writer on the file system holding `dir` (statvfs), for the
/// disk-full log line and metric.
pub fn free_bytes(dir: &Path) -> io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `c` is a valid NUL-terminated path and `st` points to writable memory of the right
    // type; statvfs writes nothing else.
    let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it filled the struct.
    let st = unsafe { st.assume_init() };
    // Both are u64 on the 64-bit Linux targets histd builds for.
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::backend::RealFs;
    const FS: &RealFs = &RealFs;

    #[test]
    fn free_bytes_reads_the_file_system_of_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        assert!(free_bytes(dir.path()).unwrap() > 0);
        assert!(free_bytes(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn ledger_tracks_unsynced_bytes_and_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut f = TrackedFile::open(FS, &path, true).unwrap();
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
        fsync_dir(FS, dir.path()).unwrap();
        assert_durable(dir.path());
    }

    #[test]
    fn create_dir_durable_fsyncs_every_level_it_created() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path();
        let deep = root.join("a").join("b").join("c");
        create_dir_durable(FS, &deep).unwrap();
        assert!(deep.is_dir());
        // Each new entry lives in its parent: c in b, b in a, a in root. All three must be synced
        // (deepest first), not just c's parent.
        assert_eq!(
            ledger::synced_dirs_under(root),
            vec![root.join("a/b"), root.join("a"), root.to_path_buf()]
        );
        assert_durable(root);
        // Known durable now: no more fsyncs.
        create_dir_durable(FS, &deep).unwrap();
        assert_eq!(ledger::synced_dirs_under(root).len(), 3);
    }

    #[test]
    fn create_dir_durable_retry_fsyncs_what_a_failed_attempt_left() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path();
        let deep = root.join("x").join("y");
        // The create succeeds, the first parent fsync fails: both levels exist, neither is durable.
        ledger::fail_after(root, 1);
        let err = create_dir_durable(FS, &deep).unwrap_err();
        assert!(err.to_string().contains("injected"), "{err}");
        assert!(deep.is_dir());
        ledger::stop_faults(root);
        assert!(
            std::panic::catch_unwind(|| assert_durable(root)).is_err(),
            "the unsynced entries must be visible to the ledger"
        );
        // The retry finds the directory in place and must still sync both entries.
        create_dir_durable(FS, &deep).unwrap();
        assert_eq!(
            ledger::synced_dirs_under(root),
            vec![root.join("x"), root.to_path_buf()]
        );
        assert_durable(root);
    }

    #[test]
    fn create_dir_durable_syncs_an_existing_directory_once() {
        // Made by an earlier process that may have died before its fsync.
        let root = tempfile::tempdir().unwrap();
        let root = root.path();
        let d = root.join("made-earlier");
        std::fs::create_dir(&d).unwrap();
        create_dir_durable(FS, &d).unwrap();
        create_dir_durable(FS, &d).unwrap();
        assert_eq!(ledger::synced_dirs_under(root), vec![root.to_path_buf()]);
        // Removed and made again: a new entry, synced again.
        remove_dir_all(FS, &d).unwrap();
        fsync_dir(FS, root).unwrap();
        create_dir_durable(FS, &d).unwrap();
        assert_eq!(ledger::synced_dirs_under(root).len(), 3);
        assert_durable(root);
    }
}
