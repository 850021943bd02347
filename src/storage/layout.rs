//! Every on-disk byte layout of the store, with its magic number and version, in one place.
//!
//! Owns the encoding of file headers, WAL records, segment offset-table entries and the shard row
//! kept in redb. It must never do I/O: callers read and write the bytes. All integers little-endian.
//!
//! ```text
//! file header (WAL, segment data, segment index), 24 bytes
//!   0  [8]  magic            b"HISTDWAL" | b"HISTDSEG" | b"HISTDIDX"
//!   8  u32  format version   (FORMAT_VERSION)
//!   12 u32  reserved (0)
//!   16 u64  first block of the shard
//!
//! WAL record (any order), after the WAL header
//!   0  u32  payload length
//!   4  u32  crc32 of the payload
//!   8  payload = record head (RECORD_HEAD) + frames
//!        0  u64   block number
//!        8  [32]  block hash
//!        40 u32   header frame length
//!        44 u32   transactions frame length
//!        48 u32   receipts frame length
//!        52 ...   header frame | transactions frame | receipts frame   (see `record.rs`)
//!
//! segment data `seg-<gen>.dat`: header, then per present block its three frames, ascending.
//! segment index `seg-<gen>.idx`: header, then one INDEX_ENTRY per shard position 0..entries
//!   0  u64   offset of the header frame in the .dat file
//!   8  u32   header frame length (0 = block absent)
//!   12 u32   transactions frame length
//!   16 u32   receipts frame length
//!   20 u32   crc32 of the three frames
//!   24 [32]  block hash
//!
//! shard row (value of the redb `shards` table)
//!   0  u8    state (1 Filling, 2 Compacting, 3 Sorted, 4 Sealed; Empty shards have no row)
//!   1  u8    row version (ROW_VERSION)
//!   2  u16   reserved
//!   4  u32   committed segment generation (0 = no segment)
//!   8  u64   committed WAL length in bytes (0 = no WAL)
//!   16 u64   committed segment data length
//!   24 u32   committed segment index entries
//!   28 u32   blocks present
//!   32 u32   crc32 of the sealed segment (data then index); 0 unless Sealed
//!   36 u32   reserved
//!   40 ...   presence bitset, bit i = block `first + i` (LSB first), ceil(shard_size / 8) bytes
//! ```
//!
//! The commit rule: redb is written last. A length or generation in the shard row is the truth;
//! bytes past it in a file, or files of another generation, are garbage removed on open.

use alloy_primitives::B256;

use super::shard::ShardState;

/// Version of every file format in this module.
pub const FORMAT_VERSION: u32 = 1;
/// Version of the shard row layout.
pub const ROW_VERSION: u8 = 1;
/// Version of the redb schema (tables and meta keys in `index.rs`). 3: the unsealed tail's
/// transactions by block (`index::TX_BLOCKS`), sealed shards' in `txs-<gen>.idx` files
/// (`tx_index`); 2 keyed every transaction by hash prefix, 1 by full hash. Older indexes are
/// migrated on open (`index::migrate`).
pub const SCHEMA_VERSION: u32 = 3;

/// WAL file magic.
pub const WAL_MAGIC: [u8; 8] = *b"HISTDWAL";
/// Segment data file magic.
pub const SEG_MAGIC: [u8; 8] = *b"HISTDSEG";
/// Segment index file magic.
pub const IDX_MAGIC: [u8; 8] = *b"HISTDIDX";

/// File header length.
pub const FILE_HEADER: u64 = 24;
/// WAL record prefix (length + crc).
pub const RECORD_PREFIX: usize = 8;
/// WAL record head inside the payload.
pub const RECORD_HEAD: usize = 52;
/// Segment index entry length.
pub const INDEX_ENTRY: u64 = 56;
/// Shard row fixed part.
pub const ROW_FIXED: usize = 40;
/// Largest WAL payload accepted when reading (a sanity bound against a damaged length field).
pub const MAX_RECORD: u32 = 256 << 20;

/// Encodes a file header.
pub fn file_header(magic: [u8; 8], first_block: u64) -> [u8; FILE_HEADER as usize] {
    let mut out = [0u8; FILE_HEADER as usize];
    out[..8].copy_from_slice(&magic);
    out[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    out[16..24].copy_from_slice(&first_block.to_le_bytes());
    out
}

/// Checks a file header; returns what is wrong.
pub fn check_file_header(bytes: &[u8], magic: [u8; 8], first_block: u64) -> Result<(), String> {
    if bytes.len() < FILE_HEADER as usize {
        return Err("file header truncated".into());
    }
    if bytes[..8] != magic {
        return Err(format!("bad magic {:02x?}", &bytes[..8]));
    }
    let version = u32_at(bytes, 8);
    if version != FORMAT_VERSION {
        return Err(format!(
            "format version {version}, this build reads {FORMAT_VERSION}"
        ));
    }
    let first = u64_at(bytes, 16);
    if first != first_block {
        return Err(format!("file is for shard {first}, expected {first_block}"));
    }
    Ok(())
}

/// The three compressed frames of one block and where they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLens {
    /// Header frame length.
    pub header: u32,
    /// Transactions frame length.
    pub txs: u32,
    /// Receipts frame length.
    pub receipts: u32,
}

impl FrameLens {
    /// Total bytes of the three frames.
    pub fn total(&self) -> u64 {
        u64::from(self.header) + u64::from(self.txs) + u64::from(self.receipts)
    }
}

/// Head of a WAL record payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHead {
    /// Block number.
    pub number: u64,
    /// Block hash.
    pub hash: B256,
    /// Frame lengths.
    pub lens: FrameLens,
}

impl RecordHead {
    /// Encodes the head.
    pub fn encode(&self) -> [u8; RECORD_HEAD] {
        let mut out = [0u8; RECORD_HEAD];
        out[..8].copy_from_slice(&self.number.to_le_bytes());
        out[8..40].copy_from_slice(self.hash.as_slice());
        out[40..44].copy_from_slice(&self.lens.header.to_le_bytes());
        out[44..48].copy_from_slice(&self.lens.txs.to_le_bytes());
        out[48..52].copy_from_slice(&self.lens.receipts.to_le_bytes());
        out
    }

    /// Decodes a head and checks that `payload` holds exactly its frames.
    #[cfg(test)]
    pub fn decode(payload: &[u8]) -> Option<Self> {
        let frames = (payload.len() as u64).checked_sub(RECORD_HEAD as u64)?;
        Self::decode_with_frames(payload, frames)
    }

    /// Decodes a head read alone (at least `RECORD_HEAD` bytes) whose record carries `frames` bytes.
    pub fn decode_with_frames(head: &[u8], frames: u64) -> Option<Self> {
        if head.len() < RECORD_HEAD {
            return None;
        }
        let decoded = Self {
            number: u64_at(head, 0),
            hash: B256::from_slice(&head[8..40]),
            lens: FrameLens {
                header: u32_at(head, 40),
                txs: u32_at(head, 44),
                receipts: u32_at(head, 48),
            },
        };
        (decoded.lens.total() == frames && decoded.lens.header != 0).then_some(decoded)
    }
}

/// One entry of a segment's offset table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    /// Offset of the header frame in the data file.
    pub offset: u64,
    /// Frame lengths; `header == 0` means the block is absent.
    pub lens: FrameLens,
    /// crc32 of the three frames.
    pub crc: u32,
    /// Block hash.
    pub hash: B256,
}

impl IndexEntry {
    /// The entry of an absent block.
    pub const ABSENT: Self = Self {
        offset: 0,
        lens: FrameLens {
            header: 0,
            txs: 0,
            receipts: 0,
        },
        crc: 0,
        hash: B256::ZERO,
    };

    /// Whether the block is present.
    pub fn is_present(&self) -> bool {
        self.lens.header != 0
    }

    /// Encodes the entry.
    pub fn encode(&self) -> [u8; INDEX_ENTRY as usize] {
        let mut out = [0u8; INDEX_ENTRY as usize];
        out[..8].copy_from_slice(&self.offset.to_le_bytes());
        out[8..12].copy_from_slice(&self.lens.header.to_le_bytes());
        out[12..16].copy_from_slice(&self.lens.txs.to_le_bytes());
        out[16..20].copy_from_slice(&self.lens.receipts.to_le_bytes());
        out[20..24].copy_from_slice(&self.crc.to_le_bytes());
        out[24..56].copy_from_slice(self.hash.as_slice());
        out
    }

    /// Decodes an entry (the slice must be `INDEX_ENTRY` long).
    pub fn decode(b: &[u8]) -> Self {
        Self {
            offset: u64_at(b, 0),
            lens: FrameLens {
                header: u32_at(b, 8),
                txs: u32_at(b, 12),
                receipts: u32_at(b, 16),
            },
            crc: u32_at(b, 20),
            hash: B256::from_slice(&b[24..56]),
        }
    }
}

/// Byte offset of index entry `pos` in a `.idx` file.
pub fn index_entry_offset(pos: u64) -> u64 {
    FILE_HEADER + pos * INDEX_ENTRY
}

/// A shard's committed state, as stored in redb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardRow {
    /// Lifecycle state (never `Empty`: empty shards have no row).
    pub state: ShardState,
    /// Committed segment generation, 0 if none.
    pub seg_gen: u32,
    /// Committed WAL length, 0 if no WAL.
    pub wal_len: u64,
    /// Committed segment data length.
    pub seg_data_len: u64,
    /// Committed segment index entries.
    pub seg_entries: u32,
    /// Blocks present (WAL and segment).
    pub present: u32,
    /// crc32 of the sealed segment, 0 unless sealed.
    pub seal_crc: u32,
    /// Presence bitset.
    pub bits: Vec<u8>,
}

impl ShardRow {
    /// A row with nothing in it.
    pub fn new(state: ShardState, shard_size: u64) -> Self {
        Self {
            state,
            seg_gen: 0,
            wal_len: 0,
            seg_data_len: 0,
            seg_entries: 0,
            present: 0,
            seal_crc: 0,
            bits: vec![0; shard_size.div_ceil(8) as usize],
        }
    }

    /// Whether position `pos` is present.
    pub fn has(&self, pos: u64) -> bool {
        self.bits
            .get((pos / 8) as usize)
            .is_some_and(|b| b & (1 << (pos % 8)) != 0)
    }

    /// Marks `pos` present; returns whether it was absent.
    pub fn set(&mut self, pos: u64) -> bool {
        let Some(b) = self.bits.get_mut((pos / 8) as usize) else {
            return false;
        };
        let mask = 1 << (pos % 8);
        let was_absent = *b & mask == 0;
        *b |= mask;
        if was_absent {
            self.present += 1;
        }
        was_absent
    }

    /// Marks every position `>= from` absent.
    pub fn clear_from(&mut self, from: u64) {
        let len = self.bits.len() as u64 * 8;
        for pos in from..len {
            let b = &mut self.bits[(pos / 8) as usize];
            let mask = 1 << (pos % 8);
            if *b & mask != 0 {
                *b &= !mask;
                self.present -= 1;
            }
        }
    }

    /// First absent position in `from..limit`, if any.
    pub fn first_absent(&self, from: u64, limit: u64) -> Option<u64> {
        (from..limit).find(|&p| !self.has(p))
    }

    /// First present position in `from..limit`, if any.
    pub fn first_present(&self, from: u64, limit: u64) -> Option<u64> {
        (from..limit).find(|&p| self.has(p))
    }

    /// Encodes the row.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(ROW_FIXED + self.bits.len());
        out.push(self.state.code());
        out.push(ROW_VERSION);
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.seg_gen.to_le_bytes());
        out.extend_from_slice(&self.wal_len.to_le_bytes());
        out.extend_from_slice(&self.seg_data_len.to_le_bytes());
        out.extend_from_slice(&self.seg_entries.to_le_bytes());
        out.extend_from_slice(&self.present.to_le_bytes());
        out.extend_from_slice(&self.seal_crc.to_le_bytes());
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(&self.bits);
        out
    }

    /// Decodes a row; returns what is wrong.
    pub fn decode(b: &[u8], shard_size: u64) -> Result<Self, String> {
        let bits_len = shard_size.div_ceil(8) as usize;
        if b.len() != ROW_FIXED + bits_len {
            return Err(format!(
                "shard row is {} bytes, expected {}",
                b.len(),
                ROW_FIXED + bits_len
            ));
        }
        if b[1] != ROW_VERSION {
            return Err(format!("shard row version {}", b[1]));
        }
        let state = ShardState::from_code(b[0]).ok_or_else(|| format!("shard state {}", b[0]))?;
        Ok(Self {
            state,
            seg_gen: u32_at(b, 4),
            wal_len: u64_at(b, 8),
            seg_data_len: u64_at(b, 16),
            seg_entries: u32_at(b, 24),
            present: u32_at(b, 28),
            seal_crc: u32_at(b, 32),
            bits: b[ROW_FIXED..].to_vec(),
        })
    }
}

/// The little-endian `u32` at `at` in `b` (the caller has checked `b`'s length).
pub(in crate::storage) fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut x = [0u8; 4];
    x.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(x)
}

/// The little-endian `u64` at `at` in `b` (the caller has checked `b`'s length).
pub(in crate::storage) fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_round_trip_at_documented_sizes() {
        let head = RecordHead {
            number: 7,
            hash: B256::repeat_byte(3),
            lens: FrameLens {
                header: 1,
                txs: 2,
                receipts: 3,
            },
        };
        let mut payload = head.encode().to_vec();
        payload.extend_from_slice(&[0; 6]);
        assert_eq!(RecordHead::decode(&payload), Some(head));
        assert_eq!(RecordHead::decode(&payload[..payload.len() - 1]), None);
        let e = IndexEntry {
            offset: 99,
            lens: head.lens,
            crc: 5,
            hash: B256::repeat_byte(9),
        };
        assert_eq!(IndexEntry::decode(&e.encode()), e);
        let mut row = ShardRow::new(ShardState::Filling, 100);
        assert!(row.set(3) && !row.set(3) && row.has(3));
        row.wal_len = 1234;
        assert_eq!(row.encode().len(), ROW_FIXED + 13);
        assert_eq!(ShardRow::decode(&row.encode(), 100).unwrap(), row);
        row.clear_from(0);
        assert_eq!(row.present, 0);
        let h = file_header(WAL_MAGIC, 500);
        assert!(check_file_header(&h, WAL_MAGIC, 500).is_ok());
        assert!(check_file_header(&h, SEG_MAGIC, 500).is_err());
        assert!(check_file_header(&h, WAL_MAGIC, 0).is_err());
    }

    /// Format guard: these bytes are what version 1 writes. If this fails, the on-disk format
    /// changed: bump `FORMAT_VERSION`/`ROW_VERSION` and keep reading the old one.
    #[test]
    fn version_1_bytes_are_frozen() {
        let hex = |b: &[u8]| alloy_primitives::hex::encode(b);
        assert_eq!(
            hex(&file_header(SEG_MAGIC, 10_000)),
            "484953544453454701000000000000001027000000000000"
        );
        let head = RecordHead {
            number: 1,
            hash: B256::repeat_byte(0xaa),
            lens: FrameLens {
                header: 2,
                txs: 3,
                receipts: 4,
            },
        };
        assert_eq!(
            hex(&head.encode()),
            format!(
                "0100000000000000{}020000000300000004000000",
                "aa".repeat(32)
            )
        );
        let entry = IndexEntry {
            offset: 24,
            lens: head.lens,
            crc: 0xdead_beef,
            hash: B256::repeat_byte(0xbb),
        };
        assert_eq!(
            hex(&entry.encode()),
            format!(
                "1800000000000000020000000300000004000000efbeadde{}",
                "bb".repeat(32)
            )
        );
        let mut row = ShardRow::new(ShardState::Sorted, 16);
        row.set(0);
        row.set(9);
        row.seg_gen = 2;
        row.seg_data_len = 100;
        row.seg_entries = 10;
        assert_eq!(
            hex(&row.encode()),
            "0301000002000000000000000000000064000000000000000a000000020000000000000000000000\
             0102"
        );
    }
}
