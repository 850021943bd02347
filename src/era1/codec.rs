//! Between an era1 block tuple and histd's block types: RLP decoding of the three parts (exact:
//! no bytes left over) and the encoding back for export, so that a decompressed exported entry is
//! byte-for-byte the one imported.

use alloy_consensus::Header;
use alloy_primitives::U256;
use alloy_rlp::{Decodable, Encodable, Header as RlpHeader};

use super::error::BlockError;
use super::file::BlockTuple;
use crate::primitives::{
    Body, Receipt, ReceiptDecodeError, VerifiedBlock, decode_body, encode_body,
};

/// Decodes `rlp(header)`.
pub fn header(bytes: &[u8]) -> Result<Header, BlockError> {
    let mut buf = bytes;
    let h = Header::decode(&mut buf).map_err(BlockError::Header)?;
    no_trailing("header", buf)?;
    Ok(h)
}

/// Decodes `rlp([txs, ommers(, withdrawals)])`.
pub fn body(bytes: &[u8]) -> Result<Body, BlockError> {
    let mut buf = bytes;
    let b = decode_body(&mut buf).map_err(BlockError::Body)?;
    no_trailing("body", buf)?;
    Ok(b)
}

/// Decodes the RLP list of consensus receipts (typed ones wrapped as byte strings: eth/68 form).
pub fn receipts(bytes: &[u8]) -> Result<Vec<Receipt>, BlockError> {
    let mut buf = bytes;
    let list = RlpHeader::decode(&mut buf)
        .map_err(|e| BlockError::Receipts(ReceiptDecodeError::Rlp(e)))?;
    if !list.list {
        return Err(BlockError::Receipts(ReceiptDecodeError::Rlp(
            alloy_rlp::Error::UnexpectedString,
        )));
    }
    if buf.len() < list.payload_length {
        return Err(BlockError::Receipts(ReceiptDecodeError::Rlp(
            alloy_rlp::Error::InputTooShort,
        )));
    }
    let (mut items, rest) = buf.split_at(list.payload_length);
    no_trailing("receipts", rest)?;
    let mut out = Vec::new();
    while !items.is_empty() {
        out.push(Receipt::decode_eth68(&mut items).map_err(BlockError::Receipts)?);
    }
    Ok(out)
}

fn no_trailing(part: &'static str, rest: &[u8]) -> Result<(), BlockError> {
    if rest.is_empty() {
        Ok(())
    } else {
        Err(BlockError::Trailing {
            part,
            len: rest.len(),
        })
    }
}

/// Encodes receipts as the era1 receipts part.
pub fn encode_receipts(receipts: &[Receipt]) -> Vec<u8> {
    let payload: usize = receipts.iter().map(Receipt::eth68_length).sum();
    let mut out = Vec::with_capacity(payload + 9);
    RlpHeader {
        list: true,
        payload_length: payload,
    }
    .encode(&mut out);
    for r in receipts {
        r.encode_eth68(&mut out);
    }
    out
}

/// The era1 tuple of a stored block with its total difficulty.
pub fn tuple(block: &VerifiedBlock, total_difficulty: U256) -> BlockTuple {
    let mut header = Vec::with_capacity(600);
    block.header().encode(&mut header);
    let mut body = Vec::new();
    encode_body(block.body(), &mut body);
    BlockTuple {
        header,
        body,
        receipts: encode_receipts(block.receipts()),
        total_difficulty,
    }
}
