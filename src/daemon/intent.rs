//! What happens after Finalizing: the mode chosen at start and the typed post-finalize intent.
//!
//! Owns the rule "the intent can only be downgraded": [`PostFinalize`] starts as follow (follow
//! mode) or exit (range mode) and has no method that turns exit back into follow. It must never be
//! reset or rebuilt mid-run.

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostFinalize(AfterFinalize);

impl PostFinalize {
    /// The intent a run starts with.
    pub fn for_mode(mode: SyncMode) -> Self {
        match mode {
            SyncMode::Follow => Self(AfterFinalize::Follow),
            SyncMode::Range { end } => {
                Self(AfterFinalize::Exit(ExitAfterFinalize::RangeComplete {
                    end,
                }))
            }
        }
    }

    /// A stop was requested: exit after finalizing. The first request is remembered; there is no
    /// way back to follow.
    pub fn downgrade(&mut self, signal: StopSignal) {
        match self.0 {
            AfterFinalize::Exit(ExitAfterFinalize::ShutdownRequested { .. }) => {}
            AfterFinalize::Follow
            | AfterFinalize::Exit(ExitAfterFinalize::RangeComplete { .. }) => {
                self.0 = AfterFinalize::Exit(ExitAfterFinalize::ShutdownRequested { signal });
            }
        }
    }

    /// The current intent.
    pub fn get(&self) -> AfterFinalize {
        self.0
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
}
