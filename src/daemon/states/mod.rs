//! Per-phase logic: what each phase does with each event, and what it starts on entry.
//!
//! The statig machine (`machine.rs`) stays thin: each handler forwards to one function here that
//! returns a [`Step`]. These functions never await, never do I/O and never unwrap: they update the
//! shared bookkeeping, start workers through [`PhaseWorkers`](super::workers::PhaseWorkers), and
//! decide the next phase. A phase handles what is its own and defers the rest ([`Step::Super`]) to
//! its superstates, where handling shared by several phases is written once:
//! Running ([`running`]: Startup and Syncing) ⊃ Syncing ([`syncing`]: FastSync, Finalizing,
//! Follow). ShuttingDown stands alone. The grouping is recorded as data in
//! [`SUPERSTATES`](super::transitions::SUPERSTATES).

pub mod fast_sync;
pub mod finalizing;
pub mod follow;
pub mod running;
pub mod shutting_down;
pub mod startup;
pub mod syncing;

use tokio_util::sync::CancellationToken;

use super::event::{EventKind, EventSender};
use super::head_state::HeadState;
use super::intent::{PostFinalize, SyncMode};
use super::phase::Phase;
use super::workers::{PhaseWorkers, ShutdownCause, StoppedWorker, WorkerContext, WorkerSlot};
use crate::primitives::BlockNumber;

pub use shutting_down::ExitStatus;

/// Fixed settings of one run, taken from the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DaemonSettings {
    pub mode: SyncMode,
    pub start_block: BlockNumber,
    pub rollback_window: u64,
}

impl DaemonSettings {
    /// From the validated config.
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self {
            mode: match config.sync.end_block {
                Some(end) => SyncMode::Range { end },
                None => SyncMode::Follow,
            },
            start_block: config.sync.start_block,
            rollback_window: config.sync.rollback_window,
        }
    }
}

/// What a phase decided about an event.
#[derive(Debug)]
pub enum Step {
    /// Handled here; stay.
    Stay,
    /// Not this phase's business: let the superstate handle it (Running logs what nobody handles).
    Super,
    /// Leave for `Target`, because of `reason` (logged with the transition).
    Go(Target, String),
}

/// Where a phase can go.
#[derive(Debug)]
pub enum Target {
    FastSync,
    Finalizing,
    Follow,
    ShuttingDown(ShutdownCause),
}

/// A transition the machine took, as recorded by `after_transition`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    pub from: Phase,
    pub on: Option<EventKind>,
    pub to: Phase,
    pub reason: String,
}

/// Everything that lives across phases (statig's shared storage).
pub struct Shared {
    pub settings: DaemonSettings,
    pub intent: PostFinalize,
    pub head: HeadState,
    pub workers: Box<dyn PhaseWorkers>,
    pub events: EventSender,
    /// The phase the machine is in (so superstates can name it in their logs).
    pub phase: Phase,
    /// Parent of every worker's token.
    pub root: CancellationToken,
    /// Peer pool: Startup until ShuttingDown.
    pub peer_pool: WorkerSlot,
    /// Head tracker: Startup until ShuttingDown, follow mode only.
    pub head_tracker: WorkerSlot,
    /// JSON-RPC server: first `UpToDate` in Follow until ShuttingDown.
    pub rpc: WorkerSlot,
    /// Workers cancelled by a phase exit, handed to the next phase's worker to wait for.
    pub stopped: Vec<StoppedWorker>,
    pub last_indexed: Option<BlockNumber>,
    /// The fast-sync tip at `CaughtUp` (frozen for Finalizing).
    pub switch_tip: Option<BlockNumber>,
    /// The event being handled (set before dispatch).
    pub current_event: Option<EventKind>,
    /// Why the pending transition happens (set with [`Step::Go`]).
    pub reason: String,
    pub history: Vec<Taken>,
    /// Set once ShuttingDown has finished: the process exits with it.
    pub exit: Option<ExitStatus>,
}

impl Shared {
    /// New shared state for a run.
    pub fn new(
        settings: DaemonSettings,
        workers: Box<dyn PhaseWorkers>,
        events: EventSender,
    ) -> Self {
        Self {
            settings,
            intent: PostFinalize::for_mode(settings.mode),
            head: HeadState::new(settings.rollback_window),
            workers,
            events,
            phase: Phase::Startup,
            root: CancellationToken::new(),
            peer_pool: WorkerSlot::idle(),
            head_tracker: WorkerSlot::idle(),
            rpc: WorkerSlot::idle(),
            stopped: Vec::new(),
            last_indexed: None,
            switch_tip: None,
            current_event: None,
            reason: String::new(),
            history: Vec::new(),
            exit: None,
        }
    }

    /// A context for a new worker: a fresh child token, the event sender, and the workers stopped
    /// since the last phase started.
    pub fn worker_context(&mut self) -> WorkerContext {
        WorkerContext {
            events: self.events.clone(),
            cancel: self.root.child_token(),
            previous: std::mem::take(&mut self.stopped),
            mode: self.settings.mode,
        }
    }

    /// A context that does not take the stopped workers (for side workers such as RPC).
    pub fn side_context(&self) -> WorkerContext {
        WorkerContext {
            events: self.events.clone(),
            cancel: self.root.child_token(),
            previous: Vec::new(),
            mode: self.settings.mode,
        }
    }

    /// The exit action shared by every phase: cancel the phase worker, keep it to be awaited.
    pub fn exit_phase(&mut self, worker: &mut WorkerSlot) {
        worker.cancel_into(&mut self.stopped);
    }

    /// Record a head report (ignored in range mode: no head tracking there).
    pub fn observe_head(&mut self, head: BlockNumber) {
        if self.settings.mode == SyncMode::Follow {
            self.head.observe(head);
        }
    }

    /// Record progress.
    pub fn observe_progress(&mut self, last_indexed: BlockNumber) {
        self.last_indexed = Some(last_indexed);
        metrics::gauge!(crate::metrics::LAST_INDEXED).set(last_indexed.get() as f64);
    }
}

/// Log an event a phase has no use for (typically a late report from a worker just cancelled).
pub(crate) fn ignored(phase: Phase, event: &super::event::Event) -> Step {
    tracing::debug!(%phase, ?event, "event ignored in this phase");
    Step::Stay
}
