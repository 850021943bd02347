//! The signal handler: first SIGINT/SIGTERM asks for a graceful stop, a second SIGINT exits at once.
//!
//! Owns the process's signal dispositions (once installed, SIGINT no longer kills the process by
//! default, so the forced exit is explicit here). It must never touch the machine except by sending
//! `ShutdownRequested`.

use tokio::signal::unix::{SignalKind, signal};

use super::event::{Event, EventSender, StopSignal};

/// Exit code of a forced exit (128 + SIGINT, as a shell reports it).
pub const FORCED_EXIT_CODE: i32 = 130;

/// Install handlers and spawn the task that watches them.
pub fn spawn(events: EventSender) -> std::io::Result<()> {
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        let mut requested = false;
        loop {
            let sig = tokio::select! {
                Some(()) = int.recv() => StopSignal::Sigint,
                Some(()) = term.recv() => StopSignal::Sigterm,
                else => return,
            };
            if !requested {
                requested = true;
                tracing::info!(signal = %sig, "stop requested: stopping gracefully (press Ctrl-C again to force exit)");
                events.send(Event::ShutdownRequested { signal: sig }).await;
            } else if sig == StopSignal::Sigint {
                // The operator insists: nothing more is flushed. Committed data stays consistent
                // (storage commits are atomic); uncommitted work is lost.
                tracing::error!(
                    signal = %sig,
                    exit_code = FORCED_EXIT_CODE,
                    "second SIGINT: forcing exit now, without finishing the shutdown"
                );
                std::process::exit(FORCED_EXIT_CODE);
            } else {
                tracing::warn!(signal = %sig, "already stopping; send SIGINT to force exit");
            }
        }
    });
    Ok(())
}
