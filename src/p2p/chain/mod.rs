//! Chain specs: genesis, chain id, network id, fork schedule and EIP-2124 fork ids of the chains
//! histd knows (mainnet, sepolia, hoodi) and of custom chains described in a small TOML/JSON file.
//!
//! Owns "which chain are we on and which peers share it": [`ChainSpec::fork_filter`] builds the
//! `alloy-eip2124` filter the eth handshake validates remote fork ids with, and each chain carries
//! its own discovery entry points ([`ChainSpec::bootnodes`], [`ChainSpec::dns_networks`]: the
//! built-in lists for mainnet, sepolia and hoodi; a custom chain's only if its file lists them). It must never do network
//! I/O, and never invent fork data: built-in schedules come from `alloy-hardforks`, genesis hashes from
//! `alloy-consensus`.
//!
//! ```
//! use histd::p2p::chain::{ChainSpec, ForkHead};
//! let mainnet = ChainSpec::mainnet();
//! // Mainnet after BPO2: no further fork scheduled.
//! let id = mainnet.fork_id(ForkHead::new(24_000_000u64, 1_767_747_671));
//! assert_eq!(id.hash.0, [0x07, 0xc9, 0x46, 0x2e]);
//! assert_eq!(id.next, 0);
//! ```

mod builtin_genesis;
mod genesis;
mod spec;

pub use genesis::{ChainSpecError, GenesisDescription};
pub use spec::{ChainSpec, ForkHead, MAINNET_MERGE_CHECKPOINT};

pub use alloy_eip2124::{ForkFilter, ForkFilterKey, ForkHash, ForkId, ValidationError};
