//! The peer pool against in-process peers on loopback (real RLPx sessions): it fills to its
//! limit and refuses more, ranks a slow peer below a fast one, bans a peer on another chain for
//! good and one reported for bad data for a while, survives a peer cut off mid-request, and
//! keeps `head_seen` where a second peer confirms it when one peer lies about its head.
//! Head evidence counts per network: test peers each get their own loopback /24 (all of 127/8 is
//! loopback), ten identities sharing one /24 are one vote, and a head the chain cannot have
//! reached yet is refused and its peer banned.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::B256;
use histd::p2p::discovery::{Discovered, NodeRecord, Source};
use histd::p2p::eth::{BlockHashOrNumber, BlockRange, EthVersion, GetBlockHeaders};
use histd::p2p::node_key::NodeKey;
use histd::p2p::pool::{
    BanKind, Direction, MemoryPeerCache, Misbehaviour, PeerPool, PoolConfig, PoolDeps, PoolEvent,
    PoolSnapshot, RunningPool, Span,
};
use histd::p2p::session::{EmptyHistory, HistoryProvider, PeerConfig, RequestError, SessionConfig};
use histd::primitives::BlockNumber;
use histd::testkit::pool::{DelayedHistory, TestChain, TestPeer, fresh_loopback};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const LEN: u64 = 40;
const WAIT: Duration = Duration::from_secs(10);

fn chain() -> TestChain {
    TestChain::new(7, LEN)
}

fn pool_config(max_peers: usize, min_peers: usize) -> PoolConfig {
    PoolConfig {
        dial_interval: Duration::from_millis(20),
        head_interval: Duration::from_millis(50),
        backoff_base: Duration::from_millis(300),
        connect_timeout: Duration::from_secs(2),
        session: SessionConfig {
            request_timeout: Duration::from_secs(5),
            ..SessionConfig::default()
        },
        ..PoolConfig::new(max_peers, min_peers, Some("127.0.0.1:0".parse().unwrap()))
    }
}

/// A pool on `chain` at genesis with key `key`, fed `peers` by a discovery channel.
async fn start_pool_keyed(
    chain: &TestChain,
    config: PoolConfig,
    peers: &[&TestPeer],
    key: NodeKey,
) -> RunningPool {
    let (tx, rx) = mpsc::channel(64);
    for p in peers {
        tx.send(Discovered {
            record: p.record,
            source: Source::Discv4,
        })
        .await
        .unwrap();
    }
    // Keep the channel open (discovery keeps running in the daemon).
    std::mem::forget(tx);
    let deps = PoolDeps {
        peer: PeerConfig::new(key, chain.inputs_at(0)),
        provider: Arc::new(EmptyHistory),
        discovered: Some(rx),
        cache: Arc::new(MemoryPeerCache::default()),
    };
    PeerPool::spawn(config, deps, CancellationToken::new())
        .await
        .unwrap()
}

async fn start_pool(chain: &TestChain, config: PoolConfig, peers: &[&TestPeer]) -> RunningPool {
    start_pool_keyed(chain, config, peers, NodeKey::random()).await
}

async fn honest(chain: &TestChain) -> TestPeer {
    TestPeer::start(
        chain.inputs_at(LEN - 1),
        Arc::new(chain.history_to(LEN - 1)),
    )
    .await
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

/// The first snapshot published after this call (the current one may predate the caller's
/// last change to the pool's state).
async fn next_snapshot(pool: &RunningPool) -> Arc<PoolSnapshot> {
    let mut rx = pool.handle.subscribe();
    rx.borrow_and_update();
    match tokio::time::timeout(WAIT, rx.changed()).await {
        Ok(Ok(())) => rx.borrow().clone(),
        _ => panic!("no snapshot published: {:#?}", pool.handle.snapshot()),
    }
}

async fn next_event(pool: &mut RunningPool, pred: impl Fn(&PoolEvent) -> bool) -> PoolEvent {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, pool.events.recv()).await {
            Ok(Some(e)) if pred(&e) => return e,
            Ok(Some(_)) => {}
            _ => panic!("no matching event; snapshot {:#?}", pool.handle.snapshot()),
        }
    }
}

fn headers_req(first: u64, limit: u64) -> GetBlockHeaders {
    GetBlockHeaders {
        start: BlockHashOrNumber::Number(BlockNumber(first)),
        limit,
        skip: 0,
        reverse: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fills_to_its_limit_and_refuses_inbound_when_full() {
    let chain = chain();
    let mut peers = Vec::new();
    for _ in 0..5 {
        peers.push(honest(&chain).await);
    }
    let refs: Vec<&TestPeer> = peers.iter().collect();
    let key = NodeKey::random();
    let pool_id = key.id();
    let mut pool = start_pool_keyed(&chain, pool_config(3, 2), &refs, key).await;
    let ready = next_event(&mut pool, |e| matches!(e, PoolEvent::Ready { .. })).await;
    assert!(
        matches!(ready, PoolEvent::Ready { best_head, .. } if best_head == BlockNumber(LEN - 1))
    );
    wait_snapshot(&pool, "3 usable peers", |s| s.usable == 3).await;
    // It stays at its limit: no further dials while full.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let snap = pool.handle.snapshot();
    assert_eq!(snap.peers.len(), 3);
    assert_eq!(snap.dials, 3, "{snap:#?}");
    assert_eq!(peers.iter().map(|p| p.accepted()).sum::<usize>(), 3);
    assert_eq!(snap.by_version().get("eth/69"), Some(&3));
    assert_eq!(snap.by_client().get("histd"), Some(&3));

    // A sixth node dialling in is told the pool is full.
    let extra = honest(&chain).await;
    let addr = pool.listen_addr.unwrap();
    let pool_record = NodeRecord::new(pool_id, addr.ip(), addr.port());
    let session = extra.dial(pool_record).await.expect("handshake completes");
    let why = tokio::time::timeout(WAIT, session.closed()).await.unwrap();
    assert!(why.contains("too many peers"), "{why}");
    assert_eq!(pool.handle.snapshot().peers.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranks_a_slow_peer_below_a_fast_one() {
    let chain = chain();
    let fast = honest(&chain).await;
    let slow = TestPeer::start(
        chain.inputs_at(LEN - 1),
        Arc::new(DelayedHistory {
            inner: chain.history_to(LEN - 1),
            delay: Duration::from_millis(150),
        }),
    )
    .await;
    let mut config = pool_config(4, 2);
    config.batch.initial = 8;
    let mut pool = start_pool(&chain, config, &[&slow, &fast]).await;
    next_event(&mut pool, |e| matches!(e, PoolEvent::Ready { .. })).await;
    // Each asked for its adaptive batch: complete, fast enough answers grow it by half.
    for _ in 0..3 {
        for id in [slow.id(), fast.id()] {
            let lease = pool.handle.lease(id).expect("connected");
            let n = lease.batch_size() as u64;
            let h = lease.get_headers(headers_req(1, n)).await.unwrap();
            assert_eq!(h.len() as u64, n);
        }
    }
    assert_eq!(pool.handle.lease(fast.id()).unwrap().batch_size(), 27);
    // The snapshot is published on the pool's own tick, so the latest one may date from
    // inside the loop above (a lease still out): read the first one published after every
    // lease of the loop was dropped, and before `best` takes one again.
    let snap = next_snapshot(&pool).await;
    let span = Span::new(1u64, 8u64);
    let best = pool.handle.best_peer_for(span).expect("a peer");
    assert_eq!(best.id(), fast.id());
    assert_eq!(snap.peers[0].id, fast.id(), "{snap:#?}");
    let (f, s) = (
        snap.peer(&fast.id()).unwrap(),
        snap.peer(&slow.id()).unwrap(),
    );
    assert!(f.quality.score > s.quality.score);
    assert!(s.quality.latency_ms.unwrap() >= 150.0);
    assert_eq!(f.in_flight, 0);
    // While the fast peer is busy (two leases out), the slow one is next.
    let second = pool.handle.best_peer_for(span).expect("a peer");
    assert_eq!(second.id(), fast.id());
    let third = pool.handle.best_peer_for(span).expect("a peer");
    assert_eq!(third.id(), slow.id());
    drop((best, second, third));

    // Partial answers (the chain ends at 39) bring the batch down towards what the peer
    // delivered, at most halving it per answer.
    for expect in [13, 10] {
        let lease = pool.handle.lease(fast.id()).unwrap();
        let n = lease.batch_size() as u64;
        assert_eq!(
            lease.get_headers(headers_req(30, n)).await.unwrap().len(),
            10
        );
        drop(lease);
        assert_eq!(pool.handle.lease(fast.id()).unwrap().batch_size(), expect);
    }

    // A range above every head has no peer; a range a peer answered empty is not offered again.
    assert!(
        pool.handle
            .best_peer_for(Span::new(LEN, LEN + 10))
            .is_none()
    );
    let lease = pool.handle.lease(fast.id()).unwrap();
    drop(lease);
    let partial = Span::new(30u64, 39u64);
    let l = pool.handle.best_peer_for(partial).unwrap();
    assert_eq!(l.id(), fast.id());
    let empty = l.get_bodies(vec![B256::repeat_byte(0xee)]).await.unwrap();
    assert!(empty.is_empty());
    drop(l);
    assert_eq!(pool.handle.best_peer_for(partial).unwrap().id(), slow.id());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bans_wrong_chain_for_good_and_bad_data_for_a_while() {
    let chain = chain();
    let other = TestChain::new(8, 10);
    let (a, b) = (honest(&chain).await, honest(&chain).await);
    let wrong = TestPeer::start(other.inputs_at(9), Arc::new(other.history_to(9))).await;
    let key = NodeKey::random();
    let pool_id = key.id();
    let mut pool = start_pool_keyed(&chain, pool_config(5, 2), &[&wrong, &a, &b], key).await;
    next_event(&mut pool, |e| matches!(e, PoolEvent::Ready { .. })).await;
    let snap = wait_snapshot(&pool, "wrong-chain ban", |s| s.is_banned(&wrong.id())).await;
    let ban = snap
        .bans
        .iter()
        .find(|(id, _)| *id == wrong.id())
        .unwrap()
        .1;
    assert_eq!(
        (ban.kind, ban.reason),
        (BanKind::Permanent, Misbehaviour::WrongChain)
    );
    assert!(snap.peer(&wrong.id()).is_none());

    // The sync layer found bad data from `a`: banned for a while, its session ends.
    let ban = pool.handle.report(a.id(), Misbehaviour::BadData).unwrap();
    assert_eq!(ban.kind, BanKind::Temporary);
    wait_snapshot(&pool, "a gone", |s| {
        s.peer(&a.id()).is_none() && s.peers.len() == 1
    })
    .await;
    assert!(pool.handle.lease(a.id()).is_none());
    assert!(
        pool.handle
            .best_peer_for(Span::new(1u64, 5u64))
            .is_some_and(|l| l.id() == b.id())
    );
    let lost = next_event(&mut pool, |e| matches!(e, PoolEvent::Lost { .. })).await;
    assert_eq!(lost, PoolEvent::Lost { peers: 1 });

    // Neither is dialled again, and `a` dialling in is refused.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(wrong.connections(), 1);
    assert_eq!(wrong.accepted(), 0);
    assert_eq!(a.accepted(), 1);
    let addr = pool.listen_addr.unwrap();
    let back = a
        .dial(NodeRecord::new(pool_id, addr.ip(), addr.port()))
        .await
        .unwrap();
    let why = tokio::time::timeout(WAIT, back.closed()).await.unwrap();
    assert!(why.contains("useless peer"), "{why}");
    let snap = pool.handle.snapshot();
    assert_eq!(snap.peers.len(), 1);
    assert_eq!(snap.bans.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_a_peer_cut_off_mid_request() {
    let chain = chain();
    let (a, b) = (honest(&chain).await, honest(&chain).await);
    let stuck = TestPeer::start(
        chain.inputs_at(LEN - 1),
        Arc::new(DelayedHistory {
            inner: chain.history_to(LEN - 1),
            delay: Duration::from_millis(1200),
        }),
    )
    .await;
    let mut pool = start_pool(&chain, pool_config(5, 3), &[&stuck, &a, &b]).await;
    next_event(&mut pool, |e| {
        matches!(e, PoolEvent::Ready { peers: 3, .. })
    })
    .await;
    let lease = pool.handle.lease(stuck.id()).unwrap();
    let request = tokio::spawn(async move { lease.get_headers(headers_req(1, 8)).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    stuck.kill();
    let result = tokio::time::timeout(WAIT, request).await.unwrap().unwrap();
    assert!(
        matches!(result, Err(RequestError::SessionClosed { .. })),
        "{result:?}"
    );
    let lost = next_event(&mut pool, |e| matches!(e, PoolEvent::Lost { .. })).await;
    assert_eq!(lost, PoolEvent::Lost { peers: 2 });
    let snap = wait_snapshot(&pool, "stuck gone", |s| s.peer(&stuck.id()).is_none()).await;
    assert_eq!(snap.peers.len(), 2);
    // The others still serve.
    for _ in 0..4 {
        let l = pool.handle.best_peer_for(Span::new(1u64, 8u64)).unwrap();
        assert_ne!(l.id(), stuck.id());
        assert_eq!(l.get_headers(headers_req(1, 8)).await.unwrap().len(), 8);
    }
    // Not banned (being cut off is not misbehaviour): redialled later, when it is back it
    // would be taken again; here it stays down, so dials fail and back off.
    assert!(!pool.handle.snapshot().is_banned(&stuck.id()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_seen_ignores_a_peer_lying_about_its_head() {
    let chain = chain();
    let at_39 = honest(&chain).await;
    let at_30 = TestPeer::start(chain.inputs_at(30), Arc::new(chain.history_to(30))).await;
    let liar = TestPeer::start(
        chain.inputs_claiming(BlockRange {
            earliest: BlockNumber(0),
            latest: BlockNumber(1_000_000),
            latest_hash: B256::repeat_byte(0x42),
        }),
        Arc::new(chain.history_to(LEN - 1)) as Arc<dyn HistoryProvider>,
    )
    .await;
    let mut pool = start_pool(&chain, pool_config(5, 3), &[&liar, &at_39, &at_30]).await;
    let ready = next_event(&mut pool, |e| matches!(e, PoolEvent::Ready { .. })).await;
    assert_eq!(
        ready,
        PoolEvent::Ready {
            peers: 3,
            best_head: BlockNumber(LEN - 1)
        }
    );
    let snap = pool.handle.snapshot();
    assert_eq!(snap.head_seen, Some(BlockNumber(LEN - 1)));
    assert_eq!(pool.handle.head_seen(), Some(BlockNumber(LEN - 1)));
    assert_eq!(
        snap.peer(&liar.id()).unwrap().head.unwrap().number,
        BlockNumber(1_000_000)
    );
    // The honest peer at 39 leaves: the liar alone cannot lift it, and it never goes down.
    at_39.kill();
    wait_snapshot(&pool, "peer at 39 gone", |s| s.peers.len() == 2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(pool.handle.head_seen(), Some(BlockNumber(LEN - 1)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eth68_heads_resolve_and_inbound_sessions_count() {
    let chain = chain();
    // eth/68 Status has no number: the session resolves the best hash with a header request.
    let mut cfg = PeerConfig::new(NodeKey::random(), chain.inputs_at(LEN - 1));
    cfg.versions = vec![EthVersion::Eth68];
    let old = TestPeer::start_with(cfg, Arc::new(chain.history_to(LEN - 1))).await;
    let key = NodeKey::random();
    let pool_id = key.id();
    let mut pool = start_pool_keyed(&chain, pool_config(4, 2), &[&old], key).await;
    let snap = wait_snapshot(&pool, "eth/68 head", |s| s.usable == 1).await;
    let info = snap.peer(&old.id()).unwrap();
    assert_eq!(info.version, EthVersion::Eth68);
    assert_eq!(info.head.unwrap().number, BlockNumber(LEN - 1));
    assert_eq!(info.direction, Direction::Outbound);

    // A node dialling in becomes a session; its eth/69 Status gives its head, so it is usable
    // at once and the pool (min_peers 2) is ready.
    let addr = pool.listen_addr.unwrap();
    let me = NodeRecord::new(pool_id, addr.ip(), addr.port());
    let inbound = honest(&chain).await;
    let _session = inbound.dial(me).await.unwrap();
    let snap = wait_snapshot(&pool, "inbound", |s| s.peers.len() == 2).await;
    assert_eq!(snap.inbound, 1);
    let info = snap.peer(&inbound.id()).unwrap();
    assert_eq!(info.direction, Direction::Inbound);
    assert_eq!(info.head.unwrap().number, BlockNumber(LEN - 1));
    let ready = next_event(&mut pool, |e| matches!(e, PoolEvent::Ready { .. })).await;
    assert_eq!(
        ready,
        PoolEvent::Ready {
            peers: 2,
            best_head: BlockNumber(LEN - 1)
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_temporary_ban_ends_and_the_peer_is_dialled_again() {
    let chain = chain();
    let (a, b) = (honest(&chain).await, honest(&chain).await);
    let mut config = pool_config(4, 1);
    config.temp_ban = Duration::from_millis(600);
    config.backoff_base = Duration::from_millis(50);
    let pool = start_pool(&chain, config, &[&a, &b]).await;
    wait_snapshot(&pool, "both", |s| s.usable == 2).await;
    pool.handle
        .report(a.id(), Misbehaviour::ProtocolBreach)
        .unwrap();
    wait_snapshot(&pool, "a banned and gone", |s| {
        s.is_banned(&a.id()) && s.peer(&a.id()).is_none()
    })
    .await;
    assert_eq!(a.accepted(), 1);
    let snap = wait_snapshot(&pool, "a back", |s| {
        !s.is_banned(&a.id()) && s.peer(&a.id()).is_some()
    })
    .await;
    assert_eq!(a.accepted_eventually(2).await, 2);
    // Its stats start afresh with the new session.
    assert_eq!(snap.peer(&a.id()).unwrap().quality.failures, 0);
}

/// Answers every header request with block 5's header, whatever was asked.
struct WrongHeaders(
    histd::testkit::history::MemoryHistory,
    histd::primitives::Header,
);

impl HistoryProvider for WrongHeaders {
    fn headers(&self, _: &GetBlockHeaders) -> Vec<histd::primitives::Header> {
        vec![self.1.clone()]
    }
    fn bodies(&self, hashes: &[B256]) -> Vec<histd::primitives::Body> {
        self.0.bodies(hashes)
    }
    fn receipts(&self, hashes: &[B256]) -> Vec<Vec<histd::primitives::Receipt>> {
        self.0.receipts(hashes)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_breaking_the_protocol_mid_session_is_banned() {
    let chain = chain();
    let good = honest(&chain).await;
    let liar = TestPeer::start(
        chain.inputs_at(LEN - 1),
        Arc::new(WrongHeaders(
            chain.history_to(LEN - 1),
            chain.blocks[5].header().clone(),
        )),
    )
    .await;
    let pool = start_pool(&chain, pool_config(4, 1), &[&good, &liar]).await;
    wait_snapshot(&pool, "both", |s| s.usable == 2).await;
    let lease = pool.handle.lease(liar.id()).unwrap();
    // Asked for 1..=8, it answers block 5: the session ends as a breach of protocol.
    let r = lease.get_headers(headers_req(1, 8)).await;
    assert!(r.is_err(), "{r:?}");
    drop(lease);
    let snap = wait_snapshot(&pool, "liar banned", |s| {
        s.is_banned(&liar.id()) && s.peer(&liar.id()).is_none()
    })
    .await;
    let ban = snap.bans.iter().find(|(id, _)| *id == liar.id()).unwrap().1;
    assert_eq!(
        (ban.kind, ban.reason),
        (BanKind::Temporary, Misbehaviour::ProtocolBreach)
    );
    assert!(snap.peer(&good.id()).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_seen_rises_when_a_second_peer_confirms_it() {
    let chain = chain();
    let at_30 = |_| TestPeer::start(chain.inputs_at(30), Arc::new(chain.history_to(30)));
    let (p1, p2) = (at_30(1).await, at_30(2).await);
    let key = NodeKey::random();
    let pool_id = key.id();
    let mut pool = start_pool_keyed(&chain, pool_config(6, 2), &[&p1, &p2], key).await;
    let ready = next_event(&mut pool, |e| matches!(e, PoolEvent::Ready { .. })).await;
    assert!(matches!(ready, PoolEvent::Ready { best_head, .. } if best_head == BlockNumber(30)));
    let addr = pool.listen_addr.unwrap();
    let me = NodeRecord::new(pool_id, addr.ip(), addr.port());

    // One peer at 39 dials in: alone above 30, it does not move head_seen.
    let first = honest(&chain).await;
    let _s1 = first.dial(me).await.unwrap();
    wait_snapshot(&pool, "3 usable", |s| s.usable == 3).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(pool.handle.head_seen(), Some(BlockNumber(30)));

    // A second one confirms 39.
    let second = honest(&chain).await;
    let _s2 = second.dial(me).await.unwrap();
    let seen = next_event(&mut pool, |e| matches!(e, PoolEvent::HeadSeen { .. })).await;
    assert_eq!(
        seen,
        PoolEvent::HeadSeen {
            head_seen: BlockNumber(LEN - 1)
        }
    );
    assert_eq!(pool.handle.head_seen(), Some(BlockNumber(LEN - 1)));
}

/// `n` identities on one /24 (a network of their own), each claiming `latest` as its head.
async fn sybils(chain: &TestChain, n: u8, latest: u64) -> Vec<TestPeer> {
    let IpAddr::V4(base) = fresh_loopback() else {
        unreachable!("test peers are on IPv4 loopback")
    };
    let [a, b, c, _] = base.octets();
    let mut peers = Vec::new();
    for i in 0..n {
        let ip = IpAddr::V4(Ipv4Addr::new(a, b, c, 2 + i));
        let claim = chain.inputs_claiming(BlockRange {
            earliest: BlockNumber(0),
            latest: BlockNumber(latest),
            latest_hash: B256::repeat_byte(0x42),
        });
        let cfg = PeerConfig::new(NodeKey::random(), claim);
        peers.push(TestPeer::start_at(ip, cfg, Arc::new(chain.history_to(LEN - 1))).await);
    }
    peers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_identities_on_one_network_do_not_move_head_seen_honest_networks_do() {
    let chain = chain();
    let at_30 = |_| TestPeer::start(chain.inputs_at(30), Arc::new(chain.history_to(30)));
    let (a, b) = (at_30(1).await, at_30(2).await);
    let far = sybils(&chain, 10, 1_000_000).await;
    let mut dialled: Vec<&TestPeer> = far.iter().collect();
    dialled.extend([&a, &b]);
    let key = NodeKey::random();
    let pool_id = key.id();
    let pool = start_pool_keyed(&chain, pool_config(20, 2), &dialled, key).await;
    let snap = wait_snapshot(&pool, "all 12 usable", |s| s.usable == 12).await;
    assert!(
        far.iter()
            .all(|p| snap.peer(&p.id()).unwrap().head.unwrap().number == BlockNumber(1_000_000))
    );
    // Twelve ids, three networks: the ten agreeing ids are one vote, the honest two the others.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(pool.handle.head_seen(), Some(BlockNumber(30)));
    assert!(snap.bans.is_empty(), "{:?}", snap.bans);

    // Two honest peers at 39, each from its own network, dial in: 39 is confirmed.
    let addr = pool.listen_addr.unwrap();
    let me = NodeRecord::new(pool_id, addr.ip(), addr.port());
    let (c, d) = (honest(&chain).await, honest(&chain).await);
    let _sc = c.dial(me).await.unwrap();
    let _sd = d.dial(me).await.unwrap();
    wait_snapshot(&pool, "14 usable", |s| s.usable == 14).await;
    wait_snapshot(&pool, "head_seen 39", |s| {
        s.head_seen == Some(BlockNumber(LEN - 1))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(pool.handle.head_seen(), Some(BlockNumber(LEN - 1)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alone_one_network_of_many_identities_is_not_enough_the_prefix_is_configurable() {
    let chain = chain();
    // Only the ten identities of one /24: enough peers, not enough networks.
    let far = sybils(&chain, 10, 1_000_000).await;
    let dialled: Vec<&TestPeer> = far.iter().collect();
    let pool = start_pool(&chain, pool_config(20, 2), &dialled).await;
    let snap = wait_snapshot(&pool, "all 10 usable", |s| s.usable == 10).await;
    assert!(!snap.ready);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let snap = pool.handle.snapshot();
    assert_eq!((snap.head_seen, snap.ready), (None, false));

    // Counting every address as its own network (/32) makes them ten votes again.
    let mut per_address = pool_config(20, 2);
    per_address.head_vote_prefix_v4 = 32;
    let pool = start_pool(&chain, per_address, &dialled).await;
    wait_snapshot(&pool, "head_seen from ten /32s", |s| {
        s.ready && s.head_seen == Some(BlockNumber(1_000_000))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_impossible_head_is_refused_and_its_peer_banned() {
    let chain = chain();
    let (a, b) = (honest(&chain).await, honest(&chain).await);
    // The test chain's genesis is at unix time 0: 12 s slots since then are ~1.5e8 blocks.
    let liar = sybils(&chain, 1, 1_000_000_000_000_000).await;
    let mut pool = start_pool(&chain, pool_config(5, 2), &[&liar[0], &a, &b]).await;
    let snap = wait_snapshot(&pool, "liar banned and gone", |s| {
        s.is_banned(&liar[0].id()) && s.peer(&liar[0].id()).is_none()
    })
    .await;
    let ban = snap
        .bans
        .iter()
        .find(|(id, _)| *id == liar[0].id())
        .unwrap()
        .1;
    assert_eq!(
        (ban.kind, ban.reason),
        (BanKind::Temporary, Misbehaviour::ProtocolBreach)
    );
    let ready = next_event(&mut pool, |e| matches!(e, PoolEvent::Ready { .. })).await;
    assert_eq!(
        ready,
        PoolEvent::Ready {
            peers: 2,
            best_head: BlockNumber(LEN - 1)
        }
    );
    // Its claim never counted: nothing above the honest head was ever seen.
    while let Ok(e) = pool.events.try_recv() {
        assert!(
            !matches!(e, PoolEvent::HeadSeen { head_seen } if head_seen > BlockNumber(LEN - 1)),
            "{e:?}"
        );
    }
    let now = pool.handle.snapshot();
    assert_eq!(now.head_seen, Some(BlockNumber(LEN - 1)));
    assert!(now.peer(&a.id()).is_some() && now.peer(&b.id()).is_some());
}
