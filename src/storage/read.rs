//! Read paths: block by number or hash, headers and blooms over a range, receipts of a block, tx by
//! hash, and the chain markers (`last_contiguous`, `head_seen`).
//!
//! Reads take a redb snapshot, then read shard files at the committed offsets it names. A concurrent
//! compaction or rollback may replace those files; a read that fails that way is retried once with a
//! fresh snapshot. Filling shards' WAL indexes (block number to record offset) are kept between
//! reads ([`WalIndexes`]). It must never write.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use alloy_primitives::{B256, Bloom};
use redb::ReadableTable;

use super::Storage;
use super::backend::{Disk, StoreFile};
use super::error::{CorruptError, FileError, ReadError};
use super::index::{self, BLOCK_HASHES, META, SHARDS, key};
use super::layout::{FrameLens, IndexEntry, ShardRow};
use super::record::{self, StoredBlock, StoredTransactions};
use super::segment::SegmentReader;
use super::shard::{ShardState, seg_data_path, shard_dir, wal_path};
use super::wal::{self, WalEntry, WalScanner};
use crate::primitives::{BlockNumber, Header, Receipt, Transaction, VerifiedBlock};

/// Where a transaction is, and the transaction itself when retained.
#[derive(Debug, Clone, PartialEq)]
pub struct TxLookup {
    /// Block number.
    pub block: BlockNumber,
    /// Block hash.
    pub block_hash: B256,
    /// Index in the block.
    pub index: u32,
    /// The transaction (`None` when only hashes are retained).
    pub transaction: Option<Transaction>,
}

/// One block's frames as read from disk (`bytes` holds the header frame only when read for
/// [`ShardFiles::header`]), and the block hash stored with them.
pub(super) struct Frames {
    pub hash: B256,
    pub lens: FrameLens,
    pub bytes: Vec<u8>,
}

impl Frames {
    pub fn header(&self) -> &[u8] {
        &self.bytes[..self.lens.header as usize]
    }
    /// The header, checked against the block hash stored with the frames and against `n` (the
    /// block the caller asked for): see [`record::decode_header`].
    pub fn checked_header(&self, n: u64) -> Result<Header, String> {
        let header = record::decode_header(self.header(), &self.hash)?;
        if header.number != n {
            return Err(format!("frame holds block {}", header.number));
        }
        Ok(header)
    }
    pub fn txs(&self) -> &[u8] {
        let h = self.lens.header as usize;
        &self.bytes[h..h + self.lens.txs as usize]
    }
    pub fn receipts(&self) -> &[u8] {
        let s = (self.lens.header + self.lens.txs) as usize;
        &self.bytes[s..]
    }
}

/// A shard's WAL mapped by block number: where each committed record is, as of `len` bytes of
/// the WAL beside segment generation `seg_gen`.
#[derive(Debug)]
pub(super) struct WalIndex {
    seg_gen: u32,
    len: u64,
    map: HashMap<u64, WalEntry>,
}

/// Shards whose WAL indexes are kept at most (each up to a shard's blocks of ~80 bytes).
const WAL_INDEXES_KEPT: usize = 8;

/// The WAL indexes of recently read shards, shared by every read, so reading a filling shard
/// block by block scans only the records appended since the last read, not its whole WAL per
/// read. An index is used only for the segment generation it was built for and at most the
/// committed length it covers (appends extend it; a compaction changes the generation); an entry
/// is trusted only after the record at its offset shows the same head, and a read through a kept
/// index that fails is retried on one built afresh, so a WAL replaced under the same generation
/// (a shard emptied by a rollback, then filled again) costs a rebuild, never a wrong answer.
#[derive(Debug, Default)]
pub(super) struct WalIndexes(Mutex<HashMap<u64, (u64, Arc<WalIndex>)>>);

impl WalIndexes {
    fn get(&self, shard: u64) -> Option<Arc<WalIndex>> {
        let g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        g.get(&shard).map(|(_, w)| w.clone())
    }

    /// Keeps `index` for `shard` unless a longer one of the same generation is kept already,
    /// dropping the least recently kept shard beyond the bound.
    fn put(&self, shard: u64, index: Arc<WalIndex>) {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if g.get(&shard)
            .is_some_and(|(_, w)| w.seg_gen == index.seg_gen && w.len > index.len)
        {
            return;
        }
        let tick = g.values().map(|(t, _)| *t).max().map_or(0, |t| t + 1);
        g.insert(shard, (tick, index));
        while g.len() > WAL_INDEXES_KEPT {
            let Some(oldest) = g.iter().min_by_key(|(_, (t, _))| *t).map(|(s, _)| *s) else {
                break;
            };
            g.remove(&oldest);
        }
    }
}

/// An open WAL, its path, its index, and whether the index was built by this read (a kept one
/// that fails is rebuilt once).
struct OpenWal {
    file: Box<dyn StoreFile>,
    path: PathBuf,
    index: Arc<WalIndex>,
    fresh: bool,
}

/// Where a present block's frames are: the segment (its offset table entry) or the WAL.
enum Place {
    Segment(IndexEntry),
    Wal,
}

/// The file and offset a block's frames were read from, to name in an error.
enum ReadFrom {
    Segment(u64),
    Wal(u64),
}

/// Open handles on one shard's committed files, with its WAL mapped by block number on demand.
pub(super) struct ShardFiles {
    fs: Disk,
    dir: PathBuf,
    shard: u64,
    first: u64,
    row: ShardRow,
    seg: Option<SegmentReader>,
    wal: Option<OpenWal>,
    /// The store's kept WAL indexes, when `row` is a committed snapshot's (the read paths).
    kept: Option<Arc<WalIndexes>>,
}

impl ShardFiles {
    /// The files of `shard` as `row` names them; its WAL index is built for this value alone.
    pub fn open(store: &Storage, shard: u64, row: ShardRow) -> Self {
        let first = store.geo.first_of(shard);
        Self {
            fs: store.fs.clone(),
            dir: shard_dir(&store.dir, first),
            shard,
            first,
            row,
            seg: None,
            wal: None,
            kept: None,
        }
    }

    /// [`Self::open`] for a row read in a committed snapshot: the WAL index comes from the
    /// store's kept indexes (see [`WalIndexes`]) and goes back there.
    pub fn open_committed(store: &Storage, shard: u64, row: ShardRow) -> Self {
        Self {
            kept: Some(store.wal_indexes.clone()),
            ..Self::open(store, shard, row)
        }
    }

    fn corrupt(&self, n: u64, what: &str) -> FileError {
        CorruptError {
            path: self.dir.clone(),
            offset: 0,
            what: format!("block {n}: {what}"),
        }
        .into()
    }

    fn segment(&mut self) -> Result<&SegmentReader, FileError> {
        if self.seg.is_none() {
            self.seg = Some(SegmentReader::open(
                &*self.fs,
                &self.dir,
                self.row.seg_gen,
                u64::from(self.row.seg_entries),
                self.first,
            )?);
        }
        self.seg
            .as_ref()
            .ok_or_else(|| self.corrupt(self.first, "segment missing"))
    }

    /// The WAL index for this row: a kept one (extended by the records appended since it was
    /// built), else one built now; `fresh` forces the latter.
    fn wal(&mut self, fresh: bool) -> Result<&OpenWal, FileError> {
        if self.wal.is_none() {
            let (seg_gen, len) = (self.row.seg_gen, self.row.wal_len);
            let kept = self
                .kept
                .as_ref()
                .filter(|_| !fresh)
                .and_then(|k| k.get(self.shard))
                .filter(|w| w.seg_gen == seg_gen && w.len <= len);
            let (index, fresh) = match kept {
                Some(w) if w.len == len => (w, false),
                // Appended to since: scan the new records only; a kept index that does not lead
                // to a record boundary any more is rebuilt.
                Some(w) => match self.scan_wal(w.len, Some(&w.map)) {
                    Ok(index) => (Arc::new(index), false),
                    Err(_) => (Arc::new(self.scan_wal(0, None)?), true),
                },
                None => (Arc::new(self.scan_wal(0, None)?), true),
            };
            if let Some(k) = &self.kept {
                k.put(self.shard, index.clone());
            }
            let (file, path) = wal::open_for_read(&*self.fs, &self.dir)?;
            self.wal = Some(OpenWal {
                file,
                path,
                index,
                fresh,
            });
        }
        self.wal
            .as_ref()
            .ok_or_else(|| self.corrupt(self.first, "WAL missing"))
    }

    /// The WAL's record heads from `from` (0: the start) to the committed length, added to
    /// `base` (the entries before `from`).
    fn scan_wal(
        &self,
        from: u64,
        base: Option<&HashMap<u64, WalEntry>>,
    ) -> Result<WalIndex, FileError> {
        // One pass over the record heads (never the WAL whole): at most one entry per position.
        let mut scan = WalScanner::open(&*self.fs, &self.dir, self.first, self.row.wal_len)?;
        if from > 0 {
            scan.resume_at(from)?;
        }
        let mut map = base.cloned().unwrap_or_default();
        while let Some(e) = scan.next_head()? {
            map.insert(e.head.number, e);
        }
        Ok(WalIndex {
            seg_gen: self.row.seg_gen,
            len: self.row.wal_len,
            map,
        })
    }

    /// Block `n`'s WAL record, read by `read` (which checks the record's head): through a kept
    /// index first, and if that fails, once more through one built now.
    fn read_wal<T>(
        &mut self,
        n: u64,
        read: impl Fn(&dyn StoreFile, &std::path::Path, &WalEntry) -> Result<T, FileError>,
    ) -> Result<(WalEntry, T), FileError> {
        let mut fresh = false;
        loop {
            let wal = self.wal(fresh)?;
            let got = match wal.index.map.get(&n) {
                Some(e) => read(&*wal.file, &wal.path, e).map(|t| (*e, t)),
                None => Err(self.corrupt(n, "marked present but not in the WAL")),
            };
            match got {
                Err(_) if !self.wal.as_ref().is_some_and(|w| w.fresh) => {
                    self.wal = None;
                    fresh = true;
                }
                got => return got,
            }
        }
    }

    /// Where present block `n` is, or `None` if absent (a WAL record is looked up by the caller,
    /// which reads it).
    fn place(&mut self, n: u64) -> Result<Option<Place>, FileError> {
        let pos = n - self.first;
        if !self.row.has(pos) {
            return Ok(None);
        }
        if pos < u64::from(self.row.seg_entries) {
            let entry = self.segment()?.entry(pos)?;
            if entry.is_present() {
                return Ok(Some(Place::Segment(entry)));
            }
        }
        if self.row.wal_len == 0 {
            return Err(self.corrupt(n, "marked present but in neither segment nor WAL"));
        }
        Ok(Some(Place::Wal))
    }

    /// The hash of block `n`, or `None` if absent: from the segment's offset table or the WAL
    /// index (checked against the record's head), without reading or decoding the block's frames.
    pub fn hash(&mut self, n: u64) -> Result<Option<B256>, FileError> {
        Ok(match self.place(n)? {
            None => None,
            Some(Place::Segment(e)) => Some(e.hash),
            Some(Place::Wal) => Some(self.read_wal(n, wal::read_head)?.0.head.hash),
        })
    }

    /// The frames of block `n`, or `None` if absent (crc-checked).
    pub fn frames(&mut self, n: u64) -> Result<Option<Frames>, FileError> {
        Ok(self.read(n, false)?.map(|(f, _)| f))
    }

    /// The hash and header of block `n`, or `None` if absent, reading the header frame only from
    /// a segment. The one way to read a header without the other frames: it is checked against
    /// the block hash stored with it (the offset-table entry's, or the WAL record head's), which
    /// is what covers a segment's header frame and entry hash (`segment.rs`'s `header_frame`).
    /// A mismatch is damage named like a crc mismatch: the file, the offset, the block.
    pub fn header(&mut self, n: u64) -> Result<Option<(B256, Header)>, FileError> {
        let Some((f, from)) = self.read(n, true)? else {
            return Ok(None);
        };
        match f.checked_header(n) {
            Ok(header) => Ok(Some((f.hash, header))),
            Err(what) => {
                let (path, offset) = match from {
                    ReadFrom::Segment(o) => (seg_data_path(&self.dir, self.row.seg_gen), o),
                    ReadFrom::Wal(o) => (wal_path(&self.dir), o),
                };
                Err(CorruptError {
                    path,
                    offset,
                    what: format!("block {n}: {what}"),
                }
                .into())
            }
        }
    }

    /// The frames of block `n` (the header frame alone if `header_only`, from a segment), or
    /// `None` if absent, and where they were read.
    fn read(&mut self, n: u64, header_only: bool) -> Result<Option<(Frames, ReadFrom)>, FileError> {
        let (hash, lens, bytes, from) = match self.place(n)? {
            None => return Ok(None),
            Some(Place::Segment(entry)) => {
                let seg = self.segment()?;
                let bytes = if header_only {
                    seg.header_frame(&entry)?
                } else {
                    seg.frames(&entry)?
                };
                (
                    entry.hash,
                    entry.lens,
                    bytes,
                    ReadFrom::Segment(entry.offset),
                )
            }
            Some(Place::Wal) => {
                // Whole record even for `header_only`: the WAL's one crc32 covers the record head
                // and all three frames together (`layout.rs`), so a damaged record is named as a
                // checksum mismatch before the header's hash check (`header`) sees it.
                let (entry, bytes) = self.read_wal(n, wal::read_record)?;
                (
                    entry.head.hash,
                    entry.head.lens,
                    bytes,
                    ReadFrom::Wal(entry.offset),
                )
            }
        };
        Ok(Some((Frames { hash, lens, bytes }, from)))
    }

    /// The frames of block `n` of a complete shard (the index builds read every block of one):
    /// absent is damage, not an answer.
    pub fn complete_frames(&mut self, n: u64) -> Result<Frames, FileError> {
        self.frames(n)?.ok_or_else(|| {
            CorruptError {
                path: self.dir.clone(),
                offset: 0,
                what: format!("block {n} of a complete shard is missing"),
            }
            .into()
        })
    }
}

fn corrupt_block(n: u64, what: String) -> ReadError {
    ReadError::Undecodable {
        number: BlockNumber(n),
        what,
    }
}

impl Storage {
    /// Runs a read, retrying once with a fresh snapshot if files moved under it.
    pub(super) fn with_retry<T>(
        &self,
        f: impl Fn() -> Result<T, ReadError>,
    ) -> Result<T, ReadError> {
        match f() {
            Err(e) if e.is_transient() => f(),
            r => r,
        }
    }

    pub(super) fn shard_files(
        &self,
        t: &impl ReadableTable<u64, &'static [u8]>,
        shard: u64,
    ) -> Result<Option<ShardFiles>, ReadError> {
        Ok(self
            .row::<ReadError>(t, shard)?
            .map(|row| ShardFiles::open_committed(self, shard, row)))
    }

    pub(super) fn frames(&self, n: u64) -> Result<Option<Frames>, ReadError> {
        self.in_shard_of(n, |files| files.frames(n))
    }

    /// The hash and header of block `n` (see [`ShardFiles::header`]: header frame only, checked
    /// against the block hash).
    pub(super) fn hash_and_header(&self, n: u64) -> Result<Option<(B256, Header)>, ReadError> {
        self.in_shard_of(n, |files| files.header(n))
    }

    /// `read` on the files of block `n`'s shard in a fresh snapshot (retried once if they moved);
    /// `None` when the shard has nothing stored.
    fn in_shard_of<T>(
        &self,
        n: u64,
        read: impl Fn(&mut ShardFiles) -> Result<Option<T>, FileError>,
    ) -> Result<Option<T>, ReadError> {
        self.with_retry(|| {
            let txn = self.read_txn()?;
            let shards = txn.open_table(SHARDS)?;
            match self.shard_files(&shards, self.geo.shard_of(n))? {
                None => Ok(None),
                Some(mut files) => Ok(read(&mut files)?),
            }
        })
    }

    /// Everything stored for block `n` (transactions full or hashes, as retained).
    pub fn stored_block(&self, n: BlockNumber) -> Result<Option<StoredBlock>, ReadError> {
        let Some(f) = self.frames(n.get())? else {
            return Ok(None);
        };
        decode_stored(n.get(), &f).map(Some)
    }

    /// Block `n` as verified when stored. Errors if only transaction hashes were retained.
    pub fn block(&self, n: BlockNumber) -> Result<Option<VerifiedBlock>, ReadError> {
        match self.stored_block(n)? {
            None => Ok(None),
            Some(b) => b
                .into_verified()
                .map(Some)
                .ok_or(ReadError::TransactionsNotRetained { number: n }),
        }
    }

    /// The number of the stored block with this hash.
    pub fn block_number(&self, hash: &B256) -> Result<Option<BlockNumber>, ReadError> {
        let txn = self.read_txn()?;
        let t = txn.open_table(BLOCK_HASHES)?;
        Ok(index::block_number(&t, hash)?.map(BlockNumber))
    }

    /// The stored block with this hash.
    pub fn block_by_hash(&self, hash: &B256) -> Result<Option<VerifiedBlock>, ReadError> {
        let Some(n) = self.block_number(hash)? else {
            return Ok(None);
        };
        Ok(self.block(n)?.filter(|b| b.hash() == *hash))
    }

    /// Whether block `n` is stored.
    pub fn has_block(&self, n: BlockNumber) -> Result<bool, ReadError> {
        let txn = self.read_txn()?;
        let shards = txn.open_table(SHARDS)?;
        Ok(self
            .row::<ReadError>(&shards, self.geo.shard_of(n.get()))?
            .is_some_and(|r| r.has(self.geo.pos_of(n.get()))))
    }

    /// Hash of stored block `n` (from the offset table or the WAL index: no frame is read).
    pub fn block_hash(&self, n: BlockNumber) -> Result<Option<B256>, ReadError> {
        self.in_shard_of(n.get(), |files| files.hash(n.get()))
    }

    /// Header of block `n` (reads the header frame only; checked against the block's hash, so
    /// a damaged frame or stored hash is an error, never another header).
    pub fn header(&self, n: BlockNumber) -> Result<Option<Header>, ReadError> {
        Ok(self.hash_and_header(n.get())?.map(|(_, h)| h))
    }

    /// Receipts of block `n`.
    pub fn receipts(&self, n: BlockNumber) -> Result<Option<Vec<Receipt>>, ReadError> {
        let Some(f) = self.frames(n.get())? else {
            return Ok(None);
        };
        record::decode_receipts(f.receipts())
            .map(Some)
            .map_err(|e| corrupt_block(n.get(), e))
    }

    /// Where the transaction with this hash is, and the transaction when retained.
    ///
    /// The index names candidates by hash prefix (`tx_index`); the answer is the first
    /// candidate whose stored transaction has exactly this hash, so a prefix shared with another
    /// transaction can cost a block read but never gives a wrong answer.
    pub fn transaction(&self, hash: &B256) -> Result<Option<TxLookup>, ReadError> {
        let candidates = self.tx_candidates(hash)?;
        for (block, index) in candidates.found {
            let Some(f) = self.frames(block)? else {
                continue;
            };
            let body = record::decode_body_frame(f.txs()).map_err(|e| corrupt_block(block, e))?;
            let i = index as usize;
            if i >= body.transactions.len() {
                return Err(corrupt_block(
                    block,
                    format!("tx index {index} out of range"),
                ));
            }
            let transaction = match body.transactions {
                StoredTransactions::Full(mut txs) => {
                    if txs[i].tx_hash() != hash {
                        continue;
                    }
                    Some(txs.swap_remove(i))
                }
                StoredTransactions::Hashes(hashes) => {
                    if hashes[i] != *hash {
                        continue;
                    }
                    None
                }
            };
            return Ok(Some(TxLookup {
                block: BlockNumber(block),
                block_hash: f.hash,
                index,
                transaction,
            }));
        }
        // Found nowhere, while some shard's file could not be read: that file may hold it.
        match candidates.unreadable {
            Some(error) => Err(error),
            None => Ok(None),
        }
    }

    /// Visits the stored headers of `from ..= to` in ascending order (absent blocks are skipped),
    /// reading header frames only, one snapshot for the whole scan. Each is checked against its
    /// block hash ([`ShardFiles::header`]): a damaged one ends the scan with an error, so a bloom
    /// pre-filter never skips a block on a damaged bloom.
    pub fn scan_headers(
        &self,
        from: BlockNumber,
        to: BlockNumber,
        mut visit: impl FnMut(BlockNumber, B256, &Header) -> ControlFlow<()>,
    ) -> Result<(), ReadError> {
        let txn = self.read_txn()?;
        let shards = txn.open_table(SHARDS)?;
        let mut n = from.get();
        while n <= to.get() {
            let shard = self.geo.shard_of(n);
            let shard_end = self.geo.last_of(shard);
            let last = shard_end.min(to.get());
            if let Some(mut files) = self.shard_files(&shards, shard)? {
                for m in n..=last {
                    if let Some((hash, h)) = files.header(m)?
                        && visit(BlockNumber(m), hash, &h).is_break()
                    {
                        return Ok(());
                    }
                }
            }
            match last.checked_add(1) {
                Some(next) => n = next,
                None => break,
            }
        }
        Ok(())
    }

    /// Visits the header `logsBloom` of every stored block in `from ..= to` (a cheap pre-filter for
    /// log queries: header frames only, no bodies or receipts).
    pub fn scan_blooms(
        &self,
        from: BlockNumber,
        to: BlockNumber,
        mut visit: impl FnMut(BlockNumber, &Bloom) -> ControlFlow<()>,
    ) -> Result<(), ReadError> {
        self.scan_headers(from, to, |n, _, h| visit(n, &h.logs_bloom))
    }

    /// The last block of the contiguous run starting at the lowest stored block.
    pub fn last_contiguous(&self) -> Result<Option<BlockNumber>, ReadError> {
        self.meta(key::CONTIG)
    }

    /// The lowest stored block.
    pub fn lowest(&self) -> Result<Option<BlockNumber>, ReadError> {
        self.meta(key::LOW)
    }

    /// The highest head reported by peers, as last persisted.
    pub fn head_seen(&self) -> Result<Option<BlockNumber>, ReadError> {
        self.meta(key::HEAD_SEEN)
    }

    /// The peer cache last persisted with [`Self::set_peer_cache`].
    pub fn peer_cache(&self) -> Result<Option<Vec<u8>>, ReadError> {
        let txn = self.read_txn()?;
        let t = txn.open_table(META)?;
        Ok(index::meta_bytes(&t, key::PEER_CACHE)?)
    }

    /// The peer bans last persisted with [`Self::set_peer_bans`].
    pub fn peer_bans(&self) -> Result<Option<Vec<u8>>, ReadError> {
        let txn = self.read_txn()?;
        let t = txn.open_table(META)?;
        Ok(index::meta_bytes(&t, key::PEER_BANS)?)
    }

    fn meta(&self, k: &str) -> Result<Option<BlockNumber>, ReadError> {
        let txn = self.read_txn()?;
        let t = txn.open_table(META)?;
        Ok(index::meta_u64(&t, k)?.map(BlockNumber))
    }

    /// State of shard `shard`.
    pub fn shard_state(&self, shard: u64) -> Result<ShardState, ReadError> {
        let txn = self.read_txn()?;
        let shards = txn.open_table(SHARDS)?;
        Ok(self
            .row::<ReadError>(&shards, shard)?
            .map_or(ShardState::Empty, |r| r.state))
    }

    /// The shard holding block `n`.
    pub fn shard_of(&self, n: BlockNumber) -> u64 {
        self.geo.shard_of(n.get())
    }
}

pub(super) fn decode_stored(n: u64, f: &Frames) -> Result<StoredBlock, ReadError> {
    // Checked against the stored hash too, though the crc covered the frames: the hash served
    // with the block comes from the offset-table entry, which the crc does not cover, and one
    // keccak of the header is small beside decoding the body and receipts.
    let header = f.checked_header(n).map_err(|e| corrupt_block(n, e))?;
    let body = record::decode_body_frame(f.txs()).map_err(|e| corrupt_block(n, e))?;
    let receipts = record::decode_receipts(f.receipts()).map_err(|e| corrupt_block(n, e))?;
    Ok(StoredBlock {
        header,
        hash: f.hash,
        body,
        receipts,
    })
}

impl Storage {
    /// Bytes stored for block `n` (its three compressed frames), for size reports.
    pub fn stored_size(&self, n: BlockNumber) -> Result<Option<u64>, ReadError> {
        Ok(self.frames(n.get())?.map(|f| f.lens.total()))
    }
}
