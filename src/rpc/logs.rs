//! `eth_getLogs` as geth answers it: the block range from tags or a block hash (with geth's
//! errors for reversed, future and pending ranges), positional topic matching, block-wide
//! `logIndex`, and the -32005 answer over `max_logs` whose suggested range is the largest that
//! really fits (Ponder and rindexer keep the first range they are told).
//!
//! The scan is correct before it is fast: header blooms pick candidate blocks, then only those
//! blocks are decoded (DESIGN §7's log index replaces the bloom pass later). Never truncates an
//! answer silently and never writes.

use std::ops::ControlFlow;

use alloy_eips::BlockNumberOrTag;
use alloy_primitives::Bloom;
use alloy_rpc_types_eth::{BloomFilter, Filter, FilterBlockOption, Log as RpcLog};
use serde_json::{Value, json};

use super::chain::Chain;
use super::convert::{block_logs, tx_hashes};
use super::envelope::{LIMIT_EXCEEDED, RpcError};
use crate::primitives::BlockNumber;
use crate::storage::{ReadError, Storage, StoredBlock};

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
    /// Most blocks in a range.
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
                return Err(limit_error(
                    format!("query returned more than {} results.", limits.max_logs),
                    n,
                    n,
                    limits.max_logs,
                ));
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
    if span > limits.max_block_range {
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
    chain
        .read("scanning logs", move |s| {
            scan(s, &matcher, from, to, limits)
        })
        .await?
}

fn scan(
    s: &Storage,
    matcher: &Matcher,
    from: u64,
    to: u64,
    limits: Limits,
) -> Result<Result<Vec<RpcLog>, RpcError>, ReadError> {
    // Pass 1: header blooms pick the candidate blocks and prove every block is held.
    let mut candidates = Vec::new();
    let mut expected = from;
    let mut missing = None;
    s.scan_headers(BlockNumber(from), BlockNumber(to), |n, _, h| {
        if n.get() != expected {
            missing = Some(expected);
            return ControlFlow::Break(());
        }
        expected += 1;
        if matcher.may_match(h.logs_bloom) {
            candidates.push(n.get());
        }
        ControlFlow::Continue(())
    })?;
    if missing.is_none() && expected != to.wrapping_add(1) {
        missing = Some(expected);
    }
    if let Some(n) = missing {
        let below = s.lowest()?.is_none_or(|low| n < low.get());
        return Ok(Err(if below {
            RpcError::pruned()
        } else {
            RpcError::server(format!("block {n} is not stored on this node"))
        }));
    }
    // Pass 2: decode the candidates only.
    let mut out: Vec<RpcLog> = Vec::new();
    for n in candidates {
        let Some(block) = s.stored_block(BlockNumber(n))? else {
            // Removed since pass 1 (a rollback): geth answers from one view; so do we.
            return Ok(Err(RpcError::server(format!(
                "block {n} was removed while reading; retry"
            ))));
        };
        let logs = matcher.block_logs(&block, false);
        if (out.len() + logs.len()) as u64 > limits.max_logs {
            // Every block before `n` fits: that is the largest range starting at `from`.
            let hint_to = if n > from { n - 1 } else { from };
            return Ok(Err(limit_error(
                format!("query returned more than {} results.", limits.max_logs),
                from,
                hint_to,
                limits.max_logs,
            )));
        }
        out.extend(logs);
    }
    Ok(Ok(out))
}
