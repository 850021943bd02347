//! What is wrong with a configuration: one [`Problem`] per key, and the [`ConfigError`] of a load.

use std::fmt;
use std::path::PathBuf;

/// One thing wrong with the configuration: which key, what value, what is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub value: String,
    /// What is allowed (for an unknown key: the keys its section accepts).
    pub allowed: String,
    pub kind: ProblemKind,
}

/// Whether the key exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// A known key with a value that breaks a rule.
    BadValue,
    /// A key histd does not know (a typo, or the wrong section).
    UnknownKey,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ProblemKind::BadValue => write!(
                f,
                "{}: got {}, expected {}",
                self.key, self.value, self.allowed
            ),
            ProblemKind::UnknownKey => write!(
                f,
                "{}: unknown key (value {}); {}",
                self.key, self.value, self.allowed
            ),
        }
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{} problem(s) in the configuration", .0.len())]
    Invalid(Vec<Problem>),
    #[error("cannot render the effective config as TOML: {0}")]
    Serialize(String),
}

impl ConfigError {
    /// One line per problem, ready to print.
    pub fn lines(&self) -> Vec<String> {
        match self {
            Self::Invalid(problems) => problems.iter().map(|p| p.to_string()).collect(),
            other => vec![other.to_string().replace('\n', " ")],
        }
    }
}
