//! Errors of the eth stream and the session, each with its disconnect policy.

use std::time::Duration;

use crate::p2p::base::{DisconnectReason, P2pError};
use crate::p2p::eth::{EthDecodeError, EthEncodeError, EthMessageId, ResponseError, StatusError};

/// Why an eth stream (Status exchange or later traffic) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EthStreamError {
    /// The layer below failed.
    #[error(transparent)]
    P2p(#[from] P2pError),
    /// The negotiated capability is not an eth version we speak.
    #[error("negotiated capability eth/{version} is not supported")]
    UnsupportedVersion {
        /// What Hello negotiated.
        version: u64,
    },
    /// No Status within the limit.
    #[error("no status within {secs}s")]
    StatusTimeout {
        /// The limit.
        secs: u64,
    },
    /// The first eth message was not Status.
    #[error("expected status, got {got}")]
    ExpectedStatus {
        /// What came instead.
        got: &'static str,
    },
    /// A second Status after the handshake.
    #[error("status received after the handshake")]
    StatusAfterHandshake,
    /// Their Status is from another network, genesis or fork, or contradicts the version.
    #[error(transparent)]
    Status(Box<StatusError>),
    /// A message did not decode (names version and id).
    #[error(transparent)]
    Decode(#[from] EthDecodeError),
    /// We tried to send something the version lacks (a bug on our side, not the peer's).
    #[error(transparent)]
    Encode(#[from] EthEncodeError),
    /// A response whose request id matches a request of another kind.
    #[error("response {got} to request {request_id} which was a {expected}")]
    MismatchedResponse {
        /// Request id.
        request_id: u64,
        /// What we asked for.
        expected: &'static str,
        /// What came.
        got: &'static str,
    },
    /// A response that does not fit its request (too many items, wrong start or step).
    #[error("response to request {request_id} does not fit it: {source}")]
    BadResponse {
        /// Request id.
        request_id: u64,
        /// What the eth checks found.
        source: ResponseError,
    },
    /// The peer missed the deadline of `SessionConfig::timeouts_in_a_row` requests in a row (this
    /// is the last of them); one timeout alone only fails its request.
    #[error(
        "no answer to {what} request {request_id} within {after:?}, the last of several in a row"
    )]
    RequestTimeout {
        /// Message kind.
        what: &'static str,
        /// Request id.
        request_id: u64,
        /// The limit.
        after: Duration,
    },
    /// Nothing (not even a Pong) received for too long.
    #[error("peer silent for {after:?}")]
    Idle {
        /// The limit.
        after: Duration,
    },
    /// A response whose request id we never sent, or whose request was already answered.
    #[error("unsolicited {got} with request id {request_id}")]
    UnsolicitedResponse {
        /// Request id.
        request_id: u64,
        /// Message kind.
        got: &'static str,
    },
    /// A message only the other side may send (e.g. an unrequested response kind).
    #[error("unexpected message {id:?}")]
    Unexpected {
        /// The message.
        id: EthMessageId,
    },
}

impl From<StatusError> for EthStreamError {
    fn from(e: StatusError) -> Self {
        Self::Status(Box::new(e))
    }
}

impl EthStreamError {
    /// The reason to send before closing, or `None` when the connection is already gone.
    pub fn disconnect_reason(&self) -> Option<DisconnectReason> {
        Some(match self {
            Self::P2p(e) => return e.disconnect_reason(),
            Self::Status(e) => DisconnectReason::from_code(e.disconnect_reason()),
            Self::Decode(e) => DisconnectReason::from_code(e.disconnect_reason()),
            Self::UnsupportedVersion { .. } => DisconnectReason::UselessPeer,
            // 0x0b is devp2p's only timeout reason (geth calls it "read timeout").
            Self::StatusTimeout { .. } | Self::RequestTimeout { .. } | Self::Idle { .. } => {
                DisconnectReason::PingTimeout
            }
            Self::Encode(_) => DisconnectReason::Requested,
            _ => DisconnectReason::ProtocolBreach,
        })
    }

    /// A short label for metrics (`reason` of `histd_session_ends_total`).
    pub fn label(&self) -> &'static str {
        match self {
            Self::P2p(P2pError::WriteTimeout { .. }) => "write_timeout",
            Self::P2p(P2pError::Disconnected { .. }) => "peer_disconnected",
            Self::P2p(P2pError::Closed | P2pError::Rlpx(crate::p2p::rlpx::RlpxError::Io(_))) => {
                "closed"
            }
            Self::RequestTimeout { .. } => "request_timeouts",
            Self::Idle { .. } => "idle",
            Self::UnsolicitedResponse { .. } => "unsolicited_response",
            e if e.is_protocol_breach() => "protocol_breach",
            _ => "other",
        }
    }

    /// True when the peer broke the protocol (penalise), rather than being slow, gone or elsewhere.
    pub fn is_protocol_breach(&self) -> bool {
        match self {
            Self::P2p(e) => e.is_protocol_breach(),
            _ => self.disconnect_reason() == Some(DisconnectReason::ProtocolBreach),
        }
    }
}

/// Why a request made through a [`SessionHandle`](super::SessionHandle) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The peer did not answer in time. The session stays up unless this was one timeout too
    /// many in a row.
    #[error("request timed out after {after:?}")]
    Timeout {
        /// The limit.
        after: Duration,
    },
    /// The session ended before the answer came.
    #[error("session closed: {reason}")]
    SessionClosed {
        /// Why it ended.
        reason: String,
    },
    /// We refused to send a request asking for more items than the protocol allows.
    #[error("request for {asked} items exceeds the limit of {max}")]
    TooLarge {
        /// Items asked.
        asked: usize,
        /// Limit.
        max: usize,
    },
    /// The answer broke the protocol (wrong kind, too many items, bad RLP); the session ends.
    #[error("invalid response: {reason}")]
    InvalidResponse {
        /// What was wrong.
        reason: String,
    },
}
