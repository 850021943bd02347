//! The bodies of the fuzz targets, shared by `fuzz_targets/*.rs` (cargo-fuzz, libFuzzer) and by
//! `tests/it/p2p/fuzz_corpus.rs` (replays seeds and the saved corpus on stable, in CI).
//! Each function must never panic, whatever `data` is; properties are asserted inside.
#![allow(dead_code)]

use alloy_primitives::B256;
use bytes::{Bytes, BytesMut};
use histd::p2p::base::{DisconnectReason, Hello};
use histd::p2p::eth::{EthMessage, EthVersion};
use histd::p2p::rlpx::auth::{self, Secrets, WireForm};
use histd::p2p::rlpx::mac::MacState;
use histd::p2p::rlpx::{FrameCodec, RlpxError};
use tokio_util::codec::{Decoder, Encoder};

fn mac(seed: &[u8]) -> MacState {
    let mut m = MacState::new(B256::repeat_byte(2));
    m.update(seed);
    m
}

/// Two codecs with fixed secrets that talk to each other (`a` sends, `b` receives).
pub fn codec_pair() -> (FrameCodec, FrameCodec) {
    let a = Secrets {
        aes_secret: B256::repeat_byte(1),
        mac_secret: B256::repeat_byte(2),
        egress_mac: mac(b"a->b"),
        ingress_mac: mac(b"b->a"),
    };
    let b = Secrets {
        aes_secret: B256::repeat_byte(1),
        mac_secret: B256::repeat_byte(2),
        egress_mac: mac(b"b->a"),
        ingress_mac: mac(b"a->b"),
    };
    (
        FrameCodec::new(a),
        FrameCodec::new(b).with_max_frame(64 * 1024),
    )
}

/// Arbitrary wire bytes into the frame decoder, in chunks whose sizes come from the data.
pub fn frame_decode(data: &[u8]) {
    let (_, mut rx) = codec_pair();
    let step = usize::from(data.first().copied().unwrap_or(1)).max(1);
    let mut buf = BytesMut::new();
    for chunk in data.chunks(step) {
        buf.extend_from_slice(chunk);
        match rx.decode(&mut buf) {
            Ok(Some(frame)) => assert!(!frame.is_empty() && frame.len() <= 64 * 1024),
            Ok(None) => {}
            Err(_) => return,
        }
        // Memory only ever grows with bytes received, never to a claimed size.
        assert!(buf.capacity() <= data.len() + 128 * 1024);
    }
    let _ = rx.decode_eof(&mut buf);
}

/// Messages (sizes from the data) are encoded, optionally one byte is flipped, and decoded in
/// chunks: unflipped they round-trip; flipped, the frame holding the flip is rejected.
pub fn frame_roundtrip(data: &[u8]) {
    if data.len() < 3 {
        return;
    }
    let (flip, step, rest) = (data[0], usize::from(data[1]).max(1), &data[2..]);
    let (mut tx, mut rx) = codec_pair();
    let msgs: Vec<&[u8]> = rest
        .split(|b| *b == 0xff)
        .filter(|m| !m.is_empty())
        .collect();
    let mut wire = BytesMut::new();
    let mut ends = Vec::new();
    for m in &msgs {
        tx.encode(Bytes::copy_from_slice(m), &mut wire)
            .expect("small frame encodes");
        ends.push(wire.len());
    }
    let flipped_at = (flip & 1 == 1 && !wire.is_empty()).then(|| {
        let at = (usize::from(flip) * 7919) % wire.len();
        wire[at] ^= 0x10;
        at
    });
    let mut got = Vec::new();
    let mut buf = BytesMut::new();
    let mut failed = false;
    for chunk in wire.chunks(step) {
        buf.extend_from_slice(chunk);
        loop {
            match rx.decode(&mut buf) {
                Ok(Some(f)) => got.push(f),
                Ok(None) => break,
                Err(e) => {
                    assert!(
                        matches!(e, RlpxError::BadHeaderMac | RlpxError::BadBodyMac),
                        "{e}"
                    );
                    failed = true;
                    break;
                }
            }
        }
        if failed {
            break;
        }
    }
    for (g, m) in got.iter().zip(&msgs) {
        assert_eq!(&g[..], *m);
    }
    match flipped_at {
        None => assert_eq!(got.len(), msgs.len()),
        Some(at) => {
            let bad_frame = ends
                .iter()
                .position(|e| at < *e)
                .expect("flip inside the wire");
            assert!(failed, "flip at {at} went unnoticed");
            assert_eq!(got.len(), bad_frame);
        }
    }
}

/// Arbitrary payloads into the eth message decoder (version and id from the data); whatever
/// decodes re-encodes under the same version and id, and decodes back to the same message
/// (`decode(encode(decode(x))) == decode(x)`: values, not bytes, since a decoder may accept more
/// than one spelling of a message).
pub fn eth_message(data: &[u8]) {
    if data.len() < 2 {
        return;
    }
    let version = if data[0] & 1 == 0 {
        EthVersion::Eth68
    } else {
        EthVersion::Eth69
    };
    let id = data[1] % 0x14;
    let Ok(msg) = EthMessage::decode(version, id, &data[2..]) else {
        return;
    };
    let (again_id, payload) = msg
        .encode(version)
        .unwrap_or_else(|e| panic!("decoded {msg:?} does not re-encode: {e}"));
    assert_eq!(
        again_id, id,
        "{version} message re-encoded under another id"
    );
    let again = EthMessage::decode(version, again_id, &payload)
        .unwrap_or_else(|e| panic!("re-encoded {msg:?} does not decode: {e}"));
    assert_eq!(
        again, msg,
        "{version} message changed through encode and decode"
    );
}

/// Handshake and base-protocol decoders: auth/ack bodies (both forms), Hello, Disconnect.
pub fn handshake_messages(data: &[u8]) {
    let _ = auth::decode_auth(data, WireForm::Eip8);
    let _ = auth::decode_auth(data, WireForm::Legacy);
    let _ = auth::decode_ack(data, WireForm::Eip8);
    let _ = auth::decode_ack(data, WireForm::Legacy);
    if let Ok(h) = Hello::decode(data) {
        assert_eq!(Hello::decode(&h.encode()).as_ref(), Ok(&h));
    }
    let _ = DisconnectReason::decode(data);
}
