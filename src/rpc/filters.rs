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

/// Expired filters are swept at most this often (geth sweeps on a timer too): sweeping on every
/// install and poll made installing n filters cost O(n²).
const SWEEP_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct Table {
    map: HashMap<String, Installed>,
    last_sweep: Instant,
}

impl Table {
    /// Drops filters nobody polled within `ttl`, unless that was done less than [`SWEEP_EVERY`] ago.
    fn sweep(&mut self, now: Instant, ttl: Duration) {
        if now.duration_since(self.last_sweep) >= SWEEP_EVERY {
            self.map
                .retain(|_, f| now.duration_since(f.last_poll) < ttl);
            self.last_sweep = now;
        }
    }

    /// Filter `id` if it is installed and not expired (an expired one is removed here, so its
    /// expiry never waits for a sweep).
    fn live(&mut self, id: &str, now: Instant, ttl: Duration) -> Option<&mut Installed> {
        if self
            .map
            .get(id)
            .is_some_and(|f| now.duration_since(f.last_poll) >= ttl)
        {
            self.map.remove(id);
        }
        self.map.get_mut(id)
    }
}

/// The table of installed filters.
#[derive(Debug)]
pub struct Filters {
    table: Mutex<Table>,
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
            table: Mutex::new(Table {
                map: HashMap::new(),
                last_sweep: Instant::now(),
            }),
            ids: IdGen::default(),
            max,
            ttl,
        }
    }

    /// Installs a filter; its id.
    pub fn install(&self, kind: Kind) -> Result<String, RpcError> {
        let mut t = self.table.lock().map_err(|_| poisoned())?;
        let now = Instant::now();
        t.sweep(now, self.ttl);
        if t.map.len() >= self.max {
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
        t.map.insert(
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
        Ok(t.map.remove(id).is_some())
    }

    /// What filter `id` collected since its last poll.
    pub fn poll(&self, id: &str) -> Result<Changes, RpcError> {
        let mut t = self.table.lock().map_err(|_| poisoned())?;
        let now = Instant::now();
        let f = t
            .live(id, now, self.ttl)
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
        let now = Instant::now();
        match t.live(id, now, self.ttl) {
            Some(Installed {
                kind: Kind::Logs(f),
                last_poll,
                ..
            }) => {
                *last_poll = now;
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
        t.map.retain(|_, f| {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn not_found(r: Result<impl std::fmt::Debug, RpcError>) -> bool {
        matches!(r, Err(e) if e.message == "filter not found")
    }

    #[test]
    fn a_filter_not_polled_within_the_ttl_is_gone() {
        let ttl = Duration::from_millis(300);
        let filters = Filters::new(10, ttl);
        let idle = filters.install(Kind::Blocks).unwrap();
        let logs = filters.install(Kind::Logs(Box::default())).unwrap();
        // `logs` is kept alive by its polls; `idle` expires although no sweep ran yet.
        for _ in 0..4 {
            std::thread::sleep(ttl / 3);
            filters.criteria(&logs).unwrap();
        }
        assert!(not_found(filters.poll(&idle)));
        assert!(matches!(filters.poll(&logs), Ok(Changes::Logs(_))));
        std::thread::sleep(ttl);
        assert!(not_found(filters.criteria(&logs)));
    }

    #[test]
    fn expired_filters_free_their_slots_within_a_sweep_interval() {
        let ttl = Duration::from_millis(200);
        let filters = Filters::new(1, ttl);
        filters.install(Kind::Blocks).unwrap();
        let over = filters.install(Kind::Blocks);
        assert!(
            matches!(&over, Err(e) if e.message.contains("too many filters")),
            "{over:?}"
        );
        // Never polled again: the sweep, not a poll, removes it.
        std::thread::sleep(ttl + SWEEP_EVERY);
        filters.install(Kind::Blocks).unwrap();
    }
}
