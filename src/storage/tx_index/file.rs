//! The transaction index file of one sealed shard (`shards/<first>/txs-<gen>.idx`): every
//! transaction of the shard as (hash prefix, block, index in block), sorted by prefix, with a
//! bucket table over the prefix's top bits so a lookup is two positioned reads (the bucket's
//! bounds, then its entries). Owns the byte format, [`encode`] and the positioned-read
//! [`TxFile`]. It never decides when a file is written or trusted: `build.rs` does. A run of
//! many shards (`run.rs`) is the same format over the run's blocks, with its cover after the
//! body ([`TxFile::open_with_trailer`]) and its body streamed from a merge ([`write_sorted`]).
//!
//! ```text
//! header (48 bytes, LE)  magic "HTXIDX01" | version u32 | bucket bits u32 | first block u64 |
//!                        blocks u32 | entries u32 | body length u64 | body crc32 u32 |
//!                        header crc32 u32
//! body, in order
//!   buckets              (2^bits + 1) u32: first entry of each bucket (top bits of the prefix),
//!                        then the entry count
//!   entries              entries × (prefix u64 BE | block offset in shard u32 | tx index u32),
//!                        ascending
//! ```

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::storage::backend::StoreFile;
use crate::storage::error::{CorruptError, FileError};
use crate::storage::fsio;
use crate::storage::layout::{u32_at, u64_at};

const MAGIC: &[u8; 8] = b"HTXIDX01";
const VERSION: u32 = 1;
/// Header bytes.
pub const HEADER: usize = 48;
/// Bytes of one entry.
const ENTRY: usize = 16;
/// Entries a bucket holds on average: a lookup reads about this many (~128 bytes) after the
/// bucket bounds, and the table costs 4 / 8 bytes per entry.
const PER_BUCKET: u64 = 8;
/// Most bucket bits (a 64 MiB table): far above any shard's need.
const MAX_BITS: u32 = 24;

/// One transaction: the first 8 bytes of its hash (big-endian, so entries sort like hashes),
/// its block's offset in the shard and its index in the block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    pub prefix: u64,
    pub offset: u32,
    pub index: u32,
}

/// The parsed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub bucket_bits: u32,
    pub first_block: u64,
    pub blocks: u32,
    pub entries: u32,
    pub body_len: u64,
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
        h[28..32].copy_from_slice(&self.entries.to_le_bytes());
        h[32..40].copy_from_slice(&self.body_len.to_le_bytes());
        h[40..44].copy_from_slice(&self.body_crc.to_le_bytes());
        let crc = crc32fast::hash(&h[..44]);
        h[44..48].copy_from_slice(&crc.to_le_bytes());
        h
    }

    fn decode(h: &[u8; HEADER]) -> Result<Self, &'static str> {
        if &h[0..8] != MAGIC {
            return Err("not a transaction index (bad magic)");
        }
        if u32_at(h, 8) != VERSION {
            return Err("unsupported transaction index version");
        }
        if crc32fast::hash(&h[..44]) != u32_at(h, 44) {
            return Err("header checksum mismatch");
        }
        let header = Self {
            bucket_bits: u32_at(h, 12),
            first_block: u64_at(h, 16),
            blocks: u32_at(h, 24),
            entries: u32_at(h, 28),
            body_len: u64_at(h, 32),
            body_crc: u32_at(h, 40),
        };
        if header.bucket_bits > MAX_BITS || header.body_len != header.expected_body_len() {
            return Err("header sizes disagree");
        }
        Ok(header)
    }

    fn expected_body_len(&self) -> u64 {
        ((1u64 << self.bucket_bits) + 1) * 4 + u64::from(self.entries) * ENTRY as u64
    }

    fn bucket_of(&self, prefix: u64) -> u64 {
        if self.bucket_bits == 0 {
            0
        } else {
            prefix >> (64 - self.bucket_bits)
        }
    }
}

impl Header {
    /// The header of a file of `count` entries over `blocks` blocks from `first_block` (its
    /// body checksum is the writer's to fill in); `None` if a `u32` cannot count the entries.
    pub fn for_entries(first_block: u64, blocks: u32, count: u64) -> Option<Self> {
        let entries = u32::try_from(count).ok()?;
        let wanted = (count / PER_BUCKET).max(1);
        let mut header = Header {
            bucket_bits: (64 - wanted.leading_zeros()).min(MAX_BITS),
            first_block,
            blocks,
            entries,
            body_len: 0,
            body_crc: 0,
        };
        header.body_len = header.expected_body_len();
        Some(header)
    }

    /// How many buckets the table has.
    pub fn buckets(&self) -> usize {
        1 << self.bucket_bits
    }

    /// The bucket of a prefix (its top `bucket_bits` bits).
    pub fn bucket(&self, prefix: u64) -> usize {
        self.bucket_of(prefix) as usize
    }
}

/// Writes the body of the file for the shard starting at `first_block` with `blocks` blocks
/// to `out` (which must be placed [`HEADER`] bytes into the file) and returns the header to
/// write at its start. Sorts `entries`; streams the body, so the only memory it takes is the
/// entries' own. `Ok(None)` if the shard has more transactions than a `u32` counts.
pub fn write_body<W: Write>(
    out: &mut W,
    first_block: u64,
    blocks: u32,
    mut entries: Vec<Entry>,
) -> io::Result<Option<[u8; HEADER]>> {
    entries.sort_unstable();
    let Some(header) = Header::for_entries(first_block, blocks, entries.len() as u64) else {
        return Ok(None);
    };
    let mut counts = vec![0u32; header.buckets()];
    for e in &entries {
        counts[header.bucket(e.prefix)] += 1;
    }
    write_sorted(out, header, &counts, entries.into_iter()).map(Some)
}

/// Writes a body of already sorted `entries` (exactly `header.entries` of them, `counts[b]` in
/// bucket `b`) to `out`, placed [`HEADER`] bytes into the file, and returns the header with the
/// body's checksum. Streams: a run merged from many shards' files (`run.rs`) never holds its
/// entries in memory. Fails if the entries are not as many as the header says.
pub fn write_sorted<W: Write>(
    out: &mut W,
    mut header: Header,
    counts: &[u32],
    entries: impl Iterator<Item = Entry>,
) -> io::Result<[u8; HEADER]> {
    let mut crc = crc32fast::Hasher::new();
    let mut put = |bytes: &[u8]| -> io::Result<()> {
        crc.update(bytes);
        out.write_all(bytes)
    };
    // Bucket b starts after every entry of the buckets before it.
    let mut start = 0u32;
    put(&start.to_le_bytes())?;
    for c in counts {
        start = start.wrapping_add(*c);
        put(&start.to_le_bytes())?;
    }
    let mut written = 0u64;
    for x in entries {
        let mut entry = [0u8; ENTRY];
        entry[0..8].copy_from_slice(&x.prefix.to_be_bytes());
        entry[8..12].copy_from_slice(&x.offset.to_le_bytes());
        entry[12..16].copy_from_slice(&x.index.to_le_bytes());
        put(&entry)?;
        written += 1;
    }
    if counts.len() != header.buckets()
        || start != header.entries
        || written != u64::from(header.entries)
    {
        return Err(io::Error::other(format!(
            "{written} entries written, the header says {}",
            header.entries
        )));
    }
    header.body_crc = crc.finalize();
    Ok(header.encode())
}

/// The whole file (header, then body) in memory ([`write_body`]; `db verify` and tests).
pub fn encode(first_block: u64, blocks: u32, entries: Vec<Entry>) -> Option<Vec<u8>> {
    let mut out = vec![0u8; HEADER];
    let header = write_body(&mut out, first_block, blocks, entries).ok()??;
    out[..HEADER].copy_from_slice(&header);
    Some(out)
}

/// An open index file: its header read and checked, its body read on demand.
#[derive(Debug)]
pub struct TxFile {
    file: Box<dyn StoreFile>,
    path: PathBuf,
    pub header: Header,
}

impl TxFile {
    /// Opens `path` and checks its header (and that the file is as long as it says; the body's
    /// checksum is `db verify`'s: reading every shard's body on open would cost the start-up).
    pub fn open(fs: &dyn crate::storage::FileSystem, path: &Path) -> Result<Self, FileError> {
        let (file, len) = Self::open_with_trailer(fs, path)?;
        if len != file.len() {
            return Err(corrupt(
                path,
                len,
                format!("file is {len} bytes, its header says {}", file.len()),
            ));
        }
        Ok(file)
    }

    /// [`Self::open`] for a file with bytes after the body (a run's cover, `run.rs`): returns
    /// the file's whole length, at least [`Self::len`].
    pub fn open_with_trailer(
        fs: &dyn crate::storage::FileSystem,
        path: &Path,
    ) -> Result<(Self, u64), FileError> {
        let file = fsio::open_read(fs, path)?;
        let mut h = [0u8; HEADER];
        fsio::read_exact_at(&*file, path, &mut h, 0)?;
        let header = Header::decode(&h).map_err(|what| corrupt(path, 0, what.into()))?;
        let len = fsio::file_len(&*file, path)?;
        if len < HEADER as u64 + header.body_len {
            return Err(corrupt(
                path,
                len,
                format!(
                    "file is {len} bytes, its header says {}",
                    HEADER as u64 + header.body_len
                ),
            ));
        }
        let file = Self {
            file,
            path: path.to_path_buf(),
            header,
        };
        Ok((file, len))
    }

    /// Reads `buf.len()` bytes at `offset` (a run's cover after the body).
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<(), FileError> {
        fsio::read_exact_at(&*self.file, &self.path, buf, offset)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Adds the (block, index) of every entry with this prefix to `out`.
    pub fn candidates(&self, prefix: u64, out: &mut Vec<(u64, u32)>) -> Result<(), FileError> {
        let b = self.header.bucket_of(prefix);
        let mut bounds = [0u8; 8];
        fsio::read_exact_at(&*self.file, &self.path, &mut bounds, HEADER as u64 + b * 4)?;
        let (lo, hi) = (u32_at(&bounds, 0), u32_at(&bounds, 4));
        if lo > hi || hi > self.header.entries {
            return Err(corrupt(
                &self.path,
                HEADER as u64 + b * 4,
                format!("bucket {b} bounds {lo}..{hi} out of range"),
            ));
        }
        if lo == hi {
            return Ok(());
        }
        let entries_at = self.entries_at();
        let mut buf = vec![0u8; (hi - lo) as usize * ENTRY];
        fsio::read_exact_at(
            &*self.file,
            &self.path,
            &mut buf,
            entries_at + u64::from(lo) * ENTRY as u64,
        )?;
        for e in buf.chunks_exact(ENTRY) {
            let entry = decode_entry(e);
            if entry.prefix == prefix {
                out.push((
                    self.header.first_block + u64::from(entry.offset),
                    entry.index,
                ));
            }
        }
        Ok(())
    }

    /// The file's length in bytes (checked against the header on open).
    pub fn len(&self) -> u64 {
        HEADER as u64 + self.header.body_len
    }

    /// The whole body, its checksum checked (`db verify`).
    pub fn body(&self) -> Result<Vec<u8>, FileError> {
        let mut body = vec![0u8; self.header.body_len as usize];
        fsio::read_exact_at(&*self.file, &self.path, &mut body, HEADER as u64)?;
        if crc32fast::hash(&body) != self.header.body_crc {
            return Err(self.bad_body());
        }
        Ok(body)
    }

    fn bad_body(&self) -> FileError {
        corrupt(&self.path, HEADER as u64, "body checksum mismatch".into())
    }

    fn entries_at(&self) -> u64 {
        HEADER as u64 + ((1u64 << self.header.bucket_bits) + 1) * 4
    }

    /// Calls `each` with every entry, in order, reading the body in chunks and checking its
    /// checksum (a run is never merged from a damaged file, nor split into damaged files). The
    /// first pass of a run's merge (its bucket counts), a run's split and its check.
    pub fn scan_entries(&self, mut each: impl FnMut(Entry)) -> Result<(), FileError> {
        let mut crc = crc32fast::Hasher::new();
        let mut buf = vec![0u8; CHUNK];
        let mut at = HEADER as u64;
        let end = self.len();
        let entries_at = self.entries_at();
        while at < end {
            // Chunks end where the entries start, so every later chunk holds whole entries.
            let stop = if at < entries_at { entries_at } else { end };
            let n = (stop - at).min(CHUNK as u64) as usize;
            fsio::read_exact_at(&*self.file, &self.path, &mut buf[..n], at)?;
            crc.update(&buf[..n]);
            if at >= entries_at {
                for e in buf[..n].chunks_exact(ENTRY) {
                    each(decode_entry(e));
                }
            }
            at += n as u64;
        }
        if crc.finalize() != self.header.body_crc {
            return Err(self.bad_body());
        }
        Ok(())
    }

    /// Whether the bucket table holds the bounds `counts` (entries per bucket) give, read in
    /// chunks (`db verify` of a run, whose body is never read whole).
    pub fn buckets_match(&self, counts: &[u32]) -> Result<bool, FileError> {
        if counts.len() != self.header.buckets() {
            return Ok(false);
        }
        let mut want = Vec::with_capacity(counts.len() + 1);
        let mut start = 0u32;
        want.push(start);
        for c in counts {
            start = start.wrapping_add(*c);
            want.push(start);
        }
        let mut buf = vec![0u8; CHUNK];
        for (i, chunk) in want.chunks(CHUNK / 4).enumerate() {
            let bytes = &mut buf[..chunk.len() * 4];
            let at = HEADER as u64 + (i * CHUNK) as u64;
            fsio::read_exact_at(&*self.file, &self.path, bytes, at)?;
            if bytes
                .chunks_exact(4)
                .zip(chunk)
                .any(|(b, w)| u32_at(b, 0) != *w)
            {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The entries in order, read in chunks (the second pass of a run's merge).
    pub fn entries(&self) -> Entries<'_> {
        Entries {
            file: self,
            at: self.entries_at(),
            buf: Vec::new(),
            pos: 0,
        }
    }
}

/// Bytes read at once by the passes of a merge (a multiple of [`ENTRY`]): 64 open files hold
/// 4 MiB between them.
const CHUNK: usize = 4096 * ENTRY;

/// A file's entries in order ([`TxFile::entries`]).
#[derive(Debug)]
pub struct Entries<'a> {
    file: &'a TxFile,
    /// The file offset of the next chunk.
    at: u64,
    buf: Vec<u8>,
    /// The next entry's offset in `buf`.
    pos: usize,
}

impl Entries<'_> {
    /// The next entry, `None` after the last.
    pub fn next_entry(&mut self) -> Result<Option<Entry>, FileError> {
        if self.pos == self.buf.len() {
            let end = self.file.len();
            if self.at >= end {
                return Ok(None);
            }
            let n = (end - self.at).min(CHUNK as u64) as usize;
            self.buf.resize(n, 0);
            fsio::read_exact_at(&*self.file.file, &self.file.path, &mut self.buf, self.at)?;
            self.at += n as u64;
            self.pos = 0;
        }
        let e = decode_entry(&self.buf[self.pos..]);
        self.pos += ENTRY;
        Ok(Some(e))
    }
}

fn decode_entry(e: &[u8]) -> Entry {
    let mut p = [0u8; 8];
    p.copy_from_slice(&e[0..8]);
    Entry {
        prefix: u64::from_be_bytes(p),
        offset: u32_at(e, 8),
        index: u32_at(e, 12),
    }
}

fn corrupt(path: &Path, offset: u64, what: String) -> FileError {
    CorruptError {
        path: path.to_path_buf(),
        offset,
        what,
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_find_every_entry_and_only_matching_ones() {
        let entries: Vec<Entry> = (0..1000u64)
            .map(|i| Entry {
                prefix: i.wrapping_mul(0x9E37_79B9_7F4A_7C15),
                offset: (i / 7) as u32,
                index: (i % 7) as u32,
            })
            .collect();
        let bytes = encode(500, 200, entries.clone()).expect("fits");
        let mut h = [0u8; HEADER];
        h.copy_from_slice(&bytes[..HEADER]);
        let header = Header::decode(&h).expect("header");
        assert_eq!(header.entries, 1000);
        assert_eq!(bytes.len() as u64, HEADER as u64 + header.body_len);
        let entries_at = HEADER + ((1usize << header.bucket_bits) + 1) * 4;
        for e in &entries {
            let b = header.bucket_of(e.prefix) as usize;
            let at = |i: usize| {
                let o = HEADER + i * 4;
                u32::from_le_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize
            };
            let found: Vec<Entry> = (at(b)..at(b + 1))
                .map(|i| decode_entry(&bytes[entries_at + i * ENTRY..]))
                .filter(|x| x.prefix == e.prefix)
                .collect();
            assert_eq!(found, vec![*e]);
        }
    }

    #[test]
    fn a_streamed_body_must_have_the_entries_its_header_counts() {
        let header = Header::for_entries(0, 10, 3).expect("fits");
        let mut counts = vec![0u32; header.buckets()];
        let entries: Vec<Entry> = (0..3u64)
            .map(|i| Entry {
                prefix: i << 62,
                offset: i as u32,
                index: 0,
            })
            .collect();
        for e in &entries {
            counts[header.bucket(e.prefix)] += 1;
        }
        let mut out = Vec::new();
        let short = write_sorted(&mut out, header, &counts, entries[..2].iter().copied());
        assert!(short.is_err());
        // The whole stream writes what `write_body` writes from the unsorted entries.
        let mut streamed = vec![0u8; HEADER];
        let h =
            write_sorted(&mut streamed, header, &counts, entries.iter().copied()).expect("write");
        streamed[..HEADER].copy_from_slice(&h);
        let mut reversed = entries.clone();
        reversed.reverse();
        assert_eq!(Some(streamed), encode(0, 10, reversed));
    }

    #[test]
    fn a_damaged_header_is_refused() {
        let mut bytes = encode(0, 1, Vec::new()).expect("fits");
        let mut h = [0u8; HEADER];
        h.copy_from_slice(&bytes[..HEADER]);
        assert!(Header::decode(&h).is_ok());
        bytes[20] ^= 1;
        h.copy_from_slice(&bytes[..HEADER]);
        assert!(Header::decode(&h).is_err());
    }
}
