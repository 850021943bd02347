//! Synthetic chains: hash-linked blocks with transactions, receipts, logs and withdrawals whose roots
//! are all correct, produced through the real verifier. Deterministic from a seed.
//!
//! Transactions are signed with a few fixed keys ([`SENDER_KEYS`]), so the JSON-RPC server
//! recovers a `from` for each, as it does on mainnet. Nonces, balances and state are not
//! tracked, so these blocks are structurally valid history, not executable blocks.

use alloy_consensus::{
    EMPTY_OMMER_ROOT_HASH, Eip658Value, Header, SignableTransaction, TxEip1559, TxLegacy, TxType,
    proofs,
};
use alloy_eips::eip4895::{Withdrawal, Withdrawals};
use alloy_primitives::{Address, B256, Bloom, Bytes, Log, LogData, Signature, TxKind, U256};

use alloy_primitives::keccak256;
use secp256k1::ecdsa::RecoverableSignature;
use secp256k1::{Message, PublicKey, SecretKey};

use crate::primitives::{BlockNumber, Body, Receipt, Transaction, VerifiedBlock};
use crate::verify::{self, SealedHeader};

/// The secret keys synthetic transactions are signed with (small fixed scalars: tests derive
/// the expected senders with [`sender_address`]). Four, so `from` varies within a block.
pub const SENDER_KEYS: [[u8; 32]; 4] = [key_bytes(1), key_bytes(2), key_bytes(3), key_bytes(4)];

const fn key_bytes(n: u8) -> [u8; 32] {
    let mut b = [0u8; 32];
    b[31] = n;
    b
}

fn secret(key: &[u8; 32]) -> SecretKey {
    SecretKey::from_secret_bytes(*key).expect("a small non-zero scalar is a valid key")
}

/// The address of one of [`SENDER_KEYS`].
pub fn sender_address(key: &[u8; 32]) -> Address {
    let public = PublicKey::from_secret_key(&secret(key)).serialize_uncompressed();
    Address::from_slice(&keccak256(&public[1..])[12..])
}

/// `tx` signed by `key` (RFC 6979: deterministic, so seeds still give the same chain).
fn sign<T: SignableTransaction<Signature>>(tx: T, key: &[u8; 32]) -> alloy_consensus::Signed<T> {
    let digest = tx.signature_hash();
    let (recid, compact) =
        RecoverableSignature::sign_ecdsa_recoverable(Message::from_digest(digest.0), &secret(key))
            .serialize_compact();
    let signature = Signature::new(
        U256::from_be_slice(&compact[..32]),
        U256::from_be_slice(&compact[32..]),
        // Ids 2 and 3 (r overflowed the order) have odds of 2^-127: parity is all that is left.
        u8::from(recid) & 1 == 1,
    );
    tx.into_signed(signature)
}

/// Deterministic generator of synthetic blocks (splitmix64; no external RNG so seeds are stable).
#[derive(Debug, Clone)]
pub struct ChainGen {
    state: u64,
    /// Maximum transactions per block (inclusive).
    pub max_txs: usize,
    /// Maximum logs per receipt (inclusive).
    pub max_logs: usize,
}

impl ChainGen {
    /// A generator for `seed`, with up to 8 txs per block and 3 logs per receipt.
    pub fn new(seed: u64) -> Self {
        Self {
            state: seed ^ 0x9e37_79b9_7f4a_7c15,
            max_txs: 8,
            max_logs: 3,
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    fn b256(&mut self) -> B256 {
        let mut b = [0u8; 32];
        for chunk in b.chunks_mut(8) {
            chunk.copy_from_slice(&self.next_u64().to_be_bytes());
        }
        B256::from(b)
    }

    fn address(&mut self) -> Address {
        // A small address space so that log filters by address find several matches.
        Address::with_last_byte(1 + self.below(16) as u8)
    }

    fn transaction(&mut self, nonce: u64) -> Transaction {
        // Three draws, as when signatures were random: the rest of the stream (and so every other
        // field of a seed's chain) stays what it was.
        let key = &SENDER_KEYS[(self.below(u64::MAX) % SENDER_KEYS.len() as u64) as usize];
        let _ = (self.below(1 << 40), self.below(2));
        let input = Bytes::from(self.b256().to_vec());
        let to = TxKind::Call(self.address());
        if self.below(2) == 0 {
            let tx = TxLegacy {
                chain_id: Some(1),
                nonce,
                gas_price: 1_000_000_000 + u128::from(self.below(1000)),
                gas_limit: 21_000 + self.below(100_000),
                to,
                value: U256::from(self.below(1 << 50)),
                input,
            };
            Transaction::Legacy(sign(tx, key))
        } else {
            let tx = TxEip1559 {
                chain_id: 1,
                nonce,
                gas_limit: 21_000 + self.below(100_000),
                max_fee_per_gas: 2_000_000_000,
                max_priority_fee_per_gas: 1_000_000,
                to,
                value: U256::from(self.below(1 << 50)),
                access_list: Default::default(),
                input,
            };
            Transaction::Eip1559(sign(tx, key))
        }
    }

    fn receipt(&mut self, tx_type: TxType, cumulative: u64) -> Receipt {
        let logs = (0..self.below(self.max_logs as u64 + 1))
            .map(|_| {
                let topics = (0..self.below(5)).map(|_| self.b256()).collect();
                let data = Bytes::from(vec![self.below(256) as u8; self.below(64) as usize]);
                Log {
                    address: self.address(),
                    data: LogData::new_unchecked(topics, data),
                }
            })
            .collect();
        Receipt {
            tx_type,
            status: Eip658Value::Eip658(self.below(10) != 0),
            cumulative_gas_used: cumulative,
            logs,
        }
    }

    /// The block at `number` whose parent hash is `parent_hash`.
    pub fn block(&mut self, number: BlockNumber, parent_hash: B256) -> VerifiedBlock {
        let n_txs = self.below(self.max_txs as u64 + 1);
        let mut transactions = Vec::new();
        let mut receipts = Vec::new();
        let mut gas = 0;
        for i in 0..n_txs {
            let tx = self.transaction(number.get() * 100 + i);
            gas += 21_000 + self.below(50_000);
            receipts.push(self.receipt(tx.tx_type(), gas));
            transactions.push(tx);
        }
        let withdrawals = if number.get().is_multiple_of(3) {
            Some(Withdrawals::new(
                (0..self.below(4))
                    .map(|i| Withdrawal {
                        index: number.get() * 4 + i,
                        validator_index: self.below(1_000_000),
                        address: self.address(),
                        amount: self.below(1 << 32),
                    })
                    .collect(),
            ))
        } else {
            None
        };
        let mut bloom = Bloom::ZERO;
        for r in &receipts {
            bloom |= r.bloom();
        }
        let header = Header {
            parent_hash,
            ommers_hash: EMPTY_OMMER_ROOT_HASH,
            beneficiary: self.address(),
            state_root: self.b256(),
            transactions_root: proofs::calculate_transaction_root(&transactions),
            receipts_root: verify::receipts_root(&receipts),
            logs_bloom: bloom,
            number: number.get(),
            gas_limit: 30_000_000,
            gas_used: gas,
            timestamp: 1_700_000_000 + number.get() * 12,
            base_fee_per_gas: Some(1_000_000_000),
            withdrawals_root: withdrawals
                .as_ref()
                .map(|w| proofs::calculate_withdrawals_root(w)),
            ..Default::default()
        };
        let body = Body {
            transactions,
            ommers: Vec::new(),
            withdrawals,
        };
        verify::verify_block(SealedHeader::seal(header), body, receipts)
            .unwrap_or_else(|e| panic!("synthetic block {number} fails verification: {e}"))
    }

    /// `count` consecutive blocks starting at `first`, the first one's parent being `parent_hash`.
    pub fn chain(
        &mut self,
        first: BlockNumber,
        count: u64,
        parent_hash: B256,
    ) -> Vec<VerifiedBlock> {
        let mut out: Vec<VerifiedBlock> = Vec::with_capacity(count as usize);
        let mut parent = parent_hash;
        for i in 0..count {
            let block = self.block(first.saturating_add(i), parent);
            parent = block.hash();
            out.push(block);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_link_and_are_deterministic() {
        let a = ChainGen::new(7).chain(BlockNumber(100), 20, B256::ZERO);
        let b = ChainGen::new(7).chain(BlockNumber(100), 20, B256::ZERO);
        assert_eq!(a, b);
        for pair in a.windows(2) {
            assert_eq!(pair[1].parent_hash(), pair[0].hash());
            assert_eq!(pair[1].number(), pair[0].number().next());
        }
        assert!(
            a.iter()
                .any(|b| b.receipts().iter().any(|r| !r.logs.is_empty()))
        );
    }

    #[test]
    fn every_transaction_recovers_to_one_of_the_sender_keys() {
        let senders: Vec<Address> = SENDER_KEYS.iter().map(sender_address).collect();
        let blocks = ChainGen::new(3).chain(BlockNumber(1), 30, B256::ZERO);
        let mut seen = std::collections::BTreeSet::new();
        for b in &blocks {
            for tx in &b.body().transactions {
                let from = crate::rpc::recover_sender(tx).expect("a real signature");
                assert!(senders.contains(&from), "{from} signed nothing");
                seen.insert(from);
            }
        }
        assert_eq!(seen.len(), SENDER_KEYS.len(), "every key signs something");
    }
}
