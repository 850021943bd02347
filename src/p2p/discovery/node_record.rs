//! Node records: who a peer is (its 64-byte secp256k1 public key) and where to reach it (IP, TCP
//! port for RLPx, UDP port for discovery), with the `enode://` URL form used in configs and logs.
//!
//! Owns only the value type and its text form; it never resolves host names (an enode names an IP)
//! and never touches the network.

use std::{
    fmt,
    net::{IpAddr, SocketAddr},
    str::FromStr,
};

use alloy_primitives::B512;
use secp256k1::PublicKey;

/// A node's identity: its secp256k1 public key, uncompressed, without the `0x04` prefix.
pub type PeerId = B512;

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

/// Why an `enode://` URL was rejected. Every variant says which part was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnodeParseError {
    /// The text does not start with `enode://`.
    #[error("enode URL must start with \"enode://\"")]
    MissingScheme,
    /// No `@` between the node id and the address.
    #[error("enode URL has no '@' between the node id and the address")]
    MissingAt,
    /// The node id is not 128 hex characters.
    #[error("enode node id must be 128 hex characters, got {len} characters")]
    BadIdLength {
        /// Characters found.
        len: usize,
    },
    /// The node id contains something that is not hex.
    #[error("enode node id is not hex")]
    BadIdHex,
    /// The node id is 64 bytes but not a secp256k1 public key.
    #[error("enode node id is not a valid secp256k1 public key")]
    NotOnCurve,
    /// The address part is not `ip:port` (host names are not resolved here).
    #[error("enode address {addr:?} is not ip:port (host names are not accepted)")]
    BadAddress {
        /// The address text.
        addr: String,
    },
    /// The query string is not `discport=<u16>`.
    #[error("enode query {query:?} is not discport=<port>")]
    BadQuery {
        /// The query text.
        query: String,
    },
}

impl FromStr for NodeRecord {
    type Err = EnodeParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rest = s
            .trim()
            .strip_prefix("enode://")
            .ok_or(EnodeParseError::MissingScheme)?;
        let (id_hex, addr_part) = rest.split_once('@').ok_or(EnodeParseError::MissingAt)?;
        if id_hex.len() != 128 {
            return Err(EnodeParseError::BadIdLength {
                len: id_hex.chars().count(),
            });
        }
        let id = PeerId::from_str(id_hex).map_err(|_| EnodeParseError::BadIdHex)?;
        pubkey_from_peer_id(&id).map_err(|_| EnodeParseError::NotOnCurve)?;

        let (addr, query) = match addr_part.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (addr_part, None),
        };
        let sock = SocketAddr::from_str(addr).map_err(|_| EnodeParseError::BadAddress {
            addr: addr.to_string(),
        })?;
        let udp_port = match query {
            None => sock.port(),
            Some(q) => q
                .strip_prefix("discport=")
                .and_then(|p| p.parse::<u16>().ok())
                .ok_or_else(|| EnodeParseError::BadQuery {
                    query: q.to_string(),
                })?,
        };
        Ok(Self {
            id,
            ip: sock.ip(),
            tcp_port: sock.port(),
            udp_port,
        })
    }
}

impl fmt::Display for NodeRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `{:x}` on B512 prints without the 0x prefix.
        write!(f, "enode://{:x}@{}", self.id, self.tcp_addr())?;
        if self.udp_port != self.tcp_port {
            write!(f, "?discport={}", self.udp_port)?;
        }
        Ok(())
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
        assert_eq!(
            "http://x".parse::<NodeRecord>(),
            Err(EnodeParseError::MissingScheme)
        );
        assert_eq!(
            format!("enode://{ID}").parse::<NodeRecord>(),
            Err(EnodeParseError::MissingAt)
        );
        assert_eq!(
            "enode://abcd@1.2.3.4:1".parse::<NodeRecord>(),
            Err(EnodeParseError::BadIdLength { len: 4 })
        );
        let bad_hex = format!("enode://{}zz@1.2.3.4:1", &ID[..126]);
        assert_eq!(
            bad_hex.parse::<NodeRecord>(),
            Err(EnodeParseError::BadIdHex)
        );
        let off_curve = format!("enode://{}@1.2.3.4:1", "00".repeat(64));
        assert_eq!(
            off_curve.parse::<NodeRecord>(),
            Err(EnodeParseError::NotOnCurve)
        );
        assert!(matches!(
            format!("enode://{ID}@bootnode.example:30303").parse::<NodeRecord>(),
            Err(EnodeParseError::BadAddress { .. })
        ));
        assert!(matches!(
            format!("enode://{ID}@1.2.3.4:1?disc=2").parse::<NodeRecord>(),
            Err(EnodeParseError::BadQuery { .. })
        ));
    }
}
