//! DNS discovery (EIP-1459): node lists published as a signed Merkle tree of TXT records under a
//! domain. [`records`] parses and signs single records, [`resolver`] fetches TXT records (a trait,
//! so tests inject a tree), [`walk`] verifies a whole tree and yields its nodes.
//!
//! Owns DNS discovery; it never trusts a record the tree's signature does not cover, and never
//! follows more records than [`walk::DnsDiscovery`]'s limits allow.

pub mod records;
pub mod resolver;
pub mod udp_resolver;
pub mod walk;

use super::enr::EnrError;
pub use resolver::{ResolveError, TxtResolver};
pub use walk::{DnsDiscovery, PartialWalk};

/// Why a DNS tree could not be used. Every variant names the link, domain or record concerned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    /// An `enrtree://` link that does not parse.
    #[error("invalid tree link {link:?}: {reason}")]
    BadLink {
        /// The link text.
        link: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// No `enrtree-root:` record at the tree's domain.
    #[error("no enrtree-root record at {domain}")]
    NoRoot {
        /// The domain.
        domain: String,
    },
    /// A root record that does not parse.
    #[error("invalid root record at {domain}: {reason}")]
    BadRoot {
        /// The domain.
        domain: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The root is not signed by the link's key.
    #[error("root record at {domain} is not signed by the tree's public key")]
    BadRootSignature {
        /// The domain.
        domain: String,
    },
    /// A branch or leaf record that does not parse.
    #[error("invalid tree record at {name}: {reason}")]
    BadEntry {
        /// The DNS name.
        name: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// An `enr:` leaf whose record is invalid.
    #[error("invalid ENR at {name}: {source}")]
    Enr {
        /// The DNS name.
        name: String,
        /// What is wrong with the record.
        source: EnrError,
    },
    /// No TXT record at a name the tree refers to.
    #[error("missing tree record at {name}")]
    MissingEntry {
        /// The DNS name.
        name: String,
    },
    /// TXT records exist at the name, but none hashes to it: tampered or stale data.
    #[error("no record at {name} matches its hash")]
    HashMismatch {
        /// The DNS name.
        name: String,
    },
    /// A leaf of the wrong kind: links in the ENR subtree, or ENRs in the link subtree.
    #[error("{found} record at {name} in the {subtree} subtree")]
    WrongSubtree {
        /// The DNS name.
        name: String,
        /// Kind found.
        found: &'static str,
        /// Subtree it was found in.
        subtree: &'static str,
    },
    /// A tree links (directly or through others) back to a tree being walked.
    #[error("link loop: {} links back to {domain}", path.join(" -> "))]
    LinkLoop {
        /// The domain linked to again.
        domain: String,
        /// The trees walked to get there, outermost first.
        path: Vec<String>,
    },
    /// Links nested deeper than allowed.
    #[error("links nested more than {max} deep at {domain}")]
    LinksTooDeep {
        /// The domain where the limit was hit.
        domain: String,
        /// The limit.
        max: usize,
    },
    /// More records than one walk may fetch.
    #[error("tree {domain} has more than {max} records")]
    TooManyRecords {
        /// The domain being walked.
        domain: String,
        /// The limit.
        max: usize,
    },
    /// The resolver failed.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
}
