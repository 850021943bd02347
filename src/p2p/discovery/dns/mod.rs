//! DNS discovery (EIP-1459): node lists published as a signed Merkle tree of TXT records.
//!
//! Owns tree parsing, signature checks and the walk; it never trusts a record it could not verify.

pub mod records;
pub mod resolver;
pub mod walk;
