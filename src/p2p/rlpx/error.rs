//! Errors of the RLPx layer (handshake and frames). Every variant names what went wrong with
//! structured fields; [`RlpxError::is_protocol_breach`] lets callers pick a disconnect policy.

use std::io;

/// Something failed in the ECIES handshake or while reading/writing frames.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RlpxError {
    /// The socket failed (includes the peer closing the connection).
    #[error("rlpx i/o error: {0}")]
    Io(#[from] io::Error),
    /// The handshake did not complete within the allowed time.
    #[error("rlpx handshake timed out after {secs}s")]
    HandshakeTimeout {
        /// The configured limit, in seconds.
        secs: u64,
    },
    /// An ECIES message was too short to hold its fixed fields.
    #[error("ecies message too short: {len} bytes, need at least {min}")]
    EciesTooShort {
        /// What we received.
        len: usize,
        /// The minimum size of an ECIES message.
        min: usize,
    },
    /// The HMAC of an ECIES message did not match: wrong key or tampered bytes.
    #[error("ecies message authentication failed")]
    EciesBadMac,
    /// The ephemeral or static public key in a message is not a valid secp256k1 point.
    #[error("invalid public key in {what}")]
    InvalidPublicKey {
        /// Which field held it.
        what: &'static str,
    },
    /// The auth signature could not be recovered to a public key.
    #[error("invalid auth signature")]
    InvalidSignature,
    /// The auth or ack body is not the RLP structure EIP-8 describes.
    #[error("malformed {what}: {reason}")]
    MalformedHandshake {
        /// `auth` or `ack`.
        what: &'static str,
        /// What the decoder found.
        reason: String,
    },
    /// A size prefix announced a handshake message larger than we accept.
    #[error("{what} size {size} exceeds limit {max}")]
    HandshakeTooLarge {
        /// `auth` or `ack`.
        what: &'static str,
        /// Announced size.
        size: usize,
        /// Our limit.
        max: usize,
    },
    /// A frame header MAC did not match: the stream is corrupt or tampered with.
    #[error("frame header MAC mismatch")]
    BadHeaderMac,
    /// A frame body MAC did not match.
    #[error("frame body MAC mismatch")]
    BadBodyMac,
    /// A frame announced a body larger than we accept (checked before allocating).
    #[error("frame size {size} exceeds limit {max}")]
    FrameTooLarge {
        /// Announced body size.
        size: usize,
        /// Our limit.
        max: usize,
    },
    /// We were asked to send a frame larger than the 24-bit size field allows.
    #[error("outgoing frame of {size} bytes exceeds limit {max}")]
    OutgoingTooLarge {
        /// Body size we tried to send.
        size: usize,
        /// Limit.
        max: usize,
    },
    /// A frame body was empty (it must at least hold the message id).
    #[error("empty frame")]
    EmptyFrame,
    /// The connection closed in the middle of a frame.
    #[error("connection closed mid-frame ({buffered} bytes buffered)")]
    TruncatedFrame {
        /// Bytes of the partial frame we had.
        buffered: usize,
    },
}

impl RlpxError {
    /// True when the peer sent bytes that break the protocol (as opposed to a network failure, a
    /// connection dying mid-frame, or a timeout): such peers deserve a penalty, not a retry later.
    pub fn is_protocol_breach(&self) -> bool {
        !matches!(
            self,
            RlpxError::Io(_)
                | RlpxError::HandshakeTimeout { .. }
                | RlpxError::TruncatedFrame { .. }
        )
    }
}
