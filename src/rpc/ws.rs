//! One WebSocket connection: calls answered like HTTP bodies, plus `eth_subscribe` /
//! `eth_unsubscribe` (`newHeads`; `logs` with `removed: true` copies when a rollback removes a
//! block), fed from the chain-event feed. Owns the connection's subscriptions; they end with it.
//! A client too slow for the feed is disconnected rather than silently skipped past events.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket};
use futures::{SinkExt, StreamExt};
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::sync::{OwnedSemaphorePermit, broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::convert::rpc_header;
use super::envelope::{self, Answer, BatchAnswers, Call, Incoming, RpcError};
use super::filters::{IdGen, stored_view};
use super::logs::{Matcher, parse_filter};
use super::params::Params;
use super::server::{self, Shared};
use super::settings::ChainEvent;

/// Messages queued for a connection before it counts as too slow.
const OUT_QUEUE: usize = 4096;
/// Subscriptions one connection may hold.
const MAX_SUBSCRIPTIONS: usize = 1000;

#[derive(Serialize)]
struct Notification<'a, T: Serialize> {
    jsonrpc: &'static str,
    method: &'static str,
    params: NotificationParams<'a, T>,
}

#[derive(Serialize)]
struct NotificationParams<'a, T: Serialize> {
    subscription: &'a str,
    result: T,
}

fn notification(id: &str, result: &impl Serialize) -> String {
    server::to_json(&Notification {
        jsonrpc: "2.0",
        method: "eth_subscription",
        params: NotificationParams {
            subscription: id,
            result,
        },
    })
}

/// What a subscription sends.
enum Topic {
    NewHeads,
    Logs(Box<Matcher>),
}

struct Conn {
    shared: Arc<Shared>,
    out: mpsc::Sender<String>,
    subs: HashMap<String, JoinHandle<()>>,
    ids: Arc<IdGen>,
    /// Cancelled when this connection must close (server stop, or a lagging subscriber).
    close: CancellationToken,
}

/// Serves one upgraded connection until it closes.
pub(super) async fn serve(socket: WebSocket, shared: Arc<Shared>, permit: OwnedSemaphorePermit) {
    let _permit = permit;
    let (mut sink, mut stream) = socket.split();
    let (out, mut rx) = mpsc::channel::<String>(OUT_QUEUE);
    let close = shared.shutdown.child_token();
    let writer_close = close.clone();
    let writer = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = writer_close.cancelled() => break,
                m = rx.recv() => match m {
                    Some(text) => {
                        if sink.send(Message::Text(text.into())).await.is_err() {
                            writer_close.cancel();
                            break;
                        }
                    }
                    None => break,
                },
            }
        }
        let _ = sink.send(Message::Close(None)).await;
    });
    let mut conn = Conn {
        shared,
        out,
        subs: HashMap::new(),
        ids: Arc::new(IdGen::default()),
        close: close.clone(),
    };
    loop {
        let msg = tokio::select! {
            _ = close.cancelled() => break,
            m = stream.next() => m,
        };
        let body = match msg {
            Some(Ok(Message::Text(t))) => t.as_str().as_bytes().to_vec(),
            Some(Ok(Message::Binary(b))) => b.to_vec(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Close(_)) | Err(_)) | None => break,
        };
        if let Some(reply) = conn.handle(&body).await
            && conn.out.send(reply).await.is_err()
        {
            break;
        }
    }
    for (_, task) in conn.subs.drain() {
        task.abort();
    }
    close.cancel();
    drop(conn);
    let _ = writer.await;
}

impl Conn {
    async fn handle(&mut self, body: &[u8]) -> Option<String> {
        let settings = &self.shared.ctx.settings;
        let deadline = server::deadline_after(settings.request_timeout);
        match envelope::parse(body, settings.max_batch) {
            Incoming::Invalid(a) => Some(server::to_json(&a)),
            Incoming::Single(call) => self.one(call, deadline).await.map(|a| server::to_json(&a)),
            Incoming::Batch(calls) => {
                let mut out = BatchAnswers::new(settings.max_batch_response_bytes);
                let mut calls = calls.into_iter();
                for call in calls.by_ref() {
                    out.push(self.one(call, deadline).await);
                    if out.is_full() {
                        break;
                    }
                }
                out.finish(calls).map(|out| server::to_json(&out))
            }
        }
    }

    async fn one(&mut self, call: Result<Call, Answer>, deadline: Instant) -> Option<Answer> {
        let c = match call {
            Ok(c) if c.method == "eth_subscribe" || c.method == "eth_unsubscribe" => c,
            other => {
                let permit = tokio::time::timeout_at(deadline, self.shared.permits.acquire()).await;
                let busy = !matches!(permit, Ok(Ok(_)));
                return server::answer(&self.shared, other, deadline, busy).await;
            }
        };
        let result = if c.method == "eth_subscribe" {
            self.subscribe(&c.params)
        } else {
            self.unsubscribe(&c.params)
        };
        let id = c.id?;
        Some(match result {
            Ok(v) => Answer::result(id, v),
            Err(e) => Answer::error(id, e),
        })
    }

    fn subscribe(&mut self, params: &[Value]) -> Result<Box<RawValue>, RpcError> {
        let p = Params::new(params, 2)?;
        let kind: String = p.req(0)?;
        let topic = match kind.as_str() {
            "newHeads" => Topic::NewHeads,
            "logs" => {
                let filter = match p.opt::<Value>(1)? {
                    Some(v) => parse_filter(&v)?,
                    None => Default::default(),
                };
                Topic::Logs(Box::new(Matcher::new(&filter)))
            }
            other => {
                return Err(RpcError::invalid_params(format!(
                    "invalid argument 0: no {other:?} subscription (histd has \"newHeads\" and \"logs\")"
                )));
            }
        };
        if self.subs.len() >= MAX_SUBSCRIPTIONS {
            return Err(RpcError::server(format!(
                "too many subscriptions on this connection (at most {MAX_SUBSCRIPTIONS})"
            )));
        }
        let id = self.ids.next();
        let task = tokio::spawn(forward(
            id.clone(),
            topic,
            self.shared.feed.subscribe(),
            self.out.clone(),
            self.close.clone(),
        ));
        self.subs.insert(id.clone(), task);
        serde_json::value::to_raw_value(&id).map_err(|e| RpcError::server(e.to_string()))
    }

    fn unsubscribe(&mut self, params: &[Value]) -> Result<Box<RawValue>, RpcError> {
        let p = Params::new(params, 1)?;
        let id: String = p.req(0)?;
        let found = match self.subs.remove(&id) {
            Some(task) => {
                task.abort();
                true
            }
            None => false,
        };
        serde_json::value::to_raw_value(&found).map_err(|e| RpcError::server(e.to_string()))
    }
}

/// Sends one subscription's notifications until the connection closes.
async fn forward(
    id: String,
    topic: Topic,
    mut feed: broadcast::Receiver<ChainEvent>,
    out: mpsc::Sender<String>,
    close: CancellationToken,
) {
    loop {
        let ev = tokio::select! {
            _ = close.cancelled() => return,
            ev = feed.recv() => ev,
        };
        let ev = match ev {
            Ok(ev) => ev,
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::info!(subscription = %id, missed, "subscriber too slow; closing its connection");
                close.cancel();
                return;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let messages: Vec<String> = match (&topic, &ev) {
            (Topic::NewHeads, ChainEvent::Added(b)) => {
                vec![notification(&id, &rpc_header(b.header(), b.hash(), None))]
            }
            (Topic::NewHeads, ChainEvent::Removed(_)) => Vec::new(),
            (Topic::Logs(m), ChainEvent::Added(b) | ChainEvent::Removed(b)) => {
                let removed = matches!(ev, ChainEvent::Removed(_));
                m.block_logs(&stored_view(b), removed)
                    .iter()
                    .map(|l| notification(&id, l))
                    .collect()
            }
        };
        for m in messages {
            if out.try_send(m).is_err() {
                // Full (too slow) or gone: either way this connection cannot follow the chain.
                close.cancel();
                return;
            }
        }
    }
}
