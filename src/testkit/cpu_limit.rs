//! The single-core limit of histd's pure CPU work per block: decode the wire RLP, verify (header
//! seal, body roots, receipts root and bloom), and encode + compress into the stored form. No I/O,
//! no network, no threads: what one core must spend per block whatever the pipeline around it does.
//!
//! Owns [`measure`] (the figure `benches/verify.rs` prints and `histd-bench` reports beside its
//! end-to-end CPU, so that reads as a ratio to this limit) and [`RawBlock`], the wire form it
//! starts from. It calls the product's own decode, verify and storage-encoding functions, never
//! copies of them, so a change there shows up here. Test tooling: never used by the product.
//!
//! Each step runs over all blocks in one pass, repeated for several rounds; a step's figure is its
//! fastest round (thread CPU time, so other processes on a shared machine inflate it least).

use std::fmt;
use std::time::Duration;

use alloy_rlp::{Decodable, Encodable, Header as RlpHeader};

use super::mainnet::RawMainnetBlock;
use crate::primitives::{
    Body, Header, Receipt, VerifiedBlock, decode_body, encode_body, encode_eth69_list,
};
use crate::storage::{PreparedBlock, Retention};
use crate::verify::{SealedHeader, check_body, check_receipts};

/// One block as it arrives from peers: header RLP, eth wire body RLP, eth/69 receipt list RLP.
#[derive(Debug, Clone)]
pub struct RawBlock {
    /// `rlp(header)`.
    pub header: Vec<u8>,
    /// `rlp([txs, ommers(, withdrawals)])`, typed transactions as RLP strings.
    pub body: Vec<u8>,
    /// eth/69 `rlp([[type, status, cumulative gas, logs], ...])`.
    pub receipts: Vec<u8>,
}

impl RawBlock {
    /// A real mainnet block's bytes as published.
    pub fn from_mainnet(b: &RawMainnetBlock) -> Self {
        Self {
            header: b.raw_header.clone(),
            body: b.raw_body.clone(),
            receipts: b.raw_receipts.clone(),
        }
    }

    /// The wire form of a block (for the testnet's mainnet-like chain, which keeps blocks decoded).
    pub fn from_verified(b: &VerifiedBlock) -> Self {
        let mut header = Vec::new();
        b.header().encode(&mut header);
        let mut body = Vec::new();
        encode_body(b.body(), &mut body);
        let mut receipts = Vec::new();
        encode_eth69_list(b.receipts(), &mut receipts);
        Self {
            header,
            body,
            receipts,
        }
    }

    /// Bytes on the wire (header + body + receipts RLP).
    pub fn len(&self) -> usize {
        self.header.len() + self.body.len() + self.receipts.len()
    }

    /// Whether all three parts are empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Single-core CPU milliseconds per block, by step (each the fastest of its rounds).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct CpuLimit {
    /// Blocks measured.
    pub blocks: usize,
    /// Rounds over all blocks.
    pub rounds: usize,
    /// Average wire size (header + body + receipts RLP), bytes.
    pub raw_bytes: f64,
    /// Average stored size (the three compressed frames), bytes.
    pub stored_bytes: f64,
    /// Header, body and eth/69 receipts from RLP.
    pub decode_ms: f64,
    /// Header hash.
    pub seal_ms: f64,
    /// `check_body`: transactions, ommers and withdrawals roots.
    pub body_ms: f64,
    /// `check_receipts`: types, receipts root, logs bloom.
    pub receipts_ms: f64,
    /// `seal_ms + body_ms + receipts_ms`.
    pub verify_ms: f64,
    /// Encoding and zstd of the stored frames (`PreparedBlock::new`).
    pub compress_ms: f64,
    /// `decode_ms + verify_ms + compress_ms`.
    pub total_ms: f64,
}

impl fmt::Display for CpuLimit {
    /// A Markdown table, one row per step (the README's "Single-core cost per block" shape).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} blocks, {:.1} KB raw, {:.1} KB stored ({:.2}x), fastest of {} rounds",
            self.blocks,
            self.raw_bytes / 1000.0,
            self.stored_bytes / 1000.0,
            self.stored_bytes / self.raw_bytes.max(1.0),
            self.rounds
        )?;
        writeln!(f, "| step | ms per block |")?;
        writeln!(f, "|---|---|")?;
        for (step, ms) in [
            ("decode header + body + eth/69 receipts", self.decode_ms),
            ("header seal (hash)", self.seal_ms),
            ("check_body", self.body_ms),
            ("check_receipts", self.receipts_ms),
            ("encode + zstd (stored frames)", self.compress_ms),
            ("total", self.total_ms),
        ] {
            writeln!(f, "| {step} | {ms:.3} |")?;
        }
        Ok(())
    }
}

/// CPU time this thread has used (not wall time: a shared machine's other work is not counted).
pub fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn timed<T>(best: &mut Duration, f: impl FnOnce() -> T) -> T {
    let start = thread_cpu();
    let out = f();
    *best = (*best).min(thread_cpu() - start);
    out
}

/// [`measure_rounds`] with enough rounds for a stable figure: at least 3, and more until about one
/// CPU second is spent (at most 100).
///
/// # Panics
/// If a block does not decode or verify: the limit of work that fails is meaningless.
pub fn measure(blocks: &[RawBlock]) -> CpuLimit {
    let start = thread_cpu();
    let mut limit = measure_rounds(blocks, 3);
    let mut rounds = 3;
    while rounds < 100 && thread_cpu() - start < Duration::from_secs(1) {
        let more = measure_rounds(blocks, 3);
        limit = fastest(limit, more);
        rounds += 3;
    }
    limit.rounds = rounds;
    limit
}

fn fastest(a: CpuLimit, b: CpuLimit) -> CpuLimit {
    let mut out = a;
    out.decode_ms = a.decode_ms.min(b.decode_ms);
    out.seal_ms = a.seal_ms.min(b.seal_ms);
    out.body_ms = a.body_ms.min(b.body_ms);
    out.receipts_ms = a.receipts_ms.min(b.receipts_ms);
    out.compress_ms = a.compress_ms.min(b.compress_ms);
    out.verify_ms = out.seal_ms + out.body_ms + out.receipts_ms;
    out.total_ms = out.decode_ms + out.verify_ms + out.compress_ms;
    out
}

/// Runs every step over `blocks`, `rounds` times, and keeps each step's fastest round.
///
/// # Panics
/// If `blocks` is empty, or a block does not decode or verify.
pub fn measure_rounds(blocks: &[RawBlock], rounds: usize) -> CpuLimit {
    assert!(!blocks.is_empty(), "cpu_limit::measure needs blocks");
    let mut best = [Duration::MAX; 5];
    let mut stored = 0u64;
    for _ in 0..rounds.max(1) {
        let [decode, seal, body, receipts, compress] = &mut best;
        let decoded: Vec<(Header, Body, Vec<Receipt>)> =
            timed(decode, || blocks.iter().map(decode_block).collect());
        let sealed: Vec<(SealedHeader, Body, Vec<Receipt>)> = timed(seal, || {
            decoded
                .into_iter()
                .map(|(h, b, r)| (SealedHeader::seal(h), b, r))
                .collect()
        });
        timed(body, || {
            for (h, b, _) in &sealed {
                if let Err(e) = check_body(h, b) {
                    panic!("cpu_limit: {e}");
                }
            }
        });
        timed(receipts, || {
            for (h, b, r) in &sealed {
                if let Err(e) = check_receipts(h, b, r) {
                    panic!("cpu_limit: {e}");
                }
            }
        });
        // Checked above: the block is verified, which is all `new_unchecked` asks.
        let verified: Vec<VerifiedBlock> = sealed
            .into_iter()
            .map(|(h, b, r)| VerifiedBlock::new_unchecked(h.header, h.hash, b, r))
            .collect();
        stored = timed(compress, || {
            verified
                .iter()
                .map(|b| PreparedBlock::new(b, Retention::default()).stored_len())
                .sum()
        });
    }
    let n = blocks.len() as f64;
    let per_block = |d: Duration| d.as_secs_f64() * 1000.0 / n;
    let [decode, seal, body, receipts, compress] = best.map(per_block);
    let verify = seal + body + receipts;
    CpuLimit {
        blocks: blocks.len(),
        rounds: rounds.max(1),
        raw_bytes: blocks.iter().map(RawBlock::len).sum::<usize>() as f64 / n,
        stored_bytes: stored as f64 / n,
        decode_ms: decode,
        seal_ms: seal,
        body_ms: body,
        receipts_ms: receipts,
        verify_ms: verify,
        compress_ms: compress,
        total_ms: decode + verify + compress,
    }
}

fn decode_block(raw: &RawBlock) -> (Header, Body, Vec<Receipt>) {
    let header = Header::decode(&mut &raw.header[..])
        .unwrap_or_else(|e| panic!("cpu_limit: header RLP: {e}"));
    let body =
        decode_body(&mut &raw.body[..]).unwrap_or_else(|e| panic!("cpu_limit: body RLP: {e}"));
    let mut buf = &raw.receipts[..];
    let list = RlpHeader::decode(&mut buf).unwrap_or_else(|e| panic!("cpu_limit: receipts: {e}"));
    assert!(
        list.list && list.payload_length == buf.len(),
        "cpu_limit: receipts are not one list"
    );
    let mut receipts = Vec::with_capacity(body.transactions.len());
    while !buf.is_empty() {
        receipts.push(
            Receipt::decode_eth69(&mut buf).unwrap_or_else(|e| panic!("cpu_limit: receipt: {e}")),
        );
    }
    (header, body, receipts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::mainnet::load_blocks;

    #[test]
    fn measures_the_real_blocks() {
        let blocks: Vec<RawBlock> = load_blocks().iter().map(RawBlock::from_mainnet).collect();
        let limit = measure_rounds(&blocks, 1);
        assert_eq!(limit.blocks, blocks.len());
        assert!(limit.total_ms > 0.0 && limit.verify_ms > 0.0 && limit.compress_ms > 0.0);
        assert!(limit.stored_bytes > 0.0 && limit.stored_bytes < limit.raw_bytes);
        let text = limit.to_string();
        assert!(text.contains("| check_receipts |"), "{text}");
    }

    #[test]
    fn wire_form_round_trips() {
        let b = &load_blocks()[0];
        let sealed = SealedHeader::seal(b.header.clone());
        let v = VerifiedBlock::new_unchecked(
            sealed.header,
            sealed.hash,
            b.body.clone(),
            b.receipts.clone(),
        );
        let raw = RawBlock::from_verified(&v);
        assert_eq!(raw.header, b.raw_header);
        assert_eq!(raw.body, b.raw_body);
        assert_eq!(raw.receipts, b.raw_receipts);
    }
}
