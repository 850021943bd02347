//! discv4 (devp2p `discv4.md`): the packet format, the routing table, the lookup algorithm and the
//! UDP service that ties them together.
//!
//! Owns the discv4 protocol; it never dials RLPx and hands the pool only node records.

pub mod lookup;
pub mod service;
pub mod table;
pub mod wire;

pub use service::{Discv4, Discv4Config, Discv4Error, Discv4Handle, Discv4Stats};
