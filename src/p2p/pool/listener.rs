//! Inbound connections on `p2p.listen`: accept, run the handshake as recipient (a bounded number
//! at once, a bounded number per IP address, each within one time budget), and hand the finished
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

use super::config::PoolConfig;
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
}

impl From<&PoolConfig> for Limits {
    fn from(c: &PoolConfig) -> Self {
        Self {
            concurrency: c.inbound_concurrency,
            per_ip: c.max_handshakes_per_ip,
            budget: c.inbound_handshake_budget,
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

/// Accepts until cancelled, within `limits`.
pub async fn run(
    listener: TcpListener,
    config: Arc<PeerConfig>,
    limits: Limits,
    out: mpsc::UnboundedSender<Inbound>,
    tasks: Tasks,
    cancel: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(limits.concurrency.max(1)));
    let per_ip = PerIp::default();
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
}
