//! The peer pool worker: starts discovery and the peer pool once storage is open, and turns
//! [`PoolEvent`]s into daemon events.
//!
//! Owns the network side of the node for its whole life (Startup to ShuttingDown): discovery
//! sources from the config (static peers, bootnodes, DNS, discv4), the pool (serving our history
//! through [`HandleHistory`], remembering peers through [`HandlePeerCache`], both reaching the
//! store only through the [`StoreHandle`](crate::storage::StoreHandle)), publishing the [`NodeServices`] once the pool runs
//! (before any `PeersReady`), and the mapping `Ready` → `PeersReady`, `Lost` → `PeersLost`,
//! `HeadSeen` → `head_seen`. On cancel it waits for the pool to close its sessions, save the
//! peer cache and end its tasks, then for discovery's tasks. It never decides phases.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::history::HandleHistory;
use super::open::Opened;
use super::peer_cache::HandlePeerCache;
use super::served::ServedAnnouncer;
use super::services::{NodeServices, NodeSettings, ServicesSlot};
use super::settings;
use crate::config::Config;
use crate::daemon::event::{Event, EventSender};
use crate::daemon::workers::WorkerError;
use crate::p2p::chain::ChainSpec;
use crate::p2p::discovery::dns::udp_resolver::UdpTxtResolver;
use crate::p2p::discovery::{NodeRecord, start_discovery};
use crate::p2p::eth::BlockRange;
use crate::p2p::pool::{PeerPool, PoolDeps, PoolEvent, TASKS_STOP_LIMIT};
use crate::p2p::session::{PeerConfig, StatusInputs};
use crate::primitives::BlockNumber;
use crate::storage::Storage;
use crate::sync::stats::SyncStats;

fn failed(
    context: impl Into<String>,
    e: impl std::error::Error + Send + Sync + 'static,
) -> WorkerError {
    WorkerError::Failed {
        context: context.into(),
        source: Box::new(e),
    }
}

/// The blocks we hold, as announced in Status: `lowest ..= last contiguous`, or the genesis when
/// nothing is stored yet.
pub fn served_range(storage: &Storage, spec: &ChainSpec) -> BlockRange {
    let read = || -> Result<Option<BlockRange>, crate::storage::ReadError> {
        let (Some(earliest), Some(latest)) = (storage.lowest()?, storage.last_contiguous()?) else {
            return Ok(None);
        };
        Ok(storage.block_hash(latest)?.map(|latest_hash| BlockRange {
            earliest: earliest.min(latest),
            latest,
            latest_hash,
        }))
    };
    match read() {
        Ok(Some(range)) => range,
        Ok(None) => BlockRange::genesis(spec),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the stored range; announcing genesis only");
            BlockRange::genesis(spec)
        }
    }
}

/// Waits until the startup worker has opened the node; `None` if cancelled first (or startup
/// failed: then the machine is already shutting down and cancels us).
pub async fn wait_opened(
    opened: &mut watch::Receiver<Option<Arc<Opened>>>,
    cancel: &CancellationToken,
) -> Option<Arc<Opened>> {
    tokio::select! {
        _ = cancel.cancelled() => None,
        r = opened.wait_for(Option::is_some) => r.ok().and_then(|v| v.clone()),
    }
}

/// The advertised enode URL: the listen address, with loopback for an unspecified IP.
fn enode_url(opened: &Opened, listen: SocketAddr) -> String {
    let ip = if listen.ip().is_unspecified() {
        std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
    } else {
        listen.ip()
    };
    NodeRecord::new(opened.key.id(), ip, listen.port()).to_string()
}

/// Raises `current` to `head`; whether it moved (the head never goes down).
fn raise(current: &mut Option<BlockNumber>, head: BlockNumber) -> bool {
    if current.is_some_and(|c| c >= head) {
        return false;
    }
    *current = Some(head);
    true
}

/// The peer pool worker's body. `heads` receives `head_seen`; `services` is where the node's
/// services are published once the pool runs.
pub async fn run(
    config: Arc<Config>,
    mut opened: watch::Receiver<Option<Arc<Opened>>>,
    heads: watch::Sender<Option<BlockNumber>>,
    services: ServicesSlot,
    stats: SyncStats,
    events: EventSender,
    cancel: CancellationToken,
) -> Result<(), WorkerError> {
    let Some(node) = wait_opened(&mut opened, &cancel).await else {
        return Ok(());
    };
    let spec = node.spec.clone();
    let mut settings = settings::discovery_settings(&config, &spec, &node.key);
    let resolver = if settings.dns.is_empty() {
        UdpTxtResolver::new(Vec::new())
    } else {
        match UdpTxtResolver::from_system() {
            Ok(r) => r,
            Err(e) => {
                // The other sources still work: run without DNS lists rather than not at all.
                tracing::warn!(error = %e, "DNS discovery off: no usable name server");
                settings.dns.clear();
                UdpTxtResolver::new(Vec::new())
            }
        }
    };
    let discovery_cancel = cancel.child_token();
    let discovery = start_discovery(settings, resolver, discovery_cancel.clone())
        .await
        .map_err(|e| failed(format!("discv4 on {}", config.p2p.listen), e))?;

    let range_spec = spec.clone();
    let served = node
        .store
        .read("reading the stored range", move |s| {
            Ok::<_, std::convert::Infallible>(served_range(s, &range_spec))
        })
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot read the stored range; announcing genesis only");
            BlockRange::genesis(&spec)
        });
    let status = StatusInputs {
        filter: spec.fork_filter(spec.latest_fork_head()),
        served,
        spec: spec.clone(),
    };
    // New sessions' Status reads the range from here: the announcer moves it as storage does.
    let (served_now, served_rx) = watch::channel(served);
    let mut peer = PeerConfig::new(node.key.clone(), status);
    peer.served_now = Some(served_rx);
    let deps = PoolDeps {
        peer,
        provider: Arc::new(HandleHistory::new(node.store.clone(), &spec)),
        discovered: Some(discovery.records),
        cache: Arc::new(HandlePeerCache(node.store.clone())),
    };
    // The pool lives as long as this worker: it stops (saving the cache) when we are cancelled.
    let mut pool = match PeerPool::spawn(settings::pool_config(&config), deps, cancel.clone()).await
    {
        Ok(pool) => pool,
        Err(e) => {
            // Discovery is already running: stop it and wait for its tasks before failing.
            discovery_cancel.cancel();
            discovery.tasks.shutdown(TASKS_STOP_LIMIT).await;
            return Err(failed("peer pool", e));
        }
    };
    if let Some(addr) = pool.listen_addr {
        tracing::info!(enode = %enode_url(&node, addr), "our enode");
    }
    let stored_tip: watch::Sender<Option<BlockNumber>> = watch::Sender::new(None);
    // Published before the first pool event is forwarded, so every worker started after
    // `PeersReady` finds the services in place.
    services.send_replace(Some(NodeServices {
        spec: Arc::new(spec.clone()),
        store: node.store.clone(),
        pool: pool.handle.clone(),
        head_seen: heads.subscribe(),
        settings: NodeSettings::from_config(&config),
        stats: stats.clone(),
        stored_tip: stored_tip.clone(),
    }));
    let store = node.store.clone();
    drop(node);
    let _discv4 = discovery.discv4;
    let _dump = crate::daemon::dump::register(
        "pool",
        crate::daemon::dump::pool_source(pool.handle.clone()),
    );
    let mut announcer = ServedAnnouncer::new(served_now, stored_tip.subscribe());
    let mut announce = tokio::time::interval(std::time::Duration::from_secs(1));
    announce.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    loop {
        let ev = tokio::select! {
            _ = cancel.cancelled() => break,
            ev = pool.events.recv() => match ev { Some(ev) => ev, None => break },
            _ = announce.tick() => {
                announcer.tick(stats.blocks_stored(), &store, &spec, &pool.handle).await;
                continue;
            }
        };
        let event = match ev {
            PoolEvent::Ready { peers, best_head } => {
                // `best_head` is `head_seen` at that moment: the head tracker persists it too.
                heads.send_if_modified(|h| raise(h, best_head));
                Event::PeersReady {
                    peers: u32::try_from(peers).unwrap_or(u32::MAX),
                    best_head,
                }
            }
            PoolEvent::Lost { peers } => Event::PeersLost {
                peers: u32::try_from(peers).unwrap_or(u32::MAX),
            },
            PoolEvent::HeadSeen { head_seen } => {
                heads.send_if_modified(|h| raise(h, head_seen));
                continue;
            }
            PoolEvent::PeerCountChanged { .. } => continue,
        };
        if !events.send(event).await {
            break;
        }
    }
    // Sessions get "client quitting", the peer cache is saved and every pool task has ended
    // before the pool's task ends; discovery's tasks end on the same cancel.
    cancel.cancel();
    if let Err(e) = pool.task.await {
        tracing::warn!(error = %e, "peer pool task ended abnormally");
    }
    discovery.tasks.shutdown(TASKS_STOP_LIMIT).await;
    tracing::info!("peer pool stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::sync::mpsc;

    use super::*;
    use crate::daemon::node::peer_cache::StoragePeerCache;
    use crate::p2p::discovery::{Discovered, Source};
    use crate::p2p::eth::{BlockHashOrNumber, GetBlockHeaders};
    use crate::p2p::node_key::NodeKey;
    use crate::p2p::pool::{PeerCache, PoolConfig};
    use crate::p2p::session::EmptyHistory;
    use crate::storage::{OpenOptions, Retention, StoreHandle};
    use crate::testkit::pool::{TestChain, TestPeer};

    const WAIT: Duration = Duration::from_secs(10);

    fn options(chain: &TestChain) -> OpenOptions {
        OpenOptions {
            chain_id: chain.spec.chain_id,
            genesis_hash: chain.spec.genesis_hash,
            shard_size: 16,
            retention: Retention::default(),
        }
    }

    /// A pool serving a real store through the handle, with one outbound and one inbound peer:
    /// once its task has returned, none of its tasks is running, and the store closes at once
    /// (the data directory can be opened again right away, with the peer cache saved).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn after_the_pool_stops_no_task_runs_and_the_store_closes_at_once() {
        let chain = TestChain::new(71, 20);
        let dir = tempfile::tempdir().expect("tempdir");
        let store = StoreHandle::open(dir.path(), options(&chain))
            .await
            .expect("open");
        let blocks = chain.blocks.clone();
        store
            .write("storing the test chain", move |s| s.put_unordered(&blocks))
            .await
            .expect("put");

        let outbound = TestPeer::start(chain.inputs_at(19), Arc::new(EmptyHistory)).await;
        let (found_tx, found) = mpsc::channel(4);
        found_tx
            .send(Discovered {
                record: outbound.record,
                source: Source::Static,
            })
            .await
            .expect("feed");
        let cancel = CancellationToken::new();
        let config = PoolConfig {
            dial_interval: Duration::from_millis(20),
            head_interval: Duration::from_millis(50),
            ..PoolConfig::new(10, 1, Some("127.0.0.1:0".parse().expect("addr")))
        };
        let key = NodeKey::random();
        let mut pool = PeerPool::spawn(
            config,
            PoolDeps {
                peer: PeerConfig::new(key.clone(), chain.inputs_at(19)),
                provider: Arc::new(HandleHistory::new(store.clone(), &chain.spec)),
                discovered: Some(found),
                cache: Arc::new(HandlePeerCache(store.clone())),
            },
            cancel.clone(),
        )
        .await
        .expect("pool");
        let ready = tokio::time::timeout(WAIT, async {
            loop {
                match pool.events.recv().await {
                    Some(PoolEvent::Ready { .. }) | None => break,
                    Some(_) => {}
                }
            }
        });
        ready.await.expect("the outbound peer connects");

        // An inbound peer asks for history: it is read from the store through the handle.
        let inbound = TestPeer::start(chain.inputs_at(0), Arc::new(EmptyHistory)).await;
        let addr = pool.listen_addr.expect("listening");
        let ours = NodeRecord::new(key.id(), addr.ip(), addr.port());
        let session = inbound.dial(ours).await.expect("inbound session");
        let headers = session
            .get_headers(GetBlockHeaders {
                start: BlockHashOrNumber::Number(BlockNumber(3)),
                limit: 5,
                skip: 0,
                reverse: false,
            })
            .await
            .expect("headers");
        let numbers: Vec<u64> = headers.iter().map(|h| h.number).collect();
        assert_eq!(numbers, vec![3, 4, 5, 6, 7]);
        assert!(
            pool.tasks.running() >= 2,
            "listener and sessions run as pool tasks: {:?}",
            pool.tasks.running_names()
        );

        cancel.cancel();
        tokio::time::timeout(WAIT, &mut pool.task)
            .await
            .expect("the pool stops in time")
            .expect("the pool task ends normally");
        assert_eq!(pool.tasks.running(), 0, "{:?}", pool.tasks.running_names());
        assert!(pool.tasks.running_names().is_empty());

        // Nothing of the pool holds the store any more: close returns at once and the lock is
        // free right after.
        tokio::time::timeout(Duration::from_secs(2), store.close())
            .await
            .expect("close does not wait");
        let reopened = Storage::open(dir.path(), options(&chain)).expect("the lock is free");
        let cached = StoragePeerCache(Arc::new(reopened))
            .load()
            .expect("peer cache");
        assert!(
            cached.iter().any(|p| p.record.id == outbound.record.id),
            "the outbound peer was saved on shutdown: {cached:?}"
        );
        drop(session);
    }
}
