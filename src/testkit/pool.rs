//! Peer pool test support: a small synthetic chain with its spec, in-process devp2p peers that
//! accept real RLPx sessions on loopback and serve history (optionally slowly, or claiming a head
//! they do not have, or on another chain or fork), and ways to cut them off mid-request or disconnect them.
//!
//! Peers here are real sessions (`session::accept` + `session::spawn`); only their behaviour is
//! chosen by the test.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy_primitives::{B256, U256};
use tokio::net::{TcpListener, TcpSocket};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::p2p::base::DisconnectReason;
use crate::p2p::chain::{ChainSpec, ForkHead, ForkId};
use crate::p2p::discovery::NodeRecord;
use crate::p2p::eth::{BlockRange, GetBlockHeaders};
use crate::p2p::node_key::NodeKey;
use crate::p2p::session::{
    self, EmptyHistory, EthStreamError, HistoryProvider, PeerConfig, SessionConfig, SessionHandle,
    StatusInputs,
};
use crate::primitives::{BlockNumber, Body, Header, Receipt, VerifiedBlock};
use crate::testkit::chain::ChainGen;
use crate::testkit::history::MemoryHistory;

/// A synthetic chain and its spec (no forks, so every head has the same fork id).
#[derive(Debug, Clone)]
pub struct TestChain {
    /// Blocks `0 ..= len-1`.
    pub blocks: Vec<VerifiedBlock>,
    /// Its spec (genesis = block 0).
    pub spec: ChainSpec,
}

impl TestChain {
    /// `len` blocks from `seed`.
    pub fn new(seed: u64, len: u64) -> Self {
        let blocks = ChainGen::new(seed).chain(BlockNumber(0), len, B256::ZERO);
        let spec = ChainSpec::new(
            format!("pooltest-{seed}"),
            1337,
            1337,
            blocks[0].hash(),
            0,
            U256::from(1u64),
            [],
        );
        Self { blocks, spec }
    }

    /// Status inputs of a node serving `0 ..= head`.
    pub fn inputs_at(&self, head: u64) -> StatusInputs {
        let b = &self.blocks[head as usize];
        self.inputs_claiming(BlockRange {
            earliest: BlockNumber(0),
            latest: b.number(),
            latest_hash: b.hash(),
        })
    }

    /// Status inputs announcing `served`, true or not.
    pub fn inputs_claiming(&self, served: BlockRange) -> StatusInputs {
        StatusInputs {
            filter: self.spec.fork_filter(ForkHead::new(served.latest, 0)),
            served,
            spec: self.spec.clone(),
        }
    }

    /// Status inputs of a node serving `0 ..= head` but announcing `fork_id`: same network and
    /// genesis, another fork (a node running another release of this chain).
    pub fn inputs_with_fork_id(&self, head: u64, fork_id: ForkId) -> StatusInputs {
        let mut inputs = self.inputs_at(head);
        inputs.filter.set_current_fork_id(fork_id);
        inputs
    }

    /// A history provider holding `0 ..= head`.
    pub fn history_to(&self, head: u64) -> MemoryHistory {
        MemoryHistory::from_verified(&self.blocks[..=head as usize])
    }
}

/// Serves `inner` after sleeping `delay` on every request (a slow peer).
#[derive(Debug)]
pub struct DelayedHistory<P> {
    /// What is served.
    pub inner: P,
    /// Added to every answer.
    pub delay: Duration,
}

impl<P: HistoryProvider> HistoryProvider for DelayedHistory<P> {
    fn headers(&self, req: &GetBlockHeaders) -> Vec<Header> {
        std::thread::sleep(self.delay);
        self.inner.headers(req)
    }
    fn bodies(&self, hashes: &[B256]) -> Vec<Body> {
        std::thread::sleep(self.delay);
        self.inner.bodies(hashes)
    }
    fn receipts(&self, hashes: &[B256]) -> Vec<Vec<Receipt>> {
        std::thread::sleep(self.delay);
        self.inner.receipts(hashes)
    }
}

/// A running session of a test peer and its task.
type Running = (SessionHandle, JoinHandle<Result<(), EthStreamError>>);

/// An in-process peer accepting sessions on a loopback port until killed.
#[derive(Debug)]
pub struct TestPeer {
    /// How to dial it.
    pub record: NodeRecord,
    /// Its config (key, Status).
    pub config: PeerConfig,
    cancel: CancellationToken,
    sessions: Arc<Mutex<Vec<Running>>>,
    accepted: Arc<Mutex<usize>>,
    connections: Arc<Mutex<usize>>,
}

/// Peers started so far in this process: numbers their networks.
static NETWORKS: AtomicU32 = AtomicU32::new(0);

/// A loopback address on a /24 no other test peer of this process uses (until 65 024 peers have
/// started): the pool counts head evidence per network, so peers meant to be independent must
/// not share one. All of 127/8 is loopback on Linux; 127.0.0.0/24 is left to the code under test.
pub fn fresh_loopback() -> IpAddr {
    let n = NETWORKS.fetch_add(1, Ordering::Relaxed);
    let a = 1 + (n / 256) % 254;
    let b = n % 256;
    IpAddr::V4(Ipv4Addr::new(127, a as u8, b as u8, 1))
}

/// Session timers for test peers: quick requests, no idle drop during a test.
pub fn test_session_config() -> SessionConfig {
    SessionConfig {
        request_timeout: Duration::from_secs(5),
        ..SessionConfig::default()
    }
}

impl TestPeer {
    /// Starts a peer with a fresh key announcing `status` and serving `provider`.
    pub async fn start(status: StatusInputs, provider: Arc<dyn HistoryProvider>) -> Self {
        let config = PeerConfig::new(NodeKey::random(), status);
        Self::start_with(config, provider).await
    }

    /// Starts a peer with `config` on its own loopback network ([`fresh_loopback`]).
    pub async fn start_with(config: PeerConfig, provider: Arc<dyn HistoryProvider>) -> Self {
        Self::start_at(fresh_loopback(), config, provider).await
    }

    /// Starts a peer with `config` listening on (and dialling from) loopback address `ip`.
    pub async fn start_at(
        ip: IpAddr,
        config: PeerConfig,
        provider: Arc<dyn HistoryProvider>,
    ) -> Self {
        let listener = TcpListener::bind(SocketAddr::new(ip, 0))
            .await
            .expect("bind loopback");
        let port = listener.local_addr().expect("local addr").port();
        let record = NodeRecord::new(config.key.id(), ip, port);
        let cancel = CancellationToken::new();
        let sessions = Arc::new(Mutex::new(Vec::new()));
        let accepted = Arc::new(Mutex::new(0));
        let connections = Arc::new(Mutex::new(0));
        let (cfg, c, s, a, n) = (
            config.clone(),
            cancel.clone(),
            sessions.clone(),
            accepted.clone(),
            connections.clone(),
        );
        tokio::spawn(async move {
            loop {
                let tcp = tokio::select! {
                    _ = c.cancelled() => return,
                    r = listener.accept() => match r { Ok((t, _)) => t, Err(_) => continue },
                };
                *n.lock().expect("lock") += 1;
                let (cfg, s, a, provider, c) = (
                    cfg.clone(),
                    s.clone(),
                    a.clone(),
                    provider.clone(),
                    c.clone(),
                );
                tokio::spawn(async move {
                    if let Ok(eth) = session::accept(tcp, &cfg).await {
                        let pair = session::spawn(eth, provider, test_session_config());
                        // Checked under the lock `kill` drains with: a handshake that finishes
                        // while the peer is killed must not leave a session alive.
                        let mut sessions = s.lock().expect("lock");
                        if c.is_cancelled() {
                            pair.1.abort();
                        } else {
                            sessions.push(pair);
                        }
                        // Counted once listed: `accepted() >= n` means `disconnect_all` and
                        // `kill` reach the n-th session.
                        *a.lock().expect("lock") += 1;
                    }
                });
            }
        });
        Self {
            record,
            config,
            cancel,
            sessions,
            accepted,
            connections,
        }
    }

    /// The peer's node id.
    pub fn id(&self) -> crate::p2p::rlpx::PeerId {
        self.record.id
    }

    /// Sessions this peer accepted so far.
    pub fn accepted(&self) -> usize {
        *self.accepted.lock().expect("lock")
    }

    /// Waits (up to 2 s) until this peer has accepted `n` sessions; returns the count then.
    /// Its side of a handshake may finish a moment after the other side's.
    pub async fn accepted_eventually(&self, n: usize) -> usize {
        for _ in 0..200 {
            if self.accepted() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.accepted()
    }

    /// TCP connections received so far (handshake or not).
    pub fn connections(&self) -> usize {
        *self.connections.lock().expect("lock")
    }

    /// Sessions of this peer still running.
    pub fn live_sessions(&self) -> usize {
        self.sessions
            .lock()
            .expect("lock")
            .iter()
            .filter(|(_, t)| !t.is_finished())
            .count()
    }

    /// Ends every running session with a Disconnect (`reason`), as a peer that is full or
    /// restarting does, and keeps accepting new ones.
    pub async fn disconnect_all(&self, reason: DisconnectReason) {
        let handles: Vec<SessionHandle> = self
            .sessions
            .lock()
            .expect("lock")
            .iter()
            .map(|(h, _)| h.clone())
            .collect();
        for h in handles {
            h.disconnect(reason).await;
        }
    }

    /// Cuts every session off at once (sockets closed without Disconnect, even mid-request)
    /// and stops accepting.
    pub fn kill(&self) {
        self.cancel.cancel();
        for (_, task) in self.sessions.lock().expect("lock").drain(..) {
            task.abort();
        }
    }

    /// Dials `to` as this peer (e.g. into the pool's listener) and returns the session.
    pub async fn dial(&self, to: NodeRecord) -> Result<SessionHandle, EthStreamError> {
        // From its own address, so the other side sees this peer's network.
        let closed = |_| EthStreamError::P2p(crate::p2p::base::P2pError::Closed);
        let socket = match self.record.ip {
            IpAddr::V4(_) => TcpSocket::new_v4(),
            IpAddr::V6(_) => TcpSocket::new_v6(),
        }
        .map_err(closed)?;
        socket
            .bind(SocketAddr::new(self.record.ip, 0))
            .map_err(closed)?;
        let tcp = socket.connect(to.tcp_addr()).await.map_err(closed)?;
        let eth = session::dial(tcp, to.id, &self.config).await?;
        Ok(session::spawn(eth, Arc::new(EmptyHistory), test_session_config()).0)
    }
}

impl Drop for TestPeer {
    fn drop(&mut self) {
        self.kill();
    }
}
