//! The text records of an EIP-1459 tree: the `enrtree://<key>@<domain>` link, the signed root
//! (`enrtree-root:v1 e=<hash> l=<hash> seq=<n> sig=<base64url>`), branches
//! (`enrtree-branch:<hash>,...`) and leaves (`enr:...`, `enrtree://...`), and the subdomain hash
//! that names each record (base32 of the first 16 bytes of keccak256 of its text).
//!
//! Owns parsing, signing and signature checks of single records; it never queries DNS.

use std::{fmt, str::FromStr};

use alloy_primitives::keccak256;
use data_encoding::{BASE32_NOPAD, BASE64URL_NOPAD};
use secp256k1::{
    Message, PublicKey, SecretKey,
    ecdsa::{RecoverableSignature, Signature},
};

use super::DnsError;
use crate::p2p::discovery::enr::Enr;

/// Bytes of keccak256 kept in a subdomain name (EIP-1459).
pub const HASH_SIZE: usize = 16;
/// Shortest hash we accept in a branch (geth accepts 12..=32 bytes).
const MIN_HASH_SIZE: usize = 12;
/// Longest record text we parse: a TXT record with many strings could be large, a tree entry is not.
pub const MAX_RECORD_SIZE: usize = 4096;

/// The subdomain hash of a record's text.
pub fn record_hash(text: &str) -> Vec<u8> {
    keccak256(text.as_bytes())[..HASH_SIZE].to_vec()
}

/// The DNS label of a hash: unpadded upper-case base32.
pub fn hash_label(hash: &[u8]) -> String {
    BASE32_NOPAD.encode(hash)
}

fn decode_hash(s: &str) -> Option<Vec<u8>> {
    let h = BASE32_NOPAD
        .decode(s.to_ascii_uppercase().as_bytes())
        .ok()?;
    (MIN_HASH_SIZE..=32).contains(&h.len()).then_some(h)
}

/// `enrtree://<base32 compressed public key>@<domain>`: where a tree is and who signs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeLink {
    /// The key the tree's root must be signed with.
    pub public_key: PublicKey,
    /// The domain holding the root record.
    pub domain: String,
}

impl FromStr for TreeLink {
    type Err = DnsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason| DnsError::BadLink {
            link: s.to_string(),
            reason,
        };
        let rest = s
            .strip_prefix("enrtree://")
            .ok_or_else(|| bad("must start with enrtree://"))?;
        let (key, domain) = rest
            .split_once('@')
            .ok_or_else(|| bad("no '@' before the domain"))?;
        let key_bytes = BASE32_NOPAD
            .decode(key.to_ascii_uppercase().as_bytes())
            .map_err(|_| bad("public key is not base32"))?;
        let public_key =
            PublicKey::from_slice(&key_bytes).map_err(|_| bad("not a compressed secp256k1 key"))?;
        let valid_domain = !domain.is_empty()
            && domain.len() <= 253
            && domain.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        if !valid_domain {
            return Err(bad("invalid domain name"));
        }
        Ok(Self {
            public_key,
            domain: domain.to_ascii_lowercase(),
        })
    }
}

impl fmt::Display for TreeLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "enrtree://{}@{}",
            BASE32_NOPAD.encode(&self.public_key.serialize()),
            self.domain
        )
    }
}

/// A tree's signed root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootRecord {
    /// Hash of the root of the ENR subtree.
    pub enr_root: Vec<u8>,
    /// Hash of the root of the link subtree.
    pub link_root: Vec<u8>,
    /// Version of the tree (publishers increase it on every change).
    pub seq: u64,
    signature: [u8; 65],
}

impl RootRecord {
    /// The text that is signed: the record without ` sig=...`.
    fn signed_text(enr_root: &[u8], link_root: &[u8], seq: u64) -> String {
        format!(
            "enrtree-root:v1 e={} l={} seq={seq}",
            hash_label(enr_root),
            hash_label(link_root)
        )
    }

    /// Parses the root record found at `domain`.
    pub fn parse(text: &str, domain: &str) -> Result<Self, DnsError> {
        let bad = |reason| DnsError::BadRoot {
            domain: domain.to_string(),
            reason,
        };
        let mut parts = text.split(' ');
        if parts.next() != Some("enrtree-root:v1") {
            return Err(bad("does not start with enrtree-root:v1"));
        }
        let mut field = |key: &str| {
            parts
                .next()
                .and_then(|p| p.strip_prefix(key))
                .ok_or(bad("fields are not e= l= seq= sig="))
        };
        let e = field("e=")?;
        let l = field("l=")?;
        let seq = field("seq=")?;
        let sig = field("sig=")?;
        if parts.next().is_some() {
            return Err(bad("unexpected text after sig="));
        }
        let enr_root = decode_hash(e).ok_or(bad("e= is not a base32 hash"))?;
        let link_root = decode_hash(l).ok_or(bad("l= is not a base32 hash"))?;
        let seq = seq.parse().map_err(|_| bad("seq= is not a number"))?;
        // Some publishers pad base64; the padding carries nothing.
        let sig_bytes = BASE64URL_NOPAD
            .decode(sig.trim_end_matches('=').as_bytes())
            .map_err(|_| bad("sig= is not base64url"))?;
        let signature: [u8; 65] = sig_bytes
            .try_into()
            .map_err(|_| bad("sig= is not 65 bytes"))?;
        Ok(Self {
            enr_root,
            link_root,
            seq,
            signature,
        })
    }

    /// Checks the signature against the key of the link the tree was reached by.
    pub fn verify(&self, key: &PublicKey, domain: &str) -> Result<(), DnsError> {
        let digest = keccak256(Self::signed_text(&self.enr_root, &self.link_root, self.seq));
        let sig = Signature::from_compact(&self.signature[..64]).map_err(|_| {
            DnsError::BadRootSignature {
                domain: domain.to_string(),
            }
        })?;
        sig.verify(Message::from_digest(digest.0), key)
            .map_err(|_| DnsError::BadRootSignature {
                domain: domain.to_string(),
            })
    }

    /// Builds and signs a root record text (for publishing trees, and tests).
    pub fn sign(enr_root: &[u8], link_root: &[u8], seq: u64, key: &SecretKey) -> String {
        let text = Self::signed_text(enr_root, link_root, seq);
        let digest = keccak256(&text);
        let (recid, rs) =
            RecoverableSignature::sign_ecdsa_recoverable(Message::from_digest(digest.0), key)
                .serialize_compact();
        let mut sig = [0u8; 65];
        sig[..64].copy_from_slice(&rs);
        sig[64] = recid.to_u8();
        format!("{text} sig={}", BASE64URL_NOPAD.encode(&sig))
    }
}

/// A non-root record of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeEntry {
    /// Hashes of child records.
    Branch(Vec<Vec<u8>>),
    /// A node (verified).
    Enr(Box<Enr>),
    /// A link to another tree.
    Link(TreeLink),
}

impl TreeEntry {
    /// Parses a record found at `name`.
    pub fn parse(text: &str, name: &str) -> Result<Self, DnsError> {
        let bad = |reason| DnsError::BadEntry {
            name: name.to_string(),
            reason,
        };
        if text.len() > MAX_RECORD_SIZE {
            return Err(bad("record longer than 4096 bytes"));
        }
        if let Some(list) = text.strip_prefix("enrtree-branch:") {
            if list.is_empty() {
                return Ok(Self::Branch(Vec::new()));
            }
            let hashes = list
                .split(',')
                .map(|h| decode_hash(h).ok_or(bad("branch child is not a base32 hash")))
                .collect::<Result<_, _>>()?;
            Ok(Self::Branch(hashes))
        } else if text.starts_with("enr:") {
            let enr = Enr::from_text(text).map_err(|source| DnsError::Enr {
                name: name.to_string(),
                source,
            })?;
            Ok(Self::Enr(Box::new(enr)))
        } else if text.starts_with("enrtree://") {
            Ok(Self::Link(text.parse()?))
        } else {
            Err(bad("not an enrtree-branch:, enr: or enrtree:// record"))
        }
    }

    /// Short name for errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Branch(_) => "branch",
            Self::Enr(_) => "enr",
            Self::Link(_) => "link",
        }
    }
}

/// The text of a branch record over the given children texts' hashes.
pub fn branch_text(children: &[Vec<u8>]) -> String {
    let labels: Vec<String> = children.iter().map(|h| hash_label(h)).collect();
    format!("enrtree-branch:{}", labels.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mainnet_link_parses() {
        let link: TreeLink = crate::p2p::discovery::bootnodes::MAINNET_DNS
            .parse()
            .unwrap();
        assert_eq!(link.domain, "all.mainnet.ethdisco.net");
        assert_eq!(
            link.to_string(),
            crate::p2p::discovery::bootnodes::MAINNET_DNS
        );
    }

    #[test]
    fn bad_links_say_what_is_wrong() {
        for (text, reason) in [
            ("https://x", "must start with enrtree://"),
            (
                "enrtree://AKA3AM6LPBYEUDMVNU3BSVQJ5AD45Y7YPOHJLEF6W26QOE4VTUDPE",
                "no '@' before the domain",
            ),
            ("enrtree://!!!@a.b", "public key is not base32"),
            ("enrtree://AAAA@a.b", "not a compressed secp256k1 key"),
            (
                "enrtree://AKA3AM6LPBYEUDMVNU3BSVQJ5AD45Y7YPOHJLEF6W26QOE4VTUDPE@a..b",
                "invalid domain name",
            ),
        ] {
            match text.parse::<TreeLink>() {
                Err(DnsError::BadLink { reason: r, .. }) => assert_eq!(r, reason, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn root_sign_parse_verify() {
        let key = SecretKey::from_secret_bytes([9u8; 32]).unwrap();
        let other = SecretKey::from_secret_bytes([10u8; 32]).unwrap();
        let text = RootRecord::sign(&[1u8; 16], &[2u8; 16], 7, &key);
        let root = RootRecord::parse(&text, "x.example").unwrap();
        assert_eq!(root.seq, 7);
        root.verify(&PublicKey::from_secret_key(&key), "x.example")
            .unwrap();
        assert!(matches!(
            root.verify(&PublicKey::from_secret_key(&other), "x.example"),
            Err(DnsError::BadRootSignature { .. })
        ));
        // Changing the seq invalidates the signature.
        let forged = text.replace("seq=7", "seq=8");
        let root = RootRecord::parse(&forged, "x.example").unwrap();
        assert!(
            root.verify(&PublicKey::from_secret_key(&key), "x.example")
                .is_err()
        );
        assert!(matches!(
            RootRecord::parse("enrtree-root:v1 e=AAAA", "x.example"),
            Err(DnsError::BadRoot { .. })
        ));
    }

    #[test]
    fn entries_parse() {
        assert_eq!(
            TreeEntry::parse("enrtree-branch:", "n").unwrap(),
            TreeEntry::Branch(vec![])
        );
        let b = branch_text(&[vec![1u8; 16], vec![2u8; 16]]);
        assert_eq!(
            TreeEntry::parse(&b, "n").unwrap(),
            TreeEntry::Branch(vec![vec![1; 16], vec![2; 16]])
        );
        assert!(matches!(
            TreeEntry::parse("enrtree-branch:zz", "n"),
            Err(DnsError::BadEntry { .. })
        ));
        assert!(matches!(
            TreeEntry::parse("hello", "n"),
            Err(DnsError::BadEntry { .. })
        ));
        assert!(matches!(
            TreeEntry::parse("enr:AAAA", "n"),
            Err(DnsError::Enr { .. })
        ));
    }
}
