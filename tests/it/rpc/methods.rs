//! Every field of blocks (full transactions), transactions and receipts served from the real
//! mainnet blocks, checked against values recomputed here from the raw YAML data: hashes are
//! keccak of the raw bytes, senders recovered with secp256k1 directly, gas and log indices
//! counted from the raw receipts, blob gas price from EIP-4844's formula.

use alloy_consensus::Transaction as _;
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, B256, keccak256};
use alloy_rlp::Header as RlpHeader;
use histd::primitives::{BlockNumber, Transaction};
use histd::rpc::{METHOD_NOT_FOUND, PRUNED_HISTORY};
use secp256k1::Message;
use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use serde_json::{Value, json};

use super::{error, hex_n, qty, result, start};

/// The sender, recovered here without the server's code.
fn sender(tx: &Transaction) -> Address {
    let sig = tx.signature();
    let mut compact = [0u8; 64];
    compact[..32].copy_from_slice(&sig.r().to_be_bytes::<32>());
    compact[32..].copy_from_slice(&sig.s().to_be_bytes::<32>());
    let id = RecoveryId::try_from(i32::from(sig.v())).unwrap();
    let key = RecoverableSignature::from_compact(&compact, id)
        .unwrap()
        .recover_ecdsa(Message::from_digest(tx.signature_hash().0))
        .unwrap();
    Address::from_slice(&keccak256(&key.serialize_uncompressed()[1..])[12..])
}

/// EIP-4844's `fake_exponential`.
fn fake_exponential(factor: u128, numerator: u128, denominator: u128) -> u128 {
    let mut i = 1u128;
    let mut output = 0u128;
    let mut acc = factor * denominator;
    while acc > 0 {
        output += acc;
        acc = acc * numerator / (denominator * i);
        i += 1;
    }
    output / denominator
}

fn addr(v: &Value) -> Address {
    v.as_str().unwrap().parse().unwrap()
}

fn hash(v: &Value) -> B256 {
    v.as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_transactions_and_receipts_match_the_raw_mainnet_data() {
    let h = start(|_| {}).await;
    let a = h.addr;
    let top = h.blocks.last().unwrap().number().get();
    assert_eq!(result(a, "eth_chainId", json!([])).await, "0x1");
    assert_eq!(result(a, "net_version", json!([])).await, "1");
    assert_eq!(result(a, "eth_blockNumber", json!([])).await, hex_n(top));
    assert_eq!(result(a, "eth_syncing", json!([])).await, false);
    assert!(
        result(a, "web3_clientVersion", json!([]))
            .await
            .as_str()
            .unwrap()
            .starts_with("histd/v")
    );
    let mut blob_txs = 0;
    for raw in &h.raw {
        let n = raw.header.number;
        let block_hash = keccak256(&raw.raw_header);
        let b = result(a, "eth_getBlockByNumber", json!([hex_n(n), true])).await;
        assert_eq!(hash(&b["hash"]), block_hash, "block {n}");
        assert_eq!(qty(&b["number"]), n);
        assert_eq!(hash(&b["parentHash"]), raw.header.parent_hash);
        assert_eq!(hash(&b["receiptsRoot"]), raw.header.receipts_root);
        // size: the RLP of [header, txs, ommers(, withdrawals)], from the raw bytes.
        let body_payload = {
            let mut buf = &raw.raw_body[..];
            let hd = RlpHeader::decode(&mut buf).unwrap();
            hd.payload_length
        };
        let payload = raw.raw_header.len() + body_payload;
        let size = payload + alloy_rlp::length_of_length(payload);
        assert_eq!(qty(&b["size"]), size as u64, "size of {n}");
        let uncles: Vec<B256> = raw
            .body
            .ommers
            .iter()
            .map(|o| keccak256(alloy_rlp::encode(o)))
            .collect();
        let got: Vec<B256> = b["uncles"].as_array().unwrap().iter().map(hash).collect();
        assert_eq!(got, uncles, "uncles of {n}");
        let txs = b["transactions"].as_array().unwrap();
        assert_eq!(txs.len(), raw.body.transactions.len());
        let by_hash = result(a, "eth_getBlockByHash", json!([block_hash, false])).await;
        assert_eq!(by_hash["hash"], b["hash"]);
        assert_eq!(
            qty(&result(a, "eth_getBlockTransactionCountByNumber", json!([hex_n(n)])).await),
            txs.len() as u64
        );
        assert_eq!(
            qty(&result(a, "eth_getBlockTransactionCountByHash", json!([block_hash])).await),
            txs.len() as u64
        );
        let receipts = result(a, "eth_getBlockReceipts", json!([hex_n(n)])).await;
        let receipts = receipts.as_array().unwrap();
        assert_eq!(receipts.len(), raw.receipts.len());
        let base_fee = raw.header.base_fee_per_gas;
        let (mut prev_cum, mut log_index) = (0u64, 0u64);
        for (i, tx) in raw.body.transactions.iter().enumerate() {
            let tx_hash = keccak256(tx.encoded_2718());
            let from = sender(tx);
            let t = &txs[i];
            assert_eq!(hash(&t["hash"]), tx_hash, "tx {i} of {n}");
            assert_eq!(addr(&t["from"]), from, "from of tx {i} of {n}");
            assert_eq!(hash(&t["blockHash"]), block_hash);
            assert_eq!(qty(&t["transactionIndex"]), i as u64);
            assert_eq!(qty(&t["nonce"]), tx.nonce());
            let r = &receipts[i];
            let raw_r = &raw.receipts[i];
            assert_eq!(hash(&r["transactionHash"]), tx_hash);
            assert_eq!(qty(&r["transactionIndex"]), i as u64);
            assert_eq!(hash(&r["blockHash"]), block_hash);
            assert_eq!(qty(&r["blockNumber"]), n);
            assert_eq!(addr(&r["from"]), from);
            assert_eq!(qty(&r["cumulativeGasUsed"]), raw_r.cumulative_gas_used);
            assert_eq!(qty(&r["gasUsed"]), raw_r.cumulative_gas_used - prev_cum);
            prev_cum = raw_r.cumulative_gas_used;
            assert_eq!(qty(&r["status"]), u64::from(raw_r.is_success()));
            assert_eq!(qty(&r["type"]), u64::from(u8::from(raw_r.tx_type)));
            let effective = match base_fee {
                Some(base) if tx.max_priority_fee_per_gas().is_some() => tx
                    .max_fee_per_gas()
                    .min(u128::from(base) + tx.max_priority_fee_per_gas().unwrap()),
                _ => tx.gas_price().unwrap_or_else(|| tx.max_fee_per_gas()),
            };
            assert_eq!(
                u128::from(qty(&r["effectiveGasPrice"])),
                effective,
                "effectiveGasPrice of tx {i} of {n}"
            );
            match tx.to() {
                Some(to) => {
                    assert_eq!(addr(&r["to"]), to);
                    assert!(r["contractAddress"].is_null());
                }
                None => {
                    assert!(r["to"].is_null());
                    assert_eq!(addr(&r["contractAddress"]), from.create(tx.nonce()));
                }
            }
            if let Some(blobs) = tx.blob_versioned_hashes() {
                blob_txs += 1;
                assert_eq!(qty(&r["blobGasUsed"]), blobs.len() as u64 * 131_072);
                let excess = raw.header.excess_blob_gas.unwrap();
                // The update fraction of Cancun (EIP-4844), raised at Prague (EIP-7691, mainnet
                // timestamp 1746612311).
                let fraction = if raw.header.timestamp >= 1_746_612_311 {
                    5_007_716
                } else {
                    3_338_477
                };
                let price = fake_exponential(1, u128::from(excess), fraction);
                assert_eq!(u128::from(qty(&r["blobGasPrice"])), price);
            } else {
                assert!(r.get("blobGasUsed").is_none_or(Value::is_null));
            }
            let logs = r["logs"].as_array().unwrap();
            assert_eq!(logs.len(), raw_r.logs.len());
            for (j, l) in logs.iter().enumerate() {
                let raw_l = &raw_r.logs[j];
                assert_eq!(qty(&l["logIndex"]), log_index, "logIndex in {n}");
                log_index += 1;
                assert_eq!(addr(&l["address"]), raw_l.address);
                let topics: Vec<B256> = l["topics"].as_array().unwrap().iter().map(hash).collect();
                assert_eq!(topics, raw_l.topics());
                assert_eq!(
                    l["data"].as_str().unwrap(),
                    alloy_primitives::hex::encode_prefixed(&raw_l.data.data)
                );
                assert_eq!(hash(&l["transactionHash"]), tx_hash);
                assert_eq!(qty(&l["blockTimestamp"]), raw.header.timestamp);
                assert_eq!(l["removed"], false);
            }
            // The single-transaction methods agree with the block-wide answers.
            if i % 37 == 0 || i + 1 == raw.body.transactions.len() {
                let one = result(a, "eth_getTransactionByHash", json!([tx_hash])).await;
                assert_eq!(&one, t, "eth_getTransactionByHash {tx_hash}");
                let one = result(
                    a,
                    "eth_getTransactionByBlockNumberAndIndex",
                    json!([hex_n(n), hex_n(i as u64)]),
                )
                .await;
                assert_eq!(&one, t);
                let one = result(
                    a,
                    "eth_getTransactionByBlockHashAndIndex",
                    json!([block_hash, hex_n(i as u64)]),
                )
                .await;
                assert_eq!(&one, t);
                let one = result(a, "eth_getTransactionReceipt", json!([tx_hash])).await;
                assert_eq!(&one, r, "eth_getTransactionReceipt {tx_hash}");
            }
        }
        let past_end = json!([hex_n(n), hex_n(txs.len() as u64)]);
        assert!(
            result(a, "eth_getTransactionByBlockNumberAndIndex", past_end)
                .await
                .is_null()
        );
    }
    assert!(blob_txs > 0, "block 22162263 carries blob transactions");
    h.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_missing_blocks_and_state_methods() {
    let h = start(|_| {}).await;
    let a = h.addr;
    let low = h.blocks.first().unwrap().number().get();
    let top = h.blocks.last().unwrap().number().get();
    let top_hash = h.blocks.last().unwrap().hash();
    for tag in ["latest", "pending", "safe"] {
        let b = result(a, "eth_getBlockByNumber", json!([tag, false])).await;
        assert_eq!(hash(&b["hash"]), top_hash, "{tag}");
    }
    let e = error(a, "eth_getBlockByNumber", json!(["finalized", false])).await;
    assert_eq!(e["message"], "finalized block not found");
    // `earliest` is the lowest block held.
    let b = result(a, "eth_getBlockByNumber", json!(["earliest", false])).await;
    assert_eq!(qty(&b["number"]), low);
    // Above the head: null. Below the lowest block, or in a gap: geth's pruned-history error.
    assert!(
        result(a, "eth_getBlockByNumber", json!([hex_n(top + 1), false]))
            .await
            .is_null()
    );
    for n in [low - 1, 15_000_000] {
        let e = error(a, "eth_getBlockByNumber", json!([hex_n(n), false])).await;
        assert_eq!(e["code"], PRUNED_HISTORY, "block {n}");
        assert_eq!(e["message"], "pruned history unavailable");
    }
    let unknown = B256::repeat_byte(0x42);
    assert!(
        result(a, "eth_getBlockByHash", json!([unknown, true]))
            .await
            .is_null()
    );
    assert!(
        result(a, "eth_getTransactionByHash", json!([unknown]))
            .await
            .is_null()
    );
    assert!(
        result(a, "eth_getTransactionReceipt", json!([unknown]))
            .await
            .is_null()
    );
    assert!(
        result(a, "eth_getBlockReceipts", json!([unknown]))
            .await
            .is_null()
    );
    for m in [
        "eth_call",
        "eth_getBalance",
        "debug_traceTransaction",
        "eth_sendRawTransaction",
    ] {
        let e = error(a, m, json!([])).await;
        assert_eq!(e["code"], METHOD_NOT_FOUND, "{m}");
        assert!(
            e["message"].as_str().unwrap().contains("history only"),
            "{m}: {e}"
        );
    }
    let e = error(a, "eth_noSuchThing", json!([])).await;
    assert_eq!(
        e["message"],
        "the method eth_noSuchThing does not exist/is not available"
    );
    h.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eth_syncing_reports_progress_while_peers_are_ahead() {
    // Peers reported a head 100 blocks above ours: geth's shape, starting at the head the server
    // started with.
    let top = load_top();
    let h = super::start_prepared(
        |_| {},
        move |s| s.set_head_seen(BlockNumber(top + 100)).unwrap(),
    )
    .await;
    let r = result(h.addr, "eth_syncing", json!([])).await;
    assert_eq!(r["startingBlock"], hex_n(top), "{r}");
    assert_eq!(r["currentBlock"], hex_n(top), "{r}");
    assert_eq!(r["highestBlock"], hex_n(top + 100), "{r}");
    h.server.stop().await;
    // Caught up (peers' head at or below ours): false.
    let h =
        super::start_prepared(|_| {}, move |s| s.set_head_seen(BlockNumber(top)).unwrap()).await;
    assert_eq!(result(h.addr, "eth_syncing", json!([])).await, false);
    h.server.stop().await;
}

fn load_top() -> u64 {
    histd::testkit::mainnet::load_blocks()
        .iter()
        .map(|b| b.header.number)
        .max()
        .unwrap()
}

/// A synthetic testnet chain's transactions are signed with real keys: the full-transaction form
/// of every block recovers a `from` for each, one of the testkit's sender keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_transactions_of_a_synthetic_chain_carry_their_senders() {
    use histd::rpc::{Head, RpcSettings, Server};
    use histd::storage::{OpenOptions, Retention, Storage, StoreHandle};
    use histd::testkit::chain::{SENDER_KEYS, sender_address};
    use histd::testkit::testnet::{ChainKind, TestnetChain};

    const LEN: u64 = 40;
    let chain = TestnetChain::build(ChainKind::Synthetic, 17, LEN);
    let blocks: Vec<_> = (1..LEN)
        .map(|n| chain.verified_block(n).unwrap().unwrap())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let options = || OpenOptions {
        chain_id: 1,
        genesis_hash: chain.hash(0).unwrap(),
        shard_size: 10_000,
        retention: Retention::default(),
    };
    let store = Storage::open(dir.path(), options()).unwrap();
    store.put_unordered(&blocks).unwrap();
    store.compact_dirty().unwrap();
    drop(store);
    let store = StoreHandle::open(dir.path(), options()).await.unwrap();
    let top = blocks.last().unwrap();
    let (_head_tx, head_rx) = tokio::sync::watch::channel(Head {
        number: top.number(),
        hash: top.hash(),
        safe: None,
        finalized: None,
    });
    let server = Server::start(
        RpcSettings::new("127.0.0.1:0".parse().unwrap()),
        store,
        1,
        head_rx,
    )
    .await
    .unwrap();
    let senders: Vec<Address> = SENDER_KEYS.iter().map(sender_address).collect();
    let mut checked = 0;
    for b in &blocks {
        let n = b.number().get();
        let got = result(
            server.local_addr(),
            "eth_getBlockByNumber",
            json!([hex_n(n), true]),
        )
        .await;
        let txs = got["transactions"].as_array().expect("full transactions");
        assert_eq!(txs.len(), b.body().transactions.len(), "block {n}");
        for (tx, ours) in txs.iter().zip(&b.body().transactions) {
            assert_eq!(hash(&tx["hash"]), *ours.tx_hash(), "block {n}");
            let from = addr(&tx["from"]);
            assert!(
                senders.contains(&from),
                "block {n}: from {from} is no sender key"
            );
            assert_eq!(from, sender(ours), "block {n}");
            checked += 1;
        }
    }
    assert!(checked > 0, "the chain has transactions");
    server.stop().await;
}
