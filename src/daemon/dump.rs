//! The `SIGUSR1` state dump: named sources that describe their part of the running daemon.
//!
//! Owns the registry of dump sources (a worker registers a closure for as long as it runs and the
//! returned [`Registration`] removes it when dropped) and the pool's source (head evidence and
//! sessions from the pool snapshot). The runner logs every source, one line each, when SIGUSR1
//! arrives. A source must only read (a snapshot, an atomic, a watch value): it runs on the
//! machine's task and must never block, await, lock anything a worker holds for long, or change
//! what it describes.
//!
//! The registry is process-global so a worker deep in `node` can add its source without the
//! [`PhaseWorkers`](super::workers::PhaseWorkers) interface changing; the fast-sync and follow
//! workers add theirs (scheduler cursor and queues, reorder buffer) the same way.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};

use crate::p2p::pool::PoolHandle;

/// A source: what it knows now, as JSON.
pub type Source = Arc<dyn Fn() -> Value + Send + Sync>;

static SOURCES: Mutex<BTreeMap<u64, (&'static str, Source)>> = Mutex::new(BTreeMap::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

fn sources() -> MutexGuard<'static, BTreeMap<u64, (&'static str, Source)>> {
    // A panic inside a source cannot leave the map half-changed (inserts and removes are single
    // calls), so a poisoned lock is still a consistent map.
    SOURCES.lock().unwrap_or_else(|p| p.into_inner())
}

/// Keeps a source registered; dropping it removes the source.
#[derive(Debug)]
#[must_use = "the source is removed when the registration is dropped"]
pub struct Registration(u64);

impl Drop for Registration {
    fn drop(&mut self) {
        sources().remove(&self.0);
    }
}

/// Register `source` under `name` until the returned registration is dropped.
pub fn register(
    name: &'static str,
    source: impl Fn() -> Value + Send + Sync + 'static,
) -> Registration {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    sources().insert(id, (name, Arc::new(source)));
    Registration(id)
}

/// Every registered source's current description, in registration order.
pub fn collect() -> Vec<(&'static str, Value)> {
    // Clone the closures out first: a source never runs under the registry lock.
    let current: Vec<(&'static str, Source)> =
        sources().values().map(|(n, s)| (*n, s.clone())).collect();
    current.into_iter().map(|(n, s)| (n, s())).collect()
}

/// The pool's source: head evidence (`head_seen`, each session's head) and sessions with their
/// requests in flight.
pub fn pool_source(pool: PoolHandle) -> impl Fn() -> Value + Send + Sync + 'static {
    move || {
        let snap = pool.snapshot();
        let peers: Vec<Value> = snap
            .peers
            .iter()
            .map(|p| {
                json!({
                    "id": p.id.to_string(),
                    "client": p.client_id,
                    "version": p.version.to_string(),
                    "direction": p.direction.as_str(),
                    "head": p.head.as_ref().map(|h| h.number.get()),
                    "head_hash": p.head.as_ref().map(|h| h.hash.to_string()),
                    "in_flight": p.in_flight,
                    "usable": p.usable,
                })
            })
            .collect();
        json!({
            "head_seen": snap.head_seen.map(|h| h.get()),
            "ready": snap.ready,
            "sessions": snap.peers.len(),
            "usable": snap.usable,
            "bans": snap.bans.len(),
            "candidates": snap.candidates,
            "dials": snap.dials,
            "dial_failures": snap.dial_failures,
            "by_client": snap.by_client(),
            "by_version": snap.by_version(),
            "peers": peers,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_lives_as_long_as_its_registration() {
        let reg = register("unit_test_source", || json!({"cursor": 7}));
        assert!(
            collect()
                .iter()
                .any(|(n, v)| *n == "unit_test_source" && v["cursor"] == 7)
        );
        drop(reg);
        assert!(!collect().iter().any(|(n, _)| *n == "unit_test_source"));
    }
}
