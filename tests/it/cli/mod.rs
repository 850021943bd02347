//! The command line of the real binary: usage, `histd config check`, `histd db ...`.

mod config_check;
pub(crate) mod db;
mod usage;
