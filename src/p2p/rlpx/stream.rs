//! The async side of RLPx: drives the ECIES handshake over a socket (with a timeout) and turns it
//! into an [`RlpxStream`] of frames. An unauthenticated stream can only become an `RlpxStream` through
//! [`initiate`] or [`accept`]; nothing here knows about message ids or sub-protocols.

use std::time::Duration;

use alloy_primitives::B256;
use bytes::{Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use secp256k1::{PublicKey, SecretKey};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::codec::Framed;

use super::auth::{
    self, LEGACY_ACK_LEN, LEGACY_AUTH_LEN, MAX_HANDSHAKE_LEN, PeerId, Role, SecretInputs, WireForm,
};
use super::error::RlpxError;
use super::frame::FrameCodec;

/// Default limit for the whole ECIES handshake.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// An authenticated, encrypted RLPx connection carrying frames. Produced only by the handshake.
#[derive(Debug)]
pub struct RlpxStream<S> {
    framed: Framed<S, FrameCodec>,
    remote_id: PeerId,
}

impl<S: AsyncRead + AsyncWrite + Unpin> RlpxStream<S> {
    /// The peer's node id, proven by the handshake.
    pub fn remote_id(&self) -> PeerId {
        self.remote_id
    }

    /// Sends one frame body (`rlp(msg-id) || msg-data`).
    pub async fn send(&mut self, frame: Bytes) -> Result<(), RlpxError> {
        self.framed.send(frame).await
    }

    /// Receives the next frame body; `None` when the peer closed cleanly between frames.
    /// Cancel-safe: partial frames stay buffered.
    pub async fn recv(&mut self) -> Option<Result<BytesMut, RlpxError>> {
        self.framed.next().await
    }

    /// The socket under the encryption. Writing to it breaks the stream (tests use it to play a
    /// hostile peer); reading socket options is fine.
    pub fn get_mut(&mut self) -> &mut S {
        self.framed.get_mut()
    }

    /// Lowers the accepted incoming frame size.
    pub fn set_max_frame(&mut self, max: usize) {
        self.framed.codec_mut().set_max_frame(max);
    }

    /// Closes the write side after flushing.
    pub async fn close(&mut self) -> Result<(), RlpxError> {
        SinkExt::<Bytes>::close(&mut self.framed).await
    }
}

fn random_nonce() -> B256 {
    let mut n = B256::ZERO;
    secp256k1::rand::RngCore::fill_bytes(&mut secp256k1::rand::rng(), &mut n.0);
    n
}

async fn with_timeout<T>(
    limit: Duration,
    fut: impl Future<Output = Result<T, RlpxError>>,
) -> Result<T, RlpxError> {
    tokio::time::timeout(limit, fut)
        .await
        .map_err(|_| RlpxError::HandshakeTimeout {
            secs: limit.as_secs(),
        })?
}

/// Reads one handshake packet: a legacy fixed-size packet (starts with the `0x04` of an uncompressed
/// key and decrypts as such) or an EIP-8 size-prefixed one. Returns the packet bytes and its form.
async fn read_packet<S: AsyncRead + Unpin>(
    io: &mut S,
    sk: &SecretKey,
    legacy_len: usize,
    what: &'static str,
) -> Result<(Vec<u8>, Vec<u8>, WireForm), RlpxError> {
    let mut packet = vec![0u8; 2];
    io.read_exact(&mut packet).await?;
    if packet[0] == 0x04 {
        packet.resize(legacy_len, 0);
        io.read_exact(&mut packet[2..]).await?;
        if let Ok(body) = auth::open_packet(sk, &packet, WireForm::Legacy) {
            return Ok((packet, body, WireForm::Legacy));
        }
        // Not legacy after all: an EIP-8 packet whose size happens to start with 0x04.
    }
    let size = usize::from(u16::from_be_bytes([packet[0], packet[1]]));
    if size > MAX_HANDSHAKE_LEN {
        return Err(RlpxError::HandshakeTooLarge {
            what,
            size,
            max: MAX_HANDSHAKE_LEN,
        });
    }
    let have = packet.len();
    if have > size + 2 {
        return Err(RlpxError::MalformedHandshake {
            what,
            reason: format!("size prefix {size} shorter than the bytes already read"),
        });
    }
    packet.resize(size + 2, 0);
    io.read_exact(&mut packet[have..]).await?;
    let body = auth::open_packet(sk, &packet, WireForm::Eip8)?;
    Ok((packet, body, WireForm::Eip8))
}

/// Dials as initiator: sends auth, reads ack, derives secrets. `remote_id` is who we expect.
pub async fn initiate<S: AsyncRead + AsyncWrite + Unpin>(
    mut io: S,
    our_key: &SecretKey,
    remote_id: PeerId,
    limit: Duration,
) -> Result<RlpxStream<S>, RlpxError> {
    let remote_static = auth::public_key(&remote_id, "remote node id")?;
    let eph = SecretKey::new(&mut secp256k1::rand::rng());
    let nonce = random_nonce();
    let auth_packet = auth::build_auth(our_key, &remote_static, &eph, &nonce);
    let secrets = with_timeout(limit, async {
        io.write_all(&auth_packet).await?;
        io.flush().await?;
        let (ack_packet, body, form) = read_packet(&mut io, our_key, LEGACY_ACK_LEN, "ack").await?;
        let ack = auth::decode_ack(&body, form)?;
        let remote_eph = auth::public_key(&ack.ephemeral, "ack ephemeral key")?;
        Ok(auth::derive_secrets(SecretInputs {
            role: Role::Initiator,
            our_ephemeral: &eph,
            remote_ephemeral: &remote_eph,
            our_nonce: &nonce,
            remote_nonce: &ack.nonce,
            auth_packet: &auth_packet,
            ack_packet: &ack_packet,
        }))
    })
    .await?;
    Ok(RlpxStream {
        framed: Framed::new(io, FrameCodec::new(secrets)),
        remote_id,
    })
}

/// Accepts as recipient: reads auth (either form), answers with ack in the same form.
pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
    mut io: S,
    our_key: &SecretKey,
    limit: Duration,
) -> Result<RlpxStream<S>, RlpxError> {
    let eph = SecretKey::new(&mut secp256k1::rand::rng());
    let nonce = random_nonce();
    let (secrets, remote_id) = with_timeout(limit, async {
        let (auth_packet, body, form) =
            read_packet(&mut io, our_key, LEGACY_AUTH_LEN, "auth").await?;
        let msg = auth::decode_auth(&body, form)?;
        let remote_eph = auth::recover_initiator_ephemeral(our_key, &msg)?;
        let remote_static = auth::public_key(&msg.initiator_id, "auth initiator id")?;
        let ack_packet = auth::build_ack(&remote_static, &eph, &nonce, form);
        io.write_all(&ack_packet).await?;
        io.flush().await?;
        let secrets = auth::derive_secrets(SecretInputs {
            role: Role::Recipient,
            our_ephemeral: &eph,
            remote_ephemeral: &remote_eph,
            our_nonce: &nonce,
            remote_nonce: &msg.nonce,
            auth_packet: &auth_packet,
            ack_packet: &ack_packet,
        });
        Ok((secrets, msg.initiator_id))
    })
    .await?;
    Ok(RlpxStream {
        framed: Framed::new(io, FrameCodec::new(secrets)),
        remote_id,
    })
}

/// The public key of a secret key as a node id (convenience for callers holding a key).
pub fn id_of(sk: &SecretKey) -> PeerId {
    auth::peer_id(&PublicKey::from_secret_key(sk))
}
