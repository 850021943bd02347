//! Hostile peers among honest ones, and a fake chain with only cheap identities.

use std::net::SocketAddr;
use std::time::Duration;

use histd::testkit::process::HistdProcess as Histd;
use histd::testkit::testnet::{ChainKind, PeerKnobs, TestnetConfig};

use super::*;

#[test]
fn hostile_peers_among_honest_ones_are_penalised_and_no_bad_block_is_stored() {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    const END: u64 = 2000;
    let mut config = TestnetConfig::new(ChainKind::Synthetic, END, 8);
    config.peer_knobs = vec![
        (
            3,
            PeerKnobs {
                wrong_receipts: true,
                ..PeerKnobs::default()
            },
        ),
        (
            4,
            PeerKnobs {
                fake_chain: true,
                ..PeerKnobs::default()
            },
        ),
        (
            5,
            PeerKnobs {
                stall: true,
                ..PeerKnobs::default()
            },
        ),
        (
            6,
            PeerKnobs {
                disconnect_every: Some(3),
                ..PeerKnobs::default()
            },
        ),
        (
            7,
            PeerKnobs {
                expired_below: Some(END / 2),
                ..PeerKnobs::default()
            },
        ),
    ];
    let net = start_testnet(&rt, dir.path(), config);
    // All eight connected before the anchor round, so the fake peer is among those asked (with
    // fewer, a slow machine could agree the anchor before the fake peer had connected).
    let mut h = Histd::spawn(run_cmd(
        dir.path(),
        &enodes(&net),
        &["--end-block", &END.to_string(), "--min-peers", "8"],
    ));
    let status = h.wait_exit_within(RUN_LIMIT);
    assert_eq!(status.code(), Some(0), "{:#?}", h.seen);
    db_verify(dir.path());
    assert_store_equals(dir.path(), &net.chain, 0..=END);

    // Wrong receipts: dropped and penalised.
    let bad = lines_with(&h, "failing verification");
    assert!(
        bad.iter()
            .any(|l| l.contains("127.0.3.1") && l.contains("receipts")),
        "the wrong-receipts peer was not penalised: {bad:#?}"
    );
    // The fake chain: its hash is refused by the quorum and the peer reported.
    let fake = net.fake.as_ref().expect("fake chain");
    let fake_hash = fake.hash(END).expect("fake head").to_string();
    assert!(
        lines_with(&h, "quorum disagrees")
            .iter()
            .any(|l| l.contains(&fake_hash)),
        "the fake peer was not reported: {:#?}",
        h.seen
    );
    // The honest peers did the work.
    let counts = net.counts();
    assert!(counts[0].blocks_served + counts[1].blocks_served + counts[2].blocks_served > 0);
    assert_eq!(
        counts[4].blocks_served, 0,
        "nothing of the fake chain was served to us"
    );
}

#[test]
fn a_fake_chain_on_cheap_identities_in_one_network_never_anchors() {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    // Three fake identities on 127.0.9.0/24 (one network), one honest peer on 127.0.10.0/24:
    // the same seed gives the same chains in every testnet.
    let mut nets = Vec::new();
    for host in 1..=3u8 {
        let mut config = TestnetConfig::new(ChainKind::Synthetic, 100, 1);
        config.listen = SocketAddr::from(([127, 0, 9, host], 0));
        config.knobs = PeerKnobs {
            fake_chain: true,
            ..PeerKnobs::default()
        };
        nets.push(start_testnet(&rt, dir.path(), config));
    }
    let mut honest = TestnetConfig::new(ChainKind::Synthetic, 100, 1);
    honest.listen = SocketAddr::from(([127, 0, 10, 1], 0));
    nets.push(start_testnet(&rt, dir.path(), honest));
    let peers: Vec<String> = nets.iter().flat_map(enodes).collect();
    let mut h = Histd::spawn(run_cmd(
        dir.path(),
        &peers,
        &["--end-block", "100", "--min-peers", "4"],
    ));
    let waiting = h.wait_for_within(Duration::from_secs(60), "waiting for an anchor", |v| {
        v["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("waiting for an anchor"))
            && v["answering_networks"] == 2
    });
    assert_eq!(waiting["agreeing_networks"], 1, "{waiting}");
    assert_eq!(waiting["quorum"], 3, "{waiting}");
    h.signal(libc::SIGINT);
    let status = h.wait_exit();
    assert_eq!(status.code(), Some(0), "{:#?}", h.seen);
    assert!(!h.logged("fast-sync anchored"), "{:#?}", h.seen);
    assert_eq!(stored_count(dir.path(), &nets[3].chain, 0..=100), 0);
}
