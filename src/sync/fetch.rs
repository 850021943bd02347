//! Bodies and receipts by hash: the queue of anchored headers waiting for their data, per-peer
//! request sizing and timeouts, and one fetch (bodies, then receipts of what came back, from the
//! same peer so a failure of either is that peer's).
//!
//! Owns [`BlockQueue`] (anchored headers not yet fetched, with retry counts and the peer to avoid),
//! [`Sizer`] (per peer: blocks per request by AIMD on the answer's message size as the session
//! received it (RLP after snappy, never re-measured from decoded items), aiming at
//! [`TARGET_ANSWER_BYTES`], starting from the pool's learned batch size; the timeout ≈ 3× its
//! round trip, clamped) and [`fetch`] (one request pair through a [`PeerLease`]). A short answer
//! is a prefix: the caller re-queues the rest. It never verifies (the process stage does) and
//! never stores.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use alloy_primitives::B256;

use crate::p2p::pool::{PeerLease, PoolHandle, Span};
use crate::p2p::rlpx::PeerId;
use crate::p2p::session::{RequestError, WireSize};
use crate::primitives::{BlockNumber, Body, Receipt};
use crate::verify::SealedHeader;

/// Answers are sized to about this many bytes (peers cap theirs at about 2 MiB).
pub const TARGET_ANSWER_BYTES: u64 = 2 * 1024 * 1024;
/// Most blocks in one request (the protocol's cap).
pub const MAX_BATCH: usize = crate::p2p::eth::limits::MAX_BLOCKS_PER_REQUEST;
/// Shortest and longest request timeout.
pub const TIMEOUT_MIN: Duration = Duration::from_secs(2);
/// See [`TIMEOUT_MIN`].
pub const TIMEOUT_MAX: Duration = Duration::from_secs(20);
/// Timeout of a peer whose round trip is not measured yet.
pub const TIMEOUT_UNKNOWN: Duration = Duration::from_secs(6);
/// After this many failed tries a block is logged (and every this many tries again).
pub const ESCALATE_AFTER: u32 = 5;

/// An anchored header waiting for its body and receipts.
#[derive(Debug, Clone)]
pub struct PendingBlock {
    /// The trusted header.
    pub header: SealedHeader,
    /// Failed tries so far.
    pub tries: u32,
    /// The peer that failed it last (asked again only if nobody else can).
    pub avoid: Option<PeerId>,
}

/// Anchored headers waiting for data, highest first (any order works: the WAL takes any), or
/// lowest first for follow (its writer takes the next block only, so the lowest is needed
/// first).
#[derive(Debug, Default)]
pub struct BlockQueue {
    pending: BTreeMap<u64, PendingBlock>,
    lowest_first: bool,
}

impl BlockQueue {
    /// An empty queue handing out its lowest blocks first.
    pub fn lowest_first() -> Self {
        Self {
            pending: BTreeMap::new(),
            lowest_first: true,
        }
    }

    /// Block numbers in the order they are handed out.
    fn ordered(&self) -> Box<dyn Iterator<Item = (&u64, &PendingBlock)> + '_> {
        if self.lowest_first {
            Box::new(self.pending.iter())
        } else {
            Box::new(self.pending.iter().rev())
        }
    }

    /// Drops every block at or above `n` (follow: a reorg above what is stored).
    pub fn drop_from(&mut self, n: u64) {
        drop(self.pending.split_off(&n));
    }

    /// Queues a fresh header.
    pub fn push_new(&mut self, header: SealedHeader) {
        self.pending.insert(
            header.number().get(),
            PendingBlock {
                header,
                tries: 0,
                avoid: None,
            },
        );
    }

    /// Puts back a block whose fetch or verification failed at `peer` (`None`: not the peer's
    /// fault, e.g. a short answer); returns its tries so far.
    pub fn requeue(&mut self, mut block: PendingBlock, failed_at: Option<PeerId>) -> u32 {
        if let Some(p) = failed_at {
            block.tries = block.tries.saturating_add(1);
            block.avoid = Some(p);
        }
        let tries = block.tries;
        self.pending.insert(block.header.number().get(), block);
        tries
    }

    /// Blocks waiting.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Nothing waiting.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// The span of the next request of at most `n` blocks, for choosing a peer.
    pub fn next_span(&self, n: usize) -> Option<Span> {
        let mut it = self.ordered().map(|(k, _)| *k).take(n.max(1));
        let first = it.next()?;
        let last = it.last().unwrap_or(first);
        Some(Span::new(first.min(last), first.max(last)))
    }

    /// The lowest and highest block waiting.
    pub fn bounds(&self) -> Option<(u64, u64)> {
        Some((
            *self.pending.keys().next()?,
            *self.pending.keys().next_back()?,
        ))
    }

    /// The peer the next block handed out failed at last.
    pub fn next_avoid(&self) -> Option<PeerId> {
        self.ordered().next().and_then(|(_, b)| b.avoid)
    }

    /// Takes up to `n` of the next blocks (highest, or lowest for follow) for `peer`, skipping
    /// blocks that failed at it (unless they failed everywhere: `tries` past
    /// [`ESCALATE_AFTER`], or nothing else waits: the only peer left must still be asked).
    pub fn take(&mut self, n: usize, peer: PeerId) -> Vec<PendingBlock> {
        let mut keys: Vec<u64> = self
            .ordered()
            .filter(|(_, b)| b.avoid != Some(peer) || b.tries >= ESCALATE_AFTER)
            .take(n)
            .map(|(k, _)| *k)
            .collect();
        if keys.is_empty() {
            keys = self.ordered().take(n).map(|(k, _)| *k).collect();
        }
        keys.into_iter()
            .filter_map(|k| self.pending.remove(&k))
            .collect()
    }
}

/// Blocks waiting this long with nothing in flight and no peer the pool offers for them are
/// reported (a WARN), then again every [`UNSERVED_WARN_EVERY`] while it lasts.
pub const UNSERVED_WARN_AFTER: Duration = Duration::from_secs(5);
/// See [`UNSERVED_WARN_AFTER`].
pub const UNSERVED_WARN_EVERY: Duration = Duration::from_secs(30);

/// Notices that no peer serves the blocks waiting (history expired at every peer, or peers not
/// synced that far), so the run can say so instead of retrying in silence.
#[derive(Debug, Default)]
pub struct UnservedWatch {
    /// Since when blocks wait with nothing in flight and no peer offered.
    since: Option<Instant>,
    last_warn: Option<Instant>,
}

impl UnservedWatch {
    /// A request was placed, or nothing waits: not stuck.
    pub fn moving(&mut self) {
        self.since = None;
    }

    /// Blocks wait, nothing is in flight and the pool offered no peer for them.
    pub fn blocked(&mut self, now: Instant) {
        self.since.get_or_insert(now);
    }

    /// How long it has been stuck, when a WARN is due now (it is then counted as given).
    pub fn due(&mut self, now: Instant) -> Option<Duration> {
        let waited = now.duration_since(self.since?);
        let quiet = self
            .last_warn
            .is_none_or(|t| now.duration_since(t) >= UNSERVED_WARN_EVERY);
        (waited >= UNSERVED_WARN_AFTER && quiet).then(|| {
            self.last_warn = Some(now);
            waited
        })
    }
}

/// What is known about one peer for sizing.
#[derive(Debug, Clone, Copy)]
struct PeerSizing {
    blocks: usize,
    rtt: Option<Duration>,
}

/// Per-peer request size (AIMD on answer bytes) and timeout (see the module doc).
#[derive(Debug, Default)]
pub struct Sizer {
    peers: HashMap<PeerId, PeerSizing>,
}

impl Sizer {
    fn entry(&mut self, peer: PeerId, learned: usize) -> &mut PeerSizing {
        self.peers.entry(peer).or_insert(PeerSizing {
            blocks: learned.clamp(1, MAX_BATCH),
            rtt: None,
        })
    }

    /// Blocks to ask `peer` for; `learned` (the pool's batch size for it) seeds a new peer.
    pub fn blocks(&mut self, peer: PeerId, learned: usize) -> usize {
        self.entry(peer, learned).blocks
    }

    /// How long to wait for `peer`: ≈3× its round trip, clamped.
    pub fn timeout(&self, peer: &PeerId) -> Duration {
        match self.peers.get(peer).and_then(|p| p.rtt) {
            Some(rtt) => (rtt * 3).clamp(TIMEOUT_MIN, TIMEOUT_MAX),
            None => TIMEOUT_UNKNOWN,
        }
    }

    /// `peer` answered `got` of `asked` blocks with `bytes` after `rtt`. Additive increase while
    /// complete answers stay under the target (a step towards what would fill it); halved on a
    /// short answer (the peer's own cap) or an answer over the target.
    pub fn answered(&mut self, peer: PeerId, asked: usize, got: usize, bytes: u64, rtt: Duration) {
        let s = self.entry(peer, asked);
        s.rtt = Some(match s.rtt {
            Some(old) => (old * 3 + rtt) / 4,
            None => rtt,
        });
        if got == 0 {
            return;
        }
        if got < asked || bytes > TARGET_ANSWER_BYTES {
            s.blocks = (s.blocks / 2).max(got.min(s.blocks)).max(1);
            if bytes > TARGET_ANSWER_BYTES {
                s.blocks = (s.blocks / 2).max(1);
            }
        } else {
            let per_block = (bytes / got as u64).max(1);
            let fits = usize::try_from(TARGET_ANSWER_BYTES / per_block).unwrap_or(MAX_BATCH);
            let step = (s.blocks / 4).max(8);
            s.blocks = (s.blocks + step).min(fits.max(1));
        }
        s.blocks = s.blocks.clamp(1, MAX_BATCH);
    }

    /// A request to `peer` failed or timed out: halve.
    pub fn failed(&mut self, peer: PeerId) {
        if let Some(s) = self.peers.get_mut(&peer) {
            s.blocks = (s.blocks / 2).max(1);
        }
    }
}

/// Why a fetch returned less than asked (beyond a plain short answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchFailure {
    /// Our timeout ([`Sizer::timeout`]) passed.
    TimedOut(Duration),
    /// The session failed the request.
    Request(RequestError),
}

/// The outcome of one fetch: what was asked, what came back.
#[derive(Debug)]
pub struct Fetched {
    /// The peer asked.
    pub peer: PeerId,
    /// The blocks asked for, in request order.
    pub asked: Vec<PendingBlock>,
    /// Bodies of a prefix of `asked`.
    pub bodies: Vec<Body>,
    /// Receipts of a prefix of `bodies`.
    pub receipts: Vec<Vec<Receipt>>,
    /// Size of the answers' eth messages as received ([`WireSize::rlp`] drives the sizing).
    pub size: WireSize,
    /// Time for both requests.
    pub elapsed: Duration,
    /// Set when a request failed.
    pub failure: Option<FetchFailure>,
}

async fn timed<T>(
    limit: Duration,
    f: impl Future<Output = Result<T, RequestError>>,
) -> Result<T, FetchFailure> {
    match tokio::time::timeout(limit, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(FetchFailure::Request(e)),
        Err(_) => Err(FetchFailure::TimedOut(limit)),
    }
}

/// Asks `lease` for the bodies of `asked`, then for the receipts of the bodies it returned.
pub async fn fetch(lease: PeerLease, asked: Vec<PendingBlock>, limit: Duration) -> Fetched {
    let started = std::time::Instant::now();
    let peer = lease.id();
    let hashes: Vec<B256> = asked.iter().map(|b| b.header.hash).collect();
    let mut out = Fetched {
        peer,
        asked,
        bodies: Vec::new(),
        receipts: Vec::new(),
        size: WireSize::default(),
        elapsed: Duration::ZERO,
        failure: None,
    };
    match timed(limit, lease.get_bodies_sized(hashes.clone())).await {
        Ok(bodies) => {
            out.size.add(bodies.size);
            // More than asked is a breach the session already refuses; keep the asked prefix.
            out.bodies = bodies.items;
            out.bodies.truncate(hashes.len());
        }
        Err(e) => out.failure = Some(e),
    }
    if !out.bodies.is_empty() {
        let want = hashes[..out.bodies.len()].to_vec();
        match timed(limit, lease.get_receipts_sized(want)).await {
            Ok(receipts) => {
                out.size.add(receipts.size);
                out.receipts = receipts.items;
                out.receipts.truncate(out.bodies.len());
            }
            Err(e) => out.failure = Some(e),
        }
    }
    if matches!(out.failure, Some(FetchFailure::TimedOut(_))) {
        // Our own deadline: the session's may be longer. The pool backs the peer off.
        lease.report(crate::p2p::pool::Misbehaviour::Timeout);
    }
    out.elapsed = started.elapsed();
    drop(lease);
    out
}

/// The next request for `queue`: a peer the pool ranks for its next span (not the one the next
/// block failed at, if another can take it), else `fallback()`; as many of the next blocks as
/// that peer's size allows and it announces serving (a batch nobody serves whole goes to a peer
/// serving its top); its timeout. Otherwise why not ([`NoRequest`]).
pub fn next_request(
    pool: &PoolHandle,
    queue: &mut BlockQueue,
    sizer: &mut Sizer,
    fallback: impl FnOnce() -> Option<PeerLease>,
) -> Result<(PeerLease, Vec<PendingBlock>, Duration), NoRequest> {
    let span = queue.next_span(MAX_BATCH).ok_or(NoRequest::Nothing)?;
    let mut leases = pool.ranked_for(span, 4);
    if leases.is_empty() {
        // Nobody serves the whole batch: maybe its top, where history is not expired.
        leases = pool.ranked_for(Span::new(span.last, span.last), 4);
    }
    let lease = pick(leases, queue.next_avoid())
        .or_else(fallback)
        .ok_or(NoRequest::Unoffered)?;
    let peer = lease.id();
    // Ask only for what the peer announces it serves (eth/69 `earliestBlock`): blocks are
    // handed out from the span's top in fast-sync, so the servable count is from there down.
    let served = pool.snapshot().peer(&peer).and_then(|p| p.served);
    let servable = served.map_or(u64::MAX, |r| {
        span.last.get().saturating_sub(r.earliest.get()) + 1
    });
    let n = sizer
        .blocks(peer, lease.batch_size())
        .min(usize::try_from(servable).unwrap_or(usize::MAX));
    let blocks = queue.take(n, peer);
    if blocks.is_empty() {
        return Err(NoRequest::Nothing);
    }
    Ok((lease, blocks, sizer.timeout(&peer)))
}

/// Why [`next_request`] made no request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoRequest {
    /// Nothing to hand out (the queue is empty, or its blocks failed at the only peer).
    Nothing,
    /// Blocks wait but no peer offers to serve them.
    Unoffered,
}

/// The first lease not for `avoid` (else any); the others are dropped (their slots freed).
pub fn pick(leases: Vec<PeerLease>, avoid: Option<PeerId>) -> Option<PeerLease> {
    let mut fallback = None;
    for l in leases {
        if Some(l.id()) != avoid {
            return Some(l);
        }
        fallback.get_or_insert(l);
    }
    fallback
}

/// The block range of `blocks` (for `report_unserved`).
pub fn span_of(blocks: &[PendingBlock]) -> Option<Span> {
    let lo = blocks.iter().map(|b| b.header.number()).min()?;
    let hi = blocks.iter().map(|b| b.header.number()).max()?;
    Some(Span::new(lo, hi))
}

/// `BlockNumber` of a pending block (for logs).
pub fn number_of(b: &PendingBlock) -> BlockNumber {
    b.header.number()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitives::Header;

    fn peer(b: u8) -> PeerId {
        PeerId::repeat_byte(b)
    }

    #[test]
    fn aimd_grows_towards_the_target_and_halves_on_short_or_big_answers() {
        let mut s = Sizer::default();
        let p = peer(1);
        assert_eq!(s.blocks(p, 128), 128);
        assert_eq!(s.timeout(&p), TIMEOUT_UNKNOWN);
        // Small blocks (1 KiB): additive steps up to the protocol cap.
        s.answered(p, 128, 128, 128 * 1024, Duration::from_millis(100));
        assert_eq!(s.blocks(p, 0), 160);
        for _ in 0..40 {
            let b = s.blocks(p, 0);
            s.answered(p, b, b, b as u64 * 1024, Duration::from_millis(100));
        }
        assert_eq!(s.blocks(p, 0), MAX_BATCH);
        // Big blocks (64 KiB): capped at what fills ~2 MiB.
        let q = peer(2);
        s.answered(q, 128, 128, 128 * 65_536, Duration::from_millis(100));
        assert!(s.blocks(q, 0) <= 64, "{}", s.blocks(q, 0));
        // A short answer halves (not below what came back), a failure halves.
        let before = s.blocks(p, 0);
        s.answered(p, before, 100, 100 * 1024, Duration::from_millis(100));
        assert_eq!(s.blocks(p, 0), before / 2);
        s.failed(p);
        assert_eq!(s.blocks(p, 0), before / 4);
        // Timeout ≈ 3× the round trip, clamped.
        assert_eq!(s.timeout(&p), TIMEOUT_MIN);
        s.answered(peer(3), 1, 1, 10, Duration::from_secs(5));
        assert_eq!(s.timeout(&peer(3)), Duration::from_secs(15));
        s.answered(peer(4), 1, 1, 10, Duration::from_secs(60));
        assert_eq!(s.timeout(&peer(4)), TIMEOUT_MAX);
    }

    #[test]
    fn the_queue_hands_out_the_highest_blocks_and_avoids_the_failing_peer() {
        let mut q = BlockQueue::default();
        for n in 1..=10u64 {
            q.push_new(SealedHeader::seal(Header {
                number: n,
                ..Header::default()
            }));
        }
        assert_eq!(q.next_span(4), Some(Span::new(7u64, 10u64)));
        let got = q.take(3, peer(1));
        let numbers: Vec<u64> = got.iter().map(|b| number_of(b).get()).collect();
        assert_eq!(numbers, vec![10, 9, 8]);
        let mut got = got.into_iter();
        let ten = got.next().unwrap();
        assert_eq!(q.requeue(ten, Some(peer(1))), 1);
        assert_eq!(q.next_avoid(), Some(peer(1)));
        // Peer 1 gets the others first; peer 2 gets block 10.
        assert_eq!(number_of(&q.take(1, peer(1))[0]).get(), 7);
        assert_eq!(number_of(&q.take(1, peer(2))[0]).get(), 10);
        assert_eq!(q.len(), 6);
        assert_eq!(q.bounds(), Some((1, 6)));
    }

    #[test]
    fn being_stuck_is_reported_after_a_while_then_every_thirty_seconds() {
        let t0 = Instant::now();
        let mut w = UnservedWatch::default();
        assert_eq!(w.due(t0), None, "not stuck");
        w.blocked(t0);
        w.blocked(t0 + Duration::from_secs(3));
        assert_eq!(w.due(t0 + Duration::from_secs(4)), None, "not yet");
        let first = t0 + UNSERVED_WARN_AFTER;
        assert_eq!(w.due(first), Some(UNSERVED_WARN_AFTER));
        assert_eq!(
            w.due(first + Duration::from_secs(29)),
            None,
            "once per 30 s"
        );
        let second = first + UNSERVED_WARN_EVERY;
        assert_eq!(w.due(second), Some(second - t0));
        // A request placed ends it; stuck again, the next WARN still keeps the 30 s pace.
        w.moving();
        assert_eq!(w.due(second + Duration::from_secs(40)), None);
        w.blocked(second + Duration::from_secs(40));
        assert_eq!(
            w.due(second + Duration::from_secs(46)),
            Some(Duration::from_secs(6))
        );
    }
}
