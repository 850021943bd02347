//! What a log query asks for ([`LogQuery`]: addresses and positional topic OR-lists, geth's
//! rules), the keyed hash that names each (kind, value) pair in an index, and the exact match a
//! decoded log must still pass. Never does I/O.

use alloy_primitives::{Address, B256, Bloom, BloomInput, Log};

/// Topic positions a log can carry.
pub const TOPIC_POSITIONS: usize = 4;

/// The criteria of a log query: a log matches when its address is one of `addresses` (or that
/// list is empty) and, at every position `i`, its topic `i` is one of `topics[i]` (or that list is
/// empty: a wildcard). A non-empty position the log does not have never matches (geth).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogQuery {
    /// Addresses, OR-ed; empty: any.
    pub addresses: Vec<Address>,
    /// Per topic position, values OR-ed; empty: any. At most [`TOPIC_POSITIONS`] positions.
    pub topics: Vec<Vec<B256>>,
}

impl LogQuery {
    /// Whether `log` matches exactly.
    pub fn matches(&self, log: &Log) -> bool {
        if !self.addresses.is_empty() && !self.addresses.contains(&log.address) {
            return false;
        }
        let topics = log.topics();
        self.topics
            .iter()
            .enumerate()
            .all(|(i, set)| set.is_empty() || topics.get(i).is_some_and(|t| set.contains(t)))
    }

    /// Whether a block with this header bloom may hold a matching log.
    pub fn may_match(&self, bloom: &Bloom) -> bool {
        let any = |values: &mut dyn Iterator<Item = &[u8]>| {
            let mut empty = true;
            for v in values {
                empty = false;
                if bloom.contains_input(BloomInput::Raw(v)) {
                    return true;
                }
            }
            empty
        };
        any(&mut self.addresses.iter().map(|a| a.as_slice()))
            && self
                .topics
                .iter()
                .all(|set| any(&mut set.iter().map(|t| t.as_slice())))
    }

    /// The non-wildcard criteria as groups of key hashes: a log matches when, for every group, it
    /// carries one of the group's keys.
    pub(super) fn key_groups(&self, seed: u64) -> Vec<Vec<u64>> {
        let mut groups = Vec::new();
        if !self.addresses.is_empty() {
            groups.push(
                self.addresses
                    .iter()
                    .map(|a| key_hash(seed, KIND_ADDRESS, a.as_slice()))
                    .collect(),
            );
        }
        for (i, set) in self.topics.iter().enumerate().take(TOPIC_POSITIONS) {
            if !set.is_empty() {
                groups.push(
                    set.iter()
                        .map(|t| key_hash(seed, topic_kind(i), t.as_slice()))
                        .collect(),
                );
            }
        }
        groups
    }
}

/// Key kind of an address.
pub(super) const KIND_ADDRESS: u8 = 0;

/// Key kind of topic position `i` (a topic value at position 0 and at position 2 are two keys).
pub(super) fn topic_kind(i: usize) -> u8 {
    1 + i as u8
}

/// The keys a log carries: its address and each of its topics by position (borrowed pieces: the
/// build walks the stored receipts without decoding them into `Log`s).
pub(super) fn log_keys<'t>(
    seed: u64,
    address: &[u8],
    topics: impl Iterator<Item = &'t [u8]>,
    mut visit: impl FnMut(u64),
) {
    visit(key_hash(seed, KIND_ADDRESS, address));
    for (i, t) in topics.enumerate().take(TOPIC_POSITIONS) {
        visit(key_hash(seed, topic_kind(i), t));
    }
}

/// splitmix64's finaliser: every input bit flips about half the output bits.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The 64-bit key of (`kind`, `value`) under `seed`. The seed is drawn at random per index file,
/// so nobody can mine addresses or topics that collide in a file they do not know the seed of; a
/// collision by chance (about 1 in 10^12 per shard) only adds a log that the exact match drops.
pub(super) fn key_hash(seed: u64, kind: u8, value: &[u8]) -> u64 {
    let mut h = mix(seed ^ (u64::from(kind) << 56) ^ value.len() as u64);
    for chunk in value.chunks(8) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        h = mix(h ^ u64::from_le_bytes(word));
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{Bytes, LogData};

    fn log(addr: u8, topics: &[u8]) -> Log {
        Log {
            address: Address::with_last_byte(addr),
            data: LogData::new_unchecked(
                topics.iter().map(|t| B256::with_last_byte(*t)).collect(),
                Bytes::new(),
            ),
        }
    }

    #[test]
    fn geth_rules_for_positions_and_wildcards() {
        let l = log(1, &[10, 20]);
        let q = |addresses: Vec<u8>, topics: Vec<Vec<u8>>| LogQuery {
            addresses: addresses.into_iter().map(Address::with_last_byte).collect(),
            topics: topics
                .into_iter()
                .map(|s| s.into_iter().map(B256::with_last_byte).collect())
                .collect(),
        };
        assert!(q(vec![], vec![]).matches(&l));
        assert!(q(vec![2, 1], vec![vec![], vec![20, 30]]).matches(&l));
        assert!(!q(vec![2], vec![]).matches(&l));
        assert!(!q(vec![], vec![vec![20]]).matches(&l));
        // A position the log does not have matches only as a wildcard.
        assert!(q(vec![], vec![vec![], vec![], vec![]]).matches(&l));
        assert!(!q(vec![], vec![vec![], vec![], vec![5]]).matches(&l));
    }

    #[test]
    fn the_same_value_at_two_positions_is_two_keys() {
        let v = B256::with_last_byte(7);
        assert_ne!(
            key_hash(1, topic_kind(0), v.as_slice()),
            key_hash(1, topic_kind(1), v.as_slice())
        );
        assert_ne!(
            key_hash(1, topic_kind(0), v.as_slice()),
            key_hash(2, topic_kind(0), v.as_slice())
        );
    }
}
