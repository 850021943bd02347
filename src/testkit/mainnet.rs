//! Loader for the real mainnet blocks in `../shared/testdata/mainnet/blocks/*.yaml`.
//!
//! Each file holds a header (RLP), an eth-wire body and eth/69 receipts as unquoted hex. Loading does
//! not verify: tests verify, so a loader bug cannot hide a verifier bug.

use std::path::{Path, PathBuf};

use alloy_rlp::{Decodable, Header as RlpHeader};

// Re-exported so existing `testkit::mainnet::testdata_dir` callers get the one definition.
pub use super::testdata_dir;
use crate::primitives::{Body, Header, Receipt, decode_body};

/// One mainnet block as published, decoded but not verified.
#[derive(Debug, Clone)]
pub struct RawMainnetBlock {
    /// File it came from.
    pub file: PathBuf,
    /// Decoded header.
    pub header: Header,
    /// Decoded body.
    pub body: Body,
    /// Decoded receipts.
    pub receipts: Vec<Receipt>,
    /// The three RLP blobs as stored in the file: header, body, eth/69 receipts.
    pub raw_header: Vec<u8>,
    /// eth-wire body RLP.
    pub raw_body: Vec<u8>,
    /// eth/69 receipts list RLP.
    pub raw_receipts: Vec<u8>,
}

fn field(text: &str, key: &str, file: &Path) -> Vec<u8> {
    let prefix = format!("{key}:");
    let line = text
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("{}: no `{key}` line", file.display()));
    let hex = line[prefix.len()..].trim();
    alloy_primitives::hex::decode(hex)
        .unwrap_or_else(|e| panic!("{}: `{key}` is not hex: {e}", file.display()))
}

/// Decodes an eth/69 receipt list.
pub fn decode_eth69_receipts(mut buf: &[u8]) -> Vec<Receipt> {
    let header = RlpHeader::decode(&mut buf).expect("receipt list header");
    assert!(header.list, "receipts are a list");
    let mut inner = &buf[..header.payload_length];
    let mut out = Vec::new();
    while !inner.is_empty() {
        out.push(Receipt::decode_eth69(&mut inner).expect("eth/69 receipt"));
    }
    out
}

/// Every block in `mainnet/blocks`, ascending by number.
pub fn load_blocks() -> Vec<RawMainnetBlock> {
    let dir = testdata_dir().join("mainnet").join("blocks");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    let mut blocks: Vec<RawMainnetBlock> = files
        .into_iter()
        .map(|file| {
            let text = std::fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let raw_header = field(&text, "header", &file);
            let raw_body = field(&text, "body", &file);
            let raw_receipts = field(&text, "receipts", &file);
            let header = Header::decode(&mut &raw_header[..]).expect("header RLP");
            let body = decode_body(&mut &raw_body[..]).expect("body RLP");
            let receipts = decode_eth69_receipts(&raw_receipts);
            RawMainnetBlock {
                file,
                header,
                body,
                receipts,
                raw_header,
                raw_body,
                raw_receipts,
            }
        })
        .collect();
    blocks.sort_by_key(|b| b.header.number);
    blocks
}
