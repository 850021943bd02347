//! Filters and WebSocket subscriptions fed by chain events: a block added reaches `newHeads`,
//! `logs` subscribers and installed filters; a block removed by a rollback sends its logs again
//! with `removed: true`. Calls work over the WebSocket too.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use histd::rpc::ChainEvent;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use super::{hex_n, qty, result, start};

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next text message as JSON (within 10 s).
pub async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message within 10 s")
            .expect("socket open")
            .expect("no socket error");
        if let Message::Text(t) = m {
            return serde_json::from_str(t.as_str()).unwrap();
        }
    }
}

pub async fn ws_call(ws: &mut Ws, id: u64, method: &str, params: Value) -> Value {
    let req = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    ws.send(Message::Text(req.to_string().into()))
        .await
        .unwrap();
    let v = next_json(ws).await;
    assert_eq!(v["id"], id, "{v}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_and_filters_follow_added_and_removed_blocks() {
    let h = start(|_| {}).await;
    let a = h.addr;
    let block = h.blocks.last().unwrap().clone();
    let logs: Vec<_> = block
        .receipts()
        .iter()
        .flat_map(|r| r.logs.clone())
        .collect();
    let address = logs[0].address;
    let matching = logs.iter().filter(|l| l.address == address).count();

    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{a}/"))
        .await
        .unwrap();
    assert_eq!(
        ws_call(&mut ws, 1, "eth_chainId", json!([])).await["result"],
        "0x1"
    );
    let heads = ws_call(&mut ws, 2, "eth_subscribe", json!(["newHeads"])).await["result"].clone();
    let logs_sub = ws_call(
        &mut ws,
        3,
        "eth_subscribe",
        json!(["logs", {"address": address}]),
    )
    .await["result"]
        .clone();
    let bad = ws_call(
        &mut ws,
        4,
        "eth_subscribe",
        json!(["newPendingTransactions"]),
    )
    .await;
    assert_eq!(bad["error"]["code"], -32602, "{bad}");
    let log_filter = result(a, "eth_newFilter", json!([{"address": address}])).await;
    let block_filter = result(a, "eth_newBlockFilter", json!([])).await;
    assert_eq!(
        result(a, "eth_getFilterChanges", json!([block_filter])).await,
        json!([])
    );

    h.server.publish(ChainEvent::Added(Arc::new(block.clone())));
    let mut got_head = false;
    let mut got_logs = 0;
    while !got_head || got_logs < matching {
        let v = next_json(&mut ws).await;
        assert_eq!(v["method"], "eth_subscription");
        let p = &v["params"];
        if p["subscription"] == heads {
            assert_eq!(p["result"]["hash"], json!(block.hash()));
            assert_eq!(qty(&p["result"]["number"]), block.number().get());
            got_head = true;
        } else {
            assert_eq!(p["subscription"], logs_sub);
            assert_eq!(p["result"]["removed"], false);
            assert_eq!(p["result"]["address"], json!(address));
            got_logs += 1;
        }
    }
    // Filters collected the same block (the feed reaches them on their own task).
    let mut hashes = json!([]);
    for _ in 0..100 {
        hashes = result(a, "eth_getFilterChanges", json!([block_filter])).await;
        if hashes != json!([]) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(hashes, json!([block.hash()]));
    let changes = result(a, "eth_getFilterChanges", json!([log_filter])).await;
    assert_eq!(changes.as_array().unwrap().len(), matching);
    assert_eq!(
        result(a, "eth_getFilterChanges", json!([log_filter])).await,
        json!([]),
        "a poll empties the filter"
    );

    // A rollback: the same logs again, removed.
    h.server
        .publish(ChainEvent::Removed(Arc::new(block.clone())));
    for _ in 0..matching {
        let v = next_json(&mut ws).await;
        assert_eq!(v["params"]["subscription"], logs_sub);
        assert_eq!(v["params"]["result"]["removed"], true);
        assert_eq!(
            v["params"]["result"]["blockNumber"],
            json!(hex_n(block.number().get()))
        );
    }
    let mut removed = json!([]);
    for _ in 0..100 {
        removed = result(a, "eth_getFilterChanges", json!([log_filter])).await;
        if removed != json!([]) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let removed = removed.as_array().unwrap().clone();
    assert_eq!(removed.len(), matching);
    assert!(removed.iter().all(|l| l["removed"] == true));

    // eth_getFilterLogs runs the filter's criteria (latest: the head block).
    let all = result(a, "eth_getFilterLogs", json!([log_filter])).await;
    assert_eq!(all.as_array().unwrap().len(), matching);

    assert_eq!(
        ws_call(&mut ws, 5, "eth_unsubscribe", json!([heads])).await["result"],
        true
    );
    assert_eq!(
        ws_call(&mut ws, 6, "eth_unsubscribe", json!([heads])).await["result"],
        false
    );
    assert_eq!(
        result(a, "eth_uninstallFilter", json!([log_filter])).await,
        true
    );
    assert_eq!(
        result(a, "eth_uninstallFilter", json!([log_filter])).await,
        false
    );
    let gone = super::error(a, "eth_getFilterChanges", json!([log_filter])).await;
    assert_eq!(gone["message"], "filter not found");
    h.server.stop().await;
}
