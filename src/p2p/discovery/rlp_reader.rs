//! A lenient reader over one RLP list, for the wire formats discovery decodes by hand (discv4
//! packets, ENRs): items are read in order and anything after the ones we know is ignored, which is
//! what EIP-8 forward compatibility asks for.
//!
//! Owns only RLP item access; it never allocates (items are borrowed slices) and never panics on
//! malformed input.

use alloy_rlp::{Decodable, Error, Header};

/// The items of one RLP list, read front to back.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ListReader<'a> {
    rest: &'a [u8],
}

impl<'a> ListReader<'a> {
    /// Reads a list header from `buf` and advances `buf` past the whole list.
    pub(crate) fn new(buf: &mut &'a [u8]) -> Result<Self, Error> {
        let payload = Header::decode_bytes(buf, true)?;
        Ok(Self { rest: payload })
    }

    /// True when every item has been read.
    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next item, which must be a byte string.
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], Error> {
        Header::decode_bytes(&mut self.rest, false)
    }

    /// The next item, which must be a list.
    pub(crate) fn list(&mut self) -> Result<ListReader<'a>, Error> {
        ListReader::new(&mut self.rest)
    }

    /// The next item as an unsigned integer (canonical: no leading zeros).
    pub(crate) fn u64(&mut self) -> Result<u64, Error> {
        u64::decode(&mut self.rest)
    }

    /// The next item as a 16-bit unsigned integer.
    pub(crate) fn u16(&mut self) -> Result<u16, Error> {
        u16::decode(&mut self.rest)
    }

    /// The next item as a fixed-size byte string of exactly `N` bytes.
    pub(crate) fn fixed<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let b = self.bytes()?;
        b.try_into().map_err(|_| Error::UnexpectedLength)
    }

    /// The raw encoding (header included) of the next item, whatever it is.
    pub(crate) fn raw(&mut self) -> Result<&'a [u8], Error> {
        let start = self.rest;
        let mut probe = self.rest;
        let header = Header::decode(&mut probe)?;
        let header_len = start.len() - probe.len();
        // Header::decode has checked that the payload fits in the buffer.
        let total = header_len + header.payload_length;
        let (item, rest) = start.split_at(total);
        self.rest = rest;
        Ok(item)
    }

    /// Skips the next item, whatever it is.
    pub(crate) fn skip(&mut self) -> Result<(), Error> {
        self.raw().map(|_| ())
    }
}

/// Appends `rlp(list)` whose payload is written by `f`.
pub(crate) fn encode_list(out: &mut Vec<u8>, f: impl FnOnce(&mut Vec<u8>)) {
    let mut payload = Vec::new();
    f(&mut payload);
    Header {
        list: true,
        payload_length: payload.len(),
    }
    .encode(out);
    out.extend_from_slice(&payload);
}
