//! [`EthStream`]: a p2p stream after the eth Status exchange. The only way to get one is
//! [`EthStream::handshake`], so eth requests cannot be sent before Status (typestate). It decodes
//! and encodes eth messages with the eth module's codec; it must never keep request state (the
//! session does).

use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite};

use super::error::EthStreamError;
use super::handle::WireSize;
use crate::p2p::base::{DisconnectReason, P2pStream};
use crate::p2p::chain::ForkFilter;
use crate::p2p::eth::{EthMessage, EthVersion, Status, validate_status};
use crate::p2p::rlpx::PeerId;

/// Default limit for receiving the peer's Status.
pub const DEFAULT_STATUS_TIMEOUT: Duration = Duration::from_secs(5);

/// Inputs of our Status: chain, fork filter at our head, the blocks we serve.
#[derive(Debug, Clone)]
pub struct StatusInputs {
    /// Our chain.
    pub spec: crate::p2p::chain::ChainSpec,
    /// The EIP-2124 filter at our head: gives our fork id and validates theirs.
    pub filter: ForkFilter,
    /// What we serve.
    pub served: crate::p2p::eth::BlockRange,
}

impl StatusInputs {
    /// Our Status for `version`.
    pub fn status(&self, version: EthVersion) -> Status {
        Status::ours(version, &self.spec, &self.filter, self.served)
    }
}

/// An eth session's stream after Status.
#[derive(Debug)]
pub struct EthStream<S> {
    p2p: P2pStream<S>,
    version: EthVersion,
    their_status: Status,
    last_activity: Instant,
}

impl<S: AsyncRead + AsyncWrite + Unpin> EthStream<S> {
    /// Sends our Status, receives and validates theirs. On failure the peer gets a Disconnect with
    /// the matching reason (fork-id/network/genesis mismatch: 0x10; malformed: 0x02).
    pub async fn handshake(
        mut p2p: P2pStream<S>,
        inputs: &StatusInputs,
        limit: Duration,
    ) -> Result<Self, EthStreamError> {
        // eth's own cap, so that a bigger message is refused before it is decompressed.
        p2p.set_max_message_size(crate::p2p::eth::limits::MAX_ETH_MESSAGE_SIZE);
        let result = Self::exchange(&mut p2p, inputs, limit).await;
        match result {
            Ok((version, their_status)) => Ok(Self {
                p2p,
                version,
                their_status,
                last_activity: Instant::now(),
            }),
            Err(e) => {
                if let Some(reason) = e.disconnect_reason() {
                    p2p.disconnect(reason).await;
                }
                Err(e)
            }
        }
    }

    async fn exchange(
        p2p: &mut P2pStream<S>,
        inputs: &StatusInputs,
        limit: Duration,
    ) -> Result<(EthVersion, Status), EthStreamError> {
        let number = p2p.capability().version;
        let version = EthVersion::from_number(number)
            .ok_or(EthStreamError::UnsupportedVersion { version: number })?;
        let ours = inputs.status(version);
        let (id, payload) = EthMessage::Status(ours).encode(version)?;
        p2p.send(id, &payload).await?;
        let msg = tokio::time::timeout(limit, p2p.recv())
            .await
            .map_err(|_| EthStreamError::StatusTimeout {
                secs: limit.as_secs(),
            })??;
        let theirs = match EthMessage::decode(version, msg.id, &msg.payload)? {
            EthMessage::Status(s) => s,
            other => {
                return Err(EthStreamError::ExpectedStatus {
                    got: other.id().name(),
                });
            }
        };
        validate_status(&ours, &theirs, &inputs.filter)?;
        Ok((version, theirs))
    }

    /// The negotiated eth version.
    pub fn version(&self) -> EthVersion {
        self.version
    }

    /// The peer's Status.
    pub fn their_status(&self) -> &Status {
        &self.their_status
    }

    /// The peer's node id.
    pub fn remote_id(&self) -> PeerId {
        self.p2p.remote_id()
    }

    /// The peer's client name from Hello.
    pub fn client_id(&self) -> &str {
        &self.p2p.their_hello().client_id
    }

    /// When we last received anything (a message, or a Ping/Pong seen by the layer below).
    pub fn last_activity(&self) -> Instant {
        self.last_activity.max(self.p2p.last_activity())
    }

    /// Sets the limit for writing one message (a peer that does not read fails the write).
    pub fn set_write_timeout(&mut self, limit: Duration) {
        self.p2p.set_write_timeout(limit);
    }

    /// Sends one eth message; returns its size as sent.
    pub async fn send(&mut self, msg: &EthMessage) -> Result<WireSize, EthStreamError> {
        let (id, payload) = msg.encode(self.version)?;
        let frame = self.p2p.send(id, &payload).await?;
        Ok(WireSize {
            rlp: payload.len() as u64,
            frame: frame as u64,
        })
    }

    /// Keep-alive Ping.
    pub async fn ping(&mut self) -> Result<(), EthStreamError> {
        Ok(self.p2p.ping().await?)
    }

    /// Receives the next eth message (Ping/Pong handled below) and its size as read. A second
    /// Status is an error. Cancel-safe.
    pub async fn recv(&mut self) -> Result<(EthMessage, WireSize), EthStreamError> {
        let version = self.version;
        // Decoded in place: the payload is borrowed from the receive buffer (the codec copies
        // what it keeps), so a 2 MiB answer is not copied out first.
        let (decoded, size) = self
            .p2p
            .recv_with(|msg| {
                let size = WireSize {
                    rlp: msg.payload.len() as u64,
                    frame: msg.frame_len as u64,
                };
                let _cpu = crate::stage_cpu::Stage::RlpDecode.timer();
                (EthMessage::decode(version, msg.id, msg.payload), size)
            })
            .await?;
        self.last_activity = Instant::now();
        match decoded? {
            EthMessage::Status(_) => Err(EthStreamError::StatusAfterHandshake),
            m => Ok((m, size)),
        }
    }

    /// Sends Disconnect and closes.
    pub async fn disconnect(self, reason: DisconnectReason) {
        self.p2p.disconnect(reason).await;
    }
}
