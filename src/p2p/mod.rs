//! devp2p: RLPx transport, the base protocol, the eth sub-protocol, sessions and chain specs.
//!
//! Layers, each a typestate step: TCP → [`rlpx::RlpxStream`] (ECIES handshake) →
//! [`base::P2pStream`] (Hello) → [`session::EthStream`] (Status) → [`session::spawn`]ed session
//! task driven through a [`session::SessionHandle`]. Plus the node's identity ([`node_key`]) and
//! peer addresses ([`enode`]).

pub mod base;
pub mod chain;
pub mod discovery;
pub mod enode;
pub mod eth;
pub mod node_key;
pub mod pool;
pub mod rlpx;
pub mod session;
pub mod tasks;
