//! The daemon's phase machine (statig, async): states, superstates, hooks. Thin on purpose.
//!
//! Owns the wiring only: which state forwards to which `states::*` function, which entry/exit
//! action starts/cancels which worker, and the transition hook that logs every transition once
//! with its reason, sets the phase gauge and checks the edge against `transitions::TRANSITIONS`.
//! It must never await a worker, the network or the disk, and never hold phase logic itself.
//!
//! statig async machines are not `Send` (statig issue #78): drive [`DaemonMachine`] from the main
//! task; workers are ordinary spawned tasks reporting through the event channel.

use statig::prelude::*;

use super::event::{Event, EventSender};
use super::intent::{AfterFinalize, SyncMode};
use super::phase::Phase;
use super::states::{
    DaemonSettings, ExitStatus, Shared, Step, Taken, Target, fast_sync, finalizing, follow,
    running, shutting_down, startup, syncing,
};
use super::transitions;
use super::workers::{PhaseWorkers, ShutdownCause, WorkerSlot};

/// statig's shared storage: the cross-phase state.
pub struct Daemon {
    s: Shared,
}

fn outcome(s: &mut Shared, step: Step) -> Outcome<State> {
    match step {
        Step::Stay => Handled,
        Step::Super => Super,
        Step::Go(target, reason) => {
            s.reason = reason;
            Transition(match target {
                Target::FastSync => State::fast_sync(WorkerSlot::idle()),
                Target::Finalizing => State::finalizing(WorkerSlot::idle()),
                Target::Follow => State::follow(WorkerSlot::idle()),
                Target::ShuttingDown(cause) => State::shutting_down(WorkerSlot::idle(), cause),
            })
        }
    }
}

#[state_machine(
    initial = "State::startup(WorkerSlot::idle())",
    state(derive(Debug)),
    superstate(derive(Debug)),
    before_dispatch = "Self::before_dispatch",
    after_transition = "Self::after_transition"
)]
impl Daemon {
    /// Waiting for peers. `PeersReady` ⇒ FastSync; `ShutdownRequested` ⇒ ShuttingDown; rest ⇒ Running.
    #[state(
        superstate = "running",
        entry_action = "enter_startup",
        exit_action = "exit_phase"
    )]
    async fn startup(&mut self, worker: &mut WorkerSlot, event: &Event) -> Outcome<State> {
        // `worker` declares the state-local slot; only the entry/exit actions touch it.
        let _ = worker;
        let step = startup::on_event(&mut self.s, event);
        outcome(&mut self.s, step)
    }

    /// Backfilling. `CaughtUp`, `ShutdownRequested` ⇒ Finalizing; rest ⇒ Syncing.
    #[state(
        superstate = "syncing",
        entry_action = "enter_fast_sync",
        exit_action = "exit_phase"
    )]
    async fn fast_sync(&mut self, worker: &mut WorkerSlot, event: &Event) -> Outcome<State> {
        let _ = worker;
        let step = fast_sync::on_event(&mut self.s, event);
        outcome(&mut self.s, step)
    }

    /// Compacting. `Finalized` ⇒ Follow (intent follow) or ShuttingDown (intent exit);
    /// `ShutdownRequested` downgrades the intent; rest ⇒ Syncing.
    #[state(
        superstate = "syncing",
        entry_action = "enter_finalizing",
        exit_action = "exit_phase"
    )]
    async fn finalizing(&mut self, worker: &mut WorkerSlot, event: &Event) -> Outcome<State> {
        let _ = worker;
        let step = finalizing::on_event(&mut self.s, event);
        outcome(&mut self.s, step)
    }

    /// FastSync + Finalizing + Follow (inside Running): progress and peer loss; rest ⇒ Running.
    #[superstate(superstate = "running")]
    async fn syncing(&mut self, event: &Event) -> Outcome<State> {
        let step = syncing::on_event(&mut self.s, event);
        outcome(&mut self.s, step)
    }

    /// Every phase but ShuttingDown. `Fatal` ⇒ ShuttingDown; head reports; logs the unhandled.
    #[superstate]
    async fn running(&mut self, event: &Event) -> Outcome<State> {
        let step = running::on_event(&mut self.s, event);
        outcome(&mut self.s, step)
    }

    /// At the head. `ShutdownRequested`, `ReorgTooDeep` ⇒ ShuttingDown; rest ⇒ Syncing.
    #[state(
        superstate = "syncing",
        entry_action = "enter_follow",
        exit_action = "exit_phase"
    )]
    async fn follow(&mut self, worker: &mut WorkerSlot, event: &Event) -> Outcome<State> {
        let _ = worker;
        let step = follow::on_event(&mut self.s, event);
        outcome(&mut self.s, step)
    }

    /// Terminal. `Stopped` sets the exit status.
    #[state(entry_action = "enter_shutting_down")]
    async fn shutting_down(
        &mut self,
        worker: &mut WorkerSlot,
        cause: &mut ShutdownCause,
        event: &Event,
    ) -> Outcome<State> {
        let _ = worker;
        let step = shutting_down::on_event(&mut self.s, cause, event);
        outcome(&mut self.s, step)
    }

    #[action]
    async fn enter_startup(&mut self, worker: &mut WorkerSlot) {
        Phase::Startup.publish();
        let (mode, end_block) = match self.s.settings.mode {
            SyncMode::Follow => ("follow", None),
            SyncMode::Range { end } => ("range", Some(end.get())),
        };
        tracing::info!(phase = %Phase::Startup, mode, end_block, "daemon starting");
        startup::enter(&mut self.s, worker);
    }

    #[action]
    async fn enter_fast_sync(&mut self, worker: &mut WorkerSlot) {
        fast_sync::enter(&mut self.s, worker);
    }

    #[action]
    async fn enter_finalizing(&mut self, worker: &mut WorkerSlot) {
        finalizing::enter(&mut self.s, worker);
    }

    #[action]
    async fn enter_follow(&mut self, worker: &mut WorkerSlot) {
        follow::enter(&mut self.s, worker);
    }

    #[action]
    async fn enter_shutting_down(&mut self, worker: &mut WorkerSlot, cause: &mut ShutdownCause) {
        shutting_down::enter(&mut self.s, worker, cause);
    }

    #[action]
    async fn exit_phase(&mut self, worker: &mut WorkerSlot) {
        self.s.exit_phase(worker);
    }
}

impl Daemon {
    async fn before_dispatch(
        &mut self,
        _state: StateOrSuperstate<'_, State, Superstate>,
        event: &Event,
    ) {
        self.s.current_event = Some(event.kind());
    }

    async fn after_transition(&mut self, source: &State, target: &State) {
        let (from, to) = (phase_of(source), phase_of(target));
        self.s.phase = to;
        let on = self.s.current_event;
        let reason = std::mem::take(&mut self.s.reason);
        let event = on.map(|k| k.diagram_name()).unwrap_or("-");
        let known = on.is_some_and(|k| transitions::lookup(from, k, to).is_some());
        // Gauge first, log second: whoever reads the log line and then scrapes sees the new phase.
        to.publish();
        metrics::counter!(crate::metrics::PHASE_TRANSITIONS, "from" => from.label(), "to" => to.label())
            .increment(1);
        if known {
            tracing::info!(from = %from, to = %to, event, reason = %reason, "phase transition");
        } else {
            tracing::error!(from = %from, to = %to, event, reason = %reason, "phase transition missing from the transition table (bug)");
        }
        self.s.history.push(Taken {
            from,
            on,
            to,
            reason,
        });
    }
}

/// The phase a statig state stands for.
fn phase_of(state: &State) -> Phase {
    match state {
        State::Startup { .. } => Phase::Startup,
        State::FastSync { .. } => Phase::FastSync,
        State::Finalizing { .. } => Phase::Finalizing,
        State::Follow { .. } => Phase::Follow,
        State::ShuttingDown { .. } => Phase::ShuttingDown,
    }
}

/// The running machine, with the read-only views tests and the runner need.
pub struct DaemonMachine {
    sm: statig::awaitable::InitializedStateMachine<Daemon>,
}

impl DaemonMachine {
    /// Build and enter Startup (which starts the peer pool, the head tracker and the startup worker).
    pub async fn start(
        settings: DaemonSettings,
        workers: Box<dyn PhaseWorkers>,
        events: EventSender,
    ) -> Self {
        let daemon = Daemon {
            s: Shared::new(settings, workers, events),
        };
        let sm = daemon.uninitialized_state_machine().init().await;
        Self { sm }
    }

    /// Feed one event.
    pub async fn handle(&mut self, event: &Event) {
        self.sm.handle(event).await;
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        phase_of(self.sm.state())
    }

    /// Set once ShuttingDown has completed.
    pub fn exit_status(&self) -> Option<&ExitStatus> {
        self.sm.inner().s.exit.as_ref()
    }

    /// Every transition taken so far.
    pub fn history(&self) -> &[Taken] {
        &self.sm.inner().s.history
    }

    /// The post-finalize intent right now.
    pub fn intent(&self) -> AfterFinalize {
        self.sm.inner().s.intent.get()
    }

    /// Cancel every worker still running (the root token). Used once the process is exiting.
    pub fn cancel_all(&self) {
        self.sm.inner().s.root.cancel();
    }
}

/// The superstates enclosing `phase`'s statig state, innermost first, by diagram name. Read from
/// the generated machine itself, so the unit tests can hold `transitions::SUPERSTATES` to it.
#[cfg(test)]
pub(crate) fn enclosing_superstates(phase: Phase) -> Vec<&'static str> {
    use statig::awaitable::{State as _, Superstate as _};

    let mut state = match phase {
        Phase::Startup => State::startup(WorkerSlot::idle()),
        Phase::FastSync => State::fast_sync(WorkerSlot::idle()),
        Phase::Finalizing => State::finalizing(WorkerSlot::idle()),
        Phase::Follow => State::follow(WorkerSlot::idle()),
        Phase::ShuttingDown => State::shutting_down(
            WorkerSlot::idle(),
            ShutdownCause::Failed {
                reason: String::new(),
            },
        ),
    };
    let mut names = Vec::new();
    let mut current = state.superstate();
    while let Some(mut superstate) = current {
        names.push(match superstate {
            Superstate::Running { .. } => "Running",
            Superstate::Syncing { .. } => "Syncing",
        });
        current = superstate.superstate();
    }
    names
}
