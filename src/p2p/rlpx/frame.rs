//! The RLPx frame codec (devp2p `rlpx.md`, "Framing"): a tokio `Decoder`/`Encoder` turning the
//! authenticated byte stream into frame bodies (`rlp(msg-id) || msg-data`) and back.
//!
//! Framing state: [`ReadState::Header`] (wait for 32 bytes: encrypted header + header MAC) →
//! [`ReadState::Body`] (wait for the padded body + body MAC) → back to `Header`. The announced size
//! is checked against the limit before anything else happens, and buffers grow only with bytes that
//! actually arrive, never to a claimed size. This module never does I/O itself.

use aes::Aes256;
use bytes::{BufMut, Bytes, BytesMut};
use cipher::{KeyIvInit, StreamCipher};
use tokio_util::codec::{Decoder, Encoder};

use super::auth::Secrets;
use super::error::RlpxError;
use super::mac::MacState;

/// The largest frame body we accept or send. The 24-bit size field can't say more than 16 MiB − 1.
pub const MAX_FRAME_SIZE: usize = 16 * 1024 * 1024;

/// Header-data for every frame we send: `rlp([capability-id = 0, context-id = 0])` (both unused).
const HEADER_DATA: [u8; 3] = [0xc2, 0x80, 0x80];

type Aes256Ctr = ctr::Ctr128BE<Aes256>;

/// Where the decoder is in the current frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadState {
    /// Waiting for the 16-byte encrypted header and its 16-byte MAC.
    Header,
    /// Header checked; waiting for `size` bytes of body (padded to 16) and the 16-byte MAC.
    Body {
        /// Unpadded body size announced by the header.
        size: usize,
    },
}

/// Encrypts and MACs outgoing frames, checks and decrypts incoming ones.
pub struct FrameCodec {
    egress_aes: Aes256Ctr,
    ingress_aes: Aes256Ctr,
    egress_mac: MacState,
    ingress_mac: MacState,
    state: ReadState,
    max_frame: usize,
}

impl std::fmt::Debug for FrameCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameCodec")
            .field("state", &self.state)
            .field("max_frame", &self.max_frame)
            .finish_non_exhaustive()
    }
}

fn padded(n: usize) -> usize {
    n.div_ceil(16) * 16
}

impl FrameCodec {
    /// A codec from the handshake's secrets, accepting frames up to [`MAX_FRAME_SIZE`].
    pub fn new(secrets: Secrets) -> Self {
        let iv = [0u8; 16];
        Self {
            egress_aes: Aes256Ctr::new(&secrets.aes_secret.0.into(), &iv.into()),
            ingress_aes: Aes256Ctr::new(&secrets.aes_secret.0.into(), &iv.into()),
            egress_mac: secrets.egress_mac,
            ingress_mac: secrets.ingress_mac,
            state: ReadState::Header,
            max_frame: MAX_FRAME_SIZE,
        }
    }

    /// Lowers the accepted frame size (tests, and callers that know their messages are small).
    pub fn with_max_frame(mut self, max: usize) -> Self {
        self.set_max_frame(max);
        self
    }

    /// In-place form of [`with_max_frame`](Self::with_max_frame).
    pub fn set_max_frame(&mut self, max: usize) {
        self.max_frame = max.min(MAX_FRAME_SIZE);
    }

    /// Current framing state.
    pub fn state(&self) -> ReadState {
        self.state
    }
}

impl Decoder for FrameCodec {
    type Item = BytesMut;
    type Error = RlpxError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, RlpxError> {
        loop {
            match self.state {
                ReadState::Header => {
                    if src.len() < 32 {
                        return Ok(None);
                    }
                    let mut header: [u8; 16] =
                        src[..16].try_into().expect("16 bytes checked above");
                    self.ingress_mac.update_header(&header);
                    if self.ingress_mac.digest() != src[16..32] {
                        return Err(RlpxError::BadHeaderMac);
                    }
                    let _ = src.split_to(32);
                    self.ingress_aes.apply_keystream(&mut header);
                    let size = usize::from(header[0]) << 16
                        | usize::from(header[1]) << 8
                        | usize::from(header[2]);
                    if size > self.max_frame {
                        return Err(RlpxError::FrameTooLarge {
                            size,
                            max: self.max_frame,
                        });
                    }
                    if size == 0 {
                        return Err(RlpxError::EmptyFrame);
                    }
                    self.state = ReadState::Body { size };
                }
                ReadState::Body { size } => {
                    let need = padded(size) + 16;
                    if src.len() < need {
                        // Reserve only a bounded step: a peer announcing 16 MiB and sending
                        // nothing must not make us hold 16 MiB.
                        src.reserve((need - src.len()).min(64 * 1024));
                        return Ok(None);
                    }
                    let _cpu = crate::stage_cpu::Stage::Rlpx.timer();
                    let mut body = src.split_to(need);
                    let mac = body.split_off(padded(size));
                    self.ingress_mac.update_body(&body);
                    if self.ingress_mac.digest() != mac[..] {
                        return Err(RlpxError::BadBodyMac);
                    }
                    self.ingress_aes.apply_keystream(&mut body);
                    body.truncate(size);
                    self.state = ReadState::Header;
                    return Ok(Some(body));
                }
            }
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, RlpxError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() && self.state == ReadState::Header => Ok(None),
            None => Err(RlpxError::TruncatedFrame {
                buffered: src.len(),
            }),
        }
    }
}

impl Encoder<Bytes> for FrameCodec {
    type Error = RlpxError;

    fn encode(&mut self, body: Bytes, dst: &mut BytesMut) -> Result<(), RlpxError> {
        let size = body.len();
        if size == 0 {
            return Err(RlpxError::EmptyFrame);
        }
        if size >= MAX_FRAME_SIZE {
            return Err(RlpxError::OutgoingTooLarge {
                size,
                max: MAX_FRAME_SIZE - 1,
            });
        }
        let mut header = [0u8; 16];
        header[..3].copy_from_slice(&(size as u32).to_be_bytes()[1..]);
        header[3..6].copy_from_slice(&HEADER_DATA);
        self.egress_aes.apply_keystream(&mut header);
        self.egress_mac.update_header(&header);
        dst.reserve(32 + padded(size) + 16);
        dst.put_slice(&header);
        dst.put_slice(&self.egress_mac.digest());
        let start = dst.len();
        dst.put_slice(&body);
        dst.put_bytes(0, padded(size) - size);
        self.egress_aes.apply_keystream(&mut dst[start..]);
        self.egress_mac.update_body(&dst[start..]);
        dst.put_slice(&self.egress_mac.digest());
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::p2p::rlpx::auth::{Role, SecretInputs, derive_secrets};
    use alloy_primitives::B256;
    use secp256k1::{PublicKey, SecretKey};

    /// Two codecs that talk to each other (initiator, recipient).
    pub(crate) fn codec_pair() -> (FrameCodec, FrameCodec) {
        let mut rng = secp256k1::rand::rng();
        let (ea, eb) = (SecretKey::new(&mut rng), SecretKey::new(&mut rng));
        let (na, nb) = (B256::repeat_byte(1), B256::repeat_byte(2));
        let (auth, ack) = (b"auth-bytes".to_vec(), b"ack-bytes".to_vec());
        let a = derive_secrets(SecretInputs {
            role: Role::Initiator,
            our_ephemeral: &ea,
            remote_ephemeral: &PublicKey::from_secret_key(&eb),
            our_nonce: &na,
            remote_nonce: &nb,
            auth_packet: &auth,
            ack_packet: &ack,
        });
        let b = derive_secrets(SecretInputs {
            role: Role::Recipient,
            our_ephemeral: &eb,
            remote_ephemeral: &PublicKey::from_secret_key(&ea),
            our_nonce: &nb,
            remote_nonce: &na,
            auth_packet: &auth,
            ack_packet: &ack,
        });
        (FrameCodec::new(a), FrameCodec::new(b))
    }

    #[test]
    fn roundtrip_both_directions_byte_by_byte() {
        let (mut a, mut b) = codec_pair();
        for (tx, rx) in [(&mut a, &mut b)] {
            let mut wire = BytesMut::new();
            for msg in [&b"\x80\xc0"[..], &[7u8; 33], &[9u8; 16], &[1u8; 1000]] {
                tx.encode(Bytes::copy_from_slice(msg), &mut wire).unwrap();
            }
            // Feed one byte at a time: partial frames must wait, not fail.
            let mut got = Vec::new();
            let mut buf = BytesMut::new();
            for byte in wire.iter() {
                buf.extend_from_slice(&[*byte]);
                if let Some(f) = rx.decode(&mut buf).unwrap() {
                    got.push(f.to_vec());
                }
            }
            assert_eq!(got.len(), 4);
            assert_eq!(got[3], vec![1u8; 1000]);
        }
        let mut wire = BytesMut::new();
        b.encode(Bytes::from_static(b"\x02\xc0"), &mut wire)
            .unwrap();
        assert_eq!(&a.decode(&mut wire).unwrap().unwrap()[..], b"\x02\xc0");
    }

    #[test]
    fn bad_macs_truncation_and_oversize_are_errors() {
        let (mut a, mut b) = codec_pair();
        let mut wire = BytesMut::new();
        a.encode(Bytes::from_static(b"hello"), &mut wire).unwrap();
        let mut bad = wire.clone();
        bad[20] ^= 1;
        assert!(matches!(b.decode(&mut bad), Err(RlpxError::BadHeaderMac)));

        let (mut a, mut b) = codec_pair();
        let mut wire = BytesMut::new();
        a.encode(Bytes::from_static(b"hello"), &mut wire).unwrap();
        let n = wire.len();
        wire[n - 20] ^= 1;
        assert!(matches!(b.decode(&mut wire), Err(RlpxError::BadBodyMac)));

        let (mut a, mut b) = codec_pair();
        let mut wire = BytesMut::new();
        a.encode(Bytes::from(vec![1u8; 100]), &mut wire).unwrap();
        let mut cut = wire.split_to(40);
        assert!(matches!(
            b.decode_eof(&mut cut),
            Err(RlpxError::TruncatedFrame { .. })
        ));

        let (mut a, b) = codec_pair();
        let mut b = b.with_max_frame(64);
        let mut wire = BytesMut::new();
        a.encode(Bytes::from(vec![1u8; 100]), &mut wire).unwrap();
        let mut head = wire.split_to(32);
        assert!(matches!(
            b.decode(&mut head),
            Err(RlpxError::FrameTooLarge { size: 100, max: 64 })
        ));
        assert!(a.encode(Bytes::new(), &mut wire).is_err());
    }
}
