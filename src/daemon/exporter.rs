//! The Prometheus endpoint: installs the recorder and serves `GET /metrics` with axum.
//!
//! Owns the exporter's lifetime (up from Startup until the process exits) and its upkeep. It must
//! never define metric names (`crate::metrics` does) or record values itself.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// How often histogram buckets are drained (the exporter needs it called periodically).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Why the endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum ExporterError {
    #[error("cannot install the metrics recorder: {0}")]
    Install(String),
    #[error("cannot bind the metrics endpoint to {addr} (metrics.bind): {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Install the global recorder and serve it on `bind` until `cancel`. Returns the bound address
/// (useful with port 0).
pub async fn start(
    bind: SocketAddr,
    cancel: CancellationToken,
) -> Result<SocketAddr, ExporterError> {
    let listener = TcpListener::bind(bind)
        .await
        .map_err(|source| ExporterError::Bind { addr: bind, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| ExporterError::Bind { addr: bind, source })?;
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| ExporterError::Install(e.to_string()))?;
    crate::metrics::describe_all();
    tokio::spawn(upkeep(handle.clone(), cancel.clone()));
    let app = Router::new().route("/metrics", get(move || render(handle.clone())));
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(cancel.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::error!(%addr, error = %e, "metrics endpoint stopped");
        }
    });
    Ok(addr)
}

async fn render(handle: PrometheusHandle) -> String {
    let mut text = handle.render();
    // CPU seconds by stage are fractional, which the `metrics` crate's counters cannot hold: the
    // stage clocks keep them and render their own family (`crate::stage_cpu`).
    let help = crate::metrics::ALL
        .iter()
        .find(|(name, _, _)| *name == crate::metrics::CPU_SECONDS)
        .map_or("", |(_, _, help)| help);
    text.push_str(&crate::stage_cpu::prometheus_text(
        crate::metrics::CPU_SECONDS,
        help,
    ));
    text
}

async fn upkeep(handle: PrometheusHandle, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(UPKEEP_EVERY);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => handle.run_upkeep(),
        }
    }
}
