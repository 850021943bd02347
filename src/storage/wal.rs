//! A shard's write-ahead log: checksummed block records in arrival order.
//!
//! Owns appending records (then fsync), and streaming them back (heads only, or one record by
//! offset). It must never read a WAL whole into memory and never decide what is committed: the
//! committed length lives in the shard row in redb, and callers pass it in.

use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use super::backend::{FileSystem, ReadCursor, StoreFile};

use super::error::{CorruptError, FileError, IoContext, IoError};
use super::fsio::{self, TrackedFile};
use super::layout::{
    FILE_HEADER, MAX_RECORD, RECORD_HEAD, RECORD_PREFIX, RecordHead, WAL_MAGIC, check_file_header,
    file_header,
};
use super::record::EncodedBlock;
use super::shard::wal_path;

/// Bytes gathered before a write to the file (and the size from which a piece is written
/// directly instead of through the buffer), as `BufWriter::with_capacity` did.
const WAL_BUFFER: usize = 1 << 20;

/// The write buffer, kept between appenders: the writer opens one per batch, and a fresh 1 MiB
/// buffer each time was an mmap whose pages faulted in on every batch (perf: an eighth of
/// histd's page faults). One for the process, not one per thread: the writes run on whichever
/// blocking-pool thread is free. Never above [`WAL_BUFFER`] (records over it go straight to the
/// file); a second appender open at the same time (another store in the same process) makes
/// its own.
static WAL_BUF: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

/// The shared buffer, even if a thread panicked holding it (its contents are cleared anyway).
fn wal_buf() -> std::sync::MutexGuard<'static, Vec<u8>> {
    WAL_BUF
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Appends records to a WAL positioned at its committed length.
pub struct WalAppender {
    file: TrackedFile,
    /// Bytes appended but not yet written to `file` (at most [`WAL_BUFFER`]); taken from
    /// [`WAL_BUF`] and given back on drop.
    buf: Vec<u8>,
    path: PathBuf,
    len: u64,
}

impl Drop for WalAppender {
    fn drop(&mut self) {
        // Unwritten bytes of an appender dropped without `sync` belong to no commit (the next
        // open truncates whatever of them reached the file): dropping them is fine.
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        *wal_buf() = buf;
    }
}

impl WalAppender {
    /// Opens the WAL of `dir` for appending at `committed` bytes (0 = new WAL: any old file is
    /// replaced by a fresh header, made durable with its directory entry).
    pub fn open(
        fs: &dyn FileSystem,
        dir: &Path,
        first_block: u64,
        committed: u64,
    ) -> Result<Self, FileError> {
        let path = wal_path(dir);
        let mut file = TrackedFile::open(fs, &path, true)?;
        let len = if committed == 0 {
            file.set_len(0)?;
            file.write_all(&file_header(WAL_MAGIC, first_block))
                .ctx("write", &path)?;
            file.sync_data()?;
            fsio::fsync_dir(fs, dir)?;
            FILE_HEADER
        } else {
            let actual = file.len()?;
            if actual < committed {
                return Err(CorruptError {
                    path,
                    offset: actual,
                    what: format!("WAL is shorter than its committed length {committed}"),
                }
                .into());
            }
            if actual > committed {
                // Bytes of an append that never committed.
                file.set_len(committed)?;
            }
            committed
        };
        file.seek_to(len)?;
        let mut buf = std::mem::take(&mut *wal_buf());
        buf.reserve_exact(WAL_BUFFER);
        Ok(Self {
            file,
            buf,
            path,
            len,
        })
    }

    /// The WAL file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Buffers one record; returns its offset.
    pub fn append(&mut self, block: &EncodedBlock) -> Result<u64, IoError> {
        let offset = self.len;
        let head = RecordHead {
            number: block.number,
            hash: block.hash,
            lens: block.lens(),
        }
        .encode();
        let mut crc = crc32fast::Hasher::new();
        crc.update(&head);
        crc.update(&block.header);
        crc.update(&block.txs);
        crc.update(&block.receipts);
        let payload_len = RECORD_HEAD + block.header.len() + block.txs.len() + block.receipts.len();
        for piece in [
            &(payload_len as u32).to_le_bytes()[..],
            &crc.finalize().to_le_bytes(),
            &head,
            &block.header,
            &block.txs,
            &block.receipts,
        ] {
            self.put(piece).ctx("write", &self.path)?;
        }
        self.len += (RECORD_PREFIX + payload_len) as u64;
        Ok(offset)
    }

    /// Buffers `data`, writing the buffer out first when `data` does not fit, and writing `data`
    /// straight to the file when it is as large as the buffer (`BufWriter`'s rule).
    fn put(&mut self, data: &[u8]) -> std::io::Result<()> {
        if self.buf.len() + data.len() > WAL_BUFFER {
            self.write_out()?;
        }
        if data.len() >= WAL_BUFFER {
            self.file.write_all(data)
        } else {
            self.buf.extend_from_slice(data);
            Ok(())
        }
    }

    /// Writes the buffered bytes to the file.
    fn write_out(&mut self) -> std::io::Result<()> {
        let result = self.file.write_all(&self.buf);
        // On failure the appender is abandoned (the caller never syncs it): nothing to keep.
        self.buf.clear();
        result
    }

    /// Flushes and fsyncs; returns the new length to commit.
    pub fn sync(mut self) -> Result<u64, IoError> {
        self.write_out().ctx("write", &self.path)?;
        self.file.sync_data()?;
        Ok(self.len)
    }
}

/// Streams record heads of a WAL up to its committed length, never holding more than a buffer.
pub struct WalScanner {
    input: BufReader<ReadCursor>,
    path: PathBuf,
    pos: u64,
    end: u64,
}

/// One record's place in the WAL.
#[derive(Debug, Clone, Copy)]
pub struct WalEntry {
    /// Offset of the record (its length prefix).
    pub offset: u64,
    /// Its head.
    pub head: RecordHead,
}

impl WalScanner {
    /// Opens the WAL of `dir`, checking its header, to scan `committed` bytes.
    pub fn open(
        fs: &dyn FileSystem,
        dir: &Path,
        first_block: u64,
        committed: u64,
    ) -> Result<Self, FileError> {
        let path = wal_path(dir);
        let file = fsio::open_read(fs, &path)?;
        let mut input = BufReader::with_capacity(256 << 10, ReadCursor::new(file));
        let mut header = [0u8; FILE_HEADER as usize];
        input.read_exact(&mut header).ctx("read", &path)?;
        check_file_header(&header, WAL_MAGIC, first_block).map_err(|what| CorruptError {
            path: path.clone(),
            offset: 0,
            what,
        })?;
        Ok(Self {
            input,
            path,
            pos: FILE_HEADER,
            end: committed,
        })
    }

    /// Continues the scan at `offset`: the end of an earlier scan of the same WAL (a record
    /// boundary), so only records appended since are read.
    pub fn resume_at(&mut self, offset: u64) -> Result<(), FileError> {
        if offset < self.pos || offset > self.end {
            return Err(self.corrupt(format!("cannot resume the scan at {offset}")));
        }
        self.input
            .seek_relative((offset - self.pos) as i64)
            .ctx("seek", &self.path)?;
        self.pos = offset;
        Ok(())
    }

    fn corrupt(&self, what: String) -> FileError {
        CorruptError {
            path: self.path.clone(),
            offset: self.pos,
            what,
        }
        .into()
    }

    /// The next record head, or `None` at the committed end.
    pub fn next_head(&mut self) -> Result<Option<WalEntry>, FileError> {
        if self.pos >= self.end {
            return Ok(None);
        }
        let mut prefix = [0u8; RECORD_PREFIX + RECORD_HEAD];
        if self.end - self.pos < prefix.len() as u64 {
            return Err(self.corrupt("record straddles the committed end".into()));
        }
        self.input.read_exact(&mut prefix).ctx("read", &self.path)?;
        let payload_len = u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        let total = RECORD_PREFIX as u64 + u64::from(payload_len);
        // Shorter than its head: damage (or a scan resumed off a record boundary).
        if payload_len > MAX_RECORD
            || (payload_len as usize) < RECORD_HEAD
            || self.pos + total > self.end
        {
            return Err(self.corrupt(format!("record length {payload_len} out of bounds")));
        }
        let frames = u64::from(payload_len) - RECORD_HEAD as u64;
        let head = RecordHead::decode_with_frames(&prefix[RECORD_PREFIX..], frames)
            .ok_or_else(|| self.corrupt("record head lengths disagree".into()))?;
        let entry = WalEntry {
            offset: self.pos,
            head,
        };
        self.input
            .seek_relative(frames as i64)
            .ctx("seek", &self.path)?;
        self.pos += total;
        Ok(Some(entry))
    }
}

/// Reads one record's frames (header | txs | receipts) at `offset`, checking its crc. A
/// header-only read uses it too: the one crc covers the record head and all three frames
/// together, and the header frame has no checksum of its own, so reading the header frame alone
/// could not check anything (`read.rs`, `segment.rs`'s `header_frame`).
pub fn read_record(
    file: &dyn StoreFile,
    path: &Path,
    entry: &WalEntry,
) -> Result<Vec<u8>, FileError> {
    let frames = entry.head.lens.total() as usize;
    let mut buf = vec![0u8; RECORD_PREFIX + RECORD_HEAD + frames];
    fsio::read_exact_at(file, path, &mut buf, entry.offset)?;
    check_head(&buf, path, entry)?;
    let crc = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]);
    if crc32fast::hash(&buf[RECORD_PREFIX..]) != crc {
        return Err(CorruptError {
            path: path.to_path_buf(),
            offset: entry.offset,
            what: "WAL record checksum mismatch".into(),
        }
        .into());
    }
    buf.drain(..RECORD_PREFIX + RECORD_HEAD);
    Ok(buf)
}

/// Checks that the record at `entry.offset` still starts with `entry`'s length and head (reads
/// those bytes only): an entry kept from an earlier scan is trusted no further than that.
pub fn read_head(file: &dyn StoreFile, path: &Path, entry: &WalEntry) -> Result<(), FileError> {
    let mut buf = [0u8; RECORD_PREFIX + RECORD_HEAD];
    fsio::read_exact_at(file, path, &mut buf, entry.offset)?;
    check_head(&buf, path, entry)
}

/// Whether `record` (from its length prefix on) starts with `entry`'s length and head.
fn check_head(record: &[u8], path: &Path, entry: &WalEntry) -> Result<(), FileError> {
    let payload = RECORD_HEAD as u64 + entry.head.lens.total();
    let same = record.len() >= RECORD_PREFIX + RECORD_HEAD
        && u64::from(u32::from_le_bytes([
            record[0], record[1], record[2], record[3],
        ])) == payload
        && record[RECORD_PREFIX..RECORD_PREFIX + RECORD_HEAD] == entry.head.encode();
    if same {
        return Ok(());
    }
    Err(CorruptError {
        path: path.to_path_buf(),
        offset: entry.offset,
        what: format!("WAL record is not block {}'s", entry.head.number),
    }
    .into())
}

/// Opens a WAL for positioned reads.
pub fn open_for_read(
    fs: &dyn FileSystem,
    dir: &Path,
) -> Result<(Box<dyn StoreFile>, PathBuf), IoError> {
    let path = wal_path(dir);
    let file = fsio::open_read(fs, &path)?;
    Ok((file, path))
}
