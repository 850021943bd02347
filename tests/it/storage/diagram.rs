//! `state-diagrams/shard.mmd` must show exactly the shard lifecycle the code enforces
//! (`histd::storage::TRANSITIONS`, which `ShardState::can_become` checks): every edge between two
//! states, with its label, is a row of the table, and every row is drawn.

use std::collections::BTreeSet;

use histd::storage::TRANSITIONS;

type Edge = (String, String, String); // (from, to, label)

fn drawn_edges() -> BTreeSet<Edge> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/state-diagrams/shard.mmd");
    let text = std::fs::read_to_string(path).expect("read shard.mmd");
    let mut edges = BTreeSet::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with("%%") {
            continue;
        }
        let Some((from, rest)) = line.split_once("-->") else {
            continue;
        };
        let (to, label) = match rest.split_once(':') {
            Some((to, label)) => (to.trim(), label.trim()),
            None => (rest.trim(), ""),
        };
        let from = from.trim();
        if from == "[*]" || to == "[*]" {
            continue;
        }
        let edge = (from.to_string(), to.to_string(), label.to_string());
        assert!(edges.insert(edge), "edge drawn twice: {line}");
    }
    edges
}

#[test]
fn shard_diagram_is_the_code_transition_table() {
    let code: BTreeSet<Edge> = TRANSITIONS
        .iter()
        .map(|(a, b, label)| (format!("{a:?}"), format!("{b:?}"), label.to_string()))
        .collect();
    let drawn = drawn_edges();
    let missing: Vec<_> = code.difference(&drawn).collect();
    let extra: Vec<_> = drawn.difference(&code).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "shard.mmd and storage::TRANSITIONS differ\n  in the code, not drawn: {missing:?}\n  drawn, not in the code: {extra:?}"
    );
}
