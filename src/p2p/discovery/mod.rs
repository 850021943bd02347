//! Peer discovery: node records and enode URLs, discv4 (UDP Kademlia), DNS discovery (EIP-1459)
//! and the built-in bootnode lists. Produces [`NodeRecord`]s for the peer pool to dial.
//!
//! Owns finding nodes only: it never opens RLPx sessions and never decides which peers to keep.

pub mod bootnodes;
pub mod dns;
pub mod enr;
pub mod node_record;
mod rlp_reader;
pub mod sources;
pub mod v4;

pub use node_record::{EnodeParseError, NodeRecord, PeerId};
pub use sources::{Discovered, Discovery, DiscoverySettings, Source, start_discovery};
