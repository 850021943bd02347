//! Real clients against the real server: viem (npm) and web3.py (PyPI), installed by
//! `scripts/setup-clients.sh`, run as child processes (`testkit::clients`) against the real `histd
//! run` following a mainnet-like testnet (re-linked real mainnet blocks, so logs and transactions
//! are real ones) with a small `rpc.max_logs`. Each script calls every served method and checks the
//! answers against the chain (what this test writes into its expectations file), pages
//! `eth_getLogs` through the -32005 hint, installs filters and WebSocket subscriptions, and
//! follows the chain while the testnet reorgs (depth 6). Its report is asserted here: every method
//! called, the pages contiguous and each the largest that fits, the per-block log counts the
//! chain's, and every watcher saw the dropped blocks' logs again with `removed: true` before the
//! new chain's logs and heads, in order.
//!
//! `#[ignore]`d like the ethereumjs interop tests (they need the installed packages);
//! `scripts/test.sh` runs them with `--include-ignored`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{Address, B256};
use histd::primitives::VerifiedBlock;
use histd::rpc::SERVED;
use histd::testkit::clients::{Client, ClientProcess};
use histd::testkit::process::HistdProcess as Histd;
use histd::testkit::testnet::{ChainKind, Testnet, TestnetChain, TestnetConfig};
use serde_json::{Value, json};

use crate::follow::{LIMIT, follow_cmd, stop, wait_up_to_date};
use crate::sync::{runtime, start_testnet};

/// The head the node follows to before the clients start.
const HEAD: u64 = 40;
/// The first block the reorg replaces (the reorg chain shares `0 .. REORG_AT`): depth 6, within
/// the follow tests' rollback window of 8.
const REORG_AT: u64 = 35;
/// The head after the reorg.
const NEW_HEAD: u64 = 48;
/// The line the server logs once it listens.
const LISTENING: &str = "JSON-RPC server listening (HTTP and WebSocket)";

/// One log of a chain as the clients report it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct LogAt {
    number: u64,
    hash: B256,
    index: u64,
    removed: bool,
}

impl LogAt {
    fn from_report(v: &Value) -> Self {
        Self {
            number: v["blockNumber"].as_u64().expect("blockNumber"),
            hash: v["blockHash"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .expect("blockHash"),
            index: v["logIndex"].as_u64().expect("logIndex"),
            removed: v["removed"].as_bool().expect("removed"),
        }
    }
}

/// The logs of block `n` of `chain` (address, topics), in block order.
fn logs_of(chain: &TestnetChain, n: u64) -> Vec<(Address, Vec<B256>)> {
    chain
        .receipts(n)
        .unwrap_or_default()
        .iter()
        .flat_map(|r| r.logs.iter().map(|l| (l.address, l.topics().to_vec())))
        .collect()
}

/// The logs of blocks `from ..= to` of `chain` whose address is one of `watch`.
fn watched(
    chain: &TestnetChain,
    from: u64,
    to: u64,
    watch: &[Address],
    removed: bool,
) -> Vec<LogAt> {
    (from..=to)
        .flat_map(|n| {
            let hash = chain.hash(n).expect("block on the chain");
            logs_of(chain, n)
                .into_iter()
                .enumerate()
                .filter(|(_, (a, _))| watch.contains(a))
                .map(move |(i, _)| LogAt {
                    number: n,
                    hash,
                    index: i as u64,
                    removed,
                })
        })
        .collect()
}

/// `rpc.max_logs` of these runs: the most logs a block of `1 ..= HEAD` holds, so every block fits
/// alone (no "narrow the filter" hint) and the whole range needs many pages.
fn per_block_max(chain: &TestnetChain) -> u64 {
    (1..=HEAD)
        .map(|n| logs_of(chain, n).len() as u64)
        .max()
        .expect("blocks")
}

/// The first block of `1 ..= HEAD` made from each mainnet template (told apart by their
/// `receiptsRoot`, which copies keep): every transaction type and header shape once, without
/// paying for every block's senders and formatting in a debug build.
fn one_per_template(chain: &TestnetChain) -> Vec<VerifiedBlock> {
    let mut seen = std::collections::HashSet::new();
    (1..=HEAD)
        .map(|n| {
            chain
                .verified_block(n)
                .expect("on the chain")
                .expect("verifies")
        })
        .filter(|b| seen.insert(b.header().receipts_root))
        .collect()
}

/// What the scripts are told, and what this test checks their reports against.
struct Expected {
    /// Written to the expectations file.
    json: Value,
    max_logs: u64,
    /// Logs per block, `1 ..= HEAD`.
    per_block: BTreeMap<u64, u64>,
    watch: Vec<Address>,
}

fn expected(net: &Testnet, http: SocketAddr) -> Expected {
    let (old, new) = (&net.chain, net.reorg_chain(1));
    let per_block: BTreeMap<u64, u64> = (1..=HEAD)
        .map(|n| (n, logs_of(old, n).len() as u64))
        .collect();
    let max_logs = per_block_max(old);
    let total: u64 = per_block.values().sum();
    assert!(
        total > 4 * max_logs,
        "{total} logs, at most {max_logs} per block"
    );
    // Watched: the two addresses with the most logs in the blocks the reorg drops.
    let mut counts: BTreeMap<Address, usize> = BTreeMap::new();
    for n in REORG_AT..=HEAD {
        for (a, _) in logs_of(old, n) {
            *counts.entry(a).or_default() += 1;
        }
    }
    let mut by_count: Vec<(usize, Address)> = counts.into_iter().map(|(a, c)| (c, a)).collect();
    by_count.sort_unstable_by(|x, y| y.cmp(x));
    let watch: Vec<Address> = by_count.iter().take(2).map(|(_, a)| *a).collect();
    // The block the plain methods are checked on: the first from 10 on with a transaction that
    // has logs.
    let (number, block, tx_index) = (10..REORG_AT)
        .find_map(|n| {
            let block = old.verified_block(n)?.expect("testnet block verifies");
            let i = block.receipts().iter().position(|r| !r.logs.is_empty())?;
            Some((n, block, i))
        })
        .expect("a block with logs");
    let logs = logs_of(old, number);
    let topic0 = logs
        .iter()
        .find_map(|(_, t)| t.first().copied())
        .expect("a log with topics");
    let tx = &block.body().transactions[tx_index];
    let from = histd::rpc::recover_sender(tx).expect("testnet senders recover");
    let removed = watched(old, REORG_AT, HEAD, &watch, true).len();
    let added = watched(new, REORG_AT, NEW_HEAD, &watch, false).len();
    assert!(
        removed > 0 && added > 0,
        "nothing to see: {removed} removed, {added} added"
    );
    let json = json!({
        "http": format!("http://{http}"),
        "ws": format!("ws://{http}"),
        "chainId": histd::testkit::testnet::TESTNET_CHAIN_ID,
        "head": {"number": HEAD, "hash": old.hash(HEAD).unwrap()},
        "earliest": 0,
        "safe": HEAD - crate::follow::WINDOW,
        "blocks": one_per_template(old).iter().map(|b| json!({
            "number": b.number().get(),
            "hash": b.hash(),
            "txCount": b.body().transactions.len(),
            "logCount": per_block[&b.number().get()],
        })).collect::<Vec<_>>(),
        "block": {
            "number": number,
            "hash": block.hash(),
            "txHashes": block.transaction_hashes().collect::<Vec<_>>(),
            "logCount": logs.len(),
            "topic0": topic0,
            "topic0Count": logs.iter().filter(|(_, t)| t.first() == Some(&topic0)).count(),
            "watchCount": logs.iter().filter(|(a, _)| watch.contains(a)).count(),
        },
        "tx": {
            "hash": tx.tx_hash(),
            "index": tx_index,
            "from": from.to_string().to_lowercase(),
            "logCount": block.receipts()[tx_index].logs.len(),
        },
        "maxLogs": max_logs,
        "paginate": {"from": 1, "to": HEAD},
        "watch": {"addresses": watch},
        "reorg": {
            "newHeadHash": new.hash(NEW_HEAD).unwrap(),
            "removed": removed,
            "added": added,
            "timeoutMs": 90_000,
        },
    });
    Expected {
        json,
        max_logs,
        per_block,
        watch,
    }
}

/// `histd run` following a mainnet-like testnet up to [`HEAD`] with `rpc.max_logs` set.
struct Node {
    _rt: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
    net: Testnet,
    histd: Histd,
    rpc: SocketAddr,
}

fn follow_node(max_logs: impl FnOnce(&Testnet) -> u64) -> Node {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = TestnetConfig::new(ChainKind::Mainnet, 60, 4);
    config.reorgs = vec![REORG_AT];
    let net = start_testnet(&rt, dir.path(), config);
    net.control.cap_head(HEAD);
    let toml = dir.path().join("histd.toml");
    std::fs::write(&toml, format!("[rpc]\nmax_logs = {}\n", max_logs(&net))).unwrap();
    let toml = toml.to_str().expect("utf-8 path").to_owned();
    let mut histd = Histd::spawn(follow_cmd(dir.path(), &net, &["--config", &toml]));
    wait_up_to_date(&mut histd, HEAD);
    let listening = histd.wait_for_within(LIMIT, "RPC listening", |v| v["message"] == LISTENING);
    let rpc: SocketAddr = listening["addr"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .expect("the server's address");
    // The log line is the sync's; the RPC head moves one channel hop later.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while rt.block_on(super::result(rpc, "eth_blockNumber", json!([]))) != json!(super::hex_n(HEAD))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the RPC head never reached {HEAD}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Node {
        _rt: rt,
        dir,
        net,
        histd,
        rpc,
    }
}

/// Runs `client` through the whole scenario; its report, with the chains before and after.
fn run(client: Client) -> (Expected, Value, Arc<TestnetChain>, Arc<TestnetChain>) {
    client.ensure_installed();
    let mut node = follow_node(|net| per_block_max(&net.chain));
    let e = expected(&node.net, node.rpc);
    let path = node.dir.path().join("expect.json");
    std::fs::write(&path, e.json.to_string()).unwrap();
    let mut script = ClientProcess::spawn(client, &path);
    script.wait_json(Duration::from_secs(60), "ready line", |v| {
        v["ready"] == true
    });
    node.net.control.switch_to(1);
    node.net.control.cap_head(NEW_HEAD);
    let reorg = node
        .histd
        .wait_for_within(LIMIT, "the reorg", |v| v["message"] == "reorg rolled back");
    assert_eq!(reorg["ancestor"].as_u64(), Some(REORG_AT - 1), "{reorg}");
    wait_up_to_date(&mut node.histd, NEW_HEAD);
    let report = script.wait_json(Duration::from_secs(100), "report", |v| {
        v.get("client").is_some()
    });
    script.wait_success(Duration::from_secs(10));
    stop(&mut node.histd);
    let chains = (node.net.chain.clone(), node.net.reorg_chain(1).clone());
    (e, report, chains.0, chains.1)
}

fn assert_report(e: &Expected, net_old: &TestnetChain, net_new: &TestnetChain, report: &Value) {
    let client = &report["client"];
    let failures = report["failures"].as_array().expect("failures");
    assert!(failures.is_empty(), "{client}: {failures:#?}");
    // Every served method called (histd's own list, which README's is checked against).
    let calls: Vec<&str> = report["calls"]
        .as_array()
        .expect("calls")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for m in SERVED {
        assert!(calls.contains(m), "{client} never called {m}: {calls:?}");
    }
    // State methods: -32601 saying why.
    assert_eq!(report["stateError"]["code"], -32601, "{client}: {report}");
    assert!(
        report["stateError"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("history only")),
        "{client}: {}",
        report["stateError"]
    );
    // Pages: contiguous over 1 ..= HEAD, each within the limit and the largest that fits.
    let pages = report["pages"].as_array().expect("pages");
    assert!(pages.len() > 1, "{client}: one page only: {pages:?}");
    assert!(report["hints"].as_u64().unwrap() >= pages.len() as u64 - 1);
    let mut next = 1;
    for p in pages {
        let (from, to, count) = (
            p["from"].as_u64().unwrap(),
            p["to"].as_u64().unwrap(),
            p["count"].as_u64().unwrap(),
        );
        assert_eq!(from, next, "{client}: pages {pages:?}");
        let want: u64 = (from..=to).map(|n| e.per_block[&n]).sum();
        assert_eq!(count, want, "{client}: page {p}");
        assert!(count <= e.max_logs, "{client}: page {p} over the limit");
        if to < HEAD {
            assert!(
                want + e.per_block[&(to + 1)] > e.max_logs,
                "{client}: page {p} is not the largest range that fits"
            );
        }
        next = to + 1;
    }
    assert_eq!(next, HEAD + 1, "{client}: pages {pages:?}");
    let per_block: BTreeMap<u64, u64> = report["perBlock"]
        .as_object()
        .expect("perBlock")
        .iter()
        .map(|(n, c)| (n.parse().unwrap(), c.as_u64().unwrap()))
        .collect();
    let nonzero: BTreeMap<u64, u64> = e
        .per_block
        .iter()
        .filter(|(_, c)| **c > 0)
        .map(|(n, c)| (*n, *c))
        .collect();
    assert_eq!(per_block, nonzero, "{client}: logs per block");
    // Through the reorg: removed copies of the dropped blocks' watched logs first (in any order),
    // then the new chain's, in order.
    let mut removed = watched(net_old, REORG_AT, HEAD, &e.watch, true);
    removed.sort();
    let added = watched(net_new, REORG_AT, NEW_HEAD, &e.watch, false);
    let seen = &report["seen"];
    for (what, key) in [
        ("WebSocket logs", "wsLogs"),
        ("HTTP log filter", "filterLogs"),
        ("watchEvent (HTTP)", "watchEvent"),
    ] {
        let Some(logs) = seen[key].as_array() else {
            continue;
        };
        let logs: Vec<LogAt> = logs.iter().map(LogAt::from_report).collect();
        let split = logs.iter().position(|l| !l.removed).unwrap_or(logs.len());
        let mut got_removed = logs[..split].to_vec();
        got_removed.sort();
        assert_eq!(got_removed, removed, "{client} {what}: removed logs");
        assert_eq!(
            &logs[split..],
            added.as_slice(),
            "{client} {what}: new logs"
        );
    }
    // Heads: the new chain's, from the first replaced block on, each once, in order.
    let new_heads: Vec<Value> = (REORG_AT..=NEW_HEAD)
        .map(|n| json!({"number": n, "hash": net_new.hash(n).unwrap()}))
        .collect();
    assert_eq!(
        seen["wsHeads"].as_array().expect("wsHeads"),
        &new_heads,
        "{client}: newHeads"
    );
    let new_hashes: Vec<Value> = (REORG_AT..=NEW_HEAD)
        .map(|n| json!(net_new.hash(n).unwrap()))
        .collect();
    assert_eq!(
        seen["filterBlocks"].as_array().expect("filterBlocks"),
        &new_hashes,
        "{client}: block filter"
    );
}

fn scenario(client: Client) {
    let started = std::time::Instant::now();
    let (e, report, old, new) = run(client);
    assert_report(&e, &old, &new, &report);
    println!(
        "{}: every check passed in {:?} ({} pages, {} logs seen over WebSocket)",
        report["client"],
        started.elapsed(),
        report["pages"].as_array().map_or(0, Vec::len),
        report["seen"]["wsLogs"].as_array().map_or(0, Vec::len),
    );
}

#[test]
#[ignore = "needs viem: scripts/setup-clients.sh"]
fn viem_calls_every_method_pages_logs_and_follows_a_reorg() {
    scenario(Client::Viem);
}

#[test]
#[ignore = "needs web3.py: scripts/setup-clients.sh"]
fn web3py_calls_every_method_pages_logs_and_follows_a_reorg() {
    scenario(Client::Web3Py);
}
