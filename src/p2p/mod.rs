//! devp2p: RLPx transport, the base protocol, the eth sub-protocol, sessions and chain specs.

pub mod chain;
pub mod discovery;
pub mod eth;
pub mod rlpx;
