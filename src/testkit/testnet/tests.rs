//! The testnet seen from a real client: real RLPx sessions over loopback, answers checked with the
//! real verifier.

use std::time::Duration;

use super::chain::verifier::{self, VerifyError};
use super::client_session as connect;
use super::*;
use crate::p2p::chain::ForkHead;
use crate::p2p::eth::{BlockHashOrNumber, GetBlockHeaders};
use crate::p2p::session::{RequestError, SessionHandle};
use crate::primitives::BlockNumber;

fn by_number(start: u64, limit: u64) -> GetBlockHeaders {
    GetBlockHeaders {
        start: BlockHashOrNumber::Number(BlockNumber(start)),
        limit,
        skip: 0,
        reverse: false,
    }
}

/// Fetches blocks `from ..= to` from `peer` and verifies them against `genesis`-anchored links.
async fn fetch_and_verify(
    peer: &SessionHandle,
    chain: &TestnetChain,
    from: u64,
    to: u64,
) -> Result<Vec<crate::primitives::VerifiedBlock>, VerifyError> {
    let headers = peer
        .get_headers(by_number(from, to - from + 1))
        .await
        .expect("headers");
    assert_eq!(headers.len() as u64, to - from + 1, "all headers");
    let sealed = verifier::seal_chain(headers)?;
    let parent = chain.sealed_header(from - 1).expect("parent").clone();
    verifier::check_link(&parent, &sealed[0])?;
    let hashes: Vec<B256> = sealed.iter().map(|h| h.hash).collect();
    // Answers are capped at about 2 MiB, so mainnet-sized blocks come in several prefixes.
    let mut bodies = Vec::new();
    while bodies.len() < hashes.len() {
        let got = peer
            .get_bodies(hashes[bodies.len()..].to_vec())
            .await
            .expect("bodies");
        assert!(!got.is_empty(), "an honest peer makes progress");
        bodies.extend(got);
    }
    let mut receipts = Vec::new();
    while receipts.len() < hashes.len() {
        let got = peer
            .get_receipts(hashes[receipts.len()..].to_vec())
            .await
            .expect("receipts");
        assert!(!got.is_empty(), "an honest peer makes progress");
        receipts.extend(got);
    }
    sealed
        .into_iter()
        .zip(bodies)
        .zip(receipts)
        .map(|((h, b), r)| verifier::verify_block(h, b, r))
        .collect()
}

#[tokio::test]
async fn client_fetches_verified_mainnet_blocks_from_peer_on_127_0_3_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = TestnetConfig::new(ChainKind::Mainnet, 24, 4);
    config.out_dir = Some(dir.path().to_owned());
    let net = Testnet::start(config).await.expect("testnet");
    let enode = net.peers[3].enode;
    assert_eq!(enode.addr.ip().to_string(), "127.0.3.1");
    for (i, p) in net.peers.iter().enumerate() {
        assert_eq!(p.enode.addr.ip().to_string(), format!("127.0.{i}.1"));
    }

    let peer = connect(&net.spec, enode, Duration::from_secs(10)).await;
    let head = peer.head().await.expect("head");
    assert_eq!((head.number.get(), head.hash), net.head());

    let blocks = fetch_and_verify(&peer, &net.chain, 1, 24)
        .await
        .expect("every block verifies");
    for b in &blocks {
        let n = b.number().get();
        assert_eq!(Some(b.hash()), net.chain.hash(n));
        assert_eq!(Some(b.body().clone()), net.chain.body(n));
    }
    let counts = net.peers[3].counts();
    assert_eq!(counts.headers, 1);
    assert!(counts.bodies >= 1 && counts.receipts >= 1, "{counts:?}");
    assert_eq!(net.peers[0].counts().total(), 0);
    // Per block number: every block 1..=24 was named by at least one body and one receipt
    // request (more when an answer came in prefixes), no other block was.
    let asked = net.asked();
    assert_eq!(
        asked.keys().copied().collect::<Vec<_>>(),
        (1..=24).collect::<Vec<u64>>()
    );
    assert!(asked.values().all(|&c| c >= 2), "{asked:?}");
    assert_eq!(asked, net.peers[3].asked());

    // The spec on disk is the one peers use: histd accepts it and lands on the same genesis.
    let path = net.chain_toml.clone().expect("chain.toml written");
    let spec = ChainSpec::from_file(&path).expect("chain.toml parses");
    assert_eq!(spec.genesis_hash, net.spec.genesis_hash);
    assert_eq!(spec.chain_id, TESTNET_CHAIN_ID);
    assert_eq!(
        spec.fork_id(ForkHead::new(24u64, 0)),
        net.spec.fork_id(ForkHead::new(24u64, 0))
    );
}

#[tokio::test]
async fn knobs_are_observable() {
    let mut config = TestnetConfig::new(ChainKind::Mainnet, 12, 7);
    let knob = |f: fn(&mut PeerKnobs)| {
        let mut k = PeerKnobs::default();
        f(&mut k);
        k
    };
    config.peer_knobs = vec![
        (0, knob(|k| k.max_items = Some(3))),
        (1, knob(|k| k.expired_below = Some(u64::MAX))),
        (2, knob(|k| k.wrong_receipts = true)),
        (4, knob(|k| k.stall = true)),
        (5, knob(|k| k.disconnect_every = Some(2))),
        (6, knob(|k| k.fake_chain = true)),
    ];
    let net = Testnet::start(config).await.expect("testnet");
    let timeout = Duration::from_secs(10);
    let hashes: Vec<B256> = (1..=10).filter_map(|n| net.chain.hash(n)).collect();

    // Partial answers: a prefix.
    let partial = connect(&net.spec, net.peers[0].enode, timeout).await;
    let bodies = partial.get_bodies(hashes.clone()).await.expect("bodies");
    assert_eq!(bodies.len(), 3);
    assert_eq!(Some(bodies[2].clone()), net.chain.body(3));

    // Expired history: headers yes, bodies and receipts empty, and it says so in Status.
    let expired = connect(&net.spec, net.peers[1].enode, timeout).await;
    let served = expired.snapshot().served.expect("eth/69 range");
    assert_eq!(served.earliest, BlockNumber(12));
    assert_eq!(
        expired
            .get_headers(by_number(1, 5))
            .await
            .expect("headers")
            .len(),
        5
    );
    assert!(
        expired
            .get_bodies(hashes.clone())
            .await
            .expect("bodies")
            .is_empty()
    );
    assert!(
        expired
            .get_receipts(hashes.clone())
            .await
            .expect("receipts")
            .is_empty()
    );

    // Wrong receipts fail verification.
    let liar = connect(&net.spec, net.peers[2].enode, timeout).await;
    let err = fetch_and_verify(&liar, &net.chain, 1, 4)
        .await
        .expect_err("altered receipts must not verify");
    assert!(matches!(err, VerifyError::ReceiptsRoot { .. }), "{err}");

    // A stalling peer: the asker's timeout fires.
    let staller = connect(&net.spec, net.peers[4].enode, Duration::from_millis(300)).await;
    let err = staller
        .get_headers(by_number(1, 1))
        .await
        .expect_err("stall");
    assert!(matches!(err, RequestError::Timeout { .. }), "{err}");

    // Disconnect mid-request: the first request is answered, the second cuts the session.
    let flaky = connect(&net.spec, net.peers[5].enode, timeout).await;
    assert_eq!(
        flaky
            .get_headers(by_number(1, 2))
            .await
            .expect("first")
            .len(),
        2
    );
    let err = flaky
        .get_headers(by_number(3, 2))
        .await
        .expect_err("cut off");
    assert!(matches!(err, RequestError::SessionClosed { .. }), "{err}");

    // The fake chain: same genesis, self-consistent, not the honest chain.
    let fake = connect(&net.spec, net.peers[6].enode, timeout).await;
    let head = fake.head().await.expect("head");
    assert_ne!(head.hash, net.head().1);
    let fake_chain = net.fake.clone().expect("fake chain built");
    let blocks = fetch_and_verify(&fake, &fake_chain, 1, 12)
        .await
        .expect("a fake chain verifies against itself");
    assert_ne!(Some(blocks[0].hash()), net.chain.hash(1));
    assert_eq!(blocks[0].parent_hash(), net.spec.genesis_hash);

    let counts = net.counts();
    assert_eq!(counts[0].bodies, 1);
    assert_eq!(counts[1].total(), 3);
    assert_eq!(counts[4].headers, 1);
    assert_eq!(counts[5].headers, 2);
    assert_eq!(counts[3].total(), 0);
}

#[tokio::test]
async fn head_advances_then_switches_to_the_fork() {
    let mut config = TestnetConfig::new(ChainKind::Synthetic, 60, 1);
    config.knobs.head_start = Some(10);
    config.knobs.head_advance_every = Some(Duration::from_millis(10));
    config.knobs.fork_switch_after = Some(Duration::from_millis(1500));
    config.fork_at = Some(30);
    let net = Testnet::start(config).await.expect("testnet");
    let peer = connect(&net.spec, net.peers[0].enode, Duration::from_secs(5)).await;
    let first = peer.head().await.expect("head");
    assert!(first.number.get() < 60, "starts below the chain head");

    // BlockRangeUpdates move the head up to the chain's head, then over to the fork's.
    let fork = net.fork.clone().expect("fork built");
    let mut reached = false;
    for _ in 0..400 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        if peer
            .snapshot()
            .head
            .is_some_and(|h| h.hash == fork.head_hash())
        {
            reached = true;
            break;
        }
    }
    assert!(
        reached,
        "head never moved to the fork: {:?}",
        peer.snapshot().head
    );
    let headers = peer.get_headers(by_number(29, 3)).await.expect("headers");
    assert_eq!(headers[0].hash_slow(), net.chain.hash(29).expect("shared"));
    assert_eq!(Some(headers[1].hash_slow()), fork.hash(30));
    assert_ne!(fork.hash(30), net.chain.hash(30));
}

#[test]
fn knob_names_parse() {
    let mut k = PeerKnobs::default();
    for name in PeerKnobs::NAMES {
        let value = if ["wrong-receipts", "fake-chain", "stall"].contains(name) {
            "true"
        } else {
            "7"
        };
        k.set(name, value).expect(name);
    }
    assert_eq!(k.latency, Duration::from_millis(7));
    assert_eq!(k.max_items, Some(7));
    assert!(k.stall && k.fake_chain && k.wrong_receipts);
    assert!(k.set("nope", "1").is_err());
    assert!(k.set("latency-ms", "soon").is_err());
}

#[test]
fn peer_addresses_use_one_slash_24_each() {
    let base: SocketAddr = "127.0.0.1:30303".parse().expect("addr");
    assert_eq!(
        peer_addr(base, 5).expect("fits").to_string(),
        "127.0.5.1:30303"
    );
    assert!(peer_addr(base, 300).is_err());
    assert!(peer_addr("[::1]:1".parse().expect("addr"), 0).is_err());
}
