//! Fetch → verify → process, shared by FastSync and Follow (the pipeline lands here).
//!
//! Sits above `verify`, `storage` and `p2p`: it may use all three, and none of them may use it.
//! The block rules themselves live in [`crate::verify`], not here.

pub mod stats;
