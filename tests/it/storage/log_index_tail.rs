//! The unsealed tail's key sets on real files: once a query has touched a block, later queries
//! decode it only when each of their criteria has a key in the block's set (the header bloom,
//! saturated on mainnet-like blocks, decides only the first time), answers stay those of a plain
//! scan, and a block replaced by a rollback never answers with the old block's logs.

use alloy_primitives::Address;
use histd::primitives::{BlockNumber, VerifiedBlock};
use histd::storage::{LogQuery, LogSearch, Storage};
use histd::testkit::chain::ChainGen;
use histd::testkit::testnet::{ChainKind, TestnetChain};

use super::basic::opts;
use super::log_index::{reference, values};

fn by_address(a: Address) -> LogQuery {
    LogQuery {
        addresses: vec![a],
        topics: Vec::new(),
    }
}

/// Whether `b` holds a log matching `q`.
fn holds(b: &VerifiedBlock, q: &LogQuery) -> bool {
    let n = b.number().get();
    !reference(std::slice::from_ref(b), q, n, n).is_empty()
}

/// `q` over every block of `blocks`, checked against the plain scan; the blocks it decoded.
fn query_counting(store: &Storage, blocks: &[VerifiedBlock], q: &LogQuery) -> u64 {
    let (from, to) = (0, blocks.len() as u64 - 1);
    let before = store.log_tail_decodes();
    let got = store
        .find_logs(q, BlockNumber(from), BlockNumber(to), u64::MAX)
        .unwrap();
    assert_eq!(got, LogSearch::Found(reference(blocks, q, from, to)));
    store.log_tail_decodes() - before
}

#[test]
fn repeated_tail_queries_decode_only_blocks_holding_candidates() {
    const BLOCKS: u64 = 60;
    let chain = TestnetChain::build(ChainKind::Mainnet, 5, BLOCKS);
    let blocks: Vec<VerifiedBlock> = (0..BLOCKS)
        .map(|n| chain.verified_block(n).unwrap().unwrap())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    // One shard larger than the chain: every block is in the unsealed tail.
    let store = Storage::open(dir.path(), opts(1_000_000)).unwrap();
    store.put_unordered(&blocks).unwrap();
    // Rare addresses (held by a few blocks); the first query uses the one whose header blooms
    // admit the most blocks not holding it (blooms of blocks with hundreds of logs admit most
    // values), the second another one.
    let bloomed = |q: &LogQuery| {
        blocks
            .iter()
            .filter(|b| q.may_match(&b.header().logs_bloom))
            .count()
    };
    let held = |q: &LogQuery| blocks.iter().filter(|b| holds(b, q)).count();
    let (addresses, _) = values(&blocks);
    let mut rare: Vec<(usize, LogQuery)> = addresses
        .into_iter()
        .map(by_address)
        .filter(|q| (1..=BLOCKS as usize / 10).contains(&held(q)))
        .map(|q| (bloomed(&q) - held(&q), q))
        .collect();
    rare.sort_by_key(|(spared, _)| std::cmp::Reverse(*spared));
    let [(spared, q1), (_, q2), ..] = &rare[..] else {
        panic!("the chain has no two rare addresses")
    };
    assert!(*spared > 0, "no bloom admits a block without the address");

    // The first query decodes every block its header bloom admits, though few hold a match.
    let touched: Vec<bool> = blocks
        .iter()
        .map(|b| q1.may_match(&b.header().logs_bloom))
        .collect();
    let first_decodes = query_counting(&store, &blocks, q1);
    assert_eq!(first_decodes, (held(q1) + spared) as u64);
    // The same query again decodes nothing: the matched blocks' logs are kept, the others are
    // ruled out by their key sets.
    assert_eq!(query_counting(&store, &blocks, q1), 0);
    // Another query decodes exactly the blocks holding its address that the first did not keep
    // decoded (a single-criterion query's candidates are its matches), plus the blocks the first
    // query's bloom skipped (no key set yet) that its own bloom admits.
    let want = blocks
        .iter()
        .zip(&touched)
        .filter(|(b, touched)| {
            !holds(b, q1)
                && if **touched {
                    holds(b, q2)
                } else {
                    q2.may_match(&b.header().logs_bloom)
                }
        })
        .count() as u64;
    assert_eq!(query_counting(&store, &blocks, q2), want);
    assert!(want < bloomed(q2) as u64, "{want} of {}", bloomed(q2));
    assert_eq!(query_counting(&store, &blocks, q2), 0);
}

#[test]
fn a_block_replaced_by_a_rollback_never_answers_with_its_old_logs() {
    const BLOCKS: u64 = 40;
    const CUT: u64 = 19;
    let mut g = ChainGen::new(21);
    g.max_txs = 6;
    g.max_logs = 4;
    let old = g.chain(BlockNumber(0), BLOCKS, alloy_primitives::B256::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let store = Storage::open(dir.path(), opts(1_000_000)).unwrap();
    store.put_unordered(&old).unwrap();

    // Every address of the old chain queried once: key sets built and matched logs kept for
    // every block.
    let (old_addresses, _) = values(&old);
    let everything = LogQuery::default();
    query_counting(&store, &old, &everything);
    for a in &old_addresses {
        query_counting(&store, &old, &by_address(*a));
    }

    // Blocks above CUT replaced by a fork carrying other logs.
    store.rollback_to(BlockNumber(CUT)).unwrap();
    let fork = ChainGen::new(22).chain(
        BlockNumber(CUT + 1),
        BLOCKS - CUT - 1,
        old[CUT as usize].hash(),
    );
    for b in &fork {
        store.append_sorted(b).unwrap();
    }
    let new: Vec<VerifiedBlock> = old[..=CUT as usize].iter().cloned().chain(fork).collect();
    assert_ne!(
        old[BLOCKS as usize - 1].hash(),
        new[BLOCKS as usize - 1].hash()
    );

    // The old chain's addresses and the new one's, and no filter: the new chain's answers, and
    // the replaced blocks decoded again (their old sets and logs are out of reach).
    let before = store.log_tail_decodes();
    query_counting(&store, &new, &everything);
    assert_eq!(store.log_tail_decodes() - before, BLOCKS - CUT - 1);
    let (new_addresses, _) = values(&new);
    for a in old_addresses.iter().chain(&new_addresses) {
        query_counting(&store, &new, &by_address(*a));
    }
}
