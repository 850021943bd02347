//! The daemon's phases as a plain value: names for logs, the diagram and the phase gauge.
//!
//! Owns only the naming of phases; it must never decide transitions (that is `machine` +
//! `states`, checked against `transitions::TRANSITIONS`).

use std::fmt;

/// One phase of the daemon (docs/architecture.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    Startup,
    FastSync,
    Finalizing,
    Follow,
    ShuttingDown,
}

impl Phase {
    /// Every phase, in lifecycle order.
    pub const ALL: [Phase; 5] = [
        Phase::Startup,
        Phase::FastSync,
        Phase::Finalizing,
        Phase::Follow,
        Phase::ShuttingDown,
    ];

    /// The name used in `state-diagrams/daemon.mmd`.
    pub const fn diagram_name(self) -> &'static str {
        match self {
            Phase::Startup => "Startup",
            Phase::FastSync => "FastSync",
            Phase::Finalizing => "Finalizing",
            Phase::Follow => "Follow",
            Phase::ShuttingDown => "ShuttingDown",
        }
    }

    /// The `phase` label of the phase gauge and the `phase` field of log lines.
    pub const fn label(self) -> &'static str {
        match self {
            Phase::Startup => "startup",
            Phase::FastSync => "fast_sync",
            Phase::Finalizing => "finalizing",
            Phase::Follow => "follow",
            Phase::ShuttingDown => "shutting_down",
        }
    }

    /// Set the state-set gauge: 1 for `self`, 0 for every other phase.
    pub fn publish(self) {
        for p in Phase::ALL {
            metrics::gauge!(crate::metrics::PHASE, "phase" => p.label()).set(if p == self {
                1.0
            } else {
                0.0
            });
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}
