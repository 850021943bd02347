//! The stored chain as the methods see it: tags resolved against the [`Head`], blocks read on
//! the blocking pool, and the rule for blocks we do not hold (above the head: `null`; below the
//! lowest stored block or in a gap: geth's pruned-history error). Never writes.

use std::sync::Arc;

use alloy_eips::BlockNumberOrTag;
use alloy_primitives::{Address, B256};
use tokio::sync::watch;

use super::convert::{SenderCache, full_txs};
use super::envelope::RpcError;
use super::settings::Head;
use crate::primitives::BlockNumber;
use crate::storage::{ReadError, StoreError, StoreHandle, StoredBlock, TxLookup};

/// Senders kept by the cache (about 50 bytes each).
const SENDER_CACHE: usize = 200_000;

/// Reads for the methods.
#[derive(Debug, Clone)]
pub struct Chain {
    store: StoreHandle,
    head: watch::Receiver<Head>,
    senders: Arc<SenderCache>,
    /// The head when the server started (`eth_syncing`'s `startingBlock`).
    starting: u64,
}

fn storage_error(e: StoreError<ReadError>) -> RpcError {
    RpcError::server(format!("storage: {e}"))
}

impl Chain {
    /// Reads from `store`, answering tags against `head`.
    pub fn new(store: StoreHandle, head: watch::Receiver<Head>) -> Self {
        let starting = head.borrow().number.get();
        Self {
            store,
            head,
            senders: Arc::new(SenderCache::new(SENDER_CACHE)),
            starting,
        }
    }

    /// The head now.
    pub fn head(&self) -> Head {
        *self.head.borrow()
    }

    /// The head when the server started.
    pub fn starting_block(&self) -> u64 {
        self.starting
    }

    /// The highest head peers reported, as the node last persisted it (`None`: never).
    pub async fn head_seen(&self) -> Result<Option<u64>, RpcError> {
        self.store
            .read("reading the highest head seen", |s| s.head_seen())
            .await
            .map(|n| n.map(BlockNumber::get))
            .map_err(storage_error)
    }

    /// The lowest stored block (what `earliest` means on a node that holds part of history,
    /// as geth maps it after pruning).
    pub async fn lowest(&self) -> Result<Option<u64>, RpcError> {
        self.store
            .read("reading the lowest stored block", |s| s.lowest())
            .await
            .map(|n| n.map(BlockNumber::get))
            .map_err(storage_error)
    }

    /// The block number a tag or number stands for (it may not be stored).
    pub async fn resolve(&self, tag: BlockNumberOrTag) -> Result<u64, RpcError> {
        let head = self.head();
        match tag {
            BlockNumberOrTag::Number(n) => Ok(n),
            // A node without a block builder has no pending block: geth's filters and most
            // clients treat `pending` as the head.
            BlockNumberOrTag::Latest | BlockNumberOrTag::Pending => Ok(head.number.get()),
            BlockNumberOrTag::Safe => head
                .safe
                .map(BlockNumber::get)
                .ok_or_else(|| RpcError::server("safe block not found")),
            BlockNumberOrTag::Finalized => head
                .finalized
                .map(BlockNumber::get)
                .ok_or_else(|| RpcError::server("finalized block not found")),
            BlockNumberOrTag::Earliest => Ok(self.lowest().await?.unwrap_or(0)),
        }
    }

    /// Block `n`: `None` above the head, the pruned-history error when not held.
    pub async fn block(&self, n: u64) -> Result<Option<Arc<StoredBlock>>, RpcError> {
        if n > self.head().number.get() {
            return Ok(None);
        }
        let found = self
            .store
            .read("reading a block", move |s| s.stored_block(BlockNumber(n)))
            .await
            .map_err(storage_error)?;
        match found {
            Some(b) => Ok(Some(Arc::new(b))),
            None => Err(RpcError::pruned()),
        }
    }

    /// The block with this hash, if stored (`None` otherwise: an unknown hash is not an error).
    pub async fn block_by_hash(&self, hash: B256) -> Result<Option<Arc<StoredBlock>>, RpcError> {
        let found = self
            .store
            .read("reading a block by hash", move |s| {
                let Some(n) = s.block_number(&hash)? else {
                    return Ok(None);
                };
                Ok::<_, ReadError>(s.stored_block(n)?.filter(|b| b.hash == hash))
            })
            .await
            .map_err(storage_error)?;
        Ok(found.map(Arc::new))
    }

    /// Where a transaction is (block and index).
    pub async fn transaction(&self, hash: B256) -> Result<Option<TxLookup>, RpcError> {
        self.store
            .read("looking up a transaction", move |s| s.transaction(&hash))
            .await
            .map_err(storage_error)
    }

    /// The senders of every transaction in `block` (recovered on the blocking pool, cached).
    pub async fn senders(&self, block: Arc<StoredBlock>) -> Result<Vec<Address>, RpcError> {
        let cache = self.senders.clone();
        tokio::task::spawn_blocking(move || {
            let txs = full_txs(&block)?;
            cache.senders(txs)
        })
        .await
        .map_err(|e| RpcError::server(format!("recovering senders: {e}")))?
        .map_err(RpcError::server)
    }

    /// Runs `f` on the blocking pool with the store (log scans).
    pub async fn read<T: Send + 'static>(
        &self,
        what: &'static str,
        f: impl FnOnce(&crate::storage::Storage) -> Result<T, ReadError> + Send + 'static,
    ) -> Result<T, RpcError> {
        self.store.read(what, f).await.map_err(storage_error)
    }
}
