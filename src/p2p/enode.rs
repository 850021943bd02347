//! enode URLs: `enode://<128 hex node id>@<ip>:<tcp port>[?discport=<udp port>]`, parsed and
//! printed. Only IP literals: resolving host names is the caller's job (it may block).

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use crate::p2p::rlpx::PeerId;

/// A peer address with its node id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Enode {
    /// Node id (public key).
    pub id: PeerId,
    /// TCP (RLPx) address.
    pub addr: SocketAddr,
    /// UDP discovery port (defaults to the TCP port).
    pub udp_port: u16,
}

/// Why an enode URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid enode URL {url:?}: {reason}")]
pub struct EnodeParseError {
    /// The input.
    pub url: String,
    /// What is wrong.
    pub reason: &'static str,
}

impl FromStr for Enode {
    type Err = EnodeParseError;

    fn from_str(url: &str) -> Result<Self, EnodeParseError> {
        let err = |reason| EnodeParseError {
            url: url.to_owned(),
            reason,
        };
        let rest = url
            .strip_prefix("enode://")
            .ok_or_else(|| err("must start with enode://"))?;
        let (id_hex, rest) = rest
            .split_once('@')
            .ok_or_else(|| err("missing @ between node id and address"))?;
        if id_hex.len() != 128 {
            return Err(err("node id must be 128 hex characters"));
        }
        let id = PeerId::from_str(id_hex).map_err(|_| err("node id is not hex"))?;
        let (addr_part, query) = match rest.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (rest, None),
        };
        let (host, port) = addr_part
            .rsplit_once(':')
            .ok_or_else(|| err("missing :port"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let ip = IpAddr::from_str(host).map_err(|_| err("host must be an IP address"))?;
        let port = u16::from_str(port).map_err(|_| err("port is not a number 0-65535"))?;
        let mut udp_port = port;
        if let Some(q) = query {
            for pair in q.split('&') {
                if let Some(v) = pair.strip_prefix("discport=") {
                    udp_port = u16::from_str(v).map_err(|_| err("discport is not a port"))?;
                }
            }
        }
        Ok(Self {
            id,
            addr: SocketAddr::new(ip, port),
            udp_port,
        })
    }
}

impl std::fmt::Display for Enode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let id = alloy_primitives::hex::encode(self.id);
        write!(f, "enode://{id}@{}", self.addr)?;
        if self.udp_port != self.addr.port() {
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
    fn parse_and_print() {
        let url = format!("enode://{ID}@18.138.108.67:30303");
        let e: Enode = url.parse().unwrap();
        assert_eq!(e.addr.port(), 30303);
        assert_eq!(e.udp_port, 30303);
        assert_eq!(e.to_string(), url);
        let v6 = format!("enode://{ID}@[::1]:30303?discport=30301");
        let e: Enode = v6.parse().unwrap();
        assert_eq!(e.udp_port, 30301);
        assert_eq!(e.to_string(), v6);
        for bad in [
            "enode://abc@1.2.3.4:1".to_string(),
            format!("enode://{ID}@host.example:30303"),
            format!("enode://{ID}@1.2.3.4"),
            format!("enode://{ID}1.2.3.4:5"),
            format!("http://{ID}@1.2.3.4:5"),
            format!("enode://{ID}@1.2.3.4:70000"),
        ] {
            assert!(bad.parse::<Enode>().is_err(), "{bad}");
        }
    }
}
