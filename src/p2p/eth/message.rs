//! [`EthMessage`]: every eth message histd handles, and its codec for eth/68 and eth/69.

use alloy_consensus::Header;
use alloy_primitives::{B256, Bytes};
use alloy_rlp::Decodable;

use super::headers::GetBlockHeaders;
use super::limits::{
    MAX_BLOCKS_PER_REQUEST, MAX_ETH_MESSAGE_SIZE, MAX_HEADERS, MAX_POOLED_TRANSACTIONS,
    MAX_TRANSACTIONS_PER_BLOCK, MAX_TRANSACTIONS_PER_MESSAGE,
};
use super::rlp::{
    count_items, decode_list, finish, list_of_encoded, request_pair, rlp_err, take_item, take_list,
};
use super::status::{BlockRange, Status};
use super::{
    EthDecodeError, EthDecodeErrorKind as Kind, EthEncodeError, EthMessageId, EthVersion,
    RequestPair,
};
use crate::primitives::{Body, Receipt, decode_body, encode_body};

/// A broadcast histd does not act on (transaction and block gossip). Checked to be one
/// well-formed RLP list, then kept raw: the session drops it without answer or penalty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gossip {
    /// `Transactions`, `NewPooledTransactionHashes`, or (eth/68) `NewBlockHashes` / `NewBlock`.
    pub id: EthMessageId,
    /// The payload as received.
    pub payload: Bytes,
}

/// One eth message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EthMessage {
    /// 0x00, handshake.
    Status(Status),
    /// 0x03.
    GetBlockHeaders(RequestPair<GetBlockHeaders>),
    /// 0x04.
    BlockHeaders(RequestPair<Vec<Header>>),
    /// 0x05, block hashes.
    GetBlockBodies(RequestPair<Vec<B256>>),
    /// 0x06, in request order; may be shorter than the request.
    BlockBodies(RequestPair<Vec<Body>>),
    /// 0x0f, block hashes.
    GetReceipts(RequestPair<Vec<B256>>),
    /// 0x10, one list of receipts per block, in request order. eth/68 wire form carries the
    /// bloom (dropped on decode, rebuilt on encode); eth/69 has none.
    Receipts(RequestPair<Vec<Vec<Receipt>>>),
    /// 0x11 (eth/69): the peer's served range changed.
    BlockRangeUpdate(BlockRange),
    /// 0x09: we have no transaction pool; the session answers with an empty
    /// `PooledTransactions` (a valid answer that keeps the peer's request from timing out).
    GetPooledTransactions(RequestPair<Vec<B256>>),
    /// 0x0a: transactions as raw network-encoded RLP items (we only ever send an empty one).
    PooledTransactions(RequestPair<Vec<Bytes>>),
    /// Gossip we ignore politely.
    Gossip(Gossip),
}

impl EthMessage {
    /// The message id.
    pub fn id(&self) -> EthMessageId {
        match self {
            Self::Status(_) => EthMessageId::Status,
            Self::GetBlockHeaders(_) => EthMessageId::GetBlockHeaders,
            Self::BlockHeaders(_) => EthMessageId::BlockHeaders,
            Self::GetBlockBodies(_) => EthMessageId::GetBlockBodies,
            Self::BlockBodies(_) => EthMessageId::BlockBodies,
            Self::GetReceipts(_) => EthMessageId::GetReceipts,
            Self::Receipts(_) => EthMessageId::Receipts,
            Self::BlockRangeUpdate(_) => EthMessageId::BlockRangeUpdate,
            Self::GetPooledTransactions(_) => EthMessageId::GetPooledTransactions,
            Self::PooledTransactions(_) => EthMessageId::PooledTransactions,
            Self::Gossip(g) => g.id,
        }
    }

    /// The request id of a request or response.
    pub fn request_id(&self) -> Option<u64> {
        match self {
            Self::GetBlockHeaders(r) => Some(r.request_id),
            Self::BlockHeaders(r) => Some(r.request_id),
            Self::GetBlockBodies(r) | Self::GetReceipts(r) | Self::GetPooledTransactions(r) => {
                Some(r.request_id)
            }
            Self::BlockBodies(r) => Some(r.request_id),
            Self::Receipts(r) => Some(r.request_id),
            Self::PooledTransactions(r) => Some(r.request_id),
            Self::Status(_) | Self::BlockRangeUpdate(_) | Self::Gossip(_) => None,
        }
    }

    /// Decodes the (uncompressed) `payload` of message `id` (relative to the eth offset) under the
    /// negotiated `version`. Never panics; every failure names version, id and what failed.
    pub fn decode(version: EthVersion, id: u8, payload: &[u8]) -> Result<Self, EthDecodeError> {
        let err = |kind| EthDecodeError { version, id, kind };
        let msg_id = EthMessageId::from_u8(version, id).ok_or_else(|| err(Kind::UnknownId))?;
        if payload.len() > MAX_ETH_MESSAGE_SIZE {
            return Err(err(Kind::TooLarge {
                size: payload.len(),
                max: MAX_ETH_MESSAGE_SIZE,
            }));
        }
        decode_payload(version, msg_id, payload).map_err(err)
    }

    /// Encodes for the negotiated `version`: the id relative to the eth offset and the
    /// uncompressed RLP payload (the RLPx layer adds the offset and snappy).
    pub fn encode(&self, version: EthVersion) -> Result<(u8, Vec<u8>), EthEncodeError> {
        let id = self.id();
        if !id.exists_in(version) {
            return Err(EthEncodeError::NotInVersion { version, id });
        }
        let mut out = Vec::new();
        match self {
            Self::Status(s) => {
                if s.layout() != version {
                    return Err(EthEncodeError::StatusLayout {
                        version,
                        layout: s.layout(),
                    });
                }
                s.encode_message(&mut out);
            }
            Self::GetBlockHeaders(r) => {
                out = request_pair(r.request_id, &alloy_rlp::encode(r.message));
            }
            Self::BlockHeaders(r) => {
                out = request_pair(r.request_id, &alloy_rlp::encode(&r.message));
            }
            Self::GetBlockBodies(r) | Self::GetReceipts(r) | Self::GetPooledTransactions(r) => {
                out = request_pair(r.request_id, &alloy_rlp::encode(&r.message));
            }
            Self::BlockBodies(r) => {
                let mut items = Vec::new();
                for body in &r.message {
                    encode_body(body, &mut items);
                }
                let mut list = Vec::with_capacity(items.len() + 8);
                list_of_encoded(&items, &mut list);
                out = request_pair(r.request_id, &list);
            }
            Self::Receipts(r) => {
                let mut blocks = Vec::new();
                for receipts in &r.message {
                    let mut items = Vec::new();
                    for receipt in receipts {
                        match version {
                            EthVersion::Eth68 => receipt.encode_eth68(&mut items),
                            EthVersion::Eth69 => receipt.encode_eth69(&mut items),
                        }
                    }
                    list_of_encoded(&items, &mut blocks);
                }
                let mut list = Vec::with_capacity(blocks.len() + 8);
                list_of_encoded(&blocks, &mut list);
                out = request_pair(r.request_id, &list);
            }
            Self::BlockRangeUpdate(range) => range.encode_message(&mut out),
            Self::PooledTransactions(r) => {
                let items: Vec<u8> = r.message.iter().flat_map(|t| t.iter().copied()).collect();
                let mut list = Vec::with_capacity(items.len() + 8);
                list_of_encoded(&items, &mut list);
                out = request_pair(r.request_id, &list);
            }
            Self::Gossip(g) => out.extend_from_slice(&g.payload),
        }
        Ok((id.as_u8(), out))
    }
}

fn decode_payload(
    version: EthVersion,
    id: EthMessageId,
    payload: &[u8],
) -> Result<EthMessage, Kind> {
    use EthMessageId as Id;
    Ok(match id {
        Id::Status => EthMessage::Status(Status::decode_message(version, payload)?),
        Id::GetBlockHeaders => EthMessage::GetBlockHeaders(decode_request(payload, |body| {
            let mut b = body;
            let request = GetBlockHeaders::decode(&mut b).map_err(rlp_err("header request"))?;
            finish(b, "header request")?;
            Ok(request)
        })?),
        Id::BlockHeaders => EthMessage::BlockHeaders(decode_request(payload, |body| {
            let list = whole_list(body, "headers")?;
            decode_list(list, "headers", MAX_HEADERS, Header::decode)
        })?),
        Id::GetBlockBodies => {
            EthMessage::GetBlockBodies(decode_hashes(payload, MAX_BLOCKS_PER_REQUEST)?)
        }
        Id::GetReceipts => EthMessage::GetReceipts(decode_hashes(payload, MAX_BLOCKS_PER_REQUEST)?),
        Id::GetPooledTransactions => {
            EthMessage::GetPooledTransactions(decode_hashes(payload, MAX_POOLED_TRANSACTIONS)?)
        }
        Id::BlockBodies => EthMessage::BlockBodies(decode_request(payload, |body| {
            let list = whole_list(body, "bodies")?;
            count_body_transactions(list)?;
            decode_list(list, "bodies", MAX_BLOCKS_PER_REQUEST, decode_body)
        })?),
        Id::Receipts => EthMessage::Receipts(decode_request(payload, |body| {
            decode_receipts(version, body)
        })?),
        Id::PooledTransactions => {
            EthMessage::PooledTransactions(decode_request(payload, |body| {
                let list = whole_list(body, "transactions")?;
                decode_list(list, "transactions", MAX_POOLED_TRANSACTIONS, |item| {
                    let raw = take_item(item)?;
                    Ok(Bytes::copy_from_slice(raw))
                })
            })?)
        }
        Id::BlockRangeUpdate => EthMessage::BlockRangeUpdate(BlockRange::decode_message(payload)?),
        Id::Transactions | Id::NewPooledTransactionHashes | Id::NewBlockHashes | Id::NewBlock => {
            let mut buf = payload;
            take_list(&mut buf, id.name())?;
            finish(buf, id.name())?;
            EthMessage::Gossip(Gossip {
                id,
                payload: Bytes::copy_from_slice(payload),
            })
        }
    })
}

/// `[request-id, <body>]`: decodes the id and hands the body item (header included) to `body`.
fn decode_request<T>(
    payload: &[u8],
    body: impl FnOnce(&[u8]) -> Result<T, Kind>,
) -> Result<RequestPair<T>, Kind> {
    let mut buf = payload;
    let mut pair = take_list(&mut buf, "request pair")?;
    finish(buf, "request pair")?;
    let request_id = u64::decode(&mut pair).map_err(rlp_err("request id"))?;
    let item = take_item(&mut pair).map_err(rlp_err("request body"))?;
    finish(pair, "request body")?;
    Ok(RequestPair {
        request_id,
        message: body(item)?,
    })
}

/// The payload of `item`, which must be exactly one list.
fn whole_list<'a>(item: &'a [u8], what: &'static str) -> Result<&'a [u8], Kind> {
    let mut buf = item;
    let list = take_list(&mut buf, what)?;
    finish(buf, what)?;
    Ok(list)
}

fn decode_hashes(payload: &[u8], max: usize) -> Result<RequestPair<Vec<B256>>, Kind> {
    decode_request(payload, |body| {
        let list = whole_list(body, "hashes")?;
        decode_list(list, "hashes", max, B256::decode)
    })
}

/// Counts the transactions of every body in a `BlockBodies` list (walking RLP headers only) and
/// fails if one body or the whole message holds too many, before any body is decoded.
fn count_body_transactions(bodies: &[u8]) -> Result<(), Kind> {
    let n_bodies = count_items(bodies, "bodies", MAX_BLOCKS_PER_REQUEST)?;
    let mut buf = bodies;
    let mut total = 0usize;
    for _ in 0..n_bodies {
        let mut body = take_list(&mut buf, "body")?;
        let txs = take_list(&mut body, "body transactions")?;
        total += count_items(txs, "transactions in one body", MAX_TRANSACTIONS_PER_BLOCK)?;
        if total > MAX_TRANSACTIONS_PER_MESSAGE {
            return Err(Kind::TooMany {
                what: "transactions in one message",
                max: MAX_TRANSACTIONS_PER_MESSAGE,
            });
        }
    }
    Ok(())
}

fn decode_receipts(version: EthVersion, body: &[u8]) -> Result<Vec<Vec<Receipt>>, Kind> {
    let blocks = whole_list(body, "receipt lists")?;
    let n_blocks = count_items(blocks, "receipt lists", MAX_BLOCKS_PER_REQUEST)?;
    // First pass: every count, before anything is allocated.
    let mut counts = Vec::with_capacity(n_blocks);
    let mut buf = blocks;
    let mut total = 0usize;
    for _ in 0..n_blocks {
        let receipts = take_list(&mut buf, "receipt list")?;
        let n = count_items(
            receipts,
            "receipts in one block",
            MAX_TRANSACTIONS_PER_BLOCK,
        )?;
        total += n;
        if total > MAX_TRANSACTIONS_PER_MESSAGE {
            return Err(Kind::TooMany {
                what: "receipts in one message",
                max: MAX_TRANSACTIONS_PER_MESSAGE,
            });
        }
        counts.push(n);
    }
    finish(buf, "receipt lists")?;
    let mut out = Vec::with_capacity(n_blocks);
    let mut buf = blocks;
    for (block, &n) in counts.iter().enumerate() {
        let receipts = take_list(&mut buf, "receipt list")?;
        let mut list = Vec::with_capacity(n);
        let mut r = receipts;
        for index in 0..n {
            let receipt = match version {
                EthVersion::Eth68 => Receipt::decode_eth68(&mut r),
                EthVersion::Eth69 => Receipt::decode_eth69(&mut r),
            }
            .map_err(|source| Kind::Receipt {
                block,
                index,
                source,
            })?;
            list.push(receipt);
        }
        finish(r, "receipts")?;
        out.push(list);
    }
    finish(buf, "receipt lists")?;
    Ok(out)
}
