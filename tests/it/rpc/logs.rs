//! `eth_getLogs` against a reference filter written here (address lists, positional topics with
//! `null` wildcards and OR-lists) over the real mainnet logs, geth's range errors, and the -32005
//! answer whose suggested range is the largest that fits.

use alloy_primitives::{Address, B256};
use histd::primitives::VerifiedBlock;
use histd::rpc::{INVALID_PARAMS, LIMIT_EXCEEDED, SERVER_ERROR};
use serde_json::{Value, json};

use super::{error, hex_n, qty, result, start};

/// Topic positions of a filter: `None` is a wildcard, `Some` an OR-list.
type Topics = Vec<Option<Vec<B256>>>;

/// (address, topics) of every log of `b`, with its block-wide index.
fn all_logs(b: &VerifiedBlock) -> Vec<(u64, Address, Vec<B256>)> {
    let mut out = Vec::new();
    let mut i = 0;
    for r in b.receipts() {
        for l in &r.logs {
            out.push((i, l.address, l.topics().to_vec()));
            i += 1;
        }
    }
    out
}

/// The reference: geth's matching rules, written out plainly.
fn reference(b: &VerifiedBlock, addresses: &[Address], topics: &[Option<Vec<B256>>]) -> Vec<u64> {
    all_logs(b)
        .into_iter()
        .filter(|(_, a, _)| addresses.is_empty() || addresses.contains(a))
        .filter(|(_, _, t)| {
            topics.iter().enumerate().all(|(pos, want)| match want {
                None => true,
                Some(set) if set.is_empty() => true,
                Some(set) => t.get(pos).is_some_and(|x| set.contains(x)),
            })
        })
        .map(|(i, _, _)| i)
        .collect()
}

fn indices(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|l| qty(&l["logIndex"]))
        .collect()
}

fn topics_json(topics: &[Option<Vec<B256>>]) -> Value {
    Value::Array(
        topics
            .iter()
            .map(|t| match t {
                None => Value::Null,
                Some(set) if set.len() == 1 => json!(set[0]),
                Some(set) => json!(set),
            })
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_match_the_reference_on_every_mainnet_block() {
    let h = start(|_| {}).await;
    let a = h.addr;
    let mut checked = 0;
    for b in &h.blocks {
        let logs = all_logs(b);
        if logs.is_empty() {
            continue;
        }
        let hash = b.hash();
        let n = b.number().get();
        // A few addresses and topics that occur, and one that never does.
        let a0 = logs[0].1;
        let a1 = logs[logs.len() / 2].1;
        let t0 = logs.iter().find_map(|l| l.2.first().copied()).unwrap();
        let t0b = logs
            .iter()
            .rev()
            .find_map(|l| l.2.first().copied())
            .unwrap();
        let t1 = logs.iter().find_map(|l| l.2.get(1).copied());
        let nobody = Address::repeat_byte(0xee);
        let mut cases: Vec<(Vec<Address>, Topics)> = vec![
            (vec![], vec![]),
            (vec![a0], vec![]),
            (vec![a0, a1], vec![]),
            (vec![nobody], vec![]),
            (vec![], vec![Some(vec![t0])]),
            (vec![], vec![Some(vec![t0, t0b])]),
            (vec![a0], vec![Some(vec![t0])]),
            (vec![], vec![Some(vec![])]),
            (vec![], vec![None, None, None, None]),
        ];
        if let Some(t1) = t1 {
            cases.push((vec![], vec![None, Some(vec![t1])]));
            cases.push((vec![a0, a1], vec![Some(vec![t0]), Some(vec![t1])]));
        }
        for (addresses, topics) in cases {
            let want = reference(b, &addresses, &topics);
            let address = if addresses.len() == 1 {
                json!(addresses[0])
            } else {
                json!(addresses)
            };
            let by_hash =
                json!([{ "blockHash": hash, "address": address, "topics": topics_json(&topics) }]);
            let got = result(a, "eth_getLogs", by_hash).await;
            assert_eq!(indices(&got), want, "block {n}: {addresses:?} {topics:?}");
            for l in got.as_array().unwrap() {
                assert_eq!(qty(&l["blockNumber"]), n);
                assert_eq!(l["removed"], false);
            }
            let by_range = json!([{ "fromBlock": hex_n(n), "toBlock": hex_n(n), "address": address, "topics": topics_json(&topics) }]);
            assert_eq!(result(a, "eth_getLogs", by_range).await, got);
            checked += 1;
        }
        // A `null` inside an OR-list makes that position a wildcard (geth).
        let with_null = json!([{ "blockHash": hash, "topics": [[t0, null]] }]);
        assert_eq!(
            indices(&result(a, "eth_getLogs", with_null).await),
            reference(b, &[], &[])
        );
    }
    assert!(checked > 50, "{checked} filter cases");
    // Defaults: fromBlock and toBlock are `latest`.
    let top = h.blocks.last().unwrap();
    assert_eq!(
        indices(&result(a, "eth_getLogs", json!([{}])).await),
        reference(top, &[], &[])
    );
    // A contiguous pair in one range, in block then log order.
    let pair = json!([{ "fromBlock": hex_n(17_034_869), "toBlock": hex_n(17_034_870) }]);
    let got = result(a, "eth_getLogs", pair).await;
    let blocks: Vec<u64> = got
        .as_array()
        .unwrap()
        .iter()
        .map(|l| qty(&l["blockNumber"]))
        .collect();
    assert!(blocks.windows(2).all(|w| w[0] <= w[1]));
    h.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_errors_are_geths() {
    let h = start(|_| {}).await;
    let a = h.addr;
    let top = h.blocks.last().unwrap().number().get();
    let cases = [
        (
            json!({"fromBlock": "0x29", "toBlock": "0x26"}),
            SERVER_ERROR,
            "invalid block range params",
        ),
        (
            json!({"fromBlock": hex_n(top - 1), "toBlock": hex_n(top + 5)}),
            INVALID_PARAMS,
            "block range extends beyond current head block",
        ),
        (
            json!({"fromBlock": hex_n(top + 1), "toBlock": hex_n(top + 3)}),
            INVALID_PARAMS,
            "block range extends beyond current head block",
        ),
        (
            json!({"fromBlock": hex_n(top + 1), "toBlock": "latest"}),
            INVALID_PARAMS,
            "invalid block range params",
        ),
        (
            json!({"fromBlock": "pending"}),
            SERVER_ERROR,
            "pending logs are not supported",
        ),
        (
            json!({"blockHash": B256::repeat_byte(7)}),
            SERVER_ERROR,
            "unknown block",
        ),
        (
            json!({"blockHash": B256::repeat_byte(7), "fromBlock": "0x3", "toBlock": "0x4"}),
            INVALID_PARAMS,
            "invalid argument 0: cannot specify both BlockHash and FromBlock/ToBlock, choose one or the other",
        ),
        (
            json!({"fromBlock": hex_n(17_034_870), "toBlock": hex_n(17_034_871)}),
            SERVER_ERROR,
            "block 17034871 is not stored on this node",
        ),
    ];
    for (filter, code, message) in cases {
        let e = error(a, "eth_getLogs", json!([filter])).await;
        assert_eq!(e["code"], code, "{filter}: {e}");
        assert_eq!(e["message"], message, "{filter}");
    }
    let five = json!([{ "topics": [null, null, null, null, null] }]);
    let e = error(a, "eth_getLogs", five).await;
    assert_eq!(e["code"], INVALID_PARAMS);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid argument 0")
    );
    let e = error(a, "eth_getLogs", json!([{ "address": "0x12" }])).await;
    assert_eq!(e["code"], INVALID_PARAMS, "{e}");
    h.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_limit_the_hint_is_the_largest_range_that_fits() {
    let first = 17_034_869u64;
    // Logs of the contiguous pair, known before the server starts.
    let dir = tempfile::tempdir().unwrap();
    let (_, blocks) = super::mainnet_store(dir.path());
    let count = |n: u64| {
        let b = blocks.iter().find(|b| b.number().get() == n).unwrap();
        b.receipts()
            .iter()
            .map(|r| r.logs.len() as u64)
            .sum::<u64>()
    };
    let (l1, l2) = (count(first), count(first + 1));
    assert!(l1 > 0 && l2 > 0);
    let h = hinted_first_of_pair(first, l1, "").await;
    // The hinted range really fits.
    let hinted = json!([{ "fromBlock": hex_n(first), "toBlock": hex_n(first) }]);
    assert_eq!(
        result(h.addr, "eth_getLogs", hinted)
            .await
            .as_array()
            .unwrap()
            .len() as u64,
        l1
    );
    h.server.stop().await;
    // Exactly at the limit: answered in full.
    let h = start(|s| s.max_logs = l1 + l2).await;
    let range = json!([{ "fromBlock": hex_n(first), "toBlock": hex_n(first + 1) }]);
    assert_eq!(
        result(h.addr, "eth_getLogs", range)
            .await
            .as_array()
            .unwrap()
            .len() as u64,
        l1 + l2
    );
    h.server.stop().await;
    // One block alone over the limit: no range fits; the hint is that block and the message
    // says so (a client shrinking the range would otherwise loop on it).
    let limit = l1 - 1;
    let alone = format!(
        " Block {} alone has more than {limit} matching logs; narrow the address or topics.",
        hex_n(first)
    );
    hinted_first_of_pair(first, limit, &alone)
        .await
        .server
        .stop()
        .await;
}

/// Asks for `[first, first + 1]` with `max_logs = limit` and checks the -32005 answer hints
/// `[first, first]`, its message ending in `extra`. The server stays up for more checks.
async fn hinted_first_of_pair(first: u64, limit: u64, extra: &str) -> super::Harness {
    let h = start(|s| s.max_logs = limit).await;
    let range = json!([{ "fromBlock": hex_n(first), "toBlock": hex_n(first + 1) }]);
    let e = error(h.addr, "eth_getLogs", range).await;
    assert_eq!(e["code"], LIMIT_EXCEEDED);
    assert_eq!(
        e["message"],
        format!(
            "query returned more than {limit} results. Try with this block range [{f}, {f}].{extra}",
            f = hex_n(first)
        )
    );
    assert_eq!(
        e["data"],
        json!({"from": hex_n(first), "to": hex_n(first), "limit": limit})
    );
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_block_range_cap_by_default() {
    // A range of millions of blocks is not refused for its width: it reaches the store, which
    // says what it does not hold.
    let h = start(|_| {}).await;
    let range = json!([{ "fromBlock": "0x0", "toBlock": "latest" }]);
    let e = error(h.addr, "eth_getLogs", range).await;
    assert_ne!(e["code"], LIMIT_EXCEEDED, "{e}");
    h.server.stop().await;
    // A configured cap still answers -32005 with the widest range it allows.
    let h = start(|s| s.max_block_range = 1000).await;
    let range = json!([{ "fromBlock": "0x0", "toBlock": "latest" }]);
    let e = error(h.addr, "eth_getLogs", range).await;
    assert_eq!(e["code"], LIMIT_EXCEEDED, "{e}");
    assert_eq!(e["data"]["to"], hex_n(999));
    h.server.stop().await;
}
