//! `state-diagrams/daemon.mmd` must show exactly the machine's transitions: an edge in the diagram
//! that the code does not take fails, and so does a transition of the code missing from the diagram.

use std::collections::BTreeSet;

use histd::daemon::{EventKind, Phase, TRANSITIONS};

type Edge = (String, String, String); // (from, to, "Event" or "Event [guard]")

fn diagram_edges() -> (BTreeSet<Edge>, Vec<String>, Vec<String>) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/state-diagrams/daemon.mmd");
    let text = std::fs::read_to_string(path).expect("read daemon.mmd");
    let mut edges = BTreeSet::new();
    let (mut initial, mut terminal) = (vec![], vec![]);
    for line in text.lines().map(str::trim) {
        let Some((from, rest)) = line.split_once("-->") else {
            continue;
        };
        let (to, label) = match rest.split_once(':') {
            Some((to, label)) => (to.trim(), label.trim()),
            None => (rest.trim(), ""),
        };
        let from = from.trim();
        if from == "[*]" {
            initial.push(to.to_string());
        } else if to == "[*]" {
            terminal.push(from.to_string());
        } else {
            let added = edges.insert((from.to_string(), to.to_string(), label.to_string()));
            assert!(added, "duplicate edge in the diagram: {line}");
        }
    }
    (edges, initial, terminal)
}

fn code_edges() -> BTreeSet<Edge> {
    TRANSITIONS
        .iter()
        .map(|r| {
            let guard = r.guard.diagram_label();
            let label = if guard.is_empty() {
                r.on.diagram_name().to_string()
            } else {
                format!("{} [{guard}]", r.on.diagram_name())
            };
            (
                r.from.diagram_name().to_string(),
                r.to.diagram_name().to_string(),
                label,
            )
        })
        .collect()
}

#[test]
fn diagram_edges_equal_the_transition_table() {
    let (diagram, initial, terminal) = diagram_edges();
    let code = code_edges();
    let only_in_diagram: Vec<_> = diagram.difference(&code).collect();
    let only_in_code: Vec<_> = code.difference(&diagram).collect();
    assert!(
        only_in_diagram.is_empty() && only_in_code.is_empty(),
        "daemon.mmd and the machine disagree.\n  in the diagram, not in the code: {only_in_diagram:?}\n  in the code, not in the diagram: {only_in_code:?}"
    );
    assert_eq!(initial, vec![Phase::Startup.diagram_name()]);
    assert_eq!(terminal, vec![Phase::ShuttingDown.diagram_name()]);
}

#[test]
fn diagram_names_only_known_states_and_events() {
    let (diagram, _, _) = diagram_edges();
    let states: Vec<&str> = Phase::ALL.iter().map(|p| p.diagram_name()).collect();
    let events: Vec<&str> = EventKind::ALL.iter().map(|e| e.diagram_name()).collect();
    for (from, to, label) in &diagram {
        assert!(states.contains(&from.as_str()), "unknown state {from}");
        assert!(states.contains(&to.as_str()), "unknown state {to}");
        let event = label.split(' ').next().unwrap_or_default();
        assert!(events.contains(&event), "unknown event {event}");
    }
}
