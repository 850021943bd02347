//! Receipts as histd keeps them, and their three encodings.
//!
//! - **eth/69** (EIP-7642): `rlp([tx-type, status, cumulative-gas, logs])`, no bloom.
//! - **consensus** (what `receiptsRoot` commits to): legacy `rlp([status, cumulative-gas, bloom, logs])`,
//!   typed `tx-type || rlp([...])` (EIP-2718).
//! - **eth/68**: the consensus form, typed receipts wrapped in an RLP byte string.
//!
//! The bloom is never stored: it is a pure function of the logs, rebuilt when needed.

use alloy_consensus::{Eip658Value, TxType};
use alloy_primitives::{Bloom, Log, logs_bloom};
use alloy_rlp::{Decodable, Encodable, Header as RlpHeader};
use bytes::BufMut;

/// One transaction's receipt, without its (derivable) bloom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// EIP-2718 type of the transaction this receipt belongs to.
    pub tx_type: TxType,
    /// Success flag (EIP-658), or the intermediate state root of pre-Byzantium receipts.
    pub status: Eip658Value,
    /// Gas used in the block up to and including this transaction.
    pub cumulative_gas_used: u64,
    /// Logs in emission order.
    pub logs: Vec<Log>,
}

/// Why a receipt could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReceiptDecodeError {
    /// Malformed RLP.
    #[error("receipt RLP: {0}")]
    Rlp(#[from] alloy_rlp::Error),
    /// A transaction type this build does not know.
    #[error("unknown receipt transaction type {0}")]
    UnknownTxType(u8),
    /// Bytes left over inside the receipt.
    #[error("{0} trailing bytes inside receipt")]
    Trailing(usize),
}

impl Receipt {
    /// The logs bloom, rebuilt from the logs.
    pub fn bloom(&self) -> Bloom {
        logs_bloom(&self.logs)
    }

    /// Whether the transaction succeeded; pre-Byzantium receipts carry a state root and count as
    /// successful (they have no status).
    pub fn is_success(&self) -> bool {
        self.status.coerce_status()
    }

    fn consensus_fields_len(&self) -> usize {
        // A bloom's encoding has the same length whatever its bits: no need to build it here.
        self.status.length()
            + self.cumulative_gas_used.length()
            + Bloom::ZERO.length()
            + alloy_rlp::list_length(&self.logs)
    }

    fn encode_consensus_fields(&self, bloom: &Bloom, out: &mut dyn BufMut) {
        RlpHeader {
            list: true,
            payload_length: self.consensus_fields_len(),
        }
        .encode(out);
        self.status.encode(out);
        self.cumulative_gas_used.encode(out);
        bloom.encode(out);
        alloy_rlp::encode_list(&self.logs, out);
    }

    /// Length of [`Self::encode_consensus`]'s output.
    pub fn consensus_length(&self) -> usize {
        let payload = self.consensus_fields_len();
        let list = alloy_rlp::length_of_length(payload) + payload;
        if self.tx_type == TxType::Legacy {
            list
        } else {
            list + 1
        }
    }

    /// The EIP-2718 consensus encoding that `receiptsRoot` commits to.
    pub fn encode_consensus(&self, out: &mut dyn BufMut) {
        self.encode_consensus_with_bloom(&self.bloom(), out);
    }

    /// [`Self::encode_consensus`] with the bloom already built (it must be [`Self::bloom`]'s: the
    /// verifier builds all of a block's blooms once, for the root and for the header's bloom).
    pub fn encode_consensus_with_bloom(&self, bloom: &Bloom, out: &mut dyn BufMut) {
        if self.tx_type != TxType::Legacy {
            out.put_u8(self.tx_type as u8);
        }
        self.encode_consensus_fields(bloom, out);
    }

    /// Decodes the EIP-2718 consensus encoding (bloom is read and discarded: it is derivable).
    pub fn decode_consensus(buf: &mut &[u8]) -> Result<Self, ReceiptDecodeError> {
        let tx_type = match buf.first() {
            Some(&b) if b < 0x7f => {
                *buf = &buf[1..];
                TxType::try_from(b).map_err(|_| ReceiptDecodeError::UnknownTxType(b))?
            }
            _ => TxType::Legacy,
        };
        decode_fields(buf, Fields::Consensus(tx_type))
    }

    /// eth/68 wire form: consensus encoding, typed receipts wrapped as an RLP string.
    pub fn encode_eth68(&self, out: &mut dyn BufMut) {
        if self.tx_type != TxType::Legacy {
            RlpHeader {
                list: false,
                payload_length: self.consensus_length(),
            }
            .encode(out);
        }
        self.encode_consensus(out);
    }

    /// Length of [`Self::encode_eth68`]'s output.
    pub fn eth68_length(&self) -> usize {
        let inner = self.consensus_length();
        if self.tx_type == TxType::Legacy {
            inner
        } else {
            alloy_rlp::length_of_length(inner) + inner
        }
    }

    /// Decodes the eth/68 wire form.
    pub fn decode_eth68(buf: &mut &[u8]) -> Result<Self, ReceiptDecodeError> {
        let header = RlpHeader::decode(&mut &buf[..])?;
        if header.list {
            return Self::decode_consensus(buf);
        }
        let header = RlpHeader::decode(buf)?;
        let (mut inner, rest) = split(buf, header.payload_length)?;
        let receipt = Self::decode_consensus(&mut inner)?;
        if !inner.is_empty() {
            return Err(ReceiptDecodeError::Trailing(inner.len()));
        }
        *buf = rest;
        Ok(receipt)
    }

    fn eth69_fields_len(&self) -> usize {
        (self.tx_type as u8).length()
            + self.status.length()
            + self.cumulative_gas_used.length()
            + alloy_rlp::list_length(&self.logs)
    }

    /// eth/69 wire form (EIP-7642): `[tx-type, status, cumulative-gas, logs]`.
    pub fn encode_eth69(&self, out: &mut dyn BufMut) {
        RlpHeader {
            list: true,
            payload_length: self.eth69_fields_len(),
        }
        .encode(out);
        (self.tx_type as u8).encode(out);
        self.status.encode(out);
        self.cumulative_gas_used.encode(out);
        alloy_rlp::encode_list(&self.logs, out);
    }

    /// Length of [`Self::encode_eth69`]'s output.
    pub fn eth69_length(&self) -> usize {
        let payload = self.eth69_fields_len();
        alloy_rlp::length_of_length(payload) + payload
    }

    /// Decodes the eth/69 wire form.
    pub fn decode_eth69(buf: &mut &[u8]) -> Result<Self, ReceiptDecodeError> {
        decode_fields(buf, Fields::Eth69)
    }
}

/// Which fields a receipt's RLP list holds.
enum Fields {
    /// Consensus: `[status, cumulative gas, bloom, logs]`, the type (read already) before the list.
    Consensus(TxType),
    /// eth/69: `[type, status, cumulative gas, logs]`.
    Eth69,
}

/// The receipt in the RLP list at the front of `buf` (its bloom, if any, read and discarded);
/// nothing may follow its fields inside the list. Advances `buf` past the list.
fn decode_fields(buf: &mut &[u8], fields: Fields) -> Result<Receipt, ReceiptDecodeError> {
    let header = RlpHeader::decode(buf)?;
    if !header.list {
        return Err(alloy_rlp::Error::UnexpectedString.into());
    }
    let (mut body, rest) = split(buf, header.payload_length)?;
    let tx_type = match fields {
        Fields::Consensus(t) => t,
        Fields::Eth69 => {
            let ty = u8::decode(&mut body)?;
            TxType::try_from(ty).map_err(|_| ReceiptDecodeError::UnknownTxType(ty))?
        }
    };
    let status = Eip658Value::decode(&mut body)?;
    let cumulative_gas_used = u64::decode(&mut body)?;
    if let Fields::Consensus(_) = fields {
        let _bloom = Bloom::decode(&mut body)?;
    }
    let logs = decode_logs(&mut body)?;
    if !body.is_empty() {
        return Err(ReceiptDecodeError::Trailing(body.len()));
    }
    *buf = rest;
    Ok(Receipt {
        tx_type,
        status,
        cumulative_gas_used,
        logs,
    })
}

/// The fewest bytes a log's RLP takes: `rlp([address (21), [] (1), "" (1)])`.
const MIN_LOG_LEN: usize = 24;

/// `Vec::<Log>::decode` (same errors, same result) into a vector reserved for the list's items
/// (a receipt's logs otherwise grow one push at a time).
fn decode_logs(buf: &mut &[u8]) -> Result<Vec<Log>, alloy_rlp::Error> {
    let mut payload = RlpHeader::decode_bytes(buf, true)?;
    let mut logs = Vec::with_capacity(super::reserve::capacity_for(payload, MIN_LOG_LEN));
    while !payload.is_empty() {
        logs.push(Log::decode(&mut payload)?);
    }
    Ok(logs)
}

/// Encodes a block's receipts as one eth/69 list `rlp([[type, status, cumulative gas, logs], ...])`
/// (the wire form of a `Receipts` answer's entry, and the stored receipts frame).
pub fn encode_eth69_list(receipts: &[Receipt], out: &mut dyn BufMut) {
    let payload: usize = receipts.iter().map(Receipt::eth69_length).sum();
    RlpHeader {
        list: true,
        payload_length: payload,
    }
    .encode(out);
    for r in receipts {
        r.encode_eth69(out);
    }
}

fn split(buf: &[u8], len: usize) -> Result<(&[u8], &[u8]), alloy_rlp::Error> {
    if buf.len() < len {
        return Err(alloy_rlp::Error::InputTooShort);
    }
    Ok(buf.split_at(len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{Address, B256, Bytes, LogData};

    fn sample(tx_type: TxType) -> Receipt {
        Receipt {
            tx_type,
            status: Eip658Value::Eip658(true),
            cumulative_gas_used: 21_000,
            logs: vec![Log {
                address: Address::repeat_byte(0x11),
                data: LogData::new_unchecked(vec![B256::repeat_byte(2)], Bytes::from_static(b"hi")),
            }],
        }
    }

    #[test]
    fn every_encoding_round_trips() {
        for ty in [TxType::Legacy, TxType::Eip1559, TxType::Eip4844] {
            let r = sample(ty);
            let mut out = Vec::new();
            r.encode_eth69(&mut out);
            assert_eq!(out.len(), r.eth69_length());
            assert_eq!(Receipt::decode_eth69(&mut &out[..]).unwrap(), r);
            out.clear();
            r.encode_eth68(&mut out);
            assert_eq!(out.len(), r.eth68_length());
            assert_eq!(Receipt::decode_eth68(&mut &out[..]).unwrap(), r);
            out.clear();
            r.encode_consensus(&mut out);
            assert_eq!(out.len(), r.consensus_length());
            assert_eq!(Receipt::decode_consensus(&mut &out[..]).unwrap(), r);
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [
            &[][..],
            &[0xc0][..],
            &[0xf8, 0xff][..],
            &[0x05, 0xc0][..],
            &[0x7e][..],
        ] {
            assert!(Receipt::decode_eth69(&mut &bytes[..]).is_err());
            assert!(Receipt::decode_eth68(&mut &bytes[..]).is_err());
        }
    }
}
