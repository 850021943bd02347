//! `histd run`: start the metrics endpoint and signal handler, then drive the machine from events
//! until ShuttingDown completes.
//!
//! Owns the event loop on the main task (the statig machine is not `Send`). It must never decide
//! phases: it only feeds events and reads the exit status.

use std::net::SocketAddr;

use super::event;
use super::exporter::{self, ExporterError};
use super::machine::DaemonMachine;
use super::report::{self, RunRecorder};
use super::signals;
use super::states::{DaemonSettings, ExitStatus};
use super::workers::PhaseWorkers;
use crate::config::Config;

/// Why the daemon could not even start its machine.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Exporter(#[from] ExporterError),
    #[error("cannot install signal handlers: {0}")]
    Signals(#[source] std::io::Error),
}

/// Run the daemon with `workers` until it stops. The metrics endpoint is up before Startup.
pub async fn run(config: &Config, workers: Box<dyn PhaseWorkers>) -> Result<ExitStatus, RunError> {
    let exporter_cancel = tokio_util::sync::CancellationToken::new();
    let metrics_addr: SocketAddr =
        exporter::start(config.metrics.bind, exporter_cancel.clone()).await?;
    tracing::info!(addr = %metrics_addr, "metrics endpoint listening");

    let (events, mut rx) = event::channel();
    signals::spawn(events.clone()).map_err(RunError::Signals)?;
    let settings = DaemonSettings::from_config(config);
    let stats = workers.sync_stats();
    let mut recorder = RunRecorder::start(settings.mode);
    let mut machine = DaemonMachine::start(settings, workers, events).await;

    let status = loop {
        if let Some(status) = machine.exit_status() {
            break status.clone();
        }
        match rx.recv().await {
            Some(event) => {
                tracing::debug!(phase = %machine.phase(), ?event, "event");
                machine.handle(&event).await;
                recorder.observe(machine.history());
            }
            // Unreachable while the machine holds a sender; treat as a failure rather than hang.
            None => {
                break ExitStatus::Failed {
                    reason: "event channel closed".into(),
                };
            }
        }
    };
    machine.cancel_all();
    exporter_cancel.cancel();
    // After ShuttingDown, so the report has every phase; a run that never opened its data
    // directory leaves none.
    let name = recorder.file_name();
    let run_report = recorder.finish(machine.history(), stats.as_ref(), &status);
    match report::save(&config.data_dir, &name, &run_report) {
        Ok(path) => tracing::info!(path = %path.display(), "run report written"),
        Err(e) => tracing::warn!(error = %e, "no run report written"),
    }
    match &status {
        ExitStatus::Clean => tracing::info!(phase = %machine.phase(), "histd stopped cleanly"),
        ExitStatus::Failed { reason } => tracing::error!(%reason, "histd stopped with an error"),
    }
    Ok(status)
}
