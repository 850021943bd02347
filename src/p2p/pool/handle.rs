//! [`PoolHandle`]: what the sync layer and the head tracker call — the snapshot, `head_seen`,
//! choosing a peer for a range ([`PoolHandle::best_peer_for`]) and reporting misbehaviour — and
//! [`PeerLease`], a peer lent for requests that records latency, answer sizes, timeouts and
//! empty answers into the peer's stats. It never verifies data: the caller verifies and reports
//! [`Misbehaviour::BadData`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_primitives::B256;
use tokio::sync::watch;

use super::bans::{Ban, Misbehaviour};
use super::peer::Span;
use super::ranking::{rank_for, rank_for_headers};
use super::snapshot::PoolSnapshot;
use super::state::Shared;
use crate::p2p::eth::GetBlockHeaders;
use crate::p2p::rlpx::PeerId;
use crate::p2p::session::{Answer, RequestError, SessionHandle};
use crate::primitives::{BlockNumber, Body, Header, Receipt};

/// A cheap, cloneable handle to the running pool.
#[derive(Debug, Clone)]
pub struct PoolHandle {
    pub(super) shared: Arc<Shared>,
}

impl PoolHandle {
    /// The latest snapshot (an `Arc` clone: cheap).
    pub fn snapshot(&self) -> Arc<PoolSnapshot> {
        self.shared.snapshot()
    }

    /// A receiver woken on every new snapshot (heads are re-read about once a second).
    pub fn subscribe(&self) -> watch::Receiver<Arc<PoolSnapshot>> {
        self.shared.subscribe()
    }

    /// `head_seen` by the rule of [`super::head_quorum`].
    pub fn head_seen(&self) -> Option<BlockNumber> {
        self.shared.lock().head.get()
    }

    /// The best peer to ask for `span` now, lent until the lease is dropped: it can serve the
    /// start of the range (its head, eth/69 `earliestBlock`, no earlier empty answer for it), is
    /// not backing off after failures and has a free request slot. Peers covering the whole
    /// range come first, then by score. `None`: nobody can serve it now.
    pub fn best_peer_for(&self, span: Span) -> Option<PeerLease> {
        self.ranked_for(span, 1).into_iter().next()
    }

    /// Up to `n` distinct peers for `span`, best first (the follow mode asks several).
    pub fn ranked_for(&self, span: Span, n: usize) -> Vec<PeerLease> {
        self.lease_ranked(span, n, false)
    }

    /// Up to `n` distinct peers for the *headers* of `span`, best first: like
    /// [`Self::ranked_for`], but a peer whose bodies and receipts are expired there (eth/69
    /// `earliestBlock`, or an empty answer) still serves headers. An empty header answer does
    /// not mark the range unserved.
    pub fn ranked_for_headers(&self, span: Span, n: usize) -> Vec<PeerLease> {
        self.lease_ranked(span, n, true)
    }

    fn lease_ranked(&self, span: Span, n: usize, headers: bool) -> Vec<PeerLease> {
        let now = Instant::now();
        let mut st = self.shared.lock();
        let order = {
            let st = &*st;
            let views = st
                .peers
                .iter()
                .map(|(id, e)| e.view(*id, st.bans.is_banned(id, now)));
            let max = self.shared.config.max_in_flight;
            if headers {
                rank_for_headers(views, &span, now, max)
            } else {
                rank_for(views, &span, now, max)
            }
        };
        order
            .into_iter()
            .take(n)
            .filter_map(|id| {
                let e = st.peers.get_mut(&id)?;
                e.in_flight += 1;
                Some(PeerLease {
                    shared: self.shared.clone(),
                    id,
                    serial: e.serial,
                    session: e.handle.clone(),
                    span: (!headers).then_some(span),
                    batch: e.stats.batch(),
                })
            })
            .collect()
    }

    /// `peer`'s session, lent like [`Self::best_peer_for`] but without range checks (`None` if
    /// not connected or banned).
    pub fn lease(&self, peer: PeerId) -> Option<PeerLease> {
        let now = Instant::now();
        let mut st = self.shared.lock();
        if st.bans.is_banned(&peer, now) {
            return None;
        }
        let e = st.peers.get_mut(&peer)?;
        e.in_flight += 1;
        Some(PeerLease {
            shared: self.shared.clone(),
            id: peer,
            serial: e.serial,
            session: e.handle.clone(),
            span: None,
            batch: e.stats.batch(),
        })
    }

    /// Reports what a peer did wrong (the sync layer after verification, or anyone who saw a
    /// breach). Bad data and breaches ban it for `temp_ban` and end its session; wrong chain
    /// bans it for good; a timeout backs it off. Returns the ban, if one was given.
    pub fn report(&self, peer: PeerId, what: Misbehaviour) -> Option<Ban> {
        self.shared.report(&peer, what)
    }

    /// The network `ip` votes from under the pool's quorum rule (IPv4 /24, IPv6 /48 by default):
    /// identities are free, networks are not, so anything decided by agreement counts these.
    pub fn network_of(&self, ip: std::net::IpAddr) -> std::net::IpAddr {
        let c = &self.shared.config;
        super::head_quorum::network_of(ip, c.head_vote_prefix_v4, c.head_vote_prefix_v6)
    }

    /// `peer` answered `span` with nothing: it is not offered for that range again.
    pub fn report_unserved(&self, peer: PeerId, span: Span) {
        self.shared.unserved(&peer, span);
    }
}

/// A peer lent by the pool for requests. Its request methods measure the answer and feed the
/// peer's stats (latency, success, batch size; timeouts back off; empty answers mark the leased
/// range unserved). Dropping it frees the request slot.
#[derive(Debug)]
pub struct PeerLease {
    shared: Arc<Shared>,
    id: PeerId,
    /// The session it was lent from (a later session with the same peer is another slot).
    serial: u64,
    session: SessionHandle,
    span: Option<Span>,
    batch: usize,
}

impl PeerLease {
    /// The peer.
    pub fn id(&self) -> PeerId {
        self.id
    }

    /// How many blocks to ask this peer for in one request (adaptive).
    pub fn batch_size(&self) -> usize {
        self.batch
    }

    /// The range it was lent for.
    pub fn span(&self) -> Option<Span> {
        self.span
    }

    /// The session, for requests the pool need not measure.
    pub fn session(&self) -> &SessionHandle {
        &self.session
    }

    /// `GetBlockHeaders`, measured.
    pub async fn get_headers(&self, req: GetBlockHeaders) -> Result<Vec<Header>, RequestError> {
        Ok(self.get_headers_sized(req).await?.items)
    }

    /// [`Self::get_headers`] with the size of the answer's message.
    pub async fn get_headers_sized(
        &self,
        req: GetBlockHeaders,
    ) -> Result<Answer<Vec<Header>>, RequestError> {
        let asked = usize::try_from(req.limit).unwrap_or(usize::MAX);
        let start = Instant::now();
        let r = self.session.get_headers_sized(req).await;
        self.record(asked, r.as_ref().map(|a| a.items.len()), start.elapsed());
        r
    }

    /// `GetBlockBodies`, measured.
    pub async fn get_bodies(&self, hashes: Vec<B256>) -> Result<Vec<Body>, RequestError> {
        Ok(self.get_bodies_sized(hashes).await?.items)
    }

    /// [`Self::get_bodies`] with the size of the answer's message.
    pub async fn get_bodies_sized(
        &self,
        hashes: Vec<B256>,
    ) -> Result<Answer<Vec<Body>>, RequestError> {
        let asked = hashes.len();
        let start = Instant::now();
        let r = self.session.get_bodies_sized(hashes).await;
        self.record(asked, r.as_ref().map(|a| a.items.len()), start.elapsed());
        r
    }

    /// `GetReceipts`, measured.
    pub async fn get_receipts(&self, hashes: Vec<B256>) -> Result<Vec<Vec<Receipt>>, RequestError> {
        Ok(self.get_receipts_sized(hashes).await?.items)
    }

    /// [`Self::get_receipts`] with the size of the answer's message.
    pub async fn get_receipts_sized(
        &self,
        hashes: Vec<B256>,
    ) -> Result<Answer<Vec<Vec<Receipt>>>, RequestError> {
        let asked = hashes.len();
        let start = Instant::now();
        let r = self.session.get_receipts_sized(hashes).await;
        self.record(asked, r.as_ref().map(|a| a.items.len()), start.elapsed());
        r
    }

    /// Reports misbehaviour of this peer (e.g. its answer failed verification).
    pub fn report(&self, what: Misbehaviour) -> Option<Ban> {
        self.shared.report(&self.id, what)
    }

    /// Feeds the peer's stats with one answer: `r` is how many items came back, or the error.
    fn record(&self, asked: usize, r: Result<usize, &RequestError>, elapsed: Duration) {
        match r {
            Ok(0) if asked > 0 => {
                if let Some(span) = self.span {
                    self.shared.unserved(&self.id, span);
                }
            }
            Ok(got) => self.shared.answered(&self.id, asked, got, elapsed),
            Err(RequestError::Timeout { .. }) => {
                self.shared.report(&self.id, Misbehaviour::Timeout);
            }
            Err(RequestError::InvalidResponse { .. }) => {
                self.shared.report(&self.id, Misbehaviour::ProtocolBreach);
            }
            // Gone (the service sees the session end) or our own oversized request.
            Err(_) => {}
        }
    }
}

impl Drop for PeerLease {
    fn drop(&mut self) {
        if let Some(e) = self.shared.lock().peers.get_mut(&self.id)
            && e.serial == self.serial
        {
            e.in_flight = e.in_flight.saturating_sub(1);
        }
    }
}
