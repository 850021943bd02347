//! Head discovery by headers: ask peers on distinct networks for the headers from just below our
//! frontier upwards, and decide from their answers whether our chain is still theirs, how far it
//! extends, or whether it was reorganised.
//!
//! Owns [`round`] (one peer per network, one forward `GetBlockHeaders` each, decided as soon as
//! a quorum answered) and [`tally`] (the verdict). A header is accepted only when it links to what we hold (or to an
//! accepted header that does) and `quorum` distinct networks answered the same hash for it; a
//! divergence counts only when `quorum` networks disagree with a hash we hold. Status messages
//! and announced heads are never evidence here (ids are free, networks are not). It never
//! stores, fetches bodies or penalises for disagreement (a peer on the losing side of a reorg
//! is not a liar); only a malformed answer is reported.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::Duration;

use alloy_primitives::B256;
use futures::StreamExt;
use futures::stream::FuturesUnordered;

use crate::p2p::eth::{BlockHashOrNumber, GetBlockHeaders, limits::MAX_HEADERS};
use crate::p2p::pool::{Misbehaviour, PoolHandle};
use crate::p2p::rlpx::PeerId;
use crate::primitives::BlockNumber;
use crate::verify::{SealedHeader, seal_chain};

/// How long one peer has to answer a probe.
pub const ASK_TIMEOUT: Duration = Duration::from_secs(4);

/// One peer's answer: ascending, hash-linked headers starting at the number asked (possibly
/// none: the peer does not have it).
#[derive(Debug, Clone)]
pub struct Answer {
    /// Who answered.
    pub peer: PeerId,
    /// Its network (one vote per network).
    pub network: IpAddr,
    /// The headers.
    pub headers: Vec<SealedHeader>,
}

/// What a round says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// `quorum` networks hold our frontier; `extension` (possibly empty) is what a quorum agrees
    /// on above it, linked to it; `sources` are the peers whose answers hold all of it.
    Agree {
        extension: Vec<SealedHeader>,
        sources: Vec<PeerId>,
    },
    /// `quorum` networks hold another block at or below our frontier; the lowest number where
    /// one of them disagrees is `at`; `peers` are those networks' peers.
    Diverged { at: BlockNumber, peers: Vec<PeerId> },
    /// Not enough networks answered either way (peers behind, slow or few).
    Unknown,
}

/// How one answer relates to what we hold.
enum Stance<'a> {
    /// Holds our frontier; the headers above it.
    Agrees(&'a [SealedHeader]),
    /// Holds another hash at this number.
    Differs(u64),
    /// Agrees as far as it goes, but does not reach the frontier.
    Behind,
}

fn stance<'a>(
    known: &BTreeMap<u64, B256>,
    frontier: u64,
    headers: &'a [SealedHeader],
) -> Stance<'a> {
    for (i, h) in headers.iter().enumerate() {
        let n = h.number().get();
        if n > frontier {
            // Linked to the header below, which matched (or the answer starts above what we
            // hold, which `ask` never asks for).
            return if i == 0 {
                Stance::Behind
            } else {
                Stance::Agrees(&headers[i..])
            };
        }
        if let Some(ours) = known.get(&n)
            && *ours != h.hash
        {
            return Stance::Differs(n);
        }
        if n == frontier {
            return Stance::Agrees(&headers[i + 1..]);
        }
    }
    Stance::Behind
}

/// The verdict of `answers` against `known` (our hashes by number, up to `frontier`).
pub fn tally(
    known: &BTreeMap<u64, B256>,
    frontier: u64,
    answers: &[Answer],
    quorum: usize,
) -> Verdict {
    let quorum = quorum.max(1);
    // One stance per network: the first answer from it.
    let mut agree: Vec<(&Answer, &[SealedHeader])> = Vec::new();
    let mut differ: Vec<(&Answer, u64)> = Vec::new();
    let mut seen: Vec<IpAddr> = Vec::new();
    for a in answers {
        if seen.contains(&a.network) {
            continue;
        }
        match stance(known, frontier, &a.headers) {
            Stance::Agrees(above) => agree.push((a, above)),
            Stance::Differs(n) => differ.push((a, n)),
            Stance::Behind => continue,
        }
        seen.push(a.network);
    }
    if differ.len() >= quorum {
        return Verdict::Diverged {
            at: BlockNumber(differ.iter().map(|(_, n)| *n).min().unwrap_or(frontier)),
            peers: differ.iter().map(|(a, _)| a.peer).collect(),
        };
    }
    if agree.len() < quorum {
        return Verdict::Unknown;
    }
    // The longest extension a quorum agrees on: agreement on a hash at n is agreement on every
    // header below it (each links to its parent, down to our frontier).
    let mut top: Option<(usize, B256)> = None;
    for depth in 1.. {
        let mut votes: HashMap<B256, usize> = HashMap::new();
        for (_, above) in &agree {
            if let Some(h) = above.get(depth - 1) {
                *votes.entry(h.hash).or_default() += 1;
            }
        }
        match votes.into_iter().find(|(_, v)| *v >= quorum) {
            Some((hash, _)) => top = Some((depth, hash)),
            None => break,
        }
    }
    let Some((len, hash)) = top else {
        return Verdict::Agree {
            extension: Vec::new(),
            sources: agree.iter().map(|(a, _)| a.peer).collect(),
        };
    };
    // Any answer holding the agreed top holds the agreed extension below it.
    let holders: Vec<&(&Answer, &[SealedHeader])> = agree
        .iter()
        .filter(|(_, above)| above.get(len - 1).is_some_and(|h| h.hash == hash))
        .collect();
    Verdict::Agree {
        extension: holders
            .first()
            .map(|(_, above)| above[..len].to_vec())
            .unwrap_or_default(),
        sources: holders.iter().map(|(a, _)| a.peer).collect(),
    }
}

/// One round: up to `peers` usable peers, one per network, each asked for `limit` headers from
/// `start` upwards; the verdict against `known` as soon as it is decided (a slow or silent peer
/// does not hold the round up once a quorum answered), else once every answer is in. Malformed
/// answers (not consecutive from `start`, not linked) are reported as bad data and left out.
pub async fn round(
    pool: &PoolHandle,
    (start, limit, peers): (BlockNumber, u64, usize),
    known: &BTreeMap<u64, B256>,
    frontier: u64,
    quorum: usize,
) -> (Verdict, Vec<Answer>) {
    let limit = limit.clamp(1, MAX_HEADERS as u64);
    let snapshot = pool.snapshot();
    let mut networks: Vec<IpAddr> = Vec::new();
    let mut asks = FuturesUnordered::new();
    for p in snapshot.peers.iter().filter(|p| p.usable) {
        let network = pool.network_of(p.ip);
        if networks.contains(&network) || networks.len() >= peers {
            continue;
        }
        let Some(lease) = pool.lease(p.id) else {
            continue;
        };
        networks.push(network);
        asks.push(async move {
            let req = GetBlockHeaders {
                start: BlockHashOrNumber::Number(start),
                limit,
                skip: 0,
                reverse: false,
            };
            let got = tokio::time::timeout(ASK_TIMEOUT, lease.get_headers(req)).await;
            let headers = match got {
                Ok(Ok(h)) => h,
                Ok(Err(e)) => {
                    tracing::debug!(peer = %lease.id(), error = %e, "follow probe failed");
                    return None;
                }
                Err(_) => {
                    lease.report(Misbehaviour::Timeout);
                    return None;
                }
            };
            let sealed = match seal_chain(headers) {
                Ok(s) if s.first().is_none_or(|h| h.number() == start) => s,
                Ok(_) | Err(_) => {
                    tracing::warn!(peer = %lease.id(), %start, "follow probe answer is not a linked chain from the block asked; peer penalised");
                    lease.report(Misbehaviour::BadData);
                    return None;
                }
            };
            Some(Answer {
                peer: lease.id(),
                network,
                headers: sealed,
            })
        });
    }
    let mut answers = Vec::new();
    let mut verdict = Verdict::Unknown;
    while let Some(a) = asks.next().await {
        let Some(a) = a else { continue };
        answers.push(a);
        verdict = tally(known, frontier, &answers, quorum);
        if verdict != Verdict::Unknown {
            break;
        }
    }
    (verdict, answers)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::sync::follow::testing::{answer, chain, known};

    #[test]
    fn a_quorum_extends_us_as_far_as_it_agrees() {
        let main = chain(20, 0, 1, &[]);
        let ours = known(&main, 0, 10);
        let answers = [
            answer(1, &main, 8, 15),
            answer(2, &main, 8, 13),
            answer(3, &main, 8, 19),
            // Same network as peer 1: no second vote.
            Answer {
                network: IpAddr::V4(Ipv4Addr::new(127, 0, 1, 0)),
                ..answer(4, &main, 8, 19)
            },
        ];
        match tally(&ours, 10, &answers, 3) {
            Verdict::Agree { extension, sources } => {
                let numbers: Vec<u64> = extension.iter().map(|h| h.number().get()).collect();
                assert_eq!(numbers, vec![11, 12, 13]);
                assert_eq!(sources.len(), 3);
            }
            v => panic!("{v:?}"),
        }
        // Two networks are not a quorum of three.
        assert_eq!(tally(&ours, 10, &answers[..2], 3), Verdict::Unknown);
        // Up to date: everyone ends at our frontier.
        let level = [answer(1, &main, 8, 10), answer(2, &main, 8, 10)];
        assert!(matches!(
            tally(&ours, 10, &level, 2),
            Verdict::Agree { extension, .. } if extension.is_empty()
        ));
    }

    #[test]
    fn a_quorum_holding_another_block_is_a_divergence_and_peers_behind_say_nothing() {
        let main = chain(20, 0, 1, &[]);
        let fork = chain(20, 9, 2, &main);
        let ours = known(&main, 0, 10);
        let answers = [
            answer(1, &fork, 8, 14),
            answer(2, &fork, 8, 12),
            answer(3, &main, 8, 9), // behind: agrees as far as it goes
        ];
        assert_eq!(
            tally(&ours, 10, &answers, 2),
            Verdict::Diverged {
                at: BlockNumber(9),
                peers: vec![PeerId::repeat_byte(1), PeerId::repeat_byte(2)]
            }
        );
        assert_eq!(tally(&ours, 10, &answers, 3), Verdict::Unknown);
        // Competing blocks above the frontier: no quorum on either, nothing accepted.
        let other = chain(20, 11, 3, &main);
        let split = [answer(1, &main, 8, 12), answer(2, &other, 8, 12)];
        assert!(matches!(
            tally(&ours, 10, &split, 2),
            Verdict::Agree { extension, .. } if extension.is_empty()
        ));
    }
}
