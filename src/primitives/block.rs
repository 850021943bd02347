//! Block bodies on the wire and the verified block that the rest of histd stores and serves.

use alloy_consensus::{EthereumTxEnvelope, Header, TxEip4844};
use alloy_eips::eip2718::{Decodable2718, Encodable2718};
use alloy_eips::eip4895::Withdrawals;
use alloy_primitives::B256;
use alloy_rlp::{Decodable, Encodable, Header as RlpHeader};
use bytes::BufMut;

use super::{BlockNumber, Receipt};

/// A transaction as it appears in a block (blob transactions without their sidecar).
pub type Transaction = EthereumTxEnvelope<TxEip4844>;

/// A block body: transactions, ommer headers and (from Shanghai) withdrawals.
pub type Body = alloy_consensus::BlockBody<Transaction, Header>;

/// Encodes a body in the eth wire form `rlp([txs, ommers(, withdrawals)])`, typed transactions as
/// RLP strings (the "network" encoding).
pub fn encode_body(body: &Body, out: &mut dyn BufMut) {
    let txs_len: usize = body.transactions.iter().map(|t| t.network_len()).sum();
    let mut payload = alloy_rlp::length_of_length(txs_len) + txs_len;
    payload += alloy_rlp::list_length(&body.ommers);
    if let Some(w) = &body.withdrawals {
        payload += w.length();
    }
    RlpHeader {
        list: true,
        payload_length: payload,
    }
    .encode(out);
    RlpHeader {
        list: true,
        payload_length: txs_len,
    }
    .encode(out);
    for tx in &body.transactions {
        tx.network_encode(out);
    }
    alloy_rlp::encode_list(&body.ommers, out);
    if let Some(w) = &body.withdrawals {
        w.encode(out);
    }
}

/// Fewer bytes than any signed transaction's encoding takes (its signature's `r` and `s` alone are
/// some 64): the bound on how many transactions a body's bytes are taken to hold when reserving.
const MIN_TX_LEN: usize = 64;

/// Decodes the eth wire form of a body. Rejects trailing bytes inside the body list.
pub fn decode_body(buf: &mut &[u8]) -> alloy_rlp::Result<Body> {
    let header = RlpHeader::decode(buf)?;
    if !header.list {
        return Err(alloy_rlp::Error::UnexpectedString);
    }
    if buf.len() < header.payload_length {
        return Err(alloy_rlp::Error::InputTooShort);
    }
    let (mut inner, rest) = buf.split_at(header.payload_length);
    let txs_header = RlpHeader::decode(&mut inner)?;
    if !txs_header.list {
        return Err(alloy_rlp::Error::UnexpectedString);
    }
    if inner.len() < txs_header.payload_length {
        return Err(alloy_rlp::Error::InputTooShort);
    }
    let (mut txs_buf, after_txs) = inner.split_at(txs_header.payload_length);
    let mut transactions = Vec::with_capacity(super::reserve::capacity_for(txs_buf, MIN_TX_LEN));
    while !txs_buf.is_empty() {
        let tx = Transaction::network_decode(&mut txs_buf)
            .map_err(|_| alloy_rlp::Error::Custom("invalid transaction"))?;
        transactions.push(tx);
    }
    inner = after_txs;
    let ommers = Vec::<Header>::decode(&mut inner)?;
    let withdrawals = if inner.is_empty() {
        None
    } else {
        Some(Withdrawals::decode(&mut inner)?)
    };
    if !inner.is_empty() {
        return Err(alloy_rlp::Error::Custom("trailing bytes in block body"));
    }
    *buf = rest;
    Ok(Body {
        transactions,
        ommers,
        withdrawals,
    })
}

/// A block whose header hash, body and receipts have been checked against each other by
/// `verify`. Storage accepts nothing else, so unverified peer data cannot be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedBlock {
    header: Header,
    hash: B256,
    body: Body,
    receipts: Vec<Receipt>,
}

impl VerifiedBlock {
    /// Assembles a block without checking it. Only the verifier and storage (re-reading what it
    /// stored after verification) may call this.
    pub(crate) fn new_unchecked(
        header: Header,
        hash: B256,
        body: Body,
        receipts: Vec<Receipt>,
    ) -> Self {
        Self {
            header,
            hash,
            body,
            receipts,
        }
    }

    /// Block height.
    pub fn number(&self) -> BlockNumber {
        BlockNumber(self.header.number)
    }

    /// Keccak of the RLP header.
    pub fn hash(&self) -> B256 {
        self.hash
    }

    /// Parent block hash.
    pub fn parent_hash(&self) -> B256 {
        self.header.parent_hash
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Transactions, ommers and withdrawals.
    pub fn body(&self) -> &Body {
        &self.body
    }

    /// One receipt per transaction, in order.
    pub fn receipts(&self) -> &[Receipt] {
        &self.receipts
    }

    /// Hashes of the transactions, in block order.
    pub fn transaction_hashes(&self) -> impl Iterator<Item = B256> + '_ {
        self.body.transactions.iter().map(|tx| *tx.tx_hash())
    }

    /// Takes the block apart.
    pub fn into_parts(self) -> (Header, B256, Body, Vec<Receipt>) {
        (self.header, self.hash, self.body, self.receipts)
    }
}
