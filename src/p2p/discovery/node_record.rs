//! Node records: who a peer is (its 64-byte secp256k1 public key) and where to reach it (IP, TCP
//! port for RLPx, UDP port for discovery), with the `enode://` URL form used in configs and logs.
//!
//! Owns only the value type; the text form is parsed by [`crate::p2p::enode`] (shared with RLPx)
//! plus a check that the id is a curve point. It never resolves host names and never touches the
//! network.

use std::{
    fmt,
    net::{IpAddr, SocketAddr},
    str::FromStr,
};

use secp256k1::PublicKey;

use crate::p2p::enode::Enode;
pub use crate::p2p::enode::EnodeParseError;

/// A node's identity: its secp256k1 public key, uncompressed, without the `0x04` prefix (the
/// RLPx layer's type).
pub use crate::p2p::rlpx::PeerId;

/// Converts a public key to its 64-byte node id.
pub fn peer_id_from_pubkey(pk: &PublicKey) -> PeerId {
    let full = pk.serialize_uncompressed();
    PeerId::from_slice(&full[1..])
}

/// Converts a node id back to a public key; fails when the 64 bytes are not a curve point.
pub fn pubkey_from_peer_id(id: &PeerId) -> Result<PublicKey, secp256k1::Error> {
    let mut full = [0u8; 65];
    full[0] = 0x04;
    full[1..].copy_from_slice(id.as_slice());
    PublicKey::from_byte_array_uncompressed(full)
}

/// Where a node is and who it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NodeRecord {
    /// The node's public key.
    pub id: PeerId,
    /// Its IP address (v4 or v6).
    pub ip: IpAddr,
    /// RLPx (TCP) port; 0 when the node does not accept connections.
    pub tcp_port: u16,
    /// Discovery (UDP) port.
    pub udp_port: u16,
}

impl NodeRecord {
    /// A record whose TCP and UDP ports are the same (the usual case).
    pub fn new(id: PeerId, ip: IpAddr, port: u16) -> Self {
        Self {
            id,
            ip,
            tcp_port: port,
            udp_port: port,
        }
    }

    /// The RLPx address to dial.
    pub fn tcp_addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.tcp_port)
    }

    /// The discovery address to ping.
    pub fn udp_addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.udp_port)
    }
}

impl From<Enode> for NodeRecord {
    fn from(e: Enode) -> Self {
        Self {
            id: e.id,
            ip: e.addr.ip(),
            tcp_port: e.addr.port(),
            udp_port: e.udp_port,
        }
    }
}

impl From<NodeRecord> for Enode {
    fn from(r: NodeRecord) -> Self {
        Self {
            id: r.id,
            addr: r.tcp_addr(),
            udp_port: r.udp_port,
        }
    }
}

impl FromStr for NodeRecord {
    type Err = EnodeParseError;

    /// Parses `enode://<128 hex>@ip:tcp[?discport=udp]` and checks that the id is a public key
    /// (a node whose id is not on the curve could never complete a handshake).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let enode: Enode = s.trim().parse()?;
        pubkey_from_peer_id(&enode.id).map_err(|_| EnodeParseError {
            url: s.to_string(),
            reason: "node id is not a valid secp256k1 public key",
        })?;
        Ok(enode.into())
    }
}

impl fmt::Display for NodeRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Enode::from(*self).fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "d860a01f9722d78051619d1e2351aba3f43f943f6f00718d1b9baa4101932a1f5011f16bb2b1bb35db20d6fe28fa0bf09636d26a87d31de9ec6203eeedb1f666";

    #[test]
    fn parses_and_prints_enode() {
        let text = format!("enode://{ID}@18.138.108.67:30303");
        let rec: NodeRecord = text.parse().unwrap();
        assert_eq!(rec.tcp_port, 30303);
        assert_eq!(rec.udp_port, 30303);
        assert_eq!(rec.to_string(), text);

        let text = format!("enode://{ID}@[::1]:30303?discport=30301");
        let rec: NodeRecord = text.parse().unwrap();
        assert_eq!(rec.udp_port, 30301);
        assert_eq!(rec.to_string(), text);
    }

    #[test]
    fn rejects_bad_enodes_clearly() {
        let reason = |s: String| s.parse::<NodeRecord>().unwrap_err().reason;
        assert_eq!(reason("http://x".into()), "must start with enode://");
        assert_eq!(
            reason("enode://abcd@1.2.3.4:1".into()),
            "node id must be 128 hex characters"
        );
        assert_eq!(
            reason(format!("enode://{}@1.2.3.4:1", "00".repeat(64))),
            "node id is not a valid secp256k1 public key"
        );
        assert_eq!(
            reason(format!("enode://{ID}@bootnode.example:30303")),
            "host must be an IP address"
        );
    }
}
