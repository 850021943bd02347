//! Malformed input and limits over real sockets: each bad request gets its JSON-RPC error code
//! (or 413 for an oversized body), batches answer per element, notifications get nothing,
//! half-sent requests do not stop others, filters are capped, CORS answers allowed origins only,
//! slow-loris clients are closed after the header timeout, a stalled or dribbled body after the
//! request time, connections over the cap are closed.
//! A batch stops collecting answers past its response budget (-32003, as geth). Over WebSocket:
//! bad messages get errors, subscriptions are capped, an oversized message closes the socket.
//! Floods of all of it against the real `histd serve` keep its peak memory bounded.

use std::time::Duration;

use alloy_primitives::B256;
use histd::rpc::{INVALID_PARAMS, INVALID_REQUEST, PARSE_ERROR, RESPONSE_TOO_LARGE, TIMEOUT};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::{call, error, post_raw, result, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_the_right_codes() {
    let h = start(|s| {
        s.max_batch = 5;
        s.max_body_bytes = 64 * 1024;
        s.max_filters = 20;
    })
    .await;
    let a = h.addr;
    let code_of = |v: &Value| v["error"]["code"].as_i64().unwrap();
    for (body, code) in [
        (&b"{not json"[..], PARSE_ERROR),
        (b"", PARSE_ERROR),
        (b"[]", INVALID_REQUEST),
        (b"1", INVALID_REQUEST),
        (b"\"eth_chainId\"", INVALID_REQUEST),
        (br#"{"jsonrpc":"2.0","id":1}"#, INVALID_REQUEST),
        (br#"{"jsonrpc":"2.0","id":1,"method":7}"#, INVALID_REQUEST),
        (
            br#"{"jsonrpc":"1.0","id":1,"method":"eth_chainId"}"#,
            INVALID_REQUEST,
        ),
        (
            br#"{"jsonrpc":"2.0","id":{},"method":"eth_chainId"}"#,
            INVALID_REQUEST,
        ),
        (
            br#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":{"a":1}}"#,
            INVALID_PARAMS,
        ),
    ] {
        let ans = post_raw(a, body, "").await;
        assert_eq!(ans.status, 200, "{:?}", String::from_utf8_lossy(body));
        let v = ans.json();
        assert_eq!(
            code_of(&v),
            code,
            "{:?} -> {v}",
            String::from_utf8_lossy(body)
        );
        assert_eq!(v["jsonrpc"], "2.0");
    }
    // Parameters: geth's words, naming the argument.
    let cases = [
        (
            "eth_getBlockByNumber",
            json!(["0x1", "yes"]),
            "invalid argument 1",
        ),
        (
            "eth_getBlockByNumber",
            json!(["newest", false]),
            "invalid argument 0",
        ),
        (
            "eth_getBlockByNumber",
            json!(["latest"]),
            "missing value for required argument 1",
        ),
        (
            "eth_blockNumber",
            json!([1]),
            "too many arguments, want at most 0",
        ),
        (
            "eth_getBlockByHash",
            json!(["0x1234", false]),
            "invalid argument 0",
        ),
        (
            "eth_getTransactionByHash",
            json!([]),
            "missing value for required argument 0",
        ),
        (
            "eth_getTransactionByBlockNumberAndIndex",
            json!(["latest", "x"]),
            "invalid argument 1",
        ),
        (
            "eth_subscribe",
            json!(["newHeads"]),
            "notifications not supported",
        ),
    ];
    for (m, p, start_of) in cases {
        let e = error(a, m, p.clone()).await;
        assert!(
            e["message"].as_str().unwrap().starts_with(start_of),
            "{m} {p}: {e}"
        );
    }
    // A batch answers each element; a notification (no id) gets no answer.
    let batch = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"},
        {"jsonrpc": "2.0", "id": 2},
        {"jsonrpc": "2.0", "method": "eth_chainId"},
        {"jsonrpc": "2.0", "id": "x", "method": "eth_blockNumber", "params": []},
    ]);
    let v = post_raw(a, batch.to_string().as_bytes(), "").await.json();
    let answers = v.as_array().unwrap();
    assert_eq!(answers.len(), 3, "{v}");
    assert_eq!(answers[0]["result"], "0x1");
    assert_eq!(code_of(&answers[1]), INVALID_REQUEST);
    assert_eq!(answers[2]["id"], "x");
    // Over the batch limit: one error for the whole batch.
    let big: Vec<Value> = (0..6)
        .map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "eth_chainId"}))
        .collect();
    let v = post_raw(a, json!(big).to_string().as_bytes(), "")
        .await
        .json();
    assert_eq!(code_of(&v), INVALID_REQUEST, "{v}");
    // Only notifications: an empty answer.
    let note = json!({"jsonrpc": "2.0", "method": "eth_chainId"});
    let ans = post_raw(a, note.to_string().as_bytes(), "").await;
    assert_eq!((ans.status, ans.body.as_str()), (200, ""));
    // Oversized body: 413, and the server still answers afterwards.
    let huge = vec![b' '; 200 * 1024];
    assert_eq!(post_raw(a, &huge, "").await.status, 413);
    // Half-sent requests (slow loris) do not hold up anyone else.
    let mut idle = Vec::new();
    for _ in 0..50 {
        let mut s = TcpStream::connect(a).await.unwrap();
        s.write_all(b"POST / HTTP/1.1\r\nContent-Length: 100\r\n")
            .await
            .unwrap();
        idle.push(s);
    }
    assert_eq!(result(a, "eth_chainId", json!([])).await, "0x1");
    drop(idle);
    // Thousands of filters: capped.
    let mut refused = 0;
    for _ in 0..25 {
        let r = call(a, "eth_newBlockFilter", json!([])).await;
        if r.get("error").is_some() {
            refused += 1;
            assert!(
                r["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("too many filters")
            );
        }
    }
    assert_eq!(refused, 5);
    h.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_per_request_is_bounded() {
    let h = start(|s| s.request_timeout = Duration::ZERO).await;
    let e = error(h.addr, "eth_getBlockByNumber", json!(["latest", true])).await;
    assert_eq!(e["code"], TIMEOUT);
    assert_eq!(e["message"], "request timed out");
    h.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_answers_allowed_origins_only() {
    let h = start(|s| s.cors_origins = vec!["https://app.example".into()]).await;
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}).to_string();
    let ok = post_raw(h.addr, body.as_bytes(), "Origin: https://app.example\r\n").await;
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    let other = post_raw(h.addr, body.as_bytes(), "Origin: https://evil.example\r\n").await;
    assert_eq!(other.header("access-control-allow-origin"), None);
    // Preflight.
    let mut s = TcpStream::connect(h.addr).await.unwrap();
    s.write_all(
        b"OPTIONS / HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\nAccess-Control-Request-Method: POST\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let pre = super::read_answer(&mut s).await;
    assert_eq!(pre.status, 204);
    assert!(
        pre.header("access-control-allow-methods")
            .unwrap()
            .contains("POST")
    );
    h.server.stop().await;
}

/// Reads until the server closes `s`, or `within` passes; whether it closed.
async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // A 408 or similar before the close is fine.
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_loris_connections_are_closed() {
    let h = start(|s| s.header_timeout = Duration::from_millis(500)).await;
    // Headers dribbled a byte at a time, never finished.
    let mut slow = TcpStream::connect(h.addr).await.unwrap();
    let dribble = tokio::spawn({
        let mut w = TcpStream::connect(h.addr).await.unwrap();
        async move {
            for b in b"POST / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaa" {
                if w.write_all(&[*b]).await.is_err() {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            closed_within(&mut w, Duration::from_secs(5)).await
        }
    });
    slow.write_all(b"POST / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    assert!(closed_within(&mut slow, Duration::from_secs(5)).await);
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(dribble.await.unwrap(), "a dribbling client was held");
    // A connection that never sends a byte is closed too (it would otherwise hold a slot).
    let mut silent = TcpStream::connect(h.addr).await.unwrap();
    assert!(
        closed_within(&mut silent, Duration::from_secs(3)).await,
        "a silent client was held"
    );
    // Ordinary requests are unaffected.
    assert_eq!(result(h.addr, "eth_chainId", json!([])).await, "0x1");
    h.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_or_dribbled_body_is_closed() {
    let h = start(|s| {
        s.header_timeout = Duration::from_millis(300);
        s.request_timeout = Duration::from_millis(500);
        // Room for every client below (none is closed for being over the cap).
        s.max_connections = 6;
    })
    .await;
    // Headers complete, then 10 of the 100 announced body bytes, then nothing.
    let mut stalled = Vec::new();
    for _ in 0..4 {
        let mut s = TcpStream::connect(h.addr).await.unwrap();
        s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"jsonrpc\"")
            .await
            .unwrap();
        stalled.push(s);
    }
    // A body dribbled a byte at a time, each within the header timeout, never finished in time.
    let dribble = tokio::spawn({
        let mut w = TcpStream::connect(h.addr).await.unwrap();
        async move {
            if w.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
                .await
                .is_err()
            {
                return true;
            }
            for _ in 0..100 {
                if w.write_all(b" ").await.is_err() {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            false
        }
    });
    let started = std::time::Instant::now();
    for s in &mut stalled {
        let mut answer = Vec::new();
        use tokio::io::AsyncReadExt;
        let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut answer)).await;
        assert!(read.is_ok(), "a stalled body held its connection");
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    }
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(dribble.await.unwrap(), "a dribbled body was held");
    // The slots are free again: ordinary requests are answered.
    assert_eq!(result(h.addr, "eth_chainId", json!([])).await, "0x1");
    h.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_connections_beyond_the_cap_are_closed() {
    let h = start(|s| {
        s.max_connections = 2;
        s.header_timeout = Duration::from_secs(30);
    })
    .await;
    // Two idle connections hold the cap (each has started a request, so the server owns them).
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(h.addr).await.unwrap();
        s.write_all(b"POST / HTTP/1.1\r\n").await.unwrap();
        held.push(s);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut third = TcpStream::connect(h.addr).await.unwrap();
    assert!(
        closed_within(&mut third, Duration::from_secs(2)).await,
        "a connection over the cap was kept"
    );
    // Freed slots serve again.
    drop(held);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []});
        let a = post_raw(h.addr, body.to_string().as_bytes(), "").await;
        if a.status == 200 {
            assert_eq!(a.json()["result"], "0x1");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no slot freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    h.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_stops_collecting_answers_past_its_response_budget() {
    // geth's rule (`--rpc.batch-response-max-size`): the call that passes the budget keeps its
    // answer, every later call answers -32003 "response too large".
    let h = start(|s| s.max_batch_response_bytes = 200_000).await;
    let top = h.blocks.last().unwrap().number().get();
    let batch: Vec<Value> = (0..50)
        .map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "eth_getBlockByNumber", "params": [super::hex_n(top), true]}))
        .collect();
    let ans = post_raw(h.addr, json!(batch).to_string().as_bytes(), "").await;
    let v = ans.json();
    let answers = v.as_array().unwrap();
    assert_eq!(answers.len(), 50, "every call answered");
    let full = answers
        .iter()
        .take_while(|a| a.get("result").is_some())
        .count();
    let one = answers[0]["result"].to_string().len();
    assert!(
        one > 0 && full == 200_000 / one + 1,
        "{full} answers of {one} bytes"
    );
    for (i, a) in answers.iter().enumerate().skip(full) {
        assert_eq!(a["id"], i, "{a}");
        assert_eq!(a["error"]["code"], RESPONSE_TOO_LARGE, "{a}");
        assert_eq!(a["error"]["message"], "response too large", "{a}");
    }
    assert!(
        ans.body.len() < 200_000 + one + 50 * 200,
        "{} bytes",
        ans.body.len()
    );
    // The same over a WebSocket.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", h.addr))
        .await
        .unwrap();
    use futures::{SinkExt, StreamExt};
    ws.send(tokio_tungstenite::tungstenite::Message::Text(
        json!(batch).to_string().into(),
    ))
    .await
    .unwrap();
    let m = ws.next().await.unwrap().unwrap();
    let v: Value = serde_json::from_str(m.to_text().unwrap()).unwrap();
    let answers = v.as_array().unwrap();
    assert_eq!(answers.len(), 50);
    assert_eq!(
        answers.iter().filter(|a| a.get("result").is_some()).count(),
        full
    );
    assert_eq!(answers[49]["error"]["code"], RESPONSE_TOO_LARGE);
    h.server.stop().await;
}

/// A field of `/proc/PID/status` in kB (`VmRSS`, `VmHWM`).
fn status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floods_of_malformed_and_oversized_input_keep_memory_bounded() {
    // The real `histd serve` with its default limits, so its own peak RSS is what is measured.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let (_, blocks) = tokio::task::spawn_blocking(move || super::mainnet_store(&path))
        .await
        .unwrap();
    let (child, a) = super::serve::spawn_serve(dir.path()).await;
    let pid = child.id();
    let code_of = |v: &Value| v["error"]["code"].as_i64().unwrap();
    // Warm up: every block once, full (senders recovered and cached), then the baseline.
    for b in &blocks {
        result(
            a,
            "eth_getBlockByNumber",
            json!([super::hex_n(b.number().get()), true]),
        )
        .await;
    }
    let base = status_kb(pid, "VmRSS");

    // 1,000 full blocks in one 90 KB body: answered up to the response budget (25 MB).
    let top = super::hex_n(blocks.last().unwrap().number().get());
    let batch: Vec<Value> = (0..1000)
        .map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "eth_getBlockByNumber", "params": [top, true]}))
        .collect();
    let body = json!(batch).to_string();
    assert!(body.len() < 100_000);
    let v = post_raw(a, body.as_bytes(), "").await.json();
    let answers = v.as_array().unwrap();
    assert_eq!(answers.len(), 1000);
    assert_eq!(code_of(&answers[999]), RESPONSE_TOO_LARGE);
    // One call over the batch limit: one error.
    let over: Vec<Value> = (0..1001)
        .map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "eth_chainId"}))
        .collect();
    let v = post_raw(a, json!(over).to_string().as_bytes(), "")
        .await
        .json();
    assert_eq!(code_of(&v), INVALID_REQUEST, "{v}");
    // Thousands of filters: 10,000 installed (the default cap) in batches, the rest refused.
    let filter = json!({"address": [blocks[0].receipts()[0].logs[0].address], "topics": [null, [B256::ZERO, B256::repeat_byte(1)]]});
    let mut installed = 0;
    let mut refused = 0;
    for _ in 0..11 {
        let batch: Vec<Value> = (0..1000)
            .map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "eth_newFilter", "params": [filter]}))
            .collect();
        let v = post_raw(a, json!(batch).to_string().as_bytes(), "")
            .await
            .json();
        for answer in v.as_array().unwrap() {
            if answer.get("result").is_some() {
                installed += 1;
            } else {
                assert!(
                    answer["error"]["message"]
                        .as_str()
                        .unwrap()
                        .contains("too many filters")
                );
                refused += 1;
            }
        }
    }
    assert_eq!((installed, refused), (10_000, 1_000));
    // Oversized bodies (50 MB, ten times the limit): 413, never read whole.
    let huge = vec![b'['; 50 * 1024 * 1024];
    for _ in 0..3 {
        assert_eq!(post_raw(a, &huge, "").await.status, 413);
    }
    // Bad JSON just under the limit: -32700.
    let garbage = vec![b'{'; 5 * 1024 * 1024 - 1];
    assert_eq!(
        code_of(&post_raw(a, &garbage, "").await.json()),
        PARSE_ERROR
    );
    // Deeply nested JSON: an error, not a stack overflow.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let v = post_raw(a, deep.as_bytes(), "").await.json();
    assert!(v.get("error").is_some() || v.is_array(), "{v}");

    let peak = status_kb(pid, "VmHWM");
    let grown_mb = peak.saturating_sub(base) / 1024;
    println!(
        "histd serve: RSS {} MB after warm-up, peak {} MB",
        base / 1024,
        peak / 1024
    );
    // Each batch answer is held at most once (about 25 MB, plus its JSON text); 10,000 filters
    // take a few MB. Without the response budget that batch held ~130 MB of answers, then its text.
    assert!(grown_mb < 150, "peak RSS grew by {grown_mb} MB");
    assert_eq!(result(a, "eth_chainId", json!([])).await, "0x1");
    super::serve::stop_serve(child).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_malformed_input_gets_errors_or_a_closed_socket() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    // Room for a batch of 1,000 subscriptions (90 KB), not for the 300 KB message below.
    let h = start(|s| s.max_body_bytes = 256 * 1024).await;
    let url = format!("ws://{}/", h.addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let mut ask = async |text: String| -> Value {
        ws.send(Message::Text(text.into())).await.unwrap();
        super::feed::next_json(&mut ws).await
    };
    let code = |v: &Value| v["error"]["code"].as_i64().unwrap();
    assert_eq!(code(&ask("{not json".into()).await), PARSE_ERROR);
    assert_eq!(code(&ask("[]".into()).await), INVALID_REQUEST);
    let sub = |params: Value| {
        json!({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": params}).to_string()
    };
    for params in [
        json!(["newPendingTransactions"]),
        json!([7]),
        json!(["logs", {"topics": [null, null, null, null, null]}]),
        json!(["logs", {"address": "0x12"}]),
        json!([]),
    ] {
        let v = ask(sub(params.clone())).await;
        assert_eq!(code(&v), INVALID_PARAMS, "{params}: {v}");
    }
    let v = ask(json!({"jsonrpc": "2.0", "id": 2, "method": "eth_getLogs", "params": [{"fromBlock": "newest"}]}).to_string()).await;
    assert_eq!(code(&v), INVALID_PARAMS, "{v}");
    let v = ask(
        json!({"jsonrpc": "2.0", "id": 3, "method": "eth_unsubscribe", "params": ["0x1234"]})
            .to_string(),
    )
    .await;
    assert_eq!(v["result"], false, "{v}");
    // Thousands of subscriptions on one socket: capped (a full batch of them, then one more).
    let many: Vec<Value> = (0..1000)
        .map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "eth_subscribe", "params": ["newHeads"]}))
        .collect();
    let v = ask(json!(many).to_string()).await;
    let answers = v.as_array().unwrap();
    assert_eq!(answers.len(), 1000);
    assert!(answers.iter().all(|a| a.get("result").is_some()));
    let v = ask(sub(json!(["newHeads"]))).await;
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("too many subscriptions"),
        "{v}"
    );
    // A message over max_body_bytes: the socket is closed.
    ws.send(Message::Text(" ".repeat(300 * 1024).into()))
        .await
        .unwrap_or_default();
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return true,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert_eq!(
        closed,
        Ok(true),
        "an oversized message left the socket open"
    );
    // The server serves on.
    let (mut again, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    again
        .send(Message::Text(
            json!({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    let m = again.next().await.unwrap().unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(m.to_text().unwrap()).unwrap()["result"],
        "0x1"
    );
    h.server.stop().await;
}

/// Out-of-range and ill-formed quantities (leading zero digits too), `null` and object params,
/// deep nesting: each gets a JSON-RPC error (geth's codes and words), never a panic; a number
/// past the head is `null`, as in geth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_quantities_and_params_get_errors() {
    let h = start(|_| {}).await;
    let a = h.addr;
    for (m, p) in [
        ("eth_getBlockByNumber", json!(["0x", false])),
        (
            "eth_getBlockByNumber",
            json!(["0x10000000000000000", false]),
        ),
        ("eth_getBlockByNumber", json!(["-0x1", false])),
        ("eth_getBlockByNumber", json!([-1, false])),
        ("eth_getBlockByNumber", json!([null, false])),
        ("eth_getBlockByNumber", json!(["0x1", null])),
        ("eth_getBlockByNumber", json!({"a": 1})),
        ("eth_getBlockByNumber", Value::Null),
        (
            "eth_getTransactionByBlockNumberAndIndex",
            json!(["latest", "0x10000000000000000"]),
        ),
        (
            "eth_getLogs",
            json!([{"fromBlock": "0x0", "toBlock": "0xffffffffffffffff"}]),
        ),
        (
            "eth_getLogs",
            json!([{"fromBlock": "0xffffffffffffffff", "toBlock": "latest"}]),
        ),
        (
            "eth_getLogs",
            json!([{"fromBlock": "0x0", "toBlock": "0x0", "topics": [null, null, null, null, null]}]),
        ),
        ("eth_getLogs", json!([{"blockHash": "0x00"}])),
        ("eth_getLogs", json!([null])),
        ("eth_uninstallFilter", json!([7])),
    ] {
        assert_eq!(
            error(a, m, p.clone()).await["code"],
            INVALID_PARAMS,
            "{m} {p}"
        );
    }
    // Leading zero digits: refused as geth's hexutil refuses them, naming the argument.
    for (m, p, arg) in [
        ("eth_getBlockByNumber", json!(["0x01", false]), 0),
        ("eth_getBlockTransactionCountByNumber", json!(["0x00"]), 0),
        (
            "eth_getTransactionByBlockNumberAndIndex",
            json!(["latest", "0x00"]),
            1,
        ),
        (
            "eth_getBlockReceipts",
            json!([{"blockNumber": "0X0001"}]),
            0,
        ),
        (
            "eth_getLogs",
            json!([{"fromBlock": "0x01", "toBlock": "latest"}]),
            0,
        ),
    ] {
        let e = error(a, m, p.clone()).await;
        assert_eq!(e["code"], INVALID_PARAMS, "{m} {p}");
        assert_eq!(
            e["message"],
            format!("invalid argument {arg}: hex number with leading zero digits"),
            "{m} {p}"
        );
    }
    // A lone zero is a number, not a leading zero.
    let top = h.blocks.last().unwrap().number().get();
    let v = call(
        a,
        "eth_getTransactionByBlockNumberAndIndex",
        json!([super::hex_n(top), "0x0"]),
    )
    .await;
    assert!(v["result"].is_object(), "{v}");
    for (m, p) in [
        ("eth_getBlockByNumber", json!(["0xffffffffffffffff", false])),
        (
            "eth_getTransactionByBlockNumberAndIndex",
            json!(["latest", "0xffffffffffffffff"]),
        ),
        (
            "eth_getBlockReceipts",
            json!([{"blockNumber": "0xffffffffffffffff"}]),
        ),
    ] {
        assert_eq!(result(a, m, p.clone()).await, Value::Null, "{m} {p}");
    }
    // Nesting far past serde_json's recursion limit: a parse error, not a stack overflow.
    for body in [
        "[".repeat(100_000),
        format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"eth_getLogs","params":[{}]}}"#,
            "[".repeat(3000)
        ),
    ] {
        let v = post_raw(a, body.as_bytes(), "").await.json();
        assert_eq!(v["error"]["code"], PARSE_ERROR, "{v}");
    }
    h.server.stop().await;
}

/// Settings past what the config allows (a timeout past the clock's range, permits past a
/// semaphore's) still serve: the server clamps them rather than panicking at start or per request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_past_the_config_ceilings_still_serve() {
    let h = start(|s| {
        s.request_timeout = Duration::MAX;
        s.max_concurrent = usize::MAX;
        s.max_connections = usize::MAX;
    })
    .await;
    assert_eq!(result(h.addr, "eth_chainId", json!([])).await, "0x1");
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", h.addr))
        .await
        .unwrap();
    let v = super::feed::ws_call(&mut ws, 1, "eth_chainId", json!([])).await;
    assert_eq!(v["result"], "0x1", "{v}");
    h.server.stop().await;
}
