//! JSON-RPC server: the stored history served to indexers over HTTP and WebSocket on one port
//! (DESIGN §7, docs/architecture.md).
//!
//! Owns the JSON-RPC envelope (`envelope.rs`), parameters with geth's error words (`params.rs`),
//! the methods (`methods.rs`), stored blocks into alloy's RPC shapes (`convert.rs`), tag
//! resolution and the not-held rules (`chain.rs`), `eth_getLogs` (`logs.rs`), installed filters
//! (`filters.rs`), WebSocket subscriptions (`ws.rs`), and the axum server with its limits and
//! CORS (`server.rs`). It must never write to storage and never read the config: whoever starts
//! it hands it an [`RpcSettings`].
//!
//! How to run it (the follow worker, later; `histd serve` now):
//!
//! ```text
//! let (head_tx, head_rx) = watch::channel(Head { number, hash, safe, finalized });
//! let server = Server::start(settings, store.clone(), chain_id, head_rx).await?;
//! // for every block made canonical, in order:   server.publish(ChainEvent::Added(block)); head_tx.send(...)
//! // for every block a rollback removes, highest first:  server.publish(ChainEvent::Removed(block))
//! server.stop().await;                         // on shutdown
//! ```
//!
//! Tags: `latest` and `pending` are the head, `safe`/`finalized` what the head says (unknown:
//! geth's "safe block not found"), `earliest` the lowest stored block. Blocks above the head are
//! `null`; blocks below the lowest stored one, or missing, answer geth's pruned-history error
//! (code 4444). Filters and subscriptions follow the event feed, not the head.

mod chain;
mod convert;
mod envelope;
mod filters;
mod logs;
mod methods;
mod params;
mod server;
mod settings;
mod ws;

pub use convert::recover_sender;
pub use envelope::{
    INVALID_PARAMS, INVALID_REQUEST, LIMIT_EXCEEDED, METHOD_NOT_FOUND, PARSE_ERROR, PRUNED_HISTORY,
    RESPONSE_TOO_LARGE, RpcError, SERVER_ERROR, TIMEOUT,
};
pub use methods::SERVED;
pub use server::{ServeError, Server, ServerHandle};
pub use settings::{ChainEvent, Head, RpcSettings};
