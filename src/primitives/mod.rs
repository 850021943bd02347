//! The chain data histd handles, shared by the wire, the verifier, storage and RPC.
//!
//! Owns the in-memory shapes of headers, bodies and receipts, their RLP encodings (wire and consensus
//! forms), and the `BlockNumber` unit. It must never do I/O and never decide what is trustworthy: that is
//! `verify`'s job, the only producer of [`VerifiedBlock`].

mod block;
mod bloom;
mod checkpoint;
mod number;
mod receipt;
mod reserve;

pub use block::{Body, Transaction, VerifiedBlock, decode_body, encode_body};
pub use bloom::BloomHasher;
pub use checkpoint::{Checkpoint, CheckpointParseError};
pub use number::BlockNumber;
pub use receipt::{Receipt, ReceiptDecodeError, encode_eth69_list};

pub use alloy_consensus::{Header, TxType};
pub use alloy_primitives::{B256, Bloom, Bytes, Log};
