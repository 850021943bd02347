//! Inbound connections on `p2p.listen`: accept, run the handshake as recipient (a bounded number
//! at once), and hand the finished eth stream to the service. It never decides whether to keep
//! a peer (capacity, bans and duplicates are the service's call, made once the id is known).
//! Handshakes run on the pool's [`Tasks`], so the pool's shutdown awaits them.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

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

/// Accepts until cancelled, at most `concurrency` handshakes at once.
pub async fn run(
    listener: TcpListener,
    config: Arc<PeerConfig>,
    concurrency: usize,
    out: mpsc::UnboundedSender<Inbound>,
    tasks: Tasks,
    cancel: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
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
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let (config, out, cancel) = (config.clone(), out.clone(), cancel.clone());
        tasks.spawn(format!("inbound handshake {remote}"), async move {
            let _permit = permit;
            let result = tokio::select! {
                _ = cancel.cancelled() => return,
                r = session::accept(tcp, &config) => r,
            };
            let _ = out.send(Inbound { remote, result });
        });
    }
}
