//! The process exit codes of `histd`: one typed enum, the single source of the numbers.
//!
//! Owns [`Exit`] (every code the binary can end with, documented in the README's "Exit codes" table
//! and checked against it by a test), the mapping from how the machine stopped to a code, and the
//! classification of a worker's error chain into a [`FailureKind`] (a full disk, an address that
//! cannot be bound). It must never decide to stop: the machine does; this only names the outcome.
//! `config/histd.service` lists the codes a restart cannot fix in `RestartPreventExitStatus=`.

use std::error::Error;

use super::event::{EventKind, FailureKind};
use super::states::{ExitStatus, Taken};
use crate::rpc::ServeError;
use crate::storage::WriteError;

/// How `histd` ended, as its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Exit {
    /// Stopped as asked (SIGINT/SIGTERM, finalized first) or range mode complete.
    Clean,
    /// A worker failed, or the daemon could not start (runtime, signal handlers): a restart may
    /// help.
    Fatal,
    /// The configuration (file + flags) cannot be used: fix it, a restart will not. This includes
    /// an `rpc.bind` or `metrics.bind` that cannot be bound: taken by another process, not on this
    /// host, or privileged.
    Config,
    /// Follow saw a reorg deeper than `sync.rollback_window`: the stored tip is on a chain the
    /// network abandoned; an operator must decide (larger window, `histd db repair`, resync).
    ReorgTooDeep,
    /// The data directory's filesystem is full: free space first, a restart will not.
    DiskFull,
    /// A second SIGINT while stopping: exited at once without finishing the shutdown (128 + SIGINT).
    Forced,
}

impl Exit {
    /// Every code, in the README's order.
    pub const ALL: [Exit; 6] = [
        Exit::Clean,
        Exit::Fatal,
        Exit::Config,
        Exit::ReorgTooDeep,
        Exit::DiskFull,
        Exit::Forced,
    ];

    /// The process exit code.
    pub const fn code(self) -> u8 {
        match self {
            Exit::Clean => 0,
            Exit::Fatal => 1,
            Exit::Config => 2,
            Exit::ReorgTooDeep => 3,
            Exit::DiskFull => 4,
            Exit::Forced => 130,
        }
    }

    /// Whether restarting the same binary with the same config and disk cannot help (systemd's
    /// `RestartPreventExitStatus=` lists exactly these).
    pub const fn restart_cannot_fix(self) -> bool {
        matches!(self, Exit::Config | Exit::ReorgTooDeep | Exit::DiskFull)
    }

    /// A short name for logs.
    pub const fn name(self) -> &'static str {
        match self {
            Exit::Clean => "clean",
            Exit::Fatal => "fatal",
            Exit::Config => "config",
            Exit::ReorgTooDeep => "reorg_too_deep",
            Exit::DiskFull => "disk_full",
            Exit::Forced => "forced",
        }
    }

    /// The code for a machine that stopped with `status`, after taking `history`, with `failure`
    /// the weightiest kind of the workers' failures it was sent (none: no worker failed). A deep
    /// reorg is named by the transition that ended Follow.
    pub fn from_machine(
        status: &ExitStatus,
        history: &[Taken],
        failure: Option<FailureKind>,
    ) -> Self {
        match status {
            ExitStatus::Clean => Exit::Clean,
            ExitStatus::Failed { .. } => {
                let reorg = history
                    .iter()
                    .any(|t| t.on == Some(EventKind::ReorgTooDeep));
                if reorg {
                    Exit::ReorgTooDeep
                } else {
                    failure.map_or(Exit::Fatal, Exit::for_failure)
                }
            }
        }
    }

    /// The code for a worker failure of `kind`: a full disk or an unusable address is the
    /// operator's to fix, not a restart's.
    pub const fn for_failure(kind: FailureKind) -> Self {
        match kind {
            FailureKind::Restart => Exit::Fatal,
            FailureKind::FixConfig => Exit::Config,
            FailureKind::FreeDisk => Exit::DiskFull,
        }
    }
}

/// Whether `error` or any of its sources is storage's [`WriteError::DiskFull`] or an I/O error
/// saying the filesystem is full (`ENOSPC`, or `EDQUOT`: a quota is the same to an operator).
/// Storage's own variant counts even when the OS error under it is not an `io::Error` (redb's).
pub fn is_disk_full(error: &(dyn Error + 'static)) -> bool {
    any_in_chain(error, |e| {
        let storage = matches!(
            e.downcast_ref::<WriteError>(),
            Some(WriteError::DiskFull { .. })
        );
        let os = e.downcast_ref::<std::io::Error>().is_some_and(|io| {
            io.kind() == std::io::ErrorKind::StorageFull
                || io.kind() == std::io::ErrorKind::QuotaExceeded
                || matches!(io.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
        });
        storage || os
    })
}

/// Whether `found` holds for `error` or any of its sources.
fn any_in_chain(
    error: &(dyn Error + 'static),
    found: impl Fn(&(dyn Error + 'static)) -> bool,
) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if found(e) {
            return true;
        }
        current = e.source();
    }
    false
}

/// Whether `error` or any of its sources is a failure to bind the JSON-RPC server's address
/// (`rpc.bind`). Whatever the OS said (in use, not on this host, privileged port), a restart
/// with the same config meets it again while the cause stays, so it is a config error, not a
/// crash to restart from (systemd would restart it forever).
pub fn is_bind_failure(error: &(dyn Error + 'static)) -> bool {
    any_in_chain(error, |e| {
        matches!(
            e.downcast_ref::<ServeError>(),
            Some(ServeError::Bind { .. })
        )
    })
}

/// What the operator must do about a worker that failed with `error`: free disk space when the
/// chain holds a full disk, fix the config when it holds an address that cannot be bound, else a
/// restart may help. Called once, where the failure becomes a `Fatal` event.
pub fn failure_kind(error: &(dyn Error + 'static)) -> FailureKind {
    if is_disk_full(error) {
        FailureKind::FreeDisk
    } else if is_bind_failure(error) {
        FailureKind::FixConfig
    } else {
        FailureKind::Restart
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::event::FatalError;
    use crate::daemon::phase::Phase;
    use crate::daemon::workers::WorkerError;

    /// The message a `Fatal` event carries for a worker that failed with `error`.
    fn fatal_event_message(error: &(dyn Error + 'static)) -> String {
        FatalError::new("test", failure_kind(error), error).message
    }

    #[test]
    fn codes_are_distinct_and_stable() {
        let codes: Vec<u8> = Exit::ALL.iter().map(|e| e.code()).collect();
        assert_eq!(codes, [0, 1, 2, 3, 4, 130]);
        let prevent: Vec<u8> = Exit::ALL
            .iter()
            .filter(|e| e.restart_cannot_fix())
            .map(|e| e.code())
            .collect();
        assert_eq!(prevent, [2, 3, 4]);
    }

    #[test]
    fn a_full_disk_is_found_through_the_source_chain() {
        let enospc = WorkerError::Failed {
            context: "writing the WAL".into(),
            source: Box::new(std::io::Error::from_raw_os_error(libc::ENOSPC)),
        };
        assert!(is_disk_full(&enospc));
        assert_eq!(failure_kind(&enospc), FailureKind::FreeDisk);
        let msg = fatal_event_message(&enospc);
        assert!(msg.starts_with("disk full: "), "{msg}");
        assert!(msg.contains("writing the WAL"), "{msg}");

        let other = WorkerError::Failed {
            context: "writing the WAL".into(),
            source: Box::new(std::io::Error::from_raw_os_error(libc::EACCES)),
        };
        assert!(!is_disk_full(&other));
        assert_eq!(failure_kind(&other), FailureKind::Restart);
        assert_eq!(fatal_event_message(&other), other.to_string());
    }

    #[test]
    fn a_full_disk_under_the_sync_layer_is_found_whatever_the_os_error_under_it() {
        use crate::storage::StoreError;
        use crate::sync::fastsync::SyncError;
        // As fast-sync reports a WAL write that hit ENOSPC, and a redb commit that did (redb's
        // error is not an io::Error).
        let full = |source: Box<dyn Error + Send + Sync>| WorkerError::Failed {
            context: "fast-sync".into(),
            source: Box::new(SyncError::Write(StoreError::Storage {
                what: "writing blocks",
                source: WriteError::DiskFull {
                    what: "append shards/0/wal".into(),
                    source,
                },
            })),
        };
        let io = full(Box::new(std::io::Error::from_raw_os_error(libc::ENOSPC)));
        assert!(is_disk_full(&io));
        let redb = full("redb: No space left on device".into());
        assert!(is_disk_full(&redb));
        assert_eq!(failure_kind(&redb), FailureKind::FreeDisk);
    }

    fn taken(on: EventKind, to: Phase) -> Taken {
        Taken {
            from: Phase::Follow,
            on: Some(on),
            to,
            reason: String::new(),
        }
    }

    #[test]
    fn machine_outcomes_map_to_codes() {
        use FailureKind::{FixConfig, FreeDisk, Restart};
        let failed = ExitStatus::Failed { reason: "x".into() };
        let reorg = [taken(EventKind::ReorgTooDeep, Phase::ShuttingDown)];
        let fatal = [taken(EventKind::Fatal, Phase::ShuttingDown)];
        assert_eq!(
            Exit::from_machine(&ExitStatus::Clean, &reorg, Some(FreeDisk)),
            Exit::Clean
        );
        assert_eq!(
            Exit::from_machine(&failed, &reorg, Some(FreeDisk)),
            Exit::ReorgTooDeep
        );
        assert_eq!(
            Exit::from_machine(&failed, &fatal, Some(FreeDisk)),
            Exit::DiskFull
        );
        assert_eq!(
            Exit::from_machine(&failed, &fatal, Some(FixConfig)),
            Exit::Config
        );
        assert_eq!(
            Exit::from_machine(&failed, &fatal, Some(Restart)),
            Exit::Fatal
        );
        assert_eq!(Exit::from_machine(&failed, &fatal, None), Exit::Fatal);
    }

    #[test]
    fn the_kind_an_operator_must_act_on_wins_over_a_restart() {
        // The runner keeps the greatest kind of all the failures it saw: a full disk over an
        // unusable address over a plain failure, whatever order they came in.
        use FailureKind::{FixConfig, FreeDisk, Restart};
        assert!(Restart < FixConfig && FixConfig < FreeDisk);
        assert_eq!(Some(FreeDisk).max(Some(FixConfig)), Some(FreeDisk));
        assert_eq!(None.max(Some(Restart)), Some(Restart));
    }

    #[test]
    fn an_address_that_cannot_be_bound_is_found_through_the_source_chain() {
        let addr: std::net::SocketAddr = "127.0.0.1:8545".parse().unwrap();
        let in_use = || std::io::Error::from_raw_os_error(libc::EADDRINUSE);
        let rpc = WorkerError::Failed {
            context: "starting the JSON-RPC server".into(),
            source: Box::new(ServeError::Bind {
                addr,
                source: in_use(),
            }),
        };
        assert!(is_bind_failure(&rpc));
        assert_eq!(failure_kind(&rpc), FailureKind::FixConfig);
        let msg = fatal_event_message(&rpc);
        assert!(msg.starts_with("config error: "), "{msg}");
        assert!(msg.contains("127.0.0.1:8545"), "{msg}");

        // The same OS error elsewhere (a peer's dial, say) is no config error.
        let other = WorkerError::Failed {
            context: "dialling".into(),
            source: Box::new(in_use()),
        };
        assert!(!is_bind_failure(&other));
        assert_eq!(failure_kind(&other), FailureKind::Restart);
    }
}
