//! Discovery test support: EIP-1459 trees built and signed in memory (served by a
//! [`MapResolver`]), and node keys/records for loopback tests.
//!
//! Builds what a publisher would publish; it does no checking of its own, so tests can publish
//! malformed records on purpose.

use std::net::IpAddr;

use secp256k1::{PublicKey, SecretKey};

use crate::p2p::discovery::{
    dns::{
        records::{RootRecord, TreeLink, branch_text, hash_label, record_hash},
        resolver::MapResolver,
    },
    enr::{build_enr, enr_text},
};

/// Children per branch record (geth's limit: keeps a branch TXT under ~370 bytes).
pub const MAX_CHILDREN: usize = 13;

/// A deterministic secret key from a seed (never zero).
pub fn test_key(seed: u32) -> SecretKey {
    let mut b = [0x11u8; 32];
    b[28..].copy_from_slice(&seed.to_be_bytes());
    SecretKey::from_secret_bytes(b).expect("a small non-zero scalar is a valid key")
}

/// The `enr:` text of a signed record for `key` at `ip:port` (TCP and UDP).
pub fn enr_for(key: &SecretKey, ip: IpAddr, port: u16) -> String {
    enr_text(&build_enr(key, 1, ip, port, port))
}

/// Stores `leaves` under `domain` as a subtree; returns the hash of its top record.
fn subtree(resolver: &mut MapResolver, domain: &str, leaves: &[String]) -> Vec<u8> {
    let store = |resolver: &mut MapResolver, text: String| {
        let hash = record_hash(&text);
        resolver.insert(&format!("{}.{domain}", hash_label(&hash)), text);
        hash
    };
    if leaves.len() == 1 {
        return store(resolver, leaves[0].clone());
    }
    let mut level: Vec<Vec<u8>> = leaves.iter().map(|l| store(resolver, l.clone())).collect();
    loop {
        let branches: Vec<Vec<u8>> = level
            .chunks(MAX_CHILDREN)
            .map(|c| store(resolver, branch_text(c)))
            .collect();
        if branches.len() <= 1 {
            return branches
                .into_iter()
                .next()
                .unwrap_or_else(|| store(resolver, branch_text(&[])));
        }
        level = branches;
    }
}

/// Publishes a tree at `domain` signed by `key`: `enr_leaves` under the ENR root, `link_leaves`
/// under the link root (texts are published as given, malformed or not). Returns its link.
pub fn publish_tree(
    resolver: &mut MapResolver,
    domain: &str,
    key: &SecretKey,
    seq: u64,
    enr_leaves: &[String],
    link_leaves: &[String],
) -> TreeLink {
    let e = subtree(resolver, domain, enr_leaves);
    let l = subtree(resolver, domain, link_leaves);
    resolver.set(domain, vec![RootRecord::sign(&e, &l, seq, key)]);
    TreeLink {
        public_key: PublicKey::from_secret_key(key),
        domain: domain.to_string(),
    }
}
