//! The side file of transaction hashes (`shards/<first>/txhashes`): what ingest already hashed,
//! kept beside an unsealed shard so its seal can build the log index without decompressing and
//! re-hashing every logged transaction (perf, 20,000 mainnet-like blocks: 7% of histd's samples).
//!
//! Owns the file's byte layout, appending to it, and reading it back at seal. Records are
//! appended in file order, each (little-endian):
//!
//! ```text
//! number u64 | block hash [32] | count u32 | count × tx hash [32] | crc32 u32
//! ```
//!
//! the crc32 over everything before it in the record; `count` is the number of transactions of
//! the block and the hashes are all of them, in block order. All, not only those that logged: the
//! writer has the encoded block, not its receipts, and ~32 bytes a transaction of page cache for
//! the life of an unsealed shard is cheap; the seal reads only the hashes it needs.
//!
//! The file is derived data and never needed for correctness: it is never fsynced, never part of
//! a commit (it bypasses the durability ledger and fault injection: nothing commits it), and a
//! failed append never fails the put that made it. The seal uses a record for block `n` only when
//! its crc holds, its block hash is the stored block's hash, and its count is the number of the
//! stored block's receipts; any other block is hashed from the stored transactions as before. The
//! block hash match suffices: the hash commits to the header, the header to the transactions
//! root, and the root to every transaction, so a record our writer appended for that hash holds
//! that block's transaction hashes (it took them from the verified block it stored); the crc
//! catches a record damaged on disk, torn by a crash or cut short (that record and every one
//! after it are ignored). A block dropped and fetched again appends another record for its
//! number: the last one whose hash matches wins. `histd db verify` never reads the file: it
//! rebuilds the index by hashing, the independent check. The seal's commit removes the file
//! (best effort); open removes a sealed shard's leftover one and cuts an unsealed shard's back to
//! its good records (so records appended after a crash are not hidden behind a torn one).

use std::collections::HashMap;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use alloy_primitives::B256;

use crate::storage::backend::{FileSystem, OpenMode, ReadCursor, StoreFile};
use crate::storage::record::EncodedBlock;

/// The file's name inside a shard directory.
pub(in crate::storage) const NAME: &str = "txhashes";

/// Bytes of a record before its hashes: number, block hash, count.
const HEAD: usize = 8 + 32 + 4;

/// Most transactions a record may name (a sanity bound against a damaged count; blocks hold a
/// few thousand at most).
const MAX_COUNT: u32 = 1 << 20;

/// The side file of shard directory `dir`.
pub(in crate::storage) fn path(dir: &Path) -> PathBuf {
    dir.join(NAME)
}

/// Appends one block's record to `out` (a batch's buffer, written by [`append`]).
pub(super) fn encode_record(out: &mut Vec<u8>, number: u64, hash: &B256, tx_hashes: &[B256]) {
    let start = out.len();
    out.extend_from_slice(&number.to_le_bytes());
    out.extend_from_slice(hash.as_slice());
    out.extend_from_slice(&(tx_hashes.len() as u32).to_le_bytes());
    for h in tx_hashes {
        out.extend_from_slice(h.as_slice());
    }
    let crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// Appends `records` to shard directory `dir`'s side file, best effort: a failure is logged at
/// debug and the file removed (a torn record would hide every later one; the seal then hashes).
fn append(fs: &dyn FileSystem, dir: &Path, records: &[u8]) {
    if records.is_empty() {
        return;
    }
    let path = path(dir);
    let written = fs
        .open(&path, OpenMode::Create)
        .and_then(|f| f.len().and_then(|len| f.write_all_at(records, len)));
    if let Err(error) = written {
        tracing::debug!(path = %path.display(), %error, "transaction hash side file not written; the seal hashes instead");
        let _ = fs.remove_file(&path);
    }
}

/// The records of one batch of puts, written per shard directory in one append each.
#[derive(Debug, Default)]
pub(in crate::storage) struct Batch {
    /// The shard directory the buffered records belong to.
    dir: Option<PathBuf>,
    buf: Vec<u8>,
}

impl Batch {
    /// Buffers block `e`'s record for shard directory `dir`, first appending the records of
    /// another directory buffered before.
    pub(in crate::storage) fn push(&mut self, fs: &dyn FileSystem, dir: &Path, e: &EncodedBlock) {
        if self.dir.as_deref() != Some(dir) {
            self.flush(fs);
            self.dir = Some(dir.to_path_buf());
        }
        encode_record(&mut self.buf, e.number, &e.hash, &e.tx_hashes);
    }

    /// Appends what is buffered (call after the blocks' own bytes are written).
    pub(in crate::storage) fn flush(&mut self, fs: &dyn FileSystem) {
        if let Some(dir) = &self.dir {
            append(fs, dir, &self.buf);
        }
        self.buf.clear();
    }
}

/// Removes shard directory `dir`'s side file, if any (best effort: a leftover is removed on open).
pub(in crate::storage) fn remove(fs: &dyn FileSystem, dir: &Path) {
    let path = path(dir);
    if fs.is_file(&path)
        && let Err(error) = fs.remove_file(&path)
    {
        tracing::debug!(path = %path.display(), %error, "transaction hash side file not removed; open removes it");
    }
}

/// Cuts shard directory `dir`'s side file back to its good records (open, for an unsealed
/// shard): a record torn by a crash would otherwise hide every record appended after it, so the
/// seal would hash all the blocks fetched since. Best effort, like every use of the file.
pub(in crate::storage) fn cut_torn_tail(fs: &dyn FileSystem, dir: &Path) {
    let path = path(dir);
    if !fs.is_file(&path) {
        return;
    }
    let cut = fs.open(&path, OpenMode::ReadWrite).and_then(|f| {
        let (_, good) = scan(BufReader::with_capacity(
            1 << 16,
            ReadCursor::new(fs.open(&path, OpenMode::Read)?),
        ))?;
        if f.len()? > good {
            tracing::debug!(path = %path.display(), good, "transaction hash side file cut back to its good records");
            f.set_len(good)?;
        }
        Ok(())
    });
    if let Err(error) = cut {
        tracing::debug!(path = %path.display(), %error, "transaction hash side file not checked; removed, the seal hashes instead");
        let _ = fs.remove_file(&path);
    }
}

/// Where one good record's hashes are.
#[derive(Debug, Clone, Copy)]
struct Entry {
    hash: B256,
    /// Offset of its first transaction hash.
    offset: u64,
    count: u32,
}

/// A side file read back at seal: where each good record's hashes are (the hashes themselves
/// stay on disk, so memory is some 100 bytes a record whatever the blocks hold).
#[derive(Debug)]
pub(in crate::storage) struct SideFile {
    file: Box<dyn StoreFile>,
    /// Per block number, its good records in file order.
    records: HashMap<u64, Vec<Entry>>,
    /// The hashes of the last block read (reused from block to block).
    buf: Vec<u8>,
}

impl SideFile {
    /// Reads shard directory `dir`'s side file once, checking every record's crc up to the first
    /// that fails (a torn tail) or does not fit. `None` if there is none or it cannot be read.
    pub(in crate::storage) fn open(fs: &dyn FileSystem, dir: &Path) -> Option<Self> {
        let path = path(dir);
        if !fs.is_file(&path) {
            return None;
        }
        let scan = fs
            .open(&path, OpenMode::Read)
            .and_then(|f| scan(BufReader::with_capacity(1 << 16, ReadCursor::new(f))));
        let records = match scan {
            Ok((r, _)) => r,
            Err(error) => {
                tracing::debug!(path = %path.display(), %error, "transaction hash side file unreadable; the seal hashes instead");
                return None;
            }
        };
        let file = fs.open(&path, OpenMode::Read).ok()?;
        Some(Self {
            file,
            records,
            buf: Vec::new(),
        })
    }

    /// Blocks the file has a good record for.
    pub(in crate::storage) fn blocks(&self) -> usize {
        self.records.len()
    }

    /// Puts into `out` the hashes of the `count` transactions of block `number` with hash
    /// `hash`, from the last good record that names exactly that; `false` (and `out` unusable)
    /// sends the caller to hashing.
    pub(in crate::storage) fn hashes(
        &mut self,
        number: u64,
        hash: &B256,
        count: usize,
        out: &mut Vec<B256>,
    ) -> bool {
        let Some(e) = self.records.get(&number).and_then(|es| {
            es.iter()
                .rev()
                .find(|e| &e.hash == hash && e.count as usize == count)
        }) else {
            return false;
        };
        self.buf.resize(count * 32, 0);
        if self.file.read_exact_at(&mut self.buf, e.offset).is_err() {
            return false;
        }
        out.clear();
        out.extend(self.buf.chunks_exact(32).map(B256::from_slice));
        true
    }
}

/// Every good record of `r`, up to the first bad or cut-short one, and where that one starts
/// (the length of the good prefix).
fn scan(mut r: impl Read) -> std::io::Result<(HashMap<u64, Vec<Entry>>, u64)> {
    let mut records: HashMap<u64, Vec<Entry>> = HashMap::new();
    let mut record = Vec::new();
    let mut offset = 0u64;
    loop {
        record.resize(HEAD, 0);
        match read_full(&mut r, &mut record)? {
            0 => break,
            HEAD => {}
            _ => break,
        }
        let number = u64::from_le_bytes(record[..8].try_into().unwrap_or_default());
        let hash = B256::from_slice(&record[8..40]);
        let count = u32::from_le_bytes(record[40..HEAD].try_into().unwrap_or_default());
        if count > MAX_COUNT {
            break;
        }
        let len = HEAD + count as usize * 32 + 4;
        record.resize(len, 0);
        if read_full(&mut r, &mut record[HEAD..])? != len - HEAD {
            break;
        }
        let (body, crc) = record.split_at(len - 4);
        if crc32fast::hash(body).to_le_bytes() != crc {
            break;
        }
        records.entry(number).or_default().push(Entry {
            hash,
            offset: offset + HEAD as u64,
            count,
        });
        offset += len as u64;
    }
    Ok((records, offset))
}

/// Reads into `buf` until it is full or the input ends; how many bytes it read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(i: u8) -> B256 {
        B256::repeat_byte(i)
    }

    fn scanned(bytes: &[u8]) -> Vec<(u64, B256, u64, u32)> {
        let mut out: Vec<_> = scan(bytes)
            .expect("in memory")
            .0
            .into_iter()
            .flat_map(|(n, es)| es.into_iter().map(move |e| (n, e.hash, e.offset, e.count)))
            .collect();
        out.sort_by_key(|e| (e.0, e.2));
        out
    }

    #[test]
    fn open_cuts_a_torn_tail_so_later_appends_are_seen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = crate::storage::backend::RealFs::disk();
        let mut good = Vec::new();
        encode_record(&mut good, 7, &h(1), &[h(2), h(3)]);
        let mut torn = good.clone();
        encode_record(&mut torn, 8, &h(4), &[h(5)]);
        torn.truncate(torn.len() - 3);
        std::fs::write(path(dir.path()), &torn).expect("write");
        cut_torn_tail(&*fs, dir.path());
        assert_eq!(std::fs::read(path(dir.path())).expect("read"), good);
        let mut later = Vec::new();
        encode_record(&mut later, 9, &h(6), &[h(7)]);
        append(&*fs, dir.path(), &later);
        let mut side = SideFile::open(&*fs, dir.path()).expect("side file");
        let mut out = Vec::new();
        assert!(side.hashes(9, &h(6), 1, &mut out));
        assert_eq!(out, vec![h(7)]);
        assert!(side.hashes(7, &h(1), 2, &mut out));
        // A good file is left as it is; a missing one stays missing.
        cut_torn_tail(&*fs, dir.path());
        assert!(SideFile::open(&*fs, dir.path()).is_some());
        let empty = tempfile::tempdir().expect("tempdir");
        cut_torn_tail(&*fs, empty.path());
        assert!(!path(empty.path()).exists());
    }

    #[test]
    fn records_read_back_up_to_the_first_bad_one() {
        let mut file = Vec::new();
        encode_record(&mut file, 7, &h(1), &[h(2), h(3)]);
        let first = file.len();
        encode_record(&mut file, 5, &h(4), &[]);
        encode_record(&mut file, 7, &h(5), &[h(6)]);
        let all = scanned(&file);
        assert_eq!(
            all,
            vec![
                (5, h(4), first as u64 + 44, 0),
                (7, h(1), 44, 2),
                (7, h(5), first as u64 + 48 + 44, 1),
            ]
        );
        // A torn tail: the good records before it stay.
        for cut in 1..(file.len() - first) {
            let got = scanned(&file[..file.len() - cut]);
            assert!(got.len() == 2 || got.len() == 1, "{cut}: {got:?}");
            assert!(got.iter().any(|e| e.2 == 44));
        }
        // A damaged byte in the first record hides it and every one after it.
        let mut bad = file.clone();
        bad[50] ^= 1;
        assert!(scanned(&bad).is_empty());
        // A damaged count is caught by the crc (or the bound).
        let mut bad = file;
        bad[43] = 0xff;
        assert!(scanned(&bad).is_empty());
    }
}
