//! Reorgs at the head, all peers switching at once: depths 1, 3 and `rollback_window` are rolled
//! back and resynced (every stored block then on the new chain, the dropped blocks' and
//! transactions' hashes gone from the index); depth `rollback_window + 1` stops the node with
//! exit code 3, the data untouched and consistent.

use histd::primitives::BlockNumber;
use histd::testkit::testnet::TestnetChain;

use super::*;

/// Blocks `from ..= to` of `old`: their block and transaction hashes are not in the index any
/// more (the new chain's blocks at those heights are other blocks).
fn assert_dropped(dir: &Path, now: &TestnetChain, old: &TestnetChain, from: u64, to: u64) {
    let store = open_store(dir, now);
    for n in from..=to {
        let hash = old.hash(n).unwrap();
        assert_ne!(now.hash(n), Some(hash), "block {n} is on both chains");
        assert_eq!(
            store.block_number(&hash).unwrap(),
            None,
            "dropped block {n} still indexed"
        );
        for tx in old.verified_block(n).unwrap().unwrap().transaction_hashes() {
            let found = store.transaction(&tx).unwrap();
            assert!(
                found.is_none(),
                "a transaction of dropped block {n} is still indexed: {found:?}"
            );
        }
    }
}

#[test]
fn reorgs_of_depth_1_3_and_the_window_are_rolled_back_and_resynced() {
    // Chain 1 leaves the main chain above 149 (depth 1 at tip 150), chain 2 leaves chain 1 above
    // 157 (depth 3 at 160), chain 3 leaves chain 2 above 162 (depth 8 = the window at 170).
    let (_rt, dir, net, mut h) = following_at(vec![150, 158, 163], 150);
    let mut lines = Vec::new();
    for (i, (tip, head, depth)) in [(150, 160, 1), (160, 170, 3), (170, 180, WINDOW)]
        .into_iter()
        .enumerate()
    {
        net.control.switch_to(i + 1);
        net.control.cap_head(head);
        let line = h.wait_for_within(LIMIT, &format!("reorg of depth {depth}"), |v| {
            v["message"] == "reorg rolled back" && v["old_tip"].as_u64() == Some(tip)
        });
        println!("{line}");
        assert_eq!(num(&line, "depth"), depth, "{line}");
        assert_eq!(num(&line, "ancestor"), tip - depth, "{line}");
        wait_up_to_date(&mut h, head);
        lines.push(line);
    }
    let summary = stop(&mut h);
    assert_eq!(num(&summary, "reorgs"), 3, "{summary}");
    let last = net.reorg_chain(3);
    assert_store_equals(dir.path(), last, 0..=180);
    assert_dropped(dir.path(), last, &net.chain, 150, 150);
    assert_dropped(dir.path(), last, net.reorg_chain(1), 158, 160);
    assert_dropped(dir.path(), last, net.reorg_chain(2), 163, 170);
    db_verify(dir.path());
}

#[test]
fn a_reorg_deeper_than_the_window_stops_with_exit_3_and_leaves_the_data_consistent() {
    // Leaves the main chain above 141: depth 9 at tip 150, one more than the window.
    let (_rt, dir, net, mut h) = following_at(vec![142], 150);
    net.control.switch_to(1);
    net.control.cap_head(160);
    let status = h.wait_exit_within(LIMIT);
    assert_eq!(status.code(), Some(3), "{:#?}", h.seen);
    let error = h
        .seen
        .iter()
        .find(|v| {
            v["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("reorg deeper than rollback_window"))
        })
        .unwrap_or_else(|| panic!("no reorg error: {:#?}", h.seen));
    assert_eq!(num(error, "rollback_window"), WINDOW, "{error}");
    assert!(
        h.seen.iter().any(|v| v["message"] == "phase transition"
            && v["to"] == "shutting_down"
            && v["reason"]
                .as_str()
                .is_some_and(|r| r.contains("exceeds rollback_window"))),
        "{:#?}",
        h.seen
    );
    // Nothing was rolled back: the old chain is still stored whole, and consistent.
    assert_store_equals(dir.path(), &net.chain, 0..=150);
    let store = open_store(dir.path(), &net.chain);
    assert_eq!(store.last_contiguous().unwrap(), Some(BlockNumber(150)));
    drop(store);
    db_verify(dir.path());
}
