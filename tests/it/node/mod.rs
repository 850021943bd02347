//! The node's wiring: the real binary with its product workers, finalizing, serving from the store.

mod binary;
mod finalize;
mod provider;
mod report;
