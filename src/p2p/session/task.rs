//! The session task: one per peer. Matches responses to requests by EIP-2481 request id, enforces
//! timeouts (per request, per write, idle) and response item caps, answers the peer's history requests from a
//! [`HistoryProvider`], ignores gossip, keeps the connection alive, resolves the peer's head, and
//! ends with one clear log line. It must never store peer data or judge it beyond the protocol
//! (verification is `verify`'s job).

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::error::{EthStreamError, RequestError};
use super::eth_stream::EthStream;
use super::handle::{Answer, Command, PeerHead, PeerSnapshot, Reply, SessionHandle, WireSize};
use super::provider::{HistoryProvider, cap_by_size};
use crate::p2p::base::DisconnectReason;
use crate::p2p::eth::{
    BlockHashOrNumber, EthMessage, EthVersion, GetBlockHeaders, RequestPair, check_response_count,
};
use crate::primitives::{BlockNumber, Body, Header, Receipt};

/// Timers of a session.
#[derive(Debug, Clone, Copy)]
pub struct SessionConfig {
    /// How long the peer has to answer one request. A timeout fails that request only; the
    /// session ends after `timeouts_in_a_row` of them without an answer in between.
    pub request_timeout: Duration,
    /// How often we Ping.
    pub ping_interval: Duration,
    /// Silence (no frame at all, Pong included) after which the session ends.
    pub idle_timeout: Duration,
    /// How long one write (an answer, a request, a Ping) may wait for the peer to read before the
    /// session ends. Request deadlines keep firing while a write waits.
    pub write_timeout: Duration,
    /// Consecutive request timeouts (no answer in between) that end the session (0 or 1: the
    /// first timeout ends it, as before issue 9).
    pub timeouts_in_a_row: u32,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(45),
            write_timeout: crate::p2p::base::DEFAULT_WRITE_TIMEOUT,
            timeouts_in_a_row: 3,
        }
    }
}

/// How many timed-out request ids we remember, so that their late answers are dropped quietly
/// rather than taken for unsolicited ones.
const REMEMBERED_TIMEOUTS: usize = 256;

/// Where an answer goes.
enum Waiter {
    Headers(Reply<Answer<Vec<Header>>>),
    Bodies(Reply<Answer<Vec<Body>>>),
    Receipts(Reply<Answer<Vec<Vec<Receipt>>>>),
    /// Our own head-resolution probe.
    HeadProbe,
}

impl Waiter {
    fn kind(&self) -> &'static str {
        match self {
            Waiter::Headers(_) | Waiter::HeadProbe => "BlockHeaders",
            Waiter::Bodies(_) => "BlockBodies",
            Waiter::Receipts(_) => "Receipts",
        }
    }

    fn fail(self, e: RequestError) {
        match self {
            Waiter::Headers(tx) => drop(tx.send(Err(e))),
            Waiter::Bodies(tx) => drop(tx.send(Err(e))),
            Waiter::Receipts(tx) => drop(tx.send(Err(e))),
            Waiter::HeadProbe => {}
        }
    }
}

struct Pending {
    waiter: Waiter,
    /// What the answer must fit.
    asked: Asked,
    deadline: Instant,
}

/// The request an answer is checked against.
enum Asked {
    /// Header numbers, steps and count ([`GetBlockHeaders::check_response`]).
    Headers(GetBlockHeaders),
    /// At most this many bodies or receipt lists.
    Blocks(usize),
}

/// Why the loop stopped: our choice (with a reason to send) or an error.
enum Stop {
    Local(DisconnectReason),
    Error(EthStreamError),
}

impl From<EthStreamError> for Stop {
    fn from(e: EthStreamError) -> Self {
        Stop::Error(e)
    }
}

/// Requests in flight and what became of the ones that timed out. Kept apart from the stream so
/// deadlines can fire while a write to the stream waits.
struct Requests {
    pending: HashMap<u64, Pending>,
    /// Timeouts since the last answer.
    timeouts_in_a_row: u32,
    /// Ids that timed out lately (oldest first): their answers are late, not unsolicited.
    timed_out: VecDeque<u64>,
}

impl Requests {
    fn next_deadline(&self) -> Option<Instant> {
        self.pending.values().map(|p| p.deadline).min()
    }

    /// Fails every request past its deadline with `Timeout` (only those requests); ends the
    /// session once `config.timeouts_in_a_row` have timed out without an answer in between.
    fn expire(&mut self, config: &SessionConfig) -> Result<(), Stop> {
        let now = Instant::now();
        let mut expired: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        expired.sort_unstable();
        let after = config.request_timeout;
        let mut last = None;
        for id in expired {
            if let Some(p) = self.pending.remove(&id) {
                let what = p.waiter.kind();
                p.waiter.fail(RequestError::Timeout { after });
                ::metrics::counter!(crate::metrics::SESSION_REQUEST_TIMEOUTS, "kind" => what)
                    .increment(1);
                if self.timed_out.len() == REMEMBERED_TIMEOUTS {
                    self.timed_out.pop_front();
                }
                self.timed_out.push_back(id);
                self.timeouts_in_a_row = self.timeouts_in_a_row.saturating_add(1);
                last = Some((id, what));
            }
        }
        match last {
            Some((request_id, what)) if self.timeouts_in_a_row >= config.timeouts_in_a_row => {
                Err(Stop::Error(EthStreamError::RequestTimeout {
                    what,
                    request_id,
                    after,
                }))
            }
            _ => Ok(()),
        }
    }

    /// Whether `id` timed out lately (and forgets it: one late answer per request).
    fn was_timed_out(&mut self, id: u64) -> bool {
        match self.timed_out.iter().position(|&t| t == id) {
            Some(i) => {
                self.timed_out.remove(i);
                true
            }
            None => false,
        }
    }
}

/// Drives one write to the peer while request deadlines keep firing; the write itself is bounded
/// by the stream's write timeout.
async fn while_writing<T>(
    write: impl Future<Output = Result<T, EthStreamError>>,
    requests: &mut Requests,
    config: &SessionConfig,
) -> Result<T, Stop> {
    tokio::pin!(write);
    loop {
        tokio::select! {
            r = &mut write => return r.map_err(Stop::Error),
            _ = sleep_until_opt(requests.next_deadline()) => requests.expire(config)?,
        }
    }
}

struct Session<S> {
    stream: EthStream<S>,
    provider: Arc<dyn HistoryProvider>,
    config: SessionConfig,
    commands: mpsc::Receiver<Command>,
    snapshot: watch::Sender<PeerSnapshot>,
    requests: Requests,
    next_id: u64,
}

/// Starts the session task for an established eth stream. The task ends when the peer
/// disconnects or misbehaves, misses `timeouts_in_a_row` request deadlines in a row, does not read
/// within the write timeout, goes silent, a handle asks, or every handle is dropped; its result
/// says which (`Ok` when we chose to end it).
pub fn spawn<S>(
    mut stream: EthStream<S>,
    provider: Arc<dyn HistoryProvider>,
    config: SessionConfig,
) -> (SessionHandle, JoinHandle<Result<(), EthStreamError>>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    stream.set_write_timeout(config.write_timeout);
    let status = *stream.their_status();
    let served = status.block_range();
    let snapshot = PeerSnapshot {
        id: stream.remote_id(),
        client_id: stream.client_id().to_owned(),
        version: stream.version(),
        status,
        // eth/69 Status carries the latest block number; eth/68 needs a header request.
        head: served.map(|r| PeerHead {
            number: r.latest,
            hash: r.latest_hash,
        }),
        served,
        ended: None,
    };
    let (snap_tx, snap_rx) = watch::channel(snapshot);
    let (cmd_tx, cmd_rx) = mpsc::channel(64);
    let session = Session {
        stream,
        provider,
        config,
        commands: cmd_rx,
        snapshot: snap_tx,
        requests: Requests {
            pending: HashMap::new(),
            timeouts_in_a_row: 0,
            timed_out: VecDeque::new(),
        },
        next_id: 0,
    };
    let task = tokio::spawn(session.run());
    (
        SessionHandle {
            commands: cmd_tx,
            snapshot: snap_rx,
        },
        task,
    )
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Session<S> {
    async fn run(mut self) -> Result<(), EthStreamError> {
        let peer = self.stream.remote_id();
        let client = self.stream.client_id().to_owned();
        let version = self.stream.version();
        tracing::debug!(%peer, %client, %version, "session started");
        let stop = match self.start().await {
            Ok(()) => self.main_loop().await,
            Err(stop) => stop,
        };
        ::metrics::counter!(crate::metrics::SESSION_ENDS, "reason" => stop_label(&stop))
            .increment(1);
        let (reason_text, to_send, result) = match stop {
            Stop::Local(reason) => {
                tracing::info!(%peer, %client, %reason, "session ended by us");
                (
                    format!("disconnected by us: {reason}"),
                    Some(reason),
                    Ok(()),
                )
            }
            Stop::Error(e) => {
                if e.is_protocol_breach() {
                    tracing::warn!(%peer, %client, error = %e, "session ended: peer broke the protocol");
                } else {
                    tracing::info!(%peer, %client, error = %e, "session ended");
                }
                (e.to_string(), e.disconnect_reason(), Err(e))
            }
        };
        for (_, p) in self.requests.pending.drain() {
            p.waiter.fail(RequestError::SessionClosed {
                reason: reason_text.clone(),
            });
        }
        if let Some(reason) = to_send {
            self.stream.disconnect(reason).await;
        }
        self.snapshot.send_modify(|s| s.ended = Some(reason_text));
        result
    }

    /// eth/68: ask for the Status best block to learn its number.
    async fn start(&mut self) -> Result<(), Stop> {
        if self.snapshot.borrow().head.is_none() {
            let best = self.stream.their_status().best_hash();
            let req = GetBlockHeaders {
                start: BlockHashOrNumber::Hash(best),
                limit: 1,
                skip: 0,
                reverse: false,
            };
            self.request(EthRequest::Headers(req), Waiter::HeadProbe)
                .await?;
        }
        Ok(())
    }

    async fn main_loop(&mut self) -> Stop {
        let mut ping = tokio::time::interval_at(
            Instant::now() + self.config.ping_interval,
            self.config.ping_interval,
        );
        loop {
            let next_deadline = self.requests.next_deadline();
            let step: Result<(), Stop> = tokio::select! {
                msg = self.stream.recv() => match msg {
                    Ok((m, size)) => self.on_message(m, size).await,
                    Err(e) => Err(Stop::Error(e)),
                },
                cmd = self.commands.recv() => match cmd {
                    Some(c) => self.on_command(c).await,
                    None => Err(Stop::Local(DisconnectReason::Requested)),
                },
                _ = sleep_until_opt(next_deadline) => self.requests.expire(&self.config),
                _ = ping.tick() => self.on_ping_tick().await,
            };
            if let Err(stop) = step {
                return stop;
            }
        }
    }
}

/// The `reason` label of [`crate::metrics::SESSION_ENDS`].
fn stop_label(stop: &Stop) -> &'static str {
    match stop {
        Stop::Local(_) => "local",
        Stop::Error(e) => e.label(),
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// An outgoing request before it gets its id.
enum EthRequest {
    Headers(GetBlockHeaders),
    Bodies(Vec<alloy_primitives::B256>),
    Receipts(Vec<alloy_primitives::B256>),
}

fn header_size(h: &Header) -> usize {
    alloy_rlp::Encodable::length(h)
}

fn body_size(b: &Body) -> usize {
    let mut buf = Vec::new();
    crate::primitives::encode_body(b, &mut buf);
    buf.len()
}

fn receipts_size(rs: &[Receipt]) -> usize {
    rs.iter().map(|r| r.eth68_length()).sum()
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Session<S> {
    async fn request(&mut self, req: EthRequest, waiter: Waiter) -> Result<(), Stop> {
        let request_id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let (msg, asked) = match req {
            EthRequest::Headers(r) => (
                EthMessage::GetBlockHeaders(RequestPair::new(request_id, r)),
                Asked::Headers(r),
            ),
            EthRequest::Bodies(h) => {
                let n = h.len();
                (
                    EthMessage::GetBlockBodies(RequestPair::new(request_id, h)),
                    Asked::Blocks(n),
                )
            }
            EthRequest::Receipts(h) => {
                let n = h.len();
                (
                    EthMessage::GetReceipts(RequestPair::new(request_id, h)),
                    Asked::Blocks(n),
                )
            }
        };
        self.send(&msg).await?;
        self.requests.pending.insert(
            request_id,
            Pending {
                waiter,
                asked,
                deadline: Instant::now() + self.config.request_timeout,
            },
        );
        Ok(())
    }

    async fn on_command(&mut self, cmd: Command) -> Result<(), Stop> {
        match cmd {
            Command::Headers(r, tx) => {
                self.request(EthRequest::Headers(r), Waiter::Headers(tx))
                    .await
            }
            Command::Bodies(h, tx) => {
                if h.is_empty() {
                    let _ = tx.send(Ok(Answer::none()));
                    return Ok(());
                }
                self.request(EthRequest::Bodies(h), Waiter::Bodies(tx))
                    .await
            }
            Command::Receipts(h, tx) => {
                if h.is_empty() {
                    let _ = tx.send(Ok(Answer::none()));
                    return Ok(());
                }
                self.request(EthRequest::Receipts(h), Waiter::Receipts(tx))
                    .await
            }
            Command::Disconnect(reason) => Err(Stop::Local(reason)),
            Command::ServedRange(range) => {
                if self.stream.version() >= EthVersion::Eth69 {
                    self.send(&EthMessage::BlockRangeUpdate(range)).await?;
                }
                Ok(())
            }
        }
    }

    /// Sends one message; request deadlines keep firing while the peer is slow to read.
    async fn send(&mut self, msg: &EthMessage) -> Result<WireSize, Stop> {
        while_writing(self.stream.send(msg), &mut self.requests, &self.config).await
    }

    async fn on_ping_tick(&mut self) -> Result<(), Stop> {
        let silent = self.stream.last_activity().elapsed();
        if silent > self.config.idle_timeout {
            return Err(Stop::Error(EthStreamError::Idle { after: silent }));
        }
        while_writing(self.stream.ping(), &mut self.requests, &self.config).await
    }

    /// Takes the pending request `id` if the answer is of the right kind and fits the request
    /// (item count; for headers also start, step and direction).
    fn take_pending(
        &mut self,
        id: u64,
        got: &'static str,
        headers: Option<&[Header]>,
        items: usize,
    ) -> Result<Option<Waiter>, Stop> {
        let Some(p) = self.requests.pending.get(&id) else {
            if self.requests.was_timed_out(id) {
                // Late: we gave up on it already (the caller has its Timeout). Honest but slow.
                tracing::debug!(peer = %self.stream.remote_id(), request_id = id, got, "dropping late response");
                return Ok(None);
            }
            // An id we never sent, or one already answered: an honest peer sends neither, and
            // each costs us a full decode for nothing.
            return Err(Stop::Error(EthStreamError::UnsolicitedResponse {
                request_id: id,
                got,
            }));
        };
        let expected = p.waiter.kind();
        if expected != got {
            return Err(Stop::Error(EthStreamError::MismatchedResponse {
                request_id: id,
                expected,
                got,
            }));
        }
        let fits = match (&p.asked, headers) {
            (Asked::Headers(req), Some(h)) => req.check_response(h),
            (Asked::Blocks(n), _) => check_response_count(got, *n, items),
            (Asked::Headers(_), None) => Ok(()),
        };
        if let Err(source) = fits {
            return Err(Stop::Error(EthStreamError::BadResponse {
                request_id: id,
                source,
            }));
        }
        self.requests.timeouts_in_a_row = 0;
        Ok(self.requests.pending.remove(&id).map(|p| p.waiter))
    }

    async fn on_message(&mut self, msg: EthMessage, size: WireSize) -> Result<(), Stop> {
        match msg {
            EthMessage::BlockHeaders(r) => {
                match self.take_pending(
                    r.request_id,
                    "BlockHeaders",
                    Some(&r.message),
                    r.message.len(),
                )? {
                    Some(Waiter::Headers(tx)) => drop(tx.send(Ok(Answer {
                        items: r.message,
                        size,
                    }))),
                    Some(Waiter::HeadProbe) => self.on_head_probe(r.message),
                    _ => {}
                }
            }
            EthMessage::BlockBodies(r) => {
                if let Some(Waiter::Bodies(tx)) =
                    self.take_pending(r.request_id, "BlockBodies", None, r.message.len())?
                {
                    let _ = tx.send(Ok(Answer {
                        items: r.message,
                        size,
                    }));
                }
            }
            EthMessage::Receipts(r) => {
                if let Some(Waiter::Receipts(tx)) =
                    self.take_pending(r.request_id, "Receipts", None, r.message.len())?
                {
                    let _ = tx.send(Ok(Answer {
                        items: r.message,
                        size,
                    }));
                }
            }
            EthMessage::GetBlockHeaders(r) => {
                let provider = self.provider.clone();
                let req = r.message;
                let headers = blocking(move || provider.headers(&req)).await;
                let mut headers = cap_by_size(headers, header_size);
                headers.truncate(req.served_limit());
                let size = self
                    .send(&EthMessage::BlockHeaders(r.answer(headers)))
                    .await?;
                self.provider.sent("BlockHeaders", size);
            }
            EthMessage::GetBlockBodies(r) => {
                let provider = self.provider.clone();
                let hashes = r.message.clone();
                let mut bodies =
                    cap_by_size(blocking(move || provider.bodies(&hashes)).await, body_size);
                bodies.truncate(r.message.len());
                let size = self
                    .send(&EthMessage::BlockBodies(r.answer(bodies)))
                    .await?;
                self.provider.sent("BlockBodies", size);
            }
            EthMessage::GetReceipts(r) => {
                let provider = self.provider.clone();
                let hashes = r.message.clone();
                let mut receipts =
                    cap_by_size(blocking(move || provider.receipts(&hashes)).await, |r| {
                        receipts_size(r)
                    });
                receipts.truncate(r.message.len());
                let size = self.send(&EthMessage::Receipts(r.answer(receipts))).await?;
                self.provider.sent("Receipts", size);
            }
            EthMessage::GetPooledTransactions(r) => {
                // No pool: an empty answer is valid and keeps the peer from timing us out.
                self.send(&EthMessage::PooledTransactions(r.answer(Vec::new())))
                    .await?;
            }
            EthMessage::BlockRangeUpdate(range) => {
                self.snapshot.send_modify(|s| {
                    s.served = Some(range);
                    s.head = Some(PeerHead {
                        number: range.latest,
                        hash: range.latest_hash,
                    });
                });
            }
            EthMessage::PooledTransactions(_) | EthMessage::Gossip(_) => {
                // Gossip we do not act on: dropped without answer or penalty.
            }
            EthMessage::Status(_) => {
                return Err(Stop::Error(EthStreamError::StatusAfterHandshake));
            }
        }
        Ok(())
    }

    fn on_head_probe(&mut self, headers: Vec<Header>) {
        let best = self.stream.their_status().best_hash();
        match headers.first() {
            Some(h) if h.hash_slow() == best => {
                let head = PeerHead {
                    number: BlockNumber(h.number),
                    hash: best,
                };
                self.snapshot.send_modify(|s| {
                    // A BlockRangeUpdate may have told us something newer meanwhile.
                    if s.head.is_none_or(|old| old.number < head.number) {
                        s.head = Some(head);
                    }
                });
            }
            Some(_) => {
                tracing::debug!(peer = %self.stream.remote_id(), "peer answered its head probe with another header");
            }
            None => {
                tracing::debug!(peer = %self.stream.remote_id(), "peer does not serve its own best block");
            }
        }
    }
}

/// Runs a provider call on the blocking pool (it may read from disk).
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Vec<T> + Send + 'static) -> Vec<T> {
    // A panicking provider is a bug on our side; answer empty rather than take the session down.
    tokio::task::spawn_blocking(f).await.unwrap_or_default()
}
