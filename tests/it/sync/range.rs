//! Range sync of mainnet-like blocks from several peers, and resume after `kill -9`.

use std::time::{Duration, Instant};

use histd::testkit::process::HistdProcess as Histd;
use histd::testkit::testnet::{ChainKind, TestnetConfig};

use super::*;

#[test]
fn a_range_of_mainnet_like_blocks_syncs_from_four_peers_verifies_and_equals_the_source() {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    const END: u64 = 2500;
    let net = start_testnet(
        &rt,
        dir.path(),
        TestnetConfig::new(ChainKind::Mainnet, END, 4),
    );
    let started = Instant::now();
    let mut h = Histd::spawn(run_cmd(
        dir.path(),
        &enodes(&net),
        &["--end-block", &END.to_string(), "--min-peers", "4"],
    ));
    let status = h.wait_exit_within(RUN_LIMIT);
    assert_eq!(status.code(), Some(0), "{:#?}", h.seen);
    println!(
        "synced {} mainnet-like blocks in {:?}",
        END + 1,
        started.elapsed()
    );
    assert!(h.logged("anchor agreed by peers on distinct networks"));
    assert!(h.entered("finalizing") && !h.entered("follow"));
    assert!(h.logged("fast-sync caught up"));
    let verify = db_verify(dir.path());
    assert!(verify.contains(&format!("{} blocks", END + 1)), "{verify}");
    assert_store_equals(dir.path(), &net.chain, 0..=END);
    // Requests were spread: every peer served data.
    for (i, c) in net.counts().iter().enumerate() {
        assert!(c.blocks_served > 0, "peer {i} served nothing: {c:?}");
    }
    // The run report counts the answers as they came over the wire: never more than the peers
    // sent (body, receipt and header answers; some header requests, such as the anchor's, are
    // not counted), and, when no request failed (so no answer came late and was dropped), at
    // least every body and receipt answer; in RLP and in frames.
    let latest = histd::daemon::report::latest(&data_dir(dir.path())).expect("a run report");
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&latest).expect("read report")).expect("json");
    let counts = net.counts();
    let sum = |f: fn(&histd::testkit::testnet::CountsSnapshot) -> u64| -> u64 {
        counts.iter().map(f).sum()
    };
    let (blocks, headers) = (sum(|c| c.block_bytes_sent), sum(|c| c.header_bytes_sent));
    let (block_frames, header_frames) = (
        sum(|c| c.block_frame_bytes_sent),
        sum(|c| c.header_frame_bytes_sent),
    );
    let rlp = r["sync"]["bytes_fetched"].as_u64().expect("bytes_fetched");
    let frames = r["sync"]["frame_bytes_fetched"]
        .as_u64()
        .expect("frame_bytes_fetched");
    assert!(rlp > 0 && frames > 0, "{r}");
    assert!(rlp <= blocks + headers, "{rlp} > {blocks} + {headers}");
    assert!(
        frames <= block_frames + header_frames,
        "{frames} > {block_frames} + {header_frames}"
    );
    let failed: u64 = r["sync"]["peers"]
        .as_object()
        .expect("peers")
        .values()
        .map(|p| p["failed"].as_u64().unwrap_or(0))
        .sum();
    if failed == 0 {
        assert!(rlp >= blocks, "{rlp} < {blocks}");
        assert!(frames >= block_frames, "{frames} < {block_frames}");
    }
}

#[test]
fn a_range_of_three_thousand_synthetic_blocks_syncs_verifies_and_equals_the_source() {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    const END: u64 = 3000;
    let net = start_testnet(
        &rt,
        dir.path(),
        TestnetConfig::new(ChainKind::Synthetic, END, 4),
    );
    let mut h = Histd::spawn(run_cmd(
        dir.path(),
        &enodes(&net),
        &["--end-block", &END.to_string(), "--min-peers", "4"],
    ));
    let status = h.wait_exit_within(RUN_LIMIT);
    assert_eq!(status.code(), Some(0), "{:#?}", h.seen);
    assert!(h.entered("finalizing") && !h.entered("follow"));
    let verify = db_verify(dir.path());
    assert!(verify.contains(&format!("{} blocks", END + 1)), "{verify}");
    assert_store_equals(dir.path(), &net.chain, 0..=END);
    // The peer cache keeps each peer's learned batch size for the next run.
    let bytes = open_store(dir.path(), &net.chain)
        .peer_cache()
        .expect("read")
        .expect("a peer cache was saved");
    let cached = histd::p2p::pool::cache::decode(&bytes).expect("decodes");
    assert_eq!(cached.len(), 4, "{cached:?}");
    assert!(cached.iter().all(|p| p.batch > 0), "{cached:?}");
}

#[test]
fn killed_halfway_a_restart_finishes_without_refetching_what_was_stored() {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    const END: u64 = 3000;
    // Slow enough to stop it halfway.
    let net = start_slow_testnet(&rt, dir.path(), END, 4);
    let args = ["--end-block", "3000", "--min-peers", "4"];
    let mut h = Histd::spawn(run_cmd(dir.path(), &enodes(&net), &args));
    let served = |net: &histd::testkit::testnet::Testnet| -> u64 {
        net.counts().iter().map(|c| c.blocks_served).sum()
    };
    let deadline = Instant::now() + RUN_LIMIT;
    // Bodies and receipt lists: 2 per block. Halfway: END of them.
    while served(&net) < END {
        assert!(Instant::now() < deadline, "no progress: {:#?}", h.seen);
        std::thread::sleep(Duration::from_millis(10));
    }
    h.kill9();
    // Requests the dead process sent may still be in a peer's hands: wait until every session
    // is gone and the counts stand still before taking the "before" picture.
    assert!(
        rt.block_on(net.idle_within(Duration::from_secs(30))),
        "sessions of the killed process linger"
    );
    let mut asked_before = net.asked();
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let now = net.asked();
        if now == asked_before {
            break;
        }
        asked_before = now;
    }
    let before = served(&net);
    let stored_blocks: Vec<u64> = {
        let store = open_store(dir.path(), &net.chain);
        (0..=END)
            .filter(|&n| {
                store
                    .has_block(histd::primitives::BlockNumber(n))
                    .expect("read")
            })
            .collect()
    };
    let stored = stored_blocks.len() as u64;
    println!("killed with {stored} blocks stored, {before} bodies+receipts served");
    assert!(stored > 0 && stored <= END, "{stored}");

    let mut h = Histd::spawn(run_cmd(dir.path(), &enodes(&net), &args));
    let status = h.wait_exit_within(RUN_LIMIT);
    assert_eq!(status.code(), Some(0), "{:#?}", h.seen);
    let again = served(&net) - before;
    let missing = END + 1 - stored;
    println!("restart: {missing} blocks missing, {again} bodies+receipts served");
    // Only the missing blocks were planned...
    let planned = h.wait_for("planned", |v| v["message"] == "fast-sync: planned");
    assert_eq!(planned["to_store"], missing, "{planned}");
    // ...and fetched: not one body or receipt request of the restart named a block that was
    // stored before the kill (the peers count requests per block number).
    let asked_after = net.asked();
    let refetched: Vec<(u64, u64)> = stored_blocks
        .iter()
        .map(|n| {
            let was = asked_before.get(n).copied().unwrap_or(0);
            (*n, asked_after.get(n).copied().unwrap_or(0) - was)
        })
        .filter(|(_, again)| *again > 0)
        .collect();
    assert!(
        refetched.is_empty(),
        "{} stored blocks asked for again (block, requests): {:?}",
        refetched.len(),
        &refetched[..refetched.len().min(20)]
    );
    // Every missing block was asked for (bodies and receipts) after the restart.
    for n in (0..=END).filter(|n| stored_blocks.binary_search(n).is_err()) {
        let was = asked_before.get(&n).copied().unwrap_or(0);
        let now = asked_after.get(&n).copied().unwrap_or(0);
        assert!(
            n == 0 || now >= was + 2,
            "block {n} was missing but not fetched"
        );
    }
    // Items served: each missing block's body and receipts once, plus what a retry repeats on
    // a busy machine (a timed-out answer is served but dropped).
    assert!(
        again < 2 * missing + stored / 2,
        "refetched stored blocks: {again} items served for {missing} missing blocks"
    );
    db_verify(dir.path());
    assert_store_equals(dir.path(), &net.chain, 0..=END);
}

#[test]
fn an_operator_checkpoint_anchors_a_sync_from_a_single_peer() {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    const END: u64 = 400;
    // One peer is one network: no quorum. The checkpoint above the end block is the anchor; the
    // headers from it down to the end block are linked first.
    let net = start_testnet(
        &rt,
        dir.path(),
        TestnetConfig::new(ChainKind::Synthetic, 500, 1),
    );
    let anchor = format!("450:{}", net.chain.hash(450).expect("block 450"));
    let mut h = Histd::spawn(run_cmd(
        dir.path(),
        &enodes(&net),
        &[
            "--end-block",
            &END.to_string(),
            "--min-peers",
            "1",
            "--anchor",
            &anchor,
        ],
    ));
    let status = h.wait_exit_within(RUN_LIMIT);
    assert_eq!(status.code(), Some(0), "{:#?}", h.seen);
    assert!(h.logged("Checkpoint"), "{:#?}", h.seen);
    assert!(!h.logged("waiting for an anchor"));
    db_verify(dir.path());
    assert_store_equals(dir.path(), &net.chain, 0..=END);
    assert_eq!(stored_count(dir.path(), &net.chain, END + 1..=500), 0);
}

#[test]
fn peers_hear_the_served_range_grow_while_fast_sync_stores() {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    const END: u64 = 3000;
    let net = start_slow_testnet(&rt, dir.path(), END, 3);
    let mut h = Histd::spawn(run_cmd(
        dir.path(),
        &enodes(&net),
        &["--end-block", &END.to_string(), "--min-peers", "3"],
    ));
    // Our Status announced genesis only; BlockRangeUpdate moves `latest` up as blocks land
    // (fast-sync stores top-down, so the range reaches the target early and grows down).
    let deadline = Instant::now() + RUN_LIMIT;
    let heard = loop {
        let heard = net
            .peers
            .iter()
            .flat_map(|p| p.remote_served())
            .flatten()
            .find(|r| r.latest.get() > 0);
        if let Some(r) = heard {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "no BlockRangeUpdate heard: {:#?}",
            h.seen
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    println!("peers heard {}..={}", heard.earliest, heard.latest);
    assert!(heard.latest.get() <= END && heard.earliest <= heard.latest);
    let status = h.wait_exit_within(RUN_LIMIT);
    assert_eq!(status.code(), Some(0), "{:#?}", h.seen);
}
