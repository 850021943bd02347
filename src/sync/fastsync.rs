//! The fast-sync run: anchor → header windows → bodies and receipts → verify and encode → WAL, until
//! the target is stored.
//!
//! Owns the loop that joins the stages: it plans with the [`Scheduler`], links headers with the
//! [`Linker`], fetches with [`fetch`] (peers chosen by the pool, sized by the
//! [`Sizer`]), verifies and encodes on blocking threads (as many batches at once as there are
//! cores), writes with `put_prepared` (one write at a time, any order), and keeps the bytes it
//! holds — answers being fetched, being verified, waiting for the writer — under a cap, whatever
//! the range: when the writer is slow the fetchers wait. Data failing verification is dropped, its
//! peer reported and the blocks asked of another peer. In SafeHead mode the target grows: a new
//! anchor for the new safe head, whose chain must link down to the previous anchor. It returns
//! [`Outcome::CaughtUp`] once the cursor passed the target with nothing queued or in flight, and
//! [`Outcome::Cancelled`] promptly on cancel (a storage commit in progress completes on its own:
//! commits are atomic, so nothing half-written remains). A target that is stored already (synced
//! before, or imported from era1) is its own anchor, with no peer asked. Blocks that no peer
//! serves (expired history) are not retried in silence: a WARN names them and the peers, then
//! the run keeps waiting. It never decides daemon phases.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use alloy_primitives::B256;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::anchor::{self, Anchor};
use super::fetch::{
    self, BlockQueue, ESCALATE_AFTER, Fetched, NoRequest, PendingBlock, Sizer, UnservedWatch, pick,
};
use super::headers::{LinkError, Linker, WindowRequest, check_window};
use super::process::{Processed, failure_kind, process};
use super::progress::Progress;
use super::scheduler::{Item, Scheduler};
use super::stats::SyncStats;
use crate::p2p::eth::{BlockHashOrNumber, GetBlockHeaders, limits::MAX_HEADERS};
use crate::p2p::pool::{Misbehaviour, PoolHandle, Span};
use crate::p2p::rlpx::PeerId;
use crate::p2p::session::Answer;
use crate::primitives::{BlockNumber, Body, Checkpoint, Header, Receipt};
use crate::storage::{PreparedBlock, PutOutcome, ReadError, StoreError, StoreHandle, WriteError};

/// What fast-sync must reach.
#[derive(Debug, Clone)]
pub enum Target {
    /// `start ..= end`, fixed.
    Range(BlockNumber),
    /// `start ..= safe head`, the safe head moving.
    SafeHead(watch::Receiver<BlockNumber>),
}

/// Bounds of one run.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes held at most: answers in flight (counted at their target size), being verified and
    /// waiting for the writer.
    pub max_bytes: u64,
    /// Headers planned, fetched or waiting for their data at most.
    pub headers_ahead: u64,
    /// Header requests in flight at most.
    pub header_requests: usize,
    /// Blocks per header window (≤ 1024).
    pub window: u64,
    /// Blocks per storage "missing" query.
    pub chunk: u64,
    /// Verification batches running at once.
    pub process_threads: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: 96 * 1024 * 1024,
            headers_ahead: 8192,
            header_requests: 4,
            window: MAX_HEADERS as u64,
            chunk: 1 << 20,
            process_threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }
}

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct FastSync {
    /// The chain's genesis hash (block 1's parent).
    pub genesis: B256,
    /// The store.
    pub store: StoreHandle,
    /// The peer pool.
    pub pool: PoolHandle,
    /// Lowest block wanted.
    pub start: BlockNumber,
    /// What to reach.
    pub target: Target,
    /// Trusted checkpoints (operator's first, then the chain spec's).
    pub checkpoints: Vec<Checkpoint>,
    /// Distinct networks that must agree on an anchor without a checkpoint.
    pub anchor_quorum: usize,
    /// Counters of the run (shared with the run report).
    pub stats: SyncStats,
    /// Memory and concurrency bounds.
    pub limits: Limits,
    /// Told the contiguous stored range as it grows (the Status we announce follows it).
    pub stored_range: Option<watch::Sender<Option<BlockNumber>>>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything up to `tip` is stored; nothing queued or in flight.
    CaughtUp { tip: BlockNumber },
    /// Stopped on request.
    Cancelled,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Reading storage failed.
    #[error(transparent)]
    Read(#[from] StoreError<ReadError>),
    /// Writing storage failed.
    #[error(transparent)]
    Write(#[from] StoreError<WriteError>),
    /// The anchored chain disagrees with itself, storage, the genesis or a checkpoint.
    #[error("the anchored chain is inconsistent: {0}")]
    Chain(String),
}

/// A header request's result.
struct HeaderAnswer {
    req: WindowRequest,
    peer: PeerId,
    answer: Result<Answer<Vec<Header>>, String>,
}

/// Blocks fetched and waiting for a verification thread, with their answer bytes.
struct Ready {
    peer: PeerId,
    blocks: Vec<(PendingBlock, Body, Vec<Receipt>)>,
    bytes: u64,
}

struct Run {
    p: FastSync,
    sched: Scheduler,
    linker: Linker,
    queue: BlockQueue,
    sizer: Sizer,
    /// Whether the blocks waiting find no peer (said at WARN, not retried in silence).
    unserved: UnservedWatch,
    names: HashMap<PeerId, String>,
    headers: JoinSet<HeaderAnswer>,
    fetches: JoinSet<Fetched>,
    ready: VecDeque<Ready>,
    processing: JoinSet<(PeerId, u64, Result<Processed, String>)>,
    to_write: Vec<PreparedBlock>,
    to_write_bytes: u64,
    writing: JoinSet<(u64, usize, Result<PutOutcome, StoreError<WriteError>>)>,
    /// Bytes of fetched data being verified or waiting for it, and prepared data not yet stored.
    held: u64,
    /// Blocks this run has to store (known so far).
    to_store: u64,
    last_anchor: Anchor,
}

impl FastSync {
    /// Runs until caught up, cancelled or failed.
    pub async fn run(self, cancel: CancellationToken) -> Result<Outcome, SyncError> {
        let top = match &self.target {
            Target::Range(end) => *end,
            Target::SafeHead(rx) => {
                let mut rx = rx.clone();
                let start = self.start;
                tokio::select! {
                    _ = cancel.cancelled() => return Ok(Outcome::Cancelled),
                    r = rx.wait_for(|h| *h >= start) => match r {
                        Ok(h) => *h,
                        Err(_) => return Ok(Outcome::Cancelled),
                    },
                }
            }
        };
        tracing::info!(start = %self.start, target = %top, "fast-sync: resolving the anchor");
        let anchor = match stored_anchor(&self.store, top).await? {
            Some(a) => a,
            None => {
                let resolved = anchor::resolve(
                    &self.pool,
                    top,
                    &self.checkpoints,
                    self.anchor_quorum,
                    &cancel,
                )
                .await;
                let Some(a) = resolved else {
                    return Ok(Outcome::Cancelled);
                };
                a
            }
        };
        tracing::info!(block = %anchor.number, hash = %anchor.hash, source = ?anchor.source, "fast-sync anchored");
        let below: Vec<(BlockNumber, B256)> = self
            .checkpoints
            .iter()
            .filter(|c| c.number < top)
            .map(|c| (c.number, c.hash))
            .collect();
        let mut sched = Scheduler::new(self.start, self.limits.window, self.limits.chunk);
        sched.add_job(self.start, top, anchor.hash, None);
        let to_store = count_missing(&self.store, self.start, top).await?;
        tracing::info!(start = %self.start, target = %top, to_store, "fast-sync: planned");
        let mut run = Run {
            linker: Linker::new(self.genesis, below),
            p: self,
            sched,
            queue: BlockQueue::default(),
            sizer: Sizer::default(),
            unserved: UnservedWatch::default(),
            names: HashMap::new(),
            headers: JoinSet::new(),
            fetches: JoinSet::new(),
            ready: VecDeque::new(),
            processing: JoinSet::new(),
            to_write: Vec::new(),
            to_write_bytes: 0,
            writing: JoinSet::new(),
            held: 0,
            to_store,
            last_anchor: anchor,
        };
        // Tasks still running are aborted with the sets when `run` drops; a storage commit
        // already started completes on its blocking thread (the store's close waits for it).
        run.drive(&cancel).await
    }
}

/// The anchor of `top` when it is stored already (imported from era1, or synced before): its
/// stored hash, so a range that is all stored needs no peer, and pre-merge history from era1 no
/// derivation down from the merge checkpoint.
async fn stored_anchor(store: &StoreHandle, top: BlockNumber) -> Result<Option<Anchor>, SyncError> {
    let hash = store
        .read("reading the stored anchor", move |s| s.block_hash(top))
        .await?;
    Ok(hash.map(|hash| Anchor {
        number: top,
        hash,
        source: anchor::AnchorSource::Stored,
    }))
}

/// Blocks of `lo ..= hi` not stored.
async fn count_missing(
    store: &StoreHandle,
    lo: BlockNumber,
    hi: BlockNumber,
) -> Result<u64, SyncError> {
    Ok(store
        .read("counting missing blocks", move |s| {
            let mut n = 0u64;
            for r in s.missing(lo, hi)? {
                let r = r?;
                n += r.start().blocks_through(*r.end());
            }
            Ok::<_, ReadError>(n)
        })
        .await?)
}

impl Run {
    fn name(&mut self, peer: PeerId) -> String {
        if let Some(n) = self.names.get(&peer) {
            return n.clone();
        }
        let short = alloy_primitives::hex::encode(&peer.as_slice()[..8]);
        let name = match self.p.pool.snapshot().peer(&peer) {
            Some(info) => format!("{short}@{}", info.ip),
            None => short,
        };
        self.names.insert(peer, name.clone());
        name
    }

    fn idle(&self) -> bool {
        self.sched.is_done()
            && self.linker.is_empty()
            && self.queue.is_empty()
            && self.headers.is_empty()
            && self.fetches.is_empty()
            && self.ready.is_empty()
            && self.processing.is_empty()
            && self.to_write.is_empty()
            && self.writing.is_empty()
    }

    async fn drive(&mut self, cancel: &CancellationToken) -> Result<Outcome, SyncError> {
        let mut progress = Progress::new();
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut growing: Option<tokio::task::JoinHandle<Option<Anchor>>> = None;
        let growth_cancel = cancel.child_token();
        loop {
            self.plan().await?;
            self.link()?;
            self.request_headers();
            self.dispatch_fetches();
            self.dispatch_processing();
            self.dispatch_write();

            if self.idle() && growing.is_none() {
                let tip = self.sched.target_end().unwrap_or(self.p.start);
                match &self.p.target {
                    Target::Range(_) => {
                        progress.finish();
                        tracing::info!(tip = %tip, stored = self.p.stats.blocks_stored(), "fast-sync caught up");
                        return Ok(Outcome::CaughtUp { tip });
                    }
                    Target::SafeHead(rx) => {
                        let safe = *rx.borrow();
                        if safe <= tip {
                            progress.finish();
                            tracing::info!(tip = %tip, safe_head = %safe, stored = self.p.stats.blocks_stored(), "fast-sync caught up with the safe head");
                            return Ok(Outcome::CaughtUp { tip });
                        }
                    }
                }
            }
            if growing.is_none()
                && let Target::SafeHead(rx) = &self.p.target
            {
                let safe = *rx.borrow();
                let tip = self.sched.target_end().unwrap_or(self.p.start);
                if safe > tip {
                    let (pool, checkpoints, quorum, token) = (
                        self.p.pool.clone(),
                        self.p.checkpoints.clone(),
                        self.p.anchor_quorum,
                        growth_cancel.clone(),
                    );
                    growing = Some(tokio::spawn(async move {
                        anchor::resolve(&pool, safe, &checkpoints, quorum, &token).await
                    }));
                }
            }

            tokio::select! {
                _ = cancel.cancelled() => {
                    progress.finish();
                    tracing::info!(stored = self.p.stats.blocks_stored(), "fast-sync stopped on request");
                    if let Some(g) = growing.take() { g.abort(); }
                    return Ok(Outcome::Cancelled);
                }
                Some(r) = self.headers.join_next() => {
                    if let Ok(a) = r { self.on_headers(a); }
                }
                Some(r) = self.fetches.join_next() => {
                    if let Ok(f) = r { self.on_fetched(f); }
                }
                Some(r) = self.processing.join_next() => {
                    if let Ok((peer, bytes, p)) = r { self.on_processed(peer, bytes, p)?; }
                }
                Some(r) = self.writing.join_next() => {
                    if let Ok((bytes, blocks, w)) = r { self.on_written(bytes, blocks, w).await?; }
                }
                g = async { growing.as_mut().expect("guarded").await }, if growing.is_some() => {
                    growing = None;
                    if let Ok(Some(anchor)) = g { self.grow(anchor).await?; }
                }
                _ = tick.tick() => {
                    let peers = self.p.pool.snapshot().usable;
                    let target = self.sched.target_end().map_or(0, BlockNumber::get);
                    if let Some(s) = progress.due(&self.p.stats, self.to_store, target, peers) {
                        progress.report(&s);
                    }
                    if let Some(waited) = self.unserved.due(Instant::now()) {
                        self.warn_unserved(waited);
                    }
                }
            }
        }
    }

    /// The safe head moved: a job from above the old top to the new anchor, linking down to it.
    async fn grow(&mut self, anchor: Anchor) -> Result<(), SyncError> {
        let old = self.last_anchor;
        if anchor.number <= old.number {
            return Ok(());
        }
        let lo = old.number.next();
        self.to_store += count_missing(&self.p.store, lo, anchor.number).await?;
        tracing::info!(from = %old.number, to = %anchor.number, hash = %anchor.hash, "fast-sync target grows with the safe head");
        self.sched
            .add_job(lo, anchor.number, anchor.hash, Some(old.hash));
        self.last_anchor = anchor;
        Ok(())
    }

    /// Pulls planned items into the linker while the headers held stay under the bound.
    async fn plan(&mut self) -> Result<(), SyncError> {
        while self.linker.headers_held() + (self.queue.len() as u64) < self.p.limits.headers_ahead {
            if let Some(item) = self.sched.next_item() {
                let stored = match item {
                    Item::Stored { top, bottom } => Some(
                        self.p
                            .store
                            .read("reading stored headers", move |s| {
                                let top_hash = s.block_hash(top)?;
                                let below = s.header(bottom)?.map(|h| h.parent_hash);
                                Ok::<_, ReadError>(top_hash.zip(below))
                            })
                            .await?
                            .ok_or_else(|| {
                                SyncError::Chain(format!(
                                    "blocks {bottom}..={top} are marked stored but their headers cannot be read"
                                ))
                            })?,
                    ),
                    _ => None,
                };
                self.linker.push(item, stored);
            } else if let Some((lo, hi)) = self.sched.needs_chunk() {
                let ranges = self
                    .p
                    .store
                    .read("finding missing blocks", move |s| {
                        s.missing(lo, hi)?.collect::<Result<Vec<_>, ReadError>>()
                    })
                    .await?;
                self.sched.feed(lo, hi, &ranges);
            } else {
                break;
            }
        }
        Ok(())
    }

    /// Releases linked headers into the block queue; penalises peers whose windows do not link.
    fn link(&mut self) -> Result<(), SyncError> {
        let mut out = Vec::new();
        loop {
            match self.linker.advance(&mut out) {
                Ok(()) => break,
                Err(LinkError::Peer { peer, error }) => {
                    let name = self.name(peer);
                    tracing::warn!(peer = %name, error = %error, "headers do not link to the anchored chain; peer penalised");
                    self.p.stats.record_bad_data(&name, "header_link");
                    self.p.pool.report(peer, Misbehaviour::BadData);
                }
                Err(LinkError::Fatal(why)) => return Err(SyncError::Chain(why)),
            }
        }
        for h in out {
            self.queue.push_new(h);
        }
        Ok(())
    }

    fn request_headers(&mut self) {
        let free = self
            .p
            .limits
            .header_requests
            .saturating_sub(self.headers.len());
        if free == 0 {
            return;
        }
        let reqs = self.linker.take_requests(free);
        let mut unplaced = false;
        for req in reqs {
            if unplaced {
                self.linker.unclaim(req.top);
                continue;
            }
            let span = Span::ending_at(req.top, req.count);
            let leases = self.p.pool.ranked_for_headers(span, 4);
            let lease = pick(leases, req.avoid);
            let Some(lease) = lease else {
                self.linker.unclaim(req.top);
                unplaced = true;
                continue;
            };
            let peer = lease.id();
            let limit = self.sizer.timeout(&peer);
            self.headers.spawn(async move {
                let ask = GetBlockHeaders {
                    start: BlockHashOrNumber::Number(req.top),
                    limit: req.count,
                    skip: 0,
                    reverse: true,
                };
                let answer = match tokio::time::timeout(limit, lease.get_headers_sized(ask)).await {
                    Ok(Ok(h)) => Ok(h),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => {
                        lease.report(Misbehaviour::Timeout);
                        Err(format!("no answer within {limit:?}"))
                    }
                };
                HeaderAnswer { req, peer, answer }
            });
        }
    }

    fn on_headers(&mut self, a: HeaderAnswer) {
        let name = self.name(a.peer);
        let (top, count) = (a.req.top, a.req.count);
        match a.answer {
            Ok(Answer {
                items: headers,
                size,
            }) => {
                self.p.stats.record_answer(&name, size);
                match check_window(top, count, headers) {
                    Ok(sealed) if sealed.is_empty() => self.linker.failed(top, a.peer),
                    Ok(sealed) => self.linker.fill(top, a.peer, sealed),
                    Err(e) => {
                        tracing::warn!(peer = %name, error = %e, "malformed header window; peer penalised");
                        self.p.stats.record_bad_data(&name, failure_kind(&e));
                        self.p.pool.report(a.peer, Misbehaviour::BadData);
                        self.linker.failed(top, a.peer);
                    }
                }
            }
            Err(why) => {
                tracing::debug!(peer = %name, %top, error = %why, "header request failed");
                self.p.stats.record_failed_request(&name);
                self.linker.failed(top, a.peer);
            }
        }
    }

    fn dispatch_fetches(&mut self) {
        let limits = self.p.limits;
        let (mut placed, mut unoffered) = (false, false);
        while !self.queue.is_empty() {
            let in_flight = (self.fetches.len() as u64 + 1) * fetch::TARGET_ANSWER_BYTES;
            if self.held + in_flight > limits.max_bytes {
                break;
            }
            let (lease, blocks, limit) = match fetch::next_request(
                &self.p.pool,
                &mut self.queue,
                &mut self.sizer,
                || None,
            ) {
                Ok(request) => request,
                Err(NoRequest::Unoffered) => {
                    unoffered = true;
                    break;
                }
                Err(NoRequest::Nothing) => break,
            };
            self.fetches.spawn(fetch::fetch(lease, blocks, limit));
            placed = true;
        }
        if placed || self.queue.is_empty() {
            self.unserved.moving();
        } else if unoffered && self.fetches.is_empty() {
            self.unserved.blocked(Instant::now());
        }
    }

    /// One WARN: which blocks wait, for how long, which peers there are and what they announce,
    /// and what the operator can do. Fast-sync keeps waiting (a peer may come that serves them).
    fn warn_unserved(&mut self, waited: Duration) {
        let Some((first, last)) = self.queue.bounds() else {
            return;
        };
        let snapshot = self.p.pool.snapshot();
        let peers: Vec<String> = snapshot
            .peers
            .iter()
            .filter(|p| p.usable)
            .map(|p| {
                let served = p.served.map_or_else(
                    || "no served range announced".to_string(),
                    |r| format!("serves {}..={}", r.earliest, r.latest),
                );
                format!("{} ({served})", self.name(p.id))
            })
            .collect();
        let peers = if peers.is_empty() {
            "none usable".to_string()
        } else {
            peers.join(", ")
        };
        tracing::warn!(
            first,
            last,
            waiting = self.queue.len(),
            waited_secs = waited.as_secs(),
            peers = %peers,
            "no peer serves blocks {first}..={last} (bodies and receipts) for {}s; peers: {peers}. \
             Fast-sync keeps waiting. Expired history (mainnet before the merge, block 15537394) \
             can be imported from era1 files: `histd import era1 PATH` on the stopped node, or \
             `sync.era1_dir` (--era1-dir) at startup; or add a peer that serves it",
            waited.as_secs()
        );
    }

    fn on_fetched(&mut self, f: Fetched) {
        let name = self.name(f.peer);
        let got = f.bodies.len().min(f.receipts.len());
        let asked = f.asked.len();
        if f.size.rlp > 0 || f.failure.is_none() {
            self.p.stats.record_answer(&name, f.size);
        }
        match &f.failure {
            Some(failure) => {
                tracing::debug!(peer = %name, ?failure, asked, got, "block data request failed");
                self.p.stats.record_failed_request(&name);
                self.sizer.failed(f.peer);
            }
            None => self
                .sizer
                .answered(f.peer, asked, got, f.size.rlp, f.elapsed),
        }
        if got == 0
            && f.failure.is_none()
            && let Some(span) = fetch::span_of(&f.asked)
        {
            // An empty answer: the peer does not serve these (expired history, or not synced
            // that far). A signal, not misbehaviour.
            self.p.pool.report_unserved(f.peer, span);
        }
        let Fetched {
            peer,
            asked: blocks,
            bodies,
            receipts,
            size,
            failure,
            ..
        } = f;
        // The answer's message size stands for the blocks' size in memory and stored form.
        let bytes = size.rlp;
        let mut blocks = blocks;
        let rest = blocks.split_off(got.min(blocks.len()));
        // `blocks` now holds exactly the prefix that has both a body and receipts.
        let batch: Vec<(PendingBlock, Body, Vec<Receipt>)> = blocks
            .into_iter()
            .zip(bodies)
            .zip(receipts)
            .map(|((b, body), r)| (b, body, r))
            .collect();
        // Whatever did not come back goes to another peer; only a failure or an empty answer
        // counts as a try of the block.
        let peer_failed = failure.is_some() || got == 0;
        for b in rest {
            let n = b.header.number();
            let tries = if peer_failed {
                self.queue.requeue(b, Some(peer))
            } else {
                let mut b = b;
                b.avoid = Some(peer);
                self.queue.requeue(b, None)
            };
            if tries > 0 && tries % ESCALATE_AFTER == 0 {
                tracing::warn!(block = %n, tries, last_peer = %name, "block keeps failing; asking other peers");
            }
        }
        if !batch.is_empty() {
            self.held += bytes;
            self.ready.push_back(Ready {
                peer,
                blocks: batch,
                bytes,
            });
        }
    }

    fn dispatch_processing(&mut self) {
        while self.processing.len() < self.p.limits.process_threads.max(1) {
            let Some(r) = self.ready.pop_front() else {
                return;
            };
            let store = self.p.store.clone();
            let Ready {
                peer,
                blocks,
                bytes,
            } = r;
            self.processing.spawn_blocking(move || {
                let out = store
                    .blocking_read("verifying blocks", |s| {
                        Ok::<_, std::convert::Infallible>(process(s, blocks))
                    })
                    .map_err(|e| e.to_string());
                (peer, bytes, out)
            });
        }
    }

    fn on_processed(
        &mut self,
        peer: PeerId,
        bytes: u64,
        p: Result<Processed, String>,
    ) -> Result<(), SyncError> {
        self.held = self.held.saturating_sub(bytes);
        let p = p.map_err(|e| SyncError::Chain(format!("verifying blocks: {e}")))?;
        if let Some((_, first)) = p.failed.first() {
            let name = self.name(peer);
            tracing::warn!(peer = %name, error = %first, failed = p.failed.len(), "peer sent block data failing verification; dropped, peer penalised, blocks asked of others");
            self.p.pool.report(peer, Misbehaviour::BadData);
            for (b, e) in p.failed {
                self.p.stats.record_bad_data(&name, failure_kind(&e));
                self.queue.requeue(b, Some(peer));
            }
        }
        for b in p.prepared {
            let len = b.stored_len();
            self.held += len;
            self.to_write_bytes += len;
            self.to_write.push(b);
        }
        Ok(())
    }

    fn dispatch_write(&mut self) {
        if !self.writing.is_empty() || self.to_write.is_empty() {
            return;
        }
        let blocks = std::mem::take(&mut self.to_write);
        let bytes = std::mem::take(&mut self.to_write_bytes);
        let n = blocks.len();
        let store = self.p.store.clone();
        self.writing.spawn(async move {
            let r = store
                .write("storing verified blocks", move |s| s.put_prepared(blocks))
                .await;
            (bytes, n, r)
        });
    }

    async fn on_written(
        &mut self,
        bytes: u64,
        blocks: usize,
        w: Result<PutOutcome, StoreError<WriteError>>,
    ) -> Result<(), SyncError> {
        self.held = self.held.saturating_sub(bytes);
        let outcome = w?;
        self.p.stats.record_stored(outcome.stored as u64, bytes);
        tracing::debug!(
            blocks,
            stored = outcome.stored,
            duplicates = outcome.duplicates,
            "blocks written"
        );
        if let Some(tx) = &self.p.stored_range {
            let last = self
                .p
                .store
                .read("reading the contiguous tip", |s| s.last_contiguous())
                .await?;
            tx.send_if_modified(|v| {
                let moved = *v != last;
                *v = last;
                moved
            });
        }
        Ok(())
    }
}
