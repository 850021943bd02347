//! Storage test support: an in-memory model of the store (a map of block number → block), a check
//! that a real [`Storage`] reads back exactly what the model holds, and a deterministic crash
//! workload (fast-sync puts and compactions, then follow appends, rollbacks onto forks and seals).

use std::collections::BTreeMap;

use alloy_primitives::B256;

use crate::primitives::{BlockNumber, VerifiedBlock};
use crate::storage::{Storage, WriteError};
use crate::testkit::chain::ChainGen;

/// What the store should hold: every stored block by number.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Model {
    /// Stored blocks.
    pub blocks: BTreeMap<u64, VerifiedBlock>,
}

impl Model {
    /// Lowest stored block.
    pub fn lowest(&self) -> Option<u64> {
        self.blocks.keys().next().copied()
    }

    /// End of the contiguous run from the lowest block.
    pub fn last_contiguous(&self) -> Option<u64> {
        let mut it = self.blocks.keys();
        let mut last = *it.next()?;
        for &k in it {
            if k != last + 1 {
                break;
            }
            last = k;
        }
        Some(last)
    }

    /// Missing ranges of `from ..= to`.
    pub fn missing(&self, from: u64, to: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut start = None;
        for n in from..=to {
            match (self.blocks.contains_key(&n), start) {
                (false, None) => start = Some(n),
                (true, Some(s)) => {
                    out.push((s, n - 1));
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(s) = start {
            out.push((s, to));
        }
        out
    }

    /// Removes blocks above `n`.
    pub fn rollback(&mut self, n: u64) {
        self.blocks.retain(|&k, _| k <= n);
    }
}

/// Checks that `store` reads back exactly `model` over `0 ..= upto`; returns the first difference.
pub fn check_store(store: &Storage, model: &Model, upto: u64) -> Result<(), String> {
    check_store_window(store, model, 0, upto, upto)
}

/// Like [`check_store`], but reads blocks only in `from ..= to` (markers and missing ranges are
/// still compared over `0 ..= upto`).
pub fn check_store_window(
    store: &Storage,
    model: &Model,
    from: u64,
    to: u64,
    upto: u64,
) -> Result<(), String> {
    let low = store.lowest().map_err(|e| e.to_string())?.map(|b| b.get());
    if low != model.lowest() {
        return Err(format!("lowest: store {low:?}, model {:?}", model.lowest()));
    }
    let contig = store
        .last_contiguous()
        .map_err(|e| e.to_string())?
        .map(|b| b.get());
    if contig != model.last_contiguous() {
        return Err(format!(
            "last_contiguous: store {contig:?}, model {:?}",
            model.last_contiguous()
        ));
    }
    for n in from..=to {
        let got = store
            .block(BlockNumber(n))
            .map_err(|e| format!("block {n}: {e}"))?;
        let want = model.blocks.get(&n);
        if got.as_ref() != want {
            return Err(format!(
                "block {n}: store has {:?}, model has {:?}",
                got.map(|b| b.hash()),
                want.map(|b| b.hash())
            ));
        }
        if let Some(b) = want {
            let by_hash = store
                .block_number(&b.hash())
                .map_err(|e| format!("block {n} by hash: {e}"))?;
            if by_hash != Some(BlockNumber(n)) {
                return Err(format!("block {n}: hash index says {by_hash:?}"));
            }
            if let Some(tx) = b.body().transactions.last() {
                let found = store
                    .transaction(tx.tx_hash())
                    .map_err(|e| format!("block {n} tx: {e}"))?;
                let ok = found.as_ref().is_some_and(|f| {
                    f.block == BlockNumber(n)
                        && f.block_hash == b.hash()
                        && f.index as usize == b.body().transactions.len() - 1
                        && f.transaction.as_ref() == Some(tx)
                });
                if !ok {
                    return Err(format!("block {n}: tx lookup gives {found:?}"));
                }
            }
        }
    }
    let missing: Vec<(u64, u64)> = store
        .missing(BlockNumber(0), BlockNumber(upto))
        .map_err(|e| e.to_string())?
        .map(|r| r.map(|r| (r.start().get(), r.end().get())))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let want = model.missing(0, upto);
    if missing != want {
        return Err(format!("missing: store {missing:?}, model {want:?}"));
    }
    Ok(())
}

/// The canonical chain a test is building, generated lazily, switched to a new fork on rollback.
#[derive(Debug, Clone)]
pub struct Canon {
    seed: u64,
    forks: u64,
    chain_gen: ChainGen,
    /// Block `i` of the current canonical chain (generated so far).
    pub blocks: Vec<VerifiedBlock>,
}

fn small_gen(seed: u64) -> ChainGen {
    let mut g = ChainGen::new(seed);
    g.max_txs = 3;
    g
}

impl Canon {
    /// `len` blocks from genesis, from `seed`, with small blocks (up to 3 txs).
    pub fn new(seed: u64, len: u64) -> Self {
        let mut c = Self {
            seed,
            forks: 0,
            chain_gen: small_gen(seed),
            blocks: Vec::new(),
        };
        c.ensure(len);
        c
    }

    /// Generates blocks until there are at least `len`.
    pub fn ensure(&mut self, len: u64) {
        while (self.blocks.len() as u64) < len {
            let n = self.blocks.len() as u64;
            let parent = self.blocks.last().map_or(B256::ZERO, |b| b.hash());
            let b = self.chain_gen.block(BlockNumber(n), parent);
            self.blocks.push(b);
        }
    }

    /// Block `n`, generating up to it if needed.
    pub fn get(&mut self, n: u64) -> VerifiedBlock {
        self.ensure(n + 1);
        self.blocks[n as usize].clone()
    }

    /// Replaces every block above `n` with a new fork (same length as before).
    pub fn fork_after(&mut self, n: u64) {
        self.forks += 1;
        let len = self.blocks.len() as u64;
        self.ensure(n + 1);
        self.chain_gen = small_gen(self.seed ^ (self.forks << 32));
        self.blocks.truncate(n as usize + 1);
        self.ensure(len);
    }
}

/// One step of a crash workload; each is atomic or a logical no-op in the store.
#[derive(Debug, Clone)]
pub enum Op {
    /// `put_unordered` of these blocks.
    Put(Vec<VerifiedBlock>),
    /// `compact(shard)`.
    Compact(u64),
    /// `compact_dirty()`.
    CompactDirty,
    /// `append_sorted` of one block.
    Append(Box<VerifiedBlock>),
    /// `rollback_to(n)`.
    Rollback(u64),
    /// `seal_complete(up_to)`.
    Seal(u64),
}

impl Op {
    /// Runs the op on the store.
    pub fn run(&self, store: &Storage) -> Result<(), WriteError> {
        match self {
            Op::Put(b) => store.put_unordered(b).map(|_| ()),
            Op::Compact(s) => store.compact(*s).map(|_| ()),
            // A failing shard is the op's failure (the workloads expect an injected fault back).
            Op::CompactDirty => store
                .compact_dirty()
                .and_then(|r| r.into_result())
                .map(|_| ()),
            Op::Append(b) => store.append_sorted(b),
            Op::Rollback(n) => store.rollback_to(BlockNumber(*n)).map(|_| ()),
            Op::Seal(n) => store.seal_complete(BlockNumber(*n)).map(|_| ()),
        }
    }

    /// Applies the op to the model.
    pub fn apply(&self, model: &mut Model) {
        match self {
            Op::Put(bs) => {
                for b in bs {
                    model
                        .blocks
                        .entry(b.number().get())
                        .or_insert_with(|| b.clone());
                }
            }
            Op::Append(b) => {
                model.blocks.insert(b.number().get(), (**b).clone());
            }
            Op::Rollback(n) => model.rollback(*n),
            Op::Compact(_) | Op::CompactDirty | Op::Seal(_) => {}
        }
    }
}

/// splitmix64, so workloads are identical in the parent and the child process.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded generator.
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x5151_5151_dead_beef)
    }

    /// Next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 if n is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
}

/// A deterministic workload: fast-sync puts of `0..fast` in random batches and order with
/// compactions, then follow appends up to `total` with rollbacks onto forks and lagging seals.
pub fn crash_workload(seed: u64, shard_size: u64, fast: u64, total: u64) -> Vec<Op> {
    let mut rng = Rng::new(seed);
    let mut canon = Canon::new(seed, fast);
    let mut ops = Vec::new();
    let mut order: Vec<u64> = (0..fast).collect();
    for i in (1..order.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        order.swap(i, j);
    }
    let mut i = 0;
    while i < order.len() {
        let len = (1 + rng.below(24) as usize).min(order.len() - i);
        ops.push(Op::Put(
            order[i..i + len]
                .iter()
                .map(|&n| canon.blocks[n as usize].clone())
                .collect(),
        ));
        i += len;
        if rng.below(2) == 0 {
            ops.push(Op::Compact(rng.below(fast.div_ceil(shard_size))));
        }
    }
    ops.push(Op::CompactDirty);
    ops.push(Op::Seal(fast.saturating_sub(40)));
    let mut tip = fast - 1;
    while tip + 1 < total {
        if rng.below(8) == 0 && tip > fast {
            let depth = 1 + rng.below(6);
            let n = tip - depth.min(tip - fast);
            ops.push(Op::Rollback(n));
            canon.fork_after(n);
            tip = n;
        }
        tip += 1;
        ops.push(Op::Append(Box::new(canon.get(tip))));
        if rng.below(30) == 0 {
            ops.push(Op::Seal(tip.saturating_sub(40)));
        }
    }
    ops
}

/// Serialises a workload (so a child process can load it instead of regenerating it).
pub fn encode_ops(ops: &[Op]) -> Vec<u8> {
    use alloy_rlp::Encodable;
    fn block(out: &mut Vec<u8>, b: &VerifiedBlock) {
        let mut buf = Vec::new();
        b.header().encode(&mut buf);
        crate::primitives::encode_body(b.body(), &mut buf);
        for r in b.receipts() {
            r.encode_eth69(&mut buf);
        }
        out.extend_from_slice(&(buf.len() as u32).to_le_bytes());
        out.extend_from_slice(&(b.receipts().len() as u32).to_le_bytes());
        out.extend_from_slice(&buf);
    }
    let mut out = Vec::new();
    for op in ops {
        match op {
            Op::Put(bs) => {
                out.push(0);
                out.extend_from_slice(&(bs.len() as u32).to_le_bytes());
                for b in bs {
                    block(&mut out, b);
                }
            }
            Op::Compact(s) => {
                out.push(1);
                out.extend_from_slice(&s.to_le_bytes());
            }
            Op::CompactDirty => out.push(2),
            Op::Append(b) => {
                out.push(3);
                block(&mut out, b);
            }
            Op::Rollback(n) => {
                out.push(4);
                out.extend_from_slice(&n.to_le_bytes());
            }
            Op::Seal(n) => {
                out.push(5);
                out.extend_from_slice(&n.to_le_bytes());
            }
        }
    }
    out
}

/// Loads a workload written by [`encode_ops`] (test data this process's parent produced from
/// verified blocks, so it is re-assembled without re-verifying).
pub fn decode_ops(mut buf: &[u8]) -> Vec<Op> {
    use alloy_rlp::Decodable;
    fn take<'a>(buf: &mut &'a [u8], n: usize) -> &'a [u8] {
        let (a, b) = buf.split_at(n);
        *buf = b;
        a
    }
    fn u32_of(buf: &mut &[u8]) -> u32 {
        u32::from_le_bytes(take(buf, 4).try_into().expect("4 bytes"))
    }
    fn u64_of(buf: &mut &[u8]) -> u64 {
        u64::from_le_bytes(take(buf, 8).try_into().expect("8 bytes"))
    }
    fn block(buf: &mut &[u8]) -> VerifiedBlock {
        let len = u32_of(buf) as usize;
        let receipts = u32_of(buf) as usize;
        let mut b = take(buf, len);
        let header = crate::primitives::Header::decode(&mut b).expect("header");
        let body = crate::primitives::decode_body(&mut b).expect("body");
        let receipts = (0..receipts)
            .map(|_| crate::primitives::Receipt::decode_eth69(&mut b).expect("receipt"))
            .collect();
        let hash = header.hash_slow();
        VerifiedBlock::new_unchecked(header, hash, body, receipts)
    }
    let mut ops = Vec::new();
    while let Some((&tag, rest)) = buf.split_first() {
        buf = rest;
        ops.push(match tag {
            0 => {
                let n = u32_of(&mut buf);
                Op::Put((0..n).map(|_| block(&mut buf)).collect())
            }
            1 => Op::Compact(u64_of(&mut buf)),
            2 => Op::CompactDirty,
            3 => Op::Append(Box::new(block(&mut buf))),
            4 => Op::Rollback(u64_of(&mut buf)),
            5 => Op::Seal(u64_of(&mut buf)),
            t => panic!("unknown op tag {t}"),
        });
    }
    ops
}
