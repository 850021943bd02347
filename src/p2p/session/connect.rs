//! From a TCP connection to an [`EthStream`] in one call, in either role: RLPx handshake, Hello,
//! Status, each under its own timeout. Configuration only; no retry or peer selection (the pool's
//! job).

use std::borrow::Cow;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

use super::error::EthStreamError;
use super::eth_stream::{DEFAULT_STATUS_TIMEOUT, EthStream, StatusInputs};
use crate::p2p::base::{
    Capability, DEFAULT_HELLO_TIMEOUT, Hello, P2P_VERSION, P2pError, P2pStream,
};
use crate::p2p::eth::{BlockRange, EthVersion};
use crate::p2p::node_key::NodeKey;
use crate::p2p::rlpx::{self, DEFAULT_HANDSHAKE_TIMEOUT, PeerId};

/// Limits of the three handshake steps.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// ECIES auth/ack.
    pub rlpx: Duration,
    /// Hello exchange.
    pub hello: Duration,
    /// Status exchange.
    pub status: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            rlpx: DEFAULT_HANDSHAKE_TIMEOUT,
            hello: DEFAULT_HELLO_TIMEOUT,
            status: DEFAULT_STATUS_TIMEOUT,
        }
    }
}

/// Who we are and what we announce to every peer.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// Our node key.
    pub key: NodeKey,
    /// Client name in Hello.
    pub client_id: String,
    /// eth versions we offer (default: 69 and 68).
    pub versions: Vec<EthVersion>,
    /// Listening port in Hello (0 if we don't listen).
    pub listen_port: u16,
    /// Chain, fork filter and served range for Status.
    pub status: StatusInputs,
    /// The served range as it is now, when it moves while sessions are made (a node whose
    /// storage grows or rolls back): it replaces `status.served` in each new Status. `None`:
    /// `status.served` for good.
    pub served_now: Option<watch::Receiver<BlockRange>>,
    /// Handshake limits.
    pub timeouts: Timeouts,
}

impl PeerConfig {
    /// A config offering every eth version we speak, with default timeouts.
    pub fn new(key: NodeKey, status: StatusInputs) -> Self {
        Self {
            key,
            client_id: format!("histd/v{}", env!("CARGO_PKG_VERSION")),
            versions: EthVersion::ALL.to_vec(),
            listen_port: 0,
            status,
            served_now: None,
            timeouts: Timeouts::default(),
        }
    }

    /// The inputs of the Status a session made now announces (see [`PeerConfig::served_now`]).
    pub fn status_now(&self) -> Cow<'_, StatusInputs> {
        match &self.served_now {
            None => Cow::Borrowed(&self.status),
            Some(now) => Cow::Owned(StatusInputs {
                served: *now.borrow(),
                ..self.status.clone()
            }),
        }
    }

    /// Our Hello.
    pub fn hello(&self) -> Hello {
        Hello {
            protocol_version: P2P_VERSION,
            client_id: self.client_id.clone(),
            capabilities: self
                .versions
                .iter()
                .map(|v| Capability::eth(u64::from(v.as_u8())))
                .collect(),
            listen_port: self.listen_port,
            id: self.key.id(),
        }
    }
}

/// We dialled `remote`: handshake as initiator, then Hello and Status.
pub async fn dial<S: AsyncRead + AsyncWrite + Unpin>(
    io: S,
    remote: PeerId,
    config: &PeerConfig,
) -> Result<EthStream<S>, EthStreamError> {
    let t = config.timeouts;
    let r = rlpx::initiate(io, config.key.secret(), remote, t.rlpx)
        .await
        .map_err(P2pError::from)?;
    let p2p = P2pStream::handshake(r, config.hello(), t.hello).await?;
    EthStream::handshake(p2p, &config.status_now(), t.status).await
}

/// A peer dialled us: handshake as recipient, then Hello and Status.
pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
    io: S,
    config: &PeerConfig,
) -> Result<EthStream<S>, EthStreamError> {
    let t = config.timeouts;
    let r = rlpx::accept(io, config.key.secret(), t.rlpx)
        .await
        .map_err(P2pError::from)?;
    let p2p = P2pStream::handshake(r, config.hello(), t.hello).await?;
    EthStream::handshake(p2p, &config.status_now(), t.status).await
}
