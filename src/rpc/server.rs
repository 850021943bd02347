//! The HTTP side of the server and its lifecycle: one axum router on `rpc.bind` taking JSON-RPC
//! over POST and upgrading GET to WebSocket (`ws.rs`), with the limits (body size, batch length,
//! requests at once, time per request, WebSocket connections) and CORS. Owns [`Server::start`] and
//! the [`ServerHandle`] the caller keeps to publish chain events and to stop the server.
//!
//! Bad input never panics or hangs a connection: every body gets a JSON-RPC answer, a 413 (too
//! large) or a 503 (too many WebSocket connections); connections over `max_connections` are
//! closed as they are accepted, and one that does not send its headers within `header_timeout`
//! is closed (slow loris), as is one whose body does not arrive within the request time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde_json::Value;
use tokio::sync::{Semaphore, broadcast, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::chain::Chain;
use super::envelope::{self, Answer, BatchAnswers, Call, Incoming, RpcError, TIMEOUT};
use super::filters::Filters;
use super::methods::{self, Ctx};
use super::settings::{ChainEvent, Head, RpcSettings};
use super::ws;
use crate::storage::StoreHandle;

/// Chain events buffered for slow subscribers before they lag (and are disconnected).
const FEED_CAPACITY: usize = 1024;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address could not be bound.
    #[error("cannot bind the JSON-RPC address {addr} (rpc.bind): {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// State shared by every connection.
#[derive(Debug)]
pub(super) struct Shared {
    pub ctx: Ctx,
    /// Requests worked on at once.
    pub permits: Semaphore,
    /// WebSocket connections open at once.
    pub ws_permits: Arc<Semaphore>,
    pub feed: broadcast::Sender<ChainEvent>,
    pub shutdown: CancellationToken,
}

/// The JSON-RPC server.
pub struct Server;

/// What the starter keeps: the bound address, the chain-event feed, and the way to stop.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    feed: broadcast::Sender<ChainEvent>,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Server {
    /// Binds `settings.bind` and serves the history in `store`, answering tags against `head`
    /// (the follow worker moves it; `histd serve` fixes it at the stored tip). Returns once the
    /// socket is bound. The server only reads the store.
    pub async fn start(
        settings: RpcSettings,
        store: StoreHandle,
        chain_id: u64,
        head: watch::Receiver<Head>,
    ) -> Result<ServerHandle, ServeError> {
        let listener = tokio::net::TcpListener::bind(settings.bind)
            .await
            .map_err(|source| ServeError::Bind {
                addr: settings.bind,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| ServeError::Bind {
            addr: settings.bind,
            source,
        })?;
        let (feed, _) = broadcast::channel(FEED_CAPACITY);
        let shutdown = CancellationToken::new();
        let filters = Arc::new(Filters::new(settings.max_filters, settings.filter_ttl));
        let shared = Arc::new(Shared {
            permits: Semaphore::new(permits(settings.max_concurrent.max(1))),
            ws_permits: Arc::new(Semaphore::new(permits(settings.max_connections))),
            feed: feed.clone(),
            shutdown: shutdown.clone(),
            ctx: Ctx {
                chain: Chain::new(store, head),
                chain_id,
                filters: filters.clone(),
                settings,
            },
        });
        let feeder = tokio::spawn(feed_filters(filters, feed.subscribe(), shutdown.clone()));
        let limits = ConnLimits {
            open: Arc::new(Semaphore::new(permits(
                shared.ctx.settings.max_connections.max(1),
            ))),
            header_timeout: shared.ctx.settings.header_timeout,
        };
        let app = router(shared);
        let server = tokio::spawn(accept_loop(listener, app, limits, shutdown.clone()));
        tracing::info!(%addr, "JSON-RPC server listening (HTTP and WebSocket)");
        Ok(ServerHandle {
            addr,
            feed,
            shutdown,
            tasks: vec![server, feeder],
        })
    }
}

impl ServerHandle {
    /// The bound address (the real port when `bind` asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Publishes a chain change to filters and subscriptions (the follow worker calls this for
    /// every block it adds, and for every block a rollback removes, before moving the head).
    pub fn publish(&self, event: ChainEvent) {
        // No receiver (no filter task, no subscriber) is not an error: nobody is listening.
        let _ = self.feed.send(event);
    }

    /// A sender for chain events, for a worker that outlives this handle's borrow.
    pub fn feed(&self) -> broadcast::Sender<ChainEvent> {
        self.feed.clone()
    }

    /// Stops accepting, closes WebSocket connections, waits for in-flight HTTP requests.
    pub async fn stop(self) {
        self.shutdown.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// What every HTTP connection is held to.
struct ConnLimits {
    /// Connections open at once (`max_connections`).
    open: Arc<Semaphore>,
    /// Time to send a request's headers.
    header_timeout: Duration,
}

/// Accepts connections until shutdown, then waits for the open ones to finish their request.
/// A connection over the cap is closed as it is accepted (the client sees the connection end and
/// may retry), so idle or slow clients can never hold more than `max_connections` sockets; a
/// request's headers must arrive within `header_timeout` (hyper's header read timer), so a slow
/// loris client is closed rather than held. An upgraded (WebSocket) connection leaves this count
/// and is held to the WebSocket cap instead.
async fn accept_loop(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: ConnLimits,
    shutdown: CancellationToken,
) {
    let conns = TaskTracker::new();
    loop {
        let stream = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "JSON-RPC accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = limits.open.clone().try_acquire_owned() else {
            tracing::debug!("JSON-RPC connection cap reached; closing a new connection");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let stop = shutdown.clone();
        let header_timeout = limits.header_timeout;
        conns.spawn(async move {
            let _permit = permit;
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            let conn = builder
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::trace!(error = %e, "JSON-RPC connection ended");
                    }
                }
                _ = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    conns.close();
    conns.wait().await;
}

async fn feed_filters(
    filters: Arc<Filters>,
    mut rx: broadcast::Receiver<ChainEvent>,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            ev = rx.recv() => match ev {
                Ok(ev) => filters.on_event(&ev),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "filters fell behind the chain feed");
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}

fn router(shared: Arc<Shared>) -> Router {
    let limit = shared.ctx.settings.max_body_bytes;
    Router::new()
        .route("/", post(http).get(upgrade).options(preflight))
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(shared.clone(), cors))
        .with_state(shared)
}

/// Answers one POST. The body must arrive within the longer of `header_timeout` and
/// `request_timeout` (geth's read timeout is 30 s; hyper's header timer stops once the headers
/// end): a client that sends its headers and then stalls mid-body, or dribbles it, gets a 408
/// and the connection closes, rather than holding a connection slot and a task for ever. The
/// request's own time starts once the body is in, as before.
async fn http(State(s): State<Arc<Shared>>, req: Request) -> Response {
    let limit = s
        .ctx
        .settings
        .header_timeout
        .max(s.ctx.settings.request_timeout);
    let read = Bytes::from_request(req, &s);
    let body = match tokio::time::timeout(limit, read).await {
        Ok(Ok(body)) => body,
        // Over the body limit (413) or a broken body: the extractor's own answer.
        Ok(Err(rejection)) => return rejection.into_response(),
        Err(_) => return (StatusCode::REQUEST_TIMEOUT, "request body timed out").into_response(),
    };
    match handle(&s, &body).await {
        Some(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        // Only notifications: nothing to answer.
        None => StatusCode::OK.into_response(),
    }
}

async fn upgrade(State(s): State<Arc<Shared>>, ws: WebSocketUpgrade) -> Response {
    let Ok(permit) = s.ws_permits.clone().try_acquire_owned() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many WebSocket connections",
        )
            .into_response();
    };
    let max = s.ctx.settings.max_body_bytes;
    ws.max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| ws::serve(socket, s, permit))
}

async fn preflight() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// Adds CORS headers for allowed origins (none configured: no headers, so browsers refuse).
async fn cors(State(s): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let origin = req.headers().get(header::ORIGIN).cloned();
    let is_preflight = req.method() == Method::OPTIONS;
    let mut resp = next.run(req).await;
    if let Some(origin) = origin
        && let Some(allow) = allowed(&s.ctx.settings.cors_origins, &origin)
    {
        let h: &mut HeaderMap = resp.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
        h.insert(header::VARY, HeaderValue::from_static("origin"));
        if is_preflight {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("POST, GET, OPTIONS"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("content-type"),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
        }
    }
    resp
}

fn allowed(origins: &[String], origin: &HeaderValue) -> Option<HeaderValue> {
    if origins.iter().any(|o| o == "*") {
        return Some(HeaderValue::from_static("*"));
    }
    let o = origin.to_str().ok()?;
    origins
        .iter()
        .any(|a| a.eq_ignore_ascii_case(o))
        .then(|| origin.clone())
}

/// Answers one body (HTTP) or text message (WebSocket without subscriptions): the JSON text, or
/// `None` when every call was a notification.
pub(super) async fn handle(s: &Shared, body: &[u8]) -> Option<String> {
    let deadline = deadline_after(s.ctx.settings.request_timeout);
    let incoming = envelope::parse(body, s.ctx.settings.max_batch);
    let _permit = match tokio::time::timeout_at(deadline, s.permits.acquire()).await {
        Ok(Ok(p)) => Some(p),
        // Closed never happens (the semaphore lives as long as the server); time out instead.
        Ok(Err(_)) | Err(_) => None,
    };
    let busy = _permit.is_none();
    match incoming {
        Incoming::Invalid(a) => Some(to_json(&a)),
        Incoming::Single(call) => answer(s, call, deadline, busy).await.map(|a| to_json(&a)),
        Incoming::Batch(calls) => {
            let mut out = BatchAnswers::new(s.ctx.settings.max_batch_response_bytes);
            let mut calls = calls.into_iter();
            for call in calls.by_ref() {
                out.push(answer(s, call, deadline, busy).await);
                if out.is_full() {
                    break;
                }
            }
            out.finish(calls).map(|out| to_json(&out))
        }
    }
}

/// Runs one call within the request's deadline.
pub(super) async fn answer(
    s: &Shared,
    call: Result<Call, Answer>,
    deadline: Instant,
    busy: bool,
) -> Option<Answer> {
    let call = match call {
        Ok(c) => c,
        Err(a) => return Some(a),
    };
    let started = std::time::Instant::now();
    // A call whose deadline passed before it started (waiting for a permit, or behind earlier
    // calls of its batch) is not started: `timeout_at` polls the call once before it looks at
    // the clock, so a call that completes in that first poll would answer past its deadline.
    let result = if busy || Instant::now() >= deadline {
        Err(timed_out())
    } else {
        match tokio::time::timeout_at(deadline, methods::call(&s.ctx, &call.method, &call.params))
            .await
        {
            Ok(r) => r,
            Err(_) => Err(timed_out()),
        }
    };
    let method = methods::label(&call.method);
    ::metrics::counter!(crate::metrics::RPC_REQUESTS, "method" => method).increment(1);
    ::metrics::histogram!(crate::metrics::RPC_LATENCY, "method" => method)
        .record(started.elapsed().as_secs_f64());
    if let Err(e) = &result {
        ::metrics::counter!(crate::metrics::RPC_ERRORS, "method" => method, "code" => e.code.to_string())
            .increment(1);
    }
    let id = call.id?;
    Some(match result {
        Ok(v) => Answer::result(id, v),
        Err(e) => Answer::error(id, e),
    })
}

/// `n` permits, at most what a tokio semaphore holds (it panics past that; the config caps these
/// far lower, settings built by hand may not).
fn permits(n: usize) -> usize {
    n.min(Semaphore::MAX_PERMITS)
}

/// `timeout` from now; a timeout past the clock's range (settings built by hand: the config caps
/// it at a day) is a deadline a century away, not an overflow panic.
pub(super) fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 86_400))
}

fn timed_out() -> RpcError {
    RpcError::new(TIMEOUT, "request timed out")
}

pub(super) fn to_json(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).unwrap_or_else(|e| {
        // Our own answers always serialize; say so in JSON-RPC form if one ever does not.
        serde_json::to_string(&Answer::error(
            Value::Null,
            RpcError::server(format!("encoding the answer: {e}")),
        ))
        .unwrap_or_default()
    })
}
