//! Property test: thousands of random event sequences through the real daemon machine.
//!
//! - no sequence with a `ShutdownRequested` before finalization ever reaches Follow;
//! - range mode never reaches Follow;
//! - ShuttingDown is terminal;
//! - every transition the machine takes is a row of `TRANSITIONS` (so the table, and the diagram
//!   checked against it, are what the machine does).

use histd::daemon::scripted::{Script, ScriptedWorkers};
use histd::daemon::{
    DaemonMachine, DaemonSettings, Event, EventKind, FailureKind, FatalError, Phase, StopSignal,
    SyncMode, TRANSITIONS, event,
};
use histd::primitives::BlockNumber;
use proptest::prelude::*;

fn any_event() -> impl Strategy<Value = Event> {
    let n = || (0u64..5_000).prop_map(BlockNumber);
    prop_oneof![
        (1u32..10, n()).prop_map(|(peers, best_head)| Event::PeersReady { peers, best_head }),
        (0u32..3).prop_map(|peers| Event::PeersLost { peers }),
        n().prop_map(|head_seen| Event::HeadAdvanced { head_seen }),
        n().prop_map(|last_indexed| Event::Progress { last_indexed }),
        n().prop_map(|tip| Event::CaughtUp { tip }),
        n().prop_map(|last_indexed| Event::Finalized { last_indexed }),
        n().prop_map(|head| Event::UpToDate { head }),
        (0u64..200).prop_map(|depth| Event::ReorgTooDeep { depth, limit: 64 }),
        prop_oneof![Just(StopSignal::Sigint), Just(StopSignal::Sigterm)]
            .prop_map(|signal| Event::ShutdownRequested { signal }),
        Just(Event::Fatal(FatalError::new(
            "fast_sync",
            FailureKind::Restart,
            "random failure"
        ))),
        Just(Event::Stopped),
    ]
}

fn any_mode() -> impl Strategy<Value = SyncMode> {
    prop_oneof![
        Just(SyncMode::Follow),
        (0u64..5_000).prop_map(|end| SyncMode::Range {
            end: BlockNumber(end)
        }),
    ]
}

/// Sequences biased towards the interesting path (peers ready, caught up, finalized) so that
/// Follow is actually reached often, with random events interleaved.
fn sequence() -> impl Strategy<Value = Vec<Event>> {
    let happy = prop_oneof![
        Just(Event::PeersReady {
            peers: 3,
            best_head: BlockNumber(1_000)
        }),
        Just(Event::CaughtUp {
            tip: BlockNumber(900)
        }),
        Just(Event::Finalized {
            last_indexed: BlockNumber(900)
        }),
    ];
    prop::collection::vec(prop_oneof![3 => happy, 4 => any_event()], 0..40)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4_000))]

    #[test]
    fn machine_invariants_hold(mode in any_mode(), events in sequence()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let (tx, _rx) = event::channel();
            let settings = DaemonSettings { mode, start_block: BlockNumber(0), rollback_window: 64 };
            let mut m = DaemonMachine::start(
                settings,
                Box::new(ScriptedWorkers::new(Script::idle())),
                tx,
            )
            .await;
            let mut stop_requested_before_finalized = false;
            let mut finalized_in_finalizing = false;
            for e in &events {
                let before = m.phase();
                if e.kind() == EventKind::ShutdownRequested && !finalized_in_finalizing {
                    stop_requested_before_finalized = true;
                }
                if e.kind() == EventKind::Finalized && before == Phase::Finalizing {
                    finalized_in_finalizing = true;
                }
                m.handle(e).await;
                let after = m.phase();
                if stop_requested_before_finalized {
                    prop_assert_ne!(after, Phase::Follow, "stop before finalization reached Follow: {:?}", events);
                }
                if matches!(mode, SyncMode::Range { .. }) {
                    prop_assert_ne!(after, Phase::Follow, "range mode reached Follow: {:?}", events);
                }
                if before == Phase::ShuttingDown {
                    prop_assert_eq!(after, Phase::ShuttingDown, "left ShuttingDown: {:?}", events);
                }
            }
            for t in m.history() {
                let on = t.on.expect("every transition is caused by an event");
                prop_assert!(
                    TRANSITIONS.iter().any(|r| r.from == t.from && r.on == on && r.to == t.to),
                    "transition {:?} is not in the table", t
                );
            }
            Ok(())
        })?;
    }
}
