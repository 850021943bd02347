//! The transition table as data: every edge the machine can take, and nothing else, plus the
//! superstates that group the phases.
//!
//! Owns the list that `state-diagrams/daemon.mmd` is compared against (tests/it/daemon/diagram.rs)
//! and that the machine checks every transition it takes against (`after_transition` logs an error
//! on a transition missing here; unit and property tests fail on it). A transition written once in
//! a superstate still has one row per phase it leaves from: the rows are what the machine does,
//! the superstates only how it is written (the diagram draws such an edge once, from the
//! superstate). It must never drive the machine: the states decide, this records what they may
//! decide.

use super::event::EventKind;
use super::phase::Phase;

/// A condition on a transition beyond the event itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Guard {
    /// The event alone decides.
    Always,
    /// The post-finalize intent is still follow (follow mode, no stop requested).
    IntentFollow,
    /// The post-finalize intent is exit (range mode, or a stop was requested).
    IntentExit,
}

impl Guard {
    /// The guard as written in the diagram (`[intent follow]`), empty for [`Guard::Always`].
    pub fn diagram_label(self) -> &'static str {
        match self {
            Guard::Always => "",
            Guard::IntentFollow => "intent follow",
            Guard::IntentExit => "intent exit",
        }
    }
}

/// One edge: in `from`, on `on` (when `guard` holds), go to `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Row {
    pub from: Phase,
    pub on: EventKind,
    pub guard: Guard,
    pub to: Phase,
}

const fn row(from: Phase, on: EventKind, guard: Guard, to: Phase) -> Row {
    Row {
        from,
        on,
        guard,
        to,
    }
}

use EventKind as E;
use Guard as G;
use Phase as P;

/// A superstate: a name (as in the diagram) and the phases inside it, however deeply nested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateGroup {
    pub name: &'static str,
    pub phases: &'static [Phase],
}

/// The machine's superstates (checked against the statig machine by the unit tests and against
/// the diagram's composite states by tests/it/daemon/diagram.rs).
pub const SUPERSTATES: &[StateGroup] = &[
    // Fatal ⇒ ShuttingDown and head reports, alike in every phase before ShuttingDown.
    StateGroup {
        name: "Running",
        phases: &[P::Startup, P::FastSync, P::Finalizing, P::Follow],
    },
    // Progress and peer loss, alike in the phases that move blocks (inside Running).
    StateGroup {
        name: "Syncing",
        phases: &[P::FastSync, P::Finalizing, P::Follow],
    },
];

/// Every transition of the daemon machine. Events not listed for a phase are handled in place.
pub const TRANSITIONS: &[Row] = &[
    row(P::Startup, E::PeersReady, G::Always, P::FastSync),
    row(P::Startup, E::ShutdownRequested, G::Always, P::ShuttingDown),
    row(P::Startup, E::Fatal, G::Always, P::ShuttingDown),
    row(P::FastSync, E::CaughtUp, G::Always, P::Finalizing),
    row(P::FastSync, E::ShutdownRequested, G::Always, P::Finalizing),
    // The restart check found the stored tip on a branch abandoned deeper than the window.
    row(P::FastSync, E::ReorgTooDeep, G::Always, P::ShuttingDown),
    // `Fatal` is written once, in the Running superstate; it has a row for each phase in it.
    row(P::FastSync, E::Fatal, G::Always, P::ShuttingDown),
    row(P::Finalizing, E::Fatal, G::Always, P::ShuttingDown),
    row(P::Finalizing, E::Finalized, G::IntentFollow, P::Follow),
    row(P::Finalizing, E::Finalized, G::IntentExit, P::ShuttingDown),
    row(P::Follow, E::ShutdownRequested, G::Always, P::ShuttingDown),
    row(P::Follow, E::ReorgTooDeep, G::Always, P::ShuttingDown),
    row(P::Follow, E::Fatal, G::Always, P::ShuttingDown),
];

/// The table rows matching an observed transition (at most one: rows differ in `to` when they
/// share `from` and `on`).
pub fn lookup(from: Phase, on: EventKind, to: Phase) -> Option<&'static Row> {
    TRANSITIONS
        .iter()
        .find(|r| r.from == from && r.on == on && r.to == to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_duplicate_edges_and_shutting_down_is_terminal() {
        let mut seen = std::collections::HashSet::new();
        for r in TRANSITIONS {
            assert!(seen.insert((r.from, r.on, r.to)), "duplicate {r:?}");
            assert_ne!(r.from, Phase::ShuttingDown, "ShuttingDown must be terminal");
            assert_ne!(
                r.from, r.to,
                "self-loops are handled in place, not transitions"
            );
        }
        // Range mode never follows: the only way into Follow is guarded by a follow intent.
        assert!(
            TRANSITIONS
                .iter()
                .filter(|r| r.to == Phase::Follow)
                .all(|r| r.guard == Guard::IntentFollow)
        );
    }
}
