//! Errors of the base protocol layer (Hello, Disconnect, Ping/Pong, snappy, message ids).

use super::disconnect::DisconnectReason;
use super::hello::{Capability, HelloDecodeError};
use crate::p2p::rlpx::{PeerId, RlpxError};

/// A p2p-layer failure. [`P2pError::disconnect_reason`] tells what to send the peer (if anything).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum P2pError {
    /// The transport failed.
    #[error(transparent)]
    Rlpx(#[from] RlpxError),
    /// The peer did not send Hello in time.
    #[error("no hello within {secs}s")]
    HelloTimeout {
        /// The limit.
        secs: u64,
    },
    /// The first message was not Hello.
    #[error("expected hello, got message id {id:#04x}")]
    ExpectedHello {
        /// What came instead.
        id: u64,
    },
    /// Hello did not decode.
    #[error(transparent)]
    BadHello(#[from] HelloDecodeError),
    /// Hello's node id differs from the key the handshake proved.
    #[error("hello node id {claimed} differs from handshake identity {proven}")]
    UnexpectedIdentity {
        /// From Hello (boxed: keeps the error small).
        claimed: Box<PeerId>,
        /// From RLPx.
        proven: Box<PeerId>,
    },
    /// The peer is ourselves (our own address in a peer list).
    #[error("connected to ourselves")]
    ConnectedToSelf,
    /// Base protocol version below 4.
    #[error("peer speaks p2p version {version}, we need at least 4")]
    IncompatibleVersion {
        /// The peer's version.
        version: u64,
    },
    /// No capability in common.
    #[error("no shared capability: we offer {ours:?}, peer offers {theirs:?}")]
    NoSharedCapability {
        /// Ours.
        ours: Vec<Capability>,
        /// Theirs.
        theirs: Vec<Capability>,
    },
    /// The peer sent Disconnect.
    #[error("peer disconnected: {reason}")]
    Disconnected {
        /// Its reason.
        reason: DisconnectReason,
    },
    /// The peer closed the connection without Disconnect.
    #[error("connection closed by peer")]
    Closed,
    /// A frame's message id did not decode.
    #[error("malformed message id")]
    BadMessageId,
    /// A message id outside every negotiated range.
    #[error("message id {id:#04x} outside negotiated capabilities")]
    UnknownMessageId {
        /// The id.
        id: u64,
    },
    /// Snappy data did not decompress.
    #[error("snappy decompression of message {id:#04x} failed: {reason}")]
    Snappy {
        /// Message id.
        id: u64,
        /// Decoder's words.
        reason: String,
    },
    /// A message (after decompression) larger than we accept; checked before allocating.
    #[error("message {id:#04x} of {size} bytes exceeds limit {max}")]
    MessageTooLarge {
        /// Message id.
        id: u64,
        /// Claimed size.
        size: usize,
        /// Limit.
        max: usize,
    },
    /// Snappy data larger than any compressed form of the largest message we accept; refused
    /// before decompressing.
    #[error("compressed message {id:#04x} of {size} bytes exceeds limit {max}")]
    CompressedTooLarge {
        /// Message id.
        id: u64,
        /// Compressed size.
        size: usize,
        /// Largest compressed size of an acceptable message.
        max: usize,
    },
    /// A base-protocol id reserved for future use (0x04–0x0f); refused, not decompressed.
    #[error("reserved base message id {id:#04x}")]
    ReservedMessageId {
        /// The id.
        id: u64,
    },
    /// The peer did not take one message within the write limit (it stopped reading).
    #[error("peer did not read: a write took longer than {after:?}")]
    WriteTimeout {
        /// The limit.
        after: std::time::Duration,
    },
    /// A base-protocol message (Disconnect, Ping, Pong) with a malformed body.
    #[error("malformed base message {id:#04x}")]
    BadBaseMessage {
        /// Message id.
        id: u64,
    },
}

impl P2pError {
    /// The reason to send before closing, or `None` when the connection is already gone or the peer
    /// is the one who disconnected.
    pub fn disconnect_reason(&self) -> Option<DisconnectReason> {
        Some(match self {
            P2pError::Rlpx(RlpxError::Io(_) | RlpxError::TruncatedFrame { .. })
            | P2pError::Closed
            | P2pError::Disconnected { .. } => {
                return None;
            }
            P2pError::Rlpx(RlpxError::HandshakeTimeout { .. })
            | P2pError::HelloTimeout { .. }
            | P2pError::WriteTimeout { .. } => DisconnectReason::PingTimeout,
            P2pError::UnexpectedIdentity { .. } => DisconnectReason::UnexpectedIdentity,
            P2pError::ConnectedToSelf => DisconnectReason::ConnectedToSelf,
            P2pError::IncompatibleVersion { .. } => DisconnectReason::IncompatibleVersion,
            P2pError::NoSharedCapability { .. } => DisconnectReason::UselessPeer,
            _ => DisconnectReason::ProtocolBreach,
        })
    }

    /// True when the peer broke the protocol (penalise), as opposed to network trouble or a polite
    /// disconnect.
    pub fn is_protocol_breach(&self) -> bool {
        match self {
            P2pError::Rlpx(e) => e.is_protocol_breach(),
            _ => self.disconnect_reason() == Some(DisconnectReason::ProtocolBreach),
        }
    }
}
