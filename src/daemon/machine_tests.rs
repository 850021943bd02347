//! Unit tests of the machine: every row of the transition table driven through the real statig
//! machine, plus the in-place handling (intent downgrade, head feed, RPC once, exit status) and
//! worker start/cancel on entry/exit.

use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::event::{self, Event, EventKind, FailureKind, FatalError, StopSignal};
use super::intent::{AfterFinalize, SyncMode};
use super::machine::DaemonMachine;
use super::phase::Phase;
use super::scripted::{Script, ScriptedWorkers};
use super::states::{DaemonSettings, ExitStatus};
use super::transitions::{Guard, Row, SUPERSTATES, TRANSITIONS};
use super::workers::*;
use crate::primitives::BlockNumber;

fn settings(mode: SyncMode) -> DaemonSettings {
    DaemonSettings {
        mode,
        start_block: BlockNumber(0),
        rollback_window: 10,
    }
}

const RANGE: SyncMode = SyncMode::Range {
    end: BlockNumber(500),
};

async fn machine(mode: SyncMode) -> DaemonMachine {
    let (tx, _rx) = event::channel();
    DaemonMachine::start(
        settings(mode),
        Box::new(ScriptedWorkers::new(Script::idle())),
        tx,
    )
    .await
}

/// A representative event of each kind.
fn sample(kind: EventKind) -> Event {
    match kind {
        EventKind::PeersReady => Event::PeersReady {
            peers: 3,
            best_head: BlockNumber(1_000),
        },
        EventKind::PeersLost => Event::PeersLost { peers: 1 },
        EventKind::HeadAdvanced => Event::HeadAdvanced {
            head_seen: BlockNumber(1_001),
        },
        EventKind::Progress => Event::Progress {
            last_indexed: BlockNumber(100),
        },
        EventKind::CaughtUp => Event::CaughtUp {
            tip: BlockNumber(990),
        },
        EventKind::Finalized => Event::Finalized {
            last_indexed: BlockNumber(990),
        },
        EventKind::UpToDate => Event::UpToDate {
            head: BlockNumber(1_001),
        },
        EventKind::ReorgTooDeep => Event::ReorgTooDeep {
            depth: 80,
            limit: 10,
        },
        EventKind::ShutdownRequested => Event::ShutdownRequested {
            signal: StopSignal::Sigint,
        },
        EventKind::Fatal => Event::Fatal(FatalError::new("test", FailureKind::Restart, "boom")),
        EventKind::Stopped => Event::Stopped,
    }
}

/// Events that bring a fresh machine to `phase` (follow mode, no stop requested).
fn path_to(phase: Phase) -> Vec<EventKind> {
    use EventKind::*;
    match phase {
        Phase::Startup => vec![],
        Phase::FastSync => vec![PeersReady],
        Phase::Finalizing => vec![PeersReady, CaughtUp],
        Phase::Follow => vec![PeersReady, CaughtUp, Finalized],
        Phase::ShuttingDown => vec![ShutdownRequested],
    }
}

/// Drive one row: reach `row.from` in a mode (and with a history) that satisfies the guard, send
/// `row.on`, and check the machine landed in `row.to` and recorded exactly this edge.
async fn check_row(row: &Row) {
    // Every way of satisfying the guard is exercised.
    let setups: Vec<(SyncMode, Vec<EventKind>)> = match row.guard {
        Guard::Always => vec![
            (SyncMode::Follow, path_to(row.from)),
            (RANGE, path_to(row.from)),
        ],
        Guard::IntentFollow => vec![(SyncMode::Follow, path_to(row.from))],
        Guard::IntentExit => vec![
            (RANGE, path_to(row.from)),
            // A stop request during FastSync leads to Finalizing with an exit intent.
            (
                SyncMode::Follow,
                vec![EventKind::PeersReady, EventKind::ShutdownRequested],
            ),
            // A stop request during Finalizing downgrades in place.
            (
                SyncMode::Follow,
                vec![
                    EventKind::PeersReady,
                    EventKind::CaughtUp,
                    EventKind::ShutdownRequested,
                ],
            ),
        ],
    };
    for (mode, path) in setups {
        if mode != SyncMode::Follow && row.from == Phase::Follow {
            continue; // range mode cannot be in Follow at all
        }
        let mut m = machine(mode).await;
        for k in &path {
            m.handle(&sample(*k)).await;
        }
        assert_eq!(m.phase(), row.from, "setup {mode:?} {path:?} for {row:?}");
        let before = m.history().len();
        m.handle(&sample(row.on)).await;
        assert_eq!(m.phase(), row.to, "{row:?} in {mode:?} after {path:?}");
        let taken = &m.history()[before..];
        assert_eq!(taken.len(), 1, "{row:?}: {taken:?}");
        assert_eq!(
            (taken[0].from, taken[0].on, taken[0].to),
            (row.from, Some(row.on), row.to)
        );
        assert!(!taken[0].reason.is_empty(), "a transition carries a reason");
    }
}

fn row(from: Phase, on: EventKind, to: Phase) -> &'static Row {
    TRANSITIONS
        .iter()
        .find(|r| r.from == from && r.on == on && r.to == to)
        .unwrap_or_else(|| panic!("no row {from:?} --{on:?}--> {to:?}"))
}

macro_rules! row_test {
    ($name:ident, $from:ident, $on:ident, $to:ident) => {
        #[tokio::test]
        async fn $name() {
            check_row(row(Phase::$from, EventKind::$on, Phase::$to)).await;
        }
    };
}

row_test!(startup_peers_ready_fast_sync, Startup, PeersReady, FastSync);
row_test!(
    startup_shutdown_shutting_down,
    Startup,
    ShutdownRequested,
    ShuttingDown
);
row_test!(startup_fatal_shutting_down, Startup, Fatal, ShuttingDown);
row_test!(
    fast_sync_caught_up_finalizing,
    FastSync,
    CaughtUp,
    Finalizing
);
row_test!(
    fast_sync_shutdown_finalizing,
    FastSync,
    ShutdownRequested,
    Finalizing
);
row_test!(fast_sync_fatal_shutting_down, FastSync, Fatal, ShuttingDown);
row_test!(
    finalizing_fatal_shutting_down,
    Finalizing,
    Fatal,
    ShuttingDown
);
row_test!(finalizing_finalized_follow, Finalizing, Finalized, Follow);
row_test!(
    finalizing_finalized_exit,
    Finalizing,
    Finalized,
    ShuttingDown
);
row_test!(
    follow_shutdown_shutting_down,
    Follow,
    ShutdownRequested,
    ShuttingDown
);
row_test!(
    follow_reorg_too_deep_shutting_down,
    Follow,
    ReorgTooDeep,
    ShuttingDown
);
row_test!(follow_fatal_shutting_down, Follow, Fatal, ShuttingDown);
row_test!(
    fast_sync_reorg_too_deep_shutting_down,
    FastSync,
    ReorgTooDeep,
    ShuttingDown
);

#[tokio::test]
async fn every_row_of_the_table_is_what_the_machine_does() {
    assert_eq!(TRANSITIONS.len(), 13, "add a row_test! for the new row");
    for r in TRANSITIONS {
        check_row(r).await;
    }
}

/// Events with no row leave the phase unchanged, in every phase, in both modes.
#[tokio::test]
async fn events_without_a_row_are_handled_in_place() {
    for mode in [SyncMode::Follow, RANGE] {
        for phase in Phase::ALL {
            if mode != SyncMode::Follow && phase == Phase::Follow {
                continue;
            }
            for kind in EventKind::ALL {
                if TRANSITIONS.iter().any(|r| r.from == phase && r.on == kind) {
                    continue;
                }
                let mut m = machine(mode).await;
                for k in path_to(phase) {
                    m.handle(&sample(k)).await;
                }
                m.handle(&sample(kind)).await;
                assert_eq!(m.phase(), phase, "{kind:?} in {phase:?} ({mode:?})");
            }
        }
    }
}

#[tokio::test]
async fn stop_during_fast_sync_finalizes_then_exits_never_follows() {
    let mut m = machine(SyncMode::Follow).await;
    m.handle(&sample(EventKind::PeersReady)).await;
    m.handle(&sample(EventKind::ShutdownRequested)).await;
    assert_eq!(m.phase(), Phase::Finalizing);
    assert!(matches!(m.intent(), AfterFinalize::Exit(_)));
    // A late CaughtUp from the cancelled fast-sync worker changes nothing.
    m.handle(&sample(EventKind::CaughtUp)).await;
    assert_eq!(m.phase(), Phase::Finalizing);
    m.handle(&sample(EventKind::Finalized)).await;
    assert_eq!(m.phase(), Phase::ShuttingDown);
    assert_eq!(m.exit_status(), None, "waits for the shutdown worker");
    m.handle(&Event::Stopped).await;
    assert_eq!(m.exit_status(), Some(&ExitStatus::Clean));
}

#[tokio::test]
async fn failures_exit_non_zero_and_a_failing_shutdown_worker_does_not_hang() {
    let mut m = machine(SyncMode::Follow).await;
    for k in path_to(Phase::Follow) {
        m.handle(&sample(k)).await;
    }
    m.handle(&sample(EventKind::ReorgTooDeep)).await;
    m.handle(&Event::Fatal(FatalError::new(
        SHUTDOWN_WORKER,
        FailureKind::FreeDisk,
        "ENOSPC",
    )))
    .await;
    let status = m.exit_status().expect("exit decided");
    assert_eq!(status.code(), 1);
}

#[tokio::test]
async fn range_mode_ignores_heads_and_exits_after_finalizing() {
    let mut m = machine(RANGE).await;
    for k in path_to(Phase::Finalizing) {
        m.handle(&sample(k)).await;
    }
    m.handle(&sample(EventKind::Finalized)).await;
    assert_eq!(m.phase(), Phase::ShuttingDown);
    m.handle(&Event::Stopped).await;
    assert_eq!(m.exit_status(), Some(&ExitStatus::Clean));
}

/// What the recording workers saw: each start with the token it was given.
#[derive(Default)]
struct Log {
    started: Vec<(&'static str, CancellationToken, usize)>,
    fastsync_target: Option<FastSyncTarget>,
}

#[derive(Clone, Default)]
struct Recording(Arc<Mutex<Log>>);

impl Recording {
    fn start(&self, name: &'static str, ctx: WorkerContext) -> WorkerHandle {
        self.0
            .lock()
            .unwrap()
            .started
            .push((name, ctx.cancel.clone(), ctx.previous.len()));
        WorkerHandle::spawn(name, ctx, |ctx| async move {
            ctx.cancel.cancelled().await;
            Ok(())
        })
    }
    fn token(&self, name: &str) -> CancellationToken {
        let log = self.0.lock().unwrap();
        log.started.iter().find(|s| s.0 == name).unwrap().1.clone()
    }
    fn previous(&self, name: &str) -> usize {
        let log = self.0.lock().unwrap();
        log.started.iter().find(|s| s.0 == name).unwrap().2
    }
    fn count(&self, name: &str) -> usize {
        let log = self.0.lock().unwrap();
        log.started.iter().filter(|s| s.0 == name).count()
    }
}

impl PhaseWorkers for Recording {
    fn start_peer_pool(&mut self, ctx: WorkerContext) -> WorkerHandle {
        self.start("peer_pool", ctx)
    }
    fn start_head_tracker(&mut self, ctx: WorkerContext) -> WorkerHandle {
        self.start("head_tracker", ctx)
    }
    fn start_startup(&mut self, ctx: WorkerContext) -> WorkerHandle {
        self.start("startup", ctx)
    }
    fn start_fastsync(&mut self, ctx: WorkerContext, target: FastSyncTarget) -> WorkerHandle {
        self.0.lock().unwrap().fastsync_target = Some(target);
        self.start("fast_sync", ctx)
    }
    fn start_finalizing(&mut self, ctx: WorkerContext, _plan: FinalizePlan) -> WorkerHandle {
        self.start("finalizing", ctx)
    }
    fn start_follow(&mut self, ctx: WorkerContext, _plan: FollowPlan) -> WorkerHandle {
        self.start("follow", ctx)
    }
    fn start_rpc(&mut self, ctx: WorkerContext) -> WorkerHandle {
        self.start("rpc", ctx)
    }
    fn start_shutdown(&mut self, ctx: WorkerContext, _cause: ShutdownCause) -> WorkerHandle {
        self.start(SHUTDOWN_WORKER, ctx)
    }
}

#[tokio::test]
async fn each_phase_starts_its_worker_on_entry_and_cancels_it_on_exit() {
    let rec = Recording::default();
    let (tx, _rx) = event::channel();
    let mut m = DaemonMachine::start(settings(SyncMode::Follow), Box::new(rec.clone()), tx).await;
    assert!(!rec.token("peer_pool").is_cancelled());
    assert!(!rec.token("head_tracker").is_cancelled());
    assert!(!rec.token("startup").is_cancelled());

    m.handle(&sample(EventKind::PeersReady)).await;
    assert!(rec.token("startup").is_cancelled());
    assert!(!rec.token("fast_sync").is_cancelled());
    assert_eq!(
        rec.previous("fast_sync"),
        1,
        "startup handed over to be awaited"
    );

    // The moving target: safe head = head - rollback_window, updated by head reports.
    let safe_head = match rec.0.lock().unwrap().fastsync_target.clone() {
        Some(FastSyncTarget::SafeHead { safe_head, .. }) => safe_head,
        other => panic!("follow mode fast-syncs to the safe head, got {other:?}"),
    };
    assert_eq!(*safe_head.borrow(), BlockNumber(990));
    m.handle(&Event::HeadAdvanced {
        head_seen: BlockNumber(1_500),
    })
    .await;
    assert_eq!(*safe_head.borrow(), BlockNumber(1_490));

    m.handle(&sample(EventKind::CaughtUp)).await;
    assert!(rec.token("fast_sync").is_cancelled());
    assert_eq!(rec.previous("finalizing"), 1, "finalizing drains fast-sync");
    m.handle(&sample(EventKind::Finalized)).await;
    assert!(rec.token("finalizing").is_cancelled());

    m.handle(&sample(EventKind::UpToDate)).await;
    m.handle(&sample(EventKind::UpToDate)).await;
    assert_eq!(
        rec.count("rpc"),
        1,
        "RPC starts once, on the first UpToDate"
    );

    m.handle(&sample(EventKind::ShutdownRequested)).await;
    assert!(rec.token("follow").is_cancelled());
    assert!(rec.token("rpc").is_cancelled());
    assert!(rec.token("peer_pool").is_cancelled());
    assert!(rec.token("head_tracker").is_cancelled());
    assert_eq!(
        rec.previous(SHUTDOWN_WORKER),
        4,
        "shutdown awaits follow, rpc, head tracker and peer pool"
    );
    assert!(!rec.token(SHUTDOWN_WORKER).is_cancelled());
}

#[tokio::test]
async fn a_failing_worker_becomes_a_fatal_event() {
    let (tx, mut rx) = event::channel();
    let ctx = WorkerContext {
        events: tx.clone(),
        cancel: CancellationToken::new(),
        previous: vec![],
        mode: SyncMode::Follow,
    };
    let _h = WorkerHandle::spawn("boom", ctx, |_| async { panic!("kaput") });
    match rx.recv().await {
        Some(Event::Fatal(e)) => {
            assert_eq!(e.worker, "boom");
            assert!(e.message.contains("kaput"), "{e}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_error_after_cancellation_is_not_fatal() {
    let (tx, mut rx) = event::channel();
    let cancel = CancellationToken::new();
    let ctx = WorkerContext {
        events: tx.clone(),
        cancel: cancel.clone(),
        previous: vec![],
        mode: SyncMode::Follow,
    };
    let h = WorkerHandle::spawn("aborting", ctx, |ctx| async move {
        ctx.cancel.cancelled().await;
        Err(WorkerError::NotBuilt {
            what: "request aborted",
        })
    });
    h.cancel().join().await;
    drop(tx);
    assert!(rx.try_recv().is_err(), "no Fatal event");
}

#[tokio::test]
async fn range_mode_starts_no_head_tracker() {
    let rec = Recording::default();
    let (tx, _rx) = event::channel();
    let _m = DaemonMachine::start(settings(RANGE), Box::new(rec.clone()), tx).await;
    assert_eq!(rec.count("peer_pool"), 1);
    assert_eq!(rec.count("head_tracker"), 0);
}

/// `transitions::SUPERSTATES` (which the diagram is checked against) is the statig machine's real
/// nesting: each phase sits in exactly the superstates listed for it, innermost last in the list.
#[test]
fn superstate_table_is_the_machines_nesting() {
    for phase in Phase::ALL {
        let mut expected: Vec<&str> = SUPERSTATES
            .iter()
            .filter(|g| g.phases.contains(&phase))
            .map(|g| g.name)
            .collect();
        expected.reverse();
        assert_eq!(
            super::machine::enclosing_superstates(phase),
            expected,
            "superstates of {phase:?}"
        );
    }
}
