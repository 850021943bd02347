//! The pre-merge history accumulator: the trust anchor of blocks 0–15,537,393.
//!
//! Owns the SSZ shapes of the Portal network's `HistoricalHashesAccumulator` and the proof that an
//! epoch of 8,192 headers (with their total difficulties) belongs to it:
//!
//! ```text
//! HeaderRecord  = Container(block_hash: Bytes32, total_difficulty: uint256)
//! epoch root    = hash_tree_root(List[HeaderRecord, 8192])
//! accumulator   = Container(historical_epochs: List[Bytes32, 16777216],
//!                           current_epoch: List[HeaderRecord, 8192])
//! ```
//!
//! The mainnet accumulator's 1,897 epoch roots are fixed forever (the last epoch is partial and
//! ends at the last proof-of-work block), so an epoch whose records hash to its root is proven
//! canonical without asking any peer. Pure functions over bytes: no I/O (callers read the file or
//! embed it), no knowledge of era1 files.

use alloy_primitives::{B256, U256};
use sha2::{Digest, Sha256};

/// Blocks per epoch (`EPOCH_SIZE` in the Portal spec; also the blocks per era1 file).
pub const EPOCH_SIZE: u64 = 8192;

/// Depth of the merkle tree over an epoch's `List[HeaderRecord, 8192]` (2^13 = 8192 leaves).
const EPOCH_DEPTH: u32 = 13;

/// Most epochs the SSZ list type allows (`List[Bytes32, 16777216]`).
const MAX_HISTORICAL_EPOCHS: usize = 16_777_216;

/// One block's entry in an epoch: its hash and the chain's total difficulty up to and including it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderRecord {
    /// `keccak256(rlp(header))`.
    pub block_hash: B256,
    /// Sum of the difficulties of every block from genesis up to and including this one.
    pub total_difficulty: U256,
}

impl HeaderRecord {
    /// `hash_tree_root` of the record: `sha256(block_hash || uint256_le(total_difficulty))`.
    pub fn tree_root(&self) -> B256 {
        let mut h = Sha256::new();
        h.update(self.block_hash.as_slice());
        h.update(self.total_difficulty.to_le_bytes::<32>());
        B256::from(<[u8; 32]>::from(h.finalize()))
    }
}

fn hash_pair(left: &B256, right: &B256) -> B256 {
    let mut h = Sha256::new();
    h.update(left.as_slice());
    h.update(right.as_slice());
    B256::from(<[u8; 32]>::from(h.finalize()))
}

/// `hash_tree_root(List[HeaderRecord, 8192])` of an epoch's records (fewer than 8,192 only for
/// the last pre-merge epoch). `None` if there are more than 8,192.
pub fn epoch_root(records: &[HeaderRecord]) -> Option<B256> {
    if records.len() as u64 > EPOCH_SIZE {
        return None;
    }
    // Merkleize with the list limit: missing leaves are zero chunks; a subtree made only of
    // padding hashes to the zero hash of its height, so only the filled part is hashed.
    let mut zero = B256::ZERO;
    let mut layer: Vec<B256> = records.iter().map(HeaderRecord::tree_root).collect();
    for _ in 0..EPOCH_DEPTH {
        let next: Vec<B256> = layer
            .chunks(2)
            .map(|pair| hash_pair(&pair[0], pair.get(1).unwrap_or(&zero)))
            .collect();
        layer = next;
        zero = hash_pair(&zero, &zero);
    }
    let data_root = layer.first().copied().unwrap_or(zero);
    let mut len = [0u8; 32];
    len[..8].copy_from_slice(&(records.len() as u64).to_le_bytes());
    Some(hash_pair(&data_root, &B256::from(len)))
}

/// Why accumulator bytes could not be read, or an epoch is not the accumulator's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccumulatorError {
    /// The SSZ bytes are not a `HistoricalHashesAccumulator`.
    #[error("not a historical hashes accumulator: {0}")]
    Malformed(&'static str),
    /// An epoch past the accumulator's last one.
    #[error("epoch {epoch} is beyond the accumulator's {epochs} pre-merge epochs")]
    UnknownEpoch { epoch: u64, epochs: u64 },
    /// An epoch's records do not hash to the accumulator's root for it.
    #[error("epoch {epoch}: records hash to {computed}, the accumulator says {expected}")]
    RootMismatch {
        epoch: u64,
        expected: B256,
        computed: B256,
    },
    /// An epoch with no records, or more than 8,192.
    #[error("epoch {epoch}: {records} records (an epoch has 1 to 8192)")]
    RecordCount { epoch: u64, records: usize },
}

/// The historical hashes accumulator: one root per pre-merge epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoricalHashesAccumulator {
    epochs: Vec<B256>,
}

impl HistoricalHashesAccumulator {
    /// Reads the SSZ encoding. `current_epoch` must be empty: a finished accumulator is the only
    /// kind that can anchor anything.
    pub fn from_ssz(bytes: &[u8]) -> Result<Self, AccumulatorError> {
        // Two variable-size fields: the fixed part is their two 4-byte offsets.
        let offset = |at: usize| -> Result<usize, AccumulatorError> {
            let raw = bytes.get(at..at + 4).ok_or(AccumulatorError::Malformed(
                "shorter than its 8-byte fixed part",
            ))?;
            let mut le = [0u8; 4];
            le.copy_from_slice(raw);
            Ok(u32::from_le_bytes(le) as usize)
        };
        let first = offset(0)?;
        let second = offset(4)?;
        if first != 8 {
            return Err(AccumulatorError::Malformed(
                "historical_epochs does not start after the fixed part",
            ));
        }
        if second < first || second > bytes.len() {
            return Err(AccumulatorError::Malformed(
                "current_epoch offset out of range",
            ));
        }
        if second != bytes.len() {
            return Err(AccumulatorError::Malformed("current_epoch is not empty"));
        }
        let list = &bytes[first..second];
        if !list.len().is_multiple_of(32) || list.len() / 32 > MAX_HISTORICAL_EPOCHS {
            return Err(AccumulatorError::Malformed(
                "historical_epochs is not a list of 32-byte roots",
            ));
        }
        Ok(Self {
            epochs: list.chunks_exact(32).map(B256::from_slice).collect(),
        })
    }

    /// An accumulator of the given epoch roots. Mainnet's is the built-in one; this builds
    /// another chain's (a test chain's) from roots computed over its own records.
    pub fn from_roots(epochs: Vec<B256>) -> Self {
        Self { epochs }
    }

    /// Number of epochs.
    pub fn epochs(&self) -> u64 {
        self.epochs.len() as u64
    }

    /// The root of `epoch`.
    pub fn epoch_root(&self, epoch: u64) -> Result<B256, AccumulatorError> {
        usize::try_from(epoch)
            .ok()
            .and_then(|i| self.epochs.get(i))
            .copied()
            .ok_or(AccumulatorError::UnknownEpoch {
                epoch,
                epochs: self.epochs(),
            })
    }

    /// Proves an epoch's records against the accumulator; returns the root on success.
    pub fn verify_epoch(
        &self,
        epoch: u64,
        records: &[HeaderRecord],
    ) -> Result<B256, AccumulatorError> {
        let expected = self.epoch_root(epoch)?;
        let computed = epoch_root(records).filter(|_| !records.is_empty()).ok_or(
            AccumulatorError::RecordCount {
                epoch,
                records: records.len(),
            },
        )?;
        if computed != expected {
            return Err(AccumulatorError::RootMismatch {
                epoch,
                expected,
                computed,
            });
        }
        Ok(computed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(i: u64) -> HeaderRecord {
        HeaderRecord {
            block_hash: B256::from(U256::from(i)),
            total_difficulty: U256::from(i * 1000 + 7),
        }
    }

    /// The textbook merkleization (every padding leaf hashed), as `era1check.py` does it.
    fn naive_root(records: &[HeaderRecord]) -> B256 {
        let mut layer: Vec<B256> = records.iter().map(HeaderRecord::tree_root).collect();
        layer.resize(EPOCH_SIZE as usize, B256::ZERO);
        while layer.len() > 1 {
            layer = layer.chunks(2).map(|p| hash_pair(&p[0], &p[1])).collect();
        }
        let mut len = [0u8; 32];
        len[..8].copy_from_slice(&(records.len() as u64).to_le_bytes());
        hash_pair(&layer[0], &B256::from(len))
    }

    #[test]
    fn epoch_root_matches_the_textbook_merkleization() {
        for n in [0u64, 1, 2, 3, 5362, 8191, 8192] {
            let records: Vec<_> = (0..n).map(record).collect();
            assert_eq!(
                epoch_root(&records),
                Some(naive_root(&records)),
                "{n} records"
            );
        }
        let too_many: Vec<_> = (0..=EPOCH_SIZE).map(record).collect();
        assert_eq!(epoch_root(&too_many), None);
    }

    #[test]
    fn record_root_is_hash_then_little_endian_difficulty() {
        let r = HeaderRecord {
            block_hash: B256::repeat_byte(0xab),
            total_difficulty: U256::from(0x0102u64),
        };
        let mut bytes = vec![0xab; 32];
        bytes.extend_from_slice(&[0x02, 0x01]);
        bytes.resize(64, 0);
        assert_eq!(
            r.tree_root(),
            B256::from(<[u8; 32]>::from(Sha256::digest(&bytes)))
        );
    }

    fn ssz(roots: &[B256]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&8u32.to_le_bytes());
        out.extend_from_slice(&(8 + 32 * roots.len() as u32).to_le_bytes());
        for r in roots {
            out.extend_from_slice(r.as_slice());
        }
        out
    }

    #[test]
    fn reads_and_verifies_epochs() {
        let records: Vec<_> = (0..10).map(record).collect();
        let root = naive_root(&records);
        let acc = HistoricalHashesAccumulator::from_ssz(&ssz(&[B256::ZERO, root])).unwrap();
        assert_eq!(acc.epochs(), 2);
        assert_eq!(acc.verify_epoch(1, &records), Ok(root));
        assert!(matches!(
            acc.verify_epoch(0, &records),
            Err(AccumulatorError::RootMismatch { epoch: 0, .. })
        ));
        assert!(matches!(
            acc.verify_epoch(2, &records),
            Err(AccumulatorError::UnknownEpoch {
                epoch: 2,
                epochs: 2
            })
        ));
        assert!(matches!(
            acc.verify_epoch(1, &[]),
            Err(AccumulatorError::RecordCount { records: 0, .. })
        ));
    }

    #[test]
    fn refuses_malformed_bytes() {
        let good = ssz(&[B256::ZERO]);
        assert!(HistoricalHashesAccumulator::from_ssz(&good[..5]).is_err());
        assert!(HistoricalHashesAccumulator::from_ssz(&good[..good.len() - 1]).is_err());
        let mut with_current = good.clone();
        with_current.extend_from_slice(&[0; 64]);
        assert!(HistoricalHashesAccumulator::from_ssz(&with_current).is_err());
        let mut bad_offset = good;
        bad_offset[0] = 4;
        assert!(HistoricalHashesAccumulator::from_ssz(&bad_offset).is_err());
    }
}
