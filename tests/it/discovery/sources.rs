//! The merged discovery feed: static peers, a DNS list (a tree signed in the test, injected
//! resolver) and discv4 (two real services on loopback) all arrive, tagged by source; with every
//! source switched off the feed is empty and closes.

use std::{collections::HashSet, net::SocketAddr, time::Duration};

use histd::{
    p2p::discovery::{
        Discovered, DiscoverySettings, Source,
        dns::resolver::MapResolver,
        start_discovery,
        v4::{Discv4, Discv4Config},
    },
    testkit::discovery::{enr_for, publish_tree, test_key},
};
use tokio_util::sync::CancellationToken;

fn loopback(seed: u32) -> Discv4Config {
    let mut c = Discv4Config::new(test_key(seed), SocketAddr::from(([127, 0, 0, 1], 0)));
    c.request_timeout = Duration::from_millis(500);
    c
}

#[tokio::test]
async fn every_source_feeds_the_pool() {
    let cancel = CancellationToken::new();
    // A discv4 node to be found through the bootnode.
    let (other, _rx) = Discv4::spawn(loopback(7), cancel.child_token())
        .await
        .unwrap();

    let mut tree = MapResolver::new();
    let leaves: Vec<String> = (0..3u32)
        .map(|i| {
            enr_for(
                &test_key(50 + i),
                format!("10.9.0.{i}").parse().unwrap(),
                30303,
            )
        })
        .collect();
    let link = publish_tree(&mut tree, "list.example", &test_key(1), 1, &leaves, &[]);

    let static_peer = format!(
        "enode://{:x}@192.0.2.1:30303",
        histd::p2p::rlpx::id_of(&test_key(99))
    )
    .parse()
    .unwrap();
    let mut v4 = loopback(8);
    v4.bootnodes = vec![other.local_record()];
    let settings = DiscoverySettings {
        static_peers: vec![static_peer],
        dns: vec![link],
        dns_refresh: Duration::from_secs(3600),
        discv4: Some(v4),
        capacity: 64,
    };
    let mut d = start_discovery(settings, tree, cancel.clone())
        .await
        .unwrap();

    let mut seen: HashSet<(Source, String)> = HashSet::new();
    let want_discv4 = other.local_record();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !(seen.iter().filter(|(s, _)| *s == Source::Dns).count() == 3
        && seen.contains(&(Source::Static, static_peer.to_string()))
        && seen.contains(&(Source::Discv4, want_discv4.to_string())))
    {
        let Discovered { record, source } = tokio::time::timeout_at(deadline, d.records.recv())
            .await
            .unwrap_or_else(|_| panic!("sources incomplete after 10 s: {seen:?}"))
            .expect("feed open");
        seen.insert((source, record.to_string()));
    }
    cancel.cancel();
}

#[tokio::test]
async fn with_every_source_off_the_feed_closes_empty() {
    let settings = DiscoverySettings {
        static_peers: vec![],
        dns: vec![],
        dns_refresh: Duration::from_secs(3600),
        discv4: None,
        capacity: 4,
    };
    let mut d = start_discovery(settings, MapResolver::new(), CancellationToken::new())
        .await
        .unwrap();
    assert!(d.discv4.is_none());
    assert_eq!(d.records.recv().await, None);
}
