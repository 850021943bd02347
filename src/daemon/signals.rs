//! The signal handler: first SIGINT/SIGTERM asks for a graceful stop, a second SIGINT exits at once;
//! SIGUSR1 asks the runner for a state dump.
//!
//! Owns the process's signal dispositions (once installed, SIGINT no longer kills the process by
//! default, so the forced exit is explicit here; SIGUSR1 no longer kills it either). It must never
//! touch the machine except by sending `ShutdownRequested`; a dump request goes to the runner,
//! never to the machine, so asking for a dump cannot change a phase.

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use super::event::{Event, EventSender, StopSignal};
use super::exit::Exit;

/// Dump requests from SIGUSR1 (several signals before the runner looks count as one).
pub type DumpRequests = mpsc::Receiver<()>;

/// Install handlers and spawn the task that watches them. Returns the SIGUSR1 requests.
pub fn spawn(events: EventSender) -> std::io::Result<DumpRequests> {
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut usr1 = signal(SignalKind::user_defined1())?;
    let (dump_tx, dump_rx) = mpsc::channel(1);
    tokio::spawn(async move {
        let mut requested = false;
        loop {
            let sig = tokio::select! {
                Some(()) = int.recv() => StopSignal::Sigint,
                Some(()) = term.recv() => StopSignal::Sigterm,
                Some(()) = usr1.recv() => {
                    // Full means a dump is already pending: that one will show the same state.
                    let _ = dump_tx.try_send(());
                    continue;
                }
                else => return,
            };
            if !requested {
                requested = true;
                tracing::info!(signal = %sig, "stop requested: stopping gracefully (press Ctrl-C again to force exit)");
                events.send(Event::ShutdownRequested { signal: sig }).await;
            } else if sig == StopSignal::Sigint {
                // The operator insists: nothing more is flushed. Committed data stays consistent
                // (storage commits are atomic); uncommitted work is lost.
                let code = Exit::Forced.code();
                tracing::error!(
                    signal = %sig,
                    exit_code = code,
                    "second SIGINT: forcing exit now, without finishing the shutdown"
                );
                std::process::exit(i32::from(code));
            } else {
                tracing::warn!(signal = %sig, "already stopping; send SIGINT to force exit");
            }
        }
    });
    Ok(dump_rx)
}
