//! `histd run`: start the signal handler and the metrics endpoint, then drive the machine from
//! events until ShuttingDown completes; tell systemd what happens on the way.
//!
//! Owns the event loop on the main task (the statig machine is not `Send`), the systemd
//! notifications tied to it (READY when Startup is done, STATUS per phase and progress, WATCHDOG
//! from this loop so a stuck loop stops feeding it, STOPPING when a stop begins), the SIGUSR1 state
//! dump, and the mapping of how the machine stopped to an [`Exit`] code. It must never decide
//! phases: it only feeds events and reads the machine.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::{Instant, Interval};

use super::dump;
use super::event::{self, Event, FailureKind};
use super::exit::Exit;
use super::exporter::{self, ExporterError};
use super::machine::DaemonMachine;
use super::notify;
use super::phase::Phase;
use super::report::{self, RunRecorder};
use super::signals;
use super::states::{DaemonSettings, ExitStatus};
use super::workers::PhaseWorkers;
use crate::config::Config;

/// Progress reaches systemd's STATUS at most this often (`systemctl status` is read by people).
const STATUS_EVERY: Duration = Duration::from_secs(2);

/// Why the daemon could not even start its machine.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Exporter(#[from] ExporterError),
    #[error("cannot install signal handlers: {0}")]
    Signals(#[source] std::io::Error),
}

impl RunError {
    /// The exit code. An unbindable `metrics.bind` is a config error, like `rpc.bind`: systemd
    /// stops the old instance before starting the new one, so a taken port is another service or
    /// a wrong address, which a restart loop cannot fix.
    pub fn exit(&self) -> Exit {
        match self {
            RunError::Exporter(ExporterError::Bind { .. }) => Exit::Config,
            RunError::Exporter(ExporterError::Install(_)) | RunError::Signals(_) => Exit::Fatal,
        }
    }
}

/// What the runner tells systemd, derived from the phases and events it sees.
struct Notifications {
    phase: Phase,
    /// The run's sync counters (product workers only), for the blocks stored in STATUS.
    stats: Option<crate::sync::stats::SyncStats>,
    ready_sent: bool,
    stopping_sent: bool,
    last_status: Option<Instant>,
}

impl Notifications {
    fn new(phase: Phase, stats: Option<crate::sync::stats::SyncStats>) -> Self {
        notify::status(&format!("phase: {phase}"));
        Self {
            phase,
            stats,
            ready_sent: false,
            stopping_sent: false,
            last_status: None,
        }
    }

    /// Before the machine handles `event`.
    fn before(&mut self, event: &Event) {
        match event {
            Event::ShutdownRequested { signal } if !self.stopping_sent => {
                self.stopping_sent = true;
                notify::stopping();
                notify::status(&format!("phase: {}, stopping ({signal})", self.phase));
            }
            Event::Progress { last_indexed } => {
                let due = self.last_status.is_none_or(|t| t.elapsed() >= STATUS_EVERY);
                if due {
                    self.last_status = Some(Instant::now());
                    let stored = self.stats.as_ref().map(|s| s.blocks_stored());
                    notify::status(&notify::progress_text(self.phase, *last_indexed, stored));
                }
            }
            _ => {}
        }
    }

    /// After the machine handled an event and is now in `now`.
    fn after(&mut self, now: Phase) {
        if now == self.phase {
            return;
        }
        let from = self.phase;
        self.phase = now;
        if from == Phase::Startup && now != Phase::ShuttingDown && !self.ready_sent {
            self.ready_sent = true;
            notify::ready();
        }
        if now == Phase::ShuttingDown && !self.stopping_sent {
            self.stopping_sent = true;
            notify::stopping();
        }
        notify::status(&format!("phase: {now}"));
    }
}

/// Run the daemon with `workers` until it stops; the exit code says how. The metrics endpoint is
/// up before Startup.
pub async fn run(config: &Config, workers: Box<dyn PhaseWorkers>) -> Result<Exit, RunError> {
    // Signals first: once the endpoint's "listening" line is out, SIGUSR1 must no longer kill us.
    let (events, mut rx) = event::channel();
    let mut dumps = signals::spawn(events.clone()).map_err(RunError::Signals)?;

    let exporter_cancel = tokio_util::sync::CancellationToken::new();
    let metrics_addr: SocketAddr =
        exporter::start(config.metrics.bind, exporter_cancel.clone()).await?;
    tracing::info!(addr = %metrics_addr, "metrics endpoint listening");

    if let Err(e) = notify::init_from_env() {
        tracing::error!(error = %e, "systemd notifications are off");
    }
    let mut watchdog = notify::watchdog_every().map(|every| {
        tracing::info!(
            every_ms = every.as_millis() as u64,
            "feeding the systemd watchdog"
        );
        tokio::time::interval(every)
    });

    let settings = DaemonSettings::from_config(config);
    let stats = workers.sync_stats();
    let mut recorder = RunRecorder::start(settings.mode);
    let mut machine = DaemonMachine::start(settings, workers, events).await;
    let mut notes = Notifications::new(machine.phase(), stats.clone());
    // The weightiest kind among the workers' failures (see `FailureKind`'s order).
    let mut failure: Option<FailureKind> = None;

    let status = loop {
        if let Some(status) = machine.exit_status() {
            break status.clone();
        }
        tokio::select! {
            event = rx.recv() => match event {
                Some(event) => {
                    tracing::debug!(phase = %machine.phase(), ?event, "event");
                    if let Event::Fatal(e) = &event {
                        failure = failure.max(Some(e.kind));
                    }
                    notes.before(&event);
                    machine.handle(&event).await;
                    recorder.observe(machine.history());
                    notes.after(machine.phase());
                }
                // Unreachable while the machine holds a sender; treat as a failure rather than hang.
                None => {
                    break ExitStatus::Failed {
                        reason: "event channel closed".into(),
                    };
                }
            },
            Some(()) = dumps.recv() => log_state_dump(&machine),
            _ = tick(&mut watchdog) => notify::watchdog(),
        }
    };
    machine.cancel_all();
    exporter_cancel.cancel();
    let exit = Exit::from_machine(&status, machine.history(), failure);
    // After ShuttingDown, so the report has every phase; a run that never opened its data
    // directory leaves none.
    let name = recorder.file_name();
    let mut run_report = recorder.finish(machine.history(), stats.as_ref(), &status);
    // The process's exit code (reorg too deep, disk full, ... beyond clean/failed).
    run_report.exit.code = exit.code();
    match report::save(&config.data_dir, &name, &run_report) {
        Ok(path) => tracing::info!(path = %path.display(), "run report written"),
        Err(e) => tracing::warn!(error = %e, "no run report written"),
    }
    match &status {
        ExitStatus::Clean => {
            tracing::info!(phase = %machine.phase(), exit_code = exit.code(), "histd stopped cleanly")
        }
        ExitStatus::Failed { reason } => tracing::error!(
            %reason,
            exit = exit.name(),
            exit_code = exit.code(),
            "histd stopped with an error"
        ),
    }
    Ok(exit)
}

/// The next watchdog tick, or never when the watchdog is off.
async fn tick(watchdog: &mut Option<Interval>) {
    match watchdog {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// One line for the machine, one per registered source. Reads only: the machine and workers go
/// on exactly as before.
fn log_state_dump(machine: &DaemonMachine) {
    let history = machine.history();
    let last = history
        .last()
        .map(|t| format!("{} -> {} ({})", t.from, t.to, t.reason));
    let sources = dump::collect();
    let names: Vec<&str> = sources.iter().map(|(n, _)| *n).collect();
    tracing::info!(
        source = "machine",
        phase = %machine.phase(),
        intent = ?machine.intent(),
        transitions = history.len(),
        last_transition = last.as_deref().unwrap_or("none"),
        sources = names.join(","),
        "state dump"
    );
    for (name, state) in sources {
        tracing::info!(source = name, state = %state, "state dump");
    }
}
