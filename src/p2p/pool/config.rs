//! [`PoolConfig`]: the pool's limits and timers. Plain values with defaults; the daemon's wiring
//! (`daemon::node::settings`) builds it from `[p2p]` and `[sync]` (`max_peers`, `listen`,
//! `min_peers`). It must never read files, environment or the operator's config type itself.

use std::net::SocketAddr;
use std::time::Duration;

use crate::p2p::eth::limits::MAX_BLOCKS_PER_REQUEST;
use crate::p2p::session::SessionConfig;

/// Limits and timers of the peer pool.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Most sessions at once, inbound and outbound together (`p2p.max_peers`).
    pub max_peers: usize,
    /// Most inbound sessions at once (default half of `max_peers`, see [`Self::new`]). The other
    /// `max_peers - max_inbound` slots are only ever filled by dials we chose, so identities that
    /// cost nothing to make can't take every slot by dialling in.
    pub max_inbound: usize,
    /// Most inbound sessions from one IP address (exact address, loopback included: tests give
    /// each peer its own 127.x.y.z). Sessions we dialled don't count: we chose those.
    pub max_sessions_per_ip: usize,
    /// Usable peers (head known, not banned) needed before [`PoolEvent::Ready`]
    /// (`sync.min_peers`).
    ///
    /// [`PoolEvent::Ready`]: super::PoolEvent::Ready
    pub min_peers: usize,
    /// Where inbound sessions are accepted (`p2p.listen`); `None`: outbound only.
    pub listen: Option<SocketAddr>,
    /// Outbound handshakes in progress at once.
    pub dial_concurrency: usize,
    /// Inbound handshakes in progress at once (more wait in the kernel's backlog).
    pub inbound_concurrency: usize,
    /// Inbound handshakes in progress at once from one IP address; more connections from it are
    /// closed on accept, so one host can't take every handshake slot with silent connections.
    pub max_handshakes_per_ip: usize,
    /// The whole inbound handshake (RLPx auth, Hello, Status) must finish within this, whatever
    /// its step timeouts: a silent connection holds a handshake slot this long at most.
    pub inbound_handshake_budget: Duration,
    /// After an inbound connection from a public address, further connections from that address
    /// are closed on accept for this long (geth's 30 s): a host can't churn handshakes.
    pub inbound_throttle: Duration,
    /// Whether the per-address rules (the inbound throttle and address bans) apply to loopback
    /// and private (LAN) addresses too. Off by default, as geth exempts the LAN from throttling:
    /// a local testnet or a node beside its consensus client reconnects freely, and one bad
    /// local peer doesn't shut out the others on its host (its id is still banned).
    pub address_rules_on_local: bool,
    /// TCP connect limit (the handshake steps have their own, in `PeerConfig::timeouts`).
    pub connect_timeout: Duration,
    /// Timers of each session.
    pub session: SessionConfig,
    /// First wait before redialing a node that failed; doubles per consecutive failure.
    pub backoff_base: Duration,
    /// Longest wait between redials.
    pub backoff_max: Duration,
    /// Dial failures after which a discovered node is forgotten (static and cached nodes stay).
    pub max_dial_failures: u32,
    /// Nodes remembered as dial candidates.
    pub max_candidates: usize,
    /// How long a temporary ban (bad data, protocol breach) lasts.
    pub temp_ban: Duration,
    /// Networks (not node ids) that must report a head at or above a number before `head_seen`
    /// reaches it (capped at `min_peers`); see [`super::head_quorum`].
    pub head_quorum: usize,
    /// Head votes: IPv4 addresses sharing this many leading bits are one network (one vote).
    pub head_vote_prefix_v4: u8,
    /// Head votes: IPv6 addresses sharing this many leading bits are one network (one vote).
    pub head_vote_prefix_v6: u8,
    /// Blocks of tolerance above the chain's physical head bound (our clock may be behind):
    /// a claim above bound + slack is impossible and its peer penalised; see [`super::head_quorum`].
    pub head_slack_blocks: u64,
    /// How often peer heads are re-read and `head_seen` recomputed.
    pub head_interval: Duration,
    /// How often the pool looks for dial work besides its triggers.
    pub dial_interval: Duration,
    /// How often the peer cache is saved (it is also saved on shutdown).
    pub cache_interval: Duration,
    /// Most peers kept in the cache.
    pub cache_size: usize,
    /// How often the status line is logged.
    pub log_interval: Duration,
    /// Adaptive batch size: start, floor and ceiling (blocks per request).
    pub batch: BatchLimits,
    /// Requests one peer may have in flight through the pool's leases.
    pub max_in_flight: usize,
}

/// Bounds of the per-peer adaptive batch size.
#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    /// Size given to a new peer.
    pub initial: usize,
    /// Never below.
    pub min: usize,
    /// Never above (the protocol caps requests at 1024 items).
    pub max: usize,
    /// Answers faster than this that are complete grow the batch.
    pub fast: Duration,
}

impl Default for BatchLimits {
    fn default() -> Self {
        Self {
            initial: 128,
            min: 8,
            max: MAX_BLOCKS_PER_REQUEST,
            fast: Duration::from_secs(2),
        }
    }
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_peers: 50,
            max_inbound: 25,
            max_sessions_per_ip: 2,
            min_peers: 3,
            listen: None,
            dial_concurrency: 16,
            inbound_concurrency: 16,
            max_handshakes_per_ip: 2,
            inbound_handshake_budget: Duration::from_secs(5),
            inbound_throttle: Duration::from_secs(30),
            address_rules_on_local: false,
            connect_timeout: Duration::from_secs(5),
            session: SessionConfig::default(),
            backoff_base: Duration::from_secs(5),
            backoff_max: Duration::from_secs(600),
            max_dial_failures: 5,
            max_candidates: 4096,
            temp_ban: Duration::from_secs(30 * 60),
            head_quorum: 2,
            head_vote_prefix_v4: 24,
            head_vote_prefix_v6: 48,
            // 300 slots: an hour of clock skew.
            head_slack_blocks: 300,
            head_interval: Duration::from_secs(1),
            dial_interval: Duration::from_secs(1),
            cache_interval: Duration::from_secs(300),
            cache_size: 64,
            log_interval: Duration::from_secs(30),
            batch: BatchLimits::default(),
            max_in_flight: 2,
        }
    }
}

impl PoolConfig {
    /// Defaults with the operator's peer limits and listen address; half the slots (rounded
    /// down) may be inbound, the rest are kept for our dials.
    pub fn new(max_peers: usize, min_peers: usize, listen: Option<SocketAddr>) -> Self {
        Self {
            max_peers,
            max_inbound: max_peers / 2,
            min_peers,
            listen,
            ..Self::default()
        }
    }

    /// The redial wait after `failures` consecutive failures (0 → none).
    pub fn backoff(&self, failures: u32) -> Duration {
        if failures == 0 {
            return Duration::ZERO;
        }
        let factor = 1u32 << (failures - 1).min(16);
        self.backoff_base
            .saturating_mul(factor)
            .min(self.backoff_max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let c = PoolConfig::default();
        assert_eq!(c.backoff(0), Duration::ZERO);
        assert_eq!(c.backoff(1), Duration::from_secs(5));
        assert_eq!(c.backoff(3), Duration::from_secs(20));
        assert_eq!(c.backoff(40), Duration::from_secs(600));
    }

    #[test]
    fn half_the_slots_may_be_inbound() {
        let d = PoolConfig::default();
        assert_eq!((d.max_peers, d.max_inbound), (50, 25));
        let c = PoolConfig::new(7, 2, None);
        assert_eq!((c.max_peers, c.max_inbound), (7, 3));
        // A single slot is an outbound one: nothing dials in to a pool of one.
        assert_eq!(PoolConfig::new(1, 1, None).max_inbound, 0);
    }
}
