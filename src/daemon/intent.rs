//! What happens after Finalizing: the mode chosen at start and the typed post-finalize intent.
//!
//! Owns the rule "the intent can only be downgraded": [`PostFinalize`] starts as follow (follow
//! mode) or exit (range mode) and has no method that turns exit back into follow. It must never be
//! reset or rebuilt mid-run.

use tokio::sync::watch;

use super::event::StopSignal;
use crate::primitives::BlockNumber;

/// How the daemon was asked to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// `end_block` unset: fast-sync to the moving safe head, then follow the chain.
    Follow,
    /// `end_block` set: sync `start ..= end`, finalize, exit. No head tracking, no follow, no RPC.
    Range { end: BlockNumber },
}

/// Why the daemon exits after Finalizing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitAfterFinalize {
    /// Range mode: the range is done.
    RangeComplete { end: BlockNumber },
    /// A stop signal arrived before finalization.
    ShutdownRequested { signal: StopSignal },
}

/// What Finalizing leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFinalize {
    Follow,
    Exit(ExitAfterFinalize),
}

/// The post-finalize intent. Decided at start from the mode, then only ever downgraded.
/// Workers read it through [`Self::watch`] (the finalizing worker reports it at its end).
#[derive(Debug)]
pub struct PostFinalize(watch::Sender<AfterFinalize>);

impl PostFinalize {
    /// The intent a run starts with.
    pub fn for_mode(mode: SyncMode) -> Self {
        let intent = match mode {
            SyncMode::Follow => AfterFinalize::Follow,
            SyncMode::Range { end } => {
                AfterFinalize::Exit(ExitAfterFinalize::RangeComplete { end })
            }
        };
        Self(watch::Sender::new(intent))
    }

    /// A stop was requested: exit after finalizing. The first request is remembered; there is no
    /// way back to follow.
    pub fn downgrade(&mut self, signal: StopSignal) {
        self.0.send_if_modified(|now| match *now {
            AfterFinalize::Exit(ExitAfterFinalize::ShutdownRequested { .. }) => false,
            AfterFinalize::Follow
            | AfterFinalize::Exit(ExitAfterFinalize::RangeComplete { .. }) => {
                *now = AfterFinalize::Exit(ExitAfterFinalize::ShutdownRequested { signal });
                true
            }
        });
    }

    /// The current intent.
    pub fn get(&self) -> AfterFinalize {
        *self.0.borrow()
    }

    /// A live view of the intent (it sees every later downgrade).
    pub fn watch(&self) -> watch::Receiver<AfterFinalize> {
        self.0.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downgrade_is_one_way_and_keeps_the_first_signal() {
        let mut i = PostFinalize::for_mode(SyncMode::Follow);
        assert_eq!(i.get(), AfterFinalize::Follow);
        i.downgrade(StopSignal::Sigterm);
        i.downgrade(StopSignal::Sigint);
        assert_eq!(
            i.get(),
            AfterFinalize::Exit(ExitAfterFinalize::ShutdownRequested {
                signal: StopSignal::Sigterm
            })
        );
        let mut r = PostFinalize::for_mode(SyncMode::Range {
            end: BlockNumber(9),
        });
        assert!(matches!(r.get(), AfterFinalize::Exit(_)));
        r.downgrade(StopSignal::Sigint);
        assert!(matches!(
            r.get(),
            AfterFinalize::Exit(ExitAfterFinalize::ShutdownRequested { .. })
        ));
    }

    #[test]
    fn the_watch_sees_a_later_downgrade() {
        let mut i = PostFinalize::for_mode(SyncMode::Follow);
        let view = i.watch();
        assert_eq!(*view.borrow(), AfterFinalize::Follow);
        i.downgrade(StopSignal::Sigint);
        assert!(matches!(
            *view.borrow(),
            AfterFinalize::Exit(ExitAfterFinalize::ShutdownRequested { .. })
        ));
    }
}
