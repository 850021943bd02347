//! The common ancestor of our chain and the peers' after a divergence: the highest block both
//! hold, searched only as deep as a rollback may go.
//!
//! Owns [`ancestor_in`] (one answer against our hashes) and [`search`] (ask the diverging peers
//! for the headers from the deepest block a rollback may keep up to our frontier, and take the
//! result `quorum` networks agree on). It never rolls back: the follow run does, with what this
//! returns.

use std::collections::{BTreeMap, HashMap};

use alloy_primitives::B256;
use futures::future::join_all;

use super::probe::{ASK_TIMEOUT, Answer};
use crate::p2p::eth::{BlockHashOrNumber, GetBlockHeaders};
use crate::p2p::pool::PoolHandle;
use crate::p2p::rlpx::PeerId;
use crate::primitives::BlockNumber;
use crate::verify::seal_chain;

/// Where our chain and one peer's part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fork {
    /// Both hold this block; the peer's next one differs from ours.
    At(u64),
    /// The peer's header at the lowest number searched already differs from ours: the fork is
    /// deeper than the search (deeper than a rollback may go).
    Deeper,
}

/// Where `headers` (ascending, linked, from `lo`) leave `known`. `None`: the answer says nothing
/// (empty, starting elsewhere, or agreeing with every hash of ours it covers).
pub fn ancestor_in(
    known: &BTreeMap<u64, B256>,
    lo: u64,
    headers: &[SealedHeaderRef<'_>],
) -> Option<Fork> {
    if headers.first()?.0 != lo {
        return None;
    }
    let differs = headers
        .iter()
        .any(|(n, h)| known.get(n).is_some_and(|ours| ours != *h));
    if !differs {
        return None;
    }
    // Linked headers: if the peer holds our hash at n, it holds ours at every number below.
    match headers.iter().rev().find(|(n, h)| known.get(n) == Some(*h)) {
        Some((n, _)) => Some(Fork::At(*n)),
        None => Some(Fork::Deeper),
    }
}

/// A header as `(number, hash)`.
pub type SealedHeaderRef<'a> = (u64, &'a B256);

/// Asks `peers` (one per network, as the probe chose them) for the headers `lo ..= frontier` and
/// returns the fork point `quorum` of them agree on (`None`: no quorum yet; ask again later).
pub async fn search(
    pool: &PoolHandle,
    peers: &[PeerId],
    known: &BTreeMap<u64, B256>,
    lo: u64,
    frontier: u64,
    quorum: usize,
) -> Option<Fork> {
    let limit = frontier.saturating_sub(lo) + 1;
    let asks = peers.iter().filter_map(|&peer| {
        let lease = pool.lease(peer)?;
        let network = pool.snapshot().peer(&peer).map(|p| pool.network_of(p.ip))?;
        Some(async move {
            let req = GetBlockHeaders {
                start: BlockHashOrNumber::Number(BlockNumber(lo)),
                limit,
                skip: 0,
                reverse: false,
            };
            let got = tokio::time::timeout(ASK_TIMEOUT, lease.get_headers(req)).await;
            let headers = seal_chain(got.ok()?.ok()?).ok()?;
            Some(Answer {
                peer,
                network,
                headers,
            })
        })
    });
    let answers: Vec<Answer> = join_all(asks).await.into_iter().flatten().collect();
    decide(known, lo, &answers, quorum)
}

/// The fork point `quorum` distinct networks' answers agree on.
pub fn decide(
    known: &BTreeMap<u64, B256>,
    lo: u64,
    answers: &[Answer],
    quorum: usize,
) -> Option<Fork> {
    let mut votes: HashMap<Fork, Vec<std::net::IpAddr>> = HashMap::new();
    for a in answers {
        let pairs: Vec<SealedHeaderRef<'_>> = a
            .headers
            .iter()
            .map(|h| (h.number().get(), &h.hash))
            .collect();
        if let Some(fork) = ancestor_in(known, lo, &pairs) {
            let networks = votes.entry(fork).or_default();
            if !networks.contains(&a.network) {
                networks.push(a.network);
            }
        }
    }
    votes
        .into_iter()
        .filter(|(_, n)| n.len() >= quorum.max(1))
        .max_by_key(|(_, n)| n.len())
        .map(|(f, _)| f)
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::sync::follow::testing::{answer, chain, known};

    #[test]
    fn finds_the_highest_shared_block_and_refuses_what_is_deeper() {
        let main = chain(40, 0, 1, &[]);
        // Our tip is 30, the window 8: we search 22 ..= 30.
        let ours = known(&main, 22, 30);
        for depth in [1u64, 3, 8] {
            let fork = chain(40, 31 - depth, 2, &main);
            let answers = [answer(1, &fork, 22, 33), answer(2, &fork, 22, 35)];
            assert_eq!(
                decide(&ours, 22, &answers, 2),
                Some(Fork::At(30 - depth)),
                "depth {depth}"
            );
        }
        // Depth 9: even block 22 differs.
        let deep = chain(40, 22, 2, &main);
        let answers = [answer(1, &deep, 22, 33), answer(2, &deep, 22, 35)];
        assert_eq!(decide(&ours, 22, &answers, 2), Some(Fork::Deeper));
    }

    #[test]
    fn one_network_is_not_a_quorum_and_an_agreeing_answer_says_nothing() {
        let main = chain(40, 0, 1, &[]);
        let ours = known(&main, 22, 30);
        let fork = chain(40, 28, 2, &main);
        let liar = chain(40, 22, 3, &main);
        let answers = [
            answer(1, &fork, 22, 31),
            answer(2, &liar, 22, 31),
            answer(3, &main, 22, 30),
        ];
        assert_eq!(decide(&ours, 22, &answers, 2), None);
        // The same network twice is one vote.
        let twice = [
            answer(1, &fork, 22, 31),
            Answer {
                network: IpAddr::V4(Ipv4Addr::new(127, 0, 1, 0)),
                ..answer(4, &fork, 22, 31)
            },
        ];
        assert_eq!(decide(&ours, 22, &twice, 2), None);
        assert_eq!(decide(&ours, 22, &twice, 1), Some(Fork::At(27)));
        // An answer starting elsewhere says nothing.
        assert_eq!(decide(&ours, 22, &[answer(1, &fork, 23, 31)], 1), None);
    }
}
