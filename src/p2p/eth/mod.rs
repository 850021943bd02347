//! The eth sub-protocol (eth/68, eth/69): versions, message ids, message types and their codec,
//! and the Status handshake checks. Pure code: no sockets, no timers, no storage.
//!
//! Owns the bytes of every eth message after the RLPx layer has removed framing, snappy and the
//! capability offset. It must never do I/O and never decide what to do with a peer beyond saying
//! which disconnect reason an error calls for.
//!
//! # API for the session layer
//! - [`EthVersion`]: `ALL` (advertise in Hello, highest first), `highest_common`,
//!   `message_count` (the id space to reserve after the eth offset), `CAPABILITY_NAME`.
//! - [`EthMessage::decode`]`(version, id, payload)` → [`EthMessage`] or [`EthDecodeError`]
//!   (names version, id and what failed; `disconnect_reason()` is always breach of protocol).
//!   `id` is relative to the eth offset; `payload` is uncompressed. Counts are capped
//!   ([`limits`]) before anything is allocated; payloads over [`limits::MAX_ETH_MESSAGE_SIZE`] fail.
//! - [`EthMessage::encode`]`(version)` → `(id, payload)`, or [`EthEncodeError`] if the message
//!   does not exist in that version (`BlockRangeUpdate` on eth/68, a Status of the other layout).
//! - [`Status::ours`] builds our Status from a [`ChainSpec`](crate::p2p::chain::ChainSpec), the
//!   fork filter and the [`BlockRange`] we serve; [`validate_status`] checks theirs and returns a
//!   [`StatusError`] whose `disconnect_reason()` is 0x10 (other network/genesis/fork, as geth)
//!   or 0x02 (Status contradicts the negotiated version).
//! - [`RequestPair`] (EIP-2481) wraps every request and response; `answer()` copies the id.
//! - Serving: [`GetBlockHeaders::numbers_from`] lists the numbers to look up (skip, reverse,
//!   capped at [`limits::MAX_HEADERS`]); stop adding to a response at
//!   [`limits::SOFT_RESPONSE_LIMIT`]. Receiving: [`GetBlockHeaders::check_response`] and
//!   [`check_response_count`] reject answers that do not fit the request ([`ResponseError`]).
//!
//! # Gossip policy
//! histd keeps no transaction pool and follows the head through requests, so
//! `Transactions`, `NewPooledTransactionHashes` and (eth/68) `NewBlockHashes` / `NewBlock` are only
//! checked to be one well-formed RLP list and returned as [`EthMessage::Gossip`], to be dropped
//! without reply or penalty. `GetPooledTransactions` should be answered with an empty
//! `PooledTransactions` carrying the same request id (the spec allows empty answers, and
//! answering keeps the peer from timing us out); an unsolicited `PooledTransactions` is dropped.

mod error;
mod headers;
pub mod limits;
mod message;
mod request;
mod response;
mod rlp;
mod status;
mod version;

pub use error::{EthDecodeError, EthDecodeErrorKind, EthEncodeError, StatusError, reason};
pub use headers::{BlockHashOrNumber, GetBlockHeaders};
pub use message::{EthMessage, Gossip};
pub use request::RequestPair;
pub use response::{ResponseError, check_response_count};
pub use status::{BlockRange, ForkSide, Status, StatusBlocks, fmt_fork_id, validate_status};
pub use version::{EthMessageId, EthVersion};
