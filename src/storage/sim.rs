//! A simulated disk (test builds, feature `testkit`): a [`FileSystem`] in memory that behaves as a
//! disk does when the power goes, so the real storage code (shards and redb together) can be cut
//! off at any I/O operation and reopened on what survives.
//!
//! Model: every file has durable bytes and a list of writes (and truncations) made since its last
//! fsync; every directory has live entries and the entries as of its last fsync. A
//! [`SimDisk::power_cut`] keeps, per file, a seeded-random prefix of its unsynced writes and resets
//! every directory to its fsynced entries (creates, renames and removes not yet fsynced are lost).
//! A [`Plan`] makes one operation fail (ENOSPC, EIO, a short write), every operation from one on
//! (a dead disk), or the power go at one. Every operation is counted and recorded by kind, so a
//! test can walk them all. It must never be used by the product: it only exists in test builds.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::backend::{FileSystem, OpenMode, StoreFile};
use super::error::LockError;
use super::lock::DirLock;

/// Kinds of operation the simulated disk counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OpKind {
    /// Opening (maybe creating) a file.
    Open,
    /// A positioned read.
    Read,
    /// A positioned write.
    Write,
    /// Truncating or extending a file.
    SetLen,
    /// fsync/fdatasync of a file (of `index.redb`: part of a redb commit).
    Sync,
    /// fsync of a directory.
    DirSync,
    /// A rename.
    Rename,
    /// Removing a file or a directory tree.
    Remove,
    /// Creating directories.
    CreateDir,
    /// Listing a directory.
    List,
}

/// One counted operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Op {
    /// What it was.
    pub kind: OpKind,
    /// Whether it was on redb's file (`index.redb`, or `index.redb.tmp` while new) rather than a
    /// shard file.
    pub index: bool,
}

/// How an injected failure looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// ENOSPC: no space left on device.
    NoSpace,
    /// EIO.
    Io,
    /// A write that stores only half its bytes and reports so (other operations: EIO).
    ShortWrite,
}

/// What the disk does to the operations of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Plan {
    /// Nothing fails.
    #[default]
    Healthy,
    /// Operation number `at` fails once; later ones succeed.
    Once {
        /// Operation number (from 0, counting every operation since the disk was made).
        at: u64,
        /// How it fails.
        fault: Fault,
    },
    /// Operation number `at` and every later one fail with EIO (a disk gone bad).
    FailFrom(u64),
    /// The power goes at operation number `at`: it and everything after fail, and nothing more
    /// reaches the disk. Call [`SimDisk::power_cut`] next.
    CutAt(u64),
}

#[derive(Debug, Clone)]
enum Pending {
    Write(u64, Vec<u8>),
    SetLen(u64),
}

#[derive(Debug, Default)]
struct Inode {
    data: Vec<u8>,
    durable: Vec<u8>,
    pending: Vec<Pending>,
}

fn apply(data: &mut Vec<u8>, p: &Pending) {
    match p {
        Pending::Write(off, bytes) => {
            let off = *off as usize;
            if data.len() < off + bytes.len() {
                data.resize(off + bytes.len(), 0);
            }
            data[off..off + bytes.len()].copy_from_slice(bytes);
        }
        Pending::SetLen(len) => data.resize(*len as usize, 0),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    File(usize),
    Dir(usize),
}

#[derive(Debug, Default, Clone)]
struct DirNode {
    live: BTreeMap<OsString, Node>,
    durable: BTreeMap<OsString, Node>,
}

#[derive(Debug)]
struct State {
    files: Vec<Inode>,
    dirs: Vec<DirNode>,
    ops: Vec<Op>,
    plan: Plan,
    dead: bool,
    /// Injected failures so far (power cut included).
    failed: u64,
}

fn err(code: i32, what: &str) -> io::Error {
    let os = io::Error::from_raw_os_error(code);
    io::Error::new(os.kind(), format!("simulated disk: {what} ({os})"))
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("simulated disk: {} not found", path.display()),
    )
}

/// What `begin` lets an operation do.
enum Go {
    All,
    Half,
}

impl State {
    /// Counts an operation and applies the plan to it.
    fn begin(&mut self, kind: OpKind, path: &Path) -> io::Result<Go> {
        let r = self.decide(kind, path);
        if !matches!(r, Ok(Go::All)) {
            self.failed += 1;
        }
        r
    }

    fn decide(&mut self, kind: OpKind, path: &Path) -> io::Result<Go> {
        if self.dead {
            return Err(err(libc::EIO, "the power is off"));
        }
        let n = self.ops.len() as u64;
        // A new index is created as `index.redb.tmp` and renamed; its handle keeps the first name.
        let index = path
            .file_name()
            .is_some_and(|f| f.to_string_lossy().starts_with("index.redb"));
        self.ops.push(Op { kind, index });
        match self.plan {
            Plan::Healthy => Ok(Go::All),
            Plan::CutAt(at) if n >= at => {
                self.dead = true;
                Err(err(libc::EIO, "power cut"))
            }
            Plan::FailFrom(at) if n >= at => Err(err(libc::EIO, "injected permanent EIO")),
            Plan::Once { at, fault } if n == at => match fault {
                Fault::NoSpace => Err(err(libc::ENOSPC, "injected ENOSPC")),
                Fault::ShortWrite if kind == OpKind::Write => Ok(Go::Half),
                Fault::Io | Fault::ShortWrite => Err(err(libc::EIO, "injected EIO")),
            },
            _ => Ok(Go::All),
        }
    }

    /// The live node at `path`.
    fn resolve(&self, path: &Path) -> Option<Node> {
        let mut node = Node::Dir(0);
        for c in path.components() {
            match c {
                Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
                Component::ParentDir => return None,
                Component::Normal(name) => match node {
                    Node::Dir(d) => node = *self.dirs[d].live.get(name)?,
                    Node::File(_) => return None,
                },
            }
        }
        Some(node)
    }

    /// The directory holding `path`'s entry, and the entry's name.
    fn parent(&self, path: &Path) -> io::Result<(usize, OsString)> {
        let name = path
            .file_name()
            .ok_or_else(|| not_found(path))?
            .to_os_string();
        match path.parent().map(|p| self.resolve(p)) {
            Some(Some(Node::Dir(d))) => Ok((d, name)),
            _ => Err(not_found(path)),
        }
    }
}

/// A simulated disk; clones share it.
#[derive(Debug, Clone)]
pub struct SimDisk {
    state: Arc<Mutex<State>>,
}

impl Default for SimDisk {
    fn default() -> Self {
        Self::new()
    }
}

impl SimDisk {
    /// An empty disk (just a root directory).
    pub fn new() -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                files: Vec::new(),
                dirs: vec![DirNode::default()],
                ops: Vec::new(),
                plan: Plan::Healthy,
                dead: false,
                failed: 0,
            })),
        }
    }

    /// As the store's file system.
    pub fn disk(&self) -> super::backend::Disk {
        Arc::new(self.clone())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets what the next operations do.
    pub fn set_plan(&self, plan: Plan) {
        self.lock().plan = plan;
    }

    /// Operations counted so far.
    pub fn op_count(&self) -> u64 {
        self.lock().ops.len() as u64
    }

    /// The operations counted so far, in order.
    pub fn ops(&self) -> Vec<Op> {
        self.lock().ops.clone()
    }

    /// How many operations the plan has failed (or cut short) so far.
    pub fn failures(&self) -> u64 {
        self.lock().failed
    }

    /// Whether the power is off (a [`Plan::CutAt`] fired).
    pub fn is_dead(&self) -> bool {
        self.lock().dead
    }

    /// The power goes: per file, a random prefix (from `seed`) of the writes since its last fsync
    /// survives; every directory is back to its last fsynced entries. Then the power is back on,
    /// with a healthy plan.
    pub fn power_cut(&self, seed: u64) {
        let mut s = self.lock();
        let mut rng = seed ^ 0x9e37_79b9_7f4a_7c15;
        let mut below = |n: usize| {
            // splitmix64
            rng = rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = rng;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            (z ^ (z >> 31)) as usize % n
        };
        for f in &mut s.files {
            let keep = below(f.pending.len() + 1);
            let mut data = std::mem::take(&mut f.durable);
            for p in &f.pending[..keep] {
                apply(&mut data, p);
            }
            f.pending.clear();
            f.durable = data.clone();
            f.data = data;
        }
        for d in &mut s.dirs {
            d.live = d.durable.clone();
        }
        s.dead = false;
        s.plan = Plan::Healthy;
    }

    /// The process restarts without a power loss (everything written stays): a healthy plan.
    pub fn restart(&self) {
        let mut s = self.lock();
        s.dead = false;
        s.plan = Plan::Healthy;
    }
}

/// An open file on a [`SimDisk`].
#[derive(Debug)]
struct SimFile {
    state: Arc<Mutex<State>>,
    inode: usize,
    path: PathBuf,
}

impl SimFile {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl StoreFile for SimFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let mut s = self.lock();
        s.begin(OpKind::Read, &self.path)?;
        let data = &s.files[self.inode].data;
        let start = (offset as usize).min(data.len());
        let n = buf.len().min(data.len() - start);
        buf[..n].copy_from_slice(&data[start..start + n]);
        Ok(n)
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        let mut s = self.lock();
        let n = match s.begin(OpKind::Write, &self.path)? {
            Go::All => buf.len(),
            Go::Half => buf.len() / 2,
        };
        let p = Pending::Write(offset, buf[..n].to_vec());
        let f = &mut s.files[self.inode];
        apply(&mut f.data, &p);
        f.pending.push(p);
        Ok(n)
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.lock().files[self.inode].data.len() as u64)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut s = self.lock();
        s.begin(OpKind::SetLen, &self.path)?;
        let p = Pending::SetLen(len);
        let f = &mut s.files[self.inode];
        apply(&mut f.data, &p);
        f.pending.push(p);
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut s = self.lock();
        s.begin(OpKind::Sync, &self.path)?;
        let f = &mut s.files[self.inode];
        f.durable = f.data.clone();
        f.pending.clear();
        Ok(())
    }

    fn sync_all(&self) -> io::Result<()> {
        self.sync_data()
    }
}

impl FileSystem for SimDisk {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn StoreFile>> {
        let mut s = self.lock();
        s.begin(OpKind::Open, path)?;
        let (dir, name) = s.parent(path)?;
        let inode = match s.dirs[dir].live.get(&name) {
            Some(Node::File(i)) => *i,
            Some(Node::Dir(_)) => return Err(err(libc::EISDIR, "is a directory")),
            None if mode == OpenMode::Create => {
                s.files.push(Inode::default());
                let i = s.files.len() - 1;
                s.dirs[dir].live.insert(name, Node::File(i));
                i
            }
            None => return Err(not_found(path)),
        };
        Ok(Box::new(SimFile {
            state: self.state.clone(),
            inode,
            path: path.to_path_buf(),
        }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut s = self.lock();
        s.begin(OpKind::Rename, from)?;
        let (fd, fname) = s.parent(from)?;
        let (td, tname) = s.parent(to)?;
        let node = s.dirs[fd]
            .live
            .remove(&fname)
            .ok_or_else(|| not_found(from))?;
        s.dirs[td].live.insert(tname, node);
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut s = self.lock();
        s.begin(OpKind::Remove, path)?;
        let (d, name) = s.parent(path)?;
        match s.dirs[d].live.get(&name) {
            Some(Node::File(_)) => {
                s.dirs[d].live.remove(&name);
                Ok(())
            }
            Some(Node::Dir(_)) => Err(err(libc::EISDIR, "is a directory")),
            None => Err(not_found(path)),
        }
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut s = self.lock();
        s.begin(OpKind::Remove, path)?;
        let (d, name) = s.parent(path)?;
        match s.dirs[d].live.get(&name) {
            // The subtree stays in memory: a power cut before the parent's fsync brings it back.
            Some(Node::Dir(_)) => {
                s.dirs[d].live.remove(&name);
                Ok(())
            }
            Some(Node::File(_)) => Err(err(libc::ENOTDIR, "not a directory")),
            None => Err(not_found(path)),
        }
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut s = self.lock();
        s.begin(OpKind::CreateDir, path)?;
        let mut dir = 0usize;
        for c in path.components() {
            let Component::Normal(name) = c else {
                continue;
            };
            dir = match s.dirs[dir].live.get(name) {
                Some(Node::Dir(d)) => *d,
                Some(Node::File(_)) => return Err(err(libc::ENOTDIR, "not a directory")),
                None => {
                    s.dirs.push(DirNode::default());
                    let d = s.dirs.len() - 1;
                    s.dirs[dir].live.insert(name.to_os_string(), Node::Dir(d));
                    d
                }
            };
        }
        Ok(())
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let mut s = self.lock();
        s.begin(OpKind::DirSync, path)?;
        match s.resolve(path) {
            Some(Node::Dir(d)) => {
                let dn = &mut s.dirs[d];
                dn.durable = dn.live.clone();
                Ok(())
            }
            _ => Err(not_found(path)),
        }
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        let mut s = self.lock();
        s.begin(OpKind::List, path)?;
        match s.resolve(path) {
            Some(Node::Dir(d)) => Ok(s.dirs[d].live.keys().map(|k| path.join(k)).collect()),
            _ => Err(not_found(path)),
        }
    }

    fn is_dir(&self, path: &Path) -> bool {
        matches!(self.lock().resolve(path), Some(Node::Dir(_)))
    }

    fn is_file(&self, path: &Path) -> bool {
        matches!(self.lock().resolve(path), Some(Node::File(_)))
    }

    fn lock_dir(&self, data_dir: &Path) -> Result<DirLock, LockError> {
        Ok(DirLock::private(data_dir))
    }
}

/// Counts of operations by kind, for test reports.
pub fn tally(ops: &[Op]) -> HashMap<(OpKind, bool), u64> {
    let mut out = HashMap::new();
    for op in ops {
        *out.entry((op.kind, op.index)).or_insert(0) += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_power_cut_keeps_synced_state_and_a_prefix_of_the_rest() {
        let disk = SimDisk::new();
        disk.create_dir_all(Path::new("/d")).unwrap();
        disk.sync_dir(Path::new("/")).unwrap();
        let f = disk.open(Path::new("/d/f"), OpenMode::Create).unwrap();
        f.write_all_at(b"abc", 0).unwrap();
        f.sync_data().unwrap();
        disk.sync_dir(Path::new("/d")).unwrap();
        f.write_all_at(b"def", 3).unwrap();
        f.write_all_at(b"ghi", 6).unwrap();
        // Created, never fsynced in its directory: gone after any cut.
        disk.open(Path::new("/d/g"), OpenMode::Create).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..32 {
            let copy = SimDisk::new();
            {
                // Replay on a fresh disk, then cut.
                copy.create_dir_all(Path::new("/d")).unwrap();
                copy.sync_dir(Path::new("/")).unwrap();
                let f = copy.open(Path::new("/d/f"), OpenMode::Create).unwrap();
                f.write_all_at(b"abc", 0).unwrap();
                f.sync_data().unwrap();
                copy.sync_dir(Path::new("/d")).unwrap();
                f.write_all_at(b"def", 3).unwrap();
                f.write_all_at(b"ghi", 6).unwrap();
                copy.open(Path::new("/d/g"), OpenMode::Create).unwrap();
            }
            copy.power_cut(seed);
            assert!(!copy.is_file(Path::new("/d/g")));
            let f = copy.open(Path::new("/d/f"), OpenMode::Read).unwrap();
            let mut buf = vec![0u8; f.len().unwrap() as usize];
            f.read_exact_at(&mut buf, 0).unwrap();
            seen.insert(String::from_utf8(buf).unwrap());
        }
        let want: std::collections::BTreeSet<String> = ["abc", "abcdef", "abcdefghi"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(seen, want);
        assert!(disk.is_file(Path::new("/d/g")), "live until the cut");
    }

    #[test]
    fn plans_fail_the_chosen_operation() {
        let disk = SimDisk::new();
        disk.set_plan(Plan::Once {
            at: 1,
            fault: Fault::NoSpace,
        });
        disk.create_dir_all(Path::new("/a")).unwrap();
        let e = disk.sync_dir(Path::new("/")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::StorageFull);
        disk.sync_dir(Path::new("/")).unwrap();
        disk.set_plan(Plan::CutAt(4));
        disk.sync_dir(Path::new("/")).unwrap();
        assert!(disk.sync_dir(Path::new("/")).is_err());
        assert!(disk.is_dead());
        assert!(disk.sync_dir(Path::new("/")).is_err());
        disk.power_cut(1);
        assert!(disk.is_dir(Path::new("/a")));
    }
}
