//! Ctrl-C in Follow exits 0; a restart resumes following from the stored tip. A reorg that
//! happens while histd is stopped is found at the next start (the stored tip is checked against
//! the peers' chain) and rolled back before following resumes.

use histd::testkit::process::HistdProcess as Histd;

use super::*;

#[test]
fn ctrl_c_in_follow_exits_0_and_a_restart_repairs_a_reorg_that_happened_meanwhile() {
    // Leaves the main chain above 147: depth 3 at our tip 150.
    let (_rt, dir, net, mut h) = following_at(vec![148], 150);
    let summary = stop(&mut h);
    assert_eq!(num(&summary, "tip"), 150, "{summary}");
    assert_store_equals(dir.path(), &net.chain, 0..=150);

    // While it is stopped, every peer moves to the other chain, two blocks higher.
    net.control.switch_to(1);
    net.control.cap_head(152);
    let mut h = Histd::spawn(follow_cmd(dir.path(), &net, &[]));
    // Follow resumes from the stored tip...
    let epoch = h.wait_for_within(LIMIT, "follow epoch", |v| v["message"] == "follow epoch");
    assert_eq!(num(&epoch, "last_indexed"), 150, "{epoch}");
    assert_eq!(num(&epoch, "range_start"), 151, "{epoch}");
    // ... finds the stored tip abandoned, and rolls back to the common ancestor.
    let line = h.wait_for_within(LIMIT, "reorg", |v| v["message"] == "reorg rolled back");
    assert_eq!(num(&line, "old_tip"), 150, "{line}");
    assert_eq!(num(&line, "ancestor"), 147, "{line}");
    assert_eq!(num(&line, "depth"), 3, "{line}");
    wait_up_to_date(&mut h, 152);
    stop(&mut h);
    assert_store_equals(dir.path(), net.reorg_chain(1), 0..=152);
    db_verify(dir.path());
}
