//! Helpers shared by the integration tests that run the real `histd` binary.

pub mod process;
