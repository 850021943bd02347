//! The pool's task: keeps up to `max_peers` sessions. Feeds the dial book from the peer cache
//! (first) and discovery, dials what is due, takes inbound sessions from the listener, starts a
//! session per peer, watches each session until it ends (banning breaches, backing off
//! failures), re-reads heads once a `head_interval`, saves the peer cache periodically and on
//! shutdown, and logs a status line. Every task it starts (listener, inbound handshakes, dials,
//! session watchers, disconnects, cache loads and saves) runs on the pool's [`Tasks`], which its
//! shutdown closes and awaits (bounded by [`TASKS_STOP_LIMIT`]), so nothing of the pool outlives
//! its task. It never verifies block data and never stores history.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::{JoinError, JoinHandle};
use tokio::time::{Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use super::bans::Misbehaviour;
use super::cache::{CachedPeer, PeerCache};
use super::config::PoolConfig;
use super::dialer::{self, DialBook, DialError, Origin};
use super::handle::PoolHandle;
use super::head_quorum::HeadBound;
use super::listener::{self, Inbound};
use super::peer::PeerStats;
use super::snapshot::{Direction, PoolEvent};
use super::state::{Entry, Shared, short_id, unix_now};
use crate::metrics as names;
use crate::p2p::base::{DisconnectReason, P2pError};
use crate::p2p::discovery::{Discovered, NodeRecord};
use crate::p2p::eth::{ForkSide, StatusError, fmt_fork_id};
use crate::p2p::rlpx::PeerId;
use crate::p2p::session::{self, EthStream, EthStreamError, HistoryProvider, PeerConfig};
use crate::p2p::tasks::Tasks;

/// Capacity of the event channel (events are also in the snapshot, so a slow reader loses
/// nothing it cannot recover).
const EVENT_CAPACITY: usize = 256;

/// How long the pool's shutdown waits for its tasks (after telling sessions "client quitting")
/// before it names and aborts the ones still running.
pub const TASKS_STOP_LIMIT: Duration = Duration::from_secs(5);

/// What the pool is built from.
pub struct PoolDeps {
    /// Our identity, Hello and Status inputs (`listen_port` is set from the bound listener).
    pub peer: PeerConfig,
    /// What sessions serve to peers.
    pub provider: Arc<dyn HistoryProvider>,
    /// Node records from discovery (`Discovery::records`); `None`: only cached peers.
    pub discovered: Option<mpsc::Receiver<Discovered>>,
    /// Where good peers are remembered.
    pub cache: Arc<dyn PeerCache>,
}

impl std::fmt::Debug for PoolDeps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolDeps")
            .field("peer", &self.peer.key.id())
            .field("discovered", &self.discovered.is_some())
            .finish_non_exhaustive()
    }
}

/// Why the pool could not start.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// `p2p.listen` could not be bound.
    #[error("binding p2p.listen {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// A started pool.
#[derive(Debug)]
pub struct RunningPool {
    /// Snapshot, leases, reports.
    pub handle: PoolHandle,
    /// Ready / Lost / counts / head.
    pub events: mpsc::Receiver<PoolEvent>,
    /// Ends after cancellation, once sessions are closed, the cache is saved and every task
    /// of the pool has ended.
    pub task: JoinHandle<()>,
    /// The pool's tasks (empty once `task` has ended).
    pub tasks: Tasks,
    /// The bound listen address, if listening.
    pub listen_addr: Option<SocketAddr>,
}

/// The peer pool.
#[derive(Debug)]
pub struct PeerPool;

impl PeerPool {
    /// Binds the listener (if any), loads the peer cache and starts the pool task. Cancel
    /// `cancel` to stop it: sessions get "client quitting" and the cache is saved before the
    /// task ends.
    pub async fn spawn(
        config: PoolConfig,
        mut deps: PoolDeps,
        cancel: CancellationToken,
    ) -> Result<RunningPool, PoolError> {
        let listener = match config.listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| PoolError::Listen { addr, source })?,
            ),
            None => None,
        };
        let listen_addr = listener.as_ref().and_then(|l| l.local_addr().ok());
        if let Some(addr) = listen_addr {
            deps.peer.listen_port = addr.port();
        }
        let peer_config = Arc::new(deps.peer);
        let tasks = Tasks::new("peer pool");
        let (inbound_tx, inbound_rx) = mpsc::unbounded_channel();
        let limits = listener::Limits::from(&config);
        let (events_tx, events) = mpsc::channel(EVENT_CAPACITY);
        let bound = HeadBound::for_chain(&peer_config.status.spec, config.head_slack_blocks);
        let shared = Arc::new(Shared::new(config, bound, events_tx, tasks.clone()));
        if let Some(l) = listener {
            tasks.spawn(
                "listener",
                listener::run(
                    l,
                    peer_config.clone(),
                    limits,
                    shared.clone(),
                    inbound_tx,
                    tasks.clone(),
                    cancel.child_token(),
                ),
            );
        }
        let (internal_tx, internal_rx) = mpsc::unbounded_channel();
        let service = Service {
            own_id: peer_config.key.id(),
            shared: shared.clone(),
            peer_config,
            provider: deps.provider,
            cache: deps.cache,
            book: DialBook::default(),
            dialing: HashSet::new(),
            serial: 0,
            internal_tx,
            internal_rx,
            inbound_rx,
            discovered: deps.discovered,
            tasks: tasks.clone(),
            cancel,
        };
        let task = tokio::spawn(service.run());
        if let Some(addr) = listen_addr {
            tracing::info!(%addr, "peer pool listening");
        }
        Ok(RunningPool {
            handle: PoolHandle { shared },
            events,
            task,
            tasks,
            listen_addr,
        })
    }
}

enum Internal {
    Dialed {
        record: NodeRecord,
        /// Boxed: an eth stream is large and this channel carries small messages otherwise.
        result: Result<Box<EthStream<TcpStream>>, DialError>,
    },
    HeadKnown,
    Ended {
        id: PeerId,
        serial: u64,
        result: Result<Result<(), EthStreamError>, JoinError>,
    },
}

struct Service {
    own_id: PeerId,
    shared: Arc<Shared>,
    peer_config: Arc<PeerConfig>,
    provider: Arc<dyn HistoryProvider>,
    cache: Arc<dyn PeerCache>,
    book: DialBook,
    dialing: HashSet<PeerId>,
    serial: u64,
    internal_tx: mpsc::UnboundedSender<Internal>,
    internal_rx: mpsc::UnboundedReceiver<Internal>,
    inbound_rx: mpsc::UnboundedReceiver<Inbound>,
    discovered: Option<mpsc::Receiver<Discovered>>,
    tasks: Tasks,
    cancel: CancellationToken,
}

/// Where an error ended a connection: its handshake or its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Handshake,
    Session,
}

/// The pool's verdict on a session or handshake error.
fn classify(e: &EthStreamError, stage: Stage) -> Option<Misbehaviour> {
    match e {
        // Same network and genesis (checked first), only the fork differs: one side is probably
        // out of date, which can change while we run, so not a ban for good.
        EthStreamError::Status(s) if matches!(**s, StatusError::ForkIdRejected { .. }) => {
            Some(Misbehaviour::ForkMismatch)
        }
        EthStreamError::Status(s) if !s.is_protocol_breach() => Some(Misbehaviour::WrongChain),
        // The peer refused our Status although ours found theirs on our network and genesis: its
        // fork id filter refused ours (geth says 0x10 for that), so one side is out of date, as
        // above. Mid-session, geth sends 0x10 for any error of its eth handler: not a verdict on
        // our chain, so no ban (the end still counts towards the redial backoff).
        EthStreamError::P2p(P2pError::Disconnected {
            reason: DisconnectReason::SubprotocolSpecific,
        }) => (stage == Stage::Handshake).then_some(Misbehaviour::ForkMismatch),
        EthStreamError::RequestTimeout { .. }
        | EthStreamError::P2p(P2pError::WriteTimeout { .. }) => Some(Misbehaviour::Timeout),
        e if e.is_protocol_breach() => Some(Misbehaviour::ProtocolBreach),
        _ => None,
    }
}

/// Logs a fork-id refusal at INFO with both fork ids and which side looks out of date: at DEBUG,
/// an out-of-date histd only showed every peer banned, with nothing saying that it needs an
/// upgrade. Other handshake errors are left to the caller's DEBUG line.
fn log_fork_refusal(e: &EthStreamError, peer: Option<&PeerId>, remote: SocketAddr) {
    let EthStreamError::Status(s) = e else {
        return;
    };
    let StatusError::ForkIdRejected {
        ours,
        theirs,
        reason,
    } = &**s
    else {
        return;
    };
    let side = ForkSide::of(*ours, *theirs, reason);
    let peer = peer.map_or_else(|| "unknown".to_owned(), |p| p.to_string());
    tracing::info!(
        %peer,
        %remote,
        ours = %fmt_fork_id(*ours),
        theirs = %fmt_fork_id(*theirs),
        outdated = %side,
        "fork id refused: {}",
        match side {
            ForkSide::WeMayBeOutdated =>
                "the peer announces a fork we have passed without knowing it; histd may need an upgrade",
            ForkSide::PeerOutdated => "the peer missed a fork we know; it needs an upgrade",
            ForkSide::OtherChain =>
                "an unknown fork hash on our genesis: another chain, or a fork histd does not know yet",
        }
    );
}

fn ticker(period: std::time::Duration) -> Interval {
    let mut t = tokio::time::interval(period.max(std::time::Duration::from_millis(10)));
    t.set_missed_tick_behavior(MissedTickBehavior::Delay);
    t
}

async fn recv_opt<T>(rx: &mut Option<mpsc::Receiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

impl Service {
    fn config(&self) -> &PoolConfig {
        &self.shared.config
    }

    async fn run(mut self) {
        self.load_cache().await;
        let c = self.config().clone();
        let (mut dial_t, mut head_t) = (ticker(c.dial_interval), ticker(c.head_interval));
        let (mut cache_t, mut log_t) = (ticker(c.cache_interval), ticker(c.log_interval));
        cache_t.reset();
        log_t.reset();
        loop {
            tokio::select! {
                _ = self.cancel.cancelled() => break,
                Some(m) = self.internal_rx.recv() => self.on_internal(m),
                Some(i) = self.inbound_rx.recv() => self.on_inbound(i),
                d = recv_opt(&mut self.discovered) => match d {
                    Some(d) => self.on_discovered(d),
                    None => self.discovered = None,
                },
                _ = dial_t.tick() => self.dial_more(),
                _ = head_t.tick() => self.on_head_tick(),
                _ = cache_t.tick() => self.save_cache().await,
                _ = log_t.tick() => self.log_status(),
            }
        }
        self.shutdown().await;
    }

    async fn load_cache(&mut self) {
        let cache = self.cache.clone();
        let loaded = self
            .tasks
            .spawn_blocking("peer cache load", move || cache.load())
            .await;
        let peers = match loaded {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "peer cache unusable; starting without it");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "loading the peer cache panicked");
                return;
            }
        };
        tracing::info!(peers = peers.len(), "peer cache loaded");
        self.load_bans().await;
        let now = Instant::now();
        let cap = self.config().max_candidates;
        let mut st = self.shared.lock();
        for p in peers {
            if p.record.id == self.own_id {
                continue;
            }
            self.book.add(p.record, Origin::Cached, now, cap);
            st.good.insert(p.record.id, p);
        }
        st.counters.candidates = self.book.len();
    }

    /// Restores the temporary bans of the last run (what is left of each).
    async fn load_bans(&mut self) {
        let cache = self.cache.clone();
        let loaded = self
            .tasks
            .spawn_blocking("saved bans load", move || cache.load_bans())
            .await;
        match loaded {
            Ok(Ok(saved)) if !saved.is_empty() => {
                let longest = self.config().temp_ban;
                let restored =
                    self.shared
                        .lock()
                        .bans
                        .restore(&saved, Instant::now(), unix_now(), longest);
                tracing::info!(
                    saved = saved.len(),
                    restored,
                    "bans of the last run restored"
                );
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "saved bans unusable; starting without them"),
            Err(e) => tracing::warn!(error = %e, "loading the saved bans panicked"),
        }
    }

    /// The good peers, most recently seen first, for the cache.
    fn cache_entries(&self) -> Vec<CachedPeer> {
        let now = Instant::now();
        let mut st = self.shared.lock();
        let seen = unix_now();
        let connected: Vec<(PeerId, u64, usize)> = st
            .peers
            .iter()
            .map(|(id, e)| (*id, e.stats.quality().successes, e.stats.batch()))
            .collect();
        let connected_ids: HashSet<PeerId> = connected.iter().map(|(id, _, _)| *id).collect();
        for (id, successes, batch) in connected {
            if let Some(g) = st.good.get_mut(&id) {
                g.last_seen = seen;
                g.successes = u32::try_from(successes).unwrap_or(u32::MAX);
                // The size learned this run, for the next one.
                g.batch = u32::try_from(batch).unwrap_or(u32::MAX);
            }
        }
        let mut good: Vec<CachedPeer> = st
            .good
            .values()
            .filter(|g| !st.bans.is_banned(&g.record.id, now))
            .copied()
            .collect();
        good.sort_by_key(|g| std::cmp::Reverse((g.last_seen, g.successes)));
        good.truncate(self.config().cache_size);
        // Forget the rest, so churn over a long run does not grow the map.
        let kept: HashSet<PeerId> = good.iter().map(|g| g.record.id).collect();
        st.good
            .retain(|id, _| kept.contains(id) || connected_ids.contains(id));
        good
    }

    async fn save_cache(&self) {
        let peers = self.cache_entries();
        let bans = self.shared.lock().bans.saved(Instant::now(), unix_now());
        let n = peers.len();
        let cache = self.cache.clone();
        let saving = self.tasks.spawn_blocking("peer cache save", move || {
            cache.save(&peers)?;
            cache.save_bans(&bans)
        });
        match saving.await {
            Ok(Ok(())) => tracing::debug!(peers = n, "peer cache saved"),
            Ok(Err(e)) => tracing::warn!(error = %e, "saving the peer cache failed"),
            Err(e) => tracing::warn!(error = %e, "saving the peer cache panicked"),
        }
    }

    fn on_discovered(&mut self, d: Discovered) {
        ::metrics::counter!(names::POOL_DISCOVERED, "source" => d.source.as_str()).increment(1);
        if d.record.id == self.own_id {
            return;
        }
        let cap = self.config().max_candidates;
        let now = Instant::now();
        if self
            .shared
            .lock()
            .bans
            .get(&d.record.id, now)
            .is_some_and(|b| b.until.is_none())
        {
            return;
        }
        self.book
            .add(d.record, Origin::from_source(d.source), now, cap);
        self.shared.lock().counters.candidates = self.book.len();
    }

    /// Starts dials while there is room and something is due.
    fn dial_more(&mut self) {
        if self.cancel.is_cancelled() {
            return;
        }
        let now = Instant::now();
        let c = self.config().clone();
        let mut st = self.shared.lock();
        let busy = st.peers.len() + self.dialing.len();
        let slots = c
            .max_peers
            .saturating_sub(busy)
            .min(c.dial_concurrency.saturating_sub(self.dialing.len()));
        if slots == 0 {
            return;
        }
        let due = {
            let st = &*st;
            self.book.due(now, slots, |record| {
                let id = &record.id;
                *id == self.own_id
                    || self.dialing.contains(id)
                    || st.peers.contains_key(id)
                    || st.bans.is_banned(id, now)
                    || st.bans.address(&record.ip, now).is_some()
            })
        };
        st.counters.dials += due.len() as u64;
        drop(st);
        for record in due {
            ::metrics::counter!(names::POOL_DIAL_ATTEMPTS).increment(1);
            self.dialing.insert(record.id);
            let (config, tx, cancel) = (
                self.peer_config.clone(),
                self.internal_tx.clone(),
                self.cancel.clone(),
            );
            let limit = c.connect_timeout;
            self.tasks
                .spawn(format!("dial {}", short_id(&record.id)), async move {
                    let result = tokio::select! {
                        _ = cancel.cancelled() => return,
                        r = dialer::dial(record, &config, limit) => r.map(Box::new),
                    };
                    let _ = tx.send(Internal::Dialed { record, result });
                });
        }
    }

    fn on_internal(&mut self, m: Internal) {
        match m {
            Internal::Dialed { record, result } => self.on_dialed(record, result),
            Internal::HeadKnown => self.shared.publish(),
            Internal::Ended { id, serial, result } => self.on_ended(id, serial, result),
        }
        // A slot may have freed up (a dial failed, a session ended): refill without waiting.
        self.dial_more();
    }

    fn on_dialed(
        &mut self,
        record: NodeRecord,
        result: Result<Box<EthStream<TcpStream>>, DialError>,
    ) {
        self.dialing.remove(&record.id);
        let now = Instant::now();
        match result {
            Ok(eth) => {
                if let Some(reason) = self.refusal(&record.id, record.ip) {
                    tracing::debug!(peer = %record.id, %reason, "dropping a dialled session");
                    self.tasks.spawn(
                        format!("disconnect dialled {}", short_id(&record.id)),
                        eth.disconnect(reason),
                    );
                    return;
                }
                self.add_session(*eth, Direction::Outbound, Some(record), record.ip);
            }
            Err(e) => {
                ::metrics::counter!(names::POOL_DIAL_FAILURES).increment(1);
                self.shared.lock().counters.dial_failures += 1;
                tracing::debug!(peer = %record.id, error = %e, "dial failed");
                if let Some(h) = e.handshake_error() {
                    log_fork_refusal(h, Some(&record.id), record.tcp_addr());
                }
                let verdict = e
                    .handshake_error()
                    .and_then(|h| classify(h, Stage::Handshake));
                if let Some(what) = verdict {
                    self.shared.report(&record.id, what);
                }
                if verdict == Some(Misbehaviour::WrongChain) {
                    self.book.remove(&record.id);
                } else {
                    let shared = self.shared.clone();
                    self.book.failed(&record.id, now, &shared.config);
                    // A cached peer that keeps failing is no longer worth remembering.
                    if self.book.failures(&record.id) >= shared.config.max_dial_failures {
                        self.shared.lock().good.remove(&record.id);
                    }
                }
                self.shared.lock().counters.candidates = self.book.len();
            }
        }
    }

    /// Why a finished handshake with `id` must not become a session, if it must not.
    fn refusal(&self, id: &PeerId, ip: IpAddr) -> Option<DisconnectReason> {
        let st = self.shared.lock();
        let now = Instant::now();
        if self.cancel.is_cancelled() {
            Some(DisconnectReason::ClientQuitting)
        } else if *id == self.own_id {
            Some(DisconnectReason::ConnectedToSelf)
        } else if st.bans.is_banned(id, now) || st.bans.address(&ip, now).is_some() {
            Some(DisconnectReason::UselessPeer)
        } else if st.peers.contains_key(id) {
            Some(DisconnectReason::AlreadyConnected)
        } else if st.peers.len() >= self.config().max_peers {
            Some(DisconnectReason::TooManyPeers)
        } else {
            None
        }
    }

    fn on_inbound(&mut self, i: Inbound) {
        let eth = match i.result {
            Ok(eth) => eth,
            Err(e) => {
                ::metrics::counter!(names::POOL_INBOUND, "result" => "failed").increment(1);
                tracing::debug!(remote = %i.remote, error = %e, "inbound handshake failed");
                log_fork_refusal(&e, None, i.remote);
                if let Some(what) =
                    classify(&e, Stage::Handshake).filter(|w| *w == Misbehaviour::ProtocolBreach)
                {
                    tracing::debug!(remote = %i.remote, reason = %what, "inbound peer misbehaved before its id was known");
                }
                return;
            }
        };
        let id = eth.remote_id();
        // The general refusals first (a duplicate or banned id is told so), then the inbound
        // slot limits: both say "too many peers" to the peer, the metric tells them apart.
        let refused = self
            .refusal(&id, i.remote.ip())
            .map(|reason| (reason, "refused"))
            .or_else(|| {
                let st = self.shared.lock();
                st.inbound_limit(i.remote.ip(), self.config())
                    .map(|label| (DisconnectReason::TooManyPeers, label))
            });
        if let Some((reason, label)) = refused {
            ::metrics::counter!(names::POOL_INBOUND, "result" => label).increment(1);
            tracing::debug!(peer = %id, remote = %i.remote, %reason, result = label, "inbound session refused");
            self.tasks.spawn(
                format!("disconnect inbound {}", short_id(&id)),
                eth.disconnect(reason),
            );
            return;
        }
        ::metrics::counter!(names::POOL_INBOUND, "result" => "accepted").increment(1);
        self.shared.lock().counters.inbound += 1;
        self.add_session(eth, Direction::Inbound, None, i.remote.ip());
    }

    fn add_session(
        &mut self,
        eth: EthStream<TcpStream>,
        direction: Direction,
        record: Option<NodeRecord>,
        ip: std::net::IpAddr,
    ) {
        let id = eth.remote_id();
        let (handle, task) = session::spawn(eth, self.provider.clone(), self.config().session);
        self.serial += 1;
        let serial = self.serial;
        let snap = handle.snapshot();
        tracing::info!(peer = %id, client = %snap.client_id, version = %snap.version, direction = direction.as_str(), "peer connected");
        // A peer remembered from an earlier run starts with the batch size learned then.
        let learned = self
            .shared
            .lock()
            .good
            .get(&id)
            .map_or(0, |g| usize::try_from(g.batch).unwrap_or(0));
        let entry = Entry {
            serial,
            handle: handle.clone(),
            client_id: snap.client_id,
            version: snap.version,
            direction,
            record,
            ip,
            head: snap.head,
            served: snap.served,
            stats: PeerStats::with_batch(&self.config().batch, learned),
            in_flight: 0,
            connected_at: Instant::now(),
        };
        {
            let mut st = self.shared.lock();
            if let Some(r) = record {
                let (prev, batch) = st.good.get(&id).map_or((0, 0), |g| (g.successes, g.batch));
                st.good.insert(
                    id,
                    CachedPeer {
                        record: r,
                        last_seen: unix_now(),
                        successes: prev,
                        batch,
                    },
                );
            }
            st.peers.insert(id, entry);
            self.shared.publish_locked(&mut st);
        }
        let tx = self.internal_tx.clone();
        // The session task itself is spawned by the session layer; this watcher owns its handle,
        // so aborting the watcher (a session that would not stop) aborts the session too.
        let task = AbortOnDropHandle::new(task);
        self.tasks
            .spawn(format!("session {}", short_id(&id)), async move {
                // The head of an eth/68 peer needs a round trip: tell the service when it is known.
                if handle.head().await.is_some() {
                    let _ = tx.send(Internal::HeadKnown);
                }
                drop(handle);
                let result = task.await;
                let _ = tx.send(Internal::Ended { id, serial, result });
            });
    }

    fn on_ended(
        &mut self,
        id: PeerId,
        serial: u64,
        result: Result<Result<(), EthStreamError>, JoinError>,
    ) {
        let now = Instant::now();
        let mut st = self.shared.lock();
        if st.peers.get(&id).is_none_or(|e| e.serial != serial) {
            return;
        }
        let entry = st.peers.remove(&id);
        let verdict = match &result {
            Ok(Ok(())) => None,
            Ok(Err(e)) => classify(e, Stage::Session),
            Err(_) => None,
        };
        // Any end we did not choose counts towards the redial backoff.
        let failed = !matches!(result, Ok(Ok(())));
        if let (Some(e), Some(g)) = (&entry, st.good.get_mut(&id)) {
            g.last_seen = unix_now();
            g.successes = u32::try_from(e.stats.quality().successes).unwrap_or(u32::MAX);
        }
        self.shared.publish_locked(&mut st);
        drop(st);
        tracing::debug!(peer = %id, ?verdict, "peer session ended");
        if let Some(what @ (Misbehaviour::ProtocolBreach | Misbehaviour::WrongChain)) = verdict {
            self.shared.report(&id, what);
        }
        let shared = self.shared.clone();
        self.book.ended(&id, failed, now, &shared.config);
    }

    /// Re-reads heads; drops peers whose head never resolves (useless to us).
    fn on_head_tick(&mut self) {
        let limit = self.config().session.request_timeout * 3;
        let stale: Vec<_> = {
            let st = self.shared.lock();
            st.peers
                .iter()
                .filter(|(_, e)| e.head.is_none() && e.connected_at.elapsed() > limit)
                .map(|(id, e)| (*id, e.handle.clone()))
                .collect()
        };
        for (id, h) in stale {
            self.tasks.spawn(
                format!("disconnect headless {}", short_id(&id)),
                async move { h.disconnect(DisconnectReason::UselessPeer).await },
            );
        }
        let now = Instant::now();
        let mut st = self.shared.lock();
        st.bans.expire(now);
        st.counters.candidates = self.book.len();
        self.shared.publish_locked(&mut st);
    }

    fn log_status(&self) {
        let snap = self.shared.snapshot();
        let (temp, perm) = self.shared.lock().bans.counts(Instant::now());
        let by_client = fmt_counts(&snap.by_client());
        let by_version = fmt_counts(&snap.by_version());
        tracing::info!(
            peers = snap.peers.len(),
            usable = snap.usable,
            head_seen = ?snap.head_seen.map(|h| h.get()),
            by_client = %by_client,
            by_version = %by_version,
            dials = snap.dials,
            dial_failures = snap.dial_failures,
            inbound = snap.inbound,
            bans_temporary = temp,
            bans_permanent = perm,
            candidates = snap.candidates,
            "peer pool"
        );
    }

    async fn shutdown(self) {
        self.save_cache().await;
        let handles: Vec<_> = self
            .shared
            .lock()
            .peers
            .values()
            .map(|e| e.handle.clone())
            .collect();
        let n = handles.len();
        let bye = handles
            .iter()
            .map(|h| h.disconnect(DisconnectReason::ClientQuitting));
        futures::future::join_all(bye).await;
        // Sessions end on "client quitting"; dials and handshakes end on the cancel.
        let aborted = self.tasks.shutdown(TASKS_STOP_LIMIT).await;
        tracing::info!(peers = n, aborted = aborted.len(), "peer pool stopped");
    }
}

fn fmt_counts(m: &std::collections::BTreeMap<String, usize>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use alloy_primitives::B256;

    use super::*;

    #[test]
    fn session_errors_map_to_verdicts() {
        let genesis = EthStreamError::from(StatusError::GenesisMismatch {
            ours: B256::ZERO,
            theirs: B256::repeat_byte(1),
        });
        assert_eq!(
            classify(&genesis, Stage::Session),
            Some(Misbehaviour::WrongChain)
        );
        let fork = |hash: [u8; 4]| alloy_eip2124::ForkId {
            hash: alloy_eip2124::ForkHash(hash),
            next: 0,
        };
        let (ours, theirs) = (fork([1; 4]), fork([2; 4]));
        let forked = EthStreamError::from(StatusError::ForkIdRejected {
            ours,
            theirs,
            reason: alloy_eip2124::ValidationError::LocalIncompatibleOrStale {
                local: ours,
                remote: theirs,
            },
        });
        assert_eq!(
            classify(&forked, Stage::Session),
            Some(Misbehaviour::ForkMismatch)
        );
        let rejected = EthStreamError::P2p(P2pError::Disconnected {
            reason: DisconnectReason::SubprotocolSpecific,
        });
        assert_eq!(
            classify(&rejected, Stage::Handshake),
            Some(Misbehaviour::ForkMismatch),
            "refused in the handshake: their fork filter refused ours"
        );
        assert_eq!(
            classify(&rejected, Stage::Session),
            None,
            "mid-session 0x10 is any error of their eth handler, not a verdict on our chain"
        );
        let version = EthStreamError::from(StatusError::VersionMismatch {
            ours: 69,
            theirs: 68,
        });
        assert_eq!(
            classify(&version, Stage::Session),
            Some(Misbehaviour::ProtocolBreach)
        );
        let mismatch = EthStreamError::MismatchedResponse {
            request_id: 1,
            expected: "BlockHeaders",
            got: "Receipts",
        };
        assert_eq!(
            classify(&mismatch, Stage::Session),
            Some(Misbehaviour::ProtocolBreach)
        );
        let timeout = EthStreamError::RequestTimeout {
            what: "BlockHeaders",
            request_id: 1,
            after: Duration::from_secs(1),
        };
        assert_eq!(
            classify(&timeout, Stage::Session),
            Some(Misbehaviour::Timeout)
        );
        let quit = EthStreamError::P2p(P2pError::Disconnected {
            reason: DisconnectReason::ClientQuitting,
        });
        assert_eq!(classify(&quit, Stage::Session), None);
        assert_eq!(
            classify(&EthStreamError::P2p(P2pError::Closed), Stage::Session),
            None
        );
    }
}
