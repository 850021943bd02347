//! Stored blocks into alloy's RPC shapes: blocks (hashes or full transactions), transactions,
//! receipts with block-wide `logIndex`, and logs. Owns the derived fields geth computes (`from`,
//! `gasUsed`, `effectiveGasPrice`, `contractAddress`, blob gas price, block `size`) and sender
//! recovery. Never reads storage and never invents a value: what cannot be derived is absent.

use std::collections::HashMap;
use std::sync::Mutex;

use alloy_consensus::transaction::{Recovered, TransactionInfo};
use alloy_consensus::{ReceiptEnvelope, ReceiptWithBloom, Sealed, Transaction as _};
use alloy_eips::eip7840::BlobParams;
use alloy_primitives::{Address, B256, U256, keccak256};
use alloy_rlp::Encodable;
use alloy_rpc_types_eth::{Block, BlockTransactions, Header as RpcHeader, Log as RpcLog};
use secp256k1::Message;
use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};

use crate::primitives::{Header, Transaction};
use crate::storage::{StoredBlock, StoredTransactions};

/// A transaction as the RPC shows it.
pub type RpcTransaction = alloy_rpc_types_eth::Transaction<Transaction>;
/// A receipt as the RPC shows it.
pub type RpcReceipt = alloy_rpc_types_eth::TransactionReceipt<ReceiptEnvelope<RpcLog>>;
/// A block as the RPC shows it.
pub type RpcBlock = Block<RpcTransaction>;

/// Recovers the sender of `tx` from its signature.
pub fn recover_sender(tx: &Transaction) -> Result<Address, String> {
    let sig = tx.signature();
    let mut compact = [0u8; 64];
    compact[..32].copy_from_slice(&sig.r().to_be_bytes::<32>());
    compact[32..].copy_from_slice(&sig.s().to_be_bytes::<32>());
    let recid = RecoveryId::try_from(i32::from(sig.v())).map_err(|e| e.to_string())?;
    let rsig = RecoverableSignature::from_compact(&compact, recid).map_err(|e| e.to_string())?;
    let key = rsig
        .recover_ecdsa(Message::from_digest(tx.signature_hash().0))
        .map_err(|e| format!("transaction {}: sender not recoverable: {e}", tx.tx_hash()))?;
    let raw = key.serialize_uncompressed();
    Ok(Address::from_slice(&keccak256(&raw[1..])[12..]))
}

/// Senders already recovered, by transaction hash. Bounded: when full it starts over (recovery
/// is deterministic, so forgetting costs time, never correctness).
#[derive(Debug)]
pub struct SenderCache {
    map: Mutex<HashMap<B256, Address>>,
    capacity: usize,
}

impl SenderCache {
    /// A cache of at most `capacity` senders.
    pub fn new(capacity: usize) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// The senders of `txs`, recovering those not cached (call on a blocking thread).
    pub fn senders(&self, txs: &[Transaction]) -> Result<Vec<Address>, String> {
        let mut out = Vec::with_capacity(txs.len());
        let mut missing = Vec::new();
        {
            let map = self.map.lock().map_err(|_| "sender cache poisoned")?;
            for (i, tx) in txs.iter().enumerate() {
                match map.get(tx.tx_hash()) {
                    Some(a) => out.push(*a),
                    None => {
                        out.push(Address::ZERO);
                        missing.push(i);
                    }
                }
            }
        }
        if missing.is_empty() {
            return Ok(out);
        }
        let recovered = recover_all(txs, &missing)?;
        let mut found = Vec::with_capacity(missing.len());
        for (i, a) in missing.into_iter().zip(recovered) {
            out[i] = a;
            found.push((*txs[i].tx_hash(), a));
        }
        let mut map = self.map.lock().map_err(|_| "sender cache poisoned")?;
        if map.len() + found.len() > self.capacity {
            map.clear();
        }
        map.extend(found);
        Ok(out)
    }
}

/// Fewest senders worth a thread of their own (one recovery is some 30 µs; a scoped thread
/// costs tens of µs to start).
const PER_THREAD: usize = 16;

/// The senders of `txs[i]` for each `i` of `which`, in that order, recovered on every core: a
/// block's recoveries are independent, and `eth_getBlockReceipts` of a block not seen before
/// is little else (some 200 recoveries on a mainnet block).
fn recover_all(txs: &[Transaction], which: &[usize]) -> Result<Vec<Address>, String> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(which.len() / PER_THREAD)
        .max(1);
    let recover = |part: &[usize]| -> Result<Vec<Address>, String> {
        part.iter().map(|&i| recover_sender(&txs[i])).collect()
    };
    if threads == 1 {
        return recover(which);
    }
    let per = which.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let mut parts = which.chunks(per);
        // This thread takes the first part; the others go to scoped threads.
        let first = parts.next().unwrap_or_default();
        let handles: Vec<_> = parts.map(|p| scope.spawn(move || recover(p))).collect();
        let mut out = recover(first)?;
        for h in handles {
            out.extend(
                h.join()
                    .map_err(|_| "sender recovery panicked".to_string())??,
            );
        }
        Ok(out)
    })
}

/// Transaction hashes of a stored block, in block order.
pub fn tx_hashes(block: &StoredBlock) -> Vec<B256> {
    block.tx_hashes()
}

/// The full transactions of a block, or the error that they were not retained.
pub fn full_txs(block: &StoredBlock) -> Result<&[Transaction], String> {
    match &block.body.transactions {
        StoredTransactions::Full(txs) => Ok(txs),
        StoredTransactions::Hashes(_) => Err(format!(
            "block {}: only transaction hashes are retained on this node (retention.transactions = \"hashes\")",
            block.header.number
        )),
    }
}

/// RLP size of the whole block, as geth reports it (`None` when only hashes are retained).
fn block_size(block: &StoredBlock) -> Option<u64> {
    let txs = full_txs(block).ok()?;
    let body = alloy_consensus::BlockBody {
        transactions: txs.to_vec(),
        ommers: block.body.ommers.clone(),
        withdrawals: block.body.withdrawals.clone(),
    };
    let b = alloy_consensus::Block {
        header: block.header.clone(),
        body,
    };
    Some(b.length() as u64)
}

/// The RPC header of a block (`size` included when known).
pub fn rpc_header(header: &Header, hash: B256, size: Option<u64>) -> RpcHeader {
    RpcHeader::from_consensus(
        Sealed::new_unchecked(header.clone(), hash),
        None,
        size.map(U256::from),
    )
}

fn tx_info(block: &StoredBlock, index: usize) -> TransactionInfo {
    TransactionInfo {
        hash: None,
        index: Some(index as u64),
        block_hash: Some(block.hash),
        block_number: Some(block.header.number),
        base_fee: block.header.base_fee_per_gas,
        block_timestamp: None,
    }
}

/// One transaction of a block, with its sender.
pub fn rpc_transaction(
    block: &StoredBlock,
    index: usize,
    tx: &Transaction,
    from: Address,
) -> RpcTransaction {
    let mut info = tx_info(block, index);
    info.hash = Some(*tx.tx_hash());
    RpcTransaction::from_transaction(Recovered::new_unchecked(tx.clone(), from), info)
}

/// A block, with full transactions when `senders` is given (one per transaction), else hashes.
pub fn rpc_block(block: &StoredBlock, senders: Option<&[Address]>) -> Result<RpcBlock, String> {
    let transactions = match senders {
        Some(senders) => {
            let txs = full_txs(block)?;
            BlockTransactions::Full(
                txs.iter()
                    .zip(senders)
                    .enumerate()
                    .map(|(i, (tx, from))| rpc_transaction(block, i, tx, *from))
                    .collect(),
            )
        }
        None => BlockTransactions::Hashes(tx_hashes(block)),
    };
    Ok(Block {
        header: rpc_header(&block.header, block.hash, block_size(block)),
        uncles: block.body.ommers.iter().map(Header::hash_slow).collect(),
        transactions,
        withdrawals: block.body.withdrawals.clone(),
    })
}

/// Every log of a block that `keep` accepts, with block-wide `logIndex`, `removed` as given.
pub fn block_logs(
    block: &StoredBlock,
    hashes: &[B256],
    removed: bool,
    mut keep: impl FnMut(&alloy_primitives::Log) -> bool,
) -> Vec<RpcLog> {
    let mut out = Vec::new();
    let mut log_index = 0u64;
    for (i, r) in block.receipts.iter().enumerate() {
        for log in &r.logs {
            if keep(log) {
                out.push(RpcLog {
                    inner: log.clone(),
                    block_hash: Some(block.hash),
                    block_number: Some(block.header.number),
                    block_timestamp: Some(block.header.timestamp),
                    transaction_hash: hashes.get(i).copied(),
                    transaction_index: Some(i as u64),
                    log_index: Some(log_index),
                    removed,
                });
            }
            log_index += 1;
        }
    }
    out
}

/// The receipts of a block (needs full transactions and their senders), or only the one at
/// `only`.
pub fn rpc_receipts(
    block: &StoredBlock,
    senders: &[Address],
    blob: Option<BlobParams>,
    only: Option<usize>,
) -> Result<Vec<RpcReceipt>, String> {
    let txs = full_txs(block)?;
    if txs.len() != block.receipts.len() || senders.len() != txs.len() {
        return Err(format!(
            "block {}: {} transactions, {} receipts",
            block.header.number,
            txs.len(),
            block.receipts.len()
        ));
    }
    let blob_gas_price = match (blob, block.header.excess_blob_gas) {
        (Some(p), Some(excess)) => Some(p.calc_blob_fee(excess)),
        _ => None,
    };
    let base_fee = block.header.base_fee_per_gas;
    let mut out = Vec::new();
    let mut log_index = 0u64;
    let mut prev_cumulative = 0u64;
    for (i, (tx, r)) in txs.iter().zip(&block.receipts).enumerate() {
        let first_log = log_index;
        log_index += r.logs.len() as u64;
        let gas_used = r.cumulative_gas_used.saturating_sub(prev_cumulative);
        prev_cumulative = r.cumulative_gas_used;
        if only.is_some_and(|o| o != i) {
            continue;
        }
        let hash = *tx.tx_hash();
        let logs: Vec<RpcLog> = r
            .logs
            .iter()
            .enumerate()
            .map(|(j, log)| RpcLog {
                inner: log.clone(),
                block_hash: Some(block.hash),
                block_number: Some(block.header.number),
                block_timestamp: Some(block.header.timestamp),
                transaction_hash: Some(hash),
                transaction_index: Some(i as u64),
                log_index: Some(first_log + j as u64),
                removed: false,
            })
            .collect();
        let consensus = alloy_consensus::Receipt {
            status: r.status,
            cumulative_gas_used: r.cumulative_gas_used,
            logs,
        };
        let bloom = r.bloom();
        let with_bloom = ReceiptWithBloom {
            receipt: consensus,
            logs_bloom: bloom,
        };
        let inner = ReceiptEnvelope::from_typed(r.tx_type, with_bloom);
        let from = senders[i];
        let blob_gas_used = tx.blob_gas_used();
        out.push(RpcReceipt {
            inner,
            transaction_hash: hash,
            transaction_index: Some(i as u64),
            block_hash: Some(block.hash),
            block_number: Some(block.header.number),
            gas_used,
            effective_gas_price: tx.effective_gas_price(base_fee),
            blob_gas_used,
            blob_gas_price: blob_gas_used.and(blob_gas_price),
            from,
            to: tx.to(),
            contract_address: tx.kind().is_create().then(|| from.create(tx.nonce())),
        });
    }
    Ok(out)
}
