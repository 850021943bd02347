//! EIP-1459 DNS discovery against trees built and signed in the test and served by an injected
//! resolver: a tree resolves to exactly its leaves; bad signatures, wrong keys, malformed or
//! tampered records, link loops and oversized trees each give a clear error. The lenient walk
//! discovery uses keeps every verified node when one lookup or one linked tree fails. A refresh
//! fetches only the root and what changed, and a root older than one already seen is ignored.

use std::{collections::HashSet, net::IpAddr};

use histd::{
    p2p::discovery::{
        NodeRecord,
        dns::{DnsDiscovery, DnsError, records::TreeLink, resolver::MapResolver},
    },
    testkit::discovery::{enr_for, publish_tree, test_key},
};
use secp256k1::PublicKey;

fn leaves(n: u32, first_seed: u32) -> (Vec<String>, HashSet<NodeRecord>) {
    let mut texts = Vec::new();
    let mut records = HashSet::new();
    for i in 0..n {
        let key = test_key(first_seed + i);
        let ip: IpAddr = format!("10.0.{}.{}", i / 200, i % 200 + 1).parse().unwrap();
        let port = 30303 + i as u16;
        texts.push(enr_for(&key, ip, port));
        records.insert(NodeRecord {
            id: histd::p2p::discovery::node_record::peer_id_from_pubkey(
                &PublicKey::from_secret_key(&key),
            ),
            ip,
            tcp_port: port,
            udp_port: port,
        });
    }
    (texts, records)
}

async fn resolve(resolver: MapResolver, link: &TreeLink) -> Result<Vec<NodeRecord>, DnsError> {
    DnsDiscovery::new(resolver).resolve(link).await
}

#[tokio::test]
async fn a_signed_tree_resolves_to_exactly_its_leaves() {
    // 40 leaves: more than one branch level (13 children per branch).
    let (texts, want) = leaves(40, 100);
    let mut r = MapResolver::new();
    let link = publish_tree(&mut r, "nodes.example.org", &test_key(1), 3, &texts, &[]);
    // The link round-trips through its text form, as it would from a config file.
    let link: TreeLink = link.to_string().parse().unwrap();
    let got = resolve(r, &link).await.unwrap();
    assert_eq!(got.len(), want.len(), "each node once");
    assert_eq!(got.into_iter().collect::<HashSet<_>>(), want);
}

#[tokio::test]
async fn linked_trees_are_followed_and_a_diamond_is_walked_once() {
    let mut r = MapResolver::new();
    let (d_texts, d_nodes) = leaves(3, 300);
    let d = publish_tree(&mut r, "d.example", &test_key(4), 1, &d_texts, &[]);
    let b = publish_tree(&mut r, "b.example", &test_key(2), 1, &[], &[d.to_string()]);
    let c = publish_tree(&mut r, "c.example", &test_key(3), 1, &[], &[d.to_string()]);
    let (a_texts, a_nodes) = leaves(2, 200);
    let a = publish_tree(
        &mut r,
        "a.example",
        &test_key(1),
        1,
        &a_texts,
        &[b.to_string(), c.to_string()],
    );
    let got: HashSet<_> = resolve(r, &a).await.unwrap().into_iter().collect();
    assert_eq!(got, a_nodes.union(&d_nodes).copied().collect());
}

#[tokio::test]
async fn a_forged_root_is_refused() {
    let (texts, _) = leaves(3, 100);
    let mut r = MapResolver::new();
    let link = publish_tree(&mut r, "nodes.example.org", &test_key(1), 3, &texts, &[]);
    // Same tree, but the root's seq is changed after signing.
    let root = futures::executor::block_on(histd::p2p::discovery::dns::TxtResolver::txt(
        &r,
        "nodes.example.org",
    ))
    .unwrap()
    .remove(0);
    r.set("nodes.example.org", vec![root.replace("seq=3", "seq=4")]);
    assert_eq!(
        resolve(r, &link).await,
        Err(DnsError::BadRootSignature {
            domain: "nodes.example.org".into()
        })
    );
}

#[tokio::test]
async fn a_tree_signed_by_another_key_is_refused() {
    let (texts, _) = leaves(3, 100);
    let mut r = MapResolver::new();
    let mut link = publish_tree(&mut r, "nodes.example.org", &test_key(1), 3, &texts, &[]);
    link.public_key = PublicKey::from_secret_key(&test_key(2));
    let err = resolve(r, &link).await.unwrap_err();
    assert_eq!(
        err,
        DnsError::BadRootSignature {
            domain: "nodes.example.org".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "root record at nodes.example.org is not signed by the tree's public key"
    );
}

#[tokio::test]
async fn malformed_records_name_the_record() {
    // Published (and hashed) as is: the signature covers them, the content is still refused.
    for (bad, check) in [
        ("enr:not-base64!", "invalid ENR"),
        ("enrtree-branch:!!", "branch child is not a base32 hash"),
        (
            "hello world",
            "not an enrtree-branch:, enr: or enrtree:// record",
        ),
    ] {
        let (mut texts, _) = leaves(2, 100);
        texts.push(bad.to_string());
        let mut r = MapResolver::new();
        let link = publish_tree(&mut r, "nodes.example.org", &test_key(1), 1, &texts, &[]);
        let err = resolve(r, &link).await.unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains(check) && msg.contains(".nodes.example.org"),
            "{bad}: {msg}"
        );
    }

    let mut r = MapResolver::new();
    r.set("nodes.example.org", vec!["enrtree-root:v1 e=X".into()]);
    let link = TreeLink {
        public_key: PublicKey::from_secret_key(&test_key(1)),
        domain: "nodes.example.org".into(),
    };
    assert!(matches!(
        resolve(r, &link).await,
        Err(DnsError::BadRoot { .. })
    ));
    assert!(matches!(
        resolve(MapResolver::new(), &link).await,
        Err(DnsError::NoRoot { .. })
    ));
}

#[tokio::test]
async fn a_tampered_or_missing_record_is_refused() {
    let (texts, _) = leaves(1, 100);
    let mut r = MapResolver::new();
    let link = publish_tree(&mut r, "n.example", &test_key(1), 1, &texts, &[]);
    let (other, _) = leaves(1, 999);
    // The single leaf sits right under the root: replace its content.
    let leaf_name = {
        let hash = histd::p2p::discovery::dns::records::record_hash(&texts[0]);
        format!(
            "{}.n.example",
            histd::p2p::discovery::dns::records::hash_label(&hash)
        )
    };
    let mut tampered = r.clone();
    tampered.set(&leaf_name, vec![other[0].clone()]);
    assert_eq!(
        resolve(tampered, &link).await,
        Err(DnsError::HashMismatch {
            name: leaf_name.clone()
        })
    );
    let mut missing = r.clone();
    missing.set(&leaf_name, vec![]);
    assert_eq!(
        resolve(missing, &link).await,
        Err(DnsError::MissingEntry { name: leaf_name })
    );
}

#[tokio::test]
async fn a_loop_in_links_is_an_error() {
    let mut r = MapResolver::new();
    let key_a = test_key(1);
    let key_b = test_key(2);
    let a_link = format!(
        "enrtree://{}@a.example",
        data_encoding::BASE32_NOPAD.encode(&PublicKey::from_secret_key(&key_a).serialize())
    );
    let b = publish_tree(&mut r, "b.example", &key_b, 1, &[], &[a_link]);
    let a = publish_tree(&mut r, "a.example", &key_a, 1, &[], &[b.to_string()]);
    let err = resolve(r, &a).await.unwrap_err();
    assert_eq!(
        err,
        DnsError::LinkLoop {
            domain: "a.example".into(),
            path: vec!["a.example".into(), "b.example".into()]
        }
    );
    assert_eq!(
        err.to_string(),
        "link loop: a.example -> b.example links back to a.example"
    );
}

#[tokio::test]
async fn leaves_of_the_wrong_kind_and_oversized_trees_are_refused() {
    let (texts, _) = leaves(2, 100);
    let mut r = MapResolver::new();
    // ENRs published in the link subtree.
    let link = publish_tree(&mut r, "w.example", &test_key(1), 1, &[], &texts);
    assert!(matches!(
        resolve(r, &link).await,
        Err(DnsError::WrongSubtree {
            found: "enr",
            subtree: "link",
            ..
        })
    ));

    let (texts, _) = leaves(30, 100);
    let mut r = MapResolver::new();
    let link = publish_tree(&mut r, "big.example", &test_key(1), 1, &texts, &[]);
    let mut d = DnsDiscovery::new(r);
    d.max_records = 10;
    assert_eq!(
        d.resolve(&link).await,
        Err(DnsError::TooManyRecords {
            domain: "big.example".into(),
            max: 10
        })
    );
}

/// A resolver that fails (as a lost DNS answer would) at the names in `fail`.
struct Flaky {
    inner: MapResolver,
    fail: HashSet<String>,
}

impl histd::p2p::discovery::dns::TxtResolver for Flaky {
    async fn txt(
        &self,
        name: &str,
    ) -> Result<Vec<String>, histd::p2p::discovery::dns::ResolveError> {
        if self.fail.contains(name) {
            return Err(histd::p2p::discovery::dns::ResolveError::Failed {
                name: name.to_string(),
                reason: "no answer".to_string(),
            });
        }
        histd::p2p::discovery::dns::TxtResolver::txt(&self.inner, name).await
    }
}

#[tokio::test]
async fn a_failed_lookup_loses_only_its_branch() {
    let (texts, want) = leaves(40, 300);
    let (linked_texts, _) = leaves(3, 400);
    let mut r = MapResolver::new();
    let linked = publish_tree(&mut r, "b.example", &test_key(2), 1, &linked_texts, &[]);
    let link = publish_tree(
        &mut r,
        "a.example",
        &test_key(1),
        1,
        &texts,
        &[linked.to_string()],
    );
    // One leaf of the main tree and the linked tree's root do not answer.
    let lost_leaf = {
        let hash = histd::p2p::discovery::dns::records::record_hash(&texts[7]);
        format!(
            "{}.a.example",
            histd::p2p::discovery::dns::records::hash_label(&hash)
        )
    };
    let flaky = Flaky {
        inner: r,
        fail: [lost_leaf.clone(), "b.example".to_string()].into(),
    };
    let walker = DnsDiscovery::new(flaky);
    // The strict walk fails on the first loss ...
    assert!(walker.resolve(&link).await.is_err());
    // ... the lenient one keeps the other 39 nodes and says what it skipped.
    let walked = walker.resolve_partial(&link).await;
    assert_eq!(walked.nodes.len(), 39, "{:?}", walked.errors);
    let got: HashSet<_> = walked.nodes.into_iter().collect();
    assert!(got.is_subset(&want));
    assert_eq!(walked.errors.len(), 2, "{:?}", walked.errors);
    assert!(
        walked
            .errors
            .iter()
            .any(|e| e.to_string().contains(&lost_leaf))
    );
    assert!(
        walked
            .errors
            .iter()
            .any(|e| e.to_string().contains("b.example"))
    );

    // A root that does not answer gives nothing, and says so.
    let dead = DnsDiscovery::new(Flaky {
        inner: MapResolver::new(),
        fail: ["a.example".to_string()].into(),
    });
    let walked = dead.resolve_partial(&link).await;
    assert!(walked.nodes.is_empty());
    assert_eq!(walked.errors.len(), 1);
}

/// A resolver over a tree the test can replace, counting the lookups made.
#[derive(Clone, Default)]
struct Counting(
    std::sync::Arc<(
        std::sync::Mutex<MapResolver>,
        std::sync::atomic::AtomicUsize,
    )>,
);

impl Counting {
    fn set(&self, tree: MapResolver) {
        *self.0.0.lock().unwrap() = tree;
    }
    fn asked(&self) -> usize {
        self.0.1.swap(0, std::sync::atomic::Ordering::Relaxed)
    }
}

impl histd::p2p::discovery::dns::TxtResolver for Counting {
    async fn txt(
        &self,
        name: &str,
    ) -> Result<Vec<String>, histd::p2p::discovery::dns::ResolveError> {
        self.0.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tree = self.0.0.lock().unwrap().clone();
        histd::p2p::discovery::dns::TxtResolver::txt(&tree, name).await
    }
}

#[tokio::test]
async fn a_refresh_fetches_only_what_changed_and_ignores_an_older_root() {
    let (texts, want) = leaves(40, 500);
    let key = test_key(9);
    let mut v1 = MapResolver::new();
    let link = publish_tree(&mut v1, "r.example", &key, 5, &texts, &[]);
    let counting = Counting::default();
    counting.set(v1.clone());
    let walker = DnsDiscovery::new(counting.clone());
    let first = walker.resolve_partial(&link).await;
    assert!(first.errors.is_empty(), "{:?}", first.errors);
    assert_eq!(first.nodes.iter().cloned().collect::<HashSet<_>>(), want);
    let full = counting.asked();
    // Root, two subtree roots' worth of branches and 40 leaves.
    assert!(full > 40, "{full}");

    // Unchanged: only the root is asked again.
    let again = walker.resolve_partial(&link).await;
    assert_eq!(again.nodes.len(), 40);
    assert_eq!(counting.asked(), 1);

    // One more leaf, new sequence number: the new leaf and the branches above it, not the rest.
    let (more, more_want) = leaves(41, 500);
    let mut v2 = MapResolver::new();
    publish_tree(&mut v2, "r.example", &key, 6, &more, &[]);
    counting.set(v2);
    let grown = walker.resolve_partial(&link).await;
    assert!(grown.errors.is_empty(), "{:?}", grown.errors);
    assert_eq!(grown.nodes.into_iter().collect::<HashSet<_>>(), more_want);
    let changed = counting.asked();
    assert!(changed < 10, "{changed} lookups for one new leaf");

    // A server still serving the old tree (seq 5 < 6) does not take us back.
    counting.set(v1);
    let stale = walker.resolve_partial(&link).await;
    assert!(stale.errors.is_empty(), "{:?}", stale.errors);
    assert_eq!(stale.nodes.len(), 41);
}
