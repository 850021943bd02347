//! Ctrl-C in Follow exits 0; a restart resumes following from the stored tip. A reorg that
//! happens while histd is stopped is found at the next start (the stored tip is checked against
//! the peers' chain before the backfill) and rolled back before syncing resumes, also when the
//! new safe head has passed the abandoned blocks.

use histd::testkit::process::HistdProcess as Histd;

use super::*;

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
    // Leaves the main chain above 147: depth 3 at our tip 150.
    let (_rt, dir, net, mut h) = following_at(vec![148], 150);
    stop(&mut h);
    // While it is stopped, every peer moves to the other chain, two blocks higher.
    net.control.switch_to(1);
    net.control.cap_head(152);
    let mut h = Histd::spawn(follow_cmd(dir.path(), &net, &[]));
    let line = h.wait_for_within(LIMIT, "reorg", |v| v["message"] == "reorg rolled back");
    assert_eq!(num(&line, "old_tip"), 150, "{line}");
    assert_eq!(num(&line, "ancestor"), 147, "{line}");
    assert_eq!(num(&line, "depth"), 3, "{line}");
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
    // Leaves the main chain above 147: depth 3 at our tip 150.
    let (_rt, dir, net, mut h) = following_at(vec![148], 150);
    stop(&mut h);
    // While it is stopped the other chain wins and grows far past the window: the new safe head
    // (200 - 8) is above the abandoned blocks, so fast-sync would have to link through them.
    net.control.switch_to(1);
    net.control.cap_head(200);
    let mut h = Histd::spawn(follow_cmd(dir.path(), &net, &[]));
    let line = h.wait_for_within(LIMIT, "reorg", |v| v["message"] == "reorg rolled back");
    assert_eq!(num(&line, "old_tip"), 150, "{line}");
    assert_eq!(num(&line, "ancestor"), 147, "{line}");
    assert_eq!(num(&line, "depth"), 3, "{line}");
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
    let (_rt, dir, net, mut h) = following_at(vec![142], 150);
    stop(&mut h);
    net.control.switch_to(1);
    net.control.cap_head(200);
    let mut h = Histd::spawn(follow_cmd(dir.path(), &net, &[]));
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
