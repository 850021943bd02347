//! Ctrl-C in Follow exits 0; a restart resumes following from the stored tip. A reorg that
//! happens while histd is stopped is found at the next start (the stored tip is checked against
//! the peers' chain before the backfill) and rolled back before syncing resumes, also when the
//! new safe head has passed the abandoned blocks.

use histd::testkit::process::HistdProcess as Histd;

use super::*;

/// A node up to date at 150 on the main chain, stopped; every peer then moves to a chain leaving
/// the main one above `shared - 1` and serving up to `head`; the node started again.
fn restarted_after_a_reorg(
    shared: u64,
    head: u64,
) -> (tokio::runtime::Runtime, tempfile::TempDir, Testnet, Histd) {
    let (rt, dir, net, mut h) = following_at(vec![shared], 150);
    stop(&mut h);
    net.control.switch_to(1);
    net.control.cap_head(head);
    let h = Histd::spawn(follow_cmd(dir.path(), &net, &[]));
    (rt, dir, net, h)
}

/// Waits for the rollback of the stored tip 150 to the common ancestor 147.
fn expect_rollback_to_147(h: &mut Histd) {
    let line = h.wait_for_within(LIMIT, "reorg", |v| v["message"] == "reorg rolled back");
    assert_eq!(num(&line, "old_tip"), 150, "{line}");
    assert_eq!(num(&line, "ancestor"), 147, "{line}");
    assert_eq!(num(&line, "depth"), 3, "{line}");
}

#[test]
fn ctrl_c_in_follow_exits_0_and_a_restart_resumes_from_the_stored_tip() {
    let (_rt, dir, net, mut h) = following_at(vec![], 150);
    let summary = stop(&mut h);
    assert_eq!(num(&summary, "tip"), 150, "{summary}");
    assert_store_equals(dir.path(), &net.chain, 0..=150);

    net.control.cap_head(152);
    let mut h = Histd::spawn(follow_cmd(dir.path(), &net, &[]));
    let epoch = h.wait_for_within(LIMIT, "follow epoch", |v| v["message"] == "follow epoch");
    assert_eq!(num(&epoch, "last_indexed"), 150, "{epoch}");
    assert_eq!(num(&epoch, "range_start"), 151, "{epoch}");
    wait_up_to_date(&mut h, 152);
    let summary = stop(&mut h);
    // Nothing stored was fetched again: the backfill had nothing to do, follow wrote two blocks.
    for planned in h
        .seen
        .iter()
        .filter(|v| v["message"] == "fast-sync: planned")
    {
        assert_eq!(num(planned, "to_store"), 0, "{planned}");
    }
    assert_eq!(num(&summary, "blocks_written"), 2, "{summary}");
    assert_store_equals(dir.path(), &net.chain, 0..=152);
}

#[test]
fn a_reorg_while_stopped_is_rolled_back_at_the_next_start() {
    // While it is stopped, every peer moves to a chain leaving ours above 147 (depth 3), two
    // blocks higher.
    let (_rt, dir, net, mut h) = restarted_after_a_reorg(148, 152);
    expect_rollback_to_147(&mut h);
    // Follow resumes from the common ancestor.
    let epoch = h.wait_for_within(LIMIT, "follow epoch", |v| v["message"] == "follow epoch");
    assert_eq!(num(&epoch, "last_indexed"), 147, "{epoch}");
    wait_up_to_date(&mut h, 152);
    stop(&mut h);
    assert_store_equals(dir.path(), net.reorg_chain(1), 0..=152);
    db_verify(dir.path());
}

#[test]
fn a_reorg_while_stopped_below_the_new_safe_head_is_rolled_back_before_backfilling() {
    // While it is stopped the other chain (depth 3) wins and grows far past the window: the new
    // safe head (200 - 8) is above the abandoned blocks, so fast-sync would have to link
    // through them.
    let (_rt, dir, net, mut h) = restarted_after_a_reorg(148, 200);
    expect_rollback_to_147(&mut h);
    // Rolled back before the backfill started.
    let fast_sync_planned = h
        .seen
        .iter()
        .position(|v| v["message"] == "fast-sync: planned");
    assert!(fast_sync_planned.is_none(), "{:#?}", h.seen);
    wait_up_to_date(&mut h, 200);
    stop(&mut h);
    assert_store_equals(dir.path(), net.reorg_chain(1), 0..=200);
    db_verify(dir.path());
}

#[test]
fn a_reorg_while_stopped_deeper_than_the_window_stops_the_next_start_with_exit_3() {
    // Leaves the main chain above 141: depth 9 at our tip 150, one more than the window.
    let (_rt, dir, net, mut h) = restarted_after_a_reorg(142, 200);
    let status = h.wait_exit_within(LIMIT);
    assert_eq!(status.code(), Some(3), "{:#?}", h.seen);
    assert!(
        h.seen.iter().any(|v| v["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("reorg deeper than rollback_window"))),
        "{:#?}",
        h.seen
    );
    // Nothing was fetched or rolled back: the old chain is still stored whole.
    assert!(!h.logged("fast-sync: planned"), "{:#?}", h.seen);
    assert_store_equals(dir.path(), &net.chain, 0..=150);
    db_verify(dir.path());
}
