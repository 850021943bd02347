//! histd's integration tests: one test binary (linking one binary instead of one per file is most of
//! the build time on a small machine), one module per area. Test names carry the area, so
//! `cargo test --test it storage::` runs one area and `cargo test --test it storage::crash::` one file.
//!
//! Everything here runs in one process, in parallel: a test must not install process-wide state (a
//! global metrics recorder, a global tracing subscriber other than `testkit::logs`, environment
//! variables). A test that needs the process to itself re-runs alone in a child process
//! (`testkit::isolated`).

mod bench;
mod cli;
mod daemon;
mod discovery;
mod era1;
mod follow;
mod interop;
mod node;
mod p2p;
mod pool;
mod rpc;
mod storage;
mod sync;
mod testnet;
mod verify;
