//! The discv4 UDP service: one task owns the socket, the routing table and every pending request;
//! handles ([`Discv4Handle`]) talk to it through a channel. It answers Ping with Pong, answers
//! FindNode only for nodes whose endpoint it has verified (the endpoint proof of `discv4.md`, against
//! traffic amplification), bonds before asking (ping/pong, then waits for the remote's own ping), runs
//! lookups, and sends every newly seen node record to the peer pool's channel.
//!
//! As geth does it: a bond is kept per (node id, IP, port), so a node bonded from one address gets
//! no Neighbours or ENR answer at another (a spoofed source cannot turn us into an amplifier), and a
//! table entry takes a new address only after a fresh bond from that address. Replies are matched
//! by node id *and* IP. Pings triggered by remote traffic (bonding back, revalidating a bucket) may
//! use only part of the pending-ping room, so a ping flood cannot make our own lookups fail `Busy`.
//!
//! The records it reports come from nodes that proved their endpoint (Pong) or from Neighbours
//! answers of such nodes; identities are proven later by the RLPx handshake.
//!
//! Owns discv4 networking. It never dials RLPx, never blocks on the pool (a full discovery channel
//! drops records rather than stalling), and keeps every per-node map bounded.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    io,
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use alloy_primitives::B256;
use secp256k1::{PublicKey, SecretKey};
use tokio::{
    net::UdpSocket,
    sync::{mpsc, oneshot},
    time::MissedTickBehavior,
};
use tokio_util::sync::CancellationToken;
use tracing::{debug, trace};

use super::{
    lookup::lookup,
    table::{BUCKET_SIZE, InsertOutcome, RoutingTable},
    wire::{
        Endpoint, EnrRequest, EnrResponse, FindNode, MAX_NEIGHBOURS_PER_PACKET, MAX_PACKET_SIZE,
        Message, Neighbours, PING_VERSION, Ping, Pong, check_expiration, decode_packet,
        encode_packet,
    },
};
use crate::p2p::discovery::{
    enr::{Enr, build_enr},
    node_record::{NodeRecord, PeerId, peer_id_from_pubkey},
};
use crate::p2p::tasks::Tasks;

/// How long our packets stay valid (geth uses 20 s).
const EXPIRATION: Duration = Duration::from_secs(20);
/// Most nodes whose bond times we remember; beyond it expired entries are pruned and then new ones
/// are not recorded until room frees up.
const MAX_BOND_ENTRIES: usize = 10_000;
/// Most pings in flight; pings we would send beyond it (e.g. to a flood of new senders) are skipped.
const MAX_PENDING_PINGS: usize = 1_024;
/// Of those, most that remote traffic may cause (bonding back a node that pinged us, revalidating
/// a full bucket): the rest is reserved for our own pings and lookups.
const MAX_REMOTE_PINGS: usize = 768;
/// Most FindNode requests in flight.
const MAX_PENDING_FINDS: usize = 256;
/// Node ids remembered as already reported to the pool; the set is cleared when it reaches this.
const MAX_REPORTED: usize = 100_000;

/// Settings of one discv4 service.
#[derive(Debug, Clone)]
pub struct Discv4Config {
    /// Our node key (the same key RLPx uses: the node id is its public key).
    pub secret_key: SecretKey,
    /// UDP address to bind.
    pub listen: SocketAddr,
    /// TCP port we accept RLPx on, advertised in Ping and our ENR (0 when none).
    pub tcp_port: u16,
    /// Nodes to bond with at start and whenever the table runs empty.
    pub bootnodes: Vec<NodeRecord>,
    /// How long to wait for a Pong or for Neighbours.
    pub request_timeout: Duration,
    /// How long a verified endpoint stays verified (`discv4.md`: 12 hours).
    pub bond_expiry: Duration,
    /// Pause between the background random lookups.
    pub lookup_interval: Duration,
    /// Capacity of the channel of discovered records.
    pub discovered_capacity: usize,
}

impl Discv4Config {
    /// Defaults for everything but the key and the address.
    pub fn new(secret_key: SecretKey, listen: SocketAddr) -> Self {
        Self {
            secret_key,
            listen,
            tcp_port: listen.port(),
            bootnodes: Vec::new(),
            request_timeout: Duration::from_millis(800),
            bond_expiry: Duration::from_secs(12 * 3600),
            lookup_interval: Duration::from_secs(20),
            discovered_capacity: 1024,
        }
    }
}

/// Why a discv4 operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Discv4Error {
    /// The UDP socket could not be bound.
    #[error("cannot bind discv4 UDP socket on {addr}: {source}")]
    Bind {
        /// Address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// The bound socket has no local address.
    #[error("cannot read the discv4 socket's local address: {0}")]
    LocalAddr(io::Error),
    /// A node did not answer in time.
    #[error("node {node} at {addr} did not answer {request} in time")]
    Timeout {
        /// The node.
        node: PeerId,
        /// Where it was asked.
        addr: SocketAddr,
        /// What was asked.
        request: &'static str,
    },
    /// Too many requests in flight; try again later.
    #[error("too many discv4 requests in flight")]
    Busy,
    /// The service has stopped.
    #[error("discv4 service has stopped")]
    Stopped,
    /// An ENRResponse whose record is invalid or belongs to another node.
    #[error("node {node} answered ENRRequest with a bad record: {reason}")]
    BadEnr {
        /// The node.
        node: PeerId,
        /// What is wrong.
        reason: String,
    },
}

/// Counters of a running service, for metrics and the periodic log line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Discv4Stats {
    /// Nodes in the routing table.
    pub table_nodes: usize,
    /// Datagrams received.
    pub packets_received: u64,
    /// Datagrams dropped: malformed, bad hash or signature, expired, or our own.
    pub packets_dropped: u64,
    /// Node records sent to the discovery channel.
    pub nodes_reported: u64,
    /// Node records dropped because the discovery channel was full.
    pub nodes_dropped: u64,
}

/// Starts discv4 services.
#[derive(Debug)]
pub struct Discv4;

impl Discv4 {
    /// Binds the socket and spawns the service and its background lookups. Returns the handle
    /// and the channel of discovered node records. Everything stops when `cancel` fires.
    pub async fn spawn(
        config: Discv4Config,
        cancel: CancellationToken,
    ) -> Result<(Discv4Handle, mpsc::Receiver<NodeRecord>), Discv4Error> {
        Self::spawn_tracked(config, cancel, &Tasks::new("discv4")).await
    }

    /// [`Self::spawn`] with the service and lookup tasks on `tasks`, so their owner can await
    /// them after cancelling.
    pub async fn spawn_tracked(
        config: Discv4Config,
        cancel: CancellationToken,
        tasks: &Tasks,
    ) -> Result<(Discv4Handle, mpsc::Receiver<NodeRecord>), Discv4Error> {
        let socket = UdpSocket::bind(config.listen)
            .await
            .map_err(|source| Discv4Error::Bind {
                addr: config.listen,
                source,
            })?;
        let local_addr = socket.local_addr().map_err(Discv4Error::LocalAddr)?;
        let id = peer_id_from_pubkey(&PublicKey::from_secret_key(&config.secret_key));
        // tcp_port 0 (e.g. listening on port 0 in tests): advertise the UDP port the OS picked.
        let tcp_port = if config.tcp_port == 0 {
            local_addr.port()
        } else {
            config.tcp_port
        };
        let local = NodeRecord {
            id,
            ip: local_addr.ip(),
            tcp_port,
            udp_port: local_addr.port(),
        };
        // Our ENR is only meaningful with a concrete address; when bound to 0.0.0.0 we do not know
        // the address others reach us at, so we do not answer ENRRequest.
        let enr = (!local.ip.is_unspecified()).then(|| {
            build_enr(
                &config.secret_key,
                1,
                local.ip,
                local.tcp_port,
                local.udp_port,
            )
        });

        let (cmd_tx, cmd_rx) = mpsc::channel(256);
        let (disc_tx, disc_rx) = mpsc::channel(config.discovered_capacity.max(1));
        let handle = Discv4Handle {
            cmd: cmd_tx,
            local,
            cancel: cancel.clone(),
        };
        let service = Service {
            socket: Arc::new(socket),
            key: config.secret_key,
            local,
            enr,
            table: RoutingTable::new(id),
            request_timeout: config.request_timeout,
            pong_received: BondBook::new(config.bond_expiry),
            ping_received: BondBook::new(config.bond_expiry),
            pending_pings: HashMap::new(),
            pending_finds: HashMap::new(),
            waiting_finds: Vec::new(),
            pending_enrs: HashMap::new(),
            discovered: disc_tx,
            reported: HashSet::new(),
            stats: Discv4Stats::default(),
        };
        tasks.spawn("discv4 service", service.run(cmd_rx, cancel.clone()));
        tasks.spawn(
            "discv4 lookups",
            background(handle.clone(), config.bootnodes, config.lookup_interval),
        );
        Ok((handle, disc_rx))
    }
}

/// Bonds with the bootnodes, looks up our own id (fills the buckets near us), then looks up random
/// ids forever.
async fn background(handle: Discv4Handle, bootnodes: Vec<NodeRecord>, interval: Duration) {
    let cancel = handle.cancel.clone();
    let work = async {
        loop {
            if handle.table().await.map(|t| t.is_empty()).unwrap_or(true) {
                let pings = bootnodes.iter().map(|b| handle.ping(*b));
                for (b, r) in bootnodes.iter().zip(futures::future::join_all(pings).await) {
                    if let Err(e) = r {
                        debug!(bootnode = %b, error = %e, "bootnode did not answer");
                    }
                }
                let _ = handle.lookup(handle.local_record().id).await;
            }
            tokio::time::sleep(interval).await;
            let _ = handle.lookup(random_id()).await;
        }
    };
    tokio::select! {
        _ = cancel.cancelled() => {}
        _ = work => {}
    }
}

fn random_id() -> PeerId {
    use secp256k1::rand::RngCore;
    let mut b = [0u8; 64];
    secp256k1::rand::rng().fill_bytes(&mut b);
    PeerId::from(b)
}

/// A cheap, cloneable way to use a running discv4 service.
#[derive(Debug, Clone)]
pub struct Discv4Handle {
    cmd: mpsc::Sender<Command>,
    local: NodeRecord,
    cancel: CancellationToken,
}

impl Discv4Handle {
    /// Our own record (with the ports actually bound).
    pub fn local_record(&self) -> NodeRecord {
        self.local
    }

    /// Stops the service.
    pub fn shutdown(&self) {
        self.cancel.cancel();
    }

    async fn request<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, Discv4Error> {
        let (tx, rx) = oneshot::channel();
        self.cmd
            .send(make(tx))
            .await
            .map_err(|_| Discv4Error::Stopped)?;
        rx.await.map_err(|_| Discv4Error::Stopped)
    }

    /// Pings `node` and waits for its Pong; on success it is in the table.
    pub async fn ping(&self, node: NodeRecord) -> Result<(), Discv4Error> {
        self.request(|reply| Command::Ping { node, reply }).await?
    }

    /// Asks `node` for its neighbours of `target`, bonding first when needed.
    pub async fn find_node(
        &self,
        node: NodeRecord,
        target: PeerId,
    ) -> Result<Vec<NodeRecord>, Discv4Error> {
        self.request(|reply| Command::FindNode {
            node,
            target,
            reply,
        })
        .await?
    }

    /// Asks `node` for its current node record (EIP-868). The node answers only if it has
    /// verified our endpoint, i.e. after a bond.
    pub async fn request_enr(&self, node: NodeRecord) -> Result<Enr, Discv4Error> {
        self.request(|reply| Command::RequestEnr { node, reply })
            .await?
    }

    /// The service's counters.
    pub async fn stats(&self) -> Result<Discv4Stats, Discv4Error> {
        self.request(|reply| Command::Stats { reply }).await
    }

    /// Every node in the routing table.
    pub async fn table(&self) -> Result<Vec<NodeRecord>, Discv4Error> {
        self.request(|reply| Command::Table { reply }).await
    }

    /// A lookup (`discv4.md`): the closest nodes to `target` the network knows.
    pub async fn lookup(&self, target: PeerId) -> Result<Vec<NodeRecord>, Discv4Error> {
        let seeds = self
            .request(|reply| Command::Closest { target, reply })
            .await?;
        Ok(lookup(target, self.local.id, seeds, |n| self.find_node(n, target)).await)
    }
}

enum Command {
    Ping {
        node: NodeRecord,
        reply: oneshot::Sender<Result<(), Discv4Error>>,
    },
    FindNode {
        node: NodeRecord,
        target: PeerId,
        reply: FindReply,
    },
    RequestEnr {
        node: NodeRecord,
        reply: oneshot::Sender<Result<Enr, Discv4Error>>,
    },
    Table {
        reply: oneshot::Sender<Vec<NodeRecord>>,
    },
    Stats {
        reply: oneshot::Sender<Discv4Stats>,
    },
    Closest {
        target: PeerId,
        reply: oneshot::Sender<Vec<NodeRecord>>,
    },
}

type FindReply = oneshot::Sender<Result<Vec<NodeRecord>, Discv4Error>>;

/// Why we sent a ping, i.e. what to do with its Pong (or its silence).
enum PingPurpose {
    /// A caller waits for the answer.
    Request(oneshot::Sender<Result<(), Discv4Error>>),
    /// The node pinged us unbonded; its Pong verifies its endpoint.
    Bond,
    /// A FindNode waits for the bond.
    ThenFind { target: PeerId, reply: FindReply },
    /// The node is the oldest of a full bucket; `candidate` replaces it if it is silent.
    Revalidate { candidate: NodeRecord },
}

struct PendingPing {
    node: NodeRecord,
    deadline: Instant,
    purpose: PingPurpose,
}

struct PendingFind {
    node: NodeRecord,
    deadline: Instant,
    nodes: Vec<NodeRecord>,
    reply: FindReply,
}

struct PendingEnr {
    node: NodeRecord,
    deadline: Instant,
    reply: oneshot::Sender<Result<Enr, Discv4Error>>,
}

/// A FindNode waiting for the remote's ping (its proof of our endpoint) before it is sent.
struct WaitingFind {
    node: NodeRecord,
    target: PeerId,
    deadline: Instant,
    reply: FindReply,
}

/// When each node last proved an endpoint, per (node id, endpoint), with expiry and a size bound.
struct BondBook {
    expiry: Duration,
    at: HashMap<(PeerId, SocketAddr), Instant>,
}

impl BondBook {
    fn new(expiry: Duration) -> Self {
        Self {
            expiry,
            at: HashMap::new(),
        }
    }

    fn is_fresh(&self, id: &PeerId, addr: SocketAddr, now: Instant) -> bool {
        self.at
            .get(&(*id, canonical(addr)))
            .is_some_and(|t| now.duration_since(*t) < self.expiry)
    }

    fn record(&mut self, id: PeerId, addr: SocketAddr, now: Instant) {
        let id = (id, canonical(addr));
        if self.at.len() >= MAX_BOND_ENTRIES && !self.at.contains_key(&id) {
            let expiry = self.expiry;
            self.at.retain(|_, t| now.duration_since(*t) < expiry);
            if self.at.len() >= MAX_BOND_ENTRIES {
                return;
            }
        }
        self.at.insert(id, now);
    }
}

struct Service {
    socket: Arc<UdpSocket>,
    key: SecretKey,
    local: NodeRecord,
    enr: Option<Vec<u8>>,
    table: RoutingTable,
    request_timeout: Duration,
    /// Nodes that answered our ping: their endpoint is verified, we answer their FindNode.
    pong_received: BondBook,
    /// Nodes that pinged us (and got our Pong): they have verified us, they answer our FindNode.
    ping_received: BondBook,
    pending_pings: HashMap<B256, PendingPing>,
    pending_finds: HashMap<PeerId, VecDeque<PendingFind>>,
    waiting_finds: Vec<WaitingFind>,
    pending_enrs: HashMap<B256, PendingEnr>,
    discovered: mpsc::Sender<NodeRecord>,
    reported: HashSet<PeerId>,
    stats: Discv4Stats,
}

/// An IPv4-mapped IPv6 source (dual-stack socket) and the IPv4 address are one endpoint.
fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

fn same_ip(a: IpAddr, b: IpAddr) -> bool {
    a.to_canonical() == b.to_canonical()
}

impl PingPurpose {
    /// Caused by remote traffic rather than by us: limited to [`MAX_REMOTE_PINGS`].
    fn is_remote(&self) -> bool {
        matches!(self, Self::Bond | Self::Revalidate { .. })
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn expiration() -> u64 {
    unix_now() + EXPIRATION.as_secs()
}

/// Whether a node address relayed by `sender` is worth trying (geth's rule): never unspecified or
/// multicast addresses or port 0; loopback addresses only from a loopback sender; LAN addresses
/// only from a LAN sender. So a remote cannot point us at our own or our network's services.
fn relay_ok(sender: IpAddr, node: &NodeRecord) -> bool {
    let ip = node.ip;
    if ip.is_unspecified() || ip.is_multicast() || node.udp_port == 0 {
        return false;
    }
    if ip.is_loopback() {
        return sender.is_loopback();
    }
    !is_lan(ip) || is_lan(sender) || sender.is_loopback()
}

/// Private, link-local and unique-local ranges.
fn is_lan(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
        }
    }
}

impl Service {
    async fn run(mut self, mut cmds: mpsc::Receiver<Command>, cancel: CancellationToken) {
        debug!(local = %self.local, "discv4 service started");
        // One byte more than the limit so that an oversized datagram is seen as oversized.
        let mut buf = vec![0u8; MAX_PACKET_SIZE + 1];
        let period = (self.request_timeout / 4).max(Duration::from_millis(10));
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let socket = self.socket.clone();
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                r = socket.recv_from(&mut buf) => match r {
                    Ok((n, src)) => self.on_datagram(&buf[..n], src).await,
                    Err(e) => debug!(error = %e, "discv4 receive failed"),
                },
                c = cmds.recv() => match c {
                    Some(c) => self.on_command(c).await,
                    None => break,
                },
                _ = tick.tick() => self.on_tick().await,
            }
        }
        debug!(local = %self.local, "discv4 service stopped");
    }

    async fn send(&self, message: Message, to: SocketAddr) -> B256 {
        let (bytes, hash) = encode_packet(&message, &self.key);
        if let Err(e) = self.socket.send_to(&bytes, to).await {
            debug!(%to, packet = message.name(), error = %e, "discv4 send failed");
        }
        hash
    }

    async fn send_ping(&mut self, node: NodeRecord, purpose: PingPurpose) {
        let full = self.pending_pings.len() >= MAX_PENDING_PINGS
            || (purpose.is_remote()
                && self
                    .pending_pings
                    .values()
                    .filter(|p| p.purpose.is_remote())
                    .count()
                    >= MAX_REMOTE_PINGS);
        if full {
            fail_purpose(purpose, Discv4Error::Busy);
            return;
        }
        let ping = Message::Ping(Ping {
            version: PING_VERSION,
            from: Endpoint::new(
                SocketAddr::new(self.local.ip, self.local.udp_port),
                self.local.tcp_port,
            ),
            to: Endpoint::new(node.udp_addr(), node.tcp_port),
            expiration: expiration(),
            enr_seq: self.enr.as_ref().map(|_| 1),
        });
        let hash = self.send(ping, node.udp_addr()).await;
        let deadline = Instant::now() + self.request_timeout;
        self.pending_pings.insert(
            hash,
            PendingPing {
                node,
                deadline,
                purpose,
            },
        );
    }

    async fn send_find(&mut self, node: NodeRecord, target: PeerId, reply: FindReply) {
        let in_flight: usize = self.pending_finds.values().map(VecDeque::len).sum();
        if in_flight >= MAX_PENDING_FINDS {
            let _ = reply.send(Err(Discv4Error::Busy));
            return;
        }
        self.send(
            Message::FindNode(FindNode {
                target,
                expiration: expiration(),
            }),
            node.udp_addr(),
        )
        .await;
        let deadline = Instant::now() + self.request_timeout;
        self.pending_finds
            .entry(node.id)
            .or_default()
            .push_back(PendingFind {
                node,
                deadline,
                nodes: Vec::new(),
                reply,
            });
    }

    fn report(&mut self, node: NodeRecord) {
        if node.id == self.local.id {
            return;
        }
        if self.reported.len() >= MAX_REPORTED {
            self.reported.clear();
        }
        if self.reported.insert(node.id) {
            // A full channel means the pool is not keeping up: dropping is better than stalling
            // the protocol, and the node will be seen again in later lookups.
            if self.discovered.try_send(node).is_ok() {
                self.stats.nodes_reported += 1;
            } else {
                self.stats.nodes_dropped += 1;
                self.reported.remove(&node.id);
            }
        }
    }

    /// A node proved its endpoint: put it in the table (or ask the full bucket's oldest node).
    async fn add_verified(&mut self, node: NodeRecord) {
        match self.table.insert(node) {
            InsertOutcome::Inserted => self.report(node),
            InsertOutcome::Refreshed | InsertOutcome::IsSelf => {}
            InsertOutcome::SubnetFull => {
                trace!(%node, "not stored: its network has enough nodes in the table");
            }
            InsertOutcome::BucketFull { oldest } => {
                let busy = self.pending_pings.values().any(|p| {
                    matches!(p.purpose, PingPurpose::Revalidate { .. }) && p.node.id == oldest.id
                });
                if !busy {
                    self.send_ping(oldest, PingPurpose::Revalidate { candidate: node })
                        .await;
                }
            }
        }
    }

    async fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Ping { node, reply } => {
                self.send_ping(node, PingPurpose::Request(reply)).await
            }
            Command::FindNode {
                node,
                target,
                reply,
            } => {
                if node.id == self.local.id {
                    let _ = reply.send(Ok(Vec::new()));
                } else if self
                    .ping_received
                    .is_fresh(&node.id, node.udp_addr(), Instant::now())
                {
                    self.send_find(node, target, reply).await;
                } else {
                    self.send_ping(node, PingPurpose::ThenFind { target, reply })
                        .await;
                }
            }
            Command::RequestEnr { node, reply } => {
                if self.pending_enrs.len() >= MAX_PENDING_FINDS {
                    let _ = reply.send(Err(Discv4Error::Busy));
                    return;
                }
                let request = Message::EnrRequest(EnrRequest {
                    expiration: expiration(),
                });
                let hash = self.send(request, node.udp_addr()).await;
                let deadline = Instant::now() + self.request_timeout;
                self.pending_enrs.insert(
                    hash,
                    PendingEnr {
                        node,
                        deadline,
                        reply,
                    },
                );
            }
            Command::Stats { reply } => {
                let _ = reply.send(Discv4Stats {
                    table_nodes: self.table.len(),
                    ..self.stats
                });
            }
            Command::Table { reply } => {
                let _ = reply.send(self.table.nodes());
            }
            Command::Closest { target, reply } => {
                let _ = reply.send(self.table.closest(&target, BUCKET_SIZE));
            }
        }
    }

    async fn on_tick(&mut self) {
        let now = Instant::now();
        let expired: Vec<B256> = self
            .pending_pings
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(h, _)| *h)
            .collect();
        for hash in expired {
            let Some(p) = self.pending_pings.remove(&hash) else {
                continue;
            };
            trace!(node = %p.node, "ping timed out");
            match p.purpose {
                PingPurpose::Revalidate { candidate } => {
                    // The oldest node is gone: the newcomer takes its place.
                    self.table.remove(&p.node.id);
                    if self.table.insert(candidate) == InsertOutcome::Inserted {
                        self.report(candidate);
                    }
                }
                other => fail_purpose(
                    other,
                    Discv4Error::Timeout {
                        node: p.node.id,
                        addr: p.node.udp_addr(),
                        request: "Ping",
                    },
                ),
            }
        }

        for queue in self.pending_finds.values_mut() {
            while queue.front().is_some_and(|f| f.deadline <= now) {
                if let Some(f) = queue.pop_front() {
                    // A partial answer is still an answer; silence is a failure.
                    let result = if f.nodes.is_empty() {
                        Err(Discv4Error::Timeout {
                            node: f.node.id,
                            addr: f.node.udp_addr(),
                            request: "FindNode",
                        })
                    } else {
                        Ok(f.nodes)
                    };
                    let _ = f.reply.send(result);
                }
            }
        }
        self.pending_finds.retain(|_, q| !q.is_empty());

        let expired: Vec<B256> = self
            .pending_enrs
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(h, _)| *h)
            .collect();
        for hash in expired {
            if let Some(p) = self.pending_enrs.remove(&hash) {
                let _ = p.reply.send(Err(Discv4Error::Timeout {
                    node: p.node.id,
                    addr: p.node.udp_addr(),
                    request: "ENRRequest",
                }));
            }
        }

        let (due, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiting_finds)
            .into_iter()
            .partition(|w| w.deadline <= now);
        self.waiting_finds = waiting;
        for w in due {
            // No ping came back: the remote may still hold an older bond with us. Ask anyway.
            self.send_find(w.node, w.target, w.reply).await;
        }
    }

    async fn on_datagram(&mut self, datagram: &[u8], src: SocketAddr) {
        self.stats.packets_received += 1;
        let packet = match decode_packet(datagram) {
            Ok(p) => p,
            Err(e) => {
                self.stats.packets_dropped += 1;
                trace!(%src, error = %e, "dropping invalid discv4 packet");
                return;
            }
        };
        if packet.signer == self.local.id {
            self.stats.packets_dropped += 1;
            return;
        }
        if let Some(exp) = packet.message.expiration()
            && let Err(e) = check_expiration(exp, unix_now())
        {
            self.stats.packets_dropped += 1;
            trace!(%src, packet = packet.message.name(), error = %e, "dropping expired packet");
            return;
        }
        let now = Instant::now();
        let signer = packet.signer;
        match packet.message {
            Message::Ping(ping) => {
                let pong = Message::Pong(Pong {
                    to: Endpoint::new(src, ping.from.tcp_port),
                    ping_hash: packet.hash,
                    expiration: expiration(),
                    enr_seq: self.enr.as_ref().map(|_| 1),
                });
                self.send(pong, src).await;
                self.ping_received.record(signer, src, now);
                let node = NodeRecord {
                    id: signer,
                    ip: src.ip(),
                    tcp_port: ping.from.tcp_port,
                    udp_port: src.port(),
                };
                // The table learns this address only once it is bonded itself: a ping replayed
                // or spoofed from elsewhere gets a ping back, not a table entry.
                if self.pong_received.is_fresh(&signer, src, now) {
                    self.add_verified(node).await;
                } else if !self
                    .pending_pings
                    .values()
                    .any(|p| p.node.id == signer && canonical(p.node.udp_addr()) == canonical(src))
                {
                    self.send_ping(node, PingPurpose::Bond).await;
                }
                // A FindNode was waiting for exactly this proof.
                let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiting_finds)
                    .into_iter()
                    .partition(|w| {
                        w.node.id == signer && canonical(w.node.udp_addr()) == canonical(src)
                    });
                self.waiting_finds = waiting;
                for w in ready {
                    self.send_find(w.node, w.target, w.reply).await;
                }
            }
            Message::Pong(pong) => {
                let matches = self
                    .pending_pings
                    .get(&pong.ping_hash)
                    .is_some_and(|p| p.node.id == signer && same_ip(p.node.ip, src.ip()));
                if !matches {
                    trace!(%src, "ignoring unsolicited pong");
                    return;
                }
                let Some(p) = self.pending_pings.remove(&pong.ping_hash) else {
                    return;
                };
                self.pong_received.record(signer, src, now);
                let node = NodeRecord {
                    ip: src.ip(),
                    udp_port: src.port(),
                    ..p.node
                };
                match p.purpose {
                    PingPurpose::Request(reply) => {
                        self.add_verified(node).await;
                        let _ = reply.send(Ok(()));
                    }
                    PingPurpose::Bond => self.add_verified(node).await,
                    // The oldest node is alive: it stays (and is now most recently seen).
                    PingPurpose::Revalidate { .. } => self.add_verified(node).await,
                    PingPurpose::ThenFind { target, reply } => {
                        self.add_verified(node).await;
                        if self.ping_received.is_fresh(&signer, src, now) {
                            self.send_find(node, target, reply).await;
                        } else {
                            let deadline = now + self.request_timeout / 2;
                            self.waiting_finds.push(WaitingFind {
                                node,
                                target,
                                deadline,
                                reply,
                            });
                        }
                    }
                }
            }
            Message::FindNode(find) => {
                if !self.pong_received.is_fresh(&signer, src, now) {
                    trace!(%src, "ignoring FindNode from an unverified endpoint");
                    return;
                }
                let closest = self.table.closest(&find.target, BUCKET_SIZE);
                let mut chunks = closest.chunks(MAX_NEIGHBOURS_PER_PACKET).peekable();
                if chunks.peek().is_none() {
                    let empty = Neighbours {
                        nodes: Vec::new(),
                        expiration: expiration(),
                    };
                    self.send(Message::Neighbours(empty), src).await;
                }
                for chunk in chunks {
                    let n = Neighbours {
                        nodes: chunk.to_vec(),
                        expiration: expiration(),
                    };
                    self.send(Message::Neighbours(n), src).await;
                }
            }
            Message::Neighbours(neighbours) => {
                let Some(queue) = self.pending_finds.get_mut(&signer) else {
                    trace!(%src, "ignoring unsolicited Neighbours");
                    return;
                };
                let Some(front) = queue.front_mut() else {
                    return;
                };
                if !same_ip(front.node.ip, src.ip()) {
                    trace!(%src, "ignoring Neighbours from another address than asked");
                    return;
                }
                let last_packet = neighbours.nodes.len() < MAX_NEIGHBOURS_PER_PACKET;
                for n in neighbours.nodes {
                    if front.nodes.len() < BUCKET_SIZE && relay_ok(src.ip(), &n) {
                        front.nodes.push(n);
                    }
                }
                let done = last_packet || front.nodes.len() >= BUCKET_SIZE;
                if done && let Some(f) = queue.pop_front() {
                    if queue.is_empty() {
                        self.pending_finds.remove(&signer);
                    }
                    for n in &f.nodes {
                        self.report(*n);
                    }
                    let _ = f.reply.send(Ok(f.nodes));
                }
            }
            Message::EnrRequest(_) => {
                if !self.pong_received.is_fresh(&signer, src, now) {
                    return;
                }
                if let Some(enr) = self.enr.clone() {
                    let resp = EnrResponse {
                        request_hash: packet.hash,
                        enr,
                    };
                    self.send(Message::EnrResponse(resp), src).await;
                }
            }
            Message::EnrResponse(resp) => {
                let matches = self
                    .pending_enrs
                    .get(&resp.request_hash)
                    .is_some_and(|p| p.node.id == signer && same_ip(p.node.ip, src.ip()));
                if !matches {
                    trace!(%src, "ignoring unsolicited ENRResponse");
                    return;
                }
                let Some(p) = self.pending_enrs.remove(&resp.request_hash) else {
                    return;
                };
                let result = match Enr::decode(&resp.enr) {
                    Ok(enr) if enr.id == signer => Ok(enr),
                    Ok(_) => Err(Discv4Error::BadEnr {
                        node: signer,
                        reason: "record of another node".to_string(),
                    }),
                    Err(e) => Err(Discv4Error::BadEnr {
                        node: signer,
                        reason: e.to_string(),
                    }),
                };
                let _ = p.reply.send(result);
            }
        }
    }
}

fn fail_purpose(purpose: PingPurpose, error: Discv4Error) {
    match purpose {
        PingPurpose::Request(reply) => {
            let _ = reply.send(Err(error));
        }
        PingPurpose::ThenFind { reply, .. } => {
            let _ = reply.send(Err(error));
        }
        PingPurpose::Bond | PingPurpose::Revalidate { .. } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relayed_addresses_are_filtered_like_geth() {
        let node = |ip: &str, port| NodeRecord::new(PeerId::ZERO, ip.parse().unwrap(), port);
        let public: IpAddr = "203.0.113.7".parse().unwrap();
        let lan: IpAddr = "192.168.1.2".parse().unwrap();
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(relay_ok(public, &node("198.51.100.1", 30303)));
        assert!(!relay_ok(public, &node("198.51.100.1", 0)));
        assert!(!relay_ok(public, &node("0.0.0.0", 30303)));
        assert!(!relay_ok(public, &node("224.0.0.1", 30303)));
        assert!(!relay_ok(public, &node("127.0.0.1", 30303)));
        assert!(relay_ok(lo, &node("127.0.0.1", 30303)));
        assert!(!relay_ok(public, &node("10.0.0.1", 30303)));
        assert!(relay_ok(lan, &node("10.0.0.1", 30303)));
        assert!(!relay_ok(public, &node("fd00::1", 30303)));
    }
}
