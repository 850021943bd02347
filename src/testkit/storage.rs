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
    for n in 0..=upto {
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

/// The canonical chain a test is building, switched to a new fork on every rollback.
#[derive(Debug, Clone)]
pub struct Canon {
    seed: u64,
    forks: u64,
    /// Block `i` of the current canonical chain.
    pub blocks: Vec<VerifiedBlock>,
}

impl Canon {
    /// `len` blocks from genesis, from `seed`, with small blocks (up to 3 txs).
    pub fn new(seed: u64, len: u64) -> Self {
        let mut g = ChainGen::new(seed);
        g.max_txs = 3;
        Self {
            seed,
            forks: 0,
            blocks: g.chain(BlockNumber(0), len, B256::ZERO),
        }
    }

    /// Replaces every block above `n` with a new fork of the same length.
    pub fn fork_after(&mut self, n: u64) {
        self.forks += 1;
        let len = self.blocks.len() as u64;
        let parent = self.blocks[n as usize].hash();
        let mut g = ChainGen::new(self.seed ^ (self.forks << 32));
        g.max_txs = 3;
        self.blocks.truncate(n as usize + 1);
        self.blocks
            .extend(g.chain(BlockNumber(n + 1), len - n - 1, parent));
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
    Append(VerifiedBlock),
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
            Op::CompactDirty => store.compact_dirty().map(|_| ()),
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
                    model.blocks.entry(b.number().get()).or_insert_with(|| b.clone());
                }
            }
            Op::Append(b) => {
                model.blocks.insert(b.number().get(), b.clone());
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
    let mut canon = Canon::new(seed, total + 64);
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
        if rng.below(4) == 0 {
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
        ops.push(Op::Append(canon.blocks[tip as usize].clone()));
        if rng.below(30) == 0 {
            ops.push(Op::Seal(tip.saturating_sub(40)));
        }
    }
    ops
}
