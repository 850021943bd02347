//! The pool is observable: its Prometheus series (peers by client and eth version, dial
//! attempts and failures, inbound results, bans, discovered nodes) and its periodic status log
//! line, checked through a real recorder and a real subscriber (both global: the test re-runs alone
//! in its own process, so no other test's pool adds to the counts or logs a status line).

use std::sync::Arc;
use std::time::Duration;

use histd::p2p::discovery::{Discovered, NodeRecord, Source};
use histd::p2p::node_key::NodeKey;
use histd::p2p::pool::{MemoryPeerCache, PeerPool, PoolConfig, PoolDeps};
use histd::p2p::session::{EmptyHistory, PeerConfig};
use histd::testkit::pool::{TestChain, TestPeer};
use histd::testkit::{self, isolated};
use metrics_exporter_prometheus::PrometheusBuilder;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_the_status_line() {
    if !isolated::in_own_process(module_path!(), "metrics_and_the_status_line") {
        return;
    }
    let prometheus = PrometheusBuilder::new().install_recorder().unwrap();
    let logs = testkit::logs::logs();

    let chain = TestChain::new(5, 20);
    let other = TestChain::new(6, 5);
    let a = TestPeer::start(chain.inputs_at(19), Arc::new(chain.history_to(19))).await;
    let b = TestPeer::start(chain.inputs_at(19), Arc::new(chain.history_to(19))).await;
    let wrong = TestPeer::start(other.inputs_at(4), Arc::new(other.history_to(4))).await;
    // A node that is not there: its dial fails.
    let gone = NodeRecord::new(NodeKey::random().id(), "127.0.0.1".parse().unwrap(), 1);
    let (tx, rx) = mpsc::channel(8);
    for (record, source) in [
        (a.record, Source::Dns),
        (b.record, Source::Discv4),
        (wrong.record, Source::Discv4),
        (gone, Source::Static),
    ] {
        tx.send(Discovered { record, source }).await.unwrap();
    }
    let config = PoolConfig {
        dial_interval: Duration::from_millis(20),
        head_interval: Duration::from_millis(50),
        log_interval: Duration::from_millis(100),
        ..PoolConfig::new(10, 2, None)
    };
    let cancel = CancellationToken::new();
    let pool = PeerPool::spawn(
        config,
        PoolDeps {
            peer: PeerConfig::new(NodeKey::random(), chain.inputs_at(0)),
            provider: Arc::new(EmptyHistory),
            discovered: Some(rx),
            cache: Arc::new(MemoryPeerCache::default()),
        },
        cancel.clone(),
    )
    .await
    .unwrap();
    let mut snaps = pool.handle.subscribe();
    tokio::time::timeout(
        Duration::from_secs(10),
        snaps.wait_for(|s| s.usable == 2 && s.bans.len() == 1 && s.dial_failures == 2),
    )
    .await
    .unwrap_or_else(|_| panic!("{:#?}", pool.handle.snapshot()))
    .unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;

    let text = prometheus.render();
    for series in [
        "histd_peers 2",
        "histd_pool_usable_peers 2",
        "histd_pool_peers{client=\"histd\",version=\"eth/69\"} 2",
        "histd_pool_dial_attempts_total 4",
        "histd_pool_dial_failures_total 2",
        "histd_pool_bans_total{kind=\"permanent\",reason=\"wrong_chain\"} 1",
        "histd_pool_discovered_nodes_total{source=\"discv4\"} 2",
        "histd_pool_discovered_nodes_total{source=\"dns\"} 1",
        "histd_pool_discovered_nodes_total{source=\"static\"} 1",
    ] {
        assert!(text.contains(series), "missing {series:?} in\n{text}");
    }
    let logs = logs.text();
    let line = logs
        .lines()
        .rev()
        .find(|l| l.contains("peer pool") && l.contains("by_client"))
        .unwrap_or_else(|| panic!("no status line in\n{logs}"));
    for field in [
        "peers=2",
        "usable=2",
        "by_client=histd=2",
        "by_version=eth/69=2",
        "dials=4",
        "dial_failures=2",
        "bans_permanent=1",
    ] {
        assert!(line.contains(field), "{field:?} not in {line}");
    }
    cancel.cancel();
    pool.task.await.unwrap();
}
