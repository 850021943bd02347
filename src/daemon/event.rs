//! Events: the only way anything outside the machine moves it.
//!
//! Owns the event vocabulary (head tracker, peer pool, signal handler, phase workers) and the
//! channel that carries events to the machine. It must never interpret events: the states do.

use std::fmt;

use tokio::sync::mpsc;

use crate::primitives::BlockNumber;

/// Which signal asked the daemon to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    Sigint,
    Sigterm,
}

impl fmt::Display for StopSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StopSignal::Sigint => "SIGINT",
            StopSignal::Sigterm => "SIGTERM",
        })
    }
}

/// What an operator must do about a worker's failure. Classified once, where the failure becomes
/// an [`Event::Fatal`] (`crate::daemon::exit::failure_kind`); the exit code is chosen from it.
/// Declared in order of precedence: when several workers fail, the kind an operator must act on
/// wins over a plain restart (`Ord` follows the declaration order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailureKind {
    /// Nothing the operator must fix first: a restart may help.
    Restart,
    /// Fix the configuration: an address it names cannot be bound (in use, not on this host,
    /// privileged). A restart meets the same cause again.
    FixConfig,
    /// Free space under the data directory (`ENOSPC`/`EDQUOT`). A restart meets a full disk again.
    FreeDisk,
}

impl FailureKind {
    /// What the log line and the machine's reason say before the error, so an operator reading
    /// only the message sees what to do.
    pub const fn message_prefix(self) -> &'static str {
        match self {
            FailureKind::Restart => "",
            FailureKind::FixConfig => "config error: ",
            FailureKind::FreeDisk => "disk full: ",
        }
    }
}

/// A worker failed in a way it cannot recover from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FatalError {
    /// The worker's name (`fast_sync`, `peer_pool`, ...).
    pub worker: &'static str,
    /// What the operator must do; decides the exit code.
    pub kind: FailureKind,
    /// The failure for people: the kind's [`FailureKind::message_prefix`], then the error.
    pub message: String,
}

impl FatalError {
    /// `worker` failed with `error` of `kind`; the message starts with the kind's prefix.
    pub fn new(worker: &'static str, kind: FailureKind, error: impl fmt::Display) -> Self {
        Self {
            worker,
            kind,
            message: format!("{}{error}", kind.message_prefix()),
        }
    }
}

impl fmt::Display for FatalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} worker: {}", self.worker, self.message)
    }
}

/// Everything the machine reacts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Peer pool: `min_peers` peers are connected and their best head is known.
    PeersReady { peers: u32, best_head: BlockNumber },
    /// Peer pool: the peer count fell below `min_peers`.
    PeersLost { peers: u32 },
    /// Head tracker: `head_seen` moved up.
    HeadAdvanced { head_seen: BlockNumber },
    /// Any sync worker: blocks are stored contiguously up to `last_indexed`.
    Progress { last_indexed: BlockNumber },
    /// Fast-sync worker: everything up to its target `tip` is in the WAL.
    CaughtUp { tip: BlockNumber },
    /// Finalizing worker: writer flushed, dirty shards compacted, complete shards sealed.
    Finalized { last_indexed: BlockNumber },
    /// Follow worker: our tip equals the network head.
    UpToDate { head: BlockNumber },
    /// Follow worker: a reorg deeper than `rollback_window`.
    ReorgTooDeep { depth: u64, limit: u64 },
    /// Signal handler: first SIGINT/SIGTERM.
    ShutdownRequested { signal: StopSignal },
    /// Any worker: unrecoverable failure.
    Fatal(FatalError),
    /// Shutdown worker: everything is stopped and flushed; the process may exit.
    Stopped,
}

/// An event's name without its data: the vocabulary of the transition table and the diagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    PeersReady,
    PeersLost,
    HeadAdvanced,
    Progress,
    CaughtUp,
    Finalized,
    UpToDate,
    ReorgTooDeep,
    ShutdownRequested,
    Fatal,
    Stopped,
}

impl EventKind {
    /// Every kind.
    pub const ALL: [EventKind; 11] = [
        EventKind::PeersReady,
        EventKind::PeersLost,
        EventKind::HeadAdvanced,
        EventKind::Progress,
        EventKind::CaughtUp,
        EventKind::Finalized,
        EventKind::UpToDate,
        EventKind::ReorgTooDeep,
        EventKind::ShutdownRequested,
        EventKind::Fatal,
        EventKind::Stopped,
    ];

    /// The name used in `state-diagrams/daemon.mmd`.
    pub fn diagram_name(self) -> &'static str {
        match self {
            EventKind::PeersReady => "PeersReady",
            EventKind::PeersLost => "PeersLost",
            EventKind::HeadAdvanced => "HeadAdvanced",
            EventKind::Progress => "Progress",
            EventKind::CaughtUp => "CaughtUp",
            EventKind::Finalized => "Finalized",
            EventKind::UpToDate => "UpToDate",
            EventKind::ReorgTooDeep => "ReorgTooDeep",
            EventKind::ShutdownRequested => "ShutdownRequested",
            EventKind::Fatal => "Fatal",
            EventKind::Stopped => "Stopped",
        }
    }
}

impl Event {
    /// This event's kind.
    pub fn kind(&self) -> EventKind {
        match self {
            Event::PeersReady { .. } => EventKind::PeersReady,
            Event::PeersLost { .. } => EventKind::PeersLost,
            Event::HeadAdvanced { .. } => EventKind::HeadAdvanced,
            Event::Progress { .. } => EventKind::Progress,
            Event::CaughtUp { .. } => EventKind::CaughtUp,
            Event::Finalized { .. } => EventKind::Finalized,
            Event::UpToDate { .. } => EventKind::UpToDate,
            Event::ReorgTooDeep { .. } => EventKind::ReorgTooDeep,
            Event::ShutdownRequested { .. } => EventKind::ShutdownRequested,
            Event::Fatal(_) => EventKind::Fatal,
            Event::Stopped => EventKind::Stopped,
        }
    }
}

/// How many events may wait for the machine before senders wait (backpressure on chatty workers).
pub const EVENT_QUEUE: usize = 1024;

/// The sending side of the machine's event channel; cheap to clone, one per worker.
#[derive(Debug, Clone)]
pub struct EventSender(mpsc::Sender<Event>);

/// The machine's side of the event channel.
pub type EventReceiver = mpsc::Receiver<Event>;

/// A new event channel.
pub fn channel() -> (EventSender, EventReceiver) {
    let (tx, rx) = mpsc::channel(EVENT_QUEUE);
    (EventSender(tx), rx)
}

impl EventSender {
    /// Deliver an event. Returns `false` if the machine is gone (the process is exiting), in which
    /// case the caller should simply stop.
    pub async fn send(&self, event: Event) -> bool {
        self.0.send(event).await.is_ok()
    }

    /// Deliver without waiting; `false` if the queue is full or the machine is gone.
    pub fn try_send(&self, event: Event) -> bool {
        self.0.try_send(event).is_ok()
    }
}
