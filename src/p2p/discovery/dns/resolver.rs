//! Fetching TXT records: the [`TxtResolver`] trait the tree walk uses, and [`MapResolver`], a
//! resolver over an in-memory map for tests and for trees loaded from a file.
//!
//! Owns the resolver boundary only; the production client is
//! [`super::udp_resolver::UdpTxtResolver`].

use std::{collections::HashMap, future::Future};

/// Why a TXT lookup failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The name does not exist or has no TXT record.
    #[error("no TXT record at {name}")]
    NotFound {
        /// The DNS name.
        name: String,
    },
    /// The lookup itself failed (network, server error, timeout).
    #[error("TXT lookup of {name} failed: {reason}")]
    Failed {
        /// The DNS name.
        name: String,
        /// What went wrong.
        reason: String,
    },
}

/// Something that returns the TXT records at a DNS name, each record's strings already joined.
pub trait TxtResolver: Send + Sync {
    /// The TXT records at `name`; an empty list or `NotFound` when there are none.
    fn txt(&self, name: &str) -> impl Future<Output = Result<Vec<String>, ResolveError>> + Send;
}

/// TXT records from a map of name to records (names compared case-insensitively).
#[derive(Debug, Clone, Default)]
pub struct MapResolver {
    records: HashMap<String, Vec<String>>,
}

impl MapResolver {
    /// An empty resolver.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a TXT record at `name`.
    pub fn insert(&mut self, name: &str, txt: impl Into<String>) {
        self.records
            .entry(name.to_ascii_lowercase())
            .or_default()
            .push(txt.into());
    }

    /// Every (name, TXT records) pair, e.g. to load a tree into a real DNS server.
    pub fn records(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.records.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// Replaces every record at `name`.
    pub fn set(&mut self, name: &str, txts: Vec<String>) {
        self.records.insert(name.to_ascii_lowercase(), txts);
    }
}

impl TxtResolver for MapResolver {
    async fn txt(&self, name: &str) -> Result<Vec<String>, ResolveError> {
        self.records
            .get(&name.to_ascii_lowercase())
            .cloned()
            .ok_or_else(|| ResolveError::NotFound {
                name: name.to_string(),
            })
    }
}
