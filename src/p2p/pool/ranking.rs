//! Choosing a peer for a block range: who can serve it (head, eth/69 served range, ranges it
//! answered empty before), who is free (not backing off, not saturated), and among those the
//! best by score. Pure: it reads views of the peers and returns an order; it never changes stats.

use std::cmp::Ordering;
use std::time::Instant;

use super::peer::{PeerStats, Span};
use crate::p2p::eth::BlockRange;
use crate::p2p::rlpx::PeerId;
use crate::primitives::BlockNumber;

/// How much of a range a peer can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Coverage {
    /// Nothing: its head is below the range, its eth/69 range starts above it, or it answered
    /// this range empty before.
    None,
    /// The start of the range, not its end (its head is inside the range).
    Partial,
    /// All of it.
    Full,
}

/// What ranking reads about one peer.
#[derive(Debug, Clone, Copy)]
pub struct PeerView<'a> {
    /// The peer.
    pub id: PeerId,
    /// Its resolved head (`None`: not usable yet).
    pub head: Option<BlockNumber>,
    /// Its eth/69 served range.
    pub served: Option<BlockRange>,
    /// Its stats.
    pub stats: &'a PeerStats,
    /// Requests in flight through leases.
    pub in_flight: usize,
    /// Banned (not yet gone).
    pub banned: bool,
}

/// How much of `span` the peer can serve, by what it told us and what it answered.
pub fn coverage(view: &PeerView<'_>, span: &Span) -> Coverage {
    let Some(head) = view.head else {
        return Coverage::None;
    };
    if view.banned || head < span.first || view.stats.known_unserved(span) {
        return Coverage::None;
    }
    // eth/69 (EIP-7642): bodies and receipts below `earliest` are pruned.
    if view.served.is_some_and(|r| span.first < r.earliest) {
        return Coverage::None;
    }
    if head < span.last {
        Coverage::Partial
    } else {
        Coverage::Full
    }
}

/// How much of `span`'s *headers* the peer can serve: its head only. History expiry (EIP-4444,
/// eth/69 `earliestBlock`) drops bodies and receipts, never headers, and an empty answer to a
/// body request says nothing about headers, so neither counts here.
pub fn header_coverage(view: &PeerView<'_>, span: &Span) -> Coverage {
    match view.head {
        Some(head) if !view.banned && head >= span.first => {
            if head < span.last {
                Coverage::Partial
            } else {
                Coverage::Full
            }
        }
        _ => Coverage::None,
    }
}

/// Peers able to serve (part of) `span` and free to be asked now, best first: full coverage
/// before partial, then higher score, then fewer requests in flight.
pub fn rank_for<'a>(
    views: impl IntoIterator<Item = PeerView<'a>>,
    span: &Span,
    now: Instant,
    max_in_flight: usize,
) -> Vec<PeerId> {
    rank_by(views, span, now, max_in_flight, coverage)
}

/// [`rank_for`] for a header request: coverage by [`header_coverage`].
pub fn rank_for_headers<'a>(
    views: impl IntoIterator<Item = PeerView<'a>>,
    span: &Span,
    now: Instant,
    max_in_flight: usize,
) -> Vec<PeerId> {
    rank_by(views, span, now, max_in_flight, header_coverage)
}

fn rank_by<'a>(
    views: impl IntoIterator<Item = PeerView<'a>>,
    span: &Span,
    now: Instant,
    max_in_flight: usize,
    covers: impl Fn(&PeerView<'_>, &Span) -> Coverage,
) -> Vec<PeerId> {
    let mut eligible: Vec<(Coverage, PeerView<'a>)> = views
        .into_iter()
        .filter(|v| v.in_flight < max_in_flight && !v.stats.backing_off(now))
        .map(|v| (covers(&v, span), v))
        .filter(|(c, _)| *c != Coverage::None)
        .collect();
    eligible.sort_by(|(ca, a), (cb, b)| {
        cb.cmp(ca)
            .then_with(|| {
                b.stats
                    .score()
                    .partial_cmp(&a.stats.score())
                    .unwrap_or(Ordering::Equal)
            })
            .then_with(|| a.in_flight.cmp(&b.in_flight))
    });
    eligible.into_iter().map(|(_, v)| v.id).collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use alloy_primitives::B256;

    use super::*;
    use crate::p2p::pool::config::BatchLimits;

    fn stats(latency_ms: u64) -> PeerStats {
        let l = BatchLimits::default();
        let mut s = PeerStats::new(&l);
        s.record_answer(10, 10, Duration::from_millis(latency_ms), &l);
        s
    }

    fn view(b: u8, head: u64, stats: &PeerStats) -> PeerView<'_> {
        PeerView {
            id: PeerId::repeat_byte(b),
            head: Some(BlockNumber(head)),
            served: None,
            stats,
            in_flight: 0,
            banned: false,
        }
    }

    #[test]
    fn faster_first_full_before_partial_unservable_left_out() {
        let (fast, slow, pruned, unknown) = (stats(10), stats(400), stats(1), stats(1));
        let span = Span::new(100u64, 199u64);
        let mut p = view(3, 1000, &pruned);
        p.served = Some(BlockRange {
            earliest: BlockNumber(150),
            latest: BlockNumber(1000),
            latest_hash: B256::ZERO,
        });
        let mut u = view(4, 0, &unknown);
        u.head = None;
        let views = vec![view(1, 1000, &slow), view(2, 1000, &fast), p, u];
        let order = rank_for(views.clone(), &span, Instant::now(), 2);
        assert_eq!(order, vec![PeerId::repeat_byte(2), PeerId::repeat_byte(1)]);
        // The fast peer's head is inside the range: partial, so the slow full one comes first.
        let mut short = views;
        short[1].head = Some(BlockNumber(150));
        let order = rank_for(short, &span, Instant::now(), 2);
        assert_eq!(order, vec![PeerId::repeat_byte(1), PeerId::repeat_byte(2)]);
    }

    #[test]
    fn expired_history_still_serves_headers() {
        let (pruned, emptied, low) = (stats(1), stats(400), stats(1));
        let span = Span::new(100u64, 199u64);
        // Bodies and receipts gone below 150 (eth/69), or answered empty before: not offered
        // for bodies, offered for headers. A head below the range: neither.
        let mut p = view(1, 1000, &pruned);
        p.served = Some(BlockRange {
            earliest: BlockNumber(150),
            latest: BlockNumber(1000),
            latest_hash: B256::ZERO,
        });
        let mut emptied = emptied;
        emptied.record_unserved(span);
        let views = vec![p, view(2, 1000, &emptied), view(3, 50, &low)];
        assert!(rank_for(views.clone(), &span, Instant::now(), 2).is_empty());
        assert_eq!(
            rank_for_headers(views, &span, Instant::now(), 2),
            vec![PeerId::repeat_byte(1), PeerId::repeat_byte(2)]
        );
    }

    #[test]
    fn busy_backing_off_banned_and_empty_answers_excluded() {
        let l = BatchLimits::default();
        let span = Span::new(10u64, 20u64);
        let ok = stats(10);
        let mut resting = stats(10);
        resting.record_failure(Instant::now(), |_| Duration::from_secs(60), &l);
        let mut empty = stats(10);
        empty.record_unserved(Span::new(0u64, 15u64));
        let mut busy = view(1, 100, &ok);
        busy.in_flight = 2;
        let mut banned = view(5, 100, &ok);
        banned.banned = true;
        let views = vec![
            busy,
            view(2, 100, &resting),
            view(3, 100, &empty),
            banned,
            view(4, 100, &ok),
        ];
        assert_eq!(
            rank_for(views, &span, Instant::now(), 2),
            vec![PeerId::repeat_byte(4)]
        );
    }
}
