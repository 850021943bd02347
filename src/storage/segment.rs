//! Sorted segment files of a shard: `seg-<gen>.dat` (block frames, ascending) and `seg-<gen>.idx`
//! (one fixed-size offset-table entry per shard position), formats in `layout.rs`.
//!
//! Owns writing a segment (new generation, or appending at its committed tail), positioned reads of
//! one entry or one block's frames with crc check (a header frame alone: checked by its decode
//! against the entry's hash), and the seal checksum. It must never decide what
//! is committed: committed lengths come from the shard row.

use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use alloy_primitives::B256;

use super::backend::{FileSystem, ReadCursor, StoreFile};
use super::error::{CorruptError, FileError, IoContext, IoError};
use super::fsio::{self, TrackedFile};
use super::layout::{
    FILE_HEADER, FrameLens, IDX_MAGIC, INDEX_ENTRY, IndexEntry, SEG_MAGIC, check_file_header,
    file_header, index_entry_offset,
};
use super::shard::{seg_data_path, seg_index_path};

/// Writes a segment: either fresh files (a compaction's tmp files, or generation 1 for follow
/// appends) or an existing generation at its committed tail.
pub struct SegmentWriter {
    data: BufWriter<TrackedFile>,
    index: BufWriter<TrackedFile>,
    data_path: PathBuf,
    index_path: PathBuf,
    data_len: u64,
    entries: u64,
}

impl SegmentWriter {
    /// Creates fresh files at the given paths (truncating leftovers).
    pub fn create(
        fs: &dyn FileSystem,
        data_path: PathBuf,
        index_path: PathBuf,
        first_block: u64,
    ) -> Result<Self, IoError> {
        let mut data = TrackedFile::open(fs, &data_path, true)?;
        data.set_len(0)?;
        data.write_all(&file_header(SEG_MAGIC, first_block))
            .ctx("write", &data_path)?;
        let mut index = TrackedFile::open(fs, &index_path, true)?;
        index.set_len(0)?;
        index
            .write_all(&file_header(IDX_MAGIC, first_block))
            .ctx("write", &index_path)?;
        Ok(Self {
            data: BufWriter::with_capacity(1 << 20, data),
            index: BufWriter::with_capacity(64 << 10, index),
            data_path,
            index_path,
            data_len: FILE_HEADER,
            entries: 0,
        })
    }

    /// Opens generation `generation` of `dir` to append after `data_len` bytes and `entries` entries,
    /// truncating anything past them (uncommitted bytes).
    pub fn append_to(
        fs: &dyn FileSystem,
        dir: &Path,
        generation: u32,
        data_len: u64,
        entries: u64,
    ) -> Result<Self, FileError> {
        let data_path = seg_data_path(dir, generation);
        let index_path = seg_index_path(dir, generation);
        let data = open_at_committed(fs, &data_path, data_len)?;
        let index = open_at_committed(fs, &index_path, index_entry_offset(entries))?;
        Ok(Self {
            data: BufWriter::with_capacity(1 << 20, data),
            index: BufWriter::with_capacity(64 << 10, index),
            data_path,
            index_path,
            data_len,
            entries,
        })
    }

    /// Writes the block at shard position `pos` (absent entries fill any gap before it).
    pub fn push(
        &mut self,
        pos: u64,
        lens: FrameLens,
        frames: &[u8],
        crc: u32,
        hash: B256,
    ) -> Result<(), IoError> {
        while self.entries < pos {
            self.index
                .write_all(&IndexEntry::ABSENT.encode())
                .ctx("write", &self.index_path)?;
            self.entries += 1;
        }
        let entry = IndexEntry {
            offset: self.data_len,
            lens,
            crc,
            hash,
        };
        self.data.write_all(frames).ctx("write", &self.data_path)?;
        self.index
            .write_all(&entry.encode())
            .ctx("write", &self.index_path)?;
        self.data_len += frames.len() as u64;
        self.entries += 1;
        Ok(())
    }

    /// `(data_len, entries)` after what was pushed (not yet durable: see [`Self::finish`]).
    pub fn written(&self) -> (u64, u64) {
        (self.data_len, self.entries)
    }

    /// Flushes and fsyncs both files; returns `(data_len, entries)` to commit.
    pub fn finish(self) -> Result<(u64, u64), IoError> {
        for (w, path) in [(self.data, &self.data_path), (self.index, &self.index_path)] {
            let f = w
                .into_inner()
                .map_err(|e| e.into_error())
                .ctx("write", path)?;
            f.sync_data()?;
        }
        Ok((self.data_len, self.entries))
    }
}

/// Opens a segment file for appending at its committed length, cutting uncommitted bytes.
fn open_at_committed(fs: &dyn FileSystem, path: &Path, len: u64) -> Result<TrackedFile, FileError> {
    let mut f = TrackedFile::open(fs, path, false)?;
    let actual = f.len()?;
    if actual < len {
        return Err(CorruptError {
            path: path.to_path_buf(),
            offset: actual,
            what: format!("segment is shorter than its committed length {len}"),
        }
        .into());
    }
    if actual > len {
        f.set_len(len)?;
    }
    f.seek_to(len)?;
    Ok(f)
}

/// Open handles on a committed segment generation, for positioned reads.
pub struct SegmentReader {
    data: Box<dyn StoreFile>,
    index: Box<dyn StoreFile>,
    data_path: PathBuf,
    index_path: PathBuf,
    entries: u64,
    /// Length of the data file when opened: an index entry's frames must lie within it (a damaged
    /// entry could otherwise name gigabytes, allocated before the read finds the file too short).
    data_len: u64,
}

impl SegmentReader {
    /// Opens generation `generation` of `dir`, committed with `entries` index entries.
    pub fn open(
        fs: &dyn FileSystem,
        dir: &Path,
        generation: u32,
        entries: u64,
        first_block: u64,
    ) -> Result<Self, FileError> {
        let data_path = seg_data_path(dir, generation);
        let index_path = seg_index_path(dir, generation);
        let data = fsio::open_read(fs, &data_path)?;
        let index = fsio::open_read(fs, &index_path)?;
        let mut header = [0u8; FILE_HEADER as usize];
        for (f, p, magic) in [
            (&*data, &data_path, SEG_MAGIC),
            (&*index, &index_path, IDX_MAGIC),
        ] {
            fsio::read_exact_at(f, p, &mut header, 0)?;
            check_file_header(&header, magic, first_block).map_err(|what| CorruptError {
                path: p.clone(),
                offset: 0,
                what,
            })?;
        }
        let data_len = fsio::file_len(&*data, &data_path)?;
        Ok(Self {
            data,
            index,
            data_path,
            index_path,
            entries,
            data_len,
        })
    }

    /// The entry at shard position `pos` (`ABSENT` past the committed entries).
    pub fn entry(&self, pos: u64) -> Result<IndexEntry, FileError> {
        if pos >= self.entries {
            return Ok(IndexEntry::ABSENT);
        }
        let mut buf = [0u8; INDEX_ENTRY as usize];
        fsio::read_exact_at(
            &*self.index,
            &self.index_path,
            &mut buf,
            index_entry_offset(pos),
        )?;
        Ok(IndexEntry::decode(&buf))
    }

    /// The three frames of a present entry, crc-checked.
    pub fn frames(&self, entry: &IndexEntry) -> Result<Vec<u8>, FileError> {
        let buf = self.read_data(entry.offset, entry.lens.total())?;
        if crc32fast::hash(&buf) != entry.crc {
            return Err(CorruptError {
                path: self.data_path.clone(),
                offset: entry.offset,
                what: "block frames checksum mismatch".into(),
            }
            .into());
        }
        Ok(buf)
    }

    /// Only the header frame of a present entry, not crc-checked: the entry's crc spans all three
    /// frames, so checking it would mean reading them all. The frame is zstd without a content
    /// checksum and RLP checks only the structure, so damage inside a field decodes to a
    /// different header without an error (flipping one bit in each byte of the header frames of
    /// the 11 mainnet test blocks: 93% decoded to another header, 7% failed). What covers these
    /// bytes, and the entry's hash, is the block hash: every header is decoded by
    /// `record::decode_header`, which refuses one whose RLP does not hash to the entry's hash
    /// (`read.rs`'s `ShardFiles::header`). That costs one keccak256 of ~550 bytes per header,
    /// 2–3 µs here: a random header read 6.6 → 9.7 µs, a bloom scan 2.3 → 4.4 ms per 1000 blocks
    /// (README "Storage"). Never decode this frame any other way.
    pub fn header_frame(&self, entry: &IndexEntry) -> Result<Vec<u8>, FileError> {
        self.read_data(entry.offset, u64::from(entry.lens.header))
    }

    /// `len` bytes of the data file at `offset`, refused as damage (before allocating) when they
    /// do not lie within the file: the offset and lengths come from the index file.
    fn read_data(&self, offset: u64, len: u64) -> Result<Vec<u8>, FileError> {
        let end = offset.checked_add(len);
        // The file may have grown since it was opened (appends at the committed tail): look again
        // before calling the entry damaged.
        let within = |file_len: u64| end.is_some_and(|end| end <= file_len);
        if !within(self.data_len) {
            let now = fsio::file_len(&*self.data, &self.data_path)?;
            if !within(now) {
                return Err(CorruptError {
                    path: self.data_path.clone(),
                    offset,
                    what: format!(
                        "index entry names {len} bytes at offset {offset}, past the end of the {now}-byte data file"
                    ),
                }
                .into());
            }
        }
        // Within the file, so it fits in memory as the file does (usize is 64-bit here).
        let mut buf = vec![0u8; len as usize];
        fsio::read_exact_at(&*self.data, &self.data_path, &mut buf, offset)?;
        Ok(buf)
    }
}

/// crc32 of a segment's committed bytes: data then index (the seal checksum).
pub fn checksum(
    fs: &dyn FileSystem,
    dir: &Path,
    generation: u32,
    data_len: u64,
    entries: u64,
) -> Result<u32, IoError> {
    let mut h = crc32fast::Hasher::new();
    for (path, len) in [
        (seg_data_path(dir, generation), data_len),
        (seg_index_path(dir, generation), index_entry_offset(entries)),
    ] {
        let file = fsio::open_read(fs, &path)?;
        let mut input = ReadCursor::new(file).take(len);
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = input.read(&mut buf).ctx("read", &path)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
    }
    Ok(h.finalize())
}
