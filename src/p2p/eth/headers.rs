//! `GetBlockHeaders` request body.

use alloy_primitives::B256;
use alloy_rlp::{Decodable, Encodable, Header};

use super::limits::MAX_HEADERS;
use crate::primitives::BlockNumber;

/// Where a header request starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockHashOrNumber {
    /// By hash (a 32-byte string on the wire).
    Hash(B256),
    /// By number (an integer on the wire).
    Number(BlockNumber),
}

impl From<B256> for BlockHashOrNumber {
    fn from(h: B256) -> Self {
        Self::Hash(h)
    }
}

impl From<BlockNumber> for BlockHashOrNumber {
    fn from(n: BlockNumber) -> Self {
        Self::Number(n)
    }
}

impl Encodable for BlockHashOrNumber {
    fn encode(&self, out: &mut dyn bytes::BufMut) {
        match self {
            Self::Hash(h) => h.encode(out),
            Self::Number(n) => n.get().encode(out),
        }
    }

    fn length(&self) -> usize {
        match self {
            Self::Hash(h) => h.length(),
            Self::Number(n) => n.get().length(),
        }
    }
}

impl Decodable for BlockHashOrNumber {
    fn decode(buf: &mut &[u8]) -> alloy_rlp::Result<Self> {
        let header = Header::decode(&mut &buf[..])?;
        if !header.list && header.payload_length == 32 {
            Ok(Self::Hash(B256::decode(buf)?))
        } else {
            Ok(Self::Number(BlockNumber(u64::decode(buf)?)))
        }
    }
}

/// `GetBlockHeaders`: `[start, limit, skip, reverse]`. Headers `skip + 1` apart, ascending from
/// `start` (descending when `reverse`), at most `limit` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetBlockHeaders {
    /// First header.
    pub start: BlockHashOrNumber,
    /// Most headers wanted. Peers may ask for more than we serve; see [`Self::served_limit`].
    pub limit: u64,
    /// Headers skipped between two returned ones.
    pub skip: u64,
    /// Descending numbers.
    pub reverse: bool,
}

impl GetBlockHeaders {
    /// How many headers we answer at most: the request's limit, capped at [`MAX_HEADERS`]
    /// (asking for more is legal; the answer is just shorter).
    pub fn served_limit(&self) -> usize {
        usize::try_from(self.limit).map_or(MAX_HEADERS, |l| l.min(MAX_HEADERS))
    }

    fn fields_len(&self) -> usize {
        self.start.length() + self.limit.length() + self.skip.length() + self.reverse.length()
    }
}

impl Encodable for GetBlockHeaders {
    fn encode(&self, out: &mut dyn bytes::BufMut) {
        Header {
            list: true,
            payload_length: self.fields_len(),
        }
        .encode(out);
        self.start.encode(out);
        self.limit.encode(out);
        self.skip.encode(out);
        self.reverse.encode(out);
    }

    fn length(&self) -> usize {
        let p = self.fields_len();
        alloy_rlp::length_of_length(p) + p
    }
}

impl Decodable for GetBlockHeaders {
    fn decode(buf: &mut &[u8]) -> alloy_rlp::Result<Self> {
        let header = Header::decode(buf)?;
        if !header.list {
            return Err(alloy_rlp::Error::UnexpectedString);
        }
        if buf.len() < header.payload_length {
            return Err(alloy_rlp::Error::InputTooShort);
        }
        let (mut body, rest) = buf.split_at(header.payload_length);
        let this = Self {
            start: BlockHashOrNumber::decode(&mut body)?,
            limit: u64::decode(&mut body)?,
            skip: u64::decode(&mut body)?,
            reverse: bool::decode(&mut body)?,
        };
        if !body.is_empty() {
            return Err(alloy_rlp::Error::ListLengthMismatch {
                expected: header.payload_length,
                got: header.payload_length - body.len(),
            });
        }
        *buf = rest;
        Ok(this)
    }
}
