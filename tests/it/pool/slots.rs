//! The pool's slots against a hostile crowd on loopback (real sockets, real handshakes): a
//! hundred identities dialling in from one address get no more than the per-address cap and no
//! outbound slot, inbound peers stop at `max_inbound` while outbound slots stay free for our
//! dials, and silent connections neither hold the handshake slots past their budget nor keep a
//! real peer out; each drop is counted under its reason. Each test address is its own loopback 127.x.y.z, so per-address caps apply.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use histd::p2p::discovery::{Discovered, NodeRecord, Source};
use histd::p2p::node_key::NodeKey;
use histd::p2p::pool::bans::Misbehaviour;
use histd::p2p::pool::{
    Direction, MemoryPeerCache, PeerPool, PoolConfig, PoolDeps, PoolSnapshot, RunningPool,
};
use histd::p2p::session::{EmptyHistory, PeerConfig, SessionConfig};
use histd::testkit::isolated;
use histd::testkit::pool::{TestChain, TestPeer, fresh_loopback};
use metrics_exporter_prometheus::PrometheusBuilder;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const LEN: u64 = 40;
const WAIT: Duration = Duration::from_secs(15);

fn config(max_peers: usize) -> PoolConfig {
    PoolConfig {
        dial_interval: Duration::from_millis(20),
        head_interval: Duration::from_millis(50),
        connect_timeout: Duration::from_secs(2),
        session: SessionConfig {
            request_timeout: Duration::from_secs(5),
            ..SessionConfig::default()
        },
        ..PoolConfig::new(max_peers, 1, Some("127.0.0.1:0".parse().unwrap()))
    }
}

/// A listening pool with nothing to dial yet; the sender feeds it dial candidates later.
async fn start(
    chain: &TestChain,
    config: PoolConfig,
) -> (RunningPool, NodeRecord, mpsc::Sender<Discovered>) {
    let (tx, rx) = mpsc::channel(64);
    let key = NodeKey::random();
    let id = key.id();
    let deps = PoolDeps {
        peer: PeerConfig::new(key, chain.inputs_at(0)),
        provider: Arc::new(EmptyHistory),
        discovered: Some(rx),
        cache: Arc::new(MemoryPeerCache::default()),
    };
    let pool = PeerPool::spawn(config, deps, CancellationToken::new())
        .await
        .unwrap();
    let addr = pool.listen_addr.unwrap();
    (pool, NodeRecord::new(id, addr.ip(), addr.port()), tx)
}

async fn honest_at(chain: &TestChain, ip: IpAddr) -> TestPeer {
    let cfg = PeerConfig::new(NodeKey::random(), chain.inputs_at(LEN - 1));
    TestPeer::start_at(ip, cfg, Arc::new(chain.history_to(LEN - 1))).await
}

async fn wait_snapshot(
    pool: &RunningPool,
    what: &str,
    pred: impl Fn(&PoolSnapshot) -> bool,
) -> Arc<PoolSnapshot> {
    let mut rx = pool.handle.subscribe();
    match tokio::time::timeout(WAIT, rx.wait_for(|s| pred(s))).await {
        Ok(Ok(s)) => s.clone(),
        _ => panic!(
            "timed out waiting for {what}: {:#?}",
            pool.handle.snapshot()
        ),
    }
}

fn count(s: &PoolSnapshot, direction: Direction) -> usize {
    s.peers.iter().filter(|p| p.direction == direction).count()
}

/// A TCP connection from `from` that never sends a byte.
async fn silent(from: IpAddr, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    socket.connect(to).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_identities_from_one_address_take_two_inbound_slots_and_no_outbound_one() {
    let chain = TestChain::new(7, LEN);
    // Six slots: at most three inbound, and the other three only for our dials.
    let (pool, me, discovered) = start(&chain, config(6)).await;
    assert_eq!(
        (pool.handle.snapshot().peers.len(), config(6).max_inbound),
        (0, 3)
    );

    // A hundred fresh identities on one address dial in, ten at a time.
    let crowd_ip = fresh_loopback();
    let mut crowd = Vec::new();
    for _ in 0..100 {
        crowd.push(honest_at(&chain, crowd_ip).await);
    }
    let mut sessions = Vec::new();
    for wave in crowd.chunks(10) {
        let dials = wave.iter().map(|p| p.dial(me));
        // Most are closed on accept (two handshakes per address at once) or refused once the
        // address has its two sessions: only the outcome in the pool is checked.
        sessions.extend(futures::future::join_all(dials).await.into_iter().flatten());
    }
    let snap = wait_snapshot(&pool, "two sessions from the crowd", |s| s.peers.len() == 2).await;
    assert!(snap.peers.iter().all(|p| p.direction == Direction::Inbound));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(pool.handle.snapshot().peers.len(), 2, "per-address cap");

    // A peer from another address takes the last inbound slot; the next one is refused although
    // three slots are free: those are outbound.
    let third = honest_at(&chain, fresh_loopback()).await;
    let _third = third.dial(me).await.expect("third inbound handshake");
    wait_snapshot(&pool, "three inbound", |s| {
        count(s, Direction::Inbound) == 3
    })
    .await;
    let fourth = honest_at(&chain, fresh_loopback()).await;
    let refused = fourth.dial(me).await.expect("handshake completes");
    let why = tokio::time::timeout(WAIT, refused.closed()).await.unwrap();
    assert!(why.contains("too many peers"), "{why}");
    assert_eq!(count(&pool.handle.snapshot(), Direction::Inbound), 3);

    // Our dials still find their three slots.
    let mut outbound = Vec::new();
    for _ in 0..3 {
        let p = honest_at(&chain, fresh_loopback()).await;
        discovered
            .send(Discovered {
                record: p.record,
                source: Source::Discv4,
            })
            .await
            .unwrap();
        outbound.push(p);
    }
    let snap = wait_snapshot(&pool, "three outbound", |s| {
        count(s, Direction::Outbound) == 3
    })
    .await;
    assert_eq!(snap.peers.len(), 6);
    assert_eq!(count(&snap, Direction::Inbound), 3);
    let from_crowd = snap
        .peers
        .iter()
        .filter(|p| crowd.iter().any(|c| c.id() == p.id))
        .count();
    assert_eq!(from_crowd, 2);
    drop(sessions);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_neither_keep_a_real_peer_out_nor_outlive_their_budget() {
    let chain = TestChain::new(7, LEN);
    let mut cfg = config(6);
    // Few handshake slots, so forty silent connections would hold them all without the
    // per-address cap; a budget long enough that the real peer cannot just be waiting it out.
    cfg.inbound_concurrency = 4;
    cfg.inbound_handshake_budget = Duration::from_secs(4);
    let budget = cfg.inbound_handshake_budget;
    let (pool, me, _discovered) = start(&chain, cfg).await;

    let silent_ip = fresh_loopback();
    let opened = Instant::now();
    let mut quiet = Vec::new();
    for _ in 0..40 {
        quiet.push(silent(silent_ip, me.tcp_addr()).await);
    }

    let real = honest_at(&chain, fresh_loopback()).await;
    let started = Instant::now();
    let _session = real.dial(me).await.expect("the real peer's handshake");
    wait_snapshot(&pool, "the real peer", |s| s.peer(&real.id()).is_some()).await;
    assert!(
        started.elapsed() < budget / 2,
        "the real peer waited {:?}: it queued behind silent connections",
        started.elapsed()
    );

    // Every silent connection is closed by the pool: all but two at once, those two when their
    // budget runs out (not after the ~20 s the handshake's step timeouts add up to).
    let closing = quiet.into_iter().map(|mut tcp| async move {
        let mut buf = [0u8; 1];
        let read = tokio::time::timeout(budget * 2, tcp.read(&mut buf)).await;
        assert!(
            matches!(read, Ok(Ok(0)) | Ok(Err(_))),
            "a silent connection is still open after {:?}",
            opened.elapsed()
        );
        opened.elapsed()
    });
    let closed_after = futures::future::join_all(closing).await;
    let late = closed_after.iter().filter(|t| **t >= budget / 2).count();
    assert_eq!(
        late, 2,
        "only the two in a handshake wait: {closed_after:?}"
    );
    let last = closed_after.iter().max().unwrap();
    assert!(
        *last >= budget && *last < budget + Duration::from_secs(2),
        "the two in a handshake are cut off by the budget: {closed_after:?}"
    );
}

/// The value of `histd_pool_inbound_total{result="<result>"}` in a Prometheus rendering (0 when
/// absent).
fn inbound_total(text: &str, result: &str) -> u64 {
    let prefix = format!("histd_pool_inbound_total{{result=\"{result}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0, |v| v.trim().parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_inbound_drop_is_counted_by_its_reason() {
    // A global recorder: alone in its own process, so no other test's pool adds to the counts.
    if !isolated::in_own_process(module_path!(), "each_inbound_drop_is_counted_by_its_reason") {
        return;
    }
    let prometheus = PrometheusBuilder::new().install_recorder().unwrap();
    let chain = TestChain::new(7, LEN);
    let mut cfg = config(4);
    cfg.max_sessions_per_ip = 1;
    cfg.max_handshakes_per_ip = 1;
    cfg.inbound_handshake_budget = Duration::from_millis(500);
    let (pool, me, _discovered) = start(&chain, cfg).await;

    // One address: a silent connection holds its only handshake slot, a second one is closed on
    // accept; the silent one is cut off by the budget.
    let ip = fresh_loopback();
    let mut held = silent(ip, me.tcp_addr()).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut closed = silent(ip, me.tcp_addr()).await;
    let mut buf = [0u8; 1];
    let read = tokio::time::timeout(WAIT, closed.read(&mut buf))
        .await
        .unwrap();
    assert!(matches!(read, Ok(0) | Err(_)));
    let read = tokio::time::timeout(WAIT, held.read(&mut buf))
        .await
        .unwrap();
    assert!(matches!(read, Ok(0) | Err(_)));

    // Then a session from that address, and a second identity there refused for it; two more
    // addresses fill the two inbound slots and the third is refused for that.
    let first = honest_at(&chain, ip).await;
    let second = honest_at(&chain, ip).await;
    let _first = first.dial(me).await.unwrap();
    wait_snapshot(&pool, "first inbound", |s| s.peers.len() == 1).await;
    let _second = second.dial(me).await.unwrap();
    let other = honest_at(&chain, fresh_loopback()).await;
    let _other = other.dial(me).await.unwrap();
    wait_snapshot(&pool, "two inbound", |s| s.peers.len() == 2).await;
    let third = honest_at(&chain, fresh_loopback()).await;
    let refused = third.dial(me).await.unwrap();
    tokio::time::timeout(WAIT, refused.closed()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let text = prometheus.render();
    for (result, n) in [
        ("ip_handshakes", 1),
        ("handshake_timeout", 1),
        ("ip_sessions", 1),
        ("inbound_full", 1),
        ("accepted", 2),
    ] {
        assert_eq!(inbound_total(&text, result), n, "{result}:\n{text}");
    }
    assert!(
        text.contains("histd_pool_inbound_handshake_seconds_count"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_that_just_connected_is_throttled_then_admitted() {
    let chain = TestChain::new(8, LEN);
    let mut cfg = config(8);
    // Loopback is exempt by default (as in geth); throttle it here to exercise the rule.
    cfg.address_rules_on_local = true;
    cfg.inbound_throttle = Duration::from_secs(2);
    let (pool, me, _discovered) = start(&chain, cfg).await;

    let ip = fresh_loopback();
    let first = honest_at(&chain, ip).await;
    let _first = first.dial(me).await.unwrap();
    wait_snapshot(&pool, "first inbound", |s| s.peers.len() == 1).await;

    // A second identity from the same address within the period: closed before any handshake.
    let mut again = silent(ip, me.tcp_addr()).await;
    let mut buf = [0u8; 1];
    let read = tokio::time::timeout(WAIT, again.read(&mut buf))
        .await
        .unwrap();
    assert!(matches!(read, Ok(0) | Err(_)));
    // Another address is not affected.
    let other = honest_at(&chain, fresh_loopback()).await;
    let _other = other.dial(me).await.unwrap();
    wait_snapshot(&pool, "other address", |s| s.peers.len() == 2).await;

    // After the period the address is admitted again.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let later = honest_at(&chain, ip).await;
    let _later = later.dial(me).await.unwrap();
    wait_snapshot(&pool, "admitted after the period", |s| s.peers.len() == 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breach_bans_the_address_so_a_fresh_identity_there_is_shut_out() {
    let chain = TestChain::new(9, LEN);
    let mut cfg = config(8);
    // Loopback is exempt from address rules by default; apply them here.
    cfg.address_rules_on_local = true;
    cfg.inbound_throttle = Duration::ZERO;
    let (pool, me, discovered) = start(&chain, cfg).await;

    let bad_ip = fresh_loopback();
    let liar = honest_at(&chain, bad_ip).await;
    let _liar = liar.dial(me).await.unwrap();
    wait_snapshot(&pool, "the liar", |s| s.peer(&liar.id()).is_some()).await;
    assert!(
        pool.handle
            .report(liar.id(), Misbehaviour::ProtocolBreach)
            .is_some()
    );
    wait_snapshot(&pool, "the liar gone", |s| s.peer(&liar.id()).is_none()).await;

    // A new identity from the banned address: closed before its handshake ends.
    let fresh = honest_at(&chain, bad_ip).await;
    match fresh.dial(me).await {
        Err(_) => {}
        Ok(session) => {
            tokio::time::timeout(WAIT, session.closed()).await.unwrap();
        }
    }
    // Nor do we dial a node there.
    let there = honest_at(&chain, bad_ip).await;
    discovered
        .send(Discovered {
            record: there.record,
            source: Source::Discv4,
        })
        .await
        .unwrap();
    // Another address is untouched (and dialled), the banned one stays out.
    let other = honest_at(&chain, fresh_loopback()).await;
    discovered
        .send(Discovered {
            record: other.record,
            source: Source::Discv4,
        })
        .await
        .unwrap();
    wait_snapshot(&pool, "the other address", |s| {
        s.peer(&other.id()).is_some()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let snap = pool.handle.snapshot();
    assert!(snap.peer(&fresh.id()).is_none() && snap.peer(&there.id()).is_none());
}
