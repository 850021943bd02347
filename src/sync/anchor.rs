//! The anchor: the trusted hash of the top block being synced, from which every header is
//! authenticated top-down.
//!
//! Owns where that hash comes from, in order: a checkpoint (the operator's `sync.anchor`, then
//! the chain spec's) at the block itself or above it (then the headers from the checkpoint down
//! to the block are fetched and linked), else a quorum: `quorum` peers on distinct networks (one
//! vote per IPv4 /24 or IPv6 /48, the pool's rule, since node ids cost nothing) answering
//! `GetBlockHeaders(N)` with the same hash. Without an anchor it waits, asks again every second
//! and says why at INFO about every 10 s; it never returns an unanchored hash. Peers whose answer
//! disagrees with an agreed anchor are reported as bad data. It never stores anything.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use alloy_primitives::B256;
use futures::future::join_all;
use tokio_util::sync::CancellationToken;

use super::headers::check_window;
use crate::p2p::eth::{BlockHashOrNumber, GetBlockHeaders};
use crate::p2p::pool::{Misbehaviour, PoolHandle, Span};
use crate::p2p::rlpx::PeerId;
use crate::primitives::{BlockNumber, Checkpoint};
use crate::verify::{SealedHeader, check_hash};

/// How long one peer has to answer an anchor question.
const ASK_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause between rounds while no anchor is agreed.
const ROUND_PAUSE: Duration = Duration::from_secs(1);
/// How often the wait is explained at INFO.
const WAIT_LOG_EVERY: Duration = Duration::from_secs(10);

/// Where an anchor came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnchorSource {
    /// A checkpoint at or above the block.
    Checkpoint(Checkpoint),
    /// Peers on this many distinct networks agreed.
    Quorum { networks: usize },
    /// The block is stored: it was anchored when stored (or proven from era1 against the
    /// pre-merge accumulator), so no peer is asked again.
    Stored,
}

/// The trusted hash of block `number`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchor {
    /// The block.
    pub number: BlockNumber,
    /// Its hash.
    pub hash: B256,
    /// Why it is trusted.
    pub source: AnchorSource,
}

/// One peer's answer: the hash of block N it sent, from which network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vote {
    /// Who answered.
    pub peer: PeerId,
    /// Its network (address with the host part zeroed).
    pub network: IpAddr,
    /// The hash of the header it sent for block N.
    pub hash: B256,
}

/// The tally of one round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tally {
    /// One hash has `quorum` networks (and no other has as many).
    Agreed { hash: B256, networks: usize },
    /// Not yet: the most networks any one hash has, and how many distinct hashes were seen.
    Waiting { best: usize, hashes: usize },
}

/// Counts distinct networks per hash; a network counts once per hash, however many identities
/// it has. Two hashes both reaching the quorum is no agreement.
pub fn tally(votes: &[Vote], quorum: usize) -> Tally {
    let mut by_hash: HashMap<B256, HashSet<IpAddr>> = HashMap::new();
    for v in votes {
        by_hash.entry(v.hash).or_default().insert(v.network);
    }
    let mut counts: Vec<(usize, B256)> = by_hash.iter().map(|(h, n)| (n.len(), *h)).collect();
    counts.sort_by_key(|c| std::cmp::Reverse(c.0));
    let best = counts.first().map_or(0, |c| c.0);
    let contested = counts.get(1).is_some_and(|c| c.0 >= quorum.max(1));
    match counts.first() {
        Some(&(networks, hash)) if networks >= quorum.max(1) && !contested => {
            Tally::Agreed { hash, networks }
        }
        _ => Tally::Waiting {
            best,
            hashes: counts.len(),
        },
    }
}

/// Resolves the anchor of `number` (see the module doc); `None` only if cancelled first.
pub async fn resolve(
    pool: &PoolHandle,
    number: BlockNumber,
    checkpoints: &[Checkpoint],
    quorum: usize,
    cancel: &CancellationToken,
) -> Option<Anchor> {
    if let Some(c) = checkpoints.iter().find(|c| c.number == number) {
        return Some(Anchor {
            number,
            hash: c.hash,
            source: AnchorSource::Checkpoint(*c),
        });
    }
    if let Some(c) = checkpoints
        .iter()
        .filter(|c| c.number > number)
        .min_by_key(|c| c.number)
    {
        let hash = derive_down(pool, *c, number, cancel).await?;
        return Some(Anchor {
            number,
            hash,
            source: AnchorSource::Checkpoint(*c),
        });
    }
    let mut last_log: Option<Instant> = None;
    loop {
        let votes = ask_round(pool, number).await;
        match tally(&votes, quorum) {
            Tally::Agreed { hash, networks } => {
                for v in votes.iter().filter(|v| v.hash != hash) {
                    tracing::warn!(peer = %v.peer, block = %number, got = %v.hash, agreed = %hash, "peer answered a block hash the quorum disagrees with");
                    pool.report(v.peer, Misbehaviour::BadData);
                }
                tracing::info!(block = %number, %hash, networks, quorum, "anchor agreed by peers on distinct networks");
                return Some(Anchor {
                    number,
                    hash,
                    source: AnchorSource::Quorum { networks },
                });
            }
            Tally::Waiting { best, hashes } => {
                if last_log.is_none_or(|t| t.elapsed() >= WAIT_LOG_EVERY) {
                    last_log = Some(Instant::now());
                    let networks: HashSet<IpAddr> = votes.iter().map(|v| v.network).collect();
                    tracing::info!(
                        block = %number,
                        quorum,
                        agreeing_networks = best,
                        answering_networks = networks.len(),
                        peers_answering = votes.len(),
                        distinct_hashes = hashes,
                        "waiting for an anchor: {best} of the {quorum} distinct networks needed agree on the hash of block {number} (pin one with --anchor N:0xHASH)"
                    );
                }
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => return None,
            _ = tokio::time::sleep(ROUND_PAUSE) => {}
        }
    }
}

/// Asks every usable peer for the header of `number`; the answers that are that header.
async fn ask_round(pool: &PoolHandle, number: BlockNumber) -> Vec<Vote> {
    let snapshot = pool.snapshot();
    let asks = snapshot
        .peers
        .iter()
        .filter(|p| p.usable && p.head.is_some_and(|h| h.number >= number))
        .filter_map(|p| {
            let lease = pool.lease(p.id)?;
            let network = pool.network_of(p.ip);
            Some(async move {
                let req = GetBlockHeaders {
                    start: BlockHashOrNumber::Number(number),
                    limit: 1,
                    skip: 0,
                    reverse: false,
                };
                let answer = tokio::time::timeout(ASK_TIMEOUT, lease.get_headers(req)).await;
                let header = answer.ok()?.ok()?.into_iter().next()?;
                let sealed = SealedHeader::seal(header);
                (sealed.number() == number).then_some(Vote {
                    peer: lease.id(),
                    network,
                    hash: sealed.hash,
                })
            })
        });
    join_all(asks).await.into_iter().flatten().collect()
}

/// The hash of `number` from checkpoint `c` above it: headers from `c` down, linked.
async fn derive_down(
    pool: &PoolHandle,
    c: Checkpoint,
    number: BlockNumber,
    cancel: &CancellationToken,
) -> Option<B256> {
    let (mut top, mut expect) = (c.number, c.hash);
    let mut avoid: Option<PeerId> = None;
    loop {
        let count = (top.get() - number.get() + 1).min(1024);
        let span = Span::ending_at(top, count);
        let leases = pool.ranked_for_headers(span, 4);
        let lease = leases
            .into_iter()
            .find(|l| Some(l.id()) != avoid)
            .or_else(|| pool.ranked_for_headers(span, 1).into_iter().next());
        if let Some(lease) = lease {
            let req = GetBlockHeaders {
                start: BlockHashOrNumber::Number(top),
                limit: count,
                skip: 0,
                reverse: true,
            };
            let answer = tokio::time::timeout(ASK_TIMEOUT, lease.get_headers(req)).await;
            let checked = match answer {
                Ok(Ok(headers)) => check_window(top, count, headers).ok(),
                _ => None,
            };
            match checked {
                Some(headers) if !headers.is_empty() => {
                    if check_hash(&headers[0], expect).is_err() {
                        lease.report(Misbehaviour::BadData);
                        avoid = Some(lease.id());
                    } else {
                        if let Some(h) = headers.iter().find(|h| h.number() == number) {
                            return Some(h.hash);
                        }
                        let last = &headers[headers.len() - 1];
                        expect = last.header.parent_hash;
                        top = last.number().prev()?;
                        continue;
                    }
                }
                _ => avoid = Some(lease.id()),
            }
        } else {
            tracing::info!(checkpoint = %c, block = %number, "waiting for a peer serving the headers below the checkpoint");
        }
        tokio::select! {
            _ = cancel.cancelled() => return None,
            _ = tokio::time::sleep(ROUND_PAUSE) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn vote(peer: u8, net: [u8; 4], hash: u8) -> Vote {
        Vote {
            peer: PeerId::repeat_byte(peer),
            network: IpAddr::V4(Ipv4Addr::from(net)),
            hash: B256::repeat_byte(hash),
        }
    }

    #[test]
    fn quorum_counts_networks_not_identities() {
        // Five identities on one network: one vote.
        let cheap: Vec<Vote> = (0..5).map(|i| vote(i, [10, 0, 0, 0], 0xfa)).collect();
        assert_eq!(tally(&cheap, 3), Tally::Waiting { best: 1, hashes: 1 });
        // Three honest networks beside them: agreed on the honest hash.
        let mut all = cheap.clone();
        all.extend([
            vote(10, [10, 0, 1, 0], 1),
            vote(11, [10, 0, 2, 0], 1),
            vote(12, [10, 0, 3, 0], 1),
        ]);
        assert_eq!(
            tally(&all, 3),
            Tally::Agreed {
                hash: B256::repeat_byte(1),
                networks: 3
            }
        );
        // Two only: wait.
        assert_eq!(tally(&all[..7], 3), Tally::Waiting { best: 2, hashes: 2 });
        // Two hashes each with a quorum: no agreement.
        let mut split = all.clone();
        split.extend([
            vote(20, [10, 0, 4, 0], 2),
            vote(21, [10, 0, 5, 0], 2),
            vote(22, [10, 0, 6, 0], 2),
        ]);
        assert!(matches!(tally(&split, 3), Tally::Waiting { .. }));
        assert!(matches!(tally(&[], 1), Tally::Waiting { best: 0, .. }));
    }
}
