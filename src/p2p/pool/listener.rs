//! Inbound connections on `p2p.listen`: accept, run the handshake as recipient (a bounded number
//! at once, a bounded number per IP address, each within one time budget, one connection per
//! public address per throttle period, none from a banned address), and hand the finished
//! eth stream to the service. Before a node id is known, the address is all a connection has, so
//! the limits here are per address and per time; it never decides whether to keep a peer
//! (session slots, bans and duplicates are the service's call, made once the id is known).
//! Handshakes run on the pool's [`Tasks`], so the pool's shutdown awaits them.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use super::address;
use super::config::PoolConfig;
use super::state::Shared;
use crate::metrics as names;
use crate::p2p::session::{self, EthStream, EthStreamError, PeerConfig};
use crate::p2p::tasks::Tasks;

/// A finished inbound handshake.
#[derive(Debug)]
pub struct Inbound {
    /// Remote address.
    pub remote: SocketAddr,
    /// The eth stream, or why the handshake failed.
    pub result: Result<EthStream<TcpStream>, EthStreamError>,
}

/// The listener's share of [`PoolConfig`].
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Handshakes in progress at once.
    pub concurrency: usize,
    /// Handshakes in progress at once from one IP address.
    pub per_ip: usize,
    /// Time for the whole handshake.
    pub budget: Duration,
    /// Quiet period after a connection from one address.
    pub throttle: Duration,
    /// Apply the throttle to loopback and private addresses too.
    pub on_local: bool,
}

impl From<&PoolConfig> for Limits {
    fn from(c: &PoolConfig) -> Self {
        Self {
            concurrency: c.inbound_concurrency,
            per_ip: c.max_handshakes_per_ip,
            budget: c.inbound_handshake_budget,
            throttle: c.inbound_throttle,
            on_local: c.address_rules_on_local,
        }
    }
}

/// Handshakes in progress per address; an entry goes when its last handshake ends.
#[derive(Debug, Default, Clone)]
struct PerIp(Arc<Mutex<HashMap<IpAddr, usize>>>);

/// One handshake counted in [`PerIp`] until dropped.
#[derive(Debug)]
struct IpSlot {
    table: PerIp,
    ip: IpAddr,
}

impl PerIp {
    /// A slot for `ip` if it has fewer than `cap` handshakes in progress.
    fn take(&self, ip: IpAddr, cap: usize) -> Option<IpSlot> {
        // Counting stays consistent even if a holder panicked: poisoning is ignored.
        let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = t.entry(ip).or_insert(0);
        if *n >= cap {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            table: self.clone(),
            ip,
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut t = self.table.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = t.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                t.remove(&self.ip);
            }
        }
    }
}

/// Addresses that connected within the throttle period, and when.
#[derive(Debug)]
struct Throttle {
    period: Duration,
    local_too: bool,
    seen: HashMap<IpAddr, Instant>,
}

/// Forget addresses past their period at most this often (the map stays bounded by the rate of
/// accepts times the period).
const THROTTLE_SWEEP: Duration = Duration::from_secs(5);

impl Throttle {
    fn new(period: Duration, local_too: bool) -> Self {
        Self {
            period,
            local_too,
            seen: HashMap::new(),
        }
    }

    /// Whether a connection from `ip` at `now` may go on; it starts `ip`'s quiet period if so.
    /// A refused connection does not extend the period, so a retry after it succeeds.
    fn admit(&mut self, ip: IpAddr, now: Instant) -> bool {
        if self.period.is_zero() || !address::rules_apply(ip, self.local_too) {
            return true;
        }
        match self.seen.get(&ip) {
            Some(at) if now.duration_since(*at) < self.period => false,
            _ => {
                self.seen.insert(ip, now);
                true
            }
        }
    }

    /// Drop the entries whose period is over.
    fn sweep(&mut self, now: Instant) {
        let period = self.period;
        self.seen.retain(|_, at| now.duration_since(*at) < period);
    }
}

/// Accepts until cancelled, within `limits`.
pub async fn run(
    listener: TcpListener,
    config: Arc<PeerConfig>,
    limits: Limits,
    shared: Arc<Shared>,
    out: mpsc::UnboundedSender<Inbound>,
    tasks: Tasks,
    cancel: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(limits.concurrency.max(1)));
    let per_ip = PerIp::default();
    let mut throttle = Throttle::new(limits.throttle, limits.on_local);
    let mut last_sweep = Instant::now();
    loop {
        let permit = tokio::select! {
            _ = cancel.cancelled() => return,
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let (tcp, remote) = tokio::select! {
            _ = cancel.cancelled() => return,
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "accepting an inbound connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let now = Instant::now();
        if now.duration_since(last_sweep) >= THROTTLE_SWEEP {
            throttle.sweep(now);
            last_sweep = now;
        }
        if shared.address_banned(remote.ip(), now) {
            ::metrics::counter!(names::POOL_INBOUND, "result" => "address_banned").increment(1);
            tracing::debug!(%remote, "inbound connection closed: its address is banned");
            drop(tcp);
            continue;
        }
        if !throttle.admit(remote.ip(), now) {
            ::metrics::counter!(names::POOL_INBOUND, "result" => "throttled").increment(1);
            tracing::debug!(%remote, period = ?limits.throttle, "inbound connection closed: its address connected moments ago");
            drop(tcp);
            continue;
        }
        // One host must not hold every handshake slot: past its share, close at once (the
        // permit goes back with this iteration).
        let Some(ip_slot) = per_ip.take(remote.ip(), limits.per_ip.max(1)) else {
            ::metrics::counter!(names::POOL_INBOUND, "result" => "ip_handshakes").increment(1);
            tracing::debug!(%remote, "inbound connection closed: too many handshakes from its address");
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let (config, out, cancel) = (config.clone(), out.clone(), cancel.clone());
        tasks.spawn(format!("inbound handshake {remote}"), async move {
            let _permit = permit;
            let _ip_slot = ip_slot;
            let started = Instant::now();
            // The step timeouts add up to far more than the budget: a silent peer is cut off
            // by the budget, whichever step it stalls in.
            let result = tokio::select! {
                _ = cancel.cancelled() => return,
                r = tokio::time::timeout(limits.budget, session::accept(tcp, &config)) => r,
            };
            ::metrics::histogram!(names::POOL_INBOUND_HANDSHAKE_SECONDS)
                .record(started.elapsed().as_secs_f64());
            match result {
                Ok(result) => {
                    let _ = out.send(Inbound { remote, result });
                }
                Err(_) => {
                    ::metrics::counter!(names::POOL_INBOUND, "result" => "handshake_timeout")
                        .increment(1);
                    tracing::debug!(%remote, budget = ?limits.budget, "inbound handshake over its time budget");
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_ip_slots_are_capped_and_given_back() {
        let t = PerIp::default();
        let (a, b): (IpAddr, IpAddr) = ("127.0.0.1".parse().unwrap(), "127.0.0.2".parse().unwrap());
        let s1 = t.take(a, 2).unwrap();
        let s2 = t.take(a, 2).unwrap();
        assert!(t.take(a, 2).is_none());
        let _other = t.take(b, 2).unwrap();
        drop(s1);
        let s3 = t.take(a, 2).unwrap();
        drop((s2, s3));
        assert!(!t.0.lock().unwrap().contains_key(&a), "empty entries go");
    }

    #[test]
    fn a_public_address_waits_out_its_period_and_local_ones_are_exempt() {
        let period = Duration::from_secs(30);
        let mut t = Throttle::new(period, false);
        let start = Instant::now();
        let public: IpAddr = "203.0.113.7".parse().unwrap();
        let other: IpAddr = "198.51.100.1".parse().unwrap();
        assert!(t.admit(public, start));
        assert!(!t.admit(public, start + Duration::from_secs(29)));
        assert!(
            t.admit(other, start + Duration::from_secs(1)),
            "per address"
        );
        // A refused attempt does not extend the period.
        assert!(t.admit(public, start + period));
        for local in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.9",
            "::1",
            "fd00::1",
            "::ffff:10.0.0.1",
        ] {
            let ip: IpAddr = local.parse().unwrap();
            assert!(
                t.admit(ip, start) && t.admit(ip, start),
                "{local} is exempt"
            );
        }
        let mut strict = Throttle::new(period, true);
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(strict.admit(lo, start));
        assert!(!strict.admit(lo, start), "local addresses when asked");
        assert!(
            Throttle::new(Duration::ZERO, true).admit(lo, start),
            "zero turns it off"
        );
    }

    #[test]
    fn expired_entries_are_swept() {
        let mut t = Throttle::new(Duration::from_secs(30), true);
        let start = Instant::now();
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        t.admit(ip, start);
        t.sweep(start + Duration::from_secs(10));
        assert_eq!(t.seen.len(), 1);
        t.sweep(start + Duration::from_secs(30));
        assert!(t.seen.is_empty());
    }
}
