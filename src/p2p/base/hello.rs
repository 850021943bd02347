//! The Hello message (devp2p `rlpx.md`, "Hello (0x00)") and capability negotiation.
//!
//! Decoding is lenient as EIP-8 asks: extra list elements and higher protocol versions are
//! accepted. Negotiation keeps, for each capability name both sides offer, the highest common
//! version, and assigns message-id offsets from 0x10 in alphabetical order of names.

use alloy_rlp::{Decodable, Encodable, Header};

use crate::p2p::rlpx::PeerId;

/// The base protocol version we speak (5 = snappy compression after Hello).
pub const P2P_VERSION: u64 = 5;
/// First message id of the first sub-protocol; 0x00..0x0f are the base protocol's.
pub const BASE_PROTOCOL_LEN: u8 = 0x10;
/// A Hello listing more capabilities than this is refused (bounds memory).
const MAX_CAPABILITIES: usize = 64;
/// Longest `client_id` we accept, in bytes. Real clients send well under 100 (geth's
/// `Geth/v1.14.11-stable-f3c696fa/linux-amd64/go1.23.2` is 50). Longer is refused as a protocol
/// breach rather than truncated: the name goes into logs and metric labels, an honest client
/// never needs more, and refusing at Hello costs nothing (no session state exists yet), whereas
/// truncating would still let a peer pick what we log.
pub const MAX_CLIENT_ID_LEN: usize = 256;

/// A capability: sub-protocol name and version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Capability {
    /// Name, e.g. `eth`.
    pub name: String,
    /// Version, e.g. 68.
    pub version: u64,
}

impl Capability {
    /// `eth/<version>`.
    pub fn eth(version: u64) -> Self {
        Self {
            name: "eth".into(),
            version,
        }
    }
}

impl std::fmt::Display for Capability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.name, self.version)
    }
}

/// Number of message ids a capability version uses, for the capabilities we can speak.
pub fn message_count(cap: &Capability) -> Option<u8> {
    match (cap.name.as_str(), cap.version) {
        ("eth", 68) => Some(17),
        ("eth", 69) => Some(18),
        _ => None,
    }
}

/// A Hello, ours or the peer's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// Base protocol version.
    pub protocol_version: u64,
    /// Free-form client name.
    pub client_id: String,
    /// Offered capabilities.
    pub capabilities: Vec<Capability>,
    /// Advertised TCP listening port (0: none).
    pub listen_port: u16,
    /// Node id; must match the key proven by the RLPx handshake.
    pub id: PeerId,
}

/// Why a Hello could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed hello: {0}")]
pub struct HelloDecodeError(pub String);

impl From<alloy_rlp::Error> for HelloDecodeError {
    fn from(e: alloy_rlp::Error) -> Self {
        Self(e.to_string())
    }
}

fn fields_len(h: &Hello) -> usize {
    h.protocol_version.length()
        + h.client_id.as_bytes().length()
        + caps_payload_len(&h.capabilities)
        + alloy_rlp::length_of_length(caps_payload_len(&h.capabilities))
        + h.listen_port.length()
        + h.id.as_slice().length()
}

fn cap_payload(c: &Capability) -> usize {
    c.name.as_bytes().length() + c.version.length()
}

fn caps_payload_len(caps: &[Capability]) -> usize {
    caps.iter()
        .map(|c| cap_payload(c) + alloy_rlp::length_of_length(cap_payload(c)))
        .sum()
}

impl Hello {
    /// RLP encoding (without message id).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        Header {
            list: true,
            payload_length: fields_len(self),
        }
        .encode(&mut out);
        self.protocol_version.encode(&mut out);
        self.client_id.as_bytes().encode(&mut out);
        Header {
            list: true,
            payload_length: caps_payload_len(&self.capabilities),
        }
        .encode(&mut out);
        for c in &self.capabilities {
            Header {
                list: true,
                payload_length: cap_payload(c),
            }
            .encode(&mut out);
            c.name.as_bytes().encode(&mut out);
            c.version.encode(&mut out);
        }
        self.listen_port.encode(&mut out);
        self.id.as_slice().encode(&mut out);
        out
    }

    /// Decodes a Hello, ignoring extra elements at every list level.
    pub fn decode(mut buf: &[u8]) -> Result<Self, HelloDecodeError> {
        let mut list = open_list(&mut buf)?;
        let protocol_version = u64::decode(&mut list)?;
        let raw_client_id = Header::decode_bytes(&mut list, false)?;
        if raw_client_id.len() > MAX_CLIENT_ID_LEN {
            return Err(HelloDecodeError(format!(
                "client id of {} bytes exceeds {MAX_CLIENT_ID_LEN}",
                raw_client_id.len()
            )));
        }
        let client_id = String::from_utf8_lossy(raw_client_id).into_owned();
        let mut caps_buf = open_list(&mut list)?;
        let mut capabilities = Vec::new();
        while !caps_buf.is_empty() {
            if capabilities.len() == MAX_CAPABILITIES {
                return Err(HelloDecodeError(format!(
                    "more than {MAX_CAPABILITIES} capabilities"
                )));
            }
            let mut cap = open_list(&mut caps_buf)?;
            let name = Header::decode_bytes(&mut cap, false)?;
            let version = u64::decode(&mut cap)?;
            capabilities.push(Capability {
                name: String::from_utf8_lossy(name).into_owned(),
                version,
            });
        }
        let listen_port = u16::decode(&mut list)?;
        let id = Header::decode_bytes(&mut list, false)?;
        let id: [u8; 64] = id
            .try_into()
            .map_err(|_| HelloDecodeError(format!("node id of {} bytes", id.len())))?;
        Ok(Self {
            protocol_version,
            client_id,
            capabilities,
            listen_port,
            id: PeerId::from(id),
        })
    }
}

fn open_list<'a>(buf: &mut &'a [u8]) -> Result<&'a [u8], HelloDecodeError> {
    let h = Header::decode(buf)?;
    if !h.list {
        return Err(HelloDecodeError("expected a list".into()));
    }
    if h.payload_length > buf.len() {
        return Err(alloy_rlp::Error::InputTooShort.into());
    }
    let (inner, rest) = buf.split_at(h.payload_length);
    *buf = rest;
    Ok(inner)
}

/// A capability both sides speak, with its message-id range on this connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedCapability {
    /// The negotiated capability (highest common version).
    pub capability: Capability,
    /// Its first message id on the wire.
    pub offset: u8,
    /// How many ids it uses.
    pub count: u8,
}

/// Picks, for each name both offer and we can speak, the highest common version; assigns offsets
/// from 0x10 in name order. Empty when nothing is shared.
pub fn negotiate(ours: &[Capability], theirs: &[Capability]) -> Vec<SharedCapability> {
    let mut best: std::collections::BTreeMap<&str, &Capability> = Default::default();
    for c in ours
        .iter()
        .filter(|c| theirs.contains(c) && message_count(c).is_some())
    {
        let e = best.entry(c.name.as_str()).or_insert(c);
        if c.version > e.version {
            *e = c;
        }
    }
    let mut offset = BASE_PROTOCOL_LEN;
    best.into_values()
        .map(|c| {
            let count = message_count(c).unwrap_or(0);
            let shared = SharedCapability {
                capability: c.clone(),
                offset,
                count,
            };
            offset = offset.saturating_add(count);
            shared
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::hex;

    #[test]
    fn client_id_longer_than_the_bound_is_refused() {
        let mut h = Hello {
            protocol_version: P2P_VERSION,
            client_id: "x".repeat(MAX_CLIENT_ID_LEN),
            capabilities: vec![Capability::eth(69)],
            listen_port: 0,
            id: PeerId::ZERO,
        };
        assert_eq!(Hello::decode(&h.encode()).unwrap(), h);
        h.client_id.push('x');
        let e = Hello::decode(&h.encode()).unwrap_err();
        assert!(e.0.contains("257 bytes"), "{e}");
    }

    #[test]
    fn eip8_hello_with_extra_elements_and_version_55() {
        let path = crate::p2p::rlpx::tests_support::vectors_path();
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let raw = hex::decode(
            v["devp2p_hello"]["hello_extra_elements"]["rlp"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        let h = Hello::decode(&raw).unwrap();
        assert_eq!(h.protocol_version, 55);
        assert_eq!(h.client_id, "kneth/v0.91/plan9");
        assert_eq!(
            h.capabilities,
            vec![
                Capability::eth(61),
                Capability {
                    name: "mork".into(),
                    version: 22
                }
            ]
        );
        assert_eq!(h.listen_port, 9999);
        assert_eq!(&h.id[..4], &hex!("fda1cff6"));
    }

    #[test]
    fn roundtrip_and_negotiation() {
        let h = Hello {
            protocol_version: 5,
            client_id: "histd".into(),
            capabilities: vec![Capability::eth(68), Capability::eth(69)],
            listen_port: 30303,
            id: PeerId::repeat_byte(3),
        };
        assert_eq!(Hello::decode(&h.encode()).unwrap(), h);
        let both = [Capability::eth(68), Capability::eth(69)];
        let shared = negotiate(&both, &[Capability::eth(67), Capability::eth(68)]);
        assert_eq!(shared.len(), 1);
        assert_eq!(shared[0].capability, Capability::eth(68));
        assert_eq!((shared[0].offset, shared[0].count), (0x10, 17));
        assert_eq!(negotiate(&both, &both)[0].capability, Capability::eth(69));
        assert!(negotiate(&both, &[Capability::eth(66)]).is_empty());
        assert!(negotiate(&[Capability::eth(70)], &[Capability::eth(70)]).is_empty());
    }

    #[test]
    fn garbage_is_an_error() {
        for raw in [
            &b""[..],
            b"\xc0",
            b"\x05",
            b"\xc3\x05\x80\xc0",
            b"\xf9\xff\xff",
        ] {
            assert!(Hello::decode(raw).is_err());
        }
    }
}
