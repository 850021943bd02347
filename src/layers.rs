//! The layer rule, as a test: lower layers never name higher ones (`docs/architecture.md`).
//!
//! Owns [`LAYERS`] (the one table of which top-level module sits on which layer), the scanner
//! that checks every `crate::<module>` path in `src/**/*.rs` against it, and [`ALLOWED`] (known
//! violations, each commented with why and when it goes). Compiled in test builds only: it reads
//! source text, it never runs in the product.
//!
//! The rule: a module may name modules on lower layers, and utilities ([`UTILITIES`]) anywhere. Two
//! different modules on the same layer never name each other (storage and p2p sit side by side;
//! the daemon's wiring in `daemon/node/` is what adapts one to the other). `#[cfg(test)]` code may
//! also use `testkit`. Paths through `super::` stay inside one top-level module and are not checked.
//!
//! What a break looks like — adding `use crate::p2p::eth::BlockRange;` as line 15 of
//! `src/storage/read.rs` makes `cargo test --lib layers` fail with (real output):
//!
//! ```text
//! thread 'layers::tests::lower_layers_never_name_higher_ones' (18831) panicked at src/layers.rs:331:9:
//! layer rule broken (table in src/layers.rs; see docs/architecture.md):
//!   src/storage/read.rs:15: `storage` names `crate::p2p`: both on layer 2, side by side: they never name each other (adapt one to the other in daemon/node/)
//! ```

use std::path::{Path, PathBuf};

/// Top-level modules from the bottom up. A module may name modules on lower layers only.
pub const LAYERS: &[(&str, u8)] = &[
    ("primitives", 0),
    ("verify", 1),
    ("storage", 2),
    ("p2p", 2),
    ("sync", 3),
    // era1 import/export: beside sync, on verify and storage (it never names sync, nor sync it).
    ("era1", 3),
    ("rpc", 4),
    // Config is read by the daemon and the CLI, which turn it into each part's own settings; the
    // parts below never see it.
    ("config", 5),
    ("daemon", 6),
    ("cli", 6),
];

/// Modules any layer may name: the metric names, and the CPU-per-stage clocks behind one of them.
pub const UTILITIES: &[&str] = &["metrics", "stage_cpu"];

/// `testkit` builds test data from every layer, so it sits above them all; only test code (and
/// `testkit` itself) may name it.
const TESTKIT: &str = "testkit";

/// Known violations: (file, module it names). Each entry says why it is here and when it goes; an
/// entry that no longer matches anything fails the test, so the list only shrinks.
pub const ALLOWED: &[(&str, &str)] = &[];

/// One place a lower layer names a higher one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// File, relative to the crate root (`src/...`).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// Module the file belongs to.
    pub from: String,
    /// Module it names.
    pub to: String,
    /// The rule broken.
    pub rule: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: `{}` names `crate::{}`: {}",
            self.file, self.line, self.from, self.to, self.rule
        )
    }
}

fn layer_of(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|&(_, l)| l)
}

/// The top-level module a file under `src/` belongs to (`None` for the crate roots).
fn module_of(rel: &Path) -> Option<String> {
    let mut parts = rel.strip_prefix("src").ok()?.components();
    let first = parts.next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    match name {
        // The crate roots (`src/bin/*` are binary crates of their own, above every layer: they
        // name `histd::`, never `crate::`), and this checker (its tests name modules in sample
        // text).
        "lib" | "main" | "bin" | "layers" => None,
        _ => Some(name.to_string()),
    }
}

/// Why `from` may not name `to`, or `None` when it may.
fn broken_rule(from: &str, to: &str, test_code: bool) -> Option<String> {
    if from == to || UTILITIES.contains(&to) || from == TESTKIT {
        return None;
    }
    if to == TESTKIT {
        return (!test_code).then(|| {
            "only test code (`#[cfg(test)]`) may use testkit; it sits above every layer".to_string()
        });
    }
    let Some(to_layer) = layer_of(to) else {
        return Some(format!(
            "`{to}` is not in the layer table (src/layers.rs LAYERS): give it a layer"
        ));
    };
    let Some(from_layer) = layer_of(from) else {
        return Some(format!(
            "`{from}` is not in the layer table (src/layers.rs LAYERS): give it a layer"
        ));
    };
    if to_layer > from_layer {
        Some(format!(
            "layer {from_layer} may not name layer {to_layer}: lower layers never name higher ones"
        ))
    } else if to_layer == from_layer {
        Some(format!(
            "both on layer {from_layer}, side by side: they never name each other (adapt one to \
             the other in daemon/node/)"
        ))
    } else {
        None
    }
}

/// Modules named by `crate::<name>` or `crate::{a, b::c}` on one line of code.
fn named_modules(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        // `histd_crate::` or `$crate::` are not this crate's paths.
        let before = rest[..at].chars().next_back();
        let after = &rest[at + "crate::".len()..];
        rest = after;
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        if let Some(group) = after.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name != "self" {
                    out.push(name);
                }
            }
        } else {
            let name: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.push(name);
            }
        }
    }
    out
}

/// Marks which lines are test-only: the item after a `#[cfg(test)]` attribute (to its closing
/// brace), whole. Also returns the file modules declared `#[cfg(test)] mod name;`.
fn test_lines(lines: &[&str]) -> (Vec<bool>, Vec<String>) {
    let mut test = vec![false; lines.len()];
    let mut test_mods = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let t = lines[i].trim();
        let is_test_attr = t.starts_with("#[cfg(") && t.contains("test") && !t.contains("not(");
        if !is_test_attr || t.contains("feature") && !t.contains("any(test") {
            i += 1;
            continue;
        }
        // The attribute, further attributes, then the item.
        let mut j = i;
        while j < lines.len() && lines[j].trim().starts_with("#[") {
            test[j] = true;
            j += 1;
        }
        let mut depth = 0i64;
        let mut opened = false;
        while j < lines.len() {
            test[j] = true;
            let line = lines[j];
            if !opened
                && line.trim_end().ends_with(';')
                && !line.contains('{')
                && let Some(name) = line
                    .trim()
                    .trim_start_matches("pub(crate) ")
                    .trim_start_matches("pub ")
                    .strip_prefix("mod ")
            {
                test_mods.push(name.trim_end_matches(';').trim().to_string());
                break;
            }
            for c in line.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            if (opened && depth <= 0) || (!opened && line.trim_end().ends_with(';')) {
                break;
            }
            j += 1;
        }
        i = j + 1;
    }
    (test, test_mods)
}

/// Checks one file's text as if it were at `rel` (`src/...`).
pub fn check_source(rel: &Path, text: &str, whole_file_is_test: bool) -> Vec<Violation> {
    let Some(from) = module_of(rel) else {
        return Vec::new();
    };
    let lines: Vec<&str> = text.lines().collect();
    let (test, _) = test_lines(&lines);
    let mut out = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        let code = line.trim_start();
        // Comments and docs may name any module.
        if code.starts_with("//") {
            continue;
        }
        let code = code.split(" //").next().unwrap_or(code);
        for to in named_modules(code) {
            if let Some(rule) = broken_rule(&from, &to, whole_file_is_test || test[n]) {
                out.push(Violation {
                    file: rel.display().to_string(),
                    line: n + 1,
                    from: from.clone(),
                    to,
                    rule,
                });
            }
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            rust_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// Files declared `#[cfg(test)] mod name;`: test code through and through.
fn test_only_files(root: &Path, files: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file)?;
        let lines: Vec<&str> = text.lines().collect();
        let (_, mods) = test_lines(&lines);
        let Some(parent) = file.parent() else {
            continue;
        };
        let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        // `a/mod.rs` and the crate roots declare children beside them; `a/b.rs` in `a/b/`.
        let dir = if matches!(stem, "mod" | "lib" | "main") {
            parent.to_path_buf()
        } else {
            parent.join(stem)
        };
        for m in mods {
            for candidate in [dir.join(format!("{m}.rs")), dir.join(&m).join("mod.rs")] {
                if let Ok(rel) = candidate.strip_prefix(root) {
                    out.push(rel.to_path_buf());
                }
            }
        }
    }
    Ok(out)
}

/// Scans `root/src/**/*.rs`.
pub fn check_tree(root: &Path) -> std::io::Result<Vec<Violation>> {
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files)?;
    files.sort();
    let test_only = test_only_files(root, &files)?;
    let mut out = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(root).unwrap_or(file);
        let text = std::fs::read_to_string(file)?;
        out.extend(check_source(rel, &text, test_only.iter().any(|t| t == rel)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    #[test]
    fn lower_layers_never_name_higher_ones() {
        let found = check_tree(&root()).expect("read src/");
        let allowed = |v: &Violation| {
            ALLOWED
                .iter()
                .any(|&(file, to)| v.file == file && v.to == to)
        };
        let broken: Vec<String> = found
            .iter()
            .filter(|v| !allowed(v))
            .map(|v| format!("  {v}"))
            .collect();
        assert!(
            broken.is_empty(),
            "layer rule broken (table in src/layers.rs; see docs/architecture.md):\n{}",
            broken.join("\n")
        );
        let stale: Vec<String> = ALLOWED
            .iter()
            .filter(|&&(file, to)| !found.iter().any(|v| v.file == file && v.to == to))
            .map(|(file, to)| format!("  ({file:?}, {to:?})"))
            .collect();
        assert!(
            stale.is_empty(),
            "allow-list entries that no longer match anything; remove them from ALLOWED:\n{}",
            stale.join("\n")
        );
    }

    #[test]
    fn every_top_level_module_has_a_layer() {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(root().join("src")).expect("read src/") {
            let path = entry.expect("dir entry").path();
            let rel = path.strip_prefix(root()).expect("under root");
            if let Some(m) = module_of(rel)
                && (path.is_dir() || path.extension().is_some_and(|e| e == "rs"))
            {
                names.push(m);
            }
        }
        for m in names {
            assert!(
                layer_of(&m).is_some() || UTILITIES.contains(&m.as_str()) || m == TESTKIT,
                "src/{m}: add it to LAYERS or UTILITIES in src/layers.rs"
            );
        }
    }

    #[test]
    fn a_storage_file_naming_p2p_is_caught_with_its_line() {
        let text = "//! Docs may say crate::p2p.\nuse crate::primitives::BlockNumber;\nuse crate::p2p::eth::BlockRange;\n";
        let v = check_source(Path::new("src/storage/read.rs"), text, false);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(
            (v[0].line, v[0].from.as_str(), v[0].to.as_str()),
            (3, "storage", "p2p")
        );
        assert!(
            v[0].to_string().starts_with("src/storage/read.rs:3: "),
            "{}",
            v[0]
        );
    }

    #[test]
    fn upward_grouped_and_inline_paths_are_caught() {
        let text = "use crate::{primitives::Body, sync};\nfn f() { crate::daemon::run(); }\n";
        let v = check_source(Path::new("src/verify/mod.rs"), text, false);
        let to: Vec<&str> = v.iter().map(|v| v.to.as_str()).collect();
        assert_eq!(to, ["sync", "daemon"]);
    }

    #[test]
    fn test_code_may_use_testkit_and_utilities_are_open() {
        let text = "use crate::metrics;\n\n#[cfg(test)]\nmod tests {\n    use crate::testkit::chain::ChainGen;\n}\nuse crate::testkit::x;\n";
        let v = check_source(Path::new("src/p2p/x.rs"), text, false);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!((v[0].line, v[0].to.as_str()), (7, "testkit"));
        // Downward is fine; same module is fine.
        let ok = "use crate::verify::SealedHeader;\nuse crate::sync::x;\n";
        assert!(check_source(Path::new("src/sync/a.rs"), ok, false).is_empty());
    }
}
