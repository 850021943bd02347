//! `state-diagrams/daemon.mmd` must show exactly the machine's transitions: an edge in the diagram
//! that the code does not take fails, and so does a transition of the code missing from the diagram.
//! Composite states must be the machine's superstates, with the same phases; an edge drawn from a
//! composite state counts as one edge from each phase inside it (that is what the table records).

use std::collections::{BTreeMap, BTreeSet};

use histd::daemon::transitions::SUPERSTATES;
use histd::daemon::{EventKind, Phase, TRANSITIONS};

type Edge = (String, String, String); // (from, to, "Event" or "Event [guard]")

struct Diagram {
    /// Edges between phases, composite-state edges expanded to each phase inside.
    edges: BTreeSet<Edge>,
    initial: Vec<String>,
    terminal: Vec<String>,
    /// Composite state → every state mentioned inside it, however deeply nested.
    composites: BTreeMap<String, BTreeSet<String>>,
}

fn read_diagram() -> Diagram {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/state-diagrams/daemon.mmd");
    let text = std::fs::read_to_string(path).expect("read daemon.mmd");
    let mut composites: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut open: Vec<String> = Vec::new();
    let mut drawn: Vec<(String, String, String, String)> = Vec::new(); // + the line, for messages
    let (mut initial, mut terminal) = (vec![], vec![]);
    let mut in_note = false;
    for line in text.lines().map(str::trim) {
        if in_note {
            in_note = line != "end note";
            continue;
        }
        if line.starts_with("note ") {
            in_note = true;
            continue;
        }
        if let Some(name) = line
            .strip_prefix("state ")
            .and_then(|rest| rest.strip_suffix('{'))
        {
            let name = name.trim().to_string();
            for outer in &open {
                composites
                    .entry(outer.clone())
                    .or_default()
                    .insert(name.clone());
            }
            composites.entry(name.clone()).or_default();
            open.push(name);
            continue;
        }
        if line == "}" {
            assert!(open.pop().is_some(), "unbalanced `}}` in daemon.mmd");
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
        // Mermaid puts a state in the composite it is first mentioned in.
        for outer in &open {
            let members = composites.entry(outer.clone()).or_default();
            members.extend(
                [from, to]
                    .into_iter()
                    .filter(|s| *s != "[*]")
                    .map(String::from),
            );
        }
        if from == "[*]" {
            initial.push(to.to_string());
        } else if to == "[*]" {
            terminal.push(from.to_string());
        } else {
            drawn.push((from.into(), to.into(), label.into(), line.into()));
        }
    }
    assert!(
        open.is_empty(),
        "unclosed composite state(s) {open:?} in daemon.mmd"
    );

    let mut edges = BTreeSet::new();
    for (from, to, label, line) in drawn {
        assert!(
            !composites.contains_key(&to),
            "an edge into a composite state says nothing about which phase it enters: {line}"
        );
        let sources: Vec<String> = match composites.get(&from) {
            Some(members) => members
                .iter()
                .filter(|m| !composites.contains_key(*m))
                .cloned()
                .collect(),
            None => vec![from],
        };
        for source in sources {
            let added = edges.insert((source, to.clone(), label.clone()));
            assert!(
                added,
                "duplicate edge in the diagram (perhaps also drawn from a composite): {line}"
            );
        }
    }
    Diagram {
        edges,
        initial,
        terminal,
        composites,
    }
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
    let diagram = read_diagram();
    let code = code_edges();
    let only_in_diagram: Vec<_> = diagram.edges.difference(&code).collect();
    let only_in_code: Vec<_> = code.difference(&diagram.edges).collect();
    assert!(
        only_in_diagram.is_empty() && only_in_code.is_empty(),
        "daemon.mmd and the machine disagree.\n  in the diagram, not in the code: {only_in_diagram:?}\n  in the code, not in the diagram: {only_in_code:?}"
    );
    assert_eq!(diagram.initial, vec![Phase::Startup.diagram_name()]);
    assert_eq!(diagram.terminal, vec![Phase::ShuttingDown.diagram_name()]);
}

#[test]
fn diagram_composites_are_the_machines_superstates() {
    let diagram = read_diagram();
    // Phases only: a nested composite's name is in its parent's set too, but its phases already are.
    let drawn: BTreeMap<String, BTreeSet<String>> = diagram
        .composites
        .iter()
        .map(|(name, members)| {
            let phases = members
                .iter()
                .filter(|m| !diagram.composites.contains_key(*m))
                .cloned()
                .collect();
            (name.clone(), phases)
        })
        .collect();
    let code: BTreeMap<String, BTreeSet<String>> = SUPERSTATES
        .iter()
        .map(|g| {
            let phases = g
                .phases
                .iter()
                .map(|p| p.diagram_name().to_string())
                .collect();
            (g.name.to_string(), phases)
        })
        .collect();
    assert_eq!(
        drawn, code,
        "daemon.mmd's composite states vs transitions::SUPERSTATES"
    );
}

#[test]
fn diagram_names_only_known_states_and_events() {
    let diagram = read_diagram();
    let states: Vec<&str> = Phase::ALL.iter().map(|p| p.diagram_name()).collect();
    let events: Vec<&str> = EventKind::ALL.iter().map(|e| e.diagram_name()).collect();
    for (from, to, label) in &diagram.edges {
        assert!(states.contains(&from.as_str()), "unknown state {from}");
        assert!(states.contains(&to.as_str()), "unknown state {to}");
        let event = label.split(' ').next().unwrap_or_default();
        assert!(events.contains(&event), "unknown event {event}");
    }
}
