//! Logs blooms for many receipts at once, hashing each distinct address and topic once.
//!
//! A bloom sets three bits per log address and per topic, each taken from the keccak of that value.
//! In a real block most of those values repeat (a token's address, the `Transfer` signature, the
//! same senders and receivers as topics), and the keccak is almost all of the cost of a bloom. So
//! [`BloomHasher`] remembers recent hashes in a small direct-mapped cache.
//!
//! The cache is keyed by the whole value and compared in full, so a hit is always the right hash;
//! and it is direct-mapped with a fixed size, so values that collide on purpose (they come from
//! peers) only cost the keccak the uncached code would have spent: no probe chains, no growth.

use alloy_primitives::{Address, B256, Bloom, BloomInput, Log, keccak256};

/// Slots per cache (a power of two). A mainnet block has a few hundred distinct topics.
const SLOTS: usize = 1024;

/// One direct-mapped cache: `N`-byte values → their keccak.
struct Cache<const N: usize> {
    slots: Vec<Option<([u8; N], B256)>>,
}

impl<const N: usize> Cache<N> {
    fn new() -> Self {
        Self {
            slots: vec![None; SLOTS],
        }
    }

    fn hash(&mut self, value: &[u8; N]) -> B256 {
        let slot = &mut self.slots[slot_of(value)];
        match slot {
            Some((key, hash)) if key == value => *hash,
            _ => {
                let hash = keccak256(value);
                *slot = Some((*value, hash));
                hash
            }
        }
    }
}

/// A slot from all of a value's bytes (topics are often left-padded addresses: the first 12
/// bytes are zero), folded in 8-byte words and mixed by a multiplication.
fn slot_of(value: &[u8]) -> usize {
    let mut acc = 0u64;
    for chunk in value.chunks(8) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        acc = (acc ^ u64::from_le_bytes(word)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    (acc >> (64 - SLOTS.trailing_zeros())) as usize
}

/// Builds logs blooms, reusing the keccak of values seen before (use one per block or batch).
pub struct BloomHasher {
    addresses: Cache<20>,
    topics: Cache<32>,
}

impl Default for BloomHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl BloomHasher {
    /// An empty cache.
    pub fn new() -> Self {
        Self {
            addresses: Cache::new(),
            topics: Cache::new(),
        }
    }

    /// The bloom of `logs`: equal to `alloy_primitives::logs_bloom(logs)`.
    pub fn bloom(&mut self, logs: &[Log]) -> Bloom {
        let mut bloom = Bloom::ZERO;
        for log in logs {
            self.accrue(&mut bloom, &log.address, log.topics());
        }
        bloom
    }

    fn accrue(&mut self, bloom: &mut Bloom, address: &Address, topics: &[B256]) {
        bloom.accrue(BloomInput::Hash(self.addresses.hash(&address.0.0)));
        for topic in topics {
            bloom.accrue(BloomInput::Hash(self.topics.hash(&topic.0)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{Bytes, LogData, logs_bloom};

    fn log(address: u8, topics: &[u8]) -> Log {
        Log {
            address: Address::repeat_byte(address),
            data: LogData::new_unchecked(
                topics.iter().map(|&t| B256::repeat_byte(t)).collect(),
                Bytes::new(),
            ),
        }
    }

    #[test]
    fn equals_the_uncached_bloom() {
        let mut h = BloomHasher::new();
        let logs = vec![
            log(1, &[2, 3]),
            log(1, &[2, 4]),
            log(5, &[]),
            log(2, &[1, 1, 1]),
        ];
        for _ in 0..2 {
            assert_eq!(h.bloom(&logs), logs_bloom(&logs));
        }
        assert_eq!(h.bloom(&[]), Bloom::ZERO);
    }

    #[test]
    fn values_on_the_same_slot_get_their_own_hashes() {
        // Find two different topics on one slot: each must still get its own keccak.
        let first = B256::repeat_byte(7);
        let other = (0u64..)
            .map(|i| B256::left_padding_from(&i.to_be_bytes()))
            .find(|t| *t != first && slot_of(&t.0) == slot_of(&first.0))
            .expect("some value shares the slot");
        let mut h = BloomHasher::new();
        for t in [first, other, first, other] {
            assert_eq!(h.topics.hash(&t.0), keccak256(t));
        }
    }
}
