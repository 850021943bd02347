//! The pool's shared state: sessions with their stats, bans, `head_seen` and readiness, behind
//! one short-held mutex that both the service task and [`super::PoolHandle`] use. Publishing
//! (snapshot, events, gauges) happens here so every change is seen the same way. It must never
//! hold the lock across an `.await`, and never do network or disk I/O.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, watch};

use super::address;
use super::bans::{Ban, Bans, Misbehaviour};
use super::cache::CachedPeer;
use super::config::PoolConfig;
use super::head_quorum::{HeadBound, HeadSeen, network_votes, votes_needed};
use super::peer::{PeerStats, Span};
use super::ranking::PeerView;
use super::snapshot::{Direction, PeerInfo, PoolEvent, PoolSnapshot, client_name};
use crate::metrics as names;
use crate::p2p::base::DisconnectReason;
use crate::p2p::discovery::NodeRecord;
use crate::p2p::eth::{BlockRange, EthVersion};
use crate::p2p::rlpx::PeerId;
use crate::p2p::session::{PeerHead, SessionHandle};
use crate::p2p::tasks::Tasks;
use crate::primitives::BlockNumber;

/// One live session.
#[derive(Debug)]
pub(super) struct Entry {
    /// Tells this session from a later one with the same peer.
    pub serial: u64,
    pub handle: SessionHandle,
    pub client_id: String,
    pub version: EthVersion,
    pub direction: Direction,
    pub record: Option<NodeRecord>,
    /// Where the session comes from: its head counts as one vote of this address's network.
    pub ip: IpAddr,
    pub head: Option<PeerHead>,
    pub served: Option<BlockRange>,
    pub stats: PeerStats,
    pub in_flight: usize,
    pub connected_at: Instant,
}

impl Entry {
    /// Re-reads head and served range from the session.
    fn refresh(&mut self) {
        let s = self.handle.snapshot();
        self.head = s.head;
        self.served = s.served;
    }

    pub fn view(&self, id: PeerId, banned: bool) -> PeerView<'_> {
        PeerView {
            id,
            head: self.head.map(|h| h.number),
            served: self.served,
            stats: &self.stats,
            in_flight: self.in_flight,
            banned,
        }
    }
}

/// Counters shown in the snapshot.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Counters {
    pub dials: u64,
    pub dial_failures: u64,
    pub inbound: u64,
    pub candidates: usize,
}

/// Everything behind the lock.
#[derive(Debug, Default)]
pub(super) struct State {
    pub peers: HashMap<PeerId, Entry>,
    pub bans: Bans,
    pub head: HeadSeen,
    pub ready: bool,
    pub last_counts: (usize, usize),
    pub counters: Counters,
    /// Peers worth remembering (dialled successfully, not banned), for the cache.
    pub good: HashMap<PeerId, CachedPeer>,
    /// `(client, version)` gauge labels set last time, so vanished ones are zeroed.
    metric_labels: BTreeSet<(String, String)>,
    /// The ban list as last published, with the [`Bans::changes`] it reflects (thousands of
    /// wrong-chain nodes get banned on mainnet: not worth copying on every publish).
    bans_published: (u64, Arc<Vec<(PeerId, Ban)>>),
}

impl State {
    fn usable(&self, id: &PeerId, e: &Entry, now: Instant) -> bool {
        e.head.is_some() && !self.bans.is_banned(id, now)
    }

    /// Why one more inbound session from `ip` would break an inbound slot limit, if it would:
    /// the label of `histd_pool_inbound_total` it is counted under. Only inbound sessions
    /// count: the slots beyond `max_inbound` stay for our dials, and a host we dialled may
    /// still dial us.
    pub fn inbound_limit(&self, ip: IpAddr, config: &PoolConfig) -> Option<&'static str> {
        let inbound = self
            .peers
            .values()
            .filter(|e| e.direction == Direction::Inbound);
        let (mut total, mut same_ip) = (0usize, 0usize);
        for e in inbound {
            total += 1;
            same_ip += usize::from(e.ip == ip);
        }
        if total >= config.max_inbound {
            Some("inbound_full")
        } else if same_ip >= config.max_sessions_per_ip {
            Some("ip_sessions")
        } else {
            None
        }
    }
}

/// Shared between the service task and every handle.
#[derive(Debug)]
pub(super) struct Shared {
    pub config: PoolConfig,
    /// The highest head the chain can have now; claims above it are refused.
    bound: HeadBound,
    state: Mutex<State>,
    snapshot: watch::Sender<Arc<PoolSnapshot>>,
    events: mpsc::Sender<PoolEvent>,
    /// The pool's tracked tasks (disconnects of banned peers run there too).
    pub tasks: Tasks,
}

/// The first bytes of a node id, enough to tell peers apart in task names and logs.
pub(super) fn short_id(id: &PeerId) -> String {
    alloy_primitives::hex::encode(&id.as_slice()[..8])
}

/// Seconds since the epoch (0 if the clock is before it).
pub(super) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Shared {
    pub fn new(
        config: PoolConfig,
        bound: HeadBound,
        events: mpsc::Sender<PoolEvent>,
        tasks: Tasks,
    ) -> Self {
        Self {
            config,
            bound,
            state: Mutex::new(State::default()),
            snapshot: watch::Sender::new(Arc::new(PoolSnapshot::default())),
            events,
            tasks,
        }
    }

    /// The state; a panic elsewhere while holding it leaves data that is still consistent
    /// enough for bookkeeping, so poisoning is ignored.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn subscribe(&self) -> watch::Receiver<Arc<PoolSnapshot>> {
        self.snapshot.subscribe()
    }

    pub fn snapshot(&self) -> Arc<PoolSnapshot> {
        self.snapshot.borrow().clone()
    }

    fn emit(&self, event: PoolEvent) {
        if self.events.try_send(event).is_err() {
            tracing::debug!(?event, "pool event not delivered (receiver full or gone)");
        }
    }

    /// A complete answer of `got` of `asked` items after `latency`.
    pub fn answered(&self, peer: &PeerId, asked: usize, got: usize, latency: Duration) {
        let mut st = self.lock();
        if let Some(e) = st.peers.get_mut(peer) {
            e.stats
                .record_answer(asked, got, latency, &self.config.batch);
        }
    }

    /// `peer` answered `span` with nothing.
    pub fn unserved(&self, peer: &PeerId, span: Span) {
        let mut st = self.lock();
        if let Some(e) = st.peers.get_mut(peer) {
            e.stats.record_unserved(span);
        }
    }

    /// Whether connections from `ip` are refused at `now` (an address ban in force).
    pub fn address_banned(&self, ip: IpAddr, now: Instant) -> bool {
        self.lock().bans.address(&ip, now).is_some()
    }

    /// Counts a failure, bans if it earns one (and bans the peer's address when the
    /// misbehaviour [calls for it](Misbehaviour::bans_address)), and disconnects a banned peer.
    /// Returns the ban.
    pub fn report(&self, peer: &PeerId, what: Misbehaviour) -> Option<Ban> {
        let mut st = self.lock();
        let ban = self.penalise_locked(&mut st, peer, what, Instant::now())?;
        self.publish_locked(&mut st);
        Some(ban)
    }

    /// [`Self::report`] without publishing (the caller holds the lock and publishes).
    fn penalise_locked(
        &self,
        st: &mut State,
        peer: &PeerId,
        what: Misbehaviour,
        now: Instant,
    ) -> Option<Ban> {
        if let Some(e) = st.peers.get_mut(peer) {
            let config = &self.config;
            e.stats
                .record_failure(now, |n| config.backoff(n), &config.batch);
        }
        let ban = st.bans.ban(*peer, what, now, self.config.temp_ban)?;
        st.good.remove(peer);
        let ip = st.peers.get(peer).map(|e| e.ip);
        let ip = ip.filter(|ip| address::rules_apply(*ip, self.config.address_rules_on_local));
        if let Some(ip) = ip
            && st
                .bans
                .ban_address(ip, what, now, self.config.temp_ban)
                .is_some()
        {
            tracing::info!(%peer, %ip, reason = %what, "address banned");
        }
        let handle = st.peers.get(peer).map(|e| e.handle.clone());
        ::metrics::counter!(names::POOL_BANS, "kind" => ban.kind.as_str(), "reason" => what.as_str())
            .increment(1);
        tracing::info!(%peer, reason = %what, kind = ban.kind.as_str(), "peer banned");
        if let Some(handle) = handle {
            let reason = match what {
                Misbehaviour::WrongChain | Misbehaviour::ForkMismatch => {
                    DisconnectReason::SubprotocolSpecific
                }
                _ => DisconnectReason::ProtocolBreach,
            };
            // Outside a runtime (a unit test calling `report` directly) there is no session task
            // to tell either.
            if tokio::runtime::Handle::try_current().is_ok() {
                self.tasks.spawn(
                    format!("disconnect banned {}", short_id(peer)),
                    async move { handle.disconnect(reason).await },
                );
            }
        }
        Some(ban)
    }

    /// Bans every usable peer whose head is above what the chain can have produced by now: a
    /// lie, whatever else the peer does (its claim is then no longer counted, as it is not usable).
    fn refuse_impossible_heads(&self, st: &mut State, now: Instant) {
        let max_head = self.bound.max_head(unix_now());
        let liars: Vec<(PeerId, BlockNumber)> = st
            .peers
            .iter()
            .filter(|(id, e)| st.usable(id, e, now))
            .filter_map(|(id, e)| e.head.map(|h| (*id, h.number)))
            .filter(|(_, head)| *head > max_head)
            .collect();
        for (peer, claimed) in liars {
            ::metrics::counter!(names::POOL_HEAD_CLAIMS_REFUSED, "reason" => "impossible")
                .increment(1);
            tracing::info!(%peer, %claimed, max = %max_head, "peer claims a head the chain cannot have reached");
            self.penalise_locked(st, &peer, Misbehaviour::ProtocolBreach, now);
        }
    }

    /// Re-reads heads, applies the head rule, updates readiness, emits events, publishes the
    /// snapshot and the gauges.
    pub fn publish(&self) {
        let mut st = self.lock();
        self.publish_locked(&mut st);
    }

    pub fn publish_locked(&self, st: &mut State) {
        let now = Instant::now();
        for e in st.peers.values_mut() {
            e.refresh();
        }
        self.refuse_impossible_heads(st, now);
        let claims: Vec<(IpAddr, BlockNumber)> = st
            .peers
            .iter()
            .filter(|(id, e)| st.usable(id, e, now))
            .filter_map(|(_, e)| e.head.map(|h| (e.ip, h.number)))
            .collect();
        let usable = claims.len();
        let c = &self.config;
        let votes: Vec<BlockNumber> =
            network_votes(claims, c.head_vote_prefix_v4, c.head_vote_prefix_v6)
                .into_values()
                .collect();
        let connected = st.peers.len();
        let was_ready = st.ready;
        let enough = usable >= c.min_peers.max(1);
        // Heads count only with enough peers: before that, the first peer to connect would be
        // alone and could latch any number into the monotonic `head_seen`.
        let rose = if enough {
            st.head
                .update(&votes, votes_needed(c.head_quorum, c.min_peers))
        } else {
            None
        };
        // Ready needs a head confirmed by enough networks too: many ids on one network are
        // enough peers but not enough evidence.
        let ready = enough && st.head.get().is_some();
        st.ready = ready;
        self.head_gauges(&votes, usable, st.head.get());

        // Events go out after the snapshot, so a reader woken by one sees its state.
        let mut events = Vec::new();
        if st.last_counts != (connected, usable) {
            st.last_counts = (connected, usable);
            events.push(PoolEvent::PeerCountChanged { connected, usable });
        }
        match (was_ready, ready, st.head.get()) {
            (false, true, Some(best_head)) => events.push(PoolEvent::Ready {
                peers: usable,
                best_head,
            }),
            (true, false, _) => events.push(PoolEvent::Lost { peers: usable }),
            (true, true, _) => {
                if let Some(head_seen) = rose {
                    events.push(PoolEvent::HeadSeen { head_seen });
                }
            }
            _ => {}
        }

        let mut peers: Vec<PeerInfo> = st
            .peers
            .iter()
            .map(|(id, e)| PeerInfo {
                id: *id,
                client_id: e.client_id.clone(),
                version: e.version,
                direction: e.direction,
                record: e.record,
                ip: e.ip,
                head: e.head,
                served: e.served,
                quality: e.stats.quality(),
                in_flight: e.in_flight,
                usable: st.usable(id, e, now),
                connected_at: e.connected_at,
            })
            .collect();
        peers.sort_by(|a, b| b.quality.score.total_cmp(&a.quality.score));
        let snap = PoolSnapshot {
            peers,
            usable,
            head_seen: st.head.get(),
            ready,
            bans: {
                if st.bans_published.0 != st.bans.changes() {
                    st.bans_published = (st.bans.changes(), Arc::new(st.bans.list(now)));
                }
                st.bans_published.1.clone()
            },
            dials: st.counters.dials,
            dial_failures: st.counters.dial_failures,
            inbound: st.counters.inbound,
            candidates: st.counters.candidates,
        };
        self.gauges(st, &snap);
        self.snapshot.send_replace(Arc::new(snap));
        for e in events {
            self.emit(e);
        }
    }

    fn head_gauges(&self, votes: &[BlockNumber], claims: usize, seen: Option<BlockNumber>) {
        ::metrics::gauge!(names::POOL_HEAD_NETWORKS).set(votes.len() as f64);
        ::metrics::gauge!(names::POOL_HEAD_CLAIMS_SAME_NETWORK)
            .set(claims.saturating_sub(votes.len()) as f64);
        let at_seen = seen.map_or(0, |h| votes.iter().filter(|v| **v >= h).count());
        ::metrics::gauge!(names::POOL_HEAD_VOTES_AT_SEEN).set(at_seen as f64);
    }

    fn gauges(&self, st: &mut State, snap: &PoolSnapshot) {
        ::metrics::gauge!(names::PEERS).set(snap.peers.len() as f64);
        ::metrics::gauge!(names::POOL_USABLE_PEERS).set(snap.usable as f64);
        ::metrics::gauge!(names::POOL_CANDIDATES).set(snap.candidates as f64);
        let mut counts: HashMap<(String, String), usize> = HashMap::new();
        for p in &snap.peers {
            *counts
                .entry((client_name(&p.client_id), p.version.to_string()))
                .or_insert(0) += 1;
        }
        for label in &st.metric_labels {
            if !counts.contains_key(label) {
                ::metrics::gauge!(names::POOL_PEERS, "client" => label.0.clone(), "version" => label.1.clone())
                    .set(0.0);
            }
        }
        for ((client, version), n) in &counts {
            ::metrics::gauge!(names::POOL_PEERS, "client" => client.clone(), "version" => version.clone())
                .set(*n as f64);
        }
        st.metric_labels = counts.into_keys().collect();
    }
}
