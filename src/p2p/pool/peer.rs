//! Per-peer quality: latency and success (EWMA), the adaptive batch size, failure backoff, and
//! the block ranges a peer showed it cannot serve. Pure bookkeeping over values the pool feeds in;
//! it must never do I/O or decide bans (that is [`super::bans`]).

use std::time::{Duration, Instant};

use super::config::BatchLimits;
use crate::primitives::BlockNumber;

/// Weight of the newest sample in the moving averages.
const ALPHA: f64 = 0.25;
/// Latency assumed for a peer never measured: neither favoured nor punished much.
const PRIOR_LATENCY_MS: f64 = 500.0;
/// Ranges remembered as unserved per peer (oldest forgotten first).
const MAX_UNSERVED: usize = 32;

/// An inclusive block range `first ..= last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Span {
    /// First block.
    pub first: BlockNumber,
    /// Last block (inclusive).
    pub last: BlockNumber,
}

impl Span {
    /// `first ..= last` (swapped if given backwards).
    pub fn new(first: impl Into<BlockNumber>, last: impl Into<BlockNumber>) -> Self {
        let (a, b) = (first.into(), last.into());
        if a <= b {
            Self { first: a, last: b }
        } else {
            Self { first: b, last: a }
        }
    }

    /// The `count` blocks ending at `top` (at least one; fewer when `top` is lower than
    /// `count - 1`). Written as `top - (count - 1)` so a range ending at `u64::MAX` is not an
    /// overflow.
    pub fn ending_at(top: BlockNumber, count: u64) -> Self {
        let first = top.get().saturating_sub(count.saturating_sub(1));
        Self::new(first, top)
    }

    /// Whether the two ranges share a block.
    pub fn overlaps(&self, other: &Span) -> bool {
        self.first <= other.last && other.first <= self.last
    }

    /// Blocks in the range.
    pub fn len(&self) -> u64 {
        self.first.blocks_through(self.last)
    }

    /// Never true (a span holds at least one block); for clippy's `len` convention.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// What the pool has measured about one peer during this session.
#[derive(Debug, Clone)]
pub struct PeerStats {
    latency_ms: Option<f64>,
    success: f64,
    successes: u64,
    failures: u64,
    consecutive_failures: u32,
    batch: usize,
    backoff_until: Option<Instant>,
    unserved: Vec<Span>,
}

/// A copy of the numbers for snapshots and logs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quality {
    /// Ranking score: higher is better (see [`PeerStats::score`]).
    pub score: f64,
    /// Smoothed answer latency, if measured.
    pub latency_ms: Option<f64>,
    /// Smoothed success ratio in `0..=1`.
    pub success: f64,
    /// Answers counted as successes.
    pub successes: u64,
    /// Failures (timeouts, bad data, breaches).
    pub failures: u64,
    /// Current adaptive batch size.
    pub batch: usize,
}

impl PeerStats {
    /// A peer we know nothing about yet.
    pub fn new(limits: &BatchLimits) -> Self {
        Self {
            latency_ms: None,
            success: 1.0,
            successes: 0,
            failures: 0,
            consecutive_failures: 0,
            batch: limits.initial.clamp(limits.min, limits.max),
            backoff_until: None,
            unserved: Vec::new(),
        }
    }

    /// A peer we met before: its batch starts where the last run left it (within limits).
    pub fn with_batch(limits: &BatchLimits, learned: usize) -> Self {
        let mut s = Self::new(limits);
        if learned > 0 {
            s.batch = learned.clamp(limits.min, limits.max);
        }
        s
    }

    fn ewma(old: f64, sample: f64) -> f64 {
        old + ALPHA * (sample - old)
    }

    /// An answer with `got` of `asked` items after `latency`. Complete fast answers grow the
    /// batch by half; partial answers bring it down towards what the peer delivered.
    pub fn record_answer(
        &mut self,
        asked: usize,
        got: usize,
        latency: Duration,
        limits: &BatchLimits,
    ) {
        let ms = latency.as_secs_f64() * 1000.0;
        self.latency_ms = Some(match self.latency_ms {
            Some(old) => Self::ewma(old, ms),
            None => ms,
        });
        self.success = Self::ewma(self.success, 1.0);
        self.successes += 1;
        self.consecutive_failures = 0;
        self.backoff_until = None;
        if got >= asked && asked >= self.batch && latency <= limits.fast {
            self.batch = (self.batch + self.batch / 2).max(self.batch + 1);
        } else if got < asked && got > 0 {
            // A short answer is the peer's size cap, or just the end of its chain: move
            // towards it, at most halving per answer, so one answer at the tip cannot collapse it.
            self.batch = got.max(self.batch / 2);
        }
        self.batch = self.batch.clamp(limits.min, limits.max);
    }

    /// A failed request (timeout, bad data, breach): halves the batch, lowers the success
    /// average and backs the peer off for `backoff` (computed by the caller from the count).
    pub fn record_failure(
        &mut self,
        now: Instant,
        backoff: impl Fn(u32) -> Duration,
        limits: &BatchLimits,
    ) {
        self.success = Self::ewma(self.success, 0.0);
        self.failures += 1;
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.batch = (self.batch / 2).clamp(limits.min, limits.max);
        self.backoff_until = Some(now + backoff(self.consecutive_failures));
    }

    /// The peer answered `span` with nothing: it is not asked for that range again.
    pub fn record_unserved(&mut self, span: Span) {
        if self
            .unserved
            .iter()
            .any(|s| s.first <= span.first && span.last <= s.last)
        {
            return;
        }
        if self.unserved.len() >= MAX_UNSERVED {
            self.unserved.remove(0);
        }
        self.unserved.push(span);
    }

    /// Whether an empty answer was recorded for a range overlapping `span`.
    pub fn known_unserved(&self, span: &Span) -> bool {
        self.unserved.iter().any(|s| s.overlaps(span))
    }

    /// Whether the peer is resting after failures at `now`.
    pub fn backing_off(&self, now: Instant) -> bool {
        self.backoff_until.is_some_and(|t| now < t)
    }

    /// Consecutive failures since the last success.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// Current adaptive batch size.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Higher is better: success ratio divided by latency in seconds plus a constant, so a
    /// peer answering in 50 ms outranks one answering in 500 ms at equal reliability, and an
    /// unreliable fast peer falls behind a reliable slower one.
    pub fn score(&self) -> f64 {
        let latency_s = self.latency_ms.unwrap_or(PRIOR_LATENCY_MS) / 1000.0;
        1000.0 * self.success / (0.1 + latency_s)
    }

    /// The numbers, for snapshots.
    pub fn quality(&self) -> Quality {
        Quality {
            score: self.score(),
            latency_ms: self.latency_ms,
            success: self.success,
            successes: self.successes,
            failures: self.failures,
            batch: self.batch,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> BatchLimits {
        BatchLimits {
            initial: 64,
            min: 8,
            max: 1024,
            fast: Duration::from_secs(1),
        }
    }

    #[test]
    fn a_span_ending_at_a_block_holds_count_blocks_and_never_overflows() {
        let s = Span::ending_at(BlockNumber(2047), 1024);
        assert_eq!(
            (s.first, s.last, s.len()),
            (BlockNumber(1024), BlockNumber(2047), 1024)
        );
        let s = Span::ending_at(BlockNumber(u64::MAX), 1024);
        assert_eq!((s.first.get(), s.last.get()), (u64::MAX - 1023, u64::MAX));
        // Fewer blocks below `top` than asked for, or a count of zero: what exists, at least one.
        assert_eq!(Span::ending_at(BlockNumber(5), 1024).first, BlockNumber(0));
        assert_eq!(Span::ending_at(BlockNumber(5), 0).len(), 1);
    }

    #[test]
    fn fast_full_answers_grow_the_batch_partial_and_timeouts_shrink_it() {
        let l = limits();
        let mut s = PeerStats::new(&l);
        s.record_answer(64, 64, Duration::from_millis(10), &l);
        assert_eq!(s.batch(), 96);
        for _ in 0..20 {
            let b = s.batch();
            s.record_answer(b, b, Duration::from_millis(10), &l);
        }
        assert_eq!(s.batch(), 1024);
        s.record_answer(1024, 300, Duration::from_millis(10), &l);
        assert_eq!(s.batch(), 512);
        s.record_answer(512, 300, Duration::from_millis(10), &l);
        assert_eq!(s.batch(), 300);
        // Slow but complete: no growth.
        s.record_answer(300, 300, Duration::from_secs(3), &l);
        assert_eq!(s.batch(), 300);
        let now = Instant::now();
        s.record_failure(now, |_| Duration::from_secs(5), &l);
        assert_eq!(s.batch(), 150);
        assert!(s.backing_off(now));
        assert!(!s.backing_off(now + Duration::from_secs(6)));
        for _ in 0..10 {
            s.record_failure(now, |_| Duration::ZERO, &l);
        }
        assert_eq!(s.batch(), 8);
    }

    #[test]
    fn fast_reliable_peers_score_higher() {
        let l = limits();
        let mut fast = PeerStats::new(&l);
        let mut slow = PeerStats::new(&l);
        for _ in 0..5 {
            fast.record_answer(10, 10, Duration::from_millis(20), &l);
            slow.record_answer(10, 10, Duration::from_millis(400), &l);
        }
        assert!(fast.score() > slow.score());
        let mut flaky = fast.clone();
        for _ in 0..5 {
            flaky.record_failure(Instant::now(), |_| Duration::ZERO, &l);
        }
        assert!(flaky.score() < slow.score());
    }

    #[test]
    fn unserved_ranges_are_remembered() {
        let mut s = PeerStats::new(&limits());
        s.record_unserved(Span::new(100u64, 199u64));
        assert!(s.known_unserved(&Span::new(150u64, 160u64)));
        assert!(s.known_unserved(&Span::new(0u64, 100u64)));
        assert!(!s.known_unserved(&Span::new(200u64, 300u64)));
    }
}
