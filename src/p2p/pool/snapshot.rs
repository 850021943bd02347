//! What the pool publishes: a [`PoolSnapshot`] of every session (read cheaply through a `watch`
//! of `Arc`s by the head tracker and the scheduler) and the [`PoolEvent`]s the daemon reacts to.
//! Plain data: building and publishing them is the service's job.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use super::bans::Ban;
use super::peer::Quality;
use crate::p2p::discovery::NodeRecord;
use crate::p2p::eth::{BlockRange, EthVersion};
use crate::p2p::rlpx::PeerId;
use crate::p2p::session::PeerHead;
use crate::primitives::BlockNumber;

/// Who opened the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// We dialled it.
    Outbound,
    /// It dialled us.
    Inbound,
}

impl Direction {
    /// Label for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Outbound => "outbound",
            Self::Inbound => "inbound",
        }
    }
}

/// One session as the pool sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerInfo {
    /// Node id.
    pub id: PeerId,
    /// Client name from Hello.
    pub client_id: String,
    /// Negotiated eth version.
    pub version: EthVersion,
    /// Who dialled.
    pub direction: Direction,
    /// Where we dialled it (outbound only).
    pub record: Option<NodeRecord>,
    /// The address the session comes from (its network is what quorum rules count).
    pub ip: std::net::IpAddr,
    /// Its head, once resolved.
    pub head: Option<PeerHead>,
    /// The blocks it serves (eth/69).
    pub served: Option<BlockRange>,
    /// Measured quality.
    pub quality: Quality,
    /// Requests in flight through leases.
    pub in_flight: usize,
    /// Head known and not banned: counts towards `min_peers` and may be asked for data.
    pub usable: bool,
    /// When the session started.
    pub connected_at: Instant,
}

/// Everything the pool knows, at one moment.
#[derive(Debug, Clone, Default)]
pub struct PoolSnapshot {
    /// Sessions, best score first.
    pub peers: Vec<PeerInfo>,
    /// Peers that are usable.
    pub usable: usize,
    /// `head_seen` by the rule of [`super::head_quorum`], monotonic.
    pub head_seen: Option<BlockNumber>,
    /// At least `min_peers` usable peers.
    pub ready: bool,
    /// Bans in force (an expired temporary ban may linger here until the next head tick).
    pub bans: Arc<Vec<(PeerId, Ban)>>,
    /// Dial attempts so far.
    pub dials: u64,
    /// Dial attempts that failed.
    pub dial_failures: u64,
    /// Inbound sessions accepted so far.
    pub inbound: u64,
    /// Nodes known as dial candidates.
    pub candidates: usize,
}

impl PoolSnapshot {
    /// The session with `id`, if connected.
    pub fn peer(&self, id: &PeerId) -> Option<&PeerInfo> {
        self.peers.iter().find(|p| &p.id == id)
    }

    /// Whether `id` is banned.
    pub fn is_banned(&self, id: &PeerId) -> bool {
        self.bans.iter().any(|(b, _)| b == id)
    }

    /// Sessions per client name (the part of the Hello client id before the first `/`).
    pub fn by_client(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for p in &self.peers {
            *m.entry(client_name(&p.client_id)).or_insert(0) += 1;
        }
        m
    }

    /// Sessions per eth version.
    pub fn by_version(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for p in &self.peers {
            *m.entry(p.version.to_string()).or_insert(0) += 1;
        }
        m
    }
}

/// A bounded label from a Hello client id: `Geth/v1.14.0-stable/linux-amd64/go1.22` → `geth`.
pub fn client_name(client_id: &str) -> String {
    let name: String = client_id
        .split('/')
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(24)
        .collect::<String>()
        .to_ascii_lowercase();
    if name.is_empty() {
        "unknown".into()
    } else {
        name
    }
}

/// What the pool tells its owner. Also visible in the snapshot, so a consumer that misses one
/// (the channel is bounded and never blocks the pool) can catch up from there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolEvent {
    /// `min_peers` usable peers exist (again); `best_head` is `head_seen` then.
    Ready {
        /// Usable peers.
        peers: usize,
        /// `head_seen`.
        best_head: BlockNumber,
    },
    /// Usable peers fell below `min_peers`.
    Lost {
        /// Usable peers left.
        peers: usize,
    },
    /// Sessions or usable peers changed.
    PeerCountChanged {
        /// Sessions.
        connected: usize,
        /// Usable peers.
        usable: usize,
    },
    /// `head_seen` rose (only reported while ready).
    HeadSeen {
        /// The new value.
        head_seen: BlockNumber,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_names_are_bounded_labels() {
        assert_eq!(
            client_name("Geth/v1.14.0-stable/linux-amd64/go1.22"),
            "geth"
        );
        assert_eq!(client_name("Nethermind/v1.28"), "nethermind");
        assert_eq!(client_name(""), "unknown");
        assert_eq!(client_name("\u{1F600}{}\"/x"), "unknown");
        assert_eq!(client_name(&"a".repeat(100)).len(), 24);
    }
}
