//! The product's phase workers.
//!
//! Owns [`NodeWorkers`], the [`PhaseWorkers`] of `histd run`, and the values its workers share:
//! the opened node (chain spec, store, node key — opened by the startup worker for the network
//! worker) and the [`NodeServices`] every phase worker gets (store, pool, `head_seen`, spec,
//! settings — published by the peer pool worker once the pool runs, released by the shutdown
//! worker, which closes the store so the data-directory lock is free when it reports
//! `Stopped`). Each job lives in its own module: `open` (chain, data directory, node key),
//! `era1_import` (Startup's import of `sync.era1_dir`), `network` (discovery + peer pool), `services` (what workers share), `head_tracker`, `settings` (config → each part's settings),
//! `fastsync` (the sync pipeline's worker), `finalize` (compact + seal), `follow` (the follow
//! worker and the JSON-RPC worker it feeds through an [`RpcLink`]).
//! Workers report only through events; nothing here decides a phase.

pub mod era1_import;
pub mod fastsync;
pub mod finalize;
pub mod follow;
pub mod head_tracker;
pub mod history;
pub mod network;
pub mod open;
pub mod peer_cache;
pub mod served;
pub mod services;
pub mod settings;

use std::sync::Arc;

use tokio::sync::watch;

use super::event::Event;
use super::workers::{
    FastSyncTarget, FinalizePlan, FollowPlan, PhaseWorkers, SHUTDOWN_WORKER, ShutdownCause,
    StoppedWorker, WorkerContext, WorkerError, WorkerHandle,
};
use crate::config::Config;
use crate::primitives::BlockNumber;
use crate::storage::StoreHandle;
use crate::sync::stats::SyncStats;
use follow::RpcLink;
use open::Opened;
use services::NodeServices;

/// The workers of `histd run`.
#[derive(Debug)]
pub struct NodeWorkers {
    config: Arc<Config>,
    /// Set by the startup worker once storage and the node key are open (the network worker
    /// starts on it); cleared by the shutdown worker, which closes the store.
    opened: watch::Sender<Option<Arc<Opened>>>,
    /// `head_seen` from the peer pool (read through [`NodeServices::head_seen`]).
    heads: watch::Sender<Option<BlockNumber>>,
    /// What every phase worker gets; set by the peer pool worker, cleared at shutdown.
    services: watch::Sender<Option<NodeServices>>,
    /// This run's sync counters, shared through [`NodeServices::stats`] and read by the run
    /// report.
    stats: SyncStats,
    /// The RPC head and feed, moved by the follow worker, served by the RPC worker.
    rpc: RpcLink,
}

impl NodeWorkers {
    /// Workers for `config`.
    pub fn new(config: Config) -> Self {
        Self {
            config: Arc::new(config),
            opened: watch::Sender::new(None),
            heads: watch::Sender::new(None),
            services: watch::Sender::new(None),
            stats: SyncStats::new(),
            rpc: RpcLink::new(),
        }
    }

    /// The services, if published (always, once peers were ready).
    fn services(&self) -> Option<NodeServices> {
        self.services.borrow().clone()
    }
}

impl PhaseWorkers for NodeWorkers {
    fn start_peer_pool(&mut self, ctx: WorkerContext) -> WorkerHandle {
        let (config, opened, heads, services, stats) = (
            self.config.clone(),
            self.opened.subscribe(),
            self.heads.clone(),
            self.services.clone(),
            self.stats.clone(),
        );
        WorkerHandle::spawn("peer_pool", ctx, move |ctx| {
            network::run(
                config, opened, heads, services, stats, ctx.events, ctx.cancel,
            )
        })
    }

    fn start_head_tracker(&mut self, ctx: WorkerContext) -> WorkerHandle {
        let services = self.services.subscribe();
        WorkerHandle::spawn("head_tracker", ctx, move |ctx| {
            head_tracker::run(services, ctx.events, ctx.cancel)
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
            if let Some(dir) = &config.sync.era1_dir {
                // Before the network starts: fast-sync then finds these blocks stored.
                let imported = era1_import::run(&node.store, dir, &ctx.cancel).await;
                if imported.is_err() || ctx.cancel.is_cancelled() {
                    // Nobody else holds the store yet: release the directory lock here.
                    node.store.close().await;
                }
                imported.map_err(|e| WorkerError::Failed {
                    context: "cannot start".into(),
                    source: Box::new(e),
                })?;
                if ctx.cancel.is_cancelled() {
                    return Ok(());
                }
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

    fn start_fastsync(&mut self, ctx: WorkerContext, target: FastSyncTarget) -> WorkerHandle {
        let (config, services) = (self.config.clone(), self.services.subscribe());
        WorkerHandle::spawn("fast_sync", ctx, move |ctx| {
            fastsync::run(config, services, target, ctx)
        })
    }

    fn start_finalizing(&mut self, ctx: WorkerContext, plan: FinalizePlan) -> WorkerHandle {
        // The store as the services carry it; the opened node's while they are not published
        // (a stop before the pool ran), so finalizing always runs on the real store.
        let store: Option<StoreHandle> = self
            .services()
            .map(|s| s.store)
            .or_else(|| self.opened.borrow().as_ref().map(|o| o.store.clone()));
        let window = self.config.sync.rollback_window;
        // The live head of this run, never the persisted hint.
        let head_seen = *self.heads.borrow();
        WorkerHandle::spawn("finalizing", ctx, move |ctx| {
            finalize::run(
                store,
                ctx.previous,
                ctx.mode,
                head_seen,
                window,
                plan,
                ctx.events,
            )
        })
    }

    fn start_follow(&mut self, ctx: WorkerContext, plan: FollowPlan) -> WorkerHandle {
        let (config, services, link) = (
            self.config.clone(),
            self.services.subscribe(),
            self.rpc.clone(),
        );
        WorkerHandle::spawn("follow", ctx, move |ctx| {
            follow::run(config, services, plan, link, ctx)
        })
    }

    fn start_rpc(&mut self, ctx: WorkerContext) -> WorkerHandle {
        let (config, services, link) = (
            self.config.clone(),
            self.services.subscribe(),
            self.rpc.clone(),
        );
        WorkerHandle::spawn("rpc", ctx, move |ctx| {
            follow::serve(config, services, link, ctx)
        })
    }

    fn sync_stats(&self) -> Option<SyncStats> {
        Some(self.stats.clone())
    }

    fn start_shutdown(&mut self, ctx: WorkerContext, _cause: ShutdownCause) -> WorkerHandle {
        let (opened, services) = (self.opened.clone(), self.services.clone());
        WorkerHandle::spawn(SHUTDOWN_WORKER, ctx, move |ctx| async move {
            let WorkerContext {
                events, previous, ..
            } = ctx;
            // The pool closes its sessions, saves the peer cache and ends its tasks before its
            // worker returns.
            StoppedWorker::join_all(previous).await;
            services.send_replace(None);
            if let Some(node) = opened.send_replace(None) {
                // Waits for any storage call still in flight, then releases the lock.
                node.store.close().await;
            }
            events.send(Event::Stopped).await;
            Ok(())
        })
    }
}
