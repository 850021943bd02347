//! The counters of one sync run: what was fetched, from whom, what was stored, what failed.
//!
//! Owns [`SyncStats`], a cheap cloneable handle the fetch and process stages write into and the
//! progress reporter, the run report and the metrics read from. Counting only: it never decides
//! anything and never does I/O. Peers are named by their display form (`id@ip:port` or the id
//! alone), bounded by the pool's size, so the per-peer map stays small.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use serde::Serialize;

use crate::p2p::session::WireSize;

/// Shared counters of one sync run (clone to share).
#[derive(Debug, Clone)]
pub struct SyncStats {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    started: Instant,
    blocks_stored: AtomicU64,
    bytes_stored: AtomicU64,
    bytes_fetched: AtomicU64,
    frame_bytes_fetched: AtomicU64,
    peers: Mutex<BTreeMap<String, PeerCounts>>,
    verify_failures: Mutex<BTreeMap<&'static str, u64>>,
}

/// What one peer did for this run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PeerCounts {
    /// Requests answered (headers, bodies, receipts), including short and empty answers.
    pub requests: u64,
    /// Requests that failed: timeouts, errors, a disconnect.
    pub failed: u64,
    /// Bytes of the eth answer messages received (RLP after snappy decompression).
    pub bytes: u64,
    /// Answers whose data failed verification.
    pub bad_data: u64,
}

/// A point-in-time copy of [`SyncStats`], serialisable for the run report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyncStatsSnapshot {
    /// Seconds since the stats were created.
    pub elapsed_secs: f64,
    /// Verified blocks handed to storage.
    pub blocks_stored: u64,
    /// Their size in stored form, before compression.
    pub bytes_stored: u64,
    /// Bytes of the eth answer messages received from peers: their RLP after snappy
    /// decompression (what the eth soft limit counts).
    pub bytes_fetched: u64,
    /// The same answers' RLPx frame data as read from the socket (snappy-compressed, before
    /// frame padding and MACs): the bytes that crossed the wire.
    pub frame_bytes_fetched: u64,
    /// Per peer, by display name.
    pub peers: BTreeMap<String, PeerCounts>,
    /// Verification failures by kind (`transactions_root`, `receipts_root`, `parent_link`, ...).
    pub verify_failures: BTreeMap<String, u64>,
}

impl Default for SyncStats {
    fn default() -> Self {
        Self::new()
    }
}

impl SyncStats {
    /// Fresh counters, the clock starting now.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                started: Instant::now(),
                blocks_stored: AtomicU64::new(0),
                bytes_stored: AtomicU64::new(0),
                bytes_fetched: AtomicU64::new(0),
                frame_bytes_fetched: AtomicU64::new(0),
                peers: Mutex::new(BTreeMap::new()),
                verify_failures: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    /// `peer` answered a request with a message of `size`.
    pub fn record_answer(&self, peer: &str, size: WireSize) {
        self.inner
            .bytes_fetched
            .fetch_add(size.rlp, Ordering::Relaxed);
        self.inner
            .frame_bytes_fetched
            .fetch_add(size.frame, Ordering::Relaxed);
        let mut peers = self.peers();
        let p = peers.entry(peer.to_string()).or_default();
        p.requests += 1;
        p.bytes += size.rlp;
    }

    /// A request to `peer` failed (timeout, error, disconnect).
    pub fn record_failed_request(&self, peer: &str) {
        self.peers().entry(peer.to_string()).or_default().failed += 1;
    }

    /// `peer`'s data failed verification with a failure of `kind`.
    pub fn record_bad_data(&self, peer: &str, kind: &'static str) {
        ::metrics::counter!(crate::metrics::VERIFY_FAILURES, "kind" => kind).increment(1);
        self.peers().entry(peer.to_string()).or_default().bad_data += 1;
        *lock(&self.inner.verify_failures).entry(kind).or_default() += 1;
    }

    /// `blocks` verified blocks of `bytes` (their answers' eth RLP) were handed to storage; also
    /// the Prometheus counters the dashboard's ingest-rate panels read.
    pub fn record_stored(&self, blocks: u64, bytes: u64) {
        ::metrics::counter!(crate::metrics::BLOCKS_INGESTED).increment(blocks);
        ::metrics::counter!(crate::metrics::BYTES_INGESTED).increment(bytes);
        self.inner
            .blocks_stored
            .fetch_add(blocks, Ordering::Relaxed);
        self.inner.bytes_stored.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Blocks stored so far (cheap: for progress lines).
    pub fn blocks_stored(&self) -> u64 {
        self.inner.blocks_stored.load(Ordering::Relaxed)
    }

    /// Answer bytes received so far, as RLP (cheap: for progress lines).
    pub fn bytes_fetched(&self) -> u64 {
        self.inner.bytes_fetched.load(Ordering::Relaxed)
    }

    /// A copy of everything, for the run report.
    pub fn snapshot(&self) -> SyncStatsSnapshot {
        SyncStatsSnapshot {
            elapsed_secs: self.inner.started.elapsed().as_secs_f64(),
            blocks_stored: self.blocks_stored(),
            bytes_stored: self.inner.bytes_stored.load(Ordering::Relaxed),
            bytes_fetched: self.bytes_fetched(),
            frame_bytes_fetched: self.inner.frame_bytes_fetched.load(Ordering::Relaxed),
            peers: self.peers().clone(),
            verify_failures: lock(&self.inner.verify_failures)
                .iter()
                .map(|(k, v)| ((*k).to_string(), *v))
                .collect(),
        }
    }

    fn peers(&self) -> MutexGuard<'_, BTreeMap<String, PeerCounts>> {
        lock(&self.inner.peers)
    }
}

/// Counters stay usable after a panic elsewhere: a poisoned map is still a valid map.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_peer_and_per_kind() {
        let stats = SyncStats::new();
        let shared = stats.clone();
        shared.record_answer(
            "a",
            WireSize {
                rlp: 100,
                frame: 40,
            },
        );
        shared.record_answer("a", WireSize { rlp: 50, frame: 30 });
        shared.record_failed_request("b");
        shared.record_bad_data("b", "receipts_root");
        shared.record_stored(3, 900);
        let s = stats.snapshot();
        assert_eq!(s.bytes_fetched, 150);
        assert_eq!(s.frame_bytes_fetched, 70);
        assert_eq!(s.blocks_stored, 3);
        assert_eq!(s.bytes_stored, 900);
        assert_eq!(s.peers["a"].requests, 2);
        assert_eq!(
            s.peers["b"],
            PeerCounts {
                requests: 0,
                failed: 1,
                bytes: 0,
                bad_data: 1
            }
        );
        assert_eq!(s.verify_failures["receipts_root"], 1);
        let json = serde_json::to_value(&s).expect("serialises");
        assert_eq!(json["peers"]["a"]["bytes"], 150);
    }
}
