//! DNS discovery through a real DNS server: a tree built and signed in the test is loaded into
//! dnsmasq (Debian package `dnsmasq-base`) on 127.0.0.1, and the production resolver
//! (`UdpTxtResolver`) walks it over UDP. Records longer than 255 bytes are split into several
//! strings, as publishers do, and must come back joined. Behind a relay that drops every third
//! query, the resolver's retries still complete the walk.
//!
//! Needs `dnsmasq` on PATH; `#[ignore]`d so the default suite does not depend on it. Run with
//! `cargo test --test it discovery::dns_server -- --include-ignored`.

use std::{
    collections::HashSet,
    net::{SocketAddr, UdpSocket},
    process::Stdio,
    time::Duration,
};

use histd::{
    p2p::discovery::dns::{
        DnsDiscovery, TxtResolver, resolver::MapResolver, udp_resolver::UdpTxtResolver,
    },
    testkit::discovery::{enr_for, publish_tree, test_key},
};

fn dnsmasq_config(tree: &MapResolver) -> String {
    let mut conf = String::new();
    for (name, txts) in tree.records() {
        for txt in txts {
            // One TXT string holds at most 255 bytes: longer records go as several strings.
            let chunks: Vec<String> = txt
                .as_bytes()
                .chunks(255)
                .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
                .collect();
            conf.push_str(&format!("txt-record={name},{}\n", chunks.join(",")));
        }
    }
    conf
}

#[tokio::test]
#[ignore = "needs dnsmasq (Debian package dnsmasq-base)"]
async fn a_tree_served_by_dnsmasq_resolves_over_udp() {
    let mut tree = MapResolver::new();
    let leaves: Vec<String> = (0..40u32)
        .map(|i| {
            enr_for(
                &test_key(500 + i),
                format!("10.1.0.{}", i + 1).parse().unwrap(),
                30303,
            )
        })
        .collect();
    let link = publish_tree(&mut tree, "nodes.histd.test", &test_key(1), 5, &leaves, &[]);
    let want: HashSet<String> = leaves.iter().cloned().collect();
    assert!(
        tree.records().any(|(_, t)| t.iter().any(|s| s.len() > 255)),
        "the tree must contain a record longer than one TXT string"
    );

    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("dnsmasq.conf");
    std::fs::write(&conf, dnsmasq_config(&tree)).unwrap();
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = SocketAddr::from(([127, 0, 0, 1], port));
    let mut child = tokio::process::Command::new("dnsmasq")
        .args([
            "--keep-in-foreground",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
        ])
        .arg("--listen-address=127.0.0.1")
        .arg(format!("--port={port}"))
        .arg(format!("--conf-file={}", conf.display()))
        .arg("--pid-file=")
        .arg("--user=root")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("dnsmasq not found: install the Debian package dnsmasq-base");

    let mut resolver = UdpTxtResolver::new(vec![server]);
    resolver.timeout = Duration::from_millis(300);
    // Poll until the server answers (it starts asynchronously), with a deadline.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while resolver.txt("nodes.histd.test").await.is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("dnsmasq exited early: {status}");
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "dnsmasq did not answer within 10 s"
        );
    }

    let found = DnsDiscovery::new(resolver.clone())
        .resolve(&link)
        .await
        .unwrap();
    assert_eq!(found.len(), leaves.len());
    let got: HashSet<String> = found
        .iter()
        .map(|n| {
            let i = (0..40u32)
                .find(|i| format!("10.1.0.{}", i + 1) == n.ip.to_string())
                .unwrap();
            enr_for(&test_key(500 + i), n.ip, n.tcp_port)
        })
        .collect();
    assert_eq!(got, want);

    // A name the server does not hold is an error, not an empty success.
    assert!(resolver.txt("nothing.histd.test").await.is_err());
    child.kill().await.unwrap();
}

/// Starts dnsmasq serving `tree` on a free loopback port; returns it (killed on drop), its
/// address and the directory holding its config.
async fn start_dnsmasq(
    tree: &MapResolver,
) -> (tokio::process::Child, SocketAddr, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("dnsmasq.conf");
    std::fs::write(&conf, dnsmasq_config(tree)).unwrap();
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = SocketAddr::from(([127, 0, 0, 1], port));
    let child = tokio::process::Command::new("dnsmasq")
        .args([
            "--keep-in-foreground",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
        ])
        .arg("--listen-address=127.0.0.1")
        .arg(format!("--port={port}"))
        .arg(format!("--conf-file={}", conf.display()))
        .arg("--pid-file=")
        .arg("--user=root")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("dnsmasq not found: install the Debian package dnsmasq-base");
    (child, server, dir)
}

/// A UDP relay in front of `server` that drops every `nth` query (dnsmasq itself cannot lose
/// packets). Returns its address and the count of queries dropped.
async fn lossy_relay(
    server: SocketAddr,
    nth: u64,
) -> (SocketAddr, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    use std::sync::atomic::Ordering;
    let relay = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = relay.local_addr().unwrap();
    let dropped = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let d = dropped.clone();
    tokio::spawn(async move {
        let mut clients = std::collections::HashMap::new();
        let mut seen = 0u64;
        let mut buf = vec![0u8; 65_535];
        loop {
            let Ok((n, from)) = relay.recv_from(&mut buf).await else {
                return;
            };
            if n < 2 {
                continue;
            }
            let id = u16::from_be_bytes([buf[0], buf[1]]);
            if from == server {
                if let Some(client) = clients.remove(&id) {
                    let _ = relay.send_to(&buf[..n], client).await;
                }
                continue;
            }
            seen += 1;
            if seen.is_multiple_of(nth) {
                d.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            clients.insert(id, from);
            let _ = relay.send_to(&buf[..n], server).await;
        }
    });
    (addr, dropped)
}

#[tokio::test]
#[ignore = "needs dnsmasq (Debian package dnsmasq-base)"]
async fn a_walk_completes_when_a_third_of_the_queries_are_lost() {
    let mut tree = MapResolver::new();
    let leaves: Vec<String> = (0..40u32)
        .map(|i| {
            enr_for(
                &test_key(700 + i),
                format!("10.2.0.{}", i + 1).parse().unwrap(),
                30303,
            )
        })
        .collect();
    let link = publish_tree(&mut tree, "lossy.histd.test", &test_key(3), 1, &leaves, &[]);
    let (mut child, server, _dir) = start_dnsmasq(&tree).await;
    let direct = {
        let mut r = UdpTxtResolver::new(vec![server]);
        r.timeout = Duration::from_millis(300);
        r
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while direct.txt("lossy.histd.test").await.is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("dnsmasq exited early: {status}");
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "dnsmasq did not answer within 10 s"
        );
    }

    let (relay, dropped) = lossy_relay(server, 3).await;
    let mut resolver = UdpTxtResolver::new(vec![relay]);
    resolver.timeout = Duration::from_millis(200);
    resolver.backoff = Duration::from_millis(20);
    resolver.attempts = 5;
    let walked = DnsDiscovery::new(resolver).resolve_partial(&link).await;
    assert!(walked.errors.is_empty(), "{:?}", walked.errors);
    assert_eq!(walked.nodes.len(), leaves.len());
    assert!(
        dropped.load(std::sync::atomic::Ordering::Relaxed) >= 10,
        "the relay should have lost queries"
    );

    // With a single try, the same losses break a strict walk.
    let (relay, _) = lossy_relay(server, 3).await;
    let mut once = UdpTxtResolver::new(vec![relay]);
    once.timeout = Duration::from_millis(200);
    once.attempts = 1;
    assert!(DnsDiscovery::new(once).resolve(&link).await.is_err());
    child.kill().await.unwrap();
}
