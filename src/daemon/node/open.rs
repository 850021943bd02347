//! Opening what the node runs on: the chain spec, the data directory (storage, repaired on open)
//! and the node key. Used by the startup worker.
//!
//! Owns turning config values into an [`Opened`] node, with errors that name the file or
//! directory concerned. Storage is opened through [`StoreHandle::open`], which decides how that
//! work leaves the async runtime. It must never touch the network.

use std::path::PathBuf;

use super::settings;
use crate::config::{ChainChoice, Config};
use crate::p2p::chain::{ChainSpec, ChainSpecError};
use crate::p2p::node_key::{NodeKey, NodeKeyError};
use crate::storage::{OpenError, RepairReport, StoreError, StoreHandle};

/// What the startup worker opened, shared with the other workers.
#[derive(Debug)]
pub struct Opened {
    /// The chain we follow.
    pub spec: ChainSpec,
    /// The data directory's store (holds the directory lock until [`StoreHandle::close`]).
    pub store: StoreHandle,
    /// Our devp2p identity (`data_dir/nodekey`).
    pub key: NodeKey,
}

/// Why the node could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenNodeError {
    /// `chain` names no known chain or a bad spec file.
    #[error("chain `{chain}`: {source}")]
    Chain {
        chain: String,
        #[source]
        source: ChainSpecError,
    },
    /// The data directory cannot be used (lock held, another chain, damaged...).
    #[error("opening data directory {}: {source}", dir.display())]
    Storage {
        dir: PathBuf,
        #[source]
        source: OpenError,
    },
    /// The node key cannot be read or created.
    #[error(transparent)]
    NodeKey(#[from] NodeKeyError),
    /// The blocking task running the open was lost (panicked or cancelled by the runtime).
    #[error("opening data directory {}: the blocking task failed: {reason}", dir.display())]
    Task { dir: PathBuf, reason: String },
    /// The node key task was lost (panicked or cancelled by the runtime).
    #[error("loading the node key in {}: the blocking task failed: {reason}", dir.display())]
    KeyTask { dir: PathBuf, reason: String },
}

/// Resolves the configured chain (built-in name or spec file).
pub fn chain_spec(choice: &ChainChoice) -> Result<ChainSpec, OpenNodeError> {
    let value = choice.as_config_value();
    ChainSpec::resolve(&value).map_err(|source| OpenNodeError::Chain {
        chain: value,
        source,
    })
}

/// Resolves the chain, opens storage and loads (or creates) the node key, on the blocking pool.
pub async fn open(config: &Config) -> Result<Opened, OpenNodeError> {
    let spec = chain_spec(&config.chain)?;
    let dir = config.data_dir.clone();
    let opts = settings::open_options(config, &spec);
    let store = StoreHandle::open(&dir, opts).await.map_err(|e| match e {
        StoreError::Storage { source, .. } => OpenNodeError::Storage {
            dir: dir.clone(),
            source,
        },
        other => OpenNodeError::Task {
            dir: dir.clone(),
            reason: other.to_string(),
        },
    })?;
    // The key lives in the locked directory: read it only once the lock is ours. It is not
    // storage, so it does not go through the store handle.
    let key_dir = dir.clone();
    let key = match tokio::task::spawn_blocking(move || NodeKey::load_or_create(&key_dir)).await {
        Ok(Ok(key)) => key,
        Ok(Err(e)) => {
            store.close().await;
            return Err(e.into());
        }
        Err(e) => {
            store.close().await;
            return Err(OpenNodeError::KeyTask {
                dir,
                reason: e.to_string(),
            });
        }
    };
    let repair = store
        .read("reading the repair report", |s| {
            Ok::<_, std::convert::Infallible>(s.repair_report().clone())
        })
        .await
        .unwrap_or_default();
    log_repair(&repair);
    tracing::info!(dir = %dir.display(), chain = %spec.name, "data directory open");
    Ok(Opened { spec, store, key })
}

/// What the open-time repair did, as log fields (one line per change, so a JSON log can be
/// searched by file), instead of a Debug dump of the report.
fn log_repair(report: &RepairReport) {
    if report.is_clean() {
        return;
    }
    for shard in &report.interrupted_compactions {
        tracing::warn!(shard, "repair: interrupted compaction undone");
    }
    for (file, bytes_cut) in &report.truncated {
        tracing::warn!(file = %file.display(), bytes_cut, "repair: file truncated to its committed length");
    }
    for file in &report.removed_files {
        tracing::warn!(file = %file.display(), "repair: uncommitted file removed");
    }
    for dir in &report.removed_dirs {
        tracing::warn!(dir = %dir.display(), "repair: uncommitted shard directory removed");
    }
}
