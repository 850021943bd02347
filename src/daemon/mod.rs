//! The daemon: its phase state machine, events, signal handler, head bookkeeping and the
//! interfaces its phase workers implement.
//!
//! `machine` is the statig wiring, `states` the per-phase logic, `transitions` the table both are
//! checked against, `node` the product's [`PhaseWorkers`] (it wires storage, p2p, sync and rpc
//! into workers). Entry point: [`run`]. The machine must never contain fetch,
//! storage or p2p logic: those arrive through [`PhaseWorkers`].

pub mod dump;
pub mod event;
pub mod exit;
pub mod exporter;
pub mod head_state;
pub mod intent;
pub mod logging;
pub mod machine;
pub mod node;
pub mod notify;
pub mod phase;
pub mod report;
pub mod runner;
#[cfg(any(test, feature = "testkit"))]
pub mod scripted;
pub mod signals;
mod states;
pub mod transitions;
pub mod workers;

pub use event::{Event, EventKind, EventSender, FailureKind, FatalError, StopSignal};
pub use exit::Exit;
pub use intent::{AfterFinalize, ExitAfterFinalize, PostFinalize, SyncMode};
pub use machine::DaemonMachine;
pub use phase::Phase;
pub use runner::{RunError, run};
pub use states::{DaemonSettings, ExitStatus, Taken};
pub use transitions::{Guard, Row, TRANSITIONS};
pub use workers::{
    FastSyncTarget, FinalizePlan, FollowPlan, PhaseWorkers, SHUTDOWN_WORKER, ShutdownCause,
    StoppedWorker, WorkerContext, WorkerError, WorkerHandle, WorkerSlot,
};

#[cfg(test)]
mod machine_tests;
