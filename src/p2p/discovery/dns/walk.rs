//! Walking an EIP-1459 tree: fetch and verify the root against the link's key, then fetch the ENR
//! subtree and the link subtree breadth-first (a few lookups at a time), checking that every record
//! hashes to the name it was found at, and follow links to other trees.
//!
//! Owns the walk. Every record it returns is covered by a verified root signature. A walk is
//! bounded: at most `max_records` TXT lookups and `max_link_depth` nested trees; a link back to a
//! tree on the current path is an error, a tree reached twice by different paths is walked once.
//!
//! [`DnsDiscovery::resolve`] is strict (any error fails the walk, for checking a tree);
//! [`DnsDiscovery::resolve_partial`] is what discovery uses: a branch, leaf or linked tree that
//! fails is skipped and reported, and everything verified elsewhere in the tree is kept, so one
//! lost DNS answer does not throw a whole walk away.
//!
//! Refreshes fetch only what changed: records are named by their hash, so a verified record is
//! valid under its name for good and is kept (for the records of the last walk only); the newest
//! verified root of each tree is kept too, and a root with a lower sequence number than it (a
//! stale cache or server) is ignored in favour of the one already seen.

use std::{
    collections::{HashMap, HashSet},
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex, MutexGuard},
};

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
    /// What earlier walks verified (shared by clones).
    cache: Arc<Mutex<Cache>>,
}

/// Verified records and roots of the last walks.
#[derive(Debug, Default)]
struct Cache {
    /// Verified records by DNS name (`<hash>.<domain>`): content-addressed, so never stale.
    entries: HashMap<String, TreeEntry>,
    /// The newest verified root per tree link (key and domain).
    roots: HashMap<String, RootRecord>,
}

/// What a walk accumulates.
struct Walk {
    nodes: Vec<NodeRecord>,
    ids: HashSet<PeerId>,
    walked: HashSet<String>,
    path: Vec<String>,
    budget: usize,
    /// Record names and tree links this walk used: what the cache keeps afterwards.
    used_names: HashSet<String>,
    used_roots: HashSet<String>,
    /// Skip what fails (recording it in `errors`) instead of failing the walk.
    lenient: bool,
    errors: Vec<DnsError>,
}

impl Walk {
    /// In a lenient walk, records `e` and returns `Ok` (skip that part); else returns `Err(e)`.
    fn skip(&mut self, e: DnsError) -> Result<(), DnsError> {
        if self.lenient {
            self.errors.push(e);
            Ok(())
        } else {
            Err(e)
        }
    }
}

/// The result of [`DnsDiscovery::resolve_partial`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartialWalk {
    /// Every verified, dialable node found, each once.
    pub nodes: Vec<NodeRecord>,
    /// What failed and was skipped (empty: the whole tree was walked).
    pub errors: Vec<DnsError>,
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
            cache: Arc::default(),
        }
    }

    /// Every dialable node of the tree at `link` and of the trees it links to, each once.
    /// ENRs without a TCP endpoint are left out (they cannot be dialed).
    pub async fn resolve(&self, link: &TreeLink) -> Result<Vec<NodeRecord>, DnsError> {
        let mut walk = self.new_walk(false);
        let result = self.walk_tree(link, &mut walk).await;
        self.keep_used(&walk);
        result?;
        Ok(walk.nodes)
    }

    /// Like [`Self::resolve`], but a part of the tree that fails (a lookup that failed after the
    /// resolver's retries, a missing or tampered record, a bad linked tree, the record budget) is
    /// skipped and reported, and every node verified elsewhere is kept. A root that cannot be
    /// fetched or verified gives no nodes and its error.
    pub async fn resolve_partial(&self, link: &TreeLink) -> PartialWalk {
        let mut walk = self.new_walk(true);
        if let Err(e) = self.walk_tree(link, &mut walk).await {
            walk.errors.push(e);
        }
        self.keep_used(&walk);
        PartialWalk {
            nodes: walk.nodes,
            errors: walk.errors,
        }
    }

    fn new_walk(&self, lenient: bool) -> Walk {
        Walk {
            nodes: Vec::new(),
            ids: HashSet::new(),
            walked: HashSet::new(),
            path: Vec::new(),
            budget: self.max_records,
            used_names: HashSet::new(),
            used_roots: HashSet::new(),
            lenient,
            errors: Vec::new(),
        }
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
            let result = self.walk_root(link, &domain, walk).await;
            walk.path.pop();
            result
        })
    }

    /// The body of [`Self::walk_tree`] once `link` is on the path.
    fn walk_root<'a>(
        &'a self,
        link: &'a TreeLink,
        domain: &'a str,
        walk: &'a mut Walk,
    ) -> Pin<Box<dyn Future<Output = Result<(), DnsError>> + Send + 'a>> {
        Box::pin(async move {
            let root = self.root(link, walk).await?;
            let (enrs, _) = self
                .subtree(domain, root.enr_root.clone(), Subtree::Enr, walk)
                .await?;
            for n in enrs {
                if walk.ids.insert(n.id) {
                    walk.nodes.push(n);
                }
            }
            let (_, links) = self
                .subtree(domain, root.link_root.clone(), Subtree::Link, walk)
                .await?;
            for l in &links {
                if let Err(e) = self.walk_tree(l, walk).await {
                    walk.skip(e)?;
                }
            }
            Ok(())
        })
    }

    fn cache(&self) -> MutexGuard<'_, Cache> {
        // Only plain inserts happen under the lock: a panic elsewhere leaves it consistent.
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets cached records and roots the last walk did not use (so the cache holds one tree).
    fn keep_used(&self, walk: &Walk) {
        let mut c = self.cache();
        c.entries.retain(|name, _| walk.used_names.contains(name));
        c.roots.retain(|link, _| walk.used_roots.contains(link));
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
        let key = link.to_string();
        walk.used_roots.insert(key.clone());
        let mut c = self.cache();
        match c.roots.get(&key) {
            Some(known) if known.seq > root.seq => {
                tracing::debug!(tree = %link.domain, seq = root.seq, known = known.seq, "stale DNS tree root ignored");
                Ok(known.clone())
            }
            _ => {
                c.roots.insert(key, root.clone());
                Ok(root)
            }
        }
    }

    /// Fetches the record whose hash is `hash` under `domain`.
    async fn entry(&self, domain: &str, hash: &[u8]) -> Result<TreeEntry, DnsError> {
        let name = format!("{}.{domain}", hash_label(hash));
        if let Some(known) = self.cache().entries.get(&name) {
            return Ok(known.clone());
        }
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
        let entry = TreeEntry::parse(text, &name)?;
        self.cache().entries.insert(name, entry.clone());
        Ok(entry)
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
            if let Err(e) = self.spend(walk, domain, batch.len()) {
                // Out of budget: keep what this subtree gave so far.
                walk.skip(e)?;
                break;
            }
            let entries = join_all(batch.iter().map(|h| self.entry(domain, h))).await;
            for (hash, entry) in batch.iter().zip(entries) {
                walk.used_names
                    .insert(format!("{}.{domain}", hash_label(hash)));
                let entry = match entry {
                    Ok(entry) => entry,
                    // This branch or leaf is lost; its siblings are not.
                    Err(e) => {
                        walk.skip(e)?;
                        continue;
                    }
                };
                let name = || format!("{}.{domain}", hash_label(hash));
                match (entry, kind) {
                    (TreeEntry::Branch(children), _) => {
                        // Children are queued, not fetched: the record budget bounds them.
                        if children.len() > walk.budget {
                            walk.skip(DnsError::TooManyRecords {
                                domain: domain.to_string(),
                                max: self.max_records,
                            })?;
                            continue;
                        }
                        frontier.extend(children);
                    }
                    (TreeEntry::Enr(enr), Subtree::Enr) => nodes.extend(enr.node_record()),
                    (TreeEntry::Link(link), Subtree::Link) => links.push(link),
                    (other, _) => {
                        walk.skip(DnsError::WrongSubtree {
                            name: name(),
                            found: other.kind(),
                            subtree: kind.name(),
                        })?;
                    }
                }
            }
        }
        Ok((nodes, links))
    }
}
