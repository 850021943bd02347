//! Scripted phase workers (feature `testkit` only): a timeline of worker events instead of real
//! sync, so tests can drive the real binary through every phase.
//!
//! Owns the `HISTD_TESTKIT_SCRIPT` format (JSON, see [`Script`]). Compiled only with the `testkit`
//! feature (and unit tests), never into the product binary. The workers honour cancellation and
//! report only through events, like real ones; they must never be selected without the feature.

use std::time::Duration;

use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::event::{Event, FailureKind, FatalError};
use super::phase::Phase;
use super::workers::{
    FastSyncTarget, FinalizePlan, FollowPlan, PhaseWorkers, SHUTDOWN_WORKER, ShutdownCause,
    StoppedWorker, WorkerContext, WorkerError, WorkerHandle,
};
use crate::primitives::BlockNumber;

/// Environment variable holding the script (JSON) for `histd run` in testkit builds.
pub const SCRIPT_ENV: &str = "HISTD_TESTKIT_SCRIPT";

/// A timeline. Every `*_ms` is measured from the start of the phase's worker; `None` = never.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Script {
    /// Startup worker sends `PeersReady` after this long.
    pub peers_ready_ms: Option<u64>,
    pub peers: u32,
    /// Head reported with `PeersReady`; the head tracker then advances it by one block.
    pub head: u64,
    /// The head tracker sends `HeadAdvanced` this often (follow mode only).
    pub head_every_ms: Option<u64>,
    /// Fast-sync/follow send `Progress` this often.
    pub progress_every_ms: Option<u64>,
    /// Fast-sync sends `CaughtUp` after this long.
    pub caught_up_ms: Option<u64>,
    /// Finalizing sends `Finalized` this long after the previous worker has finished.
    pub finalize_ms: Option<u64>,
    /// Follow sends `UpToDate` after this long.
    pub up_to_date_ms: Option<u64>,
    /// Shutdown sends `Stopped` this long after every other worker has finished.
    pub shutdown_ms: Option<u64>,
    /// The worker of this phase (`startup`, `fast_sync`, `finalizing`, `follow`) fails at once.
    pub fatal_in: Option<String>,
    /// The `fatal_in` worker fails with an I/O error "no space left on device" (through
    /// `WorkerError`, like a real storage failure) instead of a plain failure.
    pub fatal_disk_full: bool,
    /// Follow sends `ReorgTooDeep` this long after `UpToDate`.
    pub reorg_too_deep_ms: Option<u64>,
}

impl Default for Script {
    fn default() -> Self {
        Self {
            peers_ready_ms: Some(100),
            peers: 3,
            head: 1_000,
            head_every_ms: None,
            progress_every_ms: Some(50),
            caught_up_ms: Some(500),
            finalize_ms: Some(300),
            up_to_date_ms: Some(100),
            shutdown_ms: Some(50),
            fatal_in: None,
            fatal_disk_full: false,
            reorg_too_deep_ms: None,
        }
    }
}

impl Script {
    /// Parse a script.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Workers that never report anything: the machine is driven by hand (unit and property tests).
    pub fn idle() -> Self {
        Self {
            peers_ready_ms: None,
            peers: 0,
            head: 0,
            head_every_ms: None,
            progress_every_ms: None,
            caught_up_ms: None,
            finalize_ms: None,
            up_to_date_ms: None,
            shutdown_ms: None,
            fatal_in: None,
            fatal_disk_full: false,
            reorg_too_deep_ms: None,
        }
    }
}

/// Phase workers following a [`Script`].
#[derive(Debug, Clone)]
pub struct ScriptedWorkers {
    script: Script,
}

impl ScriptedWorkers {
    /// Workers following `script`.
    pub fn new(script: Script) -> Self {
        Self { script }
    }

    fn fails(&self, phase: Phase) -> bool {
        self.script.fatal_in.as_deref() == Some(phase.label())
    }
}

/// Sleep `ms` (forever when `None`) unless cancelled first; `true` if the time elapsed.
async fn wait(ms: Option<u64>, cancel: &CancellationToken) -> bool {
    match ms {
        Some(ms) => tokio::select! {
            _ = cancel.cancelled() => false,
            _ = tokio::time::sleep(Duration::from_millis(ms)) => true,
        },
        None => {
            cancel.cancelled().await;
            false
        }
    }
}

/// Sleep `ms`, or forever when `None`.
async fn after(ms: Option<u64>) {
    match ms {
        Some(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
        None => std::future::pending().await,
    }
}

/// Sleep until `deadline`, or forever when `None`.
async fn at(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn fatal(name: &'static str, ctx: WorkerContext, disk_full: bool) -> WorkerHandle {
    if disk_full {
        return WorkerHandle::spawn(name, ctx, |_| async move {
            Err(WorkerError::Failed {
                context: "scripted write".into(),
                source: Box::new(std::io::Error::from_raw_os_error(libc::ENOSPC)),
            })
        });
    }
    WorkerHandle::spawn(name, ctx, |ctx| async move {
        ctx.events
            .send(Event::Fatal(FatalError::new(
                name,
                FailureKind::Restart,
                "scripted failure",
            )))
            .await;
        Ok(())
    })
}

impl PhaseWorkers for ScriptedWorkers {
    fn start_peer_pool(&mut self, ctx: WorkerContext) -> WorkerHandle {
        WorkerHandle::spawn("peer_pool", ctx, |ctx| async move {
            ctx.cancel.cancelled().await;
            Ok(())
        })
    }

    fn start_head_tracker(&mut self, ctx: WorkerContext) -> WorkerHandle {
        let every = self.script.head_every_ms;
        let mut head = self.script.head;
        WorkerHandle::spawn("head_tracker", ctx, move |ctx| async move {
            while wait(every, &ctx.cancel).await {
                head += 1;
                if !ctx
                    .events
                    .send(Event::HeadAdvanced {
                        head_seen: BlockNumber(head),
                    })
                    .await
                {
                    return Ok(());
                }
            }
            Ok(())
        })
    }

    fn start_startup(&mut self, ctx: WorkerContext) -> WorkerHandle {
        if self.fails(Phase::Startup) {
            return fatal("startup", ctx, self.script.fatal_disk_full);
        }
        let (after, peers, head) = (
            self.script.peers_ready_ms,
            self.script.peers,
            self.script.head,
        );
        WorkerHandle::spawn("startup", ctx, move |ctx| async move {
            if wait(after, &ctx.cancel).await {
                ctx.events
                    .send(Event::PeersReady {
                        peers,
                        best_head: BlockNumber(head),
                    })
                    .await;
            }
            ctx.cancel.cancelled().await;
            Ok(())
        })
    }

    fn start_fastsync(&mut self, ctx: WorkerContext, target: FastSyncTarget) -> WorkerHandle {
        if self.fails(Phase::FastSync) {
            return fatal("fast_sync", ctx, self.script.fatal_disk_full);
        }
        let (every, caught_up) = (self.script.progress_every_ms, self.script.caught_up_ms);
        WorkerHandle::spawn("fast_sync", ctx, move |ctx| async move {
            let (start, tip) = match &target {
                FastSyncTarget::Range { start, end } => (*start, *end),
                FastSyncTarget::SafeHead { start, safe_head } => (*start, *safe_head.borrow()),
            };
            let started = tokio::time::Instant::now();
            let caught_up_at = caught_up.map(|ms| started + Duration::from_millis(ms));
            let mut last = start;
            loop {
                tokio::select! {
                    _ = ctx.cancel.cancelled() => return Ok(()),
                    _ = at(caught_up_at) => {
                        ctx.events.send(Event::CaughtUp { tip }).await;
                        ctx.cancel.cancelled().await;
                        return Ok(());
                    }
                    _ = after(every) => {
                        last = last.saturating_add(100).min(tip);
                        ctx.events.send(Event::Progress { last_indexed: last }).await;
                    }
                }
            }
        })
    }

    fn start_finalizing(&mut self, ctx: WorkerContext, plan: FinalizePlan) -> WorkerHandle {
        if self.fails(Phase::Finalizing) {
            return fatal("finalizing", ctx, self.script.fatal_disk_full);
        }
        let after = self.script.finalize_ms;
        WorkerHandle::spawn("finalizing", ctx, move |ctx| async move {
            let WorkerContext {
                events,
                cancel,
                previous,
                ..
            } = ctx;
            StoppedWorker::join_all(previous).await;
            if wait(after, &cancel).await {
                let last_indexed = plan.switch_tip.unwrap_or(BlockNumber::ZERO);
                events.send(Event::Finalized { last_indexed }).await;
            }
            cancel.cancelled().await;
            Ok(())
        })
    }

    fn start_follow(&mut self, ctx: WorkerContext, plan: FollowPlan) -> WorkerHandle {
        if self.fails(Phase::Follow) {
            return fatal("follow", ctx, self.script.fatal_disk_full);
        }
        let (after, reorg) = (self.script.up_to_date_ms, self.script.reorg_too_deep_ms);
        WorkerHandle::spawn("follow", ctx, move |ctx| async move {
            StoppedWorker::join_all(ctx.previous).await;
            if wait(after, &ctx.cancel).await {
                ctx.events
                    .send(Event::UpToDate {
                        head: plan.last_indexed,
                    })
                    .await;
                if reorg.is_some() && wait(reorg, &ctx.cancel).await {
                    let limit = plan.rollback_window;
                    ctx.events
                        .send(Event::ReorgTooDeep {
                            depth: limit + 1,
                            limit,
                        })
                        .await;
                }
            }
            ctx.cancel.cancelled().await;
            Ok(())
        })
    }

    fn start_rpc(&mut self, ctx: WorkerContext) -> WorkerHandle {
        WorkerHandle::spawn("rpc", ctx, |ctx| async move {
            tracing::info!("scripted RPC worker running (testkit: no server)");
            ctx.cancel.cancelled().await;
            Ok(())
        })
    }

    fn start_shutdown(&mut self, ctx: WorkerContext, cause: ShutdownCause) -> WorkerHandle {
        let after = self.script.shutdown_ms;
        WorkerHandle::spawn(SHUTDOWN_WORKER, ctx, move |ctx| async move {
            let WorkerContext {
                events,
                cancel,
                previous,
                ..
            } = ctx;
            StoppedWorker::join_all(previous).await;
            tracing::info!(?cause, "scripted shutdown: all workers stopped");
            if wait(after, &cancel).await {
                events.send(Event::Stopped).await;
            }
            Ok(())
        })
    }
}
