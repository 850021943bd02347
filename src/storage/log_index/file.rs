//! The log index file of one sealed shard (`shards/<first>/logs-<gen>.idx`): every log of the
//! shard stored in small compressed chunks, and per key (an address, or a topic at a position)
//! the posting list of the logs that carry it, found through a bucketed table of keyed hashes.
//! Owns the byte format, the streaming [`Builder`] and the positioned-read [`IndexFile`]. It never
//! decides when a file is written or trusted: `build.rs` does (tmp, fsync, rename, then seal).
//!
//! ```text
//! header (80 bytes, LE)  magic "HLOGIDX1" | version u32 | buckets log2 u32 | first block u64 |
//!                        blocks u32 | logs u32 | keys u32 | chunks u32 | seed u64 |
//!                        body length u64 | dictionary length u64 | chunk data length u64 |
//!                        body crc32 u32 | header crc32 u32
//! body, in order
//!   dictionary           a zstd dictionary trained on the shard's first chunks (may be empty)
//!   chunk data           zstd frames of CHUNK logs each, compressed with the dictionary; a log:
//!                          varint tx index | tx hash 32 | address 20 | topic count u8 |
//!                          topics 32 each | varint data length | data
//!   chunk offsets        (chunks + 1) u64: start of each frame in the body, then the end
//!   block table          blocks × (hash 32 | timestamp u64)
//!   first logs           (blocks + 1) u32: id of each block's first log, then the log count
//!   buckets              (2^bits + 1) u32: first key of each bucket (top bits of the key hash)
//!   keys                 keys × (key hash u64 | posting list offset u64), ascending by hash
//!   postings             the lists (postings.rs), in key order; a list ends where the next begins
//! ```
//!
//! A log's id is its position in the shard (block order, then log order), so an id names
//! (block, block-wide log index) through the first-logs table, and ids sort like the answer.

use std::io::Write;
use std::path::{Path, PathBuf};

use alloy_primitives::{Address, B256, Bytes, Log, LogData};

use super::postings::{self, List, get_varint, put_varint};
use super::query::log_keys;
use super::runs::{RUN, Runs};
use crate::storage::backend::StoreFile;
use crate::storage::error::{CorruptError, FileError};
use crate::storage::fsio;
use crate::storage::layout::{u32_at, u64_at};
use crate::storage::record::LogView;

const MAGIC: &[u8; 8] = b"HLOGIDX1";
/// Version 2: a dictionary, 32-log chunks (version 1 files are rewritten on open).
const VERSION: u32 = 2;
/// Header bytes.
pub const HEADER: usize = 80;
/// Logs per compressed chunk: a matched log costs decompressing at most this many (32: on
/// mainnet-like blocks about 7 KiB, a few microseconds; 16 took 16% more bytes on the real
/// mainnet blocks). At most 64 (a chunk's wanted logs are a `u64` mask).
pub const CHUNK: usize = 32;
const BLOCK_ENTRY: usize = 40;
const KEY_ENTRY: usize = 16;
/// zstd level of the chunks (zstd's default: levels 9 and 19 saved 3-4% on the real mainnet
/// blocks, for several times the build time).
const ZSTD_LEVEL: i32 = 3;
/// Raw chunk bytes the dictionary is trained on: the shard's first chunks (about 30 mainnet
/// blocks; the contracts and events of a shard's first blocks are those of the rest). Held in
/// memory until the dictionary exists, then compressed with it.
const DICT_SAMPLE: usize = 2 << 20;
/// Dictionary size: the common addresses, topics and data words of a shard. Trained on other
/// blocks than the ones compressed, it cut the chunk bytes of the real mainnet blocks by 19%.
const DICT_SIZE: usize = 64 << 10;
/// Bytes read first of a posting list: its count and the skip table of a list of up to 64k ids,
/// or all of a short list, in one read.
const LIST_PREFIX: u64 = 4096;
/// Largest decompressed chunk accepted (a bound against a damaged frame).
const MAX_CHUNK: usize = 64 << 20;

thread_local! {
    // One context per thread: creating one per chunk costs more than decoding a small chunk.
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::zstd_safe::DCtx<'static>>> =
        const { std::cell::RefCell::new(None) };
}

/// The parsed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub bucket_bits: u32,
    pub first_block: u64,
    pub blocks: u32,
    pub logs: u32,
    pub keys: u32,
    pub chunks: u32,
    pub seed: u64,
    pub body_len: u64,
    pub dict_len: u64,
    pub chunk_data: u64,
    pub body_crc: u32,
}

impl Header {
    fn encode(&self) -> [u8; HEADER] {
        let mut h = [0u8; HEADER];
        h[0..8].copy_from_slice(MAGIC);
        h[8..12].copy_from_slice(&VERSION.to_le_bytes());
        h[12..16].copy_from_slice(&self.bucket_bits.to_le_bytes());
        h[16..24].copy_from_slice(&self.first_block.to_le_bytes());
        h[24..28].copy_from_slice(&self.blocks.to_le_bytes());
        h[28..32].copy_from_slice(&self.logs.to_le_bytes());
        h[32..36].copy_from_slice(&self.keys.to_le_bytes());
        h[36..40].copy_from_slice(&self.chunks.to_le_bytes());
        h[40..48].copy_from_slice(&self.seed.to_le_bytes());
        h[48..56].copy_from_slice(&self.body_len.to_le_bytes());
        h[56..64].copy_from_slice(&self.dict_len.to_le_bytes());
        h[64..72].copy_from_slice(&self.chunk_data.to_le_bytes());
        h[72..76].copy_from_slice(&self.body_crc.to_le_bytes());
        let crc = crc32fast::hash(&h[..76]);
        h[76..80].copy_from_slice(&crc.to_le_bytes());
        h
    }

    /// Whether `h` is the header of an index file of another version (rewritten on open).
    pub fn other_version(h: &[u8]) -> bool {
        h.len() >= 12 && &h[0..8] == MAGIC && h[8..12] != VERSION.to_le_bytes()
    }

    fn decode(h: &[u8; HEADER]) -> Result<Self, &'static str> {
        if &h[0..8] != MAGIC {
            return Err("not a log index (magic)");
        }
        if u32_at(h, 8) != VERSION {
            return Err("unknown log index version");
        }
        if u32_at(h, 76) != crc32fast::hash(&h[..76]) {
            return Err("header checksum");
        }
        let hdr = Self {
            bucket_bits: u32_at(h, 12),
            first_block: u64_at(h, 16),
            blocks: u32_at(h, 24),
            logs: u32_at(h, 28),
            keys: u32_at(h, 32),
            chunks: u32_at(h, 36),
            seed: u64_at(h, 40),
            body_len: u64_at(h, 48),
            dict_len: u64_at(h, 56),
            chunk_data: u64_at(h, 64),
            body_crc: u32_at(h, 72),
        };
        if hdr.bucket_bits > 32
            || hdr.chunks as usize != (hdr.logs as usize).div_ceil(CHUNK)
            || hdr.sections()[5] > (HEADER as u64).saturating_add(hdr.body_len)
        {
            return Err("inconsistent header");
        }
        Ok(hdr)
    }

    /// Offsets in the file of each section after the chunk data: chunk offsets, block table,
    /// first logs, buckets, keys, postings.
    fn sections(&self) -> [u64; 6] {
        let chunk_offsets = (HEADER as u64)
            .saturating_add(self.dict_len)
            .saturating_add(self.chunk_data);
        let blocks = chunk_offsets.saturating_add(8 * (u64::from(self.chunks) + 1));
        // Saturating: a header that passed its checksum but names absurd sizes is refused by the
        // caller's length check, never an overflow.
        let first_logs = blocks.saturating_add(BLOCK_ENTRY as u64 * u64::from(self.blocks));
        let buckets = first_logs.saturating_add(4 * (u64::from(self.blocks) + 1));
        let keys = buckets.saturating_add(4 * ((1u64 << self.bucket_bits.min(32)) + 1));
        let postings = keys.saturating_add(KEY_ENTRY as u64 * u64::from(self.keys));
        [chunk_offsets, blocks, first_logs, buckets, keys, postings]
    }
}

/// A sink that counts and checksums what passes through it.
struct Body<W> {
    out: W,
    len: u64,
    crc: crc32fast::Hasher,
}

impl<W: Write> Body<W> {
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.out.write_all(bytes)?;
        self.len += bytes.len() as u64;
        self.crc.update(bytes);
        Ok(())
    }
}

/// Builds an index file from a shard's blocks, in order. The first [`DICT_SAMPLE`] bytes of
/// chunks are held until the dictionary is trained on them; after that chunks stream to the
/// writer as they fill. What stays in memory is the (key hash, id) pairs packed in runs (some
/// 2-3 bytes a pair, `runs.rs`), the block table and, at the end, the postings.
pub struct Builder<W> {
    body: Body<W>,
    seed: u64,
    first_block: u64,
    blocks: Vec<[u8; BLOCK_ENTRY]>,
    first_logs: Vec<u32>,
    chunk_offsets: Vec<u64>,
    chunk: Vec<u8>,
    in_chunk: usize,
    logs: u32,
    /// (key hash, id) of every key each log carries, packed in runs (bounded memory).
    pairs: Runs,
    /// Raw chunks held for training the dictionary (`None` once it is written).
    samples: Option<Vec<Vec<u8>>>,
    sampled: usize,
    dict_len: u64,
    zstd: zstd::bulk::Compressor<'static>,
    /// The last chunk's zstd frame (its buffer reused).
    frame: Vec<u8>,
}

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Writing failed.
    #[error("writing the log index: {0}")]
    Io(#[from] std::io::Error),
    /// More logs than ids (4 billion in one shard).
    #[error("more than {} logs in one shard", u32::MAX)]
    TooManyLogs,
}

impl<W: Write> Builder<W> {
    /// A builder writing the body to `out` (the caller reserves [`HEADER`] bytes before it and
    /// writes [`Builder::finish`]'s header there).
    pub fn new(out: W, seed: u64, first_block: u64) -> Result<Self, BuildError> {
        Ok(Self {
            body: Body {
                out,
                len: 0,
                crc: crc32fast::Hasher::new(),
            },
            seed,
            first_block,
            blocks: Vec::new(),
            first_logs: Vec::new(),
            chunk_offsets: Vec::new(),
            chunk: Vec::new(),
            in_chunk: 0,
            logs: 0,
            pairs: Runs::new(RUN),
            samples: Some(Vec::new()),
            sampled: 0,
            dict_len: 0,
            zstd: zstd::bulk::Compressor::new(ZSTD_LEVEL)?,
            frame: Vec::new(),
        })
    }

    /// Starts the next block: its hash and timestamp (its logs follow, [`Builder::push_log`]).
    pub fn begin_block(&mut self, hash: B256, timestamp: u64) {
        let mut entry = [0u8; BLOCK_ENTRY];
        entry[..32].copy_from_slice(hash.as_slice());
        entry[32..].copy_from_slice(&timestamp.to_le_bytes());
        self.blocks.push(entry);
        self.first_logs.push(self.logs);
    }

    /// Adds the current block's next log, borrowed from its stored receipts: `tx` is the index
    /// of the transaction that emitted it, `tx_hash` that transaction's hash.
    pub fn push_log(
        &mut self,
        tx: usize,
        tx_hash: &B256,
        log: LogView<'_>,
    ) -> Result<(), BuildError> {
        self.push_fields(tx, tx_hash, log.address, log.topics(), log.data)
    }

    /// Adds the next block from decoded receipts (the path the build took before it walked the
    /// stored receipts: tests compare the two).
    #[cfg(test)]
    pub fn push_block(
        &mut self,
        hash: B256,
        timestamp: u64,
        tx_hashes: &[B256],
        receipts: &[crate::primitives::Receipt],
    ) -> Result<(), BuildError> {
        self.begin_block(hash, timestamp);
        for (tx, r) in receipts.iter().enumerate() {
            let tx_hash = tx_hashes.get(tx).copied().unwrap_or_default();
            for log in &r.logs {
                let topics = log.topics().iter().map(|t| t.as_slice());
                self.push_fields(tx, &tx_hash, &log.address.0, topics, &log.data.data)?;
            }
        }
        Ok(())
    }

    fn push_fields<'t>(
        &mut self,
        tx: usize,
        tx_hash: &B256,
        address: &[u8; 20],
        topics: impl ExactSizeIterator<Item = &'t [u8]> + Clone,
        data: &[u8],
    ) -> Result<(), BuildError> {
        let id = self.logs;
        self.logs = self.logs.checked_add(1).ok_or(BuildError::TooManyLogs)?;
        log_keys(self.seed, address, topics.clone(), |k| {
            self.pairs.push(k, id)
        });
        encode_log(&mut self.chunk, tx as u64, tx_hash, address, topics, data);
        self.in_chunk += 1;
        if self.in_chunk == CHUNK {
            self.flush_chunk()?;
        }
        Ok(())
    }

    fn flush_chunk(&mut self) -> Result<(), BuildError> {
        if self.in_chunk == 0 {
            return Ok(());
        }
        self.in_chunk = 0;
        if let Some(samples) = &mut self.samples {
            self.sampled += self.chunk.len();
            samples.push(std::mem::take(&mut self.chunk));
            if self.sampled >= DICT_SAMPLE {
                self.write_dictionary()?;
            }
            return Ok(());
        }
        let chunk = std::mem::take(&mut self.chunk);
        self.compress(&chunk)?;
        self.chunk = chunk;
        self.chunk.clear();
        Ok(())
    }

    fn compress(&mut self, chunk: &[u8]) -> Result<(), BuildError> {
        // Into a buffer kept from chunk to chunk, sized to zstd's bound as `compress` sizes a
        // fresh one (same bytes), without an allocation per chunk.
        self.frame.clear();
        self.frame
            .reserve(zstd::zstd_safe::compress_bound(chunk.len()));
        self.zstd.compress_to_buffer(chunk, &mut self.frame)?;
        self.body.put(&self.frame)?;
        self.chunk_offsets.push(self.body.len);
        Ok(())
    }

    /// Trains the dictionary on the held chunks, writes it, then compresses them with it. Too
    /// few samples to train on (a shard of small blocks) leaves the dictionary empty: the
    /// chunks are compressed without one.
    fn write_dictionary(&mut self) -> Result<(), BuildError> {
        let samples = self.samples.take().unwrap_or_default();
        // zstd's trainer is deterministic: a rebuild (`db verify`) writes the same bytes.
        let dict = if samples.len() >= 16 {
            zstd::dict::from_samples(&samples, DICT_SIZE).unwrap_or_default()
        } else {
            Vec::new()
        };
        if !dict.is_empty() {
            self.body.put(&dict)?;
            self.zstd = zstd::bulk::Compressor::with_dictionary(ZSTD_LEVEL, &dict)?;
            // The reader knows the dictionary: four bytes per frame saved.
            self.zstd
                .set_parameter(zstd::zstd_safe::CParameter::DictIdFlag(false))?;
        }
        self.dict_len = dict.len() as u64;
        self.chunk_offsets.push(self.body.len);
        for chunk in &samples {
            self.compress(chunk)?;
        }
        Ok(())
    }

    /// Writes the tables and returns the header to put at the start of the file, and the writer.
    pub fn finish(mut self) -> Result<([u8; HEADER], W), BuildError> {
        self.flush_chunk()?;
        if self.samples.is_some() {
            self.write_dictionary()?;
        }
        self.first_logs.push(self.logs);
        // Keys and their lists.
        let mut keys: Vec<(u64, u64)> = Vec::new();
        let mut postings_bytes = Vec::new();
        std::mem::replace(&mut self.pairs, Runs::new(1)).merge(|k, ids| {
            keys.push((k, postings_bytes.len() as u64));
            postings::encode(ids, &mut postings_bytes);
        });
        // About four keys per bucket: one small read finds a key.
        let bits = (keys.len() / 4).max(1).next_power_of_two().trailing_zeros();
        let mut buckets = vec![0u32; (1usize << bits) + 1];
        for (k, _) in &keys {
            buckets[bucket_of(*k, bits) + 1] += 1;
        }
        for b in 1..buckets.len() {
            buckets[b] += buckets[b - 1];
        }
        let mut tables = Vec::new();
        for off in &self.chunk_offsets {
            tables.extend_from_slice(&off.to_le_bytes());
        }
        for b in &self.blocks {
            tables.extend_from_slice(b);
        }
        for f in &self.first_logs {
            tables.extend_from_slice(&f.to_le_bytes());
        }
        for b in &buckets {
            tables.extend_from_slice(&b.to_le_bytes());
        }
        for (k, off) in &keys {
            tables.extend_from_slice(&k.to_le_bytes());
            tables.extend_from_slice(&off.to_le_bytes());
        }
        self.body.put(&tables)?;
        self.body.put(&postings_bytes)?;
        let chunk_data = self.chunk_offsets.last().copied().unwrap_or(0) - self.dict_len;
        let header = Header {
            chunk_data,
            bucket_bits: bits,
            first_block: self.first_block,
            blocks: self.blocks.len() as u32,
            logs: self.logs,
            keys: keys.len() as u32,
            chunks: (self.chunk_offsets.len() - 1) as u32,
            seed: self.seed,
            body_len: self.body.len,
            dict_len: self.dict_len,
            body_crc: self.body.crc.clone().finalize(),
        };
        Ok((header.encode(), self.body.out))
    }
}

fn bucket_of(key: u64, bits: u32) -> usize {
    if bits == 0 {
        0
    } else {
        (key >> (64 - bits)) as usize
    }
}

fn encode_log<'t>(
    out: &mut Vec<u8>,
    tx: u64,
    tx_hash: &B256,
    address: &[u8; 20],
    topics: impl ExactSizeIterator<Item = &'t [u8]>,
    data: &[u8],
) {
    put_varint(out, tx);
    out.extend_from_slice(tx_hash.as_slice());
    out.extend_from_slice(address);
    out.push(topics.len() as u8);
    for t in topics {
        out.extend_from_slice(t);
    }
    put_varint(out, data.len() as u64);
    out.extend_from_slice(data);
}

/// One log as the index stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkLog {
    pub tx_index: u64,
    pub tx_hash: B256,
    pub log: Log,
}

fn decode_log(buf: &[u8], pos: &mut usize) -> Option<ChunkLog> {
    let tx_index = get_varint(buf, pos)?;
    let take = |pos: &mut usize, n: usize| -> Option<&[u8]> {
        let s = buf.get(*pos..pos.checked_add(n)?)?;
        *pos += n;
        Some(s)
    };
    let tx_hash = B256::from_slice(take(pos, 32)?);
    let address = Address::from_slice(take(pos, 20)?);
    let n = *take(pos, 1)?.first()? as usize;
    let mut topics = Vec::with_capacity(n);
    for _ in 0..n {
        topics.push(B256::from_slice(take(pos, 32)?));
    }
    let len = usize::try_from(get_varint(buf, pos)?).ok()?;
    let data = Bytes::copy_from_slice(take(pos, len)?);
    Some(ChunkLog {
        tx_index,
        tx_hash,
        log: Log {
            address,
            data: LogData::new_unchecked(topics, data),
        },
    })
}

/// Steps over one encoded log.
fn skip_log(buf: &[u8], pos: &mut usize) -> Option<()> {
    get_varint(buf, pos)?;
    let topics_at = pos.checked_add(52)?;
    let n = usize::from(*buf.get(topics_at)?);
    *pos = topics_at + 1 + 32 * n;
    let len = usize::try_from(get_varint(buf, pos)?).ok()?;
    *pos = pos.checked_add(len).filter(|&end| end <= buf.len())?;
    Some(())
}

/// A posting list as read for one walk ([`IndexFile::read_list`]).
#[derive(Debug)]
pub struct ListBytes {
    count: usize,
    /// The list's first bytes: its count and skip table at least (all of a short list).
    head: Vec<u8>,
    /// Length of the count and skip table.
    header: usize,
    /// Block data from byte `base` of the list's data.
    data: Vec<u8>,
    base: usize,
}

impl ListBytes {
    /// Ids in the whole list.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The list to walk (a long list's blocks outside the read window are errors).
    pub fn list(&self) -> List<'_> {
        if self.count <= postings::BLOCK {
            return List::window(self.count, &[], &self.data, 0);
        }
        let table = self.count.div_ceil(postings::BLOCK) * 8;
        List::window(
            self.count,
            &self.head[self.header - table..self.header],
            &self.data,
            self.base,
        )
    }
}

/// An index file opened for queries: the header and section offsets, then positioned reads.
pub struct IndexFile {
    file: Box<dyn StoreFile>,
    path: PathBuf,
    pub header: Header,
    sections: [u64; 6],
    /// The chunks' dictionary, prepared for decompression (`None`: chunks without one).
    dict: Option<zstd::zstd_safe::DDict<'static>>,
}

impl std::fmt::Debug for IndexFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexFile")
            .field("path", &self.path)
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

impl IndexFile {
    /// Opens `path` and checks its header and size (not its body checksum: [`Self::check_body`]).
    pub fn open(fs: &dyn crate::storage::FileSystem, path: &Path) -> Result<Self, FileError> {
        let file = fsio::open_read(fs, path)?;
        let mut h = [0u8; HEADER];
        fsio::read_exact_at(&*file, path, &mut h, 0)?;
        let header = Header::decode(&h).map_err(|what| corrupt(path, 0, what))?;
        let len = fsio::file_len(&*file, path)?;
        if len != (HEADER as u64).saturating_add(header.body_len) {
            return Err(corrupt(path, len, "file length differs from its header"));
        }
        let dict = if header.dict_len == 0 {
            None
        } else {
            let len = usize::try_from(header.dict_len)
                .ok()
                .filter(|&l| l <= DICT_SIZE)
                .ok_or_else(|| corrupt(path, 56, "dictionary length"))?;
            let mut bytes = vec![0u8; len];
            fsio::read_exact_at(&*file, path, &mut bytes, HEADER as u64)?;
            Some(
                zstd::zstd_safe::DDict::try_create(&bytes)
                    .ok_or_else(|| corrupt(path, HEADER as u64, "dictionary does not load"))?,
            )
        };
        Ok(Self {
            file,
            path: path.to_path_buf(),
            sections: header.sections(),
            header,
            dict,
        })
    }

    fn read(&self, offset: u64, len: usize) -> Result<Vec<u8>, FileError> {
        let mut buf = vec![0u8; len];
        fsio::read_exact_at(&*self.file, &self.path, &mut buf, offset)?;
        Ok(buf)
    }

    fn damaged(&self, what: &'static str) -> FileError {
        corrupt(&self.path, 0, what)
    }

    /// Reads the whole body and compares its checksum with the header's.
    pub fn check_body(&self) -> Result<(), FileError> {
        let mut crc = crc32fast::Hasher::new();
        let mut off = HEADER as u64;
        let end = HEADER as u64 + self.header.body_len;
        while off < end {
            let n = (end - off).min(1 << 20) as usize;
            crc.update(&self.read(off, n)?);
            off += n as u64;
        }
        if crc.finalize() != self.header.body_crc {
            return Err(self.damaged("body checksum differs from the header's"));
        }
        Ok(())
    }

    /// The id of the first log of each block in `from ..= to` (positions in the shard), and the
    /// id after the last block's last log.
    pub fn first_logs(&self, from: u32, to: u32) -> Result<Vec<u32>, FileError> {
        if to >= self.header.blocks || from > to {
            return Err(self.damaged("block position outside the shard"));
        }
        let bytes = self.read(
            self.sections[2] + 4 * u64::from(from),
            4 * (to - from + 2) as usize,
        )?;
        Ok(bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    /// Hash and timestamp of the block at position `pos`.
    pub fn block(&self, pos: u32) -> Result<(B256, u64), FileError> {
        let b = self.read(
            self.sections[1] + (BLOCK_ENTRY as u64) * u64::from(pos),
            BLOCK_ENTRY,
        )?;
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&b[32..]);
        Ok((B256::from_slice(&b[..32]), u64::from_le_bytes(ts)))
    }

    /// Where the posting list of `key` lies in the file, (offset, length) (`None`: no log
    /// carries it).
    pub fn postings(&self, key: u64) -> Result<Option<(u64, u64)>, FileError> {
        let bits = self.header.bucket_bits;
        let b = self.read(self.sections[3] + 4 * bucket_of(key, bits) as u64, 8)?;
        let (start, end) = (u32_at(&b, 0), u32_at(&b, 4));
        if start > end || end > self.header.keys {
            return Err(self.damaged("bucket table"));
        }
        if start == end {
            return Ok(None);
        }
        // One entry past the bucket tells where the last list ends.
        let with_next = (end < self.header.keys) as u32;
        let entries = self.read(
            self.sections[4] + (KEY_ENTRY as u64) * u64::from(start),
            KEY_ENTRY * (end - start + with_next) as usize,
        )?;
        let entry = |i: usize| {
            let e = &entries[i * KEY_ENTRY..(i + 1) * KEY_ENTRY];
            let mut k = [0u8; 8];
            let mut o = [0u8; 8];
            k.copy_from_slice(&e[..8]);
            o.copy_from_slice(&e[8..]);
            (u64::from_le_bytes(k), u64::from_le_bytes(o))
        };
        let n = (end - start) as usize;
        let Some(i) = (0..n).find(|&i| entry(i).0 == key) else {
            return Ok(None);
        };
        let from = entry(i).1;
        let postings_len = HEADER as u64 + self.header.body_len - self.sections[5];
        let to = if i + 1 < n || with_next == 1 {
            entry(i + 1).1
        } else {
            postings_len
        };
        if from > to || to > postings_len {
            return Err(self.damaged("key table"));
        }
        Ok(Some((self.sections[5] + from, to - from)))
    }

    /// The posting list at `at` (from [`Self::postings`]) read for a walk over ids `lo .. hi`:
    /// its count and skip table, and of a long list only the blocks that walk touches (a list
    /// of a common topic runs to megabytes; a query over a few blocks needs a few hundred bytes).
    pub fn read_list(
        &self,
        (at, len): (u64, u64),
        lo: u32,
        hi: u32,
    ) -> Result<ListBytes, FileError> {
        let prefix = self.read(at, len.min(LIST_PREFIX) as usize)?;
        let bad = |_| self.damaged("posting list");
        let (count, header) = List::header_len(&prefix).map_err(bad)?;
        if header as u64 > len {
            return Err(self.damaged("posting list"));
        }
        let head = if header <= prefix.len() {
            prefix
        } else {
            self.read(at, header)?
        };
        if count <= postings::BLOCK {
            let data = if len <= LIST_PREFIX {
                head[header..].to_vec()
            } else {
                self.read(at + header as u64, (len - header as u64) as usize)?
            };
            return Ok(ListBytes {
                count,
                head,
                header,
                data,
                base: 0,
            });
        }
        let table = &head[header - count.div_ceil(postings::BLOCK) * 8..header];
        let data_len = (len - header as u64) as usize;
        let (start, end) = List::data_span(table, lo, hi);
        let end = end.unwrap_or(data_len);
        if start > end || end > data_len {
            return Err(self.damaged("posting list skip table"));
        }
        let data = if len <= LIST_PREFIX {
            head[header + start..header + end].to_vec()
        } else {
            self.read(at + (header + start) as u64, end - start)?
        };
        Ok(ListBytes {
            count,
            head,
            header,
            data,
            base: start,
        })
    }

    /// The logs of chunk `c`: those whose bit is set in `wanted` decoded, the others `None`
    /// (stepped over without allocating).
    pub fn chunk(&self, c: u32, wanted: u64) -> Result<Vec<Option<ChunkLog>>, FileError> {
        if c >= self.header.chunks {
            return Err(self.damaged("chunk number"));
        }
        let o = self.read(self.sections[0] + 8 * u64::from(c), 16)?;
        let mut a = [0u8; 8];
        let mut b = [0u8; 8];
        a.copy_from_slice(&o[..8]);
        b.copy_from_slice(&o[8..]);
        let (from, to) = (u64::from_le_bytes(a), u64::from_le_bytes(b));
        if from > to
            || from < self.header.dict_len
            || (HEADER as u64).saturating_add(to) > self.sections[0]
        {
            return Err(self.damaged("chunk offsets"));
        }
        let frame = self.read(HEADER as u64 + from, (to - from) as usize)?;
        // The frame records its size (the builder's compressor writes it): allocate exactly that,
        // never the bound, which would cost a large allocation per matched chunk.
        let size = zstd::zstd_safe::get_frame_content_size(&frame)
            .ok()
            .flatten()
            .and_then(|s| usize::try_from(s).ok())
            .filter(|&s| s <= MAX_CHUNK)
            .ok_or_else(|| self.damaged("chunk without a readable size"))?;
        let mut raw = Vec::with_capacity(size);
        DECOMPRESSOR
            .with(|d| {
                let mut d = d.borrow_mut();
                if d.is_none() {
                    *d = zstd::zstd_safe::DCtx::try_create();
                }
                d.as_mut().map(|d| match &self.dict {
                    Some(dict) => d.decompress_using_ddict(&mut raw, &frame, dict),
                    None => d.decompress(&mut raw, &frame),
                })
            })
            .ok_or_else(|| self.damaged("no zstd context"))?
            .map_err(|_| self.damaged("chunk does not decompress"))?;
        let expected = CHUNK.min(self.header.logs as usize - c as usize * CHUNK);
        let mut out = Vec::with_capacity(expected);
        let mut pos = 0;
        while pos < raw.len() {
            let i = out.len();
            let log = if i < 64 && wanted & (1 << i) != 0 {
                Some(decode_log(&raw, &mut pos).ok_or_else(|| self.damaged("log in chunk"))?)
            } else {
                skip_log(&raw, &mut pos).ok_or_else(|| self.damaged("log in chunk"))?;
                None
            };
            out.push(log);
        }
        if out.len() != expected {
            return Err(self.damaged("chunk holds the wrong number of logs"));
        }
        Ok(out)
    }

    /// Path of the file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn corrupt(path: &Path, offset: u64, what: &str) -> FileError {
    CorruptError {
        path: path.to_path_buf(),
        offset,
        what: format!("log index: {what}"),
    }
    .into()
}
