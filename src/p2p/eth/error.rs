//! eth layer errors and the disconnect policy they imply.
//!
//! Reason codes are devp2p's (rlpx.md, "Disconnect"): the session maps them onto its own
//! `Disconnect` type.

use std::fmt;

use alloy_eip2124::{ForkId, ValidationError};
use alloy_primitives::B256;

use super::{EthMessageId, EthVersion};
use crate::primitives::ReceiptDecodeError;

/// devp2p disconnect reason codes the eth layer asks for.
pub mod reason {
    /// 0x02 "Breach of protocol, e.g. a malformed message, bad RLP, ...".
    pub const BREACH_OF_PROTOCOL: u8 = 0x02;
    /// 0x03 "Useless peer".
    pub const USELESS_PEER: u8 = 0x03;
    /// 0x10 "Some other reason specific to a subprotocol": what geth sends when the eth
    /// handshake fails on network id, genesis or fork id.
    pub const SUBPROTOCOL_ERROR: u8 = 0x10;
}

/// A message a peer sent that we cannot accept. Names the version, the message id and what failed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub struct EthDecodeError {
    /// Negotiated version the message was decoded under.
    pub version: EthVersion,
    /// Message id relative to the eth offset.
    pub id: u8,
    /// What was wrong.
    pub kind: EthDecodeErrorKind,
}

impl fmt::Display for EthDecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match EthMessageId::from_u8(self.version, self.id) {
            Some(id) => write!(f, "{} {id}: {}", self.version, self.kind),
            None => write!(
                f,
                "{} message {:#04x}: {}",
                self.version, self.id, self.kind
            ),
        }
    }
}

impl EthDecodeError {
    /// Every decode failure is a protocol breach: the peer sent bytes the spec does not allow.
    pub fn is_protocol_breach(&self) -> bool {
        true
    }

    /// The devp2p disconnect reason to send.
    pub fn disconnect_reason(&self) -> u8 {
        reason::BREACH_OF_PROTOCOL
    }
}

/// What was wrong with a message.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EthDecodeErrorKind {
    /// The id does not exist in this version.
    #[error("no such message in this version")]
    UnknownId,
    /// The payload is larger than any eth message may be.
    #[error("payload of {size} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// Payload size.
        size: usize,
        /// Limit.
        max: usize,
    },
    /// Malformed RLP in a field.
    #[error("{what}: {source}")]
    Rlp {
        /// The field or element.
        what: &'static str,
        /// The RLP error.
        source: alloy_rlp::Error,
    },
    /// Malformed RLP in the `index`th element of a list.
    #[error("{what} #{index}: {source}")]
    Element {
        /// The list.
        what: &'static str,
        /// Position in the list.
        index: usize,
        /// The RLP error.
        source: alloy_rlp::Error,
    },
    /// A list holds more elements than allowed (checked before allocating).
    #[error("more than {max} {what}")]
    TooMany {
        /// The list.
        what: &'static str,
        /// Limit.
        max: usize,
    },
    /// A receipt could not be decoded.
    #[error("receipt #{index} of block #{block}: {source}")]
    Receipt {
        /// Position of the block in the response.
        block: usize,
        /// Position of the receipt in the block.
        index: usize,
        /// The receipt error.
        source: ReceiptDecodeError,
    },
    /// Bytes left after a complete element.
    #[error("{len} trailing bytes after {what}")]
    Trailing {
        /// What was complete.
        what: &'static str,
        /// How many bytes followed.
        len: usize,
    },
    /// A served range whose earliest block is after its latest.
    #[error("block range {earliest}..={latest} is empty")]
    InvalidBlockRange {
        /// Announced earliest block.
        earliest: u64,
        /// Announced latest block.
        latest: u64,
    },
}

/// A message we cannot send in the negotiated version (a caller bug, reported rather than sent).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EthEncodeError {
    /// The message does not exist in this version (e.g. `BlockRangeUpdate` on eth/68).
    #[error("{id} does not exist in {version}")]
    NotInVersion {
        /// Negotiated version.
        version: EthVersion,
        /// The message.
        id: EthMessageId,
    },
    /// A Status built for one version's layout, sent under another.
    #[error("Status has the {layout} layout but the session speaks {version}")]
    StatusLayout {
        /// Negotiated version.
        version: EthVersion,
        /// Layout of the Status value.
        layout: EthVersion,
    },
}

/// Why a peer's Status is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    /// The Status announces a version other than the negotiated one.
    #[error("status announces eth/{theirs}, negotiated eth/{ours}")]
    VersionMismatch {
        /// Negotiated version.
        ours: u64,
        /// Announced in their Status.
        theirs: u64,
    },
    /// Different network id.
    #[error("network id {theirs}, we are on {ours}")]
    NetworkMismatch {
        /// Ours.
        ours: u64,
        /// Theirs.
        theirs: u64,
    },
    /// Different genesis block.
    #[error("genesis {theirs}, ours is {ours}")]
    GenesisMismatch {
        /// Ours.
        ours: B256,
        /// Theirs.
        theirs: B256,
    },
    /// EIP-2124 rejects their fork id.
    #[error("fork id rejected: {reason}")]
    ForkIdRejected {
        /// Our current fork id.
        ours: ForkId,
        /// Theirs.
        theirs: ForkId,
        /// EIP-2124's verdict (remote stale, or local incompatible/stale).
        reason: ValidationError,
    },
}

impl StatusError {
    /// A malformed handshake (as opposed to a well-formed one from another chain).
    pub fn is_protocol_breach(&self) -> bool {
        matches!(self, Self::VersionMismatch { .. })
    }

    /// The devp2p disconnect reason to send: breach of protocol for a Status that contradicts
    /// the negotiated version; "subprotocol-specific" (0x10, as geth) for a peer on another
    /// network, genesis or fork.
    pub fn disconnect_reason(&self) -> u8 {
        if self.is_protocol_breach() {
            reason::BREACH_OF_PROTOCOL
        } else {
            reason::SUBPROTOCOL_ERROR
        }
    }
}
