//! Loader for the 30 consecutive real mainnet blocks 1000001–1000030 in
//! `shared/testdata/mainnet/frontier/*.json` (2016: 62 legacy txs, 14 logs, one ommer, pre-Byzantium
//! receipts carrying a 32-byte intermediate state root instead of a status).
//!
//! The files are Portal-network JSON keyed by block hash: `header` is RLP, `body` and `receipts` are
//! SSZ wrappers around RLP. Besides the decoded block, the loader rebuilds the exact eth-wire bytes
//! (body and eth/68 receipt list) from the SSZ pieces without going through histd's encoders, so tests
//! can compare histd's encodings and what a foreign peer sends against bytes nobody here produced.
//!
//! Loading does not verify (tests verify), and panics with the file name on malformed data: it only
//! ever reads the committed test data.

use std::path::{Path, PathBuf};

use alloy_primitives::{B256, keccak256};
use alloy_rlp::{Decodable, Header as RlpHeader};

use crate::primitives::{Body, Header, Receipt, VerifiedBlock, decode_body};
use crate::verify::{self, SealedHeader};

/// First block number in the frontier test data.
pub const FIRST: u64 = 1_000_001;
/// Number of consecutive blocks in the frontier test data.
pub const COUNT: usize = 30;

/// One frontier block as published, decoded but not verified.
#[derive(Debug, Clone)]
pub struct FrontierBlock {
    /// Block hash, the key in the JSON file (checked to be `keccak256(raw_header)`).
    pub hash: B256,
    /// Decoded header.
    pub header: Header,
    /// Decoded body.
    pub body: Body,
    /// Decoded receipts.
    pub receipts: Vec<Receipt>,
    /// Header RLP as stored in the file.
    pub raw_header: Vec<u8>,
    /// eth-wire body `rlp([txs, ommers(, withdrawals)])`, assembled from the SSZ pieces.
    pub wire_body: Vec<u8>,
    /// eth/68 receipt list `rlp([receipt, ...])` (consensus encodings, typed ones as RLP strings),
    /// assembled from the SSZ pieces.
    pub wire_receipts_eth68: Vec<u8>,
}

/// `shared/testdata/mainnet/frontier`, found by walking up from the crate directory (the
/// repository may be checked out at different depths below the directory that holds `shared/`).
pub fn frontier_dir() -> PathBuf {
    super::testdata_dir().join("mainnet").join("frontier")
}

fn u32_le(b: &[u8], at: usize, what: &str) -> usize {
    let bytes: [u8; 4] = b
        .get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .unwrap_or_else(|| panic!("{what}: SSZ offset at {at} beyond {} bytes", b.len()));
    u32::from_le_bytes(bytes) as usize
}

/// An SSZ container of `n` variable-size fields: `n` little-endian u32 offsets, then the data.
fn ssz_fields<'a>(b: &'a [u8], n: usize, what: &str) -> Vec<&'a [u8]> {
    let mut offsets: Vec<usize> = (0..n).map(|i| u32_le(b, 4 * i, what)).collect();
    offsets.push(b.len());
    offsets
        .windows(2)
        .map(|w| {
            b.get(w[0]..w[1])
                .unwrap_or_else(|| panic!("{what}: SSZ offsets {}..{} out of order", w[0], w[1]))
        })
        .collect()
}

/// SSZ `List[ByteList]`: the first offset says how many elements follow.
fn ssz_byte_lists<'a>(b: &'a [u8], what: &str) -> Vec<&'a [u8]> {
    if b.is_empty() {
        return Vec::new();
    }
    let first = u32_le(b, 0, what);
    assert!(first.is_multiple_of(4), "{what}: first SSZ offset {first}");
    ssz_fields(b, first / 4, what)
}

/// Appends an EIP-2718 item (transaction or receipt) as it sits inside an eth-wire list: a legacy
/// item is its RLP list as is, a typed one `type || payload` is wrapped in an RLP string.
fn push_wire_item(out: &mut Vec<u8>, item: &[u8]) {
    if item.first().is_some_and(|&b| b < 0xc0) {
        RlpHeader {
            list: false,
            payload_length: item.len(),
        }
        .encode(out);
    }
    out.extend_from_slice(item);
}

fn rlp_list(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 9);
    RlpHeader {
        list: true,
        payload_length: payload.len(),
    }
    .encode(&mut out);
    out.extend_from_slice(payload);
    out
}

fn hex_field(value: &serde_json::Value, key: &str, what: &str) -> Vec<u8> {
    let s = value[key]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no string `{key}`"));
    alloy_primitives::hex::decode(s).unwrap_or_else(|e| panic!("{what}: `{key}` is not hex: {e}"))
}

fn decode_block(file: &Path, key: &str, value: &serde_json::Value) -> FrontierBlock {
    let what = format!("{} {key}", file.display());
    let hash: B256 = key
        .parse()
        .unwrap_or_else(|e| panic!("{what}: key is not a hash: {e}"));
    let raw_header = hex_field(value, "header", &what);
    assert_eq!(keccak256(&raw_header), hash, "{what}: header hash");
    let header = Header::decode(&mut &raw_header[..]).expect("header RLP");

    // PortalBlockBodyLegacy(txs: List[ByteList], uncles: ByteList of RLP) or, from Shanghai,
    // PortalBlockBodyShanghai(txs, uncles, withdrawals: List[ByteList]).
    let body_ssz = hex_field(value, "body", &what);
    let fields = u32_le(&body_ssz, 0, &what) / 4;
    assert!(
        fields == 2 || fields == 3,
        "{what}: body has {fields} fields"
    );
    let parts = ssz_fields(&body_ssz, fields, &what);
    let mut txs = Vec::new();
    for tx in ssz_byte_lists(parts[0], &what) {
        push_wire_item(&mut txs, tx);
    }
    let mut body_payload = rlp_list(&txs);
    body_payload.extend_from_slice(parts[1]);
    if fields == 3 {
        let withdrawals: Vec<u8> = ssz_byte_lists(parts[2], &what).concat();
        body_payload.extend_from_slice(&rlp_list(&withdrawals));
    }
    let wire_body = rlp_list(&body_payload);
    let body = decode_body(&mut &wire_body[..]).unwrap_or_else(|e| panic!("{what}: body: {e}"));

    let receipts_ssz = hex_field(value, "receipts", &what);
    let mut receipts = Vec::new();
    let mut receipts_payload = Vec::new();
    for raw in ssz_byte_lists(&receipts_ssz, &what) {
        let mut buf = raw;
        let r = Receipt::decode_consensus(&mut buf).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(buf.is_empty(), "{what}: bytes after a receipt");
        receipts.push(r);
        push_wire_item(&mut receipts_payload, raw);
    }

    FrontierBlock {
        hash,
        header,
        body,
        receipts,
        raw_header,
        wire_body,
        wire_receipts_eth68: rlp_list(&receipts_payload),
    }
}

/// All frontier blocks, ascending by number.
pub fn load_frontier() -> Vec<FrontierBlock> {
    let dir = frontier_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut blocks = Vec::new();
    for file in files {
        let text =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let json: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: not JSON: {e}", file.display()));
        let map = json
            .as_object()
            .unwrap_or_else(|| panic!("{}: not a JSON object", file.display()));
        for (key, value) in map {
            blocks.push(decode_block(&file, key, value));
        }
    }
    blocks.sort_by_key(|b| b.header.number);
    blocks
}

/// All frontier blocks, passed through the real verifier (roots and parent links), ready for a
/// history provider to serve. Panics if the test data does not verify.
pub fn verified_frontier() -> Vec<VerifiedBlock> {
    let blocks = load_frontier();
    let sealed = verify::seal_chain(blocks.iter().map(|b| b.header.clone()).collect())
        .unwrap_or_else(|e| panic!("frontier blocks do not link: {e}"));
    sealed
        .into_iter()
        .zip(blocks)
        .map(|(s, b): (SealedHeader, FrontierBlock)| {
            verify::verify_block(s, b.body, b.receipts)
                .unwrap_or_else(|e| panic!("frontier block {}: {e}", b.header.number))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use alloy_consensus::Eip658Value;

    use super::*;
    use crate::primitives::encode_body;

    #[test]
    fn frontier_blocks_verify_and_link() {
        let blocks = load_frontier();
        assert_eq!(blocks.len(), COUNT);
        let numbers: Vec<u64> = blocks.iter().map(|b| b.header.number).collect();
        let expected: Vec<u64> = (FIRST..FIRST + COUNT as u64).collect();
        assert_eq!(numbers, expected);

        let sealed = verify::seal_chain(blocks.iter().map(|b| b.header.clone()).collect())
            .expect("the 30 blocks form one hash-linked chain");
        for (s, b) in sealed.into_iter().zip(&blocks) {
            assert_eq!(s.hash, b.hash);
            verify::verify_block(s, b.body.clone(), b.receipts.clone())
                .unwrap_or_else(|e| panic!("block {}: {e}", b.header.number));
        }
        assert_eq!(verified_frontier().len(), COUNT);

        let txs: usize = blocks.iter().map(|b| b.body.transactions.len()).sum();
        let logs: usize = blocks
            .iter()
            .flat_map(|b| &b.receipts)
            .map(|r| r.logs.len())
            .sum();
        let ommers: usize = blocks.iter().map(|b| b.body.ommers.len()).sum();
        assert_eq!((txs, logs, ommers), (62, 14, 1));
        assert!(
            blocks
                .iter()
                .flat_map(|b| &b.receipts)
                .all(|r| matches!(r.status, Eip658Value::PostState(_))),
            "pre-Byzantium receipts carry a state root"
        );
    }

    #[test]
    fn histd_wire_encodings_match_the_published_bytes() {
        for b in load_frontier() {
            let mut body = Vec::new();
            encode_body(&b.body, &mut body);
            assert_eq!(body, b.wire_body, "body of {}", b.header.number);

            let payload: usize = b.receipts.iter().map(|r| r.eth68_length()).sum();
            let mut list = Vec::new();
            RlpHeader {
                list: true,
                payload_length: payload,
            }
            .encode(&mut list);
            for r in &b.receipts {
                r.encode_eth68(&mut list);
            }
            assert_eq!(
                list, b.wire_receipts_eth68,
                "receipts of {}",
                b.header.number
            );
        }
    }
}
