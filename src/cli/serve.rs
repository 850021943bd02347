//! `histd serve`: the JSON-RPC server, read-only, on a stopped node's data directory (range-mode
//! users who synced a range and want to query it).
//!
//! Owns finding the stored tip (the head every tag is answered against: `latest`, `safe` and
//! `finalized` are all the tip, since nothing will move it), and running until Ctrl-C or SIGTERM
//! (the config → [`crate::rpc::RpcSettings`] mapping is `config::rpc`'s, shared with the node). The data directory's lock keeps a running node out
//! while it serves; it never writes blocks.

use std::net::SocketAddr;

use clap::Args;
use tokio::sync::watch;

use crate::config::Config;
use crate::primitives::BlockNumber;
use crate::rpc::{Head, Server};
use crate::storage::{Storage, StoreHandle};

/// `histd serve` arguments.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to serve on (overrides rpc.bind; port 0 picks a free port, printed on stdout).
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<SocketAddr>,
}

/// Why `histd serve` stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeCliError {
    /// The data directory could not be opened.
    #[error("opening {dir}: {reason}")]
    Open { dir: String, reason: String },
    /// It holds no block.
    #[error("{dir} holds no blocks: nothing to serve")]
    Empty { dir: String },
    /// The server could not start.
    #[error(transparent)]
    Start(#[from] crate::rpc::ServeError),
    /// The runtime could not start.
    #[error("starting the async runtime: {0}")]
    Runtime(std::io::Error),
}

impl ServeCliError {
    /// Whether the address (`rpc.bind` or `--bind`) could not be bound: the config's to fix, so
    /// the binary exits with its config-error code, as `histd run` does.
    pub fn is_bind_failure(&self) -> bool {
        matches!(
            self,
            ServeCliError::Start(crate::rpc::ServeError::Bind { .. })
        )
    }
}

/// The server settings a config asks for (the mapping is shared with the follow node's).
pub use crate::config::rpc::{blob_schedule, rpc_settings as settings};

/// The highest stored block and its hash.
fn tip(store: &Storage) -> Result<Option<(BlockNumber, alloy_primitives::B256)>, String> {
    let contents = store.shard_contents().map_err(|e| e.to_string())?;
    let Some(top) = contents
        .iter()
        .filter_map(|c| c.present.last())
        .max()
        .copied()
    else {
        return Ok(None);
    };
    let hash = store
        .block_hash(top)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("block {top} listed but not readable"))?;
    Ok(Some((top, hash)))
}

/// Runs `histd serve` until Ctrl-C or SIGTERM. `ready` is told the bound address.
pub fn run(
    config: &Config,
    args: &ServeArgs,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), ServeCliError> {
    let dir = config.data_dir.display().to_string();
    let store = Storage::open_existing(&config.data_dir).map_err(|e| ServeCliError::Open {
        dir: dir.clone(),
        reason: e.to_string(),
    })?;
    let (number, hash) = tip(&store)
        .map_err(|reason| ServeCliError::Open {
            dir: dir.clone(),
            reason,
        })?
        .ok_or(ServeCliError::Empty { dir: dir.clone() })?;
    let chain_id = store.identity().chain_id;
    let mut settings = settings(config, chain_id);
    if let Some(bind) = args.bind {
        settings.bind = bind;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("histd-serve")
        .build()
        .map_err(ServeCliError::Runtime)?;
    runtime.block_on(async move {
        let store = StoreHandle::new(store);
        // Nothing moves the head of a stopped node's data: every tag is the stored tip.
        let head = Head {
            number,
            hash,
            safe: Some(number),
            finalized: Some(number),
        };
        let (_head_tx, head_rx) = watch::channel(head);
        let server = Server::start(settings, store.clone(), chain_id, head_rx).await?;
        tracing::info!(
            head = number.get(),
            "serving a stopped node's data read-only"
        );
        ready(server.local_addr());
        shutdown_signal().await;
        server.stop().await;
        store.close().await;
        Ok(())
    })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
