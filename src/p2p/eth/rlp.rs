//! Small RLP helpers shared by the eth codecs: list framing, element counting before allocation,
//! and encoding a list around already-encoded items.

use alloy_rlp::{Encodable, Header};

use super::EthDecodeErrorKind as Kind;

pub(super) fn rlp_err(what: &'static str) -> impl Fn(alloy_rlp::Error) -> Kind {
    move |source| Kind::Rlp { what, source }
}

/// Consumes one RLP list from `buf` and returns its payload.
pub(super) fn take_list<'a>(buf: &mut &'a [u8], what: &'static str) -> Result<&'a [u8], Kind> {
    let header = Header::decode(buf).map_err(rlp_err(what))?;
    if !header.list {
        return Err(Kind::Rlp {
            what,
            source: alloy_rlp::Error::UnexpectedString,
        });
    }
    if buf.len() < header.payload_length {
        return Err(Kind::Rlp {
            what,
            source: alloy_rlp::Error::InputTooShort,
        });
    }
    let (payload, rest) = buf.split_at(header.payload_length);
    *buf = rest;
    Ok(payload)
}

/// Consumes one RLP item (string or list) from `buf` and returns it whole, header included.
pub(super) fn take_item<'a>(buf: &mut &'a [u8]) -> Result<&'a [u8], alloy_rlp::Error> {
    let start = *buf;
    let mut rest = *buf;
    let header = Header::decode(&mut rest)?;
    if rest.len() < header.payload_length {
        return Err(alloy_rlp::Error::InputTooShort);
    }
    let item_len = start.len() - rest.len() + header.payload_length;
    *buf = &start[item_len..];
    Ok(&start[..item_len])
}

/// Number of items in a list payload, walking only the headers; fails as soon as there are more
/// than `max`, so a hostile count never reaches an allocation.
pub(super) fn count_items(
    mut payload: &[u8],
    what: &'static str,
    max: usize,
) -> Result<usize, Kind> {
    let mut n = 0;
    while !payload.is_empty() {
        take_item(&mut payload).map_err(|source| Kind::Element {
            what,
            index: n,
            source,
        })?;
        n += 1;
        if n > max {
            return Err(Kind::TooMany { what, max });
        }
    }
    Ok(n)
}

/// Fails unless `buf` is fully consumed.
pub(super) fn finish(buf: &[u8], what: &'static str) -> Result<(), Kind> {
    if buf.is_empty() {
        Ok(())
    } else {
        Err(Kind::Trailing {
            what,
            len: buf.len(),
        })
    }
}

/// Decodes every element of a list payload with `decode`, after checking the count against `max`.
pub(super) fn decode_list<T>(
    payload: &[u8],
    what: &'static str,
    max: usize,
    mut decode: impl FnMut(&mut &[u8]) -> Result<T, alloy_rlp::Error>,
) -> Result<Vec<T>, Kind> {
    let n = count_items(payload, what, max)?;
    let mut out = Vec::with_capacity(n);
    let mut buf = payload;
    for index in 0..n {
        let mut item = take_item(&mut buf).map_err(|source| Kind::Element {
            what,
            index,
            source,
        })?;
        let value = decode(&mut item).map_err(|source| Kind::Element {
            what,
            index,
            source,
        })?;
        if !item.is_empty() {
            return Err(Kind::Trailing {
                what,
                len: item.len(),
            });
        }
        out.push(value);
    }
    Ok(out)
}

/// `rlp([items...])` where `items` is the concatenation of already-encoded items.
pub(super) fn list_of_encoded(items: &[u8], out: &mut Vec<u8>) {
    Header {
        list: true,
        payload_length: items.len(),
    }
    .encode(out);
    out.extend_from_slice(items);
}

/// `rlp([request_id, <inner>])` where `inner` is one already-encoded item.
pub(super) fn request_pair(request_id: u64, inner: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(inner.len() + 16);
    Header {
        list: true,
        payload_length: request_id.length() + inner.len(),
    }
    .encode(&mut out);
    request_id.encode(&mut out);
    out.extend_from_slice(inner);
    out
}
