//! The stored form of one block: three independently compressed zstd frames (header, transactions,
//! receipts), so a bloom scan reads headers only and a log query never decompresses transactions.
//!
//! Owns encoding a [`VerifiedBlock`] into frames (done once, before any lock is taken) and decoding
//! frames back. It must never do I/O and never invent data: a frame that does not decode is an error.
//!
//! ```text
//! header frame        zstd(rlp(header))
//! transactions frame  zstd(kind u8 || body)
//!                       kind 0 (full):   eth wire body rlp([txs (EIP-2718), ommers, withdrawals?])
//!                       kind 1 (hashes): rlp([[tx hash, ...], ommers, withdrawals?])
//! receipts frame      zstd(eth/69 receipt list rlp([[type, status, cumulative gas, logs], ...]))
//! ```
//! Blooms are not stored; they are rebuilt from logs.

use alloy_eips::eip4895::Withdrawals;
use alloy_primitives::B256;
use alloy_rlp::{Decodable, Encodable, Header as RlpHeader};
use serde::{Deserialize, Serialize};

use super::layout::FrameLens;
use crate::primitives::{
    BlockNumber, Body, Header, Receipt, Transaction, VerifiedBlock, decode_body, encode_body,
    encode_eth69_list,
};

/// zstd level for stored frames (3: zstd's default; fast enough for ingest).
const ZSTD_LEVEL: i32 = 3;

const KIND_FULL: u8 = 0;
const KIND_HASHES: u8 = 1;

/// What to keep of each transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TxRetention {
    /// Full EIP-2718 bytes.
    #[default]
    Full,
    /// Only the hash (logs still carry their transaction hash and index).
    Hashes,
}

/// What the store retains (`[retention]` in the config; missing keys take the defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Retention {
    /// Transactions: full or hashes only.
    pub transactions: TxRetention,
}

/// A block turned into its three compressed frames, ready to be written.
#[derive(Debug, Clone)]
pub struct EncodedBlock {
    /// Block number.
    pub number: u64,
    /// Block hash.
    pub hash: B256,
    /// Parent hash (for link checks; not stored separately).
    pub parent_hash: B256,
    /// Transaction hashes in block order (for the tx index).
    pub tx_hashes: Vec<B256>,
    /// Header frame.
    pub header: Vec<u8>,
    /// Transactions frame.
    pub txs: Vec<u8>,
    /// Receipts frame.
    pub receipts: Vec<u8>,
}

impl EncodedBlock {
    /// Frame lengths.
    pub fn lens(&self) -> FrameLens {
        FrameLens {
            header: self.header.len() as u32,
            txs: self.txs.len() as u32,
            receipts: self.receipts.len() as u32,
        }
    }

    /// crc32 of the three frames, in order.
    pub fn crc(&self) -> u32 {
        let mut h = crc32fast::Hasher::new();
        h.update(&self.header);
        h.update(&self.txs);
        h.update(&self.receipts);
        h.finalize()
    }
}

/// Largest decompressed frame accepted (a sanity bound against a damaged size field).
const MAX_FRAME: usize = 512 << 20;

thread_local! {
    // Reused per thread: creating a zstd context per frame costs more than decoding a small frame.
    static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
        const { std::cell::RefCell::new(None) };
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
    // Reused per thread: the raw encodings and zstd's worst-case output buffer. Fresh ones cost
    // a large allocation (often a fresh mmap and its page faults) per frame, and growing the
    // raw encodings by doubling copied them again (perf: ~3% of ingest CPU).
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// The per-thread buffers [`encode`] works in.
#[derive(Default)]
struct Scratch {
    /// One raw (uncompressed) frame being built.
    raw: Vec<u8>,
    /// zstd's output, sized to the worst case of the largest frame so far.
    out: Vec<u8>,
}

/// Largest buffer a thread keeps between blocks: a rare huge block must not pin its size on
/// every worker thread for the rest of the run.
const SCRATCH_KEEP: usize = 4 << 20;

impl Scratch {
    /// Compresses `self.raw` into an exactly sized frame.
    fn compress_raw(&mut self) -> Vec<u8> {
        let raw = &self.raw;
        self.out.clear();
        self.out.reserve(zstd::zstd_safe::compress_bound(raw.len()));
        let compressed = COMPRESSOR.with(|c| {
            let mut c = c.borrow_mut();
            if c.is_none() {
                *c = zstd::bulk::Compressor::new(ZSTD_LEVEL).ok();
            }
            let c = c.as_mut()?;
            c.compress_to_buffer(raw, &mut self.out).ok()
        });
        // Exactly the compressed size: prepared blocks wait in queues counted by their
        // compressed size (heaptrack: ~80 MB at peak when they held zstd's worst-case buffer).
        let frame = match compressed {
            Some(n) => self.out[..n].to_vec(),
            // In-memory compression of a buffer fails only on allocation failure.
            None => zstd::bulk::compress(raw, ZSTD_LEVEL)
                .unwrap_or_else(|e| panic!("zstd compress: {e}")),
        };
        for buf in [&mut self.raw, &mut self.out] {
            if buf.capacity() > SCRATCH_KEEP {
                *buf = Vec::new();
            }
        }
        frame
    }
}

fn decompress(frame: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    decompress_into(frame, &mut out)?;
    Ok(out)
}

/// Decompresses `frame` into `out` (cleared first; a caller decoding many frames passes the
/// same buffer each time, so its capacity is allocated once, not per frame).
pub fn decompress_into(frame: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    // Frames written by `compress` record their size; a damaged size is bounded.
    let size = zstd::zstd_safe::get_frame_content_size(frame)
        .ok()
        .flatten()
        .ok_or("zstd frame without a readable content size")?;
    let size = usize::try_from(size)
        .ok()
        .filter(|&s| s <= MAX_FRAME)
        .ok_or(format!("zstd frame claims {size} bytes"))?;
    out.clear();
    out.reserve(size);
    DECOMPRESSOR.with(|d| {
        let mut d = d.borrow_mut();
        if d.is_none() {
            *d = Some(zstd::bulk::Decompressor::new().map_err(|e| format!("zstd: {e}"))?);
        }
        match d.as_mut() {
            Some(d) => d
                .decompress_to_buffer(frame, out)
                .map_err(|e| format!("zstd: {e}")),
            None => Err("zstd context unavailable".to_string()),
        }
    })?;
    if out.len() != size {
        return Err(format!(
            "zstd frame claims {size} bytes, holds {}",
            out.len()
        ));
    }
    Ok(())
}

/// Encodes a block into frames.
pub fn encode(block: &VerifiedBlock, retention: Retention) -> EncodedBlock {
    SCRATCH.with(|s| {
        let s = &mut *s.borrow_mut();
        s.raw.clear();
        block.header().encode(&mut s.raw);
        let header = s.compress_raw();
        let body = block.body();
        s.raw.clear();
        let tx_hashes = match retention.transactions {
            TxRetention::Full => {
                s.raw.push(KIND_FULL);
                encode_body(body, &mut s.raw);
                // Hashed from the bytes just encoded: `tx_hash()` would encode each
                // transaction again into a buffer of its own first. The body was encoded from a
                // verified block, so it walks; if it ever did not, fall back to the decoded form.
                let mut hashes = Vec::new();
                match full_body_tx_hashes(&s.raw[1..], |_| true, &mut hashes) {
                    Ok(()) => hashes,
                    Err(_) => block.transaction_hashes().collect(),
                }
            }
            TxRetention::Hashes => {
                s.raw.push(KIND_HASHES);
                let hashes: Vec<B256> = block.transaction_hashes().collect();
                encode_hashes_body(&hashes, &body.ommers, body.withdrawals.as_ref(), &mut s.raw);
                hashes
            }
        };
        let txs = s.compress_raw();
        s.raw.clear();
        encode_eth69_list(block.receipts(), &mut s.raw);
        let receipts = s.compress_raw();
        EncodedBlock {
            number: block.number().get(),
            hash: block.hash(),
            parent_hash: block.parent_hash(),
            tx_hashes,
            header,
            txs,
            receipts,
        }
    })
}

/// Calls `f(i, bytes)` for each transaction of an eth wire transaction list's payload, `bytes`
/// being what its hash is taken over: a legacy transaction is an RLP list (the whole item), a
/// typed one an RLP string wrapping `type || payload` (the string's content).
fn for_each_tx_hash_input(mut txs: &[u8], mut f: impl FnMut(usize, &[u8])) -> Result<(), String> {
    let mut i = 0;
    while !txs.is_empty() {
        let start = txs;
        let h = RlpHeader::decode(&mut txs).map_err(|e| format!("transaction rlp: {e}"))?;
        let head_len = start.len() - txs.len();
        if txs.len() < h.payload_length {
            return Err("transaction runs past its list".into());
        }
        let item = if h.list {
            &start[..head_len + h.payload_length]
        } else {
            &txs[..h.payload_length]
        };
        f(i, item);
        txs = &txs[h.payload_length..];
        i += 1;
    }
    Ok(())
}

/// The transaction hashes of an eth wire body (`rlp([txs, ommers, withdrawals?])`), computed from
/// the stored bytes without decoding the transactions, put into `out` (cleared first: a caller
/// walking many bodies reuses one); positions where `want(i)` is false get `B256::ZERO` (and
/// cost no hashing).
fn full_body_tx_hashes(
    body: &[u8],
    want: impl Fn(usize) -> bool,
    out: &mut Vec<B256>,
) -> Result<(), String> {
    out.clear();
    let mut buf = body;
    let outer = RlpHeader::decode(&mut buf).map_err(|e| format!("body rlp: {e}"))?;
    if !outer.list || buf.len() < outer.payload_length {
        return Err("body is not a complete list".into());
    }
    let h = RlpHeader::decode(&mut buf).map_err(|e| format!("body rlp: {e}"))?;
    if !h.list || buf.len() < h.payload_length {
        return Err("transactions are not a complete list".into());
    }
    for_each_tx_hash_input(&buf[..h.payload_length], |i, bytes| {
        out.push(if want(i) {
            alloy_primitives::keccak256(bytes)
        } else {
            B256::ZERO
        });
    })
}

/// The transaction hashes of a transactions frame, without decoding the transactions (the log
/// index needs only these of the body), put into `out` (cleared first); positions where
/// `want(i)` is false get `B256::ZERO`. The frame is decompressed into `scratch`. A caller
/// walking many frames passes the same `scratch` and `out` (no allocation per block).
pub fn decode_tx_hashes(
    frame: &[u8],
    want: impl Fn(usize) -> bool,
    scratch: &mut Vec<u8>,
    out: &mut Vec<B256>,
) -> Result<(), String> {
    decompress_into(frame, scratch)?;
    let (&kind, rest) = scratch
        .split_first()
        .ok_or("empty transactions frame".to_string())?;
    match kind {
        KIND_FULL => full_body_tx_hashes(rest, want, out),
        KIND_HASHES => {
            out.clear();
            let mut buf = rest;
            let h = RlpHeader::decode(&mut buf).map_err(|e| format!("body rlp: {e}"))?;
            if !h.list || buf.len() < h.payload_length {
                return Err("hashes body is not a complete list".into());
            }
            // The list of hashes, item by item into `out` (the checks `Vec::<B256>::decode`
            // makes: a list, its payload present, each item a 32-byte string).
            let mut inner = &buf[..h.payload_length];
            let mut items =
                RlpHeader::decode_bytes(&mut inner, true).map_err(|e| format!("hashes: {e}"))?;
            while !items.is_empty() {
                out.push(B256::decode(&mut items).map_err(|e| format!("hashes: {e}"))?);
            }
            Ok(())
        }
        other => Err(format!("unknown transactions frame kind {other}")),
    }
}

fn encode_hashes_body(
    hashes: &[B256],
    ommers: &[Header],
    withdrawals: Option<&Withdrawals>,
    out: &mut Vec<u8>,
) {
    let mut payload = alloy_rlp::list_length::<B256, B256>(hashes) + alloy_rlp::list_length(ommers);
    if let Some(w) = withdrawals {
        payload += w.length();
    }
    RlpHeader {
        list: true,
        payload_length: payload,
    }
    .encode(out);
    alloy_rlp::encode_list::<B256, B256>(hashes, out);
    alloy_rlp::encode_list(ommers, out);
    if let Some(w) = withdrawals {
        w.encode(out);
    }
}

/// Decodes a header frame stored under block hash `hash`, refusing it unless its decompressed
/// bytes (the header's RLP) hash to `hash`. A segment's header-only read is covered by nothing
/// else (`segment.rs`'s `header_frame`): without this check a damaged header frame mostly decodes
/// to another header, and a damaged offset-table hash would be served as is. The check costs one
/// keccak256 of ~550 bytes (README "Storage"). Every header is decoded here, so no read forgets it.
pub fn decode_header(frame: &[u8], hash: &B256) -> Result<Header, String> {
    let raw = decompress(frame)?;
    let got = alloy_primitives::keccak256(&raw);
    if got != *hash {
        return Err(format!(
            "header frame hashes to {got}, not to the block hash {hash} stored with it (the frame or that hash is damaged)"
        ));
    }
    let mut buf = &raw[..];
    let header = Header::decode(&mut buf).map_err(|e| format!("header rlp: {e}"))?;
    if !buf.is_empty() {
        return Err("trailing bytes after header".into());
    }
    Ok(header)
}

/// The transactions of a stored block, as retained.
#[derive(Debug, Clone, PartialEq)]
pub enum StoredTransactions {
    /// Full transactions.
    Full(Vec<Transaction>),
    /// Hashes only.
    Hashes(Vec<B256>),
}

impl StoredTransactions {
    /// Hashes of the transactions, in block order.
    pub fn hashes(&self) -> Vec<B256> {
        match self {
            StoredTransactions::Full(txs) => txs.iter().map(|t| *t.tx_hash()).collect(),
            StoredTransactions::Hashes(h) => h.clone(),
        }
    }

    /// Number of transactions.
    pub fn len(&self) -> usize {
        match self {
            StoredTransactions::Full(txs) => txs.len(),
            StoredTransactions::Hashes(h) => h.len(),
        }
    }

    /// Whether the block has no transactions.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A decoded transactions frame.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredBody {
    /// Transactions or their hashes.
    pub transactions: StoredTransactions,
    /// Ommer headers.
    pub ommers: Vec<Header>,
    /// Withdrawals (from Shanghai).
    pub withdrawals: Option<Withdrawals>,
}

/// Decodes a transactions frame.
pub fn decode_body_frame(frame: &[u8]) -> Result<StoredBody, String> {
    let raw = decompress(frame)?;
    let (&kind, rest) = raw
        .split_first()
        .ok_or("empty transactions frame".to_string())?;
    let mut buf = rest;
    let out = match kind {
        KIND_FULL => {
            let body = decode_body(&mut buf).map_err(|e| format!("body rlp: {e}"))?;
            StoredBody {
                transactions: StoredTransactions::Full(body.transactions),
                ommers: body.ommers,
                withdrawals: body.withdrawals,
            }
        }
        KIND_HASHES => {
            let h = RlpHeader::decode(&mut buf).map_err(|e| format!("body rlp: {e}"))?;
            if !h.list || buf.len() < h.payload_length {
                return Err("hashes body is not a complete list".into());
            }
            let (mut inner, rest) = buf.split_at(h.payload_length);
            let hashes = Vec::<B256>::decode(&mut inner).map_err(|e| format!("hashes: {e}"))?;
            let ommers = Vec::<Header>::decode(&mut inner).map_err(|e| format!("ommers: {e}"))?;
            let withdrawals = if inner.is_empty() {
                None
            } else {
                Some(Withdrawals::decode(&mut inner).map_err(|e| format!("withdrawals: {e}"))?)
            };
            if !inner.is_empty() {
                return Err("trailing bytes in hashes body".into());
            }
            buf = rest;
            StoredBody {
                transactions: StoredTransactions::Hashes(hashes),
                ommers,
                withdrawals,
            }
        }
        other => return Err(format!("unknown transactions frame kind {other}")),
    };
    if !buf.is_empty() {
        return Err("trailing bytes after body".into());
    }
    Ok(out)
}

/// Decodes a receipts frame.
pub fn decode_receipts(frame: &[u8]) -> Result<Vec<Receipt>, String> {
    let raw = decompress(frame)?;
    let mut buf = &raw[..];
    let h = RlpHeader::decode(&mut buf).map_err(|e| format!("receipts rlp: {e}"))?;
    if !h.list || buf.len() != h.payload_length {
        return Err("receipts frame is not one complete list".into());
    }
    let mut out = Vec::new();
    while !buf.is_empty() {
        out.push(Receipt::decode_eth69(&mut buf).map_err(|e| format!("receipt: {e}"))?);
    }
    Ok(out)
}

/// One log of a stored receipts frame, borrowed from the frame's decompressed bytes (what the log
/// index build needs, without the allocations of a decoded [`Receipt`]'s `Log`s).
#[derive(Debug, Clone, Copy)]
pub struct LogView<'a> {
    /// The emitting contract.
    pub address: &'a [u8; 20],
    /// The topics' RLP items, each `0xa0 || topic` (checked by [`for_each_log`]).
    topics: &'a [u8],
    /// The data.
    pub data: &'a [u8],
}

/// RLP bytes of one topic: its one-byte string header and its 32 bytes.
const TOPIC_ITEM: usize = 33;

impl<'a> LogView<'a> {
    /// The topics, in order, 32 bytes each.
    pub fn topics(&self) -> impl ExactSizeIterator<Item = &'a [u8]> + Clone + use<'a> {
        self.topics.chunks_exact(TOPIC_ITEM).map(|item| &item[1..])
    }
}

/// Calls `f(transaction index, log)` for every log of a decompressed receipts frame, in order,
/// without building the receipts. Accepts exactly what [`decode_receipts`] accepts: a frame that
/// does not decode is an error (and `f` may have seen the logs before the damage). Returns the
/// number of receipts (the block's transaction count).
pub fn for_each_log<'a>(
    raw: &'a [u8],
    mut f: impl FnMut(usize, LogView<'a>),
) -> Result<usize, String> {
    use alloy_consensus::{Eip658Value, TxType};
    let rlp = |e: alloy_rlp::Error| format!("receipt: {e}");
    let mut buf = raw;
    let h = RlpHeader::decode(&mut buf).map_err(|e| format!("receipts rlp: {e}"))?;
    if !h.list || buf.len() != h.payload_length {
        return Err("receipts frame is not one complete list".into());
    }
    let mut tx = 0;
    while !buf.is_empty() {
        // [type, status, cumulative gas, logs], as `Receipt::decode_eth69` reads it.
        let mut receipt = RlpHeader::decode_bytes(&mut buf, true).map_err(rlp)?;
        let ty = u8::decode(&mut receipt).map_err(rlp)?;
        TxType::try_from(ty).map_err(|_| format!("receipt: unknown transaction type {ty}"))?;
        Eip658Value::decode(&mut receipt).map_err(rlp)?;
        u64::decode(&mut receipt).map_err(rlp)?;
        let mut logs = RlpHeader::decode_bytes(&mut receipt, true).map_err(rlp)?;
        if !receipt.is_empty() {
            return Err(format!("receipt: {} trailing bytes", receipt.len()));
        }
        while !logs.is_empty() {
            let mut log = RlpHeader::decode_bytes(&mut logs, true).map_err(rlp)?;
            let address = RlpHeader::decode_bytes(&mut log, false)
                .map_err(rlp)?
                .try_into()
                .map_err(|_| "receipt: log address is not 20 bytes".to_string())?;
            let topics = RlpHeader::decode_bytes(&mut log, true).map_err(rlp)?;
            let mut rest = topics;
            while !rest.is_empty() {
                if RlpHeader::decode_bytes(&mut rest, false)
                    .map_err(rlp)?
                    .len()
                    != 32
                {
                    return Err("receipt: log topic is not 32 bytes".into());
                }
            }
            let data = RlpHeader::decode_bytes(&mut log, false).map_err(rlp)?;
            if !log.is_empty() {
                return Err("receipt: log did not consume exact payload".into());
            }
            // Each topic passed as a canonical 32-byte string: its item is `0xa0 || 32 bytes`,
            // so the list's payload is TOPIC_ITEM-byte items.
            f(
                tx,
                LogView {
                    address,
                    topics,
                    data,
                },
            );
        }
        tx += 1;
    }
    Ok(tx)
}

/// A block as stored: everything histd keeps, with transactions full or hashes only.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredBlock {
    /// The header.
    pub header: Header,
    /// Its hash.
    pub hash: B256,
    /// Transactions (or hashes), ommers, withdrawals.
    pub body: StoredBody,
    /// Receipts.
    pub receipts: Vec<Receipt>,
}

impl StoredBlock {
    /// Block number.
    pub fn number(&self) -> BlockNumber {
        BlockNumber(self.header.number)
    }

    /// Transaction hashes in block order (whichever way the transactions were retained).
    pub fn tx_hashes(&self) -> Vec<B256> {
        match &self.body.transactions {
            StoredTransactions::Full(txs) => txs.iter().map(|t| *t.tx_hash()).collect(),
            StoredTransactions::Hashes(h) => h.clone(),
        }
    }

    /// The verified block, if the full transactions were retained.
    pub fn into_verified(self) -> Option<VerifiedBlock> {
        let StoredTransactions::Full(transactions) = self.body.transactions else {
            return None;
        };
        // Only storage calls this, on bytes it wrote from a VerifiedBlock and checked by crc.
        Some(VerifiedBlock::new_unchecked(
            self.header,
            self.hash,
            Body {
                transactions,
                ommers: self.body.ommers,
                withdrawals: self.body.withdrawals,
            },
            self.receipts,
        ))
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::testkit::mainnet::load_blocks;
    use crate::verify::{SealedHeader, verify_block};

    /// The real mainnet blocks of the test data, verified.
    pub(in crate::storage) fn mainnet() -> Vec<VerifiedBlock> {
        load_blocks()
            .into_iter()
            .map(|b| {
                verify_block(SealedHeader::seal(b.header), b.body, b.receipts)
                    .expect("mainnet block verifies")
            })
            .collect()
    }

    /// [`decode_tx_hashes`] into a fresh vector.
    fn hashes_of(frame: &[u8], want: impl Fn(usize) -> bool) -> Result<Vec<B256>, String> {
        let mut out = Vec::new();
        decode_tx_hashes(frame, want, &mut Vec::new(), &mut out).map(|()| out)
    }

    #[test]
    fn transaction_hashes_from_the_stored_bytes_are_the_transactions_hashes() {
        let blocks = mainnet();
        assert!(blocks.iter().any(|b| b.body().transactions.len() > 100));
        for block in &blocks {
            let expected: Vec<B256> = block.transaction_hashes().collect();
            for transactions in [TxRetention::Full, TxRetention::Hashes] {
                let e = encode(block, Retention { transactions });
                assert_eq!(e.tx_hashes, expected, "block {} {transactions:?}", e.number);
                assert_eq!(hashes_of(&e.txs, |_| true).as_ref(), Ok(&expected));
                // Positions not asked for are zero and cost no hashing (full bodies).
                if transactions == TxRetention::Full {
                    let even = hashes_of(&e.txs, |i| i % 2 == 0).expect("walks");
                    for (i, (got, want)) in even.iter().zip(&expected).enumerate() {
                        assert_eq!(*got, if i % 2 == 0 { *want } else { B256::ZERO });
                    }
                    assert_eq!(even.len(), expected.len());
                }
                // And the frames still decode to the block.
                assert_eq!(
                    decode_body_frame(&e.txs)
                        .expect("body")
                        .transactions
                        .hashes(),
                    expected
                );
                assert_eq!(
                    decode_receipts(&e.receipts).as_deref(),
                    Ok(block.receipts())
                );
            }
        }
    }

    /// The logs of `raw` as [`for_each_log`] walks them, or its error.
    fn walked(raw: &[u8]) -> Result<Vec<(usize, alloy_primitives::Log)>, String> {
        let mut out = Vec::new();
        for_each_log(raw, |tx, log| {
            let topics = log.topics().map(B256::from_slice).collect();
            let data = alloy_primitives::Bytes::copy_from_slice(log.data);
            let address = alloy_primitives::Address::from(*log.address);
            out.push((
                tx,
                alloy_primitives::Log::new_unchecked(address, topics, data),
            ));
        })?;
        Ok(out)
    }

    #[test]
    fn the_log_walk_reads_what_decode_receipts_reads() {
        for block in &mainnet() {
            let e = encode(block, Retention::default());
            let raw = decompress(&e.receipts).expect("frame");
            let want: Vec<_> = block
                .receipts()
                .iter()
                .enumerate()
                .flat_map(|(tx, r)| r.logs.iter().map(move |l| (tx, l.clone())))
                .collect();
            assert_eq!(walked(&raw), Ok(want), "block {}", e.number);
        }
    }

    /// Every byte of a small receipts list changed, one at a time, and the list cut at every
    /// length: the walk accepts a frame exactly when `decode_receipts` does, and never panics.
    #[test]
    fn the_log_walk_accepts_exactly_what_decode_receipts_accepts() {
        // Two receipts of two to four logs, one of them with data (a few hundred bytes).
        let small = |r: &&Receipt| (2..=4).contains(&r.logs.len());
        let blocks = mainnet();
        let mut receipts: Vec<Receipt> = blocks
            .iter()
            .flat_map(|b| b.receipts().iter().filter(small))
            .take(2)
            .cloned()
            .collect();
        receipts[0].logs[0].data.data = alloy_primitives::Bytes::from_static(&[7; 40]);
        let mut raw = Vec::new();
        encode_eth69_list(&receipts, &mut raw);
        let check = |raw: &[u8]| {
            let frame = zstd::bulk::compress(raw, ZSTD_LEVEL).expect("compress");
            assert_eq!(
                walked(raw).is_ok(),
                decode_receipts(&frame).is_ok(),
                "{}",
                alloy_primitives::hex::encode(raw)
            );
        };
        for i in 0..raw.len() {
            for v in [0u8, 0x01, 0x7f, 0x80, 0x94, 0xa0, 0xb8, 0xc0, 0xf8, 0xff] {
                let mut bad = raw.clone();
                bad[i] = v;
                check(&bad);
            }
            check(&raw[..i]);
        }
    }

    /// A header frame decodes only to the header whose hash is stored with it: one bit flipped
    /// in any byte of a real header frame (bit `i % 8` of byte `i`) is an error unless zstd
    /// ignores that bit (the frame still holds the same bytes), and one flipped in the hash is.
    #[test]
    fn a_damaged_header_frame_or_hash_is_an_error_never_another_header() {
        let (mut flips, mut ignored) = (0, 0);
        for block in &mainnet() {
            let e = encode(block, Retention::default());
            assert_eq!(
                decode_header(&e.header, &e.hash).as_ref(),
                Ok(block.header())
            );
            let raw = decompress(&e.header).expect("frame");
            for i in 0..e.header.len() {
                let mut bad = e.header.clone();
                bad[i] ^= 1 << (i % 8);
                flips += 1;
                if let Ok(h) = decode_header(&bad, &e.hash) {
                    // Bits zstd ignores: byte 4 bit 4 (the frame header descriptor's unused
                    // bit) in every frame, and one more of the 6,195 flips. The same bytes.
                    assert_eq!(
                        decompress(&bad).as_ref(),
                        Ok(&raw),
                        "block {} byte {i}",
                        e.number
                    );
                    assert_eq!(&h, block.header());
                    ignored += 1;
                }
            }
            for i in 0..32 {
                let mut hash = e.hash;
                hash.0[i] ^= 1 << (i % 8);
                assert!(decode_header(&e.header, &hash).is_err());
            }
        }
        println!("{ignored} of {flips} header frame flips ignored by zstd, the rest refused");
        assert!(ignored * 100 < flips, "{ignored} of {flips} flips ignored");
    }

    #[test]
    fn a_transactions_frame_that_does_not_walk_is_an_error() {
        let block = &mainnet()[0];
        let e = encode(block, Retention::default());
        let mut raw = decompress(&e.txs).expect("frame");
        raw.truncate(raw.len() / 2);
        let cut = zstd::bulk::compress(&raw, ZSTD_LEVEL).expect("compress");
        assert!(hashes_of(&cut, |_| true).is_err());
        assert!(hashes_of(&[], |_| true).is_err());
    }
}
