//! Installed filters (`eth_newFilter`, `eth_newBlockFilter`, polled with `eth_getFilterChanges`),
//! as viem's watchers use them. Owns the table, the ids, what each filter has collected since its
//! last poll (fed from the [`ChainEvent`] feed, `removed: true` copies on a rollback) and expiry.
//! Bounded: at most `max_filters` filters, each holding at most [`MAX_PENDING`] items (past that it
//! is dropped and its next poll answers "filter not found", so the client reinstalls it).

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use alloy_primitives::{B256, keccak256};
use alloy_rpc_types_eth::{Filter, Log as RpcLog};

use super::convert::tx_hashes;
use super::envelope::RpcError;
use super::logs::Matcher;
use super::settings::ChainEvent;
use crate::storage::{StoredBlock, StoredBody, StoredTransactions};

/// Most items one filter collects between polls.
pub const MAX_PENDING: usize = 100_000;

/// Makes ids no other client can guess (filters and subscriptions are not scoped to a
/// connection over HTTP, so a guessable id would let anyone uninstall another's filter).
#[derive(Debug)]
pub struct IdGen {
    seed: u64,
    counter: AtomicU64,
}

impl Default for IdGen {
    fn default() -> Self {
        Self {
            seed: RandomState::new().hash_one(Instant::now()),
            counter: AtomicU64::new(0),
        }
    }
}

impl IdGen {
    /// A new id: `0x` and 32 hex digits, as geth's.
    pub fn next(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut buf = [0u8; 16];
        buf[..8].copy_from_slice(&self.seed.to_be_bytes());
        buf[8..].copy_from_slice(&n.to_be_bytes());
        let h = keccak256(buf);
        format!("0x{}", alloy_primitives::hex::encode(&h[..16]))
    }
}

/// What a filter is after.
#[derive(Debug, Clone)]
pub enum Kind {
    /// Logs matching a filter.
    Logs(Box<Filter>),
    /// New block hashes.
    Blocks,
}

/// What a poll returns.
#[derive(Debug)]
pub enum Changes {
    /// Logs (new, or removed by a rollback).
    Logs(Vec<RpcLog>),
    /// Hashes of new blocks.
    Hashes(Vec<B256>),
}

#[derive(Debug)]
struct Installed {
    kind: Kind,
    matcher: Option<Matcher>,
    last_poll: Instant,
    logs: Vec<RpcLog>,
    hashes: Vec<B256>,
}

/// The table of installed filters.
#[derive(Debug)]
pub struct Filters {
    table: Mutex<HashMap<String, Installed>>,
    ids: IdGen,
    max: usize,
    ttl: Duration,
}

fn poisoned() -> RpcError {
    RpcError::server("filter table unavailable")
}

impl Filters {
    /// An empty table.
    pub fn new(max: usize, ttl: Duration) -> Self {
        Self {
            table: Mutex::new(HashMap::new()),
            ids: IdGen::default(),
            max,
            ttl,
        }
    }

    /// Installs a filter; its id.
    pub fn install(&self, kind: Kind) -> Result<String, RpcError> {
        let mut t = self.table.lock().map_err(|_| poisoned())?;
        let now = Instant::now();
        t.retain(|_, f| now.duration_since(f.last_poll) < self.ttl);
        if t.len() >= self.max {
            return Err(RpcError::server(format!(
                "too many filters installed (at most {})",
                self.max
            )));
        }
        let id = self.ids.next();
        let matcher = match &kind {
            Kind::Logs(f) => Some(Matcher::new(f)),
            Kind::Blocks => None,
        };
        t.insert(
            id.clone(),
            Installed {
                kind,
                matcher,
                last_poll: now,
                logs: Vec::new(),
                hashes: Vec::new(),
            },
        );
        Ok(id)
    }

    /// Removes a filter; whether it existed.
    pub fn uninstall(&self, id: &str) -> Result<bool, RpcError> {
        let mut t = self.table.lock().map_err(|_| poisoned())?;
        Ok(t.remove(id).is_some())
    }

    /// What filter `id` collected since its last poll.
    pub fn poll(&self, id: &str) -> Result<Changes, RpcError> {
        let mut t = self.table.lock().map_err(|_| poisoned())?;
        let now = Instant::now();
        t.retain(|_, f| now.duration_since(f.last_poll) < self.ttl);
        let f = t
            .get_mut(id)
            .ok_or_else(|| RpcError::server("filter not found"))?;
        f.last_poll = now;
        Ok(match f.kind {
            Kind::Logs(_) => Changes::Logs(std::mem::take(&mut f.logs)),
            Kind::Blocks => Changes::Hashes(std::mem::take(&mut f.hashes)),
        })
    }

    /// The criteria of log filter `id` (for `eth_getFilterLogs`).
    pub fn criteria(&self, id: &str) -> Result<Filter, RpcError> {
        let mut t = self.table.lock().map_err(|_| poisoned())?;
        match t.get_mut(id) {
            Some(Installed {
                kind: Kind::Logs(f),
                last_poll,
                ..
            }) => {
                *last_poll = Instant::now();
                Ok((**f).clone())
            }
            _ => Err(RpcError::server("filter not found")),
        }
    }

    /// Hands a chain event to every filter.
    pub fn on_event(&self, event: &ChainEvent) {
        let Ok(mut t) = self.table.lock() else {
            return;
        };
        let (block, removed) = match event {
            ChainEvent::Added(b) => (b, false),
            ChainEvent::Removed(b) => (b, true),
        };
        let stored = stored_view(block);
        let mut hashes = None;
        let now = Instant::now();
        t.retain(|_, f| {
            if now.duration_since(f.last_poll) >= self.ttl {
                return false;
            }
            match (&f.kind, &f.matcher) {
                (Kind::Blocks, _) => {
                    if !removed {
                        f.hashes.push(block.hash());
                    }
                    f.hashes.len() <= MAX_PENDING
                }
                (Kind::Logs(filter), Some(m)) => {
                    if filter.matches_block_range(stored.header.number) {
                        let hs = hashes.get_or_insert_with(|| tx_hashes(&stored));
                        let logs =
                            crate::rpc::convert::block_logs(&stored, hs, removed, |l| m.matches(l));
                        f.logs.extend(logs);
                    }
                    f.logs.len() <= MAX_PENDING
                }
                (Kind::Logs(_), None) => false,
            }
        });
    }
}

/// A verified block seen as a stored one (the converters take stored blocks).
pub fn stored_view(block: &crate::primitives::VerifiedBlock) -> StoredBlock {
    let (header, hash, body, receipts) = block.clone().into_parts();
    StoredBlock {
        header,
        hash,
        body: StoredBody {
            transactions: StoredTransactions::Full(body.transactions),
            ommers: body.ommers,
            withdrawals: body.withdrawals,
        },
        receipts,
    }
}
