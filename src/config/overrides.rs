//! Command-line overrides: values written into the file's TOML table before validation, so a
//! flag is checked by the same rules (and named by the same key) as a file value, and a problem
//! with it also names the flag.

use toml::{Table, Value};

/// What a flag does to its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverrideAction {
    /// Replace the file's value (`--start-block 5`).
    Set,
    /// Add one item to the file's list (`--peer ENODE`, repeatable).
    Append,
}

/// One value set on the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    /// Dotted key, e.g. `sync.start_block`.
    pub key: &'static str,
    pub value: Value,
    /// The flag it came from, for messages.
    pub flag: &'static str,
    pub action: OverrideAction,
}

impl Override {
    /// `flag` replaces the value of `key`.
    pub fn set(key: &'static str, value: Value, flag: &'static str) -> Self {
        Self {
            key,
            value,
            flag,
            action: OverrideAction::Set,
        }
    }

    /// `flag` adds `value` to the list at `key`.
    pub fn append(key: &'static str, value: Value, flag: &'static str) -> Self {
        Self {
            key,
            value,
            flag,
            action: OverrideAction::Append,
        }
    }
}

/// Which keys (or list items, `key[i]`) hold a value that came from a flag.
#[derive(Debug, Default)]
pub(super) struct FlagOrigins(Vec<(String, &'static str)>);

impl FlagOrigins {
    /// The flag behind `key` (`a.b` or `a.b[3]`), if a flag set it.
    pub(super) fn flag_of(&self, key: &str) -> Option<&'static str> {
        let find = |k: &str| self.0.iter().find(|(o, _)| o == k).map(|(_, f)| *f);
        // A list set whole by a flag covers each of its items.
        find(key).or_else(|| key.split_once('[').and_then(|(list, _)| find(list)))
    }
}

/// Writes every override into `table`, in order; returns where each one landed.
pub(super) fn apply(table: &mut Table, overrides: &[Override]) -> FlagOrigins {
    let mut origins = FlagOrigins::default();
    'each: for o in overrides {
        let mut parts: Vec<&str> = o.key.split('.').collect();
        let Some(last) = parts.pop() else { continue };
        let mut cur = &mut *table;
        for part in parts {
            let entry = cur
                .entry(part.to_string())
                .or_insert_with(|| Value::Table(Table::new()));
            if !entry.is_table() {
                *entry = Value::Table(Table::new());
            }
            match entry {
                Value::Table(t) => cur = t,
                _ => continue 'each,
            }
        }
        match o.action {
            OverrideAction::Set => {
                cur.insert(last.to_string(), o.value.clone());
                origins.0.push((o.key.to_string(), o.flag));
            }
            OverrideAction::Append => {
                let list = cur
                    .entry(last.to_string())
                    .or_insert_with(|| Value::Array(Vec::new()));
                // A file value that is not a list is reported as the file's mistake; the flag's
                // item has nowhere to go until it is fixed.
                if let Value::Array(items) = list {
                    origins
                        .0
                        .push((format!("{}[{}]", o.key, items.len()), o.flag));
                    items.push(o.value.clone());
                }
            }
        }
    }
    origins
}
