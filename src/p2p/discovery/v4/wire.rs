//! discv4 packets (devp2p `discv4.md`): `hash || signature || type || rlp(data)`, with the hash and
//! the recoverable signature checked on decode, and EIP-8 forward compatibility (extra list elements
//! and trailing bytes after the list are ignored).
//!
//! Owns the byte format only: no sockets, no clocks (expiration is checked by [`check_expiration`]
//! with a time the caller passes). Nothing a remote sends may panic here or allocate beyond the
//! 1280-byte packet it arrived in.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use alloy_primitives::{B256, keccak256};
use alloy_rlp::Encodable;
use secp256k1::{
    Message as SecpMessage, SecretKey,
    ecdsa::{RecoverableSignature, RecoveryId},
};

use crate::p2p::discovery::{
    enr::MAX_ENR_SIZE,
    node_record::{NodeRecord, PeerId, peer_id_from_pubkey},
    rlp_reader::{ListReader, encode_list},
};

/// `discv4.md`: the maximum size of any packet.
pub const MAX_PACKET_SIZE: usize = 1280;
/// hash (32) + signature (65) + type (1).
pub const HEADER_SIZE: usize = 32 + 65 + 1;
/// Nodes per Neighbours packet we send: 12 keeps an all-IPv6 packet under 1280 bytes (geth's value).
pub const MAX_NEIGHBOURS_PER_PACKET: usize = 12;
/// Nodes per Neighbours packet we accept: a FindNode asks for at most a bucket (16).
pub const MAX_NEIGHBOURS_ACCEPTED: usize = 16;
/// Version we put in Ping (receivers ignore mismatches, per EIP-8).
pub const PING_VERSION: u64 = 4;

/// Why a datagram was not a valid discv4 packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Larger than `MAX_PACKET_SIZE`.
    #[error("packet is {size} bytes, more than {MAX_PACKET_SIZE}")]
    TooLarge {
        /// Its size.
        size: usize,
    },
    /// Shorter than the header.
    #[error("packet is {size} bytes, shorter than the {HEADER_SIZE}-byte header")]
    TooShort {
        /// Its size.
        size: usize,
    },
    /// `hash` is not keccak256 of the rest: not a discv4 packet, or corrupted.
    #[error("packet hash does not match its content")]
    HashMismatch,
    /// The signature does not recover to a public key.
    #[error("packet signature is invalid")]
    BadSignature,
    /// A packet type this implementation does not know.
    #[error("unknown packet type {packet_type:#04x}")]
    UnknownType {
        /// The type byte.
        packet_type: u8,
    },
    /// The packet data is not the RLP this type requires.
    #[error("malformed {packet} packet: {source}")]
    Rlp {
        /// Packet name.
        packet: &'static str,
        /// What RLP decoding found.
        source: alloy_rlp::Error,
    },
    /// An IP address field that is neither 4 nor 16 bytes.
    #[error("malformed {packet} packet: IP address of {len} bytes")]
    BadIp {
        /// Packet name.
        packet: &'static str,
        /// Bytes found.
        len: usize,
    },
    /// More nodes in one Neighbours packet than a FindNode can ask for.
    #[error("Neighbours packet with {count} nodes, more than {MAX_NEIGHBOURS_ACCEPTED}")]
    TooManyNeighbours {
        /// Nodes found.
        count: usize,
    },
    /// An ENRResponse whose record exceeds the ENR size limit.
    #[error("ENRResponse record of {size} bytes, more than {MAX_ENR_SIZE}")]
    EnrTooLarge {
        /// Its size.
        size: usize,
    },
}

/// Why a well-formed packet is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("packet expired at {expiration}, now is {now} (UNIX seconds)")]
pub struct Expired {
    /// The packet's expiration.
    pub expiration: u64,
    /// Our clock.
    pub now: u64,
}

/// A packet whose expiration lies in the past "may not be processed" (`discv4.md`).
pub fn check_expiration(expiration: u64, now: u64) -> Result<(), Expired> {
    if expiration < now {
        Err(Expired { expiration, now })
    } else {
        Ok(())
    }
}

/// An address as discv4 sends it: `[ip, udp-port, tcp-port]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// IP address.
    pub ip: IpAddr,
    /// UDP port.
    pub udp_port: u16,
    /// TCP port (0 when unknown).
    pub tcp_port: u16,
}

impl Endpoint {
    /// The endpoint of a UDP address with a known TCP port.
    pub fn new(addr: SocketAddr, tcp_port: u16) -> Self {
        Self {
            ip: addr.ip(),
            udp_port: addr.port(),
            tcp_port,
        }
    }
}

/// Ping (0x01): `[version, from, to, expiration, enr-seq?, ...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ping {
    /// Protocol version (ignored on receipt).
    pub version: u64,
    /// Sender's endpoint as the sender sees it.
    pub from: Endpoint,
    /// Recipient's endpoint as the sender sees it.
    pub to: Endpoint,
    /// UNIX seconds after which the packet is void.
    pub expiration: u64,
    /// Sender's ENR sequence number (EIP-868), when sent.
    pub enr_seq: Option<u64>,
}

/// Pong (0x02): `[to, ping-hash, expiration, enr-seq?, ...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pong {
    /// The pinger's endpoint as the ponger saw it.
    pub to: Endpoint,
    /// Hash of the Ping this answers.
    pub ping_hash: B256,
    /// UNIX seconds after which the packet is void.
    pub expiration: u64,
    /// Sender's ENR sequence number (EIP-868), when sent.
    pub enr_seq: Option<u64>,
}

/// FindNode (0x03): `[target, expiration, ...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindNode {
    /// The id whose neighbourhood is asked for.
    pub target: PeerId,
    /// UNIX seconds after which the packet is void.
    pub expiration: u64,
}

/// Neighbours (0x04): `[[ip, udp, tcp, id], ...], expiration, ...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbours {
    /// Nodes close to the asked target.
    pub nodes: Vec<NodeRecord>,
    /// UNIX seconds after which the packet is void.
    pub expiration: u64,
}

/// ENRRequest (0x05, EIP-868): `[expiration, ...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrRequest {
    /// UNIX seconds after which the packet is void.
    pub expiration: u64,
}

/// ENRResponse (0x06, EIP-868): `[request-hash, enr, ...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrResponse {
    /// Hash of the ENRRequest this answers.
    pub request_hash: B256,
    /// The record, RLP-encoded (verify with [`crate::p2p::discovery::enr::Enr::decode`]).
    pub enr: Vec<u8>,
}

/// Any discv4 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// 0x01
    Ping(Ping),
    /// 0x02
    Pong(Pong),
    /// 0x03
    FindNode(FindNode),
    /// 0x04
    Neighbours(Neighbours),
    /// 0x05
    EnrRequest(EnrRequest),
    /// 0x06
    EnrResponse(EnrResponse),
}

impl Message {
    /// The packet-type byte.
    pub fn packet_type(&self) -> u8 {
        match self {
            Self::Ping(_) => 0x01,
            Self::Pong(_) => 0x02,
            Self::FindNode(_) => 0x03,
            Self::Neighbours(_) => 0x04,
            Self::EnrRequest(_) => 0x05,
            Self::EnrResponse(_) => 0x06,
        }
    }

    /// The expiration, for the messages that carry one (all but ENRResponse).
    pub fn expiration(&self) -> Option<u64> {
        match self {
            Self::Ping(p) => Some(p.expiration),
            Self::Pong(p) => Some(p.expiration),
            Self::FindNode(p) => Some(p.expiration),
            Self::Neighbours(p) => Some(p.expiration),
            Self::EnrRequest(p) => Some(p.expiration),
            Self::EnrResponse(_) => None,
        }
    }

    /// Name for errors and logs.
    pub fn name(&self) -> &'static str {
        type_name(self.packet_type())
    }

    fn encode_data(&self, out: &mut Vec<u8>) {
        match self {
            Self::Ping(p) => encode_list(out, |o| {
                p.version.encode(o);
                encode_endpoint(&p.from, o);
                encode_endpoint(&p.to, o);
                p.expiration.encode(o);
                if let Some(seq) = p.enr_seq {
                    seq.encode(o);
                }
            }),
            Self::Pong(p) => encode_list(out, |o| {
                encode_endpoint(&p.to, o);
                p.ping_hash.as_slice().encode(o);
                p.expiration.encode(o);
                if let Some(seq) = p.enr_seq {
                    seq.encode(o);
                }
            }),
            Self::FindNode(p) => encode_list(out, |o| {
                p.target.as_slice().encode(o);
                p.expiration.encode(o);
            }),
            Self::Neighbours(p) => encode_list(out, |o| {
                encode_list(o, |o| {
                    for n in &p.nodes {
                        encode_list(o, |o| {
                            encode_ip(n.ip, o);
                            n.udp_port.encode(o);
                            n.tcp_port.encode(o);
                            n.id.as_slice().encode(o);
                        });
                    }
                });
                p.expiration.encode(o);
            }),
            Self::EnrRequest(p) => encode_list(out, |o| p.expiration.encode(o)),
            Self::EnrResponse(p) => encode_list(out, |o| {
                p.request_hash.as_slice().encode(o);
                // The record is already RLP: it goes in as is.
                o.extend_from_slice(&p.enr);
            }),
        }
    }
}

fn type_name(packet_type: u8) -> &'static str {
    match packet_type {
        0x01 => "Ping",
        0x02 => "Pong",
        0x03 => "FindNode",
        0x04 => "Neighbours",
        0x05 => "ENRRequest",
        0x06 => "ENRResponse",
        _ => "unknown",
    }
}

fn encode_ip(ip: IpAddr, out: &mut Vec<u8>) {
    match ip {
        IpAddr::V4(v4) => v4.octets().as_slice().encode(out),
        IpAddr::V6(v6) => v6.octets().as_slice().encode(out),
    }
}

fn encode_endpoint(e: &Endpoint, out: &mut Vec<u8>) {
    encode_list(out, |o| {
        encode_ip(e.ip, o);
        e.udp_port.encode(o);
        e.tcp_port.encode(o);
    });
}

/// A packet that passed the hash and signature checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// The packet hash (Pong and ENRResponse refer to it).
    pub hash: B256,
    /// The node that signed it.
    pub signer: PeerId,
    /// Its content.
    pub message: Message,
}

/// Signs and encodes `message`; returns the datagram and its hash.
pub fn encode_packet(message: &Message, key: &SecretKey) -> (Vec<u8>, B256) {
    let mut out = vec![0u8; HEADER_SIZE];
    out[HEADER_SIZE - 1] = message.packet_type();
    message.encode_data(&mut out);
    let digest = keccak256(&out[HEADER_SIZE - 1..]);
    let (recid, sig) =
        RecoverableSignature::sign_ecdsa_recoverable(SecpMessage::from_digest(digest.0), key)
            .serialize_compact();
    out[32..96].copy_from_slice(&sig);
    out[96] = recid.to_u8();
    let hash = keccak256(&out[32..]);
    out[..32].copy_from_slice(hash.as_slice());
    (out, hash)
}

/// Checks hash and signature and decodes the message. Expiration is not checked here (see
/// [`check_expiration`]) so that old test vectors still decode.
pub fn decode_packet(datagram: &[u8]) -> Result<Packet, WireError> {
    if datagram.len() > MAX_PACKET_SIZE {
        return Err(WireError::TooLarge {
            size: datagram.len(),
        });
    }
    if datagram.len() < HEADER_SIZE {
        return Err(WireError::TooShort {
            size: datagram.len(),
        });
    }
    let hash = keccak256(&datagram[32..]);
    if hash.as_slice() != &datagram[..32] {
        return Err(WireError::HashMismatch);
    }
    let recid =
        RecoveryId::try_from(i32::from(datagram[96])).map_err(|_| WireError::BadSignature)?;
    let sig = RecoverableSignature::from_compact(&datagram[32..96], recid)
        .map_err(|_| WireError::BadSignature)?;
    let digest = keccak256(&datagram[HEADER_SIZE - 1..]);
    let pubkey = sig
        .recover_ecdsa(SecpMessage::from_digest(digest.0))
        .map_err(|_| WireError::BadSignature)?;
    let packet_type = datagram[HEADER_SIZE - 1];
    let message = decode_data(packet_type, &datagram[HEADER_SIZE..])?;
    Ok(Packet {
        hash,
        signer: peer_id_from_pubkey(&pubkey),
        message,
    })
}

fn decode_data(packet_type: u8, data: &[u8]) -> Result<Message, WireError> {
    let packet = type_name(packet_type);
    let rlp = |source| WireError::Rlp { packet, source };
    // Anything after the list is ignored (EIP-8).
    let mut buf = data;
    let mut list = ListReader::new(&mut buf).map_err(rlp)?;
    let message = match packet_type {
        0x01 => {
            let version = list.u64().map_err(rlp)?;
            let from = decode_endpoint(&mut list, packet)?;
            let to = decode_endpoint(&mut list, packet)?;
            let expiration = list.u64().map_err(rlp)?;
            let enr_seq = optional_u64(&mut list);
            Message::Ping(Ping {
                version,
                from,
                to,
                expiration,
                enr_seq,
            })
        }
        0x02 => {
            let to = decode_endpoint(&mut list, packet)?;
            let ping_hash = B256::from(list.fixed::<32>().map_err(rlp)?);
            let expiration = list.u64().map_err(rlp)?;
            let enr_seq = optional_u64(&mut list);
            Message::Pong(Pong {
                to,
                ping_hash,
                expiration,
                enr_seq,
            })
        }
        0x03 => {
            let target = PeerId::from(list.fixed::<64>().map_err(rlp)?);
            let expiration = list.u64().map_err(rlp)?;
            Message::FindNode(FindNode { target, expiration })
        }
        0x04 => {
            let mut nodes_list = list.list().map_err(rlp)?;
            let mut nodes = Vec::new();
            while !nodes_list.is_empty() {
                if nodes.len() == MAX_NEIGHBOURS_ACCEPTED {
                    let mut count = nodes.len();
                    while nodes_list.skip().is_ok() {
                        count += 1;
                    }
                    return Err(WireError::TooManyNeighbours { count });
                }
                let mut node = nodes_list.list().map_err(rlp)?;
                let ip = decode_ip(&mut node, packet)?;
                let udp_port = node.u16().map_err(rlp)?;
                let tcp_port = node.u16().map_err(rlp)?;
                let id = PeerId::from(node.fixed::<64>().map_err(rlp)?);
                nodes.push(NodeRecord {
                    id,
                    ip,
                    tcp_port,
                    udp_port,
                });
            }
            let expiration = list.u64().map_err(rlp)?;
            Message::Neighbours(Neighbours { nodes, expiration })
        }
        0x05 => Message::EnrRequest(EnrRequest {
            expiration: list.u64().map_err(rlp)?,
        }),
        0x06 => {
            let request_hash = B256::from(list.fixed::<32>().map_err(rlp)?);
            let enr = list.raw().map_err(rlp)?;
            if enr.len() > MAX_ENR_SIZE {
                return Err(WireError::EnrTooLarge { size: enr.len() });
            }
            Message::EnrResponse(EnrResponse {
                request_hash,
                enr: enr.to_vec(),
            })
        }
        other => return Err(WireError::UnknownType { packet_type: other }),
    };
    Ok(message)
}

/// EIP-868's optional trailing `enr-seq`; anything unreadable there is an EIP-8 extra and ignored.
fn optional_u64(list: &mut ListReader<'_>) -> Option<u64> {
    if list.is_empty() {
        None
    } else {
        list.u64().ok()
    }
}

fn decode_ip(list: &mut ListReader<'_>, packet: &'static str) -> Result<IpAddr, WireError> {
    let b = list
        .bytes()
        .map_err(|source| WireError::Rlp { packet, source })?;
    match b.len() {
        // Some implementations leave their own address empty; it is never used to reach them.
        0 => Ok(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        4 => Ok(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))),
        16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(b);
            Ok(Ipv6Addr::from(a).to_canonical())
        }
        len => Err(WireError::BadIp { packet, len }),
    }
}

fn decode_endpoint(list: &mut ListReader<'_>, packet: &'static str) -> Result<Endpoint, WireError> {
    let rlp = |source| WireError::Rlp { packet, source };
    let mut e = list.list().map_err(rlp)?;
    let ip = decode_ip(&mut e, packet)?;
    let udp_port = e.u16().map_err(rlp)?;
    let tcp_port = e.u16().map_err(rlp)?;
    Ok(Endpoint {
        ip,
        udp_port,
        tcp_port,
    })
}
