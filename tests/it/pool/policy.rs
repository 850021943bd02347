//! What the pool does with peers it cannot use for now: a peer of our genesis on another fork is
//! banned for a while (`fork_mismatch`, not for good) with an INFO line naming both fork ids and
//! the side that looks out of date, and is dialled again once the ban ends; a static peer that
//! drops its session is redialled, while a discovered one past `max_dial_failures` is forgotten.

use std::sync::Arc;
use std::time::Duration;

use histd::p2p::base::DisconnectReason;
use histd::p2p::chain::{ForkHash, ForkId};
use histd::p2p::discovery::{Discovered, Source};
use histd::p2p::eth::fmt_fork_id;
use histd::p2p::node_key::NodeKey;
use histd::p2p::pool::{
    BanKind, MemoryPeerCache, Misbehaviour, PeerPool, PoolConfig, PoolDeps, PoolSnapshot,
    RunningPool,
};
use histd::p2p::session::{EmptyHistory, PeerConfig, SessionConfig};
use histd::testkit;
use histd::testkit::pool::{TestChain, TestPeer};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const LEN: u64 = 20;
// Generous: under a loaded CI machine a redial after backoff can take several seconds.
const WAIT: Duration = Duration::from_secs(30);

fn config() -> PoolConfig {
    PoolConfig {
        dial_interval: Duration::from_millis(20),
        head_interval: Duration::from_millis(50),
        backoff_base: Duration::from_millis(50),
        connect_timeout: Duration::from_secs(2),
        session: SessionConfig {
            request_timeout: Duration::from_secs(5),
            ..SessionConfig::default()
        },
        ..PoolConfig::new(4, 1, None)
    }
}

/// A pool at genesis of `chain`, fed `peers` (with their discovery source).
async fn start_pool(
    chain: &TestChain,
    config: PoolConfig,
    peers: &[(&TestPeer, Source)],
) -> RunningPool {
    let (tx, rx) = mpsc::channel(16);
    for (p, source) in peers {
        tx.send(Discovered {
            record: p.record,
            source: *source,
        })
        .await
        .unwrap();
    }
    // Keep the channel open (discovery keeps running in the daemon).
    std::mem::forget(tx);
    let deps = PoolDeps {
        peer: PeerConfig::new(NodeKey::random(), chain.inputs_at(0)),
        provider: Arc::new(EmptyHistory),
        discovered: Some(rx),
        cache: Arc::new(MemoryPeerCache::default()),
    };
    PeerPool::spawn(config, deps, CancellationToken::new())
        .await
        .unwrap()
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

async fn eventually(what: &str, cond: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_on_another_fork_is_banned_for_a_while_and_logged() {
    let logs = testkit::logs::logs();
    let chain = TestChain::new(21, LEN);
    let theirs = ForkId {
        hash: ForkHash([0xfe, 0xed, 0xbe, 0xef]),
        next: 0,
    };
    let forked = TestPeer::start(
        chain.inputs_with_fork_id(LEN - 1, theirs),
        Arc::new(chain.history_to(LEN - 1)),
    )
    .await;
    let ours = chain.inputs_at(0).filter.current();
    let mut config = config();
    config.temp_ban = Duration::from_millis(800);
    let pool = start_pool(&chain, config, &[(&forked, Source::Discv4)]).await;

    let snap = wait_snapshot(&pool, "fork ban", |s| s.is_banned(&forked.id())).await;
    let ban = snap
        .bans
        .iter()
        .find(|(id, _)| *id == forked.id())
        .unwrap()
        .1;
    assert_eq!(
        (ban.kind, ban.reason),
        (BanKind::Temporary, Misbehaviour::ForkMismatch)
    );
    assert!(ban.until.is_some());
    assert_eq!(forked.accepted(), 0);

    // The INFO line names the peer, both fork ids and the side that looks out of date.
    let peer = forked.id().to_string();
    let text = logs.text();
    let line = text
        .lines()
        .find(|l| l.contains("fork id refused") && l.contains(&peer))
        .unwrap_or_else(|| panic!("no fork refusal line for {peer} in:\n{text}"));
    assert!(line.contains(" INFO "), "{line}");
    assert!(
        line.contains(&format!("ours={}", fmt_fork_id(ours))),
        "{line}"
    );
    assert!(line.contains("theirs=0xfeedbeef/next=0"), "{line}");
    assert!(line.contains("outdated=other_chain"), "{line}");
    let banned = text
        .lines()
        .find(|l| l.contains("peer banned") && l.contains(&peer))
        .unwrap_or_else(|| panic!("no ban line for {peer} in:\n{text}"));
    assert!(banned.contains("reason=fork_mismatch"), "{banned}");
    // `kind` is logged as a string value, so it is quoted.
    assert!(banned.contains("kind=\"temporary\""), "{banned}");

    // Not for the life of the process: once the ban ends it is dialled again (and refused again).
    eventually("a second dial after the ban", || forked.connections() >= 2).await;
    drop(pool);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_peer_that_drops_is_redialled_a_discovered_one_forgotten() {
    let chain = TestChain::new(22, LEN);
    let history = Arc::new(chain.history_to(LEN - 1));
    let stat = TestPeer::start(chain.inputs_at(LEN - 1), history.clone()).await;
    let disc = TestPeer::start(chain.inputs_at(LEN - 1), history).await;
    let mut config = config();
    // One failure is enough to forget a discovered node: only stickiness keeps the static one.
    config.max_dial_failures = 1;
    let pool = start_pool(
        &chain,
        config,
        &[(&stat, Source::Static), (&disc, Source::Discv4)],
    )
    .await;
    wait_snapshot(&pool, "both connected", |s| {
        s.peer(&stat.id()).is_some() && s.peer(&disc.id()).is_some()
    })
    .await;

    for round in 2..=3 {
        // The pool may see a session before the test peer's side has listed it: disconnect only
        // what the peer holds.
        assert_eq!(stat.accepted_eventually(round - 1).await, round - 1);
        if round == 2 {
            assert_eq!(disc.accepted_eventually(1).await, 1);
        }
        stat.disconnect_all(DisconnectReason::TooManyPeers).await;
        disc.disconnect_all(DisconnectReason::TooManyPeers).await;
        eventually(&format!("static peer redialled ({round})"), || {
            stat.accepted() >= round
        })
        .await;
        wait_snapshot(&pool, "static peer back", |s| s.peer(&stat.id()).is_some()).await;
    }
    // The discovered node dropped as well, past its failure limit: never dialled again.
    assert_eq!(disc.accepted(), 1);
    assert_eq!(disc.connections(), 1);
    assert!(pool.handle.snapshot().peer(&disc.id()).is_none());
}
