//! The product's phase workers: real for everything that exists, an explicit "not built yet"
//! failure for what does not.
//!
//! Owns [`NodeWorkers`], the [`PhaseWorkers`] of `histd run`, and the values its workers share:
//! the opened node (chain spec, storage, node key — published by the startup worker, released by
//! the shutdown worker) and `head_seen` (from the peer pool to the head tracker). Each job lives
//! in its own module: `open` (chain, data directory, node key), `network` (discovery + peer pool),
//! `head` (head tracker), `finalize` (compact + seal); fast-sync, follow and RPC are
//! [`unbuilt`](super::unbuilt) and say so.
//! Workers report only through events; nothing here decides a phase.

pub mod finalize;
pub mod head;
pub mod network;
pub mod open;

use std::sync::Arc;

use tokio::sync::watch;

use super::event::Event;
use super::unbuilt;
use super::workers::{
    FastSyncTarget, FinalizePlan, FollowPlan, PhaseWorkers, SHUTDOWN_WORKER, ShutdownCause,
    StoppedWorker, WorkerContext, WorkerError, WorkerHandle,
};
use crate::config::Config;
use crate::primitives::BlockNumber;
use open::Opened;

/// The workers of `histd run`.
#[derive(Debug)]
pub struct NodeWorkers {
    config: Arc<Config>,
    /// Set by the startup worker once storage and the node key are open; cleared by the shutdown
    /// worker so the data directory lock is released.
    opened: watch::Sender<Option<Arc<Opened>>>,
    /// `head_seen` from the peer pool, for the head tracker.
    heads: watch::Sender<Option<BlockNumber>>,
}

impl NodeWorkers {
    /// Workers for `config`.
    pub fn new(config: Config) -> Self {
        Self {
            config: Arc::new(config),
            opened: watch::Sender::new(None),
            heads: watch::Sender::new(None),
        }
    }
}

impl PhaseWorkers for NodeWorkers {
    fn start_peer_pool(&mut self, ctx: WorkerContext) -> WorkerHandle {
        let (config, opened, heads) = (
            self.config.clone(),
            self.opened.subscribe(),
            self.heads.clone(),
        );
        WorkerHandle::spawn("peer_pool", ctx, move |ctx| {
            network::run(config, opened, heads, ctx.events, ctx.cancel)
        })
    }

    fn start_head_tracker(&mut self, ctx: WorkerContext) -> WorkerHandle {
        let (opened, heads) = (self.opened.subscribe(), self.heads.subscribe());
        WorkerHandle::spawn("head_tracker", ctx, move |ctx| {
            head::run(opened, heads, ctx.events, ctx.cancel)
        })
    }

    fn start_startup(&mut self, ctx: WorkerContext) -> WorkerHandle {
        let (config, opened) = (self.config.clone(), self.opened.clone());
        WorkerHandle::spawn("startup", ctx, move |ctx| async move {
            let node = open::open(&config).await.map_err(|e| WorkerError::Failed {
                context: "cannot start".into(),
                source: Box::new(e),
            })?;
            if ctx.cancel.is_cancelled() {
                // Stopped while opening: keep nothing open.
                return Ok(());
            }
            tracing::info!(
                min_peers = config.sync.min_peers,
                static_peers = config.p2p.static_peers.len(),
                "waiting for peers"
            );
            // The peer pool worker starts the network on this, and reports `PeersReady`.
            opened.send_replace(Some(Arc::new(node)));
            Ok(())
        })
    }

    fn start_fastsync(&mut self, ctx: WorkerContext, _target: FastSyncTarget) -> WorkerHandle {
        unbuilt::spawn(unbuilt::FAST_SYNC, ctx)
    }

    fn start_finalizing(&mut self, ctx: WorkerContext, plan: FinalizePlan) -> WorkerHandle {
        let opened = self.opened.borrow().clone();
        let window = self.config.sync.rollback_window;
        // The live head of this run, never the persisted hint.
        let head_seen = *self.heads.borrow();
        WorkerHandle::spawn("finalizing", ctx, move |ctx| {
            finalize::run(
                opened,
                ctx.previous,
                ctx.mode,
                head_seen,
                window,
                plan,
                ctx.events,
            )
        })
    }

    fn start_follow(&mut self, ctx: WorkerContext, _plan: FollowPlan) -> WorkerHandle {
        unbuilt::spawn(unbuilt::FOLLOW, ctx)
    }

    fn start_rpc(&mut self, ctx: WorkerContext) -> WorkerHandle {
        unbuilt::spawn(unbuilt::RPC, ctx)
    }

    fn start_shutdown(&mut self, ctx: WorkerContext, _cause: ShutdownCause) -> WorkerHandle {
        let opened = self.opened.clone();
        WorkerHandle::spawn(SHUTDOWN_WORKER, ctx, move |ctx| async move {
            let WorkerContext {
                events, previous, ..
            } = ctx;
            // The pool closes its sessions and saves the peer cache before its worker returns.
            StoppedWorker::join_all(previous).await;
            if let Some(node) = opened.send_replace(None) {
                release(node).await;
            }
            events.send(Event::Stopped).await;
            Ok(())
        })
    }
}

/// Drops the last reference to storage (closing redb and releasing the directory lock) on the
/// blocking pool. A session task finishing its last answer may still hold a reference for a
/// moment: wait briefly for it rather than exit with the lock held.
async fn release(node: Arc<Opened>) {
    let storage = node.storage.clone();
    let dir = storage.data_dir().to_path_buf();
    drop(node);
    for _ in 0..100 {
        if Arc::strong_count(&storage) == 1 {
            let _ = tokio::task::spawn_blocking(move || drop(storage)).await;
            tracing::info!(dir = %dir.display(), "data directory closed");
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    tracing::warn!(dir = %dir.display(), "storage still in use at shutdown; it closes when the process exits");
}
