//! The testnet: one whole devp2p network in one process, the network every sync test, benchmark
//! and manual try uses. [`Testnet::start`] builds a chain ([`chain`]), starts `peers` responders
//! ([`peer`]) — peer `i` on its own loopback network `127.0.i.1` (all of 127/8 is loopback on
//! Linux), so the one-vote-per-/24 rules are exercised for real — and writes the chain spec to
//! `DIR/chain.toml` in the custom chain format histd reads (`--chain DIR/chain.toml`).
//!
//! Owns test peers and test chains only. It must never be compiled into the product (it lives
//! behind the `testkit` feature) and never weakens a rule of the node it is talking to.

pub mod chain;
pub mod peer;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{B256, U256};

use crate::p2p::chain::ChainSpec;
use crate::p2p::enode::Enode;

pub use chain::{ChainKind, TestnetChain};
pub use peer::{Chains, Control, CountsSnapshot, KnobError, PeerKnobs, TestnetPeer};

/// Chain id and network id of every testnet (not a public chain's).
pub const TESTNET_CHAIN_ID: u64 = 31_337_010;

/// What to start.
#[derive(Debug, Clone)]
pub struct TestnetConfig {
    /// Blocks after genesis (the head's number).
    pub blocks: u64,
    /// Mainnet-like or synthetic blocks.
    pub kind: ChainKind,
    /// Seed of the chain (the fork and the fake chain derive their own from it).
    pub seed: u64,
    /// Number of peers.
    pub peers: usize,
    /// Address of peer 0; peer `i` gets the third octet plus `i` (`127.0.0.1` → `127.0.i.1`) and the
    /// same port (port 0: each its own free port).
    pub listen: SocketAddr,
    /// Where `chain.toml` is written (`None`: not written).
    pub out_dir: Option<PathBuf>,
    /// Knobs of every peer not listed in `peer_knobs`.
    pub knobs: PeerKnobs,
    /// Knobs of single peers, by index (override `knobs` entirely).
    pub peer_knobs: Vec<(usize, PeerKnobs)>,
    /// Blocks the fork shares with the main chain (default: half of it).
    pub fork_at: Option<u64>,
    /// Write the head as `checkpoint` into chain.toml (default off, so sync tests exercise the
    /// peer quorum for their anchor).
    pub checkpoint: bool,
    /// Reorg chains for [`Control::switch_to`]: chain `i` (1-based) shares blocks
    /// `0 .. reorgs[i - 1]` with chain `i - 1` (chain 0 is the main chain) and is 8·i blocks longer
    /// than the main chain, so each switch is a reorg to a heavier chain.
    pub reorgs: Vec<u64>,
}

impl TestnetConfig {
    /// `blocks` blocks of `kind` served by `peers` honest peers from `127.0.0.1`, `127.0.1.1`, …
    pub fn new(kind: ChainKind, blocks: u64, peers: usize) -> Self {
        Self {
            blocks,
            kind,
            seed: 1,
            peers,
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            out_dir: None,
            knobs: PeerKnobs::default(),
            peer_knobs: Vec::new(),
            fork_at: None,
            checkpoint: false,
            reorgs: Vec::new(),
        }
    }

    /// The knobs of peer `i`.
    pub fn knobs_of(&self, i: usize) -> PeerKnobs {
        self.peer_knobs
            .iter()
            .rev()
            .find(|(j, _)| *j == i)
            .map_or_else(|| self.knobs.clone(), |(_, k)| k.clone())
    }
}

/// Why a testnet did not start.
#[derive(Debug, thiserror::Error)]
pub enum TestnetError {
    /// Peer addresses must be IPv4 with room for every peer in the third octet.
    #[error("listen address {addr}: {problem}")]
    Address {
        /// The base address.
        addr: SocketAddr,
        /// What is wrong.
        problem: &'static str,
    },
    /// A peer could not listen.
    #[error("peer {index} cannot listen on {addr}: {source}")]
    Listen {
        /// The peer.
        index: usize,
        /// Its address.
        addr: SocketAddr,
        /// The socket error.
        source: std::io::Error,
    },
    /// `chain.toml` could not be written.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A running testnet. Peers stop when it is dropped.
#[derive(Debug)]
pub struct Testnet {
    /// The chain honest peers serve.
    pub chain: Arc<TestnetChain>,
    /// Its spec (what `chain.toml` says).
    pub spec: ChainSpec,
    /// The peers, by index.
    pub peers: Vec<TestnetPeer>,
    /// Where the chain spec was written, if it was.
    pub chain_toml: Option<PathBuf>,
    /// The fork (if some peer switches to it).
    pub fork: Option<Arc<TestnetChain>>,
    /// The fake chain (if some peer serves it).
    pub fake: Option<Arc<TestnetChain>>,
    /// The reorg chains of [`TestnetConfig::reorgs`].
    pub reorgs: Vec<Arc<TestnetChain>>,
    /// Testnet-wide head cap and chain switch (every peer reads it).
    pub control: Arc<Control>,
}

/// The address of peer `i` given peer 0's.
pub fn peer_addr(base: SocketAddr, i: usize) -> Result<SocketAddr, TestnetError> {
    let IpAddr::V4(ip) = base.ip() else {
        return Err(TestnetError::Address {
            addr: base,
            problem: "peers need an IPv4 address (one /24 each)",
        });
    };
    let [a, b, c, d] = ip.octets();
    let c = u8::try_from(usize::from(c) + i).map_err(|_| TestnetError::Address {
        addr: base,
        problem: "too many peers for the third octet",
    })?;
    Ok(SocketAddr::new(
        IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
        base.port(),
    ))
}

/// The `chain.toml` of a testnet whose genesis is `chain`'s.
pub fn chain_toml(chain: &TestnetChain) -> String {
    let mut rlp = Vec::new();
    alloy_rlp::Encodable::encode(chain.genesis(), &mut rlp);
    format!(
        "# Written by histd-testnet: a local test network, not a public chain.\n\
         name = \"histd-testnet\"\n\
         chain_id = {TESTNET_CHAIN_ID}\n\
         network_id = {TESTNET_CHAIN_ID}\n\
         genesis_header = \"0x{}\"\n\
         total_difficulty = \"0x1\"\n\
         fork_blocks = []\n\
         fork_timestamps = []\n",
        alloy_primitives::hex::encode(rlp)
    )
}

/// The spec `chain_toml` describes.
pub fn spec_of(chain: &TestnetChain) -> ChainSpec {
    ChainSpec::new(
        "histd-testnet",
        TESTNET_CHAIN_ID,
        TESTNET_CHAIN_ID,
        chain.genesis().hash_slow(),
        chain.genesis().timestamp,
        U256::from(1u8),
        [],
    )
}

impl Testnet {
    /// Builds the chains (on the blocking pool: hashing a long chain takes a while), starts every
    /// peer and writes `chain.toml`.
    pub async fn start(config: TestnetConfig) -> Result<Self, TestnetError> {
        let knobs: Vec<PeerKnobs> = (0..config.peers).map(|i| config.knobs_of(i)).collect();
        let addrs = (0..config.peers)
            .map(|i| peer_addr(config.listen, i))
            .collect::<Result<Vec<_>, _>>()?;
        let want_fork = knobs.iter().any(|k| k.fork_switch_after.is_some());
        let want_fake = knobs.iter().any(|k| k.fake_chain);
        let (kind, seed, len, fork_at) = (
            config.kind,
            config.seed,
            config.blocks + 1,
            config.fork_at.unwrap_or(config.blocks / 2 + 1),
        );
        let reorg_points = config.reorgs.clone();
        let (main, fork, fake, reorgs) = tokio::task::spawn_blocking(move || {
            let main = Arc::new(TestnetChain::build(kind, seed, len));
            // The fork grows a few blocks longer, so switching to it looks like a reorg to a
            // heavier chain; the fake chain diverges right after genesis.
            let fork = want_fork.then(|| Arc::new(main.fork(fork_at, seed ^ 0xf0f0, len + 8)));
            let fake = want_fake.then(|| Arc::new(main.fork(1, seed ^ 0xfa4e, len)));
            let mut reorgs: Vec<Arc<TestnetChain>> = Vec::new();
            for (i, shared) in reorg_points.into_iter().enumerate() {
                let parent = reorgs.last().unwrap_or(&main);
                let step = 8 * (i as u64 + 1);
                let chain = parent.fork(shared, seed ^ 0x0e06 ^ step, len + step);
                reorgs.push(Arc::new(chain));
            }
            (main, fork, fake, reorgs)
        })
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        let spec = spec_of(&main);
        let control = Arc::new(Control::default());
        let chains = Chains {
            main: main.clone(),
            fork: fork.clone(),
            fake: fake.clone(),
            reorgs: reorgs.clone(),
            control: control.clone(),
        };
        let mut peers = Vec::with_capacity(config.peers);
        for (index, (addr, knobs)) in addrs.into_iter().zip(knobs).enumerate() {
            let peer = TestnetPeer::start(index, addr, spec.clone(), chains.clone(), knobs)
                .await
                .map_err(|source| TestnetError::Listen {
                    index,
                    addr,
                    source,
                })?;
            peers.push(peer);
        }
        let chain_toml = match &config.out_dir {
            Some(dir) => Some(write_chain_toml(dir, &main, config.checkpoint)?),
            None => None,
        };
        Ok(Self {
            chain: main,
            spec,
            peers,
            chain_toml,
            fork,
            fake,
            reorgs,
            control,
        })
    }

    /// The chain peers serve after `control.switch_to(i)`: 0 the main chain, `i` reorg chain `i`.
    pub fn reorg_chain(&self, i: usize) -> &Arc<TestnetChain> {
        match i.checked_sub(1) {
            Some(j) => &self.reorgs[j],
            None => &self.chain,
        }
    }

    /// Every peer's enode URL, by index.
    pub fn enodes(&self) -> Vec<Enode> {
        self.peers.iter().map(|p| p.enode).collect()
    }

    /// The head honest peers serve: number and hash.
    pub fn head(&self) -> (u64, B256) {
        (self.chain.head(), self.chain.head_hash())
    }

    /// Requests each peer received, by index.
    pub fn counts(&self) -> Vec<CountsSnapshot> {
        self.peers.iter().map(|p| p.counts()).collect()
    }

    /// Per block number, the body and receipt requests that named it, summed over every peer.
    pub fn asked(&self) -> std::collections::BTreeMap<u64, u64> {
        let mut sum = std::collections::BTreeMap::new();
        for (n, c) in self.peers.iter().flat_map(|p| p.asked()) {
            *sum.entry(n).or_default() += c;
        }
        sum
    }

    /// Stops every peer (also done on drop).
    pub fn stop(&self) {
        for p in &self.peers {
            p.stop();
        }
    }

    /// Waits until no peer has a live session (up to `within`); true if that happened.
    pub async fn idle_within(&self, within: Duration) -> bool {
        let until = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < until {
            if self.peers.iter().all(|p| p.live_sessions() == 0) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }
}

fn write_chain_toml(
    dir: &Path,
    chain: &TestnetChain,
    checkpoint: bool,
) -> Result<PathBuf, TestnetError> {
    let path = dir.join("chain.toml");
    let mut text = chain_toml(chain);
    if checkpoint {
        text.push_str(&format!(
            "checkpoint = \"{}:{}\"\n",
            chain.head(),
            chain.head_hash()
        ));
    }
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&path, text))
        .map_err(|source| TestnetError::Write {
            path: path.clone(),
            source,
        })?;
    Ok(path)
}

/// A client session (histd's real dial and session code) to `enode`, holding nothing but
/// genesis: for tests that talk to a testnet peer directly. Panics if it cannot connect.
pub async fn client_session(
    spec: &ChainSpec,
    enode: Enode,
    request_timeout: Duration,
) -> crate::p2p::session::SessionHandle {
    use crate::p2p::session::{self, EmptyHistory, PeerConfig, SessionConfig, StatusInputs};
    let status = StatusInputs {
        filter: spec.fork_filter(crate::p2p::chain::ForkHead::new(
            0u64,
            spec.genesis_timestamp,
        )),
        served: crate::p2p::eth::BlockRange::genesis(spec),
        spec: spec.clone(),
    };
    let config = PeerConfig::new(crate::p2p::node_key::NodeKey::random(), status);
    let tcp = tokio::net::TcpStream::connect(enode.addr)
        .await
        .expect("tcp connect");
    let eth = session::dial(tcp, enode.id, &config)
        .await
        .expect("handshake");
    let config = SessionConfig {
        request_timeout,
        ..SessionConfig::default()
    };
    session::spawn(eth, Arc::new(EmptyHistory), config).0
}

#[cfg(test)]
mod tests;
