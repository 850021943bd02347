//! Outbound connections: the book of nodes we could dial (cached, static, discovered), which one
//! to try next with backoff after failures, and the dial itself (TCP connect with a limit, then
//! the session handshake). Static nodes are never forgotten and wait at most
//! [`STATIC_BACKOFF_MAX`] between dials. It never keeps sessions and never ranks connected peers (the service
//! and [`super::ranking`] do).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use super::config::PoolConfig;
use crate::p2p::discovery::{NodeRecord, Source};
use crate::p2p::rlpx::PeerId;
use crate::p2p::session::{self, EthStream, EthStreamError, PeerConfig};

/// Longest wait between dials of a static peer, whatever `backoff_max` says: the operator named
/// it, so it is redialled for as long as we run (as geth does) and found again within minutes
/// once it comes back.
pub const STATIC_BACKOFF_MAX: Duration = Duration::from_secs(5 * 60);

/// Where a candidate came from; lower dials first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Origin {
    /// The peer cache (good peers of a previous run).
    Cached,
    /// `p2p.static_peers`.
    Static,
    /// DNS lists or discv4.
    Discovered,
}

impl Origin {
    /// From a discovery source.
    pub fn from_source(source: Source) -> Self {
        match source {
            Source::Static => Self::Static,
            Source::Dns | Source::Discv4 => Self::Discovered,
        }
    }

    /// Kept however often it fails (retried with capped backoff).
    fn sticky(self) -> bool {
        matches!(self, Self::Cached | Self::Static)
    }
}

#[derive(Debug, Clone)]
struct Candidate {
    record: NodeRecord,
    origin: Origin,
    failures: u32,
    next_attempt: Instant,
    seq: u64,
}

/// Nodes we may dial, with their failure history.
#[derive(Debug, Default)]
pub struct DialBook {
    candidates: HashMap<PeerId, Candidate>,
    seq: u64,
}

impl DialBook {
    /// Adds or refreshes a node. A better origin or a new address replaces the old entry's;
    /// failure history is kept. Returns whether the node was new. When the book is full, the
    /// most failed non-sticky node makes room (or the new one is dropped).
    pub fn add(&mut self, record: NodeRecord, origin: Origin, now: Instant, cap: usize) -> bool {
        if let Some(c) = self.candidates.get_mut(&record.id) {
            c.record = record;
            c.origin = c.origin.min(origin);
            return false;
        }
        if self.candidates.len() >= cap && !self.evict_one() && !origin.sticky() {
            return false;
        }
        self.seq += 1;
        self.candidates.insert(
            record.id,
            Candidate {
                record,
                origin,
                failures: 0,
                next_attempt: now,
                seq: self.seq,
            },
        );
        true
    }

    fn evict_one(&mut self) -> bool {
        let victim = self
            .candidates
            .values()
            .filter(|c| !c.origin.sticky())
            .max_by_key(|c| (c.failures, c.seq))
            .map(|c| c.record.id);
        victim.is_some_and(|id| self.candidates.remove(&id).is_some())
    }

    /// Up to `n` nodes due at `now` that `skip` does not exclude (connected, dialing, banned,
    /// ourselves): cached first, then static, then discovered; fewer failures and older first.
    pub fn due(
        &self,
        now: Instant,
        n: usize,
        skip: impl Fn(&NodeRecord) -> bool,
    ) -> Vec<NodeRecord> {
        let mut due: Vec<&Candidate> = self
            .candidates
            .values()
            .filter(|c| c.next_attempt <= now && !skip(&c.record) && c.record.tcp_port != 0)
            .collect();
        due.sort_by_key(|c| (c.origin, c.failures, c.seq));
        due.into_iter().take(n).map(|c| c.record).collect()
    }

    /// A dial failed: back off, or forget a non-sticky node after `max_dial_failures`.
    pub fn failed(&mut self, id: &PeerId, now: Instant, config: &PoolConfig) {
        let Some(c) = self.candidates.get_mut(id) else {
            return;
        };
        c.failures = c.failures.saturating_add(1);
        if !c.origin.sticky() && c.failures >= config.max_dial_failures {
            self.candidates.remove(id);
            return;
        }
        let wait = config.backoff(c.failures);
        c.next_attempt = now
            + match c.origin {
                Origin::Static => wait.min(STATIC_BACKOFF_MAX),
                Origin::Cached | Origin::Discovered => wait,
            };
    }

    /// A session with the node ended: wait before dialing it again (`failed`: it ended badly,
    /// which counts as a failure).
    pub fn ended(&mut self, id: &PeerId, failed: bool, now: Instant, config: &PoolConfig) {
        if failed {
            return self.failed(id, now, config);
        }
        if let Some(c) = self.candidates.get_mut(id) {
            c.failures = 0;
            c.next_attempt = now + config.backoff_base;
        }
    }

    /// Consecutive dial failures of a node (0 if unknown).
    pub fn failures(&self, id: &PeerId) -> u32 {
        self.candidates.get(id).map_or(0, |c| c.failures)
    }

    /// Forgets a node (banned for good).
    pub fn remove(&mut self, id: &PeerId) {
        self.candidates.remove(id);
    }

    /// Nodes in the book.
    pub fn len(&self) -> usize {
        self.candidates.len()
    }

    /// Whether the book is empty.
    pub fn is_empty(&self) -> bool {
        self.candidates.is_empty()
    }
}

/// Why a dial failed.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// TCP connect failed.
    #[error("connecting to {addr}: {source}")]
    Connect {
        /// Where.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// TCP connect took too long.
    #[error("connecting to {addr}: no answer within {after:?}")]
    ConnectTimeout {
        /// Where.
        addr: SocketAddr,
        /// The limit.
        after: Duration,
    },
    /// RLPx, Hello or Status failed.
    #[error("handshake with {addr}: {source}")]
    Handshake {
        /// Where.
        addr: SocketAddr,
        /// Why.
        source: EthStreamError,
    },
}

impl DialError {
    /// The handshake error, if it got that far.
    pub fn handshake_error(&self) -> Option<&EthStreamError> {
        match self {
            Self::Handshake { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Connects to `record` and runs the whole handshake as initiator.
pub async fn dial(
    record: NodeRecord,
    config: &PeerConfig,
    connect_timeout: Duration,
) -> Result<EthStream<TcpStream>, DialError> {
    let addr = record.tcp_addr();
    let tcp = tokio::time::timeout(connect_timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| DialError::ConnectTimeout {
            addr,
            after: connect_timeout,
        })?
        .map_err(|source| DialError::Connect { addr, source })?;
    let _ = tcp.set_nodelay(true);
    session::dial(tcp, record.id, config)
        .await
        .map_err(|source| DialError::Handshake { addr, source })
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;

    fn rec(b: u8) -> NodeRecord {
        NodeRecord::new(
            PeerId::repeat_byte(b),
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            30303,
        )
    }

    #[test]
    fn cached_first_backoff_and_forgetting() {
        let config = PoolConfig {
            max_dial_failures: 2,
            ..PoolConfig::default()
        };
        let now = Instant::now();
        let mut book = DialBook::default();
        assert!(book.add(rec(1), Origin::Discovered, now, 10));
        assert!(book.add(rec(2), Origin::Cached, now, 10));
        assert!(book.add(rec(3), Origin::Static, now, 10));
        assert!(!book.add(rec(1), Origin::Discovered, now, 10));
        let ids: Vec<u8> = book
            .due(now, 10, |_| false)
            .iter()
            .map(|r| r.id[0])
            .collect();
        assert_eq!(ids, vec![2, 3, 1]);
        assert_eq!(book.due(now, 10, |r| r.id[0] == 2).len(), 2);

        book.failed(&PeerId::repeat_byte(1), now, &config);
        book.failed(&PeerId::repeat_byte(3), now, &config);
        let ids: Vec<u8> = book
            .due(now, 10, |_| false)
            .iter()
            .map(|r| r.id[0])
            .collect();
        assert_eq!(ids, vec![2]);
        let later = now + Duration::from_secs(6);
        assert_eq!(book.due(later, 10, |_| false).len(), 3);
        // Discovered nodes are forgotten after max failures; static ones stay.
        book.failed(&PeerId::repeat_byte(1), later, &config);
        book.failed(&PeerId::repeat_byte(3), later, &config);
        assert_eq!(book.len(), 2);
    }

    #[test]
    fn a_static_peer_is_kept_and_redialled_within_the_static_cap() {
        let config = PoolConfig {
            max_dial_failures: 2,
            backoff_max: Duration::from_secs(3600),
            ..PoolConfig::default()
        };
        let now = Instant::now();
        let mut book = DialBook::default();
        book.add(rec(1), Origin::Static, now, 10);
        book.add(rec(2), Origin::Cached, now, 10);
        for _ in 0..40 {
            book.failed(&PeerId::repeat_byte(1), now, &config);
            book.failed(&PeerId::repeat_byte(2), now, &config);
        }
        // Doubling from 5 s with the hour cap would wait an hour; static stops at five minutes.
        let ids: Vec<u8> = book
            .due(now + STATIC_BACKOFF_MAX, 10, |_| false)
            .iter()
            .map(|r| r.id[0])
            .collect();
        assert_eq!(ids, vec![1]);
        assert!(
            book.due(
                now + STATIC_BACKOFF_MAX - Duration::from_secs(1),
                10,
                |_| false
            )
            .is_empty()
        );
        assert_eq!(book.failures(&PeerId::repeat_byte(1)), 40);
    }

    #[test]
    fn full_book_evicts_the_most_failed_discovered_node() {
        let config = PoolConfig::default();
        let now = Instant::now();
        let mut book = DialBook::default();
        book.add(rec(1), Origin::Discovered, now, 2);
        book.add(rec(2), Origin::Discovered, now, 2);
        book.failed(&PeerId::repeat_byte(1), now, &config);
        assert!(book.add(rec(3), Origin::Discovered, now, 2));
        assert_eq!(book.len(), 2);
        assert!(
            book.due(now + Duration::from_secs(3600), 10, |_| false)
                .iter()
                .all(|r| r.id[0] != 1)
        );
    }
}
