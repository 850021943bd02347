//! Read paths: block by number or hash, headers and blooms over a range, receipts of a block, tx by
//! hash, and the chain markers (`last_contiguous`, `head_seen`).
//!
//! Reads take a redb snapshot, then read shard files at the committed offsets it names. A concurrent
//! compaction or rollback may replace those files; a read that fails that way is retried once with a
//! fresh snapshot. It must never write.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::PathBuf;

use alloy_primitives::{B256, Bloom};
use redb::ReadableTable;

use super::Storage;
use super::backend::{Disk, StoreFile};
use super::error::{CorruptError, FileError, ReadError};
use super::index::{self, BLOCK_HASHES, META, SHARDS, TX_KEYS, key};
use super::layout::{FrameLens, ShardRow};
use super::record::{self, StoredBlock, StoredTransactions};
use super::segment::SegmentReader;
use super::shard::{ShardState, shard_dir};
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

/// One block's frames as read from disk (`bytes` holds the header frame only when read with
/// `header_only`).
pub(super) struct Frames {
    pub hash: B256,
    pub lens: FrameLens,
    pub bytes: Vec<u8>,
}

impl Frames {
    pub fn header(&self) -> &[u8] {
        &self.bytes[..self.lens.header as usize]
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

/// An open WAL, its path, and where each block's record is.
type WalMap = (Box<dyn StoreFile>, PathBuf, HashMap<u64, WalEntry>);

/// Open handles on one shard's committed files, with its WAL mapped by block number on demand.
pub(super) struct ShardFiles {
    fs: Disk,
    dir: PathBuf,
    first: u64,
    row: ShardRow,
    seg: Option<SegmentReader>,
    wal: Option<WalMap>,
}

impl ShardFiles {
    pub fn open(store: &Storage, shard: u64, row: ShardRow) -> Self {
        let first = store.geo.first_of(shard);
        Self {
            fs: store.fs.clone(),
            dir: shard_dir(&store.dir, first),
            first,
            row,
            seg: None,
            wal: None,
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

    fn wal(&mut self) -> Result<&WalMap, FileError> {
        if self.wal.is_none() {
            // One pass over the record heads (never the WAL whole): at most one entry per position.
            let mut scan = WalScanner::open(&*self.fs, &self.dir, self.first, self.row.wal_len)?;
            let mut map = HashMap::new();
            while let Some(e) = scan.next_head()? {
                map.insert(e.head.number, e);
            }
            let (file, path) = wal::open_for_read(&*self.fs, &self.dir)?;
            self.wal = Some((file, path, map));
        }
        self.wal
            .as_ref()
            .ok_or_else(|| self.corrupt(self.first, "WAL missing"))
    }

    /// The frames of block `n`, or `None` if absent.
    pub fn frames(&mut self, n: u64, header_only: bool) -> Result<Option<Frames>, FileError> {
        let pos = n - self.first;
        if !self.row.has(pos) {
            return Ok(None);
        }
        if pos < u64::from(self.row.seg_entries) {
            let seg = self.segment()?;
            let entry = seg.entry(pos)?;
            if entry.is_present() {
                let bytes = if header_only {
                    seg.header_frame(&entry)?
                } else {
                    seg.frames(&entry)?
                };
                return Ok(Some(Frames {
                    hash: entry.hash,
                    lens: entry.lens,
                    bytes,
                }));
            }
        }
        if self.row.wal_len == 0 {
            return Err(self.corrupt(n, "marked present but in neither segment nor WAL"));
        }
        let (file, path, map) = self.wal()?;
        let Some(entry) = map.get(&n).copied() else {
            return Err(self.corrupt(n, "marked present but not in the WAL"));
        };
        let bytes = wal::read_record(&**file, path, &entry)?;
        Ok(Some(Frames {
            hash: entry.head.hash,
            lens: entry.head.lens,
            bytes,
        }))
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
            .map(|row| ShardFiles::open(self, shard, row)))
    }

    pub(super) fn frames(&self, n: u64, header_only: bool) -> Result<Option<Frames>, ReadError> {
        self.with_retry(|| {
            let txn = self.read_txn()?;
            let shards = txn.open_table(SHARDS)?;
            match self.shard_files(&shards, self.geo.shard_of(n))? {
                None => Ok(None),
                Some(mut files) => Ok(files.frames(n, header_only)?),
            }
        })
    }

    /// Everything stored for block `n` (transactions full or hashes, as retained).
    pub fn stored_block(&self, n: BlockNumber) -> Result<Option<StoredBlock>, ReadError> {
        let Some(f) = self.frames(n.get(), false)? else {
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

    /// Hash of stored block `n`.
    pub fn block_hash(&self, n: BlockNumber) -> Result<Option<B256>, ReadError> {
        Ok(self.frames(n.get(), true)?.map(|f| f.hash))
    }

    /// Header of block `n` (reads the header frame only).
    pub fn header(&self, n: BlockNumber) -> Result<Option<Header>, ReadError> {
        let Some(f) = self.frames(n.get(), true)? else {
            return Ok(None);
        };
        record::decode_header(f.header())
            .map(Some)
            .map_err(|e| corrupt_block(n.get(), e))
    }

    /// Receipts of block `n`.
    pub fn receipts(&self, n: BlockNumber) -> Result<Option<Vec<Receipt>>, ReadError> {
        let Some(f) = self.frames(n.get(), false)? else {
            return Ok(None);
        };
        record::decode_receipts(f.receipts())
            .map(Some)
            .map_err(|e| corrupt_block(n.get(), e))
    }

    /// Where the transaction with this hash is, and the transaction when retained.
    ///
    /// The index names candidates by hash prefix ([`index::tx_candidates`]); the answer is the
    /// candidate whose stored transaction has exactly this hash, so a prefix shared with another
    /// transaction can cost a block read but never gives a wrong answer.
    pub fn transaction(&self, hash: &B256) -> Result<Option<TxLookup>, ReadError> {
        let candidates = {
            let txn = self.read_txn()?;
            let t = txn.open_table(TX_KEYS)?;
            index::tx_candidates(&t, hash)?
        };
        for (block, index) in candidates {
            let Some(f) = self.frames(block, false)? else {
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
        Ok(None)
    }

    /// Visits the stored headers of `from ..= to` in ascending order (absent blocks are skipped),
    /// reading header frames only, one snapshot for the whole scan.
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
                    if let Some(f) = files.frames(m, true)? {
                        let h =
                            record::decode_header(f.header()).map_err(|e| corrupt_block(m, e))?;
                        if visit(BlockNumber(m), f.hash, &h).is_break() {
                            return Ok(());
                        }
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
    let header = record::decode_header(f.header()).map_err(|e| corrupt_block(n, e))?;
    if header.number != n {
        return Err(corrupt_block(
            n,
            format!("frame holds block {}", header.number),
        ));
    }
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
        Ok(self.frames(n.get(), false)?.map(|f| f.lens.total()))
    }
}
