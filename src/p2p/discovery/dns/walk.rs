//! Walking an EIP-1459 tree: fetch and verify the root against the link's key, then fetch the ENR
//! subtree and the link subtree breadth-first (a few lookups at a time), checking that every record
//! hashes to the name it was found at, and follow links to other trees.
//!
//! Owns the walk. Every record it returns is covered by a verified root signature. A walk is
//! bounded: at most `max_records` TXT lookups and `max_link_depth` nested trees; a link back to a
//! tree on the current path is an error, a tree reached twice by different paths is walked once.

use std::{collections::HashSet, future::Future, pin::Pin};

use alloy_primitives::keccak256;
use futures::future::join_all;

use super::{
    DnsError,
    records::{RootRecord, TreeEntry, TreeLink, hash_label},
    resolver::{ResolveError, TxtResolver},
};
use crate::p2p::discovery::node_record::{NodeRecord, PeerId};

/// Lookups in flight at once within one subtree.
const CONCURRENCY: usize = 8;

/// Resolves `enrtree://` links into node records.
#[derive(Debug, Clone)]
pub struct DnsDiscovery<R> {
    resolver: R,
    /// Most TXT lookups one [`DnsDiscovery::resolve`] may do (all linked trees together).
    pub max_records: usize,
    /// Most trees nested through links.
    pub max_link_depth: usize,
}

/// What a walk accumulates.
struct Walk {
    nodes: Vec<NodeRecord>,
    ids: HashSet<PeerId>,
    walked: HashSet<String>,
    path: Vec<String>,
    budget: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Subtree {
    Enr,
    Link,
}

impl Subtree {
    fn name(self) -> &'static str {
        match self {
            Self::Enr => "ENR",
            Self::Link => "link",
        }
    }
}

impl<R: TxtResolver> DnsDiscovery<R> {
    /// A walker with default limits (20,000 records, links 4 deep).
    pub fn new(resolver: R) -> Self {
        Self {
            resolver,
            max_records: 20_000,
            max_link_depth: 4,
        }
    }

    /// Every dialable node of the tree at `link` and of the trees it links to, each once.
    /// ENRs without a TCP endpoint are left out (they cannot be dialed).
    pub async fn resolve(&self, link: &TreeLink) -> Result<Vec<NodeRecord>, DnsError> {
        let mut walk = Walk {
            nodes: Vec::new(),
            ids: HashSet::new(),
            walked: HashSet::new(),
            path: Vec::new(),
            budget: self.max_records,
        };
        self.walk_tree(link, &mut walk).await?;
        Ok(walk.nodes)
    }

    fn walk_tree<'a>(
        &'a self,
        link: &'a TreeLink,
        walk: &'a mut Walk,
    ) -> Pin<Box<dyn Future<Output = Result<(), DnsError>> + Send + 'a>> {
        Box::pin(async move {
            let domain = link.domain.clone();
            if walk.path.contains(&domain) {
                return Err(DnsError::LinkLoop {
                    domain,
                    path: walk.path.clone(),
                });
            }
            if !walk.walked.insert(domain.clone()) {
                return Ok(());
            }
            if walk.path.len() >= self.max_link_depth {
                return Err(DnsError::LinksTooDeep {
                    domain,
                    max: self.max_link_depth,
                });
            }
            walk.path.push(domain.clone());

            let root = self.root(link, walk).await?;
            let (enrs, _) = self
                .subtree(&domain, root.enr_root.clone(), Subtree::Enr, walk)
                .await?;
            for n in enrs {
                if walk.ids.insert(n.id) {
                    walk.nodes.push(n);
                }
            }
            let (_, links) = self
                .subtree(&domain, root.link_root.clone(), Subtree::Link, walk)
                .await?;
            for l in &links {
                self.walk_tree(l, walk).await?;
            }
            walk.path.pop();
            Ok(())
        })
    }

    fn spend(&self, walk: &mut Walk, domain: &str, n: usize) -> Result<(), DnsError> {
        walk.budget = walk
            .budget
            .checked_sub(n)
            .ok_or_else(|| DnsError::TooManyRecords {
                domain: domain.to_string(),
                max: self.max_records,
            })?;
        Ok(())
    }

    async fn root(&self, link: &TreeLink, walk: &mut Walk) -> Result<RootRecord, DnsError> {
        self.spend(walk, &link.domain, 1)?;
        let txts = match self.resolver.txt(&link.domain).await {
            Err(ResolveError::NotFound { .. }) => Vec::new(),
            other => other?,
        };
        let text = txts
            .iter()
            .find(|t| t.starts_with("enrtree-root:"))
            .ok_or_else(|| DnsError::NoRoot {
                domain: link.domain.clone(),
            })?;
        let root = RootRecord::parse(text, &link.domain)?;
        root.verify(&link.public_key, &link.domain)?;
        Ok(root)
    }

    /// Fetches the record whose hash is `hash` under `domain`.
    async fn entry(&self, domain: &str, hash: &[u8]) -> Result<TreeEntry, DnsError> {
        let name = format!("{}.{domain}", hash_label(hash));
        let txts = match self.resolver.txt(&name).await {
            Err(ResolveError::NotFound { .. }) => Vec::new(),
            other => other?,
        };
        if txts.is_empty() {
            return Err(DnsError::MissingEntry { name });
        }
        // The hash check is what ties a record to the signed root.
        let text = txts
            .iter()
            .find(|t| keccak256(t.as_bytes()).starts_with(hash))
            .ok_or_else(|| DnsError::HashMismatch { name: name.clone() })?;
        TreeEntry::parse(text, &name)
    }

    async fn subtree(
        &self,
        domain: &str,
        root: Vec<u8>,
        kind: Subtree,
        walk: &mut Walk,
    ) -> Result<(Vec<NodeRecord>, Vec<TreeLink>), DnsError> {
        let (mut nodes, mut links) = (Vec::new(), Vec::new());
        let mut frontier = vec![root];
        while !frontier.is_empty() {
            let take = frontier.len().min(CONCURRENCY);
            let batch: Vec<Vec<u8>> = frontier.drain(..take).collect();
            self.spend(walk, domain, batch.len())?;
            let entries = join_all(batch.iter().map(|h| self.entry(domain, h))).await;
            for (hash, entry) in batch.iter().zip(entries) {
                let entry = entry?;
                let name = || format!("{}.{domain}", hash_label(hash));
                match (entry, kind) {
                    (TreeEntry::Branch(children), _) => {
                        // Children are queued, not fetched: the record budget bounds them.
                        if children.len() > walk.budget {
                            return Err(DnsError::TooManyRecords {
                                domain: domain.to_string(),
                                max: self.max_records,
                            });
                        }
                        frontier.extend(children);
                    }
                    (TreeEntry::Enr(enr), Subtree::Enr) => nodes.extend(enr.node_record()),
                    (TreeEntry::Link(link), Subtree::Link) => links.push(link),
                    (other, _) => {
                        return Err(DnsError::WrongSubtree {
                            name: name(),
                            found: other.kind(),
                            subtree: kind.name(),
                        });
                    }
                }
            }
        }
        Ok((nodes, links))
    }
}
