//! The Kademlia routing table of discv4: 256 buckets of at most 16 nodes, bucket `i` holding the
//! nodes whose log-distance from us is `i + 1`, where distance is `keccak256(id) XOR
//! keccak256(our id)`. Within a bucket, least recently seen first.
//!
//! Owns only the data structure: it never sends anything. Deciding whether a full bucket's oldest
//! node is still alive (ping it, then [`RoutingTable::remove`] it) is the service's job.

use std::collections::VecDeque;

use alloy_primitives::{B256, keccak256};

use crate::p2p::discovery::node_record::{NodeRecord, PeerId};

/// `discv4.md`: k = 16.
pub const BUCKET_SIZE: usize = 16;
/// One bucket per possible log-distance 1..=256.
pub const NUM_BUCKETS: usize = 256;

/// The hash distance is computed on.
pub fn id_hash(id: &PeerId) -> B256 {
    keccak256(id)
}

/// `floor(log2(a XOR b)) + 1`, or `None` when `a == b`.
pub fn log_distance(a: &B256, b: &B256) -> Option<usize> {
    for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
        let d = x ^ y;
        if d != 0 {
            return Some((32 - i) * 8 - d.leading_zeros() as usize);
        }
    }
    None
}

/// `a XOR b`, compared as a big-endian number.
pub fn xor_distance(a: &B256, b: &B256) -> B256 {
    *a ^ *b
}

/// What [`RoutingTable::insert`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertOutcome {
    /// The node was new and had room.
    Inserted,
    /// The node was known: its record was updated and it moved to most recently seen.
    Refreshed,
    /// The bucket is full; `oldest` should be pinged and removed if it does not answer.
    BucketFull {
        /// The least recently seen node of that bucket.
        oldest: NodeRecord,
    },
    /// Our own id: never stored.
    IsSelf,
}

#[derive(Debug, Clone)]
struct Entry {
    record: NodeRecord,
    hash: B256,
}

/// The table. Holds at most `NUM_BUCKETS * BUCKET_SIZE` nodes.
#[derive(Debug, Clone)]
pub struct RoutingTable {
    local_id: PeerId,
    local_hash: B256,
    buckets: Vec<VecDeque<Entry>>,
}

impl RoutingTable {
    /// An empty table for the node `local_id`.
    pub fn new(local_id: PeerId) -> Self {
        Self {
            local_id,
            local_hash: id_hash(&local_id),
            buckets: (0..NUM_BUCKETS).map(|_| VecDeque::new()).collect(),
        }
    }

    /// Our id.
    pub fn local_id(&self) -> PeerId {
        self.local_id
    }

    fn bucket_of(&self, hash: &B256) -> Option<usize> {
        log_distance(&self.local_hash, hash).map(|d| d - 1)
    }

    /// Adds `record` or marks it seen now.
    pub fn insert(&mut self, record: NodeRecord) -> InsertOutcome {
        let hash = id_hash(&record.id);
        let Some(b) = self.bucket_of(&hash) else {
            return InsertOutcome::IsSelf;
        };
        let bucket = &mut self.buckets[b];
        if let Some(pos) = bucket.iter().position(|e| e.record.id == record.id) {
            bucket.remove(pos);
            bucket.push_back(Entry { record, hash });
            return InsertOutcome::Refreshed;
        }
        if bucket.len() >= BUCKET_SIZE {
            let oldest = bucket.front().map(|e| e.record);
            return match oldest {
                Some(oldest) => InsertOutcome::BucketFull { oldest },
                None => InsertOutcome::Inserted,
            };
        }
        bucket.push_back(Entry { record, hash });
        InsertOutcome::Inserted
    }

    /// Removes a node; true when it was there.
    pub fn remove(&mut self, id: &PeerId) -> bool {
        let hash = id_hash(id);
        let Some(b) = self.bucket_of(&hash) else {
            return false;
        };
        let bucket = &mut self.buckets[b];
        match bucket.iter().position(|e| e.record.id == *id) {
            Some(pos) => {
                bucket.remove(pos);
                true
            }
            None => false,
        }
    }

    /// The stored record of `id`.
    pub fn get(&self, id: &PeerId) -> Option<NodeRecord> {
        let b = self.bucket_of(&id_hash(id))?;
        self.buckets[b]
            .iter()
            .find(|e| e.record.id == *id)
            .map(|e| e.record)
    }

    /// Number of nodes stored.
    pub fn len(&self) -> usize {
        self.buckets.iter().map(VecDeque::len).sum()
    }

    /// True when no node is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every stored node.
    pub fn nodes(&self) -> Vec<NodeRecord> {
        self.buckets
            .iter()
            .flat_map(|b| b.iter().map(|e| e.record))
            .collect()
    }

    /// The `n` stored nodes closest to `target`, closest first.
    pub fn closest(&self, target: &PeerId, n: usize) -> Vec<NodeRecord> {
        let t = id_hash(target);
        let mut all: Vec<(B256, NodeRecord)> = self
            .buckets
            .iter()
            .flat_map(|b| b.iter().map(|e| (xor_distance(&e.hash, &t), e.record)))
            .collect();
        all.sort_by_key(|e| e.0);
        all.into_iter().take(n).map(|(_, r)| r).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn rec(i: u64) -> NodeRecord {
        let mut id = [0u8; 64];
        id[..8].copy_from_slice(&i.to_be_bytes());
        NodeRecord::new(PeerId::from(id), Ipv4Addr::LOCALHOST.into(), 30303)
    }

    #[test]
    fn log_distance_is_bit_length_of_xor() {
        let z = B256::ZERO;
        assert_eq!(log_distance(&z, &z), None);
        let mut one = B256::ZERO;
        one.0[31] = 1;
        assert_eq!(log_distance(&z, &one), Some(1));
        let mut top = B256::ZERO;
        top.0[0] = 0x80;
        assert_eq!(log_distance(&z, &top), Some(256));
        let mut mid = B256::ZERO;
        mid.0[30] = 0x03;
        assert_eq!(log_distance(&z, &mid), Some(10));
    }

    #[test]
    fn buckets_fill_to_k_and_report_the_oldest() {
        let mut t = RoutingTable::new(rec(0).id);
        assert_eq!(t.insert(rec(0)), InsertOutcome::IsSelf);
        // Roughly half of random ids land in the farthest bucket: fill it to the brim.
        let far: Vec<_> = (1..200u64)
            .map(rec)
            .filter(|r| log_distance(&id_hash(&t.local_id()), &id_hash(&r.id)) == Some(NUM_BUCKETS))
            .collect();
        assert!(far.len() > BUCKET_SIZE);
        for r in &far[..BUCKET_SIZE] {
            assert_eq!(t.insert(*r), InsertOutcome::Inserted);
        }
        assert_eq!(
            t.insert(far[BUCKET_SIZE]),
            InsertOutcome::BucketFull { oldest: far[0] }
        );
        // Seeing the oldest again makes the second one the oldest.
        assert_eq!(t.insert(far[0]), InsertOutcome::Refreshed);
        assert_eq!(
            t.insert(far[BUCKET_SIZE]),
            InsertOutcome::BucketFull { oldest: far[1] }
        );
        assert!(t.remove(&far[1].id));
        assert_eq!(t.insert(far[BUCKET_SIZE]), InsertOutcome::Inserted);
        assert_eq!(t.len(), BUCKET_SIZE);
    }

    #[test]
    fn closest_is_sorted_by_xor_distance() {
        let mut t = RoutingTable::new(rec(0).id);
        for i in 1..60 {
            t.insert(rec(i));
        }
        let target = rec(1000).id;
        let got = t.closest(&target, 10);
        assert_eq!(got.len(), 10);
        let th = id_hash(&target);
        let d: Vec<_> = got
            .iter()
            .map(|r| xor_distance(&id_hash(&r.id), &th))
            .collect();
        assert!(d.windows(2).all(|w| w[0] < w[1]));
        let best = t
            .nodes()
            .into_iter()
            .map(|r| xor_distance(&id_hash(&r.id), &th))
            .min();
        assert_eq!(Some(d[0]), best);
    }
}
