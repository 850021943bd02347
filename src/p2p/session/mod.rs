//! One verified session with one peer: the eth Status exchange ([`EthStream`]) and the session
//! task ([`spawn`]) with its [`SessionHandle`].
//!
//! Owns request/response matching (EIP-2481 ids), timeouts, response checks (item counts; header
//! start, step and direction), answering peers from a [`HistoryProvider`] (capped at
//! [`SOFT_RESPONSE_LIMIT`]), keep-alive Pings, ignoring gossip (an empty `PooledTransactions` for
//! `GetPooledTransactions`) and the peer's head. It must never verify or store peer data: answers
//! go to the caller, who verifies them (`verify`) before anything is stored. Each answer can come
//! with the size of the message that carried it, measured as it was read ([`WireSize`]: the RLP
//! after snappy, and the RLPx frame data), so callers never re-measure decoded items; the sizes
//! of the answers we send are told to the provider ([`HistoryProvider::sent`]).
//!
//! # How to get a session
//! ```ignore
//! let config = PeerConfig::new(node_key, StatusInputs { spec, filter, served });
//! let eth = session::dial(tcp, remote_id, &config).await?;      // or session::accept(tcp, &config)
//! let (handle, task) = session::spawn(eth, Arc::new(provider), SessionConfig::default());
//! let headers = handle.get_headers(GetBlockHeaders { .. }).await?;   // Vec<Header>
//! let bodies = handle.get_bodies(hashes.clone()).await?;             // Vec<Body>
//! let receipts = handle.get_receipts(hashes).await?;                 // Vec<Vec<Receipt>>, any version
//! let sized = handle.get_bodies_sized(hashes).await?;  // Answer { items, size: WireSize { rlp, frame } }
//! let head = handle.head().await;      // Status best hash resolved to a number (None if it ended)
//! let snap = handle.snapshot();        // id, client, version, status, head, served range, ended
//! ```
//! Each handshake step has its own timeout ([`Timeouts`]). Failures are typed: [`EthStreamError`]
//! (with `disconnect_reason()` and `is_protocol_breach()`) for the session, [`RequestError`] for
//! one request. A request that times out fails alone (the caller gets `Timeout`); the task ends
//! when the peer disconnects or misbehaves (an unsolicited response included), misses
//! `timeouts_in_a_row` requests in a row, does not read within `write_timeout` (request deadlines
//! keep firing while a write waits), stays silent past `idle_timeout`, a handle calls
//! `disconnect`, or every handle is dropped; it logs one line (warn for protocol breaches, info
//! otherwise), counts the end in `histd_session_ends_total` and sends the matching Disconnect.

mod connect;
mod error;
mod eth_stream;
mod handle;
mod provider;
mod task;

pub use connect::{PeerConfig, Timeouts, accept, dial};
pub use error::{EthStreamError, RequestError};
pub use eth_stream::{DEFAULT_STATUS_TIMEOUT, EthStream, StatusInputs};
pub use handle::{Answer, PeerHead, PeerSnapshot, SessionHandle, WireSize};
pub use provider::{EmptyHistory, HistoryProvider, SOFT_RESPONSE_LIMIT, cap_by_size};
pub use task::{SessionConfig, spawn};
