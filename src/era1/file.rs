//! The era1 file layout on top of e2store: which entries come in which order, snappy framing of
//! the block parts, and the block index at the end.
//!
//! ```text
//! era1        := Version | block-tuple* | other-entries* | Accumulator | BlockIndex
//! block-tuple := CompressedHeader | CompressedBody | CompressedReceipts | TotalDifficulty
//! BlockIndex  := starting-number u64 | offset i64 * count | count u64   (all little-endian;
//!                each offset is the block's CompressedHeader entry, relative to the BlockIndex entry)
//! ```
//!
//! Header, body and receipts are RLP (`rlp(header)`, `rlp([txs, ommers])`, and the eth/68 list of
//! consensus receipts) in the snappy *framed* format, whose per-chunk CRC32C catches most flipped
//! bytes before any RLP is read. Total difficulty is a 32-byte little-endian uint256; the
//! accumulator entry is the epoch's `hash_tree_root` (see `verify::accumulator`). Spec:
//! <https://github.com/eth-clients/e2store-format-specs/blob/main/formats/era1.md>.
//!
//! This module turns bytes into parts and back; it decides nothing about whether a block is
//! right (that is `verify`, driven by `import.rs`).

use std::io::{self, Read, Write};

use alloy_primitives::{B256, U256};

use super::e2store::{E2Error, E2Reader, E2Writer, Entry};

/// `Version` entry type ("e2").
pub const TYPE_VERSION: u16 = 0x3265;
/// Snappy-framed `rlp(header)`.
pub const TYPE_COMPRESSED_HEADER: u16 = 0x03;
/// Snappy-framed `rlp([txs, ommers])`.
pub const TYPE_COMPRESSED_BODY: u16 = 0x04;
/// Snappy-framed RLP list of consensus receipts (eth/68 form).
pub const TYPE_COMPRESSED_RECEIPTS: u16 = 0x05;
/// uint256 little-endian.
pub const TYPE_TOTAL_DIFFICULTY: u16 = 0x06;
/// The epoch's accumulator root.
pub const TYPE_ACCUMULATOR: u16 = 0x07;
/// The block index.
pub const TYPE_BLOCK_INDEX: u16 = 0x3266;

/// Largest decompressed block part accepted (a pre-merge block with receipts stays far below;
/// the bound keeps a forged entry from inflating without limit).
const MAX_DECOMPRESSED: u64 = 256 * 1024 * 1024;

/// One block's parts as stored in the file, decompressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockTuple {
    /// `rlp(header)`.
    pub header: Vec<u8>,
    /// `rlp([txs, ommers])`.
    pub body: Vec<u8>,
    /// RLP list of consensus receipts (typed ones as byte strings).
    pub receipts: Vec<u8>,
    /// Total difficulty up to and including this block.
    pub total_difficulty: U256,
}

/// What follows the blocks: the accumulator root and the block index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trailer {
    /// The epoch root the file claims.
    pub accumulator: B256,
    /// The index's starting block number.
    pub start: u64,
    /// Blocks the index lists.
    pub count: u64,
}

/// Why the file's layout is wrong.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// The e2store framing is broken (truncated, bad header).
    #[error(transparent)]
    E2(#[from] E2Error),
    /// An entry of the wrong type where another was due.
    #[error("entry at byte {offset}: type {found:#06x} where {expected} was expected")]
    UnexpectedEntry {
        offset: u64,
        expected: &'static str,
        found: u16,
    },
    /// The file ends where more entries were due.
    #[error("file ends where {expected} was expected")]
    MissingEntry { expected: &'static str },
    /// Snappy framing or checksum error in a block part.
    #[error("{part} at byte {offset}: snappy: {reason}")]
    Snappy {
        part: &'static str,
        offset: u64,
        reason: String,
    },
    /// An entry of fixed size has another size.
    #[error("{part} at byte {offset}: {len} bytes, expected {expected}")]
    EntrySize {
        part: &'static str,
        offset: u64,
        len: usize,
        expected: usize,
    },
    /// The block index disagrees with the blocks before it.
    #[error("block index: {0}")]
    Index(String),
    /// Entries after the block index.
    #[error("{0} bytes after the block index")]
    Trailing(u64),
}

fn part_name(kind: u16) -> &'static str {
    match kind {
        TYPE_COMPRESSED_HEADER => "header",
        TYPE_COMPRESSED_BODY => "body",
        TYPE_COMPRESSED_RECEIPTS => "receipts",
        TYPE_TOTAL_DIFFICULTY => "total difficulty",
        TYPE_ACCUMULATOR => "accumulator",
        TYPE_BLOCK_INDEX => "block index",
        TYPE_VERSION => "version",
        _ => "entry",
    }
}

/// Decompresses a snappy-framed block part.
pub fn decompress(part: &'static str, offset: u64, data: &[u8]) -> Result<Vec<u8>, FormatError> {
    let mut out = Vec::with_capacity(data.len() * 2);
    snap::read::FrameDecoder::new(data)
        .take(MAX_DECOMPRESSED + 1)
        .read_to_end(&mut out)
        .map_err(|e| FormatError::Snappy {
            part,
            offset,
            reason: e.to_string(),
        })?;
    if out.len() as u64 > MAX_DECOMPRESSED {
        return Err(FormatError::Snappy {
            part,
            offset,
            reason: format!("decompresses to more than {MAX_DECOMPRESSED} bytes"),
        });
    }
    Ok(out)
}

/// Compresses a block part in the snappy framed format.
pub fn compress(data: &[u8]) -> io::Result<Vec<u8>> {
    let mut enc = snap::write::FrameEncoder::new(Vec::with_capacity(data.len() / 2 + 32));
    enc.write_all(data)?;
    enc.into_inner().map_err(|e| e.into_error())
}

/// Reads an era1 file block by block, then its trailer; checks the layout as it goes.
#[derive(Debug)]
pub struct Era1Reader<R> {
    e2: E2Reader<R>,
    /// Offsets of each block's header entry, for the index check.
    header_offsets: Vec<u64>,
    /// An entry read ahead (the first one that was not a block header).
    pending: Option<Entry>,
    trailer: Option<Trailer>,
    /// Set once the blocks ended and the trailer is being read (so errors can say so).
    in_trailer: bool,
}

impl<R: Read> Era1Reader<R> {
    /// Starts reading `len` bytes from `inner`; checks the Version entry.
    pub fn new(inner: R, len: u64) -> Result<Self, FormatError> {
        let mut e2 = E2Reader::new(inner, len);
        let version = e2.next_entry()?.ok_or(FormatError::MissingEntry {
            expected: "version",
        })?;
        if version.kind != TYPE_VERSION || !version.data.is_empty() {
            return Err(FormatError::UnexpectedEntry {
                offset: version.offset,
                expected: "version",
                found: version.kind,
            });
        }
        Ok(Self {
            e2,
            header_offsets: Vec::new(),
            pending: None,
            trailer: None,
            in_trailer: false,
        })
    }

    /// Bytes read so far.
    pub fn position(&self) -> u64 {
        self.e2.position()
    }

    fn expect(&mut self, kind: u16) -> Result<Entry, FormatError> {
        let expected = part_name(kind);
        let entry = self
            .e2
            .next_entry()?
            .ok_or(FormatError::MissingEntry { expected })?;
        if entry.kind != kind {
            return Err(FormatError::UnexpectedEntry {
                offset: entry.offset,
                expected,
                found: entry.kind,
            });
        }
        Ok(entry)
    }

    /// The next block, or `None` once the blocks end (then [`Self::trailer`] is set).
    pub fn next_block(&mut self) -> Result<Option<BlockTuple>, FormatError> {
        if self.trailer.is_some() {
            return Ok(None);
        }
        let first = match self.pending.take() {
            Some(e) => e,
            None => self.e2.next_entry()?.ok_or(FormatError::MissingEntry {
                expected: "header or accumulator",
            })?,
        };
        if first.kind != TYPE_COMPRESSED_HEADER {
            self.in_trailer = true;
            self.read_trailer(first)?;
            return Ok(None);
        }
        let header = decompress("header", first.offset, &first.data)?;
        let body = self.expect(TYPE_COMPRESSED_BODY)?;
        let body = decompress("body", body.offset, &body.data)?;
        let receipts = self.expect(TYPE_COMPRESSED_RECEIPTS)?;
        let receipts = decompress("receipts", receipts.offset, &receipts.data)?;
        let td = self.expect(TYPE_TOTAL_DIFFICULTY)?;
        if td.data.len() != 32 {
            return Err(FormatError::EntrySize {
                part: "total difficulty",
                offset: td.offset,
                len: td.data.len(),
                expected: 32,
            });
        }
        self.header_offsets.push(first.offset);
        Ok(Some(BlockTuple {
            header,
            body,
            receipts,
            total_difficulty: U256::from_le_slice(&td.data),
        }))
    }

    /// Reads `other-entries* | Accumulator | BlockIndex` starting at `entry`.
    fn read_trailer(&mut self, mut entry: Entry) -> Result<(), FormatError> {
        // Entries of types this build does not know may sit between the blocks and the
        // accumulator ("other-entries" in the spec); block parts out of place may not.
        while entry.kind != TYPE_ACCUMULATOR {
            if matches!(
                entry.kind,
                TYPE_VERSION
                    | TYPE_COMPRESSED_BODY
                    | TYPE_COMPRESSED_RECEIPTS
                    | TYPE_TOTAL_DIFFICULTY
                    | TYPE_BLOCK_INDEX
            ) {
                return Err(FormatError::UnexpectedEntry {
                    offset: entry.offset,
                    expected: "header or accumulator",
                    found: entry.kind,
                });
            }
            entry = self.e2.next_entry()?.ok_or(FormatError::MissingEntry {
                expected: "accumulator",
            })?;
        }
        if entry.data.len() != 32 {
            return Err(FormatError::EntrySize {
                part: "accumulator",
                offset: entry.offset,
                len: entry.data.len(),
                expected: 32,
            });
        }
        let accumulator = B256::from_slice(&entry.data);
        let index = self.expect(TYPE_BLOCK_INDEX)?;
        let (start, count) = check_index(&index, &self.header_offsets)?;
        let left = self.e2.next_entry()?;
        if let Some(extra) = left {
            return Err(FormatError::Trailing(self.position() - extra.offset));
        }
        self.trailer = Some(Trailer {
            accumulator,
            start,
            count,
        });
        Ok(())
    }

    /// Whether the blocks have ended (an error from [`Self::next_block`] is then the trailer's).
    pub fn in_trailer(&self) -> bool {
        self.in_trailer
    }

    /// The trailer, once [`Self::next_block`] returned `None`.
    pub fn trailer(&self) -> Option<&Trailer> {
        self.trailer.as_ref()
    }
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

/// Checks the index against the header offsets seen; returns (start, count).
fn check_index(index: &Entry, header_offsets: &[u64]) -> Result<(u64, u64), FormatError> {
    let data = &index.data;
    if data.len() < 16 || !data.len().is_multiple_of(8) {
        return Err(FormatError::Index(format!(
            "{} bytes is not start, offsets, count",
            data.len()
        )));
    }
    let start = le_u64(data);
    let count = le_u64(&data[data.len() - 8..]);
    let listed = (data.len() - 16) / 8;
    if count != listed as u64 || listed != header_offsets.len() {
        return Err(FormatError::Index(format!(
            "count {count} with {listed} offsets for {} blocks in the file",
            header_offsets.len()
        )));
    }
    for (i, &at) in header_offsets.iter().enumerate() {
        let rel = le_u64(&data[8 + i * 8..]) as i64;
        let points = index.offset.checked_add_signed(rel);
        if points != Some(at) {
            return Err(FormatError::Index(format!(
                // Block `i` of the file, not `start + i`: `start` is the file's say-so and may
                // be anything up to u64::MAX.
                "offset {i} of the index (block {i} of the file) points to byte {points:?}, its header is at byte {at}"
            )));
        }
    }
    Ok((start, count))
}

/// Writes an era1 file: blocks in order, then [`Self::finish`] with the epoch root.
#[derive(Debug)]
pub struct Era1Writer<W: Write> {
    e2: E2Writer<W>,
    start: u64,
    header_offsets: Vec<u64>,
}

impl<W: Write> Era1Writer<W> {
    /// Starts a file whose first block is `start`; writes the Version entry.
    pub fn new(inner: W, start: u64) -> io::Result<Self> {
        let mut e2 = E2Writer::new(inner);
        e2.write_entry(TYPE_VERSION, &[])?;
        Ok(Self {
            e2,
            start,
            header_offsets: Vec::new(),
        })
    }

    /// Appends one block (parts uncompressed; compressed here).
    pub fn add_block(&mut self, block: &BlockTuple) -> io::Result<()> {
        let at = self
            .e2
            .write_entry(TYPE_COMPRESSED_HEADER, &compress(&block.header)?)?;
        self.header_offsets.push(at);
        self.e2
            .write_entry(TYPE_COMPRESSED_BODY, &compress(&block.body)?)?;
        self.e2
            .write_entry(TYPE_COMPRESSED_RECEIPTS, &compress(&block.receipts)?)?;
        self.e2.write_entry(
            TYPE_TOTAL_DIFFICULTY,
            &block.total_difficulty.to_le_bytes::<32>(),
        )?;
        Ok(())
    }

    /// Writes the accumulator root and the block index; returns the inner writer.
    pub fn finish(mut self, accumulator: B256) -> io::Result<W> {
        self.e2
            .write_entry(TYPE_ACCUMULATOR, accumulator.as_slice())?;
        let base = self.e2.position();
        let mut index = Vec::with_capacity(16 + 8 * self.header_offsets.len());
        index.extend_from_slice(&self.start.to_le_bytes());
        for &at in &self.header_offsets {
            // Offsets point backwards from the index entry: negative, two's complement.
            let rel = at as i64 - base as i64;
            index.extend_from_slice(&rel.to_le_bytes());
        }
        index.extend_from_slice(&(self.header_offsets.len() as u64).to_le_bytes());
        self.e2.write_entry(TYPE_BLOCK_INDEX, &index)?;
        Ok(self.e2.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuple(i: u8) -> BlockTuple {
        BlockTuple {
            header: vec![i; 40],
            body: vec![0xc2, 0xc0, 0xc0],
            receipts: vec![0xc0],
            total_difficulty: U256::from(1000u64 + u64::from(i)),
        }
    }

    fn write(n: u8) -> Vec<u8> {
        let mut w = Era1Writer::new(Vec::new(), 16).unwrap();
        for i in 0..n {
            w.add_block(&tuple(i)).unwrap();
        }
        w.finish(B256::repeat_byte(7)).unwrap()
    }

    fn read_all(bytes: &[u8]) -> Result<(Vec<BlockTuple>, Trailer), FormatError> {
        let mut r = Era1Reader::new(bytes, bytes.len() as u64)?;
        let mut out = Vec::new();
        while let Some(b) = r.next_block()? {
            out.push(b);
        }
        Ok((out, r.trailer().cloned().expect("trailer after the blocks")))
    }

    #[test]
    fn written_files_read_back() {
        let bytes = write(3);
        let (blocks, trailer) = read_all(&bytes).unwrap();
        assert_eq!(blocks, (0..3).map(tuple).collect::<Vec<_>>());
        assert_eq!(
            trailer,
            Trailer {
                accumulator: B256::repeat_byte(7),
                start: 16,
                count: 3
            }
        );
    }

    #[test]
    fn layout_errors_are_named() {
        let bytes = write(2);
        // Truncated anywhere: an error, never a short success.
        for cut in [0, 4, 8, 20, bytes.len() - 30, bytes.len() - 1] {
            assert!(read_all(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        // A flipped byte inside the first compressed header: the snappy checksum catches it.
        let mut flipped = bytes.clone();
        flipped[8 + 8 + 12] ^= 1;
        assert!(matches!(
            read_all(&flipped),
            Err(FormatError::Snappy { part: "header", .. })
        ));
        // An index offset that points elsewhere.
        let mut bad_index = bytes.clone();
        let at = bad_index.len() - 16;
        bad_index[at] ^= 1;
        assert!(matches!(read_all(&bad_index), Err(FormatError::Index(_))));
        // Bytes after the index.
        let mut extra = bytes;
        extra.extend_from_slice(&[0x03, 0, 0, 0, 0, 0, 0, 0]);
        assert!(matches!(read_all(&extra), Err(FormatError::Trailing(8))));
    }
}
