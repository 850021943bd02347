//! [`SessionHandle`]: how the rest of histd talks to one peer's session task — typed requests with
//! their answers, and a snapshot of what we know about the peer (its head above all).

use alloy_primitives::B256;
use tokio::sync::{mpsc, oneshot, watch};

use super::error::RequestError;
use crate::p2p::base::DisconnectReason;
use crate::p2p::eth::{BlockRange, EthVersion, GetBlockHeaders, Status, limits};
use crate::p2p::rlpx::PeerId;
use crate::primitives::{BlockNumber, Body, Header, Receipt};

/// The peer's head: its Status best hash resolved to a number (eth/68 by a header request, eth/69
/// from the Status range), later moved by `BlockRangeUpdate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerHead {
    /// Block number.
    pub number: BlockNumber,
    /// Block hash.
    pub hash: B256,
}

/// What the session knows about its peer, updated as it learns.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerSnapshot {
    /// Node id.
    pub id: PeerId,
    /// Client name from Hello.
    pub client_id: String,
    /// Negotiated eth version.
    pub version: EthVersion,
    /// The Status the peer sent.
    pub status: Status,
    /// Resolved head, once known.
    pub head: Option<PeerHead>,
    /// Blocks the peer serves (eth/69 only).
    pub served: Option<BlockRange>,
    /// Why the session ended, once it has.
    pub ended: Option<String>,
}

/// What one answer cost on the wire: the eth message it came in, measured as it was read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WireSize {
    /// The message's RLP (request id and items) after snappy decompression: what the eth soft
    /// limit (~2 MiB) and our request sizing aim at.
    pub rlp: u64,
    /// The RLPx frame data actually read from the socket for it (message id plus the snappy
    /// form), before frame padding and MACs.
    pub frame: u64,
}

impl<T: Default> Answer<T> {
    /// Nothing, received without a message (an empty request is not sent).
    pub(super) fn none() -> Self {
        Self {
            items: T::default(),
            size: WireSize::default(),
        }
    }
}

impl WireSize {
    /// Both sizes of `other` added.
    pub fn add(&mut self, other: WireSize) {
        self.rlp += other.rlp;
        self.frame += other.frame;
    }
}

/// An answer with the size of the message that carried it (so callers need not re-measure the
/// decoded items).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer<T> {
    /// The decoded items.
    pub items: T,
    /// The message's size.
    pub size: WireSize,
}

pub(super) type Reply<T> = oneshot::Sender<Result<T, RequestError>>;

/// A request from a handle to the session task.
pub(super) enum Command {
    Headers(GetBlockHeaders, Reply<Answer<Vec<Header>>>),
    Bodies(Vec<B256>, Reply<Answer<Vec<Body>>>),
    Receipts(Vec<B256>, Reply<Answer<Vec<Vec<Receipt>>>>),
    Disconnect(DisconnectReason),
    ServedRange(BlockRange),
}

/// A cheap, cloneable handle to one peer's session. Dropping every handle ends the session
/// politely (Disconnect "requested").
#[derive(Debug, Clone)]
pub struct SessionHandle {
    pub(super) commands: mpsc::Sender<Command>,
    pub(super) snapshot: watch::Receiver<PeerSnapshot>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Headers(r, _) => write!(f, "Headers({r:?})"),
            Command::Bodies(h, _) => write!(f, "Bodies({} hashes)", h.len()),
            Command::Receipts(h, _) => write!(f, "Receipts({} hashes)", h.len()),
            Command::Disconnect(r) => write!(f, "Disconnect({r})"),
            Command::ServedRange(r) => write!(f, "ServedRange({r:?})"),
        }
    }
}

impl SessionHandle {
    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, RequestError> {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(make(tx)).await.is_err() {
            return Err(self.closed_error());
        }
        rx.await.unwrap_or_else(|_| Err(self.closed_error()))
    }

    fn closed_error(&self) -> RequestError {
        RequestError::SessionClosed {
            reason: self
                .snapshot
                .borrow()
                .ended
                .clone()
                .unwrap_or_else(|| "session task gone".into()),
        }
    }

    fn check_count(n: usize) -> Result<(), RequestError> {
        if n > limits::MAX_BLOCKS_PER_REQUEST {
            return Err(RequestError::TooLarge {
                asked: n,
                max: limits::MAX_BLOCKS_PER_REQUEST,
            });
        }
        Ok(())
    }

    /// `GetBlockHeaders`; the answer may be shorter than asked (even empty).
    pub async fn get_headers(&self, req: GetBlockHeaders) -> Result<Vec<Header>, RequestError> {
        Ok(self.get_headers_sized(req).await?.items)
    }

    /// [`Self::get_headers`] with the size of the answer's message.
    pub async fn get_headers_sized(
        &self,
        req: GetBlockHeaders,
    ) -> Result<Answer<Vec<Header>>, RequestError> {
        Self::check_count(usize::try_from(req.limit).unwrap_or(usize::MAX))?;
        self.ask(|tx| Command::Headers(req, tx)).await
    }

    /// `GetBlockBodies` by block hash; the answer is in request order and may be a prefix.
    pub async fn get_bodies(&self, hashes: Vec<B256>) -> Result<Vec<Body>, RequestError> {
        Ok(self.get_bodies_sized(hashes).await?.items)
    }

    /// [`Self::get_bodies`] with the size of the answer's message.
    pub async fn get_bodies_sized(
        &self,
        hashes: Vec<B256>,
    ) -> Result<Answer<Vec<Body>>, RequestError> {
        Self::check_count(hashes.len())?;
        self.ask(|tx| Command::Bodies(hashes, tx)).await
    }

    /// `GetReceipts` by block hash, in our [`Receipt`] form whatever the eth version (eth/68
    /// blooms are dropped; the verifier rebuilds them).
    pub async fn get_receipts(&self, hashes: Vec<B256>) -> Result<Vec<Vec<Receipt>>, RequestError> {
        Ok(self.get_receipts_sized(hashes).await?.items)
    }

    /// [`Self::get_receipts`] with the size of the answer's message.
    pub async fn get_receipts_sized(
        &self,
        hashes: Vec<B256>,
    ) -> Result<Answer<Vec<Vec<Receipt>>>, RequestError> {
        Self::check_count(hashes.len())?;
        self.ask(|tx| Command::Receipts(hashes, tx)).await
    }

    /// Asks the session to send Disconnect with `reason` and end.
    pub async fn disconnect(&self, reason: DisconnectReason) {
        let _ = self.commands.send(Command::Disconnect(reason)).await;
    }

    /// Tells the peer the blocks we now serve (eth/69 `BlockRangeUpdate`; nothing on eth/68,
    /// which has no such message). Call it when the range moved (geth: every 32 blocks).
    pub async fn update_served(&self, range: BlockRange) {
        let _ = self.commands.send(Command::ServedRange(range)).await;
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> PeerSnapshot {
        self.snapshot.borrow().clone()
    }

    /// The peer's node id.
    pub fn peer_id(&self) -> PeerId {
        self.snapshot.borrow().id
    }

    /// Waits until the peer's head is known (or the session ends: `None`).
    pub async fn head(&self) -> Option<PeerHead> {
        let mut rx = self.snapshot.clone();
        let snap = rx
            .wait_for(|s| s.head.is_some() || s.ended.is_some())
            .await
            .ok()?;
        snap.head
    }

    /// Waits until the session has ended and returns why.
    pub async fn closed(&self) -> String {
        let mut rx = self.snapshot.clone();
        match rx.wait_for(|s| s.ended.is_some()).await {
            Ok(s) => s.ended.clone().unwrap_or_default(),
            Err(_) => "session task gone".into(),
        }
    }
}
