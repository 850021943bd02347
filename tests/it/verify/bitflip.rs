//! Single-bit flips in real mainnet blocks as a peer would send them (header RLP, eth-wire body,
//! eth/69 receipts): every flip must either fail to decode, decode to exactly the original data, or
//! be caught by verification. A flip that decodes to different data and still verifies would let a
//! peer store altered history. Seeded, so a failure reproduces.
//!
//! The header is checked against its trusted hash (what its real child names as parent) and its link
//! to that child; body and receipts against the real header's roots and bloom.

use alloy_rlp::Decodable;
use histd::primitives::{Body, Header, Receipt, decode_body};
use histd::testkit::mainnet::{RawMainnetBlock, load_blocks};
use histd::verify::{self, SealedHeader};

/// Flips per blob. A few thousand over all blobs keeps the test to seconds in a debug build.
const FLIPS: usize = 1_500;

/// splitmix64: a fixed, dependency-free sequence, so the same flips run everywhere.
struct Flips(u64);

impl Flips {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A copy of `data` with one random bit flipped, and the flipped bit's index.
    fn flip(&mut self, data: &[u8]) -> (Vec<u8>, usize) {
        let bit = (self.next() % (data.len() as u64 * 8)) as usize;
        let mut out = data.to_vec();
        out[bit / 8] ^= 1 << (bit % 8);
        (out, bit)
    }
}

/// What happened to the flips over one blob.
#[derive(Debug, Default)]
struct Tally {
    tried: usize,
    decode_failed: usize,
    caught_by_verify: usize,
    /// Malformed or non-canonical input that decodes to the original value. Seen in bodies: a flip
    /// in a typed transaction's RLP string length is ignored, because alloy's
    /// `Decodable2718::network_decode` (alloy-eips 2.5) compares the consumed length against the
    /// declared one only when the byte *after* the string header exceeds 0x80, which a type byte
    /// never does. Harmless here (the decoded data is the real data), so counted, not failed.
    unchanged_after_decode: usize,
}

impl Tally {
    fn print(&self, what: &str) {
        println!(
            "{what}: {} flips, {} failed to decode, {} caught by verify, {} unchanged after decode",
            self.tried, self.decode_failed, self.caught_by_verify, self.unchanged_after_decode
        );
        assert_eq!(
            self.tried,
            self.decode_failed + self.caught_by_verify + self.unchanged_after_decode
        );
        // A sweep where (almost) nothing decodes would test the decoder, not the verifier.
        assert!(
            self.caught_by_verify > self.tried / 4,
            "{what}: too few flips reached the verifier"
        );
    }
}

fn block(number: u64) -> RawMainnetBlock {
    load_blocks()
        .into_iter()
        .find(|b| b.header.number == number)
        .unwrap_or_else(|| panic!("testdata has block {number}"))
}

/// A whole-input decode: bytes left over mean the peer's message is malformed.
fn decode_header(mut buf: &[u8]) -> Option<Header> {
    let h = Header::decode(&mut buf).ok()?;
    buf.is_empty().then_some(h)
}

fn decode_whole_body(mut buf: &[u8]) -> Option<Body> {
    let b = decode_body(&mut buf).ok()?;
    buf.is_empty().then_some(b)
}

fn decode_receipts(mut buf: &[u8]) -> Option<Vec<Receipt>> {
    let list = alloy_rlp::Header::decode(&mut buf).ok()?;
    if !list.list || list.payload_length != buf.len() {
        return None;
    }
    let mut out = Vec::new();
    while !buf.is_empty() {
        out.push(Receipt::decode_eth69(&mut buf).ok()?);
    }
    Some(out)
}

#[test]
fn header_bit_flips_are_caught_by_hash_and_link() {
    // 19426586's trusted hash is the parent hash of the real block after it.
    let parent = block(19_426_586);
    let child = SealedHeader::seal(block(19_426_587).header);
    let trusted = child.header.parent_hash;
    verify::check_hash(&SealedHeader::seal(parent.header.clone()), trusted)
        .expect("real header matches its trusted hash");

    let mut flips = Flips(0x6865_6164);
    let mut t = Tally::default();
    for _ in 0..FLIPS {
        t.tried += 1;
        let (raw, bit) = flips.flip(&parent.raw_header);
        let Some(header) = decode_header(&raw) else {
            t.decode_failed += 1;
            continue;
        };
        if header == parent.header {
            t.unchanged_after_decode += 1;
            continue;
        }
        let sealed = SealedHeader::seal(header);
        assert!(
            verify::check_hash(&sealed, trusted).is_err(),
            "header bit {bit}: altered header passes the hash check"
        );
        assert!(
            verify::check_link(&sealed, &child).is_err(),
            "header bit {bit}: altered header still links to its child"
        );
        t.caught_by_verify += 1;
    }
    t.print("header 19426586");
}

fn sweep_body(number: u64, seed: u64) {
    let b = block(number);
    let sealed = SealedHeader::seal(b.header.clone());
    let mut flips = Flips(seed);
    let mut t = Tally::default();
    for _ in 0..FLIPS {
        t.tried += 1;
        let (raw, bit) = flips.flip(&b.raw_body);
        let Some(body) = decode_whole_body(&raw) else {
            t.decode_failed += 1;
            continue;
        };
        if body == b.body {
            t.unchanged_after_decode += 1;
            continue;
        }
        let result = verify::verify_block(sealed.clone(), body, b.receipts.clone());
        assert!(
            result.is_err(),
            "block {number} body bit {bit}: altered body verifies"
        );
        t.caught_by_verify += 1;
    }
    t.print(&format!("body {number}"));
}

fn sweep_receipts(number: u64, seed: u64) {
    let b = block(number);
    let sealed = SealedHeader::seal(b.header.clone());
    let mut flips = Flips(seed);
    let mut t = Tally::default();
    for _ in 0..FLIPS {
        t.tried += 1;
        let (raw, bit) = flips.flip(&b.raw_receipts);
        let Some(receipts) = decode_receipts(&raw) else {
            t.decode_failed += 1;
            continue;
        };
        if receipts == b.receipts {
            t.unchanged_after_decode += 1;
            continue;
        }
        let result = verify::verify_block(sealed.clone(), b.body.clone(), receipts);
        assert!(
            result.is_err(),
            "block {number} receipts bit {bit}: altered receipts verify"
        );
        t.caught_by_verify += 1;
    }
    t.print(&format!("receipts {number}"));
}

#[test]
fn body_bit_flips_are_caught_by_roots_cancun() {
    // First Cancun block: blob transactions and withdrawals.
    sweep_body(19_426_587, 0x626f_6479);
}

#[test]
fn body_bit_flips_are_caught_by_roots_proof_of_work_with_ommer() {
    // A flip inside the ommer header must be caught by ommersHash.
    sweep_body(14_764_013, 0x6f6d_6d65);
}

#[test]
fn receipt_bit_flips_are_caught_by_root_cancun() {
    sweep_receipts(19_426_587, 0x7263_7074);
}

#[test]
fn receipt_bit_flips_are_caught_by_root_proof_of_work() {
    sweep_receipts(14_764_013, 0x7263_7075);
}
