//! Testnet peers: our own RLPx/eth responders (the real `session::accept` + `session::spawn`)
//! serving a [`TestnetChain`] through a [`HistoryProvider`] whose behaviour is set by
//! [`PeerKnobs`]: latency, bandwidth, partial and empty answers, wrong receipts, a fake chain,
//! stalls, disconnects mid-request, a moving head, a switch to a fork. Counts the requests it
//! served, by kind, and the body and receipt requests per block number asked for. A [`Control`]
//! shared by every peer of a testnet lets a test cap the head and switch every peer to another
//! chain at the same moment (a reorg all peers agree on).
//!
//! Everything a knob does happens inside the provider (which the session runs on the blocking
//! pool), so the session code needs no test hooks. A stall or a disconnect ends when the peer
//! stops, so no blocking thread outlives a test.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy_primitives::B256;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::chain::TestnetChain;
use crate::p2p::chain::{ChainSpec, ForkHead};
use crate::p2p::enode::Enode;
use crate::p2p::eth::{BlockHashOrNumber, BlockRange, GetBlockHeaders};
use crate::p2p::node_key::NodeKey;
use crate::p2p::session::{
    self, EthStreamError, HistoryProvider, PeerConfig, SessionConfig, SessionHandle, StatusInputs,
    WireSize, cap_by_size,
};
use crate::primitives::{BlockNumber, Body, Header, Receipt};

/// How one testnet peer behaves. The default is an honest, fast peer serving the whole chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerKnobs {
    /// Added before every answer.
    pub latency: Duration,
    /// Answer bytes per second (`None`: unlimited); the answer waits `size / bandwidth`.
    pub bandwidth: Option<u64>,
    /// At most this many items per answer (a prefix of what was asked).
    pub max_items: Option<usize>,
    /// At most this many bodies or receipt lists per answer (headers unaffected).
    pub max_blocks: Option<usize>,
    /// Bodies and receipts below this block are gone (history expiry): answered empty, and the
    /// Status announces it as `earliest`. `Some(u64::MAX)` answers every body/receipt request empty.
    pub expired_below: Option<u64>,
    /// Receipts are altered (first receipt's cumulative gas + 1), so they fail `receiptsRoot`.
    pub wrong_receipts: bool,
    /// Serve the testnet's fake chain (same genesis, self-consistent, diverging at block 1).
    pub fake_chain: bool,
    /// Never answer a request (until the peer stops, at most ten minutes).
    pub stall: bool,
    /// Every n-th request, drop the connection (no Disconnect) instead of answering.
    pub disconnect_every: Option<u64>,
    /// Announce and serve only up to this block at first (default: the chain's head).
    pub head_start: Option<u64>,
    /// Move the head up one block every this often (up to the chain's head).
    pub head_advance_every: Option<Duration>,
    /// After this long, serve the testnet's fork instead of the main chain.
    pub fork_switch_after: Option<Duration>,
}

/// A knob name or value that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("knob `{name}={value}`: {problem}")]
pub struct KnobError {
    /// The knob.
    pub name: String,
    /// The value given.
    pub value: String,
    /// What is wrong.
    pub problem: String,
}

fn parse_bool(v: &str) -> Result<bool, String> {
    match v {
        "" | "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

fn parse_u64(v: &str) -> Result<u64, String> {
    v.parse().map_err(|e| format!("not a number: {e}"))
}

fn parse_ms(v: &str) -> Result<Duration, String> {
    parse_u64(v).map(Duration::from_millis)
}

impl PeerKnobs {
    /// Knob names accepted by [`PeerKnobs::set`] (durations in milliseconds).
    pub const NAMES: &[&str] = &[
        "latency-ms",
        "bandwidth",
        "max-items",
        "max-blocks",
        "expired-below",
        "wrong-receipts",
        "fake-chain",
        "stall",
        "disconnect-every",
        "head-start",
        "head-advance-ms",
        "fork-switch-ms",
    ];

    /// Sets one knob from its name and textual value (as given on the command line).
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), KnobError> {
        let result = match name {
            "latency-ms" => parse_ms(value).map(|d| self.latency = d),
            "bandwidth" => parse_u64(value).map(|b| self.bandwidth = Some(b.max(1))),
            "max-items" => parse_u64(value).map(|n| self.max_items = Some(n as usize)),
            "max-blocks" => parse_u64(value).map(|n| self.max_blocks = Some(n as usize)),
            "expired-below" => parse_u64(value).map(|n| self.expired_below = Some(n)),
            "wrong-receipts" => parse_bool(value).map(|b| self.wrong_receipts = b),
            "fake-chain" => parse_bool(value).map(|b| self.fake_chain = b),
            "stall" => parse_bool(value).map(|b| self.stall = b),
            "disconnect-every" => parse_u64(value).map(|n| self.disconnect_every = Some(n.max(1))),
            "head-start" => parse_u64(value).map(|n| self.head_start = Some(n)),
            "head-advance-ms" => parse_ms(value).map(|d| self.head_advance_every = Some(d)),
            "fork-switch-ms" => parse_ms(value).map(|d| self.fork_switch_after = Some(d)),
            _ => Err(format!("unknown knob; known: {}", Self::NAMES.join(", "))),
        };
        result.map_err(|problem| KnobError {
            name: name.to_owned(),
            value: value.to_owned(),
            problem,
        })
    }
}

/// Requests a peer received, by kind (counted when they arrive, answered or not).
#[derive(Debug, Default)]
pub struct RequestCounts {
    headers: AtomicU64,
    bodies: AtomicU64,
    receipts: AtomicU64,
    /// Bodies and receipt lists actually served (items, not requests).
    blocks_served: AtomicU64,
    /// Answers sent, as the session measured them: body and receipt answers, header answers.
    block_bytes_sent: AtomicU64,
    block_frame_bytes_sent: AtomicU64,
    header_bytes_sent: AtomicU64,
    header_frame_bytes_sent: AtomicU64,
    /// Per block number: how many body and receipt requests named it (served or not), so a test
    /// can prove a block was never asked for again.
    asked: Mutex<BTreeMap<u64, u64>>,
}

/// A copy of [`RequestCounts`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CountsSnapshot {
    /// `GetBlockHeaders` received.
    pub headers: u64,
    /// `GetBlockBodies` received.
    pub bodies: u64,
    /// `GetReceipts` received.
    pub receipts: u64,
    /// Bodies plus receipt lists served.
    pub blocks_served: u64,
    /// Bytes of the `BlockBodies` and `Receipts` messages sent (RLP before snappy), as the
    /// session measured them when sending.
    pub block_bytes_sent: u64,
    /// The same messages' RLPx frame data (message id plus the snappy form).
    pub block_frame_bytes_sent: u64,
    /// Bytes of the `BlockHeaders` messages sent (RLP before snappy).
    pub header_bytes_sent: u64,
    /// Their RLPx frame data.
    pub header_frame_bytes_sent: u64,
}

impl CountsSnapshot {
    /// All requests.
    pub fn total(&self) -> u64 {
        self.headers + self.bodies + self.receipts
    }
}

impl RequestCounts {
    /// The counts now.
    pub fn snapshot(&self) -> CountsSnapshot {
        CountsSnapshot {
            headers: self.headers.load(Ordering::Relaxed),
            bodies: self.bodies.load(Ordering::Relaxed),
            receipts: self.receipts.load(Ordering::Relaxed),
            blocks_served: self.blocks_served.load(Ordering::Relaxed),
            block_bytes_sent: self.block_bytes_sent.load(Ordering::Relaxed),
            block_frame_bytes_sent: self.block_frame_bytes_sent.load(Ordering::Relaxed),
            header_bytes_sent: self.header_bytes_sent.load(Ordering::Relaxed),
            header_frame_bytes_sent: self.header_frame_bytes_sent.load(Ordering::Relaxed),
        }
    }

    /// Per block number, the body and receipt requests that named it so far.
    pub fn asked(&self) -> BTreeMap<u64, u64> {
        self.asked.lock().expect("asked lock").clone()
    }

    fn record_asked(&self, numbers: impl Iterator<Item = u64>) {
        let mut asked = self.asked.lock().expect("asked lock");
        for n in numbers {
            *asked.entry(n).or_default() += 1;
        }
    }
}

/// The chains a peer may serve: the honest one, its fork, the fake one, and the reorg chain of
/// [`Control`].
#[derive(Debug, Clone)]
pub struct Chains {
    /// The testnet's chain.
    pub main: Arc<TestnetChain>,
    /// A fork of it (for `fork_switch_after`).
    pub fork: Option<Arc<TestnetChain>>,
    /// A self-consistent fake chain on the same genesis (for `fake_chain`).
    pub fake: Option<Arc<TestnetChain>>,
    /// Chains [`Control::switch_to`] can move every peer to (index 1 is `reorgs[0]`).
    pub reorgs: Vec<Arc<TestnetChain>>,
    /// The switches every peer of the testnet reads.
    pub control: Arc<Control>,
}

/// Testnet-wide switches, read by every peer on every answer: a test flips them while histd runs,
/// so all peers move together (a reorg that every network agrees on, at a chosen moment).
#[derive(Debug)]
pub struct Control {
    /// Peers serve at most up to this block (`u64::MAX`: their knobs alone decide).
    head_cap: AtomicU64,
    /// 0: the chain the knobs say; `i`: `Chains::reorgs[i - 1]`, whatever the knobs say.
    chain: AtomicUsize,
}

impl Default for Control {
    fn default() -> Self {
        Self {
            head_cap: AtomicU64::new(u64::MAX),
            chain: AtomicUsize::new(0),
        }
    }
}

impl Control {
    /// Every peer serves at most up to `n` from now on.
    pub fn cap_head(&self, n: u64) {
        self.head_cap.store(n, Ordering::SeqCst);
    }

    /// Every peer serves reorg chain `i` (1-based; 0: back to what the knobs say) from now on.
    pub fn switch_to(&self, i: usize) {
        self.chain.store(i, Ordering::SeqCst);
    }
}

type Sessions = Arc<Mutex<Vec<(SessionHandle, JoinHandle<Result<(), EthStreamError>>)>>>;

/// The knob-driven provider one peer serves.
struct KnobbedHistory {
    chains: Chains,
    knobs: PeerKnobs,
    started: Instant,
    counts: Arc<RequestCounts>,
    sessions: Sessions,
    stopped: Arc<AtomicBool>,
    requests: AtomicU64,
}

impl KnobbedHistory {
    fn chain(&self) -> &TestnetChain {
        let switched = self.chains.control.chain.load(Ordering::SeqCst);
        if let Some(reorg) = switched
            .checked_sub(1)
            .and_then(|i| self.chains.reorgs.get(i))
        {
            return reorg;
        }
        if self.knobs.fake_chain
            && let Some(fake) = &self.chains.fake
        {
            return fake;
        }
        if let (Some(after), Some(fork)) = (self.knobs.fork_switch_after, &self.chains.fork)
            && self.started.elapsed() >= after
        {
            return fork;
        }
        &self.chains.main
    }

    /// The highest block served now.
    fn head(&self) -> u64 {
        let chain = self.chain();
        let start = self
            .knobs
            .head_start
            .unwrap_or(chain.head())
            .min(chain.head());
        let advanced = match self.knobs.head_advance_every {
            Some(every) if !every.is_zero() => {
                (self.started.elapsed().as_millis() / every.as_millis()) as u64
            }
            _ => 0,
        };
        start
            .saturating_add(advanced)
            .min(chain.head())
            .min(self.chains.control.head_cap.load(Ordering::SeqCst))
    }

    /// What the peer announces now.
    fn served(&self) -> BlockRange {
        let head = self.head();
        BlockRange {
            earliest: BlockNumber(self.knobs.expired_below.unwrap_or(0).min(head)),
            latest: BlockNumber(head),
            latest_hash: self.chain().hash(head).unwrap_or_default(),
        }
    }

    /// Sleeps `d` in slices, returning early once the peer stops.
    fn sleep(&self, d: Duration) {
        let until = Instant::now() + d;
        while !self.stopped.load(Ordering::Relaxed) {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
    }

    /// Common start of every answer: count it, then stall, disconnect or wait as the knobs say.
    /// `false` means "do not answer" (the session is being cut off or the peer stopped).
    fn before_answer(&self, counter: &AtomicU64) -> bool {
        counter.fetch_add(1, Ordering::Relaxed);
        let n = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        if self.knobs.stall {
            // Stalls until the peer stops (or ten minutes, so a long run with many reconnects
            // does not pile up blocking threads); the asker's timeout fires long before.
            self.sleep(Duration::from_secs(600));
            return false;
        }
        if let Some(every) = self.knobs.disconnect_every
            && n.is_multiple_of(every)
        {
            // Cut every session of this peer off mid-request: the socket closes without a
            // Disconnect, like a crashed or unplugged node.
            let cut: Vec<_> = self
                .sessions
                .lock()
                .expect("sessions lock")
                .drain(..)
                .collect();
            for (_, task) in &cut {
                task.abort();
            }
            // Never answer: hold the answer back until the aborted sessions are gone, so none
            // of them sends anything, not even an empty answer.
            let until = Instant::now() + Duration::from_secs(10);
            while !cut.iter().all(|(_, t)| t.is_finished())
                && Instant::now() < until
                && !self.stopped.load(Ordering::Relaxed)
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            return false;
        }
        self.sleep(self.knobs.latency);
        true
    }

    fn after_answer(&self, bytes: usize) {
        if let Some(bw) = self.knobs.bandwidth {
            self.sleep(Duration::from_secs_f64(bytes as f64 / bw as f64));
        }
    }

    /// Counts a body or receipt request per block it names (hashes of any chain this peer knows;
    /// unknown hashes name no block).
    fn record_asked(&self, hashes: &[B256]) {
        let chains = [
            Some(&self.chains.main),
            self.chains.fork.as_ref(),
            self.chains.fake.as_ref(),
        ];
        self.counts.record_asked(
            hashes
                .iter()
                .filter_map(|h| chains.iter().flatten().find_map(|c| c.number_of(h))),
        );
    }

    fn limit<T>(&self, mut items: Vec<T>) -> Vec<T> {
        if let Some(max) = self.knobs.max_items {
            items.truncate(max);
        }
        items
    }

    /// Block numbers of `hashes` while they are in the served range, stopping at the first one
    /// not served.
    fn served_numbers(&self, hashes: &[B256]) -> Vec<u64> {
        let chain = self.chain();
        let head = self.head();
        let earliest = self.knobs.expired_below.unwrap_or(0);
        let numbers = hashes
            .iter()
            .map_while(|h| chain.number_of(h).filter(|n| *n <= head && *n >= earliest))
            .take(self.knobs.max_blocks.unwrap_or(usize::MAX))
            .collect();
        self.limit(numbers)
    }
}

impl HistoryProvider for KnobbedHistory {
    fn sent(&self, msg: &'static str, size: WireSize) {
        let c = &self.counts;
        let (rlp, frame) = match msg {
            "BlockHeaders" => (&c.header_bytes_sent, &c.header_frame_bytes_sent),
            _ => (&c.block_bytes_sent, &c.block_frame_bytes_sent),
        };
        rlp.fetch_add(size.rlp, Ordering::Relaxed);
        frame.fetch_add(size.frame, Ordering::Relaxed);
    }

    fn headers(&self, req: &GetBlockHeaders) -> Vec<Header> {
        if !self.before_answer(&self.counts.headers) {
            return Vec::new();
        }
        let chain = self.chain();
        let head = self.head();
        let start = match req.start {
            BlockHashOrNumber::Hash(h) => match chain.number_of(&h) {
                Some(n) => n,
                None => return Vec::new(),
            },
            BlockHashOrNumber::Number(n) => n.get(),
        };
        let headers: Vec<Header> = req
            .numbers_from(BlockNumber(start))
            .take(req.served_limit())
            .map_while(|n| {
                (n.get() <= head)
                    .then(|| chain.header(n.get()).cloned())
                    .flatten()
            })
            .collect();
        let headers = self.limit(headers);
        self.after_answer(headers.iter().map(alloy_rlp::Encodable::length).sum());
        headers
    }

    fn bodies(&self, hashes: &[B256]) -> Vec<Body> {
        self.record_asked(hashes);
        if !self.before_answer(&self.counts.bodies) {
            return Vec::new();
        }
        let chain = self.chain();
        let bodies: Vec<(Body, usize)> = self
            .served_numbers(hashes)
            .into_iter()
            .filter_map(|n| chain.body(n))
            .map(|b| {
                let mut buf = Vec::new();
                crate::primitives::encode_body(&b, &mut buf);
                (b, buf.len())
            })
            .collect();
        // Capped here as the session would, so the count is what the asker really gets.
        let bodies = cap_by_size(bodies, |(_, size)| *size);
        self.counts
            .blocks_served
            .fetch_add(bodies.len() as u64, Ordering::Relaxed);
        let bytes = bodies.iter().map(|(_, size)| size).sum();
        let bodies: Vec<Body> = bodies.into_iter().map(|(b, _)| b).collect();
        self.after_answer(bytes);
        bodies
    }

    fn receipts(&self, hashes: &[B256]) -> Vec<Vec<Receipt>> {
        self.record_asked(hashes);
        if !self.before_answer(&self.counts.receipts) {
            return Vec::new();
        }
        let chain = self.chain();
        let mut lists: Vec<Vec<Receipt>> = self
            .served_numbers(hashes)
            .into_iter()
            .filter_map(|n| chain.receipts(n))
            .collect();
        if self.knobs.wrong_receipts {
            for r in lists.iter_mut().filter_map(|l| l.first_mut()) {
                r.cumulative_gas_used += 1;
            }
        }
        let lists = cap_by_size(lists, |l| l.iter().map(Receipt::eth68_length).sum());
        self.counts
            .blocks_served
            .fetch_add(lists.len() as u64, Ordering::Relaxed);
        let bytes = lists.iter().flatten().map(Receipt::eth68_length).sum();
        self.after_answer(bytes);
        lists
    }
}

/// Session timers of testnet peers: generous, the asker decides when to give up.
fn peer_session_config() -> SessionConfig {
    SessionConfig {
        request_timeout: Duration::from_secs(30),
        ..SessionConfig::default()
    }
}

/// One running testnet peer: a listener on its own address accepting real RLPx sessions.
pub struct TestnetPeer {
    /// Its index in the testnet.
    pub index: usize,
    /// How to dial it.
    pub enode: Enode,
    /// Its knobs.
    pub knobs: PeerKnobs,
    counts: Arc<RequestCounts>,
    cancel: CancellationToken,
    stopped: Arc<AtomicBool>,
    sessions: Sessions,
}

impl std::fmt::Debug for TestnetPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestnetPeer")
            .field("index", &self.index)
            .field("enode", &self.enode.to_string())
            .field("knobs", &self.knobs)
            .finish()
    }
}

impl TestnetPeer {
    /// Starts peer `index` listening on `addr`, serving `chains` on `spec` as `knobs` say.
    pub async fn start(
        index: usize,
        addr: SocketAddr,
        spec: ChainSpec,
        chains: Chains,
        knobs: PeerKnobs,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let key = NodeKey::random();
        let enode = Enode {
            id: key.id(),
            addr: local,
            udp_port: local.port(),
        };
        let counts = Arc::new(RequestCounts::default());
        let cancel = CancellationToken::new();
        let stopped = Arc::new(AtomicBool::new(false));
        let sessions: Sessions = Arc::new(Mutex::new(Vec::new()));
        let provider = Arc::new(KnobbedHistory {
            chains,
            knobs: knobs.clone(),
            started: Instant::now(),
            counts: counts.clone(),
            sessions: sessions.clone(),
            stopped: stopped.clone(),
            requests: AtomicU64::new(0),
        });
        tokio::spawn(accept_loop(
            listener,
            key,
            spec.clone(),
            provider.clone(),
            sessions.clone(),
            cancel.clone(),
        ));
        // Always: the knobs or the testnet's `Control` may move the head at any time.
        tokio::spawn(announce_loop(provider, sessions.clone(), cancel.clone()));
        Ok(Self {
            index,
            enode,
            knobs,
            counts,
            cancel,
            stopped,
            sessions,
        })
    }

    /// Requests received so far, by kind.
    pub fn counts(&self) -> CountsSnapshot {
        self.counts.snapshot()
    }

    /// Per block number, the body and receipt requests that named it so far.
    pub fn asked(&self) -> BTreeMap<u64, u64> {
        self.counts.asked()
    }

    /// The served range each live session's remote last announced (eth/69 Status, then
    /// `BlockRangeUpdate`).
    pub fn remote_served(&self) -> Vec<Option<BlockRange>> {
        self.sessions
            .lock()
            .expect("sessions lock")
            .iter()
            .filter(|(_, t)| !t.is_finished())
            .map(|(h, _)| h.snapshot().served)
            .collect()
    }

    /// Sessions currently running.
    pub fn live_sessions(&self) -> usize {
        self.sessions
            .lock()
            .expect("sessions lock")
            .iter()
            .filter(|(_, t)| !t.is_finished())
            .count()
    }

    /// Stops accepting, cuts every session off and ends any stall.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
        self.cancel.cancel();
        for (_, task) in self.sessions.lock().expect("sessions lock").drain(..) {
            task.abort();
        }
    }
}

impl Drop for TestnetPeer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Status of a node serving `served` on `spec`.
fn status(spec: &ChainSpec, chain: &TestnetChain, served: BlockRange) -> StatusInputs {
    let timestamp = chain.header(served.latest.get()).map_or(0, |h| h.timestamp);
    StatusInputs {
        filter: spec.fork_filter(ForkHead::new(served.latest, timestamp)),
        served,
        spec: spec.clone(),
    }
}

async fn accept_loop(
    listener: TcpListener,
    key: NodeKey,
    spec: ChainSpec,
    provider: Arc<KnobbedHistory>,
    sessions: Sessions,
    cancel: CancellationToken,
) {
    loop {
        let tcp = tokio::select! {
            _ = cancel.cancelled() => return,
            r = listener.accept() => match r {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    tracing::debug!(error = %e, "testnet peer: accept failed");
                    continue;
                }
            },
        };
        // The Status is built per connection: the head may have moved since the last one.
        let mut config = PeerConfig::new(
            key.clone(),
            status(&spec, provider.chain(), provider.served()),
        );
        config.client_id = "histd-testnet".into();
        config.listen_port = listener.local_addr().map_or(0, |a| a.port());
        let (provider, sessions) = (provider.clone(), sessions.clone());
        tokio::spawn(async move {
            match session::accept(tcp, &config).await {
                Ok(eth) => {
                    let pair = session::spawn(eth, provider, peer_session_config());
                    sessions.lock().expect("sessions lock").push(pair);
                }
                Err(e) => tracing::debug!(error = %e, "testnet peer: handshake failed"),
            }
        });
    }
}

/// Tells connected peers when the served range moves (eth/69 `BlockRangeUpdate`).
async fn announce_loop(
    provider: Arc<KnobbedHistory>,
    sessions: Sessions,
    cancel: CancellationToken,
) {
    let mut last = provider.served();
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = provider.served();
        if now == last {
            continue;
        }
        last = now;
        let handles: Vec<SessionHandle> = sessions
            .lock()
            .expect("sessions lock")
            .iter()
            .filter(|(_, t)| !t.is_finished())
            .map(|(h, _)| h.clone())
            .collect();
        for h in handles {
            h.update_served(now).await;
        }
    }
}
