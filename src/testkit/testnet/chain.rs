//! [`TestnetChain`]: the chain a testnet serves. Either mainnet-like (the real block contents of
//! `shared/testdata/mainnet/blocks/` re-linked into a new chain) or synthetic (cheap
//! [`ChainGen`] blocks for fast tests); forks share a prefix with the chain they fork from.
//!
//! A mainnet-like block keeps its template's transactions, ommers, withdrawals, receipts and header
//! fields, and gets a new number, parent, timestamp and `transactionsRoot`. Each transaction's
//! signature `s` is XORed with a mask unique to (seed, block number), so transaction hashes are
//! unique across copies of the same template (the sender no longer recovers to the original one,
//! which does not matter: histd keeps no state). `s` stays far below the curve order, so the sender
//! still recovers to *some* address. Receipts are untouched, so `receiptsRoot` and `logsBloom` are
//! the template's.
//!
//! Bodies are not kept: only headers and a recipe per block (template + mask). A body is rebuilt
//! when a peer serves it, so 50,000 mainnet-sized blocks cost headers' worth of memory. Building
//! computes every `transactionsRoot` in parallel (they do not depend on the parent); only the
//! cheap header hashing is sequential.
//!
//! Everything is deterministic from the seed. This module must never be used by the product.

use std::collections::HashMap;
use std::sync::Arc;

use alloy_consensus::{
    EMPTY_OMMER_ROOT_HASH, EMPTY_ROOT_HASH, SignableTransaction, Signed, proofs,
};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{B256, Bytes, Signature, U256};

use crate::primitives::{BlockNumber, Body, Header, Receipt, Transaction, VerifiedBlock};
use crate::testkit::chain::ChainGen;
use crate::testkit::mainnet;
// The block verifier, for the whole testnet (the one line to change when it moves to
// `crate::verify`).
pub(super) use crate::verify as verifier;
use verifier::{SealedHeader, VerifyError};

/// Timestamp of every testnet genesis (and slot 0): 2024-01-01, so post-merge templates look at home.
pub const GENESIS_TIMESTAMP: u64 = 1_704_067_200;
/// Seconds between blocks (one post-merge slot).
pub const BLOCK_TIME: u64 = 12;

/// One real mainnet block used as the content of many testnet blocks.
#[derive(Debug)]
struct Template {
    header: Header,
    body: Body,
    receipts: Vec<Receipt>,
    /// EIP-2718 encoding of each transaction, for computing copies' roots without re-encoding.
    encoded: Vec<Vec<u8>>,
    /// Every `s` is longer than the mask, so XORing keeps encodings' lengths.
    s_long: bool,
}

/// How to rebuild the body and receipts of one block.
#[derive(Debug, Clone)]
enum Recipe {
    /// The empty genesis block.
    Genesis,
    /// Template `index` with every signature `s` XORed with `mask`.
    Mainnet { template: u32, mask: U256 },
    /// A synthetic block, kept whole (synthetic chains are small).
    Synthetic(Arc<(Body, Vec<Receipt>)>),
}

/// What kind of blocks a chain is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainKind {
    /// Re-linked real mainnet blocks: real sizes and compressibility.
    Mainnet,
    /// Small synthetic blocks: fast to build and serve.
    Synthetic,
}

/// A hash-linked chain `0 ..= head` with its genesis, served by testnet peers.
#[derive(Debug, Clone)]
pub struct TestnetChain {
    kind: ChainKind,
    headers: Vec<SealedHeader>,
    recipes: Vec<Recipe>,
    by_hash: HashMap<B256, u64>,
    templates: Arc<Vec<Template>>,
}

/// The testnet genesis: an empty block that is the same for every seed, so forks and fake chains
/// share it with the honest chain (peers on another genesis would fail the Status handshake).
pub fn genesis_header() -> Header {
    Header {
        parent_hash: B256::ZERO,
        ommers_hash: EMPTY_OMMER_ROOT_HASH,
        transactions_root: EMPTY_ROOT_HASH,
        receipts_root: EMPTY_ROOT_HASH,
        number: 0,
        gas_limit: 30_000_000,
        timestamp: GENESIS_TIMESTAMP,
        extra_data: Bytes::from_static(b"histd testnet"),
        ..Default::default()
    }
}

/// splitmix64: a stable, dependency-free mixer for seeds.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The signature mask of block `number` of a chain with `seed`: distinct for distinct numbers (low
/// 64 bits) and, almost surely, for distinct seeds (bits 64..128). Never zero, so no copy repeats
/// the original mainnet transaction.
/// Bytes of `s` the mask can change (it lives in the low 128 bits).
const MASK_BYTES: usize = 16;

fn mask_for(seed: u64, number: u64) -> U256 {
    (U256::from(mix(seed) | 1) << 64) | U256::from(number)
}

fn with_s<T: SignableTransaction<Signature> + Clone>(signed: &Signed<T>, mask: U256) -> Signed<T> {
    let sig = signed.signature();
    signed
        .tx()
        .clone()
        .into_signed(Signature::new(sig.r(), sig.s() ^ mask, sig.v()))
}

/// `tx` with its signature `s` XORed with `mask` (its hash is computed lazily, when asked).
fn tweak(tx: &Transaction, mask: U256) -> Transaction {
    match tx {
        Transaction::Legacy(s) => Transaction::Legacy(with_s(s, mask)),
        Transaction::Eip2930(s) => Transaction::Eip2930(with_s(s, mask)),
        Transaction::Eip1559(s) => Transaction::Eip1559(with_s(s, mask)),
        Transaction::Eip4844(s) => Transaction::Eip4844(with_s(s, mask)),
        Transaction::Eip7702(s) => Transaction::Eip7702(with_s(s, mask)),
    }
}

fn load_templates() -> Vec<Template> {
    mainnet::load_blocks()
        .into_iter()
        .map(|b| Template {
            encoded: b
                .body
                .transactions
                .iter()
                .map(|tx| tx.encoded_2718())
                .collect(),
            s_long: b
                .body
                .transactions
                .iter()
                .all(|tx| tx.signature().s() >= U256::from(1u8) << (8 * MASK_BYTES)),
            header: b.header,
            body: b.body,
            receipts: b.receipts,
        })
        .collect()
}

impl Template {
    fn body(&self, mask: U256) -> Body {
        Body {
            transactions: self
                .body
                .transactions
                .iter()
                .map(|tx| tweak(tx, mask))
                .collect(),
            ommers: self.body.ommers.clone(),
            withdrawals: self.body.withdrawals.clone(),
        }
    }
}

/// The `transactionsRoot` of blocks `first .. len` of the chain with `seed`, computed by `root` on
/// every core, or read from a cache file in the temp directory written by an earlier run (the
/// roots do not depend on parents, only on seed, number and template; hashing is what makes a
/// 50,000-block build slow on a debug build). A missing, short or unwritable cache only costs time.
fn cached_roots(
    templates: &[Template],
    seed: u64,
    first: u64,
    len: u64,
    root: impl Fn(u64) -> B256 + Sync,
) -> Vec<B256> {
    let mut fingerprint = alloy_primitives::Keccak256::new();
    for t in templates {
        fingerprint.update(t.header.hash_slow());
    }
    let fingerprint = fingerprint.finalize();
    let dir = std::env::temp_dir().join("histd-testnet-cache");
    let file = dir.join(format!(
        "roots-v1-{}-{seed}-{first}-{len}",
        alloy_primitives::hex::encode(&fingerprint[..8])
    ));
    let count = (len - first) as usize;
    if let Ok(bytes) = std::fs::read(&file)
        && bytes.len() == count * 32
    {
        return bytes.chunks_exact(32).map(B256::from_slice).collect();
    }
    let roots = parallel_map(first..len, root);
    let bytes: Vec<u8> = roots.iter().flat_map(|r| r.0).collect();
    let tmp = file.with_extension(format!("tmp{}", std::process::id()));
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&tmp, &bytes))
        .and_then(|()| std::fs::rename(&tmp, &file));
    if let Err(e) = written {
        tracing::debug!(file = %file.display(), error = %e, "testnet root cache not written");
    }
    roots
}

impl Template {
    /// `transactionsRoot` of [`Template::body`]`(mask)`, from the cached encodings: every
    /// encoding ends with `s` (the last field of every transaction type), so XORing the mask into
    /// the encoding's last bytes is the same as re-encoding the tweaked transaction. Building
    /// thousands of copies this way costs the trie hashing and nothing else.
    fn transactions_root(&self, mask: U256) -> B256 {
        let mask = mask.to_be_bytes::<32>();
        let tail = &mask[32 - MASK_BYTES..];
        let fast = alloy_trie::root::ordered_trie_root_with_encoder(&self.encoded, |e, buf| {
            buf.extend_from_slice(e);
            let start = buf.len() - MASK_BYTES;
            for (b, m) in buf[start..].iter_mut().zip(tail) {
                *b ^= m;
            }
        });
        if self.s_long {
            fast
        } else {
            // Some `s` is shorter than the mask: re-encode (never seen in the test data).
            proofs::calculate_transaction_root(&self.body(U256::from_be_bytes(mask)).transactions)
        }
    }
}

/// Computes `f(i)` for `i in range` on every core, in order.
fn parallel_map<T: Send>(range: std::ops::Range<u64>, f: impl Fn(u64) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let len = range.end.saturating_sub(range.start);
    let chunk = len.div_ceil(threads as u64).max(1);
    let f = &f;
    std::thread::scope(|scope| {
        let parts: Vec<_> = (0..threads as u64)
            .map(|t| {
                let lo = (range.start + t * chunk).min(range.end);
                let hi = (lo + chunk).min(range.end);
                scope.spawn(move || (lo..hi).map(f).collect::<Vec<T>>())
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|p| p.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

impl TestnetChain {
    /// A chain of `len` blocks (genesis included, so its head is `len - 1`) of `kind`, from `seed`.
    pub fn build(kind: ChainKind, seed: u64, len: u64) -> Self {
        let genesis = SealedHeader::seal(genesis_header());
        let mut by_hash = HashMap::new();
        by_hash.insert(genesis.hash, 0);
        let base = Self {
            kind,
            headers: vec![genesis],
            recipes: vec![Recipe::Genesis],
            by_hash,
            templates: Arc::new(match kind {
                ChainKind::Mainnet => load_templates(),
                ChainKind::Synthetic => Vec::new(),
            }),
        };
        base.extend(seed, len)
    }

    /// A second chain sharing blocks `0 .. shared` with this one and then diverging (its own blocks,
    /// from `seed`), `len` blocks long. `shared` is clamped to `1 ..= self.len()`.
    pub fn fork(&self, shared: u64, seed: u64, len: u64) -> Self {
        let shared = shared.clamp(1, self.len()) as usize;
        let prefix = Self {
            kind: self.kind,
            headers: self.headers[..shared].to_vec(),
            recipes: self.recipes[..shared].to_vec(),
            by_hash: self.headers[..shared]
                .iter()
                .map(|h| (h.hash, h.header.number))
                .collect(),
            templates: self.templates.clone(),
        };
        prefix.extend(seed, len)
    }

    /// Appends blocks from `seed` until the chain is `len` long.
    fn extend(mut self, seed: u64, len: u64) -> Self {
        let first = self.len();
        if len <= first {
            return self;
        }
        match self.kind {
            ChainKind::Mainnet => {
                let templates = self.templates.clone();
                let count = templates.len() as u64;
                assert!(count > 0, "no mainnet templates in shared/testdata");
                let recipe = |n: u64| (mix(seed ^ mix(n)) % count) as u32;
                let roots = cached_roots(&templates, seed, first, len, |n| {
                    templates[recipe(n) as usize].transactions_root(mask_for(seed, n))
                });
                for (n, root) in (first..len).zip(roots) {
                    let template = recipe(n);
                    let mask = mask_for(seed, n);
                    let header = Header {
                        parent_hash: self.head_hash(),
                        number: n,
                        timestamp: GENESIS_TIMESTAMP + n * BLOCK_TIME,
                        transactions_root: root,
                        ..templates[template as usize].header.clone()
                    };
                    self.push(header, Recipe::Mainnet { template, mask });
                }
            }
            ChainKind::Synthetic => {
                let mut generator = ChainGen::new(seed);
                let blocks = generator.chain(BlockNumber(first), len - first, self.head_hash());
                for block in blocks {
                    let (header, _, body, receipts) = block.into_parts();
                    self.push(header, Recipe::Synthetic(Arc::new((body, receipts))));
                }
            }
        }
        self
    }

    fn push(&mut self, header: Header, recipe: Recipe) {
        let sealed = SealedHeader::seal(header);
        self.by_hash.insert(sealed.hash, sealed.header.number);
        self.headers.push(sealed);
        self.recipes.push(recipe);
    }

    /// What the blocks are made of.
    pub fn kind(&self) -> ChainKind {
        self.kind
    }

    /// Number of blocks, genesis included.
    pub fn len(&self) -> u64 {
        self.headers.len() as u64
    }

    /// Never true: a chain always has its genesis.
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty()
    }

    /// The highest block number.
    pub fn head(&self) -> u64 {
        self.len() - 1
    }

    /// Hash of the highest block.
    pub fn head_hash(&self) -> B256 {
        self.headers[self.headers.len() - 1].hash
    }

    /// The genesis header.
    pub fn genesis(&self) -> &Header {
        &self.headers[0].header
    }

    /// Sealed header `n`, if the chain has it.
    pub fn sealed_header(&self, n: u64) -> Option<&SealedHeader> {
        self.headers.get(usize::try_from(n).ok()?)
    }

    /// Header `n`.
    pub fn header(&self, n: u64) -> Option<&Header> {
        self.sealed_header(n).map(|h| &h.header)
    }

    /// Hash of block `n`.
    pub fn hash(&self, n: u64) -> Option<B256> {
        self.sealed_header(n).map(|h| h.hash)
    }

    /// The number of the block with this hash.
    pub fn number_of(&self, hash: &B256) -> Option<u64> {
        self.by_hash.get(hash).copied()
    }

    fn recipe(&self, n: u64) -> Option<&Recipe> {
        self.recipes.get(usize::try_from(n).ok()?)
    }

    /// Body of block `n` (rebuilt for mainnet-like blocks).
    pub fn body(&self, n: u64) -> Option<Body> {
        Some(match self.recipe(n)? {
            Recipe::Genesis => Body {
                transactions: Vec::new(),
                ommers: Vec::new(),
                withdrawals: None,
            },
            Recipe::Mainnet { template, mask } => self.templates[*template as usize].body(*mask),
            Recipe::Synthetic(b) => b.0.clone(),
        })
    }

    /// Receipts of block `n`.
    pub fn receipts(&self, n: u64) -> Option<Vec<Receipt>> {
        Some(match self.recipe(n)? {
            Recipe::Genesis => Vec::new(),
            Recipe::Mainnet { template, .. } => self.templates[*template as usize].receipts.clone(),
            Recipe::Synthetic(b) => b.1.clone(),
        })
    }

    /// Block `n` run through the real verifier (body and receipts against the header).
    pub fn verified_block(&self, n: u64) -> Option<Result<VerifiedBlock, VerifyError>> {
        let header = self.sealed_header(n)?.clone();
        let body = self.body(n)?;
        let receipts = self.receipts(n)?;
        Some(verifier::verify_block(header, body, receipts))
    }

    /// Checks the whole chain with the real verifier: genesis, every parent link, every body and
    /// every receipt list.
    pub fn verify_all(&self) -> Result<(), VerifyError> {
        verifier::seal_chain(self.headers.iter().map(|h| h.header.clone()).collect())?;
        let results = parallel_map(0..self.len(), |n| match self.verified_block(n) {
            Some(r) => r.map(drop),
            None => Ok(()),
        });
        results.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn mainnet_chain_verifies_end_to_end() {
        let chain = TestnetChain::build(ChainKind::Mainnet, 1, 60);
        assert_eq!(chain.head(), 59);
        chain.verify_all().expect("every block verifies");
        // Every template shows up, so every tx type and fork's header layout is covered.
        let templates: HashSet<u32> = chain
            .recipes
            .iter()
            .filter_map(|r| match r {
                Recipe::Mainnet { template, .. } => Some(*template),
                _ => None,
            })
            .collect();
        assert!(
            templates.len() >= 8,
            "only {} templates used",
            templates.len()
        );
    }

    #[test]
    fn transaction_hashes_are_unique_across_copies() {
        let chain = TestnetChain::build(ChainKind::Mainnet, 2, 40);
        let fork = chain.fork(20, 3, 40);
        let mut seen = HashSet::new();
        let mut total = 0;
        for c in [&chain, &fork] {
            let from = if std::ptr::eq(c, &fork) { 20 } else { 0 };
            for n in from..c.len() {
                for tx in c.body(n).expect("body").transactions {
                    total += 1;
                    assert!(seen.insert(*tx.tx_hash()), "tx hash repeated in block {n}");
                }
            }
        }
        assert!(total > 1000, "only {total} transactions");
        // And none is an original mainnet transaction.
        for t in chain.templates.iter() {
            for tx in &t.body.transactions {
                assert!(!seen.contains(tx.tx_hash()));
            }
        }
    }

    #[test]
    fn fork_shares_exactly_its_prefix() {
        for kind in [ChainKind::Mainnet, ChainKind::Synthetic] {
            let chain = TestnetChain::build(kind, 4, 30);
            let fork = chain.fork(12, 5, 35);
            assert_eq!(fork.len(), 35);
            for n in 0..12 {
                assert_eq!(fork.hash(n), chain.hash(n), "{kind:?} block {n}");
            }
            for n in 12..30 {
                assert_ne!(fork.hash(n), chain.hash(n), "{kind:?} block {n}");
            }
            fork.verify_all().expect("fork verifies");
        }
    }

    #[test]
    fn chains_are_deterministic_and_seeded() {
        for kind in [ChainKind::Mainnet, ChainKind::Synthetic] {
            let a = TestnetChain::build(kind, 9, 25);
            let b = TestnetChain::build(kind, 9, 25);
            let c = TestnetChain::build(kind, 10, 25);
            assert_eq!(a.head_hash(), b.head_hash());
            assert_ne!(a.head_hash(), c.head_hash());
            // Every seed shares the genesis, so all of them are one network.
            assert_eq!(a.hash(0), c.hash(0));
        }
        let synthetic = TestnetChain::build(ChainKind::Synthetic, 9, 25);
        synthetic.verify_all().expect("synthetic chain verifies");
    }

    /// Slow the first time on a debug build (about a minute of CPU hashing the copied transactions);
    /// it prints both times (speed is for benchmarks to judge, not this test)
    /// later builds read the root cache. `cargo test --lib fifty_thousand -- --ignored --nocapture`.
    #[test]
    #[ignore = "a minute of CPU on a debug build the first time"]
    fn fifty_thousand_mainnet_blocks_build_and_rebuild_from_the_root_cache() {
        let started = std::time::Instant::now();
        let chain = TestnetChain::build(ChainKind::Mainnet, 6, 50_001);
        let took = started.elapsed();
        let started = std::time::Instant::now();
        let again = TestnetChain::build(ChainKind::Mainnet, 6, 50_001);
        let cached = started.elapsed();
        eprintln!("50,000 mainnet-like blocks built in {took:?}, again (root cache) in {cached:?}");
        assert_eq!(again.head_hash(), chain.head_hash());
        assert_eq!(chain.head(), 50_000);
        // Spot checks across the range (the whole range is checked by the smaller tests).
        for n in [1, 2, 25_000, 49_999, 50_000] {
            chain
                .verified_block(n)
                .expect("block exists")
                .expect("block verifies");
        }
        let link = chain.header(50_000).map(|h| h.parent_hash);
        assert_eq!(link, chain.hash(49_999));
    }

    /// Times a 10,000-block synthetic chain (its transactions are signed with real keys, which
    /// must keep it cheap). `cargo test --lib ten_thousand_synthetic -- --ignored --nocapture`.
    #[test]
    #[ignore = "a timing to read, a few seconds on a debug build"]
    fn ten_thousand_synthetic_blocks_build() {
        let started = std::time::Instant::now();
        let chain = TestnetChain::build(ChainKind::Synthetic, 6, 10_001);
        eprintln!("10,000 synthetic blocks built in {:?}", started.elapsed());
        assert_eq!(chain.head(), 10_000);
    }
}
