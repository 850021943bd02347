//! The peer pool worker: starts discovery and the peer pool once storage is open, and turns
//! [`PoolEvent`]s into daemon events.
//!
//! Owns the network side of the node for its whole life (Startup to ShuttingDown): discovery
//! sources from the config (static peers, bootnodes, DNS, discv4), the pool (serving our history
//! through [`StorageHistory`], remembering peers through [`StoragePeerCache`]) and the mapping
//! `Ready` → `PeersReady`, `Lost` → `PeersLost`, `HeadSeen` → the head tracker. On cancel it
//! waits for the pool to close its sessions and save the peer cache. It never decides phases.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::history::StorageHistory;
use super::open::Opened;
use super::peer_cache::StoragePeerCache;
use super::settings;
use crate::config::Config;
use crate::daemon::event::{Event, EventSender};
use crate::daemon::workers::WorkerError;
use crate::p2p::chain::ChainSpec;
use crate::p2p::discovery::dns::udp_resolver::UdpTxtResolver;
use crate::p2p::discovery::{NodeRecord, start_discovery};
use crate::p2p::eth::BlockRange;
use crate::p2p::pool::{PeerPool, PoolDeps, PoolEvent};
use crate::p2p::session::{PeerConfig, StatusInputs};
use crate::primitives::BlockNumber;
use crate::storage::Storage;

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
fn served_range(storage: &Storage, spec: &ChainSpec) -> BlockRange {
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

/// The peer pool worker's body. `heads` receives `head_seen` for the head tracker.
pub async fn run(
    config: Arc<Config>,
    mut opened: watch::Receiver<Option<Arc<Opened>>>,
    heads: watch::Sender<Option<BlockNumber>>,
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
    let discovery = start_discovery(settings, resolver, cancel.child_token())
        .await
        .map_err(|e| failed(format!("discv4 on {}", config.p2p.listen), e))?;

    let (storage, range_spec) = (node.storage.clone(), spec.clone());
    let served = tokio::task::spawn_blocking(move || served_range(&storage, &range_spec))
        .await
        .unwrap_or_else(|_| BlockRange::genesis(&spec));
    let status = StatusInputs {
        filter: spec.fork_filter(spec.latest_fork_head()),
        served,
        spec: spec.clone(),
    };
    let deps = PoolDeps {
        peer: PeerConfig::new(node.key.clone(), status),
        provider: Arc::new(StorageHistory(node.storage.clone())),
        discovered: Some(discovery.records),
        cache: Arc::new(StoragePeerCache(node.storage.clone())),
    };
    // The pool lives as long as this worker: it stops (saving the cache) when we are cancelled.
    let mut pool = PeerPool::spawn(settings::pool_config(&config), deps, cancel.clone())
        .await
        .map_err(|e| failed("peer pool", e))?;
    if let Some(addr) = pool.listen_addr {
        tracing::info!(enode = %enode_url(&node, addr), "our enode");
    }
    // Keep no reference of our own: storage is released once the pool and its sessions end.
    drop(node);
    let _discv4 = discovery.discv4;

    loop {
        let ev = tokio::select! {
            _ = cancel.cancelled() => break,
            ev = pool.events.recv() => match ev { Some(ev) => ev, None => break },
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
    // Sessions get "client quitting" and the peer cache is saved before the task ends.
    cancel.cancel();
    if let Err(e) = pool.task.await {
        tracing::warn!(error = %e, "peer pool task ended abnormally");
    }
    tracing::info!("peer pool stopped");
    Ok(())
}
