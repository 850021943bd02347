//! The Kademlia routing table of discv4: 256 buckets of at most 16 nodes, bucket `i` holding the
//! nodes whose log-distance from us is `i + 1`, where distance is `keccak256(id) XOR
//! keccak256(our id)`. Within a bucket, least recently seen first.
//!
//! Node ids cost nothing, addresses do: like geth, a bucket holds at most
//! [`BUCKET_SUBNET_LIMIT`] nodes of one IPv4 /24 (IPv6 /48) and the table at most
//! [`TABLE_SUBNET_LIMIT`], so one network cannot fill the table with throwaway ids. LAN and
//! loopback addresses are not limited (geth's `netutil.IsLAN` exemption: a private testnet).
//!
//! Owns only the data structure: it never sends anything. Deciding whether a full bucket's oldest
//! node is still alive (ping it, then [`RoutingTable::remove`] it) is the service's job.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use alloy_primitives::{B256, keccak256};

use crate::p2p::discovery::node_record::{NodeRecord, PeerId};

/// `discv4.md`: k = 16.
pub const BUCKET_SIZE: usize = 16;
/// One bucket per possible log-distance 1..=256.
pub const NUM_BUCKETS: usize = 256;
/// Most nodes of one network (IPv4 /24, IPv6 /48) in one bucket (geth `bucketIPLimit`).
pub const BUCKET_SUBNET_LIMIT: usize = 2;
/// Most nodes of one network in the whole table (geth `tableIPLimit`).
pub const TABLE_SUBNET_LIMIT: usize = 10;

/// The network an address counts against, or `None` when it is not limited (LAN, loopback).
pub fn limited_network(ip: IpAddr) -> Option<IpAddr> {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            if v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.is_unspecified() {
                return None;
            }
            Some(IpAddr::V4(Ipv4Addr::from(u32::from(v4) & 0xffff_ff00)))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            let lan = (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80;
            if v6.is_loopback() || v6.is_unspecified() || lan {
                return None;
            }
            Some(IpAddr::V6(Ipv6Addr::from(
                u128::from(v6) & (u128::MAX << 80),
            )))
        }
    }
}

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
    /// Its network already has as many nodes as allowed in that bucket or in the table: not
    /// stored (a known node keeps its old address).
    SubnetFull,
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
    /// Nodes stored per limited network.
    subnets: HashMap<IpAddr, usize>,
}

impl RoutingTable {
    /// An empty table for the node `local_id`.
    pub fn new(local_id: PeerId) -> Self {
        Self {
            local_id,
            local_hash: id_hash(&local_id),
            buckets: (0..NUM_BUCKETS).map(|_| VecDeque::new()).collect(),
            subnets: HashMap::new(),
        }
    }

    /// Our id.
    pub fn local_id(&self) -> PeerId {
        self.local_id
    }

    fn bucket_of(&self, hash: &B256) -> Option<usize> {
        log_distance(&self.local_hash, hash).map(|d| d - 1)
    }

    /// Whether bucket `b` and the table have room for one more node of `ip`'s network, not
    /// counting the node `except` (which is being moved).
    fn subnet_room(&self, b: usize, ip: IpAddr, except: Option<&PeerId>) -> bool {
        let Some(net) = limited_network(ip) else {
            return true;
        };
        let in_bucket = self.buckets[b]
            .iter()
            .filter(|e| Some(&e.record.id) != except)
            .filter(|e| limited_network(e.record.ip) == Some(net))
            .count();
        let moving = except
            .and_then(|id| self.buckets[b].iter().find(|e| e.record.id == *id))
            .is_some_and(|e| limited_network(e.record.ip) == Some(net));
        let in_table = self
            .subnets
            .get(&net)
            .copied()
            .unwrap_or(0)
            .saturating_sub(usize::from(moving));
        in_bucket < BUCKET_SUBNET_LIMIT && in_table < TABLE_SUBNET_LIMIT
    }

    fn count(&mut self, ip: IpAddr, add: bool) {
        let Some(net) = limited_network(ip) else {
            return;
        };
        if add {
            *self.subnets.entry(net).or_insert(0) += 1;
        } else if let Some(n) = self.subnets.get_mut(&net) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.subnets.remove(&net);
            }
        }
    }

    /// Adds `record` or marks it seen now (with its new address, if its network has room).
    pub fn insert(&mut self, record: NodeRecord) -> InsertOutcome {
        let hash = id_hash(&record.id);
        let Some(b) = self.bucket_of(&hash) else {
            return InsertOutcome::IsSelf;
        };
        if let Some(pos) = self.buckets[b]
            .iter()
            .position(|e| e.record.id == record.id)
        {
            let old_ip = self.buckets[b][pos].record.ip;
            if old_ip != record.ip && !self.subnet_room(b, record.ip, Some(&record.id)) {
                return InsertOutcome::SubnetFull;
            }
            self.buckets[b].remove(pos);
            self.buckets[b].push_back(Entry { record, hash });
            self.count(old_ip, false);
            self.count(record.ip, true);
            return InsertOutcome::Refreshed;
        }
        if !self.subnet_room(b, record.ip, None) {
            return InsertOutcome::SubnetFull;
        }
        let bucket = &mut self.buckets[b];
        if bucket.len() >= BUCKET_SIZE {
            let oldest = bucket.front().map(|e| e.record);
            return match oldest {
                Some(oldest) => InsertOutcome::BucketFull { oldest },
                None => InsertOutcome::Inserted,
            };
        }
        bucket.push_back(Entry { record, hash });
        self.count(record.ip, true);
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
                if let Some(e) = bucket.remove(pos) {
                    self.count(e.record.ip, false);
                }
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
    fn one_network_gets_two_per_bucket_and_ten_per_table() {
        let mut t = RoutingTable::new(rec(0).id);
        let on = |r: NodeRecord, ip: [u8; 4]| NodeRecord {
            ip: Ipv4Addr::from(ip).into(),
            ..r
        };
        let far: Vec<_> = (1..400u64)
            .map(rec)
            .filter(|r| log_distance(&id_hash(&t.local_id()), &id_hash(&r.id)) == Some(NUM_BUCKETS))
            .collect();
        assert_eq!(
            t.insert(on(far[0], [203, 0, 113, 1])),
            InsertOutcome::Inserted
        );
        assert_eq!(
            t.insert(on(far[1], [203, 0, 113, 2])),
            InsertOutcome::Inserted
        );
        assert_eq!(
            t.insert(on(far[2], [203, 0, 113, 3])),
            InsertOutcome::SubnetFull
        );
        // Another /24 has room; a known node cannot move into the full one either.
        assert_eq!(
            t.insert(on(far[2], [198, 51, 100, 3])),
            InsertOutcome::Inserted
        );
        assert_eq!(
            t.insert(on(far[2], [203, 0, 113, 9])),
            InsertOutcome::SubnetFull
        );
        assert_eq!(
            t.get(&far[2].id).unwrap().ip,
            IpAddr::from([198, 51, 100, 3])
        );
        // Moving within its own network, or refreshing, is fine.
        assert_eq!(
            t.insert(on(far[1], [203, 0, 113, 7])),
            InsertOutcome::Refreshed
        );
        // Loopback and LAN are not limited.
        for r in &far[3..8] {
            assert_eq!(t.insert(on(*r, [10, 0, 0, 1])), InsertOutcome::Inserted);
        }
        // Table-wide: ten of one /24 across buckets, then no more.
        let mut t = RoutingTable::new(rec(0).id);
        let (mut ok, mut full) = (0, 0);
        for i in 1..2000u64 {
            match t.insert(on(rec(i), [192, 0, 2, (i % 250) as u8])) {
                InsertOutcome::Inserted => ok += 1,
                InsertOutcome::SubnetFull => full += 1,
                o => panic!("{o:?}"),
            }
        }
        assert_eq!((ok, t.len()), (TABLE_SUBNET_LIMIT, TABLE_SUBNET_LIMIT));
        assert!(full > 0);
        // Removing one frees a place.
        let gone = t.nodes()[0];
        assert!(t.remove(&gone.id));
        assert_eq!(t.insert(gone), InsertOutcome::Inserted);
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
