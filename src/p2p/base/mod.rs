//! The devp2p base protocol (devp2p `rlpx.md`, "P2P Capability"): Hello and capability
//! negotiation, Disconnect reasons, Ping/Pong keep-alive, snappy (p2p v5), message-id offsets.
//!
//! Owns the step from an [`RlpxStream`](crate::p2p::rlpx::RlpxStream) to a [`P2pStream`] (only via
//! [`P2pStream::handshake`]). It must never decode sub-protocol (eth) payloads.

mod disconnect;
mod error;
mod hello;
mod stream;

pub use disconnect::DisconnectReason;
pub use error::P2pError;
pub use hello::{
    BASE_PROTOCOL_LEN, Capability, Hello, HelloDecodeError, MAX_CLIENT_ID_LEN, P2P_VERSION,
    SharedCapability, message_count, negotiate,
};
pub use stream::{
    DEFAULT_HELLO_TIMEOUT, DEFAULT_WRITE_TIMEOUT, MAX_RLPX_MESSAGE_SIZE, P2pStream, SubMessage,
    SubMessageRef,
};
