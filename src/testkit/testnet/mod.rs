//! placeholder
pub mod chain;
