//! Hostile input never panics: signed discv4 packets with arbitrary type and data (so decoding gets
//! past the hash and signature), mutated valid packets, arbitrary ENRs, tree records and DNS
//! responses. Every outcome is a value or a clear error.

use alloy_primitives::keccak256;
use histd::p2p::discovery::{
    dns::{records::TreeEntry, udp_resolver::parse_response},
    enr::Enr,
    v4::wire::{MAX_PACKET_SIZE, decode_packet},
};
use proptest::prelude::*;
use secp256k1::{Message, SecretKey, ecdsa::RecoverableSignature};

/// A correctly hashed and signed packet around arbitrary bytes.
fn signed(packet_type: u8, data: &[u8]) -> Vec<u8> {
    let key = SecretKey::from_secret_bytes([4u8; 32]).unwrap();
    let mut body = vec![packet_type];
    body.extend_from_slice(data);
    let (recid, sig) = RecoverableSignature::sign_ecdsa_recoverable(
        Message::from_digest(keccak256(&body).0),
        &key,
    )
    .serialize_compact();
    let mut out = vec![0u8; 32];
    out.extend_from_slice(&sig);
    out.push(recid.to_u8());
    out.extend_from_slice(&body);
    let hash = keccak256(&out[32..]);
    out[..32].copy_from_slice(hash.as_slice());
    out
}

/// RLP-ish bytes: list headers and strings mixed, to get deep into the decoders.
fn rlpish() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            any::<u8>(),
            0xc0u8..=0xff,
            0x80u8..=0xbf,
            Just(0xf8u8),
            Just(0xb8u8),
        ],
        0..600,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn signed_garbage_never_panics(t in 0u8..8, data in rlpish()) {
        let p = signed(t, &data);
        let r = decode_packet(&p);
        if p.len() > MAX_PACKET_SIZE {
            prop_assert!(r.is_err());
        }
    }

    #[test]
    fn mutated_neighbours_never_panic(pos in 0usize..400, byte in any::<u8>(), cut in 0usize..400) {
        // A valid Neighbours payload (from the EIP-8 vectors' shape), then one byte changed and
        // the tail cut, re-signed.
        let mut data = alloy_primitives::hex::decode(
            "f84ef84cf84a846321163782115c82115db8403155e1427f85f10a5c9a7755877748041af1bcd8d474ec065eb33df57a97babf54bfd2103575fa829115d224c523596b401065a97f74010610fce76382c0bf328443b9a355"
        ).unwrap();
        let n = data.len();
        data[pos % n] = byte;
        data.truncate(n - cut % n);
        let _ = decode_packet(&signed(4, &data));
    }

    #[test]
    fn enr_and_tree_records_never_panic(raw in rlpish(), text in "\\PC{0,300}") {
        let _ = Enr::decode(&raw);
        let _ = Enr::from_text(&format!("enr:{text}"));
        let _ = TreeEntry::parse(&text, "x.example");
        let _ = TreeEntry::parse(&format!("enrtree-branch:{text}"), "x.example");
        let _ = text.parse::<histd::p2p::discovery::dns::records::TreeLink>();
        let _ = histd::p2p::discovery::dns::records::RootRecord::parse(
            &format!("enrtree-root:v1 {text}"), "x.example");
    }

    #[test]
    fn dns_responses_never_panic(raw in prop::collection::vec(any::<u8>(), 0..700), id in any::<u16>()) {
        let mut r = raw;
        if r.len() >= 4 {
            r[0..2].copy_from_slice(&id.to_be_bytes());
            r[2] |= 0x80; // a response
        }
        let _ = parse_response(&r, id, "x.example");
    }
}
