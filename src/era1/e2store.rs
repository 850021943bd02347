//! e2store: the record container under era and era1 files.
//!
//! Owns the entry framing and nothing above it (which entry types follow which is `file.rs`'s
//! job). Each entry is an 8-byte header and its data:
//!
//! ```text
//! offset 0  type      u16 little-endian   (0x3265 "e2" = Version, 0x03 = CompressedHeader, ...)
//! offset 2  length    u32 little-endian   (bytes of data that follow the header)
//! offset 6  reserved  u16, always zero
//! offset 8  data      `length` bytes
//! ```
//!
//! Spec: <https://github.com/eth-clients/e2store-format-specs/blob/main/formats/e2store.md>.
//! The reader never trusts a length: it is checked against what is left of the file before any
//! allocation, so a flipped length byte is a clear error instead of a 4 GiB buffer.

use std::io::{self, Read, Write};

/// Bytes of an entry header.
pub const HEADER_LEN: u64 = 8;

/// One entry as read: its type, its data and where its header starts in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Entry type.
    pub kind: u16,
    /// Entry data (`length` bytes).
    pub data: Vec<u8>,
    /// Byte offset of the entry header in the file.
    pub offset: u64,
}

/// Why the next entry could not be read.
#[derive(Debug, thiserror::Error)]
pub enum E2Error {
    /// Reading the file failed.
    #[error("read error at byte {offset}: {source}")]
    Io {
        offset: u64,
        #[source]
        source: io::Error,
    },
    /// The file ends inside an entry.
    #[error("truncated: the entry at byte {offset} needs {needed} bytes, {available} are left")]
    Truncated {
        offset: u64,
        needed: u64,
        available: u64,
    },
    /// The reserved header bytes are not zero.
    #[error("entry at byte {offset}: reserved header bytes are {reserved:#06x}, not zero")]
    Reserved { offset: u64, reserved: u16 },
}

/// Reads entries one after another from a stream of known length.
#[derive(Debug)]
pub struct E2Reader<R> {
    inner: R,
    pos: u64,
    len: u64,
}

impl<R: Read> E2Reader<R> {
    /// Reads from `inner`, which holds `len` bytes.
    pub fn new(inner: R, len: u64) -> Self {
        Self { inner, pos: 0, len }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// The next entry, or `None` at the end of the file (exactly at an entry boundary).
    pub fn next_entry(&mut self) -> Result<Option<Entry>, E2Error> {
        let offset = self.pos;
        let available = self.len - self.pos;
        if available == 0 {
            return Ok(None);
        }
        if available < HEADER_LEN {
            return Err(E2Error::Truncated {
                offset,
                needed: HEADER_LEN,
                available,
            });
        }
        let mut header = [0u8; HEADER_LEN as usize];
        self.read_exact(&mut header, offset)?;
        let kind = u16::from_le_bytes([header[0], header[1]]);
        let length = u32::from_le_bytes([header[2], header[3], header[4], header[5]]);
        let reserved = u16::from_le_bytes([header[6], header[7]]);
        if reserved != 0 {
            return Err(E2Error::Reserved { offset, reserved });
        }
        let needed = HEADER_LEN + u64::from(length);
        if needed > available {
            return Err(E2Error::Truncated {
                offset,
                needed,
                available,
            });
        }
        let mut data = vec![0u8; length as usize];
        self.read_exact(&mut data, offset)?;
        Ok(Some(Entry { kind, data, offset }))
    }

    fn read_exact(&mut self, buf: &mut [u8], offset: u64) -> Result<(), E2Error> {
        self.inner
            .read_exact(buf)
            .map_err(|source| match source.kind() {
                // The file shrank under us since its length was taken.
                io::ErrorKind::UnexpectedEof => E2Error::Truncated {
                    offset,
                    needed: buf.len() as u64,
                    available: 0,
                },
                _ => E2Error::Io { offset, source },
            })?;
        self.pos += buf.len() as u64;
        Ok(())
    }
}

/// Writes entries one after another, counting bytes so callers know each entry's offset.
#[derive(Debug)]
pub struct E2Writer<W> {
    inner: W,
    pos: u64,
}

impl<W: Write> E2Writer<W> {
    /// Writes to `inner`, starting at offset 0.
    pub fn new(inner: W) -> Self {
        Self { inner, pos: 0 }
    }

    /// Bytes written so far (the offset the next entry gets).
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Writes one entry; returns the offset of its header.
    pub fn write_entry(&mut self, kind: u16, data: &[u8]) -> io::Result<u64> {
        let length = u32::try_from(data.len()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("e2store entry of {} bytes exceeds u32", data.len()),
            )
        })?;
        let offset = self.pos;
        let mut header = [0u8; HEADER_LEN as usize];
        header[..2].copy_from_slice(&kind.to_le_bytes());
        header[2..6].copy_from_slice(&length.to_le_bytes());
        self.inner.write_all(&header)?;
        self.inner.write_all(data)?;
        self.pos += HEADER_LEN + u64::from(length);
        Ok(offset)
    }

    /// The underlying writer.
    pub fn into_inner(self) -> W {
        self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip() {
        let mut w = E2Writer::new(Vec::new());
        assert_eq!(w.write_entry(0x3265, &[]).unwrap(), 0);
        assert_eq!(w.write_entry(0x03, b"abc").unwrap(), 8);
        let bytes = w.into_inner();
        assert_eq!(bytes.len(), 19);
        assert_eq!(&bytes[8..16], &[0x03, 0, 3, 0, 0, 0, 0, 0]);
        let mut r = E2Reader::new(&bytes[..], bytes.len() as u64);
        let a = r.next_entry().unwrap().unwrap();
        assert_eq!((a.kind, a.data.len(), a.offset), (0x3265, 0, 0));
        let b = r.next_entry().unwrap().unwrap();
        assert_eq!(
            (b.kind, b.data.as_slice(), b.offset),
            (0x03, &b"abc"[..], 8)
        );
        assert!(r.next_entry().unwrap().is_none());
    }

    #[test]
    fn truncation_and_reserved_bytes_are_errors() {
        let mut w = E2Writer::new(Vec::new());
        w.write_entry(0x03, b"abcdef").unwrap();
        let bytes = w.into_inner();
        for cut in [3, 8, 13] {
            let mut r = E2Reader::new(&bytes[..cut], cut as u64);
            assert!(
                matches!(r.next_entry(), Err(E2Error::Truncated { offset: 0, .. })),
                "cut at {cut}"
            );
        }
        let mut bad = bytes.clone();
        bad[7] = 1;
        let mut r = E2Reader::new(&bad[..], bad.len() as u64);
        assert!(matches!(
            r.next_entry(),
            Err(E2Error::Reserved { offset: 0, .. })
        ));
        // A length past the end is refused before allocating it.
        let mut long = bytes;
        long[5] = 0xff;
        let mut r = E2Reader::new(&long[..], long.len() as u64);
        assert!(matches!(r.next_entry(), Err(E2Error::Truncated { .. })));
    }
}
