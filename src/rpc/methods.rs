//! The methods: one function per JSON-RPC method over [`Chain`], [`Filters`] and the settings,
//! and the rule that every state method answers -32601 saying histd serves history only.
//! Subscriptions are the WebSocket layer's (`ws.rs`); everything else is here. Never writes.

use std::sync::Arc;

use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::{Address, B256, U64, U256};
use alloy_rpc_types_eth::{SyncInfo, SyncStatus};
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::chain::Chain;
use super::convert::{self, RpcTransaction, full_txs};
use super::envelope::{METHOD_NOT_FOUND, RpcError};
use super::filters::{Changes, Filters, Kind};
use super::logs::{self, Limits};
use super::params::Params;
use super::settings::RpcSettings;
use crate::storage::StoredBlock;

/// What every call can reach.
#[derive(Debug)]
pub struct Ctx {
    /// Limits and parameters.
    pub settings: RpcSettings,
    /// EIP-155 chain id (also the network id).
    pub chain_id: u64,
    /// The stored chain.
    pub chain: Chain,
    /// Installed filters.
    pub filters: Arc<Filters>,
}

/// Method prefixes that need state, a transaction pool or a consensus client.
const STATE_PREFIXES: &[&str] = &[
    "debug_",
    "trace_",
    "txpool_",
    "engine_",
    "admin_",
    "personal_",
    "miner_",
    "ots_",
];

/// `eth_` methods that need state or a transaction pool.
const STATE_METHODS: &[&str] = &[
    "eth_call",
    "eth_estimateGas",
    "eth_createAccessList",
    "eth_getBalance",
    "eth_getCode",
    "eth_getStorageAt",
    "eth_getTransactionCount",
    "eth_getProof",
    "eth_getAccount",
    "eth_sendRawTransaction",
    "eth_sendTransaction",
    "eth_sign",
    "eth_signTransaction",
    "eth_simulateV1",
    "eth_gasPrice",
    "eth_maxPriorityFeePerGas",
    "eth_blobBaseFee",
    "eth_feeHistory",
    "eth_newPendingTransactionFilter",
    "eth_getHeaderByNumber",
    "eth_getHeaderByHash",
    "eth_mining",
    "eth_hashrate",
    "eth_coinbase",
    "eth_accounts",
];

/// The methods served, the one list of them: the `method` label of the RPC metrics is one of these,
/// `state` (a method histd does not serve on purpose) or `other`, so the label set stays bounded
/// whatever clients send. README's method list and the client tests (`tests/it/rpc/clients.rs`)
/// are checked against it.
pub const SERVED: &[&str] = &[
    "eth_chainId",
    "net_version",
    "net_listening",
    "web3_clientVersion",
    "eth_blockNumber",
    "eth_syncing",
    "eth_getBlockByNumber",
    "eth_getBlockByHash",
    "eth_getBlockTransactionCountByNumber",
    "eth_getBlockTransactionCountByHash",
    "eth_getTransactionByHash",
    "eth_getTransactionByBlockNumberAndIndex",
    "eth_getTransactionByBlockHashAndIndex",
    "eth_getTransactionReceipt",
    "eth_getBlockReceipts",
    "eth_getLogs",
    "eth_newFilter",
    "eth_newBlockFilter",
    "eth_getFilterChanges",
    "eth_getFilterLogs",
    "eth_uninstallFilter",
    "eth_subscribe",
    "eth_unsubscribe",
];

/// The metrics label of `method`.
pub fn label(method: &str) -> &'static str {
    match SERVED.iter().find(|m| **m == method) {
        Some(m) => m,
        None if is_state_method(method) => "state",
        None => "other",
    }
}

/// Whether `method` is one histd deliberately does not serve.
pub fn is_state_method(method: &str) -> bool {
    STATE_METHODS.contains(&method) || STATE_PREFIXES.iter().any(|p| method.starts_with(p))
}

fn raw(v: &impl Serialize) -> Result<Box<RawValue>, RpcError> {
    serde_json::value::to_raw_value(v)
        .map_err(|e| RpcError::server(format!("encoding the answer: {e}")))
}

fn null() -> Result<Box<RawValue>, RpcError> {
    raw(&Value::Null)
}

fn hex(n: u64) -> String {
    format!("{n:#x}")
}

/// Runs one call.
pub async fn call(ctx: &Ctx, method: &str, params: &[Value]) -> Result<Box<RawValue>, RpcError> {
    let chain = &ctx.chain;
    match method {
        "eth_chainId" => {
            Params::new(params, 0)?;
            raw(&hex(ctx.chain_id))
        }
        "net_version" => {
            Params::new(params, 0)?;
            raw(&ctx.chain_id.to_string())
        }
        "net_listening" => raw(&true),
        "web3_clientVersion" => {
            Params::new(params, 0)?;
            raw(&format!(
                "histd/v{}/{}-{}",
                env!("CARGO_PKG_VERSION"),
                std::env::consts::OS,
                std::env::consts::ARCH
            ))
        }
        "eth_blockNumber" => {
            Params::new(params, 0)?;
            raw(&hex(chain.head().number.get()))
        }
        // geth's rule: syncing while the head is below the highest head seen (peers' head, as
        // the node persists it); then startingBlock / currentBlock / highestBlock, else false.
        "eth_syncing" => {
            Params::new(params, 0)?;
            let current = chain.head().number.get();
            match chain.head_seen().await? {
                Some(highest) if highest > current => raw(&SyncStatus::Info(Box::new(SyncInfo {
                    starting_block: U256::from(chain.starting_block().min(current)),
                    current_block: U256::from(current),
                    highest_block: U256::from(highest),
                    warp_chunks_amount: None,
                    warp_chunks_processed: None,
                    stages: None,
                }))),
                _ => raw(&false),
            }
        }
        "eth_getBlockByNumber" => {
            let p = Params::new(params, 2)?;
            let tag: BlockNumberOrTag = p.quantity(0)?;
            let full: bool = p.req(1)?;
            let n = chain.resolve(tag).await?;
            match chain.block(n).await? {
                Some(b) => block_answer(chain, b, full).await,
                None => null(),
            }
        }
        "eth_getBlockByHash" => {
            let p = Params::new(params, 2)?;
            let hash: B256 = p.req(0)?;
            let full: bool = p.req(1)?;
            match chain.block_by_hash(hash).await? {
                Some(b) => block_answer(chain, b, full).await,
                None => null(),
            }
        }
        "eth_getBlockTransactionCountByNumber" => {
            let p = Params::new(params, 1)?;
            let n = chain.resolve(p.quantity(0)?).await?;
            match chain.block(n).await? {
                Some(b) => raw(&hex(convert::tx_hashes(&b).len() as u64)),
                None => null(),
            }
        }
        "eth_getBlockTransactionCountByHash" => {
            let p = Params::new(params, 1)?;
            match chain.block_by_hash(p.req(0)?).await? {
                Some(b) => raw(&hex(convert::tx_hashes(&b).len() as u64)),
                None => null(),
            }
        }
        "eth_getTransactionByHash" => {
            let p = Params::new(params, 1)?;
            let hash: B256 = p.req(0)?;
            let Some(loc) = chain.transaction(hash).await? else {
                return null();
            };
            match chain.block(loc.block.get()).await {
                Ok(Some(b)) => tx_answer(&b, loc.index as usize).await,
                // Above the head (not yet announced as canonical): not served yet.
                Ok(None) => null(),
                Err(e) => Err(e),
            }
        }
        "eth_getTransactionByBlockNumberAndIndex" => {
            let p = Params::new(params, 2)?;
            let n = chain.resolve(p.quantity(0)?).await?;
            let index: U64 = p.quantity(1)?;
            match chain.block(n).await? {
                Some(b) => tx_answer(&b, index.to::<u64>() as usize).await,
                None => null(),
            }
        }
        "eth_getTransactionByBlockHashAndIndex" => {
            let p = Params::new(params, 2)?;
            let index: U64 = p.quantity(1)?;
            match chain.block_by_hash(p.req(0)?).await? {
                Some(b) => tx_answer(&b, index.to::<u64>() as usize).await,
                None => null(),
            }
        }
        "eth_getTransactionReceipt" => {
            let p = Params::new(params, 1)?;
            let hash: B256 = p.req(0)?;
            let Some(loc) = chain.transaction(hash).await? else {
                return null();
            };
            let Some(b) = chain.block(loc.block.get()).await? else {
                return null();
            };
            let i = loc.index as usize;
            let txs = full_txs(&b).map_err(RpcError::server)?;
            let Some(tx) = txs.get(i) else {
                return null();
            };
            // Only this receipt's sender is needed; the others' are never read.
            let from = convert::recover_sender(tx).map_err(RpcError::server)?;
            let mut senders = vec![Address::ZERO; txs.len()];
            senders[i] = from;
            let blob = ctx.settings.blob_params_at(b.header.timestamp);
            let mut r =
                convert::rpc_receipts(&b, &senders, blob, Some(i)).map_err(RpcError::server)?;
            match r.pop() {
                Some(r) => raw(&r),
                None => null(),
            }
        }
        "eth_getBlockReceipts" => {
            let p = Params::new(params, 1)?;
            let id: BlockId = p.quantity(0)?;
            let block = match id {
                BlockId::Hash(h) => chain.block_by_hash(h.block_hash).await?,
                BlockId::Number(tag) => chain.block(chain.resolve(tag).await?).await?,
            };
            let Some(b) = block else {
                return null();
            };
            let senders = chain.senders(b.clone()).await?;
            let blob = ctx.settings.blob_params_at(b.header.timestamp);
            raw(&convert::rpc_receipts(&b, &senders, blob, None).map_err(RpcError::server)?)
        }
        "eth_getLogs" => {
            let p = Params::new(params, 1)?;
            let filter = logs::parse_filter(&p.req::<Value>(0)?)?;
            raw(&logs::get_logs(chain, &filter, limits(ctx)).await?)
        }
        "eth_newFilter" => {
            let p = Params::new(params, 1)?;
            let filter = logs::parse_filter(&p.req::<Value>(0)?)?;
            raw(&ctx.filters.install(Kind::Logs(Box::new(filter)))?)
        }
        "eth_newBlockFilter" => {
            Params::new(params, 0)?;
            raw(&ctx.filters.install(Kind::Blocks)?)
        }
        "eth_getFilterChanges" => {
            let p = Params::new(params, 1)?;
            let id: String = p.req(0)?;
            match ctx.filters.poll(&id)? {
                Changes::Logs(l) => raw(&l),
                Changes::Hashes(h) => raw(&h),
            }
        }
        "eth_getFilterLogs" => {
            let p = Params::new(params, 1)?;
            let id: String = p.req(0)?;
            let filter = ctx.filters.criteria(&id)?;
            raw(&logs::get_logs(chain, &filter, limits(ctx)).await?)
        }
        "eth_uninstallFilter" => {
            let p = Params::new(params, 1)?;
            let id: String = p.req(0)?;
            raw(&ctx.filters.uninstall(&id)?)
        }
        "eth_subscribe" | "eth_unsubscribe" => Err(RpcError::new(
            METHOD_NOT_FOUND,
            "notifications not supported: subscribe over WebSocket",
        )),
        m if is_state_method(m) => Err(RpcError::new(
            METHOD_NOT_FOUND,
            format!(
                "the method {m} is not available: histd serves history only (blocks, transactions, receipts, logs), not state or a transaction pool"
            ),
        )),
        m => Err(RpcError::no_method(m)),
    }
}

fn limits(ctx: &Ctx) -> Limits {
    Limits {
        max_logs: ctx.settings.max_logs,
        max_block_range: ctx.settings.max_block_range,
    }
}

async fn block_answer(
    chain: &Chain,
    b: Arc<StoredBlock>,
    full: bool,
) -> Result<Box<RawValue>, RpcError> {
    let senders = if full {
        Some(chain.senders(b.clone()).await?)
    } else {
        None
    };
    raw(&convert::rpc_block(&b, senders.as_deref()).map_err(RpcError::server)?)
}

async fn tx_answer(b: &Arc<StoredBlock>, index: usize) -> Result<Box<RawValue>, RpcError> {
    let txs = full_txs(b).map_err(RpcError::server)?;
    let Some(tx) = txs.get(index) else {
        return null();
    };
    let from = convert::recover_sender(tx).map_err(RpcError::server)?;
    let t: RpcTransaction = convert::rpc_transaction(b, index, tx, from);
    raw(&t)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::SERVED;

    /// The method names in README's "- Methods" bullet: backticked words with a namespace
    /// (`eth_`, `net_`, `web3_`); the bullet's other code words (`newHeads`, `logIndex`, paths)
    /// have none.
    fn readme_methods() -> Vec<String> {
        let readme = include_str!("../../README.md");
        let from = readme
            .find("\n- Methods")
            .expect("README lists the methods in a \"- Methods\" bullet")
            + 1;
        let to = readme[from + 1..]
            .find("\n- ")
            .map_or(readme.len(), |i| from + 1 + i);
        readme[from..to]
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|w| w.contains('_') && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn readme_lists_exactly_the_served_methods() {
        let served: BTreeSet<&str> = SERVED.iter().copied().collect();
        assert_eq!(served.len(), SERVED.len(), "SERVED repeats a method");
        let listed = readme_methods();
        let readme: BTreeSet<&str> = listed.iter().map(String::as_str).collect();
        assert_eq!(readme.len(), listed.len(), "README lists a method twice");
        assert_eq!(
            readme, served,
            "README's method list differs from histd::rpc::SERVED"
        );
    }
}
