//! [`StoragePeerCache`]: the pool's [`PeerCache`] kept in the storage index (`index.redb`).
//!
//! Owns only the adaptation: the pool's byte format ([`encode`]/[`decode`]) stored through
//! storage's neutral bytes API (`peer_cache` / `set_peer_cache`, the `peer_cache` redb table,
//! unchanged so existing data directories load their cache), and the same for the pool's saved
//! bans (`peer_bans` / `set_peer_bans`). It lives in the node's wiring because
//! p2p must not import storage and storage must not know p2p's records. It never picks peers.

use std::sync::Arc;

use crate::p2p::pool::cache::{decode, encode};
use crate::p2p::pool::saved_bans::{self, SavedBan};
use crate::p2p::pool::{CacheError, CachedPeer, PeerCache};
use crate::storage::{Storage, StoreHandle};

/// The cache in the storage index, committed durably on every save.
#[derive(Debug, Clone)]
pub struct StoragePeerCache(pub Arc<Storage>);

impl PeerCache for StoragePeerCache {
    fn load(&self) -> Result<Vec<CachedPeer>, CacheError> {
        match self
            .0
            .peer_cache()
            .map_err(|e| CacheError::Read(Box::new(e)))?
        {
            Some(bytes) => decode(&bytes),
            None => Ok(Vec::new()),
        }
    }

    fn save(&self, peers: &[CachedPeer]) -> Result<(), CacheError> {
        self.0
            .set_peer_cache(&encode(peers))
            .map_err(|e| CacheError::Write(Box::new(e)))
    }

    fn load_bans(&self) -> Result<Vec<SavedBan>, CacheError> {
        match self
            .0
            .peer_bans()
            .map_err(|e| CacheError::Read(Box::new(e)))?
        {
            Some(bytes) => saved_bans::decode(&bytes),
            None => Ok(Vec::new()),
        }
    }

    fn save_bans(&self, bans: &[SavedBan]) -> Result<(), CacheError> {
        self.0
            .set_peer_bans(&saved_bans::encode(bans))
            .map_err(|e| CacheError::Write(Box::new(e)))
    }
}

/// [`StoragePeerCache`] reached through the store handle; saves take the single writer's turn.
#[derive(Debug, Clone)]
pub struct HandlePeerCache(pub StoreHandle);

impl PeerCache for HandlePeerCache {
    fn load(&self) -> Result<Vec<CachedPeer>, CacheError> {
        self.0
            .blocking_shared("loading the peer cache", false, |s| {
                StoragePeerCache(s.clone()).load()
            })
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "peer cache not loaded");
                Ok(Vec::new())
            })
    }

    fn save(&self, peers: &[CachedPeer]) -> Result<(), CacheError> {
        self.0
            .blocking_shared("saving the peer cache", true, |s| {
                StoragePeerCache(s.clone()).save(peers)
            })
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "peer cache not saved");
                Ok(())
            })
    }

    fn load_bans(&self) -> Result<Vec<SavedBan>, CacheError> {
        self.0
            .blocking_shared("loading the saved bans", false, |s| {
                StoragePeerCache(s.clone()).load_bans()
            })
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "saved bans not loaded");
                Ok(Vec::new())
            })
    }

    fn save_bans(&self, bans: &[SavedBan]) -> Result<(), CacheError> {
        self.0
            .blocking_shared("saving the bans", true, |s| {
                StoragePeerCache(s.clone()).save_bans(bans)
            })
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "bans not saved");
                Ok(())
            })
    }
}
