//! The follow worker of `histd run`, the JSON-RPC worker it feeds, and follow mode's check of
//! the stored tip before backfilling.
//!
//! Owns the mapping between the sync layer's follow run ([`crate::sync::follow`]) and the node:
//! its [`Note`]s become daemon events (`Progress`, `UpToDate`, `ReorgTooDeep`), moves of the RPC
//! head watch, and chain events on the RPC server's feed (blocks added in order, removed highest
//! first, each published before the head moves). The RPC worker starts the server once (the
//! machine calls it on the first `UpToDate`), hands its feed over through [`RpcLink`] and stops it
//! when cancelled. Neither fetches, verifies nor decides phases.

use std::sync::Arc;

use tokio::sync::{broadcast, mpsc, watch};

use super::services::{NodeServices, wait_services};
use crate::config::Config;
use crate::daemon::event::Event;
use crate::daemon::workers::{FollowPlan, WorkerContext, WorkerError};
use crate::primitives::BlockNumber;
use crate::rpc::{ChainEvent, Head, Server};
use crate::sync::follow::preflight::{Preflight, check_stored_tip};
use crate::sync::follow::{Follow, FollowLimits, Note, Outcome};

/// What the follow worker and the RPC worker share: the head the server answers tags against
/// (moved by follow) and the server's event feed once it runs (set by the RPC worker).
#[derive(Debug, Clone)]
pub struct RpcLink {
    /// The server's head: the stored tip, `safe`/`finalized` = the tip less `rollback_window`
    /// (what follow will never roll back).
    pub head: watch::Sender<Head>,
    /// The running server's feed (`None` until it runs, and after it stopped).
    pub feed: watch::Sender<Option<broadcast::Sender<ChainEvent>>>,
}

impl RpcLink {
    /// Nothing known yet: the follow worker sets the head before the first `UpToDate`, which is
    /// what starts the server.
    pub fn new() -> Self {
        Self {
            head: watch::Sender::new(Head {
                number: BlockNumber::ZERO,
                hash: Default::default(),
                safe: None,
                finalized: None,
            }),
            feed: watch::Sender::new(None),
        }
    }

    fn publish(&self, event: ChainEvent) {
        if let Some(feed) = self.feed.borrow().as_ref() {
            // No subscriber is not an error: nobody is listening.
            let _ = feed.send(event);
        }
    }
}

impl Default for RpcLink {
    fn default() -> Self {
        Self::new()
    }
}

fn failed(context: &str, e: impl std::error::Error + Send + Sync + 'static) -> WorkerError {
    WorkerError::Failed {
        context: context.to_string(),
        source: Box::new(e),
    }
}

/// The follow worker's body.
pub async fn run(
    config: Arc<Config>,
    mut services: watch::Receiver<Option<NodeServices>>,
    plan: FollowPlan,
    link: RpcLink,
    ctx: WorkerContext,
) -> Result<(), WorkerError> {
    let Some(services) = wait_services(&mut services, &ctx.cancel).await else {
        return Ok(());
    };
    let (notes, mut rx) = mpsc::unbounded_channel();
    let checkpoints = config
        .sync
        .anchor
        .into_iter()
        .chain(services.spec.checkpoints().iter().copied())
        .collect();
    let window = plan.rollback_window;
    tracing::info!(
        last_indexed = %plan.last_indexed,
        rollback_window = window,
        "following the chain head"
    );
    let follow = Follow {
        genesis: services.spec.genesis_hash,
        store: services.store.clone(),
        pool: services.pool.clone(),
        start: services.settings.start_block,
        checkpoints,
        rollback_window: window,
        quorum: config.sync.anchor_quorum as usize,
        stats: services.stats.clone(),
        limits: FollowLimits::default(),
        stored_range: Some(services.stored_tip.clone()),
        notes,
    };
    let run = follow.run(ctx.cancel.clone());
    tokio::pin!(run);
    let outcome = loop {
        tokio::select! {
            out = &mut run => break out,
            Some(note) = rx.recv() => on_note(note, &link, window, &ctx).await,
        }
    };
    // What the run said last, before it returned.
    while let Ok(note) = rx.try_recv() {
        on_note(note, &link, window, &ctx).await;
    }
    match outcome.map_err(|e| failed("follow", e))? {
        Outcome::Cancelled => Ok(()),
        Outcome::ReorgTooDeep { depth, limit } => {
            ctx.events.send(Event::ReorgTooDeep { depth, limit }).await;
            Ok(())
        }
    }
}

async fn on_note(note: Note, link: &RpcLink, window: u64, ctx: &WorkerContext) {
    match note {
        Note::Added(b) => link.publish(ChainEvent::Added(b)),
        Note::Removed(b) => link.publish(ChainEvent::Removed(b)),
        Note::Tip { number, hash } => {
            let safe = Some(BlockNumber(number.get().saturating_sub(window)));
            link.head.send_replace(Head {
                number,
                hash,
                safe,
                finalized: safe,
            });
            ctx.events
                .send(Event::Progress {
                    last_indexed: number,
                })
                .await;
        }
        Note::UpToDate { head } => {
            ctx.events.send(Event::UpToDate { head }).await;
        }
    }
}

/// Follow mode's check before backfilling: the stored tip against the peers' chain, rolled back
/// within the window ([`check_stored_tip`]). `false`: do not backfill (cancelled meanwhile, or a
/// fork deeper than the window, reported as `ReorgTooDeep`).
pub async fn preflight(
    config: &Config,
    services: &NodeServices,
    cancel: &tokio_util::sync::CancellationToken,
    ctx_events: &crate::daemon::event::EventSender,
) -> Result<bool, WorkerError> {
    let checked = check_stored_tip(
        &services.store,
        &services.pool,
        config.sync.anchor_quorum as usize,
        config.sync.rollback_window,
        cancel,
    )
    .await
    .map_err(|e| failed("checking the stored tip against the peers", e))?;
    match checked {
        Preflight::Cancelled => Ok(false),
        Preflight::OnChain => Ok(true),
        Preflight::RolledBack { ancestor, .. } => {
            // A write like sync's: the served range (our Status, peers' BlockRangeUpdate) follows
            // the stored tip, and must not announce the abandoned one until the next write.
            services.stored_tip.send_replace(Some(ancestor));
            Ok(true)
        }
        Preflight::TooDeep { depth, limit } => {
            // Stops the node with exit code 3, as the same reorg found while following would.
            ctx_events.send(Event::ReorgTooDeep { depth, limit }).await;
            Ok(false)
        }
    }
}

/// The RPC worker's body: starts the server on the node's store, hands its feed to follow, and
/// stops it when cancelled (ShuttingDown).
pub async fn serve(
    config: Arc<Config>,
    mut services: watch::Receiver<Option<NodeServices>>,
    link: RpcLink,
    ctx: WorkerContext,
) -> Result<(), WorkerError> {
    let Some(services) = wait_services(&mut services, &ctx.cancel).await else {
        return Ok(());
    };
    let chain_id = services.spec.chain_id;
    let settings = crate::config::rpc::rpc_settings(&config, chain_id);
    let server = Server::start(
        settings,
        services.store.clone(),
        chain_id,
        link.head.subscribe(),
    )
    .await
    .map_err(|e| failed("starting the JSON-RPC server", e))?;
    link.feed.send_replace(Some(server.feed()));
    ctx.cancel.cancelled().await;
    link.feed.send_replace(None);
    server.stop().await;
    tracing::info!("JSON-RPC server stopped");
    Ok(())
}
