//! One verified session with one peer: the eth Status exchange ([`EthStream`]) and the session
//! task ([`spawn`]) with its [`SessionHandle`].
//!
//! Owns request/response matching (EIP-2481 ids), timeouts, response caps, answering peers from a
//! [`HistoryProvider`], keep-alive and the peer's head. It must never verify or store peer data.
//!
//! # How to get a session
//! ```ignore
//! let eth = session::dial(tcp, remote_id, &peer_config).await?;   // or session::accept(tcp, &peer_config)
//! let (handle, task) = session::spawn(eth, Arc::new(provider), SessionConfig::default());
//! let headers = handle.get_headers(GetBlockHeaders { .. }).await?;
//! let head = handle.head().await;            // Status best hash resolved to a number
//! ```
//! Every step has its own timeout; failures are typed ([`EthStreamError`], [`RequestError`]) and
//! the session task logs one line when it ends (warn for protocol breaches, info otherwise).

mod connect;
mod error;
mod eth_stream;
mod handle;
mod provider;
mod task;

pub use connect::{PeerConfig, Timeouts, accept, dial};
pub use error::{EthStreamError, RequestError};
pub use eth_stream::{DEFAULT_STATUS_TIMEOUT, EthStream, StatusInputs};
pub use handle::{PeerHead, PeerSnapshot, SessionHandle};
pub use provider::{EmptyHistory, HistoryProvider, SOFT_RESPONSE_LIMIT, cap_by_size};
pub use task::{SessionConfig, spawn};
