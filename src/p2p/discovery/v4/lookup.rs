//! The iterative Kademlia lookup of `discv4.md`: ask the `ALPHA` closest not-yet-asked nodes for
//! their neighbours of the target, merge what they return into the `k` closest seen, and stop when
//! all of those have been asked.
//!
//! Owns the algorithm only; how a node is asked (bonding, packets, timeouts) is the `query`
//! function's job, so the walk can be tested without sockets. The number of queries is bounded by
//! [`MAX_QUERIES`] whatever remote nodes answer.

use std::{collections::HashSet, future::Future};

use alloy_primitives::B256;
use futures::future::join_all;

use super::table::{BUCKET_SIZE, id_hash, xor_distance};
use crate::p2p::discovery::node_record::{NodeRecord, PeerId};

/// Concurrent queries per round (`discv4.md` suggests 3).
pub const ALPHA: usize = 3;
/// Upper bound on the queries one lookup sends, so that a hostile network cannot keep it going.
pub const MAX_QUERIES: usize = 48;

struct Candidate {
    distance: B256,
    record: NodeRecord,
    queried: bool,
}

/// Runs a lookup for `target` starting from `seeds`; returns the closest nodes that answered or
/// were not yet asked (at most `BUCKET_SIZE`), closest first. `local` is never queried or returned.
pub async fn lookup<F, Fut, E>(
    target: PeerId,
    local: PeerId,
    seeds: Vec<NodeRecord>,
    query: F,
) -> Vec<NodeRecord>
where
    F: Fn(NodeRecord) -> Fut,
    Fut: Future<Output = Result<Vec<NodeRecord>, E>>,
{
    let target_hash = id_hash(&target);
    let mut closest: Vec<Candidate> = Vec::new();
    let mut seen: HashSet<PeerId> = HashSet::new();
    let mut add = |closest: &mut Vec<Candidate>, record: NodeRecord| {
        if record.id == local || !seen.insert(record.id) {
            return;
        }
        let distance = xor_distance(&id_hash(&record.id), &target_hash);
        let pos = closest.partition_point(|c| c.distance < distance);
        if pos < BUCKET_SIZE {
            closest.insert(
                pos,
                Candidate {
                    distance,
                    record,
                    queried: false,
                },
            );
            closest.truncate(BUCKET_SIZE);
        }
    };
    for s in seeds {
        add(&mut closest, s);
    }

    let mut queries = 0;
    while queries < MAX_QUERIES {
        let batch: Vec<NodeRecord> = closest
            .iter_mut()
            .filter(|c| !c.queried)
            .take(ALPHA.min(MAX_QUERIES - queries))
            .map(|c| {
                c.queried = true;
                c.record
            })
            .collect();
        if batch.is_empty() {
            break;
        }
        queries += batch.len();
        let answers = join_all(batch.iter().map(|n| query(*n))).await;
        for (node, answer) in batch.iter().zip(answers) {
            match answer {
                Ok(found) => {
                    for f in found {
                        add(&mut closest, f);
                    }
                }
                // "Nodes that fail to respond quickly are removed from consideration."
                Err(_) => closest.retain(|c| c.record.id != node.id),
            }
        }
    }
    closest.into_iter().map(|c| c.record).collect()
}

#[cfg(test)]
mod tests {
    use std::{collections::HashMap, net::Ipv4Addr};

    use super::*;

    fn rec(i: u64) -> NodeRecord {
        let mut id = [0u8; 64];
        id[..8].copy_from_slice(&i.to_be_bytes());
        NodeRecord::new(PeerId::from(id), Ipv4Addr::LOCALHOST.into(), 1)
    }

    #[tokio::test]
    async fn walks_a_chain_to_the_target_and_drops_silent_nodes() {
        // Node i knows only node i+1; node 5 is silent. Node 9 is the target.
        let knows: HashMap<PeerId, Vec<NodeRecord>> = (1..=9)
            .map(|i| {
                (
                    rec(i).id,
                    if i < 9 {
                        vec![rec(i + 1), rec(100 + i)]
                    } else {
                        vec![]
                    },
                )
            })
            .collect();
        let silent = rec(105).id;
        let found = lookup(rec(9).id, rec(0).id, vec![rec(1)], |n| {
            let answer = knows.get(&n.id).cloned();
            async move {
                match answer {
                    Some(a) if n.id != silent => Ok(a),
                    _ => Err(()),
                }
            }
        })
        .await;
        assert_eq!(found.first(), Some(&rec(9)), "target found first");
        assert!(!found.iter().any(|r| r.id == silent));
    }

    #[tokio::test]
    async fn query_count_is_bounded_against_endless_new_nodes() {
        let asked = std::sync::atomic::AtomicUsize::new(0);
        let counter = std::sync::atomic::AtomicU64::new(1000);
        lookup(rec(1).id, rec(0).id, vec![rec(2)], |_| {
            asked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let base = counter.fetch_add(16, std::sync::atomic::Ordering::Relaxed);
            async move { Ok::<_, ()>((base..base + 16).map(rec).collect()) }
        })
        .await;
        assert!(asked.into_inner() <= MAX_QUERIES);
    }
}
