//! The honest answer for the parts of histd that do not exist yet: follow and the RPC server
//! (in-order sync at the head and the JSON-RPC server are future work).
//!
//! Owns the "not built yet" workers: they fail at once with a plain sentence, so the machine goes
//! to ShuttingDown and the process exits non-zero. They must never pretend to sync or serve.

use super::workers::{WorkerContext, WorkerError, WorkerHandle};

/// A part of histd that is not built, and what that means for the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Missing {
    /// The worker name (`follow`, `rpc`).
    pub worker: &'static str,
    /// What is missing (`follow`).
    pub what: &'static str,
    /// Why, and that histd stops.
    pub detail: &'static str,
}

const PIPELINE: &str = "in-order sync at the head is the next piece of work; histd stops here";

/// Follow (in-order sync at the head).
pub const FOLLOW: Missing = Missing {
    worker: "follow",
    what: "follow",
    detail: PIPELINE,
};

/// The JSON-RPC server.
pub const RPC: Missing = Missing {
    worker: "rpc",
    what: "the JSON-RPC server",
    detail: "serving stored history over JSON-RPC is future work; histd stops here",
};

impl Missing {
    /// The error line: "follow is not built yet: ...".
    pub fn error(&self) -> WorkerError {
        WorkerError::Failed {
            context: format!("{} is not built yet", self.what),
            source: self.detail.into(),
        }
    }
}

/// Spawns a worker that fails at once with `missing`'s error (reported as `Fatal`).
pub fn spawn(missing: Missing, ctx: WorkerContext) -> WorkerHandle {
    WorkerHandle::spawn(
        missing.worker,
        ctx,
        move |_| async move { Err(missing.error()) },
    )
}
