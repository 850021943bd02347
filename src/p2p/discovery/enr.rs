//! Ethereum Node Records (EIP-778) with the "v4" identity scheme: decode and verify a record, read
//! the keys histd needs (`secp256k1`, `ip`, `tcp`, `udp`, `ip6`, `tcp6`, `udp6`), and build and sign
//! simple records (our own, and the ones tests publish).
//!
//! Owns the ENR byte format only. It never trusts a record whose signature does not verify, and
//! never reads more than [`MAX_ENR_SIZE`] bytes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use alloy_primitives::keccak256;
use alloy_rlp::Encodable;
use data_encoding::BASE64URL_NOPAD;
use secp256k1::{Message, PublicKey, SecretKey, ecdsa::Signature};

use super::{
    node_record::{NodeRecord, PeerId, peer_id_from_pubkey},
    rlp_reader::{ListReader, encode_list},
};

/// EIP-778: a record is at most 300 bytes.
pub const MAX_ENR_SIZE: usize = 300;

/// Why a node record was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnrError {
    /// Longer than EIP-778 allows.
    #[error("ENR is {size} bytes, more than the {MAX_ENR_SIZE} allowed")]
    TooLarge {
        /// Its size.
        size: usize,
    },
    /// Text form without the `enr:` prefix.
    #[error("ENR text must start with \"enr:\"")]
    MissingPrefix,
    /// Text form that is not base64url.
    #[error("ENR text is not base64url")]
    BadBase64,
    /// Not an RLP list of the right shape.
    #[error("ENR is not valid RLP: {0}")]
    Rlp(alloy_rlp::Error),
    /// Keys not sorted or repeated (EIP-778 requires sorted, unique keys).
    #[error("ENR keys are not sorted and unique")]
    KeysNotSorted,
    /// Identity scheme other than "v4".
    #[error("ENR identity scheme is not \"v4\"")]
    UnsupportedScheme,
    /// No usable `secp256k1` key.
    #[error("ENR has no valid \"secp256k1\" public key")]
    MissingPublicKey,
    /// The signature does not verify against the record's key.
    #[error("ENR signature does not verify")]
    BadSignature,
    /// An address field of the wrong size.
    #[error("ENR field {key:?} has the wrong size")]
    BadField {
        /// The key.
        key: &'static str,
    },
}

impl From<alloy_rlp::Error> for EnrError {
    fn from(e: alloy_rlp::Error) -> Self {
        Self::Rlp(e)
    }
}

/// A verified node record, reduced to the fields histd uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enr {
    /// Sequence number (higher replaces lower).
    pub seq: u64,
    /// The node id (public key).
    pub id: PeerId,
    /// IPv4 endpoint, if any.
    pub ip4: Option<Ipv4Addr>,
    /// IPv4 TCP port.
    pub tcp4: Option<u16>,
    /// IPv4 UDP port.
    pub udp4: Option<u16>,
    /// IPv6 endpoint, if any.
    pub ip6: Option<Ipv6Addr>,
    /// IPv6 TCP port (`tcp6`, falling back to `tcp`).
    pub tcp6: Option<u16>,
    /// IPv6 UDP port (`udp6`, falling back to `udp`).
    pub udp6: Option<u16>,
}

impl Enr {
    /// Decodes and verifies the RLP form of a record.
    pub fn decode(raw: &[u8]) -> Result<Self, EnrError> {
        if raw.len() > MAX_ENR_SIZE {
            return Err(EnrError::TooLarge { size: raw.len() });
        }
        let mut buf = raw;
        let mut list = ListReader::new(&mut buf)?;
        let signature = list.bytes()?;
        // The signed content is rlp([seq, k, v, ...]): the same items without the signature.
        let content_items = list;
        let seq = list.u64()?;

        let mut scheme_v4 = false;
        let mut pubkey = None;
        let mut rec = Enr {
            seq,
            id: PeerId::ZERO,
            ip4: None,
            tcp4: None,
            udp4: None,
            ip6: None,
            tcp6: None,
            udp6: None,
        };
        let (mut tcp, mut udp) = (None, None);
        let mut prev_key: Option<&[u8]> = None;
        while !list.is_empty() {
            let key = list.bytes()?;
            if prev_key.is_some_and(|p| p >= key) {
                return Err(EnrError::KeysNotSorted);
            }
            prev_key = Some(key);
            match key {
                b"id" => scheme_v4 = list.bytes()? == b"v4",
                b"secp256k1" => {
                    let b = list.bytes()?;
                    pubkey =
                        Some(PublicKey::from_slice(b).map_err(|_| EnrError::MissingPublicKey)?);
                }
                b"ip" => {
                    let b: [u8; 4] = list.fixed().map_err(|_| EnrError::BadField { key: "ip" })?;
                    rec.ip4 = Some(Ipv4Addr::from(b));
                }
                b"ip6" => {
                    let b: [u8; 16] = list
                        .fixed()
                        .map_err(|_| EnrError::BadField { key: "ip6" })?;
                    rec.ip6 = Some(Ipv6Addr::from(b));
                }
                b"tcp" => tcp = Some(list.u16().map_err(|_| EnrError::BadField { key: "tcp" })?),
                b"udp" => udp = Some(list.u16().map_err(|_| EnrError::BadField { key: "udp" })?),
                b"tcp6" => {
                    rec.tcp6 = Some(list.u16().map_err(|_| EnrError::BadField { key: "tcp6" })?)
                }
                b"udp6" => {
                    rec.udp6 = Some(list.u16().map_err(|_| EnrError::BadField { key: "udp6" })?)
                }
                // Other keys (eth fork id, snap, les...) are not ours to read.
                _ => list.skip()?,
            }
        }
        if !scheme_v4 {
            return Err(EnrError::UnsupportedScheme);
        }
        let pubkey = pubkey.ok_or(EnrError::MissingPublicKey)?;
        let sig = Signature::from_compact(signature).map_err(|_| EnrError::BadSignature)?;
        let digest = keccak256(content_rlp(content_items));
        sig.verify(Message::from_digest(digest.0), &pubkey)
            .map_err(|_| EnrError::BadSignature)?;

        rec.id = peer_id_from_pubkey(&pubkey);
        rec.tcp4 = tcp;
        rec.udp4 = udp;
        rec.tcp6 = rec.tcp6.or(tcp);
        rec.udp6 = rec.udp6.or(udp);
        Ok(rec)
    }

    /// Decodes the text form `enr:<base64url>`.
    pub fn from_text(text: &str) -> Result<Self, EnrError> {
        let b64 = text.strip_prefix("enr:").ok_or(EnrError::MissingPrefix)?;
        // Base64 expands by 4/3: reject oversized text before decoding anything.
        if b64.len() > MAX_ENR_SIZE * 4 / 3 + 4 {
            return Err(EnrError::TooLarge {
                size: b64.len() * 3 / 4,
            });
        }
        let raw = BASE64URL_NOPAD
            .decode(b64.as_bytes())
            .map_err(|_| EnrError::BadBase64)?;
        Self::decode(&raw)
    }

    /// The dialable endpoint: IPv4 when it has a TCP port, else IPv6; `None` when neither.
    pub fn node_record(&self) -> Option<NodeRecord> {
        if let (Some(ip), Some(tcp)) = (self.ip4, self.tcp4) {
            let udp = self.udp4.unwrap_or(tcp);
            return Some(NodeRecord {
                id: self.id,
                ip: IpAddr::V4(ip),
                tcp_port: tcp,
                udp_port: udp,
            });
        }
        if let (Some(ip), Some(tcp)) = (self.ip6, self.tcp6) {
            let udp = self.udp6.unwrap_or(tcp);
            return Some(NodeRecord {
                id: self.id,
                ip: IpAddr::V6(ip),
                tcp_port: tcp,
                udp_port: udp,
            });
        }
        None
    }
}

/// `rlp([seq, k, v, ...])` from the list items after the signature.
fn content_rlp(items: ListReader<'_>) -> Vec<u8> {
    let mut items = items;
    let mut out = Vec::new();
    encode_list(&mut out, |p| {
        while let Ok(raw) = items.raw() {
            p.extend_from_slice(raw);
        }
    });
    out
}

/// Builds and signs a "v4" record for `key` at `ip` with the given ports.
pub fn build_enr(key: &SecretKey, seq: u64, ip: IpAddr, tcp: u16, udp: u16) -> Vec<u8> {
    let pubkey = PublicKey::from_secret_key(key).serialize();
    // Keys in sorted order, as EIP-778 requires.
    let write_pairs = |p: &mut Vec<u8>| {
        seq.encode(p);
        b"id".as_slice().encode(p);
        b"v4".as_slice().encode(p);
        match ip {
            IpAddr::V4(v4) => {
                b"ip".as_slice().encode(p);
                v4.octets().as_slice().encode(p);
            }
            IpAddr::V6(v6) => {
                b"ip6".as_slice().encode(p);
                v6.octets().as_slice().encode(p);
            }
        }
        b"secp256k1".as_slice().encode(p);
        pubkey.as_slice().encode(p);
        let (tcp_key, udp_key): (&[u8], &[u8]) = if ip.is_ipv4() {
            (b"tcp", b"udp")
        } else {
            (b"tcp6", b"udp6")
        };
        tcp_key.encode(p);
        tcp.encode(p);
        udp_key.encode(p);
        udp.encode(p);
    };
    let mut content = Vec::new();
    encode_list(&mut content, write_pairs);
    let sig = key
        .sign_ecdsa(Message::from_digest(keccak256(&content).0))
        .serialize_compact();
    let mut out = Vec::new();
    encode_list(&mut out, |p| {
        sig.as_slice().encode(p);
        write_pairs(p);
    });
    out
}

/// The text form `enr:<base64url>` of a record.
pub fn enr_text(raw: &[u8]) -> String {
    format!("enr:{}", BASE64URL_NOPAD.encode(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example record of EIP-778 (signed by the key below), checked against what nobody here
    /// wrote.
    const EIP778_TEXT: &str = "enr:-IS4QHCYrYZbAKWCBRlAy5zzaDZXJBGkcnh4MHcBFZntXNFrdvJjX04jRzjzCBOonrkTfj499SZuOh8R33Ls8RRcy5wBgmlkgnY0gmlwhH8AAAGJc2VjcDI1NmsxoQPKY0yuDUmstAHYpMa2_oxVtw0RW_QAdpzBQA8yWM0xOIN1ZHCCdl8";

    #[test]
    fn decodes_the_eip778_example() {
        let enr = Enr::from_text(EIP778_TEXT).unwrap();
        assert_eq!(enr.seq, 1);
        assert_eq!(enr.ip4, Some(Ipv4Addr::new(127, 0, 0, 1)));
        assert_eq!(enr.udp4, Some(30303));
        assert_eq!(enr.tcp4, None);
        // The EIP's key is the EIP-8 node key, so the id is the one in the devp2p vectors.
        assert_eq!(
            format!("{:x}", enr.id),
            "ca634cae0d49acb401d8a4c6b6fe8c55b70d115bf400769cc1400f3258cd31387574077f301b421bc84df7266c44e9e6d569fc56be00812904767bf5ccd1fc7f"
        );
        assert_eq!(enr.node_record(), None, "no TCP port: not dialable");
    }

    #[test]
    fn built_records_round_trip_and_tampering_is_caught() {
        let key = SecretKey::from_secret_bytes([7u8; 32]).unwrap();
        let raw = build_enr(&key, 3, "10.0.0.1".parse().unwrap(), 30303, 30301);
        let enr = Enr::from_text(&enr_text(&raw)).unwrap();
        let rec = enr.node_record().unwrap();
        assert_eq!(
            rec.id,
            peer_id_from_pubkey(&PublicKey::from_secret_key(&key))
        );
        assert_eq!((rec.tcp_port, rec.udp_port), (30303, 30301));

        let mut tampered = raw.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(Enr::decode(&tampered), Err(EnrError::BadSignature));
        assert!(matches!(
            Enr::decode(&raw[..raw.len() - 1]),
            Err(EnrError::Rlp(_))
        ));
        assert_eq!(
            Enr::decode(&[0u8; 301]),
            Err(EnrError::TooLarge { size: 301 })
        );
        assert_eq!(Enr::from_text("enr:***"), Err(EnrError::BadBase64));
        assert_eq!(Enr::from_text("enode:x"), Err(EnrError::MissingPrefix));
    }
}
