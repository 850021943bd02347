//! Follow: stay at the chain head, writing strictly in order, rolling back reorgs.
//!
//! Owns the one long follow epoch that joins the shared stages: head discovery by headers
//! ([`probe`]: peers on distinct networks asked for headers from just below our frontier; only
//! headers linked to what we hold and agreed by a quorum of networks are accepted), a scheduling
//! window of [`FollowLimits::window`] blocks above the stored tip, bodies and receipts fetched with
//! [`fetch`] (lowest first), verification on blocking threads
//! ([`verify_each`]), the [`reorder`] buffer (in any order in, in
//! order out), and the in-order writer (`append_sorted`, which refuses anything but the next
//! block). A divergence agreed by a quorum starts the [`ancestor`] search; the store is rolled
//! back to the common ancestor (`rollback_to`) and following resumes from there; a fork deeper
//! than `rollback_window` ends the run with [`Outcome::ReorgTooDeep`] and leaves the store as it
//! was. Shards that become complete below `tip − rollback_window` are sealed as the tip passes.
//!
//! What the rest of the node needs to know travels as [`Note`]s (blocks added and removed, the
//! new tip, the up-to-date edge); this module never decides phases, never serves RPC and never
//! imports the daemon or config.

pub mod ancestor;
pub mod preflight;
pub mod probe;
pub mod reorder;
#[cfg(test)]
mod testing;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::B256;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use self::ancestor::Fork;
use self::probe::{Answer, Verdict};
use self::reorder::ReorderBuffer;
use super::anchor;
use super::fetch::{self, BlockQueue, Fetched, PendingBlock, Sizer};
use super::process::{Verified, failure_kind, verify_each};
use super::stats::SyncStats;
use crate::p2p::eth::limits::MAX_HEADERS;
use crate::p2p::pool::{Misbehaviour, PoolHandle};
use crate::p2p::rlpx::PeerId;
use crate::primitives::{BlockNumber, Checkpoint, VerifiedBlock};
use crate::storage::{ReadError, StoreError, StoreHandle, WriteError};

/// Bounds and cadence of a follow run.
#[derive(Debug, Clone, Copy)]
pub struct FollowLimits {
    /// Blocks above the stored tip that may be scheduled, fetched or buffered at once (the
    /// reorder buffer's capacity).
    pub window: u64,
    /// Pause between head probes while nothing new was found.
    pub probe_every: Duration,
    /// Networks asked per probe.
    pub probe_peers: usize,
    /// Headers below the frontier each probe asks again (to see a reorg to a shorter chain).
    pub lookback: u64,
    /// Body/receipt requests in flight at once.
    pub fetches: usize,
}

impl Default for FollowLimits {
    fn default() -> Self {
        Self {
            window: 128,
            probe_every: Duration::from_millis(250),
            probe_peers: 6,
            lookback: 2,
            fetches: 8,
        }
    }
}

/// Everything a follow run needs.
#[derive(Debug, Clone)]
pub struct Follow {
    /// The chain's genesis hash (block 1's parent).
    pub genesis: B256,
    /// The store (follow appends to its sorted tail).
    pub store: StoreHandle,
    /// The peer pool.
    pub pool: PoolHandle,
    /// Lowest block wanted (where an empty store starts).
    pub start: BlockNumber,
    /// Trusted checkpoints (to anchor the block below `start` when nothing is stored).
    pub checkpoints: Vec<Checkpoint>,
    /// Deepest reorg that may be rolled back; nothing within it below the tip is sealed.
    pub rollback_window: u64,
    /// Distinct networks that must agree on a new header, a divergence or a fork point.
    pub quorum: usize,
    /// Counters of the run (shared with the run report).
    pub stats: SyncStats,
    /// Window and cadence.
    pub limits: FollowLimits,
    /// Told the stored tip as it moves (the Status we announce follows it).
    pub stored_range: Option<watch::Sender<Option<BlockNumber>>>,
    /// Where the notes go. Unbounded on purpose: follow must never wait on its listener, and
    /// what it sends is bounded by what it writes (at most a window of blocks per write).
    pub notes: mpsc::UnboundedSender<Note>,
}

/// What follow tells the node, in order.
#[derive(Debug, Clone)]
pub enum Note {
    /// A block joined the stored chain (ascending).
    Added(Arc<VerifiedBlock>),
    /// A block left it (a rollback; highest first).
    Removed(Arc<VerifiedBlock>),
    /// The stored tip now (after every write and rollback).
    Tip { number: BlockNumber, hash: B256 },
    /// The edge into "up to date": a quorum of networks has nothing above our tip.
    UpToDate { head: BlockNumber },
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Stopped on request.
    Cancelled,
    /// A quorum of networks forked from our chain deeper than `limit` blocks below the tip (at
    /// least `depth`); nothing was rolled back.
    ReorgTooDeep { depth: u64, limit: u64 },
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    /// Reading storage failed.
    #[error(transparent)]
    Read(#[from] StoreError<ReadError>),
    /// Writing storage failed (an out-of-order or unlinked append included: storage refuses it).
    #[error(transparent)]
    Write(#[from] StoreError<WriteError>),
}

/// A verified block waiting in the reorder buffer, with its share of the answer's bytes.
type Buffered = (Arc<VerifiedBlock>, u64);

struct Run {
    p: Follow,
    /// Last stored block (or the anchored block below `start` when nothing is stored).
    tip: (u64, B256),
    /// Highest accepted header (the tip when nothing is pending).
    frontier: (u64, B256),
    /// Our hashes: the stored ones down to `tip − rollback_window − 1`, and accepted headers.
    known: BTreeMap<u64, B256>,
    queue: BlockQueue,
    sizer: Sizer,
    buffer: ReorderBuffer<Buffered>,
    /// Peers whose last probe answer held every accepted header (asked when the pool ranks none).
    sources: Vec<PeerId>,
    probing: JoinSet<(Verdict, Vec<Answer>)>,
    searching: JoinSet<(Option<Fork>, u64)>,
    fetches: JoinSet<Fetched>,
    verifying: JoinSet<(PeerId, u64, Verified)>,
    writing: JoinSet<Result<Vec<Buffered>, StoreError<WriteError>>>,
    /// Probe again at once (the last one found headers and the window has room).
    probe_now: bool,
    /// Last block the running probe may return (its answers are cut there).
    probe_end: u64,
    /// The last probe showed nothing above the frontier: once the tip reaches the frontier, we
    /// hold the network's head as last seen.
    at_head: bool,
    up_to_date: bool,
    /// Highest number any diverging peer showed (the new chain's head, for the reorg line).
    diverged_head: u64,
    written: u64,
    reorgs: u64,
    late: u64,
}

impl Follow {
    /// Runs until cancelled, a too-deep reorg, or a storage failure.
    pub async fn run(self, cancel: CancellationToken) -> Result<Outcome, FollowError> {
        let Some(tip) = self.initial_tip(&cancel).await? else {
            return Ok(Outcome::Cancelled);
        };
        let known = self.recent_hashes(tip).await?;
        let window = self.limits.window;
        let mut run = Run {
            tip,
            frontier: tip,
            known,
            queue: BlockQueue::lowest_first(),
            sizer: Sizer::default(),
            buffer: ReorderBuffer::new(tip.0 + 1, window),
            sources: Vec::new(),
            probing: JoinSet::new(),
            searching: JoinSet::new(),
            fetches: JoinSet::new(),
            verifying: JoinSet::new(),
            writing: JoinSet::new(),
            probe_now: true,
            probe_end: 0,
            at_head: false,
            up_to_date: false,
            diverged_head: 0,
            written: 0,
            reorgs: 0,
            late: 0,
            p: self,
        };
        // The node's head starts at what is stored (the first UpToDate may come before any write).
        run.note(Note::Tip {
            number: BlockNumber(tip.0),
            hash: tip.1,
        });
        run.epoch_line();
        let out = run.drive(&cancel).await;
        tracing::info!(
            tip = run.tip.0,
            blocks_written = run.written,
            reorgs = run.reorgs,
            buffer_peak = run.buffer.peak(),
            window,
            late_arrivals = run.late,
            "follow stopped"
        );
        out
    }

    /// The stored tip, or (nothing stored) the block below `start`: genesis, a checkpoint, or a
    /// quorum's hash. `None`: cancelled while waiting for an anchor.
    async fn initial_tip(
        &self,
        cancel: &CancellationToken,
    ) -> Result<Option<(u64, B256)>, FollowError> {
        let stored = self
            .store
            .read("reading the stored tip", |s| {
                let Some(n) = s.last_contiguous()? else {
                    return Ok::<_, ReadError>(None);
                };
                Ok(s.block_hash(n)?.map(|h| (n.get(), h)))
            })
            .await?;
        if let Some(tip) = stored {
            return Ok(Some(tip));
        }
        let below = self.start.get().saturating_sub(1);
        if below == 0 {
            return Ok(Some((0, self.genesis)));
        }
        let anchored = anchor::resolve(
            &self.pool,
            BlockNumber(below),
            &self.checkpoints,
            self.quorum,
            cancel,
        )
        .await;
        Ok(anchored.map(|a| (below, a.hash)))
    }

    /// Stored hashes from `tip − rollback_window − 1` up to `tip` (what a fork is compared with).
    async fn recent_hashes(&self, tip: (u64, B256)) -> Result<BTreeMap<u64, B256>, FollowError> {
        let lo = tip.0.saturating_sub(self.rollback_window + 1);
        let mut known = self
            .store
            .read("reading recent block hashes", move |s| {
                let mut out = BTreeMap::new();
                for n in lo..=tip.0 {
                    if let Some(h) = s.block_hash(BlockNumber(n))? {
                        out.insert(n, h);
                    }
                }
                Ok::<_, ReadError>(out)
            })
            .await?;
        known.insert(tip.0, tip.1);
        Ok(known)
    }
}

/// The reorg metrics and the one line per reorg: our old tip, the new chain's head as the peers
/// showed it, the common ancestor, the blocks rolled back.
fn record_reorg(old: (u64, B256), ancestor: (u64, B256), new_tip: u64, depth: u64) {
    metrics::counter!(crate::metrics::REORGS).increment(1);
    metrics::histogram!(crate::metrics::REORG_DEPTH).record(depth as f64);
    tracing::info!(
        old_tip = old.0,
        old_tip_hash = %old.1,
        new_tip,
        ancestor = ancestor.0,
        ancestor_hash = %ancestor.1,
        depth,
        "reorg rolled back"
    );
}

/// The one ERROR line of a reorg deeper than the window (nothing is rolled back).
fn too_deep_line(tip: u64, tip_hash: B256, searched_from: u64, depth: u64, rollback_window: u64) {
    tracing::error!(
        tip,
        tip_hash = %tip_hash,
        searched_from,
        depth_at_least = depth,
        rollback_window,
        "reorg deeper than rollback_window: the peers' chain leaves ours below the window; nothing was rolled back (recover: `histd db rollback --to N` below the fork, then start again)"
    );
}

fn short(peer: &PeerId) -> String {
    alloy_primitives::hex::encode(&peer.as_slice()[..8])
}

impl Run {
    async fn drive(&mut self, cancel: &CancellationToken) -> Result<Outcome, FollowError> {
        let mut probe_tick = tokio::time::interval(self.p.limits.probe_every);
        probe_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut gauge_tick = tokio::time::interval(Duration::from_secs(1));
        gauge_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if self.probe_now {
                self.start_probe();
            }
            self.dispatch_fetches();
            self.dispatch_write();
            tokio::select! {
                _ = cancel.cancelled() => return Ok(Outcome::Cancelled),
                _ = probe_tick.tick() => self.probe_now = true,
                _ = gauge_tick.tick() => self.buffer.publish(),
                Some(r) = self.probing.join_next() => {
                    if let Ok((verdict, answers)) = r {
                        self.on_probe(verdict, answers);
                    }
                }
                Some(r) = self.searching.join_next() => {
                    if let Ok((fork, lo)) = r
                        && let Some(out) = self.on_search(fork, lo).await?
                    {
                        return Ok(out);
                    }
                }
                Some(r) = self.fetches.join_next() => {
                    if let Ok(f) = r { self.on_fetched(f); }
                }
                Some(r) = self.verifying.join_next() => {
                    if let Ok((peer, bytes, v)) = r { self.on_verified(peer, bytes, v); }
                }
                Some(r) = self.writing.join_next() => {
                    if let Ok(w) = r { self.on_written(w?).await?; }
                }
            }
        }
    }

    /// The follow epoch line: where this stretch of following starts and what it aims at.
    fn epoch_line(&self) {
        let observed = self.p.pool.head_seen().map_or(self.tip.0, BlockNumber::get);
        let start = self.tip.0 + 1;
        tracing::info!(
            range_start = start,
            range_end = observed.max(self.tip.0),
            missing_blocks = observed.saturating_sub(self.tip.0),
            last_indexed = self.tip.0,
            observed_head = observed,
            window = self.p.limits.window,
            "follow epoch"
        );
    }

    fn start_probe(&mut self) {
        if !self.probing.is_empty() || !self.searching.is_empty() {
            return;
        }
        self.probe_now = false;
        let lowest = self.known.keys().next().copied().unwrap_or(self.tip.0);
        let start = self
            .frontier
            .0
            .saturating_sub(self.p.limits.lookback)
            .max(lowest);
        let room = (self.buffer.end() - 1).saturating_sub(self.frontier.0);
        let limit = (self.frontier.0 - start + 1 + room).min(MAX_HEADERS as u64);
        self.probe_end = start + limit - 1;
        let ask = (BlockNumber(start), limit, self.p.limits.probe_peers);
        let (pool, known, frontier, quorum) = (
            self.p.pool.clone(),
            self.known.clone(),
            self.frontier.0,
            self.p.quorum,
        );
        self.probing
            .spawn(async move { probe::round(&pool, ask, &known, frontier, quorum).await });
    }

    fn on_probe(&mut self, verdict: Verdict, answers: Vec<Answer>) {
        match verdict {
            Verdict::Agree { extension, sources } => {
                let found = !extension.is_empty();
                for h in extension {
                    self.known.insert(h.number().get(), h.hash);
                    self.frontier = (h.number().get(), h.hash);
                    self.queue.push_new(h);
                }
                // Answers were cut at `probe_end`: a frontier below it is the quorum's head.
                self.at_head = self.frontier.0 < self.probe_end;
                if found {
                    self.sources = sources;
                    self.set_up_to_date(false);
                    // More may be waiting above what fit: look again at once if there is room.
                    self.probe_now = !self.at_head && self.frontier.0 + 1 < self.buffer.end();
                } else if self.at_head && self.frontier == self.tip {
                    self.set_up_to_date(true);
                }
            }
            Verdict::Diverged { .. } if !self.writing.is_empty() => {
                // Decide on the tip as stored: look again once the write in flight is done.
                self.probe_now = true;
            }
            Verdict::Diverged { at, peers } => {
                self.diverged_head = answers
                    .iter()
                    .filter(|a| peers.contains(&a.peer))
                    .filter_map(|a| a.headers.last())
                    .map(|h| h.number().get())
                    .max()
                    .unwrap_or(at.get());
                tracing::debug!(at = %at, networks = peers.len(), "follow: peers hold another chain; searching the common ancestor");
                // As deep as a rollback may go, and no deeper than what we hold.
                let lowest = self.known.keys().next().copied().unwrap_or(self.tip.0);
                let lo = self
                    .tip
                    .0
                    .saturating_sub(self.p.rollback_window)
                    .max(lowest);
                let (pool, known, frontier, quorum) = (
                    self.p.pool.clone(),
                    self.known.clone(),
                    self.frontier.0,
                    self.p.quorum,
                );
                self.searching.spawn(async move {
                    let fork = ancestor::search(&pool, &peers, &known, lo, frontier, quorum).await;
                    (fork, lo)
                });
            }
            Verdict::Unknown => {
                tracing::debug!(
                    answers = answers.len(),
                    quorum = self.p.quorum,
                    "follow: not enough networks answered about the head"
                );
            }
        }
    }

    fn set_up_to_date(&mut self, now: bool) {
        if self.up_to_date == now {
            return;
        }
        self.up_to_date = now;
        if now {
            tracing::info!(head = self.tip.0, hash = %self.tip.1, "follow: up to date with the network");
            self.note(Note::UpToDate {
                head: BlockNumber(self.tip.0),
            });
        } else {
            tracing::debug!(tip = self.tip.0, "follow: the network moved ahead");
        }
    }

    /// Sends a note (a listener gone means the node is stopping: nothing to do).
    fn note(&self, note: Note) {
        let _ = self.p.notes.send(note);
    }

    /// The search came back: roll back, drop unwritten blocks, or stop on a too-deep fork.
    async fn on_search(
        &mut self,
        fork: Option<Fork>,
        lo: u64,
    ) -> Result<Option<Outcome>, FollowError> {
        match fork {
            None => Ok(None),
            Some(Fork::Deeper) => {
                let depth = self.tip.0 - lo + 1;
                too_deep_line(self.tip.0, self.tip.1, lo, depth, self.p.rollback_window);
                Ok(Some(Outcome::ReorgTooDeep {
                    depth,
                    limit: self.p.rollback_window,
                }))
            }
            Some(Fork::At(a)) if a >= self.tip.0 => {
                // Only unwritten blocks were on the abandoned branch.
                tracing::debug!(
                    ancestor = a,
                    "follow: dropping unwritten blocks of an abandoned branch"
                );
                self.forget_above(a);
                self.probe_now = true;
                Ok(None)
            }
            Some(Fork::At(a)) => {
                self.roll_back(a).await?;
                Ok(None)
            }
        }
    }

    /// Forgets every accepted header, queued and buffered block above `a` (in-flight answers
    /// for them are dropped when they come back: their hashes are no longer known).
    fn forget_above(&mut self, a: u64) {
        self.at_head = false;
        drop(self.known.split_off(&(a + 1)));
        self.queue.drop_from(a + 1);
        self.buffer.drop_from(a + 1);
        let hash = self.known.get(&a).copied().unwrap_or(self.tip.1);
        self.frontier = (a, hash);
    }

    async fn roll_back(&mut self, ancestor: u64) -> Result<(), FollowError> {
        let old = self.tip;
        let depth = old.0 - ancestor;
        // Read first: the feed must carry the removed blocks, and they are gone after the
        // rollback. Nothing else writes blocks meanwhile (follow is the only writer).
        let removed = self
            .p
            .store
            .read("reading the blocks a reorg removes", move |s| {
                let mut blocks = Vec::new();
                for n in (ancestor + 1..=old.0).rev() {
                    if let Some(b) = s.block(BlockNumber(n))? {
                        blocks.push(Arc::new(b));
                    }
                }
                Ok::<_, ReadError>(blocks)
            })
            .await?;
        self.p
            .store
            .write("rolling back a reorg", move |s| {
                s.rollback_to(BlockNumber(ancestor))
            })
            .await?;
        self.forget_above(ancestor);
        self.buffer.reset(ancestor + 1);
        self.queue = BlockQueue::lowest_first();
        self.tip = self.frontier;
        for b in removed {
            self.note(Note::Removed(b));
        }
        self.note(Note::Tip {
            number: BlockNumber(self.tip.0),
            hash: self.tip.1,
        });
        self.reorgs += 1;
        record_reorg(old, self.tip, self.diverged_head, depth);
        self.announce_tip();
        self.set_up_to_date(false);
        self.probe_now = true;
        self.epoch_line();
        Ok(())
    }

    fn announce_tip(&self) {
        if let Some(tx) = &self.p.stored_range {
            let tip = Some(BlockNumber(self.tip.0));
            tx.send_if_modified(|v| {
                let moved = *v != tip;
                *v = tip;
                moved
            });
        }
    }

    fn dispatch_fetches(&mut self) {
        while self.fetches.len() < self.p.limits.fetches.max(1) {
            let (pool, sources) = (&self.p.pool, &self.sources);
            // Peers whose announced head is behind may still hold what they just showed us.
            let fallback = || sources.iter().find_map(|p| pool.lease(*p));
            let Ok((lease, blocks, limit)) =
                fetch::next_request(pool, &mut self.queue, &mut self.sizer, fallback)
            else {
                return;
            };
            self.fetches.spawn(fetch::fetch(lease, blocks, limit));
        }
    }

    fn on_fetched(&mut self, f: Fetched) {
        let name = short(&f.peer);
        let got = f.bodies.len().min(f.receipts.len());
        match &f.failure {
            Some(failure) => {
                tracing::debug!(peer = %name, ?failure, asked = f.asked.len(), got, "follow: block data request failed");
                self.p.stats.record_failed_request(&name);
                self.sizer.failed(f.peer);
            }
            None => {
                self.p.stats.record_answer(&name, f.size);
                self.sizer
                    .answered(f.peer, f.asked.len(), got, f.size.rlp, f.elapsed);
            }
        }
        let Fetched {
            peer,
            mut asked,
            bodies,
            receipts,
            size,
            failure,
            ..
        } = f;
        // The answer's message size stands for the blocks' size in memory and stored form.
        let bytes = size.rlp;
        let rest = asked.split_off(got.min(asked.len()));
        let blame = (failure.is_some() || got == 0).then_some(peer);
        for mut b in rest {
            if !self.still_wanted(&b) {
                continue;
            }
            b.avoid = Some(peer);
            self.queue.requeue(b, blame);
        }
        if asked.is_empty() {
            return;
        }
        let batch: Vec<_> = asked
            .into_iter()
            .zip(bodies)
            .zip(receipts)
            .map(|((b, body), r)| (b, body, r))
            .collect();
        self.verifying
            .spawn_blocking(move || (peer, bytes, verify_each(batch)));
    }

    /// Whether `b` is still on the chain we follow (a reorg may have dropped it meanwhile).
    fn still_wanted(&self, b: &PendingBlock) -> bool {
        self.known.get(&b.header.number().get()) == Some(&b.header.hash)
            && b.header.number().get() >= self.buffer.expected()
    }

    fn on_verified(&mut self, peer: PeerId, bytes: u64, (ok, failed): Verified) {
        if let Some((_, first)) = failed.first() {
            let name = short(&peer);
            tracing::warn!(peer = %name, error = %first, failed = failed.len(), "peer sent block data failing verification; dropped, peer penalised, blocks asked of others");
            self.p.pool.report(peer, Misbehaviour::BadData);
            for (b, e) in failed {
                self.p.stats.record_bad_data(&name, failure_kind(&e));
                if self.still_wanted(&b) {
                    self.queue.requeue(b, Some(peer));
                }
            }
        }
        let share = bytes / (ok.len().max(1) as u64);
        for block in ok {
            let n = block.number().get();
            if self.known.get(&n) != Some(&block.hash()) {
                // Fetched for a branch a reorg abandoned meanwhile.
                continue;
            }
            if let Err(e) = self.buffer.insert(n, (Arc::new(block), share)) {
                self.late += 1;
                tracing::debug!(error = %e, "follow: block not buffered");
            }
        }
    }

    fn dispatch_write(&mut self) {
        if !self.writing.is_empty() || !self.searching.is_empty() {
            return;
        }
        let blocks = self.buffer.pop_ready();
        if blocks.is_empty() {
            return;
        }
        let store = self.p.store.clone();
        let window = self.p.rollback_window;
        self.writing.spawn(async move {
            store
                .write("following: appending blocks in order", move |s| {
                    let before = blocks.first().map_or(0, |(b, _)| b.number().get());
                    let refs: Vec<&VerifiedBlock> = blocks.iter().map(|(b, _)| &**b).collect();
                    s.append_sorted_many(&refs)?;
                    let after = blocks.last().map_or(before, |(b, _)| b.number().get());
                    // Seal what the tip left behind the rollback window, once per shard crossed.
                    if let Some(bound) = after.checked_sub(window) {
                        let prev = before.saturating_sub(1).saturating_sub(window);
                        if s.shard_of(BlockNumber(bound)) != s.shard_of(BlockNumber(prev)) {
                            let sealed = s.seal_complete(BlockNumber(bound))?;
                            if !sealed.is_empty() {
                                tracing::info!(shards = ?sealed, below = bound, "follow: sealed complete shards below the rollback window");
                            }
                        }
                    }
                    Ok::<_, WriteError>(blocks)
                })
                .await
        });
    }

    async fn on_written(&mut self, blocks: Vec<Buffered>) -> Result<(), FollowError> {
        let Some((last, _)) = blocks.last() else {
            return Ok(());
        };
        self.tip = (last.number().get(), last.hash());
        let bytes: u64 = blocks.iter().map(|(_, b)| b).sum();
        self.written += blocks.len() as u64;
        self.p.stats.record_stored(blocks.len() as u64, bytes);
        for (b, _) in blocks {
            self.note(Note::Added(b));
        }
        self.note(Note::Tip {
            number: BlockNumber(self.tip.0),
            hash: self.tip.1,
        });
        self.announce_tip();
        if self.at_head && self.frontier == self.tip {
            self.set_up_to_date(true);
        }
        // Keep what a rollback may need, and the pending headers above the tip.
        let keep_from = self.tip.0.saturating_sub(self.p.rollback_window + 1);
        self.known = self.known.split_off(&keep_from);
        self.buffer.publish();
        Ok(())
    }
}
