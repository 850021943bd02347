//! `eth_getLogs` as geth answers it: the block range from tags or a block hash (with geth's
//! errors for reversed, future and pending ranges), positional topic matching, block-wide
//! `logIndex`, and the -32005 answer over `max_logs` whose suggested range is the largest that
//! really fits (Ponder and rindexer keep the first range they are told).
//!
//! The search is storage's (`Storage::find_logs`): the log index of sealed shards, header blooms
//! for the unsealed tail; it counts matches before decoding any, so an answer over the limit costs
//! no decoding. Never truncates an answer silently and never writes.

use alloy_eips::BlockNumberOrTag;
use alloy_primitives::Bloom;
use alloy_rpc_types_eth::{BloomFilter, Filter, FilterBlockOption, Log as RpcLog};
use serde_json::{Value, json};

use super::chain::Chain;
use super::convert::{block_logs, tx_hashes};
use super::envelope::{LIMIT_EXCEEDED, RpcError};
use crate::primitives::BlockNumber;
use crate::storage::{FoundLog, LogQuery, LogSearch, StoredBlock};

/// Address and topic criteria of a filter, with their bloom pre-filters computed once.
#[derive(Debug, Clone)]
pub struct Matcher {
    filter: Filter,
    address_bloom: BloomFilter,
    topic_blooms: Vec<BloomFilter>,
}

impl Matcher {
    /// The criteria of `filter` (its block option is ignored here).
    pub fn new(filter: &Filter) -> Self {
        Self {
            address_bloom: filter.address_bloom_filter().into_owned(),
            topic_blooms: filter
                .topics_bloom_filter()
                .iter()
                .map(|b| b.clone().into_owned())
                .collect(),
            filter: filter.clone(),
        }
    }

    /// Whether a block with this header bloom may hold a matching log.
    pub fn may_match(&self, bloom: Bloom) -> bool {
        self.address_bloom.matches(bloom) && self.topic_blooms.iter().all(|t| t.matches(bloom))
    }

    /// The criteria as storage's log query.
    pub fn query(&self) -> LogQuery {
        LogQuery {
            addresses: self.filter.address.iter().copied().collect(),
            topics: self
                .filter
                .topics
                .iter()
                .map(|t| t.iter().copied().collect())
                .collect(),
        }
    }

    /// Whether `log` matches.
    pub fn matches(&self, log: &alloy_primitives::Log) -> bool {
        self.filter.matches_address(log.address) && self.filter.matches_topics(log.topics())
    }

    /// The matching logs of `block`.
    pub fn block_logs(&self, block: &StoredBlock, removed: bool) -> Vec<RpcLog> {
        if !self.may_match(block.header.logs_bloom) {
            return Vec::new();
        }
        block_logs(block, &tx_hashes(block), removed, |l| self.matches(l))
    }
}

/// Reads the filter argument, with geth's words for a block hash given with a range.
pub fn parse_filter(raw: &Value) -> Result<Filter, RpcError> {
    if let Value::Object(obj) = raw {
        for k in ["fromBlock", "toBlock"] {
            if let Some(v) = obj.get(k) {
                super::params::check_quantity(0, v)?;
            }
        }
        let set = |k: &str| obj.get(k).is_some_and(|v| !v.is_null());
        if set("blockHash") && (set("fromBlock") || set("toBlock")) {
            return Err(RpcError::invalid_params(
                "invalid argument 0: cannot specify both BlockHash and FromBlock/ToBlock, choose one or the other",
            ));
        }
    }
    serde_json::from_value(raw.clone())
        .map_err(|e| RpcError::invalid_params(format!("invalid argument 0: {e}")))
}

/// Where a log query looks.
pub enum Target {
    /// One block, named by hash.
    Block(Box<StoredBlock>),
    /// `from ..= to`, resolved and checked.
    Range(u64, u64),
}

/// Resolves a filter's block option as geth does.
pub async fn resolve(chain: &Chain, filter: &Filter) -> Result<Target, RpcError> {
    match filter.block_option {
        FilterBlockOption::AtBlockHash(hash) => match chain.block_by_hash(hash).await? {
            Some(b) => Ok(Target::Block(Box::new((*b).clone()))),
            None => Err(RpcError::server("unknown block")),
        },
        FilterBlockOption::Range {
            from_block,
            to_block,
        } => {
            let from = from_block.unwrap_or(BlockNumberOrTag::Latest);
            let to = to_block.unwrap_or(BlockNumberOrTag::Latest);
            if from.is_pending() || to.is_pending() {
                return Err(RpcError::server("pending logs are not supported"));
            }
            if let (Some(f), Some(t)) = (from.as_number(), to.as_number())
                && f > t
            {
                return Err(RpcError::server("invalid block range params"));
            }
            let head = chain.head().number.get();
            let (f, t) = (chain.resolve(from).await?, chain.resolve(to).await?);
            if t > head {
                return Err(RpcError::invalid_params(
                    "block range extends beyond current head block",
                ));
            }
            if f > t {
                return Err(RpcError::invalid_params("invalid block range params"));
            }
            Ok(Target::Range(f, t))
        }
    }
}

/// The -32005 answer with a suggested range.
fn limit_error(message: String, from: u64, to: u64, limit: u64) -> RpcError {
    RpcError {
        code: LIMIT_EXCEEDED,
        message: format!("{message} Try with this block range [{from:#x}, {to:#x}]."),
        data: Some(
            json!({ "from": format!("{from:#x}"), "to": format!("{to:#x}"), "limit": limit }),
        ),
    }
}

/// Limits of one query.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most logs in an answer.
    pub max_logs: u64,
    /// Most blocks in a range (0: no cap).
    pub max_block_range: u64,
}

/// Runs a query: the logs matching `filter`, in block and log order.
pub async fn get_logs(
    chain: &Chain,
    filter: &Filter,
    limits: Limits,
) -> Result<Vec<RpcLog>, RpcError> {
    let matcher = Matcher::new(filter);
    match resolve(chain, filter).await? {
        Target::Block(block) => {
            let logs = matcher.block_logs(&block, false);
            if logs.len() as u64 > limits.max_logs {
                let n = block.header.number;
                return Err(too_many(n, n, limits.max_logs));
            }
            Ok(logs)
        }
        Target::Range(from, to) => logs_in_range(chain, matcher, from, to, limits).await,
    }
}

/// The matching logs of `from ..= to` (all stored, or an error naming what is not).
pub async fn logs_in_range(
    chain: &Chain,
    matcher: Matcher,
    from: u64,
    to: u64,
    limits: Limits,
) -> Result<Vec<RpcLog>, RpcError> {
    let span = to - from + 1;
    if limits.max_block_range != 0 && span > limits.max_block_range {
        return Err(limit_error(
            format!(
                "query exceeds the block range limit of {} blocks.",
                limits.max_block_range
            ),
            from,
            // Saturating: settings built by hand may say 0 blocks or nearly u64::MAX.
            from.saturating_add(limits.max_block_range.saturating_sub(1)),
            limits.max_logs,
        ));
    }
    let query = matcher.query();
    let found = chain
        .read("searching logs", move |s| {
            s.find_logs(&query, BlockNumber(from), BlockNumber(to), limits.max_logs)
        })
        .await?;
    match found {
        LogSearch::Found(logs) => Ok(logs.into_iter().map(rpc_log).collect()),
        LogSearch::TooMany { over_at } => Err(too_many(from, over_at, limits.max_logs)),
        LogSearch::Missing(n) => {
            let below = chain.lowest().await?.is_none_or(|low| n < low);
            Err(if below {
                RpcError::pruned()
            } else {
                RpcError::server(format!("block {n} is not stored on this node"))
            })
        }
    }
}

/// The -32005 answer when the running count passes `limit` at block `over_at`: every block
/// before it fits, so `[from, over_at - 1]` is the largest range from `from` that does. When
/// `from` alone holds more, no range fits; the hint is then `[from, from]` and the message says
/// that block alone exceeds the limit (a client narrowing by topic or address can still page it;
/// one shrinking the range would loop, so it is told).
fn too_many(from: u64, over_at: u64, limit: u64) -> RpcError {
    if over_at > from {
        return limit_error(
            format!("query returned more than {limit} results."),
            from,
            over_at - 1,
            limit,
        );
    }
    let mut e = limit_error(
        format!("query returned more than {limit} results."),
        from,
        from,
        limit,
    );
    e.message = format!(
        "{} Block {from:#x} alone has more than {limit} matching logs; narrow the address or topics.",
        e.message
    );
    e
}

/// A found log in the RPC shape.
fn rpc_log(l: FoundLog) -> RpcLog {
    RpcLog {
        inner: l.log,
        block_hash: Some(l.block_hash),
        block_number: Some(l.block_number),
        block_timestamp: Some(l.block_timestamp),
        transaction_hash: Some(l.tx_hash),
        transaction_index: Some(l.tx_index),
        log_index: Some(l.log_index),
        removed: false,
    }
}
