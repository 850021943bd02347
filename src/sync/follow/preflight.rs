//! The restart check: before a follow-mode node backfills, its stored tip is compared with the
//! chain a quorum of networks holds now. A reorg that happened while it was stopped left the top
//! of the store on an abandoned branch; fast-sync's anchored chain would then refuse to link to
//! it. Within `rollback_window` the store is rolled back to the common ancestor first; deeper, the
//! node must not guess: it says so and how to recover.
//!
//! Owns [`check_stored_tip`] only; the comparison is the probe's and the ancestor search's (a
//! quorum of distinct networks), the rollback is storage's. It never fetches block data.

use std::collections::BTreeMap;
use std::net::IpAddr;

use alloy_primitives::B256;
use tokio_util::sync::CancellationToken;

use super::ancestor::{self, Fork};
use super::{FollowError, record_reorg, too_deep_line};
use crate::p2p::pool::PoolHandle;
use crate::primitives::BlockNumber;
use crate::storage::{ReadError, StoreHandle};
use crate::sync::anchor;

/// What the check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preflight {
    /// Nothing stored, or the stored tip is on the peers' chain.
    OnChain,
    /// The top was on an abandoned branch and was rolled back to `ancestor`.
    RolledBack { ancestor: BlockNumber, depth: u64 },
    /// The peers' chain leaves ours deeper than `rollback_window` below the tip (at least
    /// `depth`): nothing was changed (recover with `histd db rollback --to N` below the fork,
    /// then restart).
    TooDeep { depth: u64, limit: u64 },
    /// Stopped while waiting for the peers.
    Cancelled,
}

/// Compares the stored tip with the hash `quorum` networks agree on for its number; on a
/// mismatch, finds the common ancestor within `rollback_window` and rolls back to it.
pub async fn check_stored_tip(
    store: &StoreHandle,
    pool: &PoolHandle,
    quorum: usize,
    rollback_window: u64,
    cancel: &CancellationToken,
) -> Result<Preflight, FollowError> {
    let stored = store
        .read("reading the stored tip", move |s| {
            let Some(tip) = s.last_contiguous()? else {
                return Ok::<_, ReadError>(None);
            };
            let lo = tip.get().saturating_sub(rollback_window);
            let mut known = BTreeMap::new();
            for n in lo..=tip.get() {
                if let Some(h) = s.block_hash(BlockNumber(n))? {
                    known.insert(n, h);
                }
            }
            Ok(Some((tip, known)))
        })
        .await?;
    let Some((tip, known)) = stored else {
        return Ok(Preflight::OnChain);
    };
    let ours = known.get(&tip.get()).copied().unwrap_or(B256::ZERO);
    // The peers' hash for our tip's number, agreed by a quorum (no checkpoint: those sit far
    // below any tip a reorg can touch).
    let Some(theirs) = anchor::resolve(pool, tip, &[], quorum, cancel).await else {
        return Ok(Preflight::Cancelled);
    };
    if theirs.hash == ours {
        return Ok(Preflight::OnChain);
    }
    let lo = known.keys().next().copied().unwrap_or(tip.get());
    let fork = loop {
        let peers = one_per_network(pool);
        if let Some(f) = ancestor::search(pool, &peers, &known, lo, tip.get(), quorum).await {
            break f;
        }
        tokio::select! {
            _ = cancel.cancelled() => return Ok(Preflight::Cancelled),
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
        }
    };
    match fork {
        Fork::Deeper => {
            let depth = tip.get() - lo + 1;
            too_deep_line(tip.get(), ours, lo, depth, rollback_window);
            Ok(Preflight::TooDeep {
                depth,
                limit: rollback_window,
            })
        }
        Fork::At(a) => {
            let depth = tip.get() - a;
            store
                .write("rolling back a reorg found at start", move |s| {
                    s.rollback_to(BlockNumber(a))
                })
                .await?;
            let ancestor_hash = known.get(&a).copied().unwrap_or_default();
            let new_head = pool.head_seen().map_or(tip.get(), BlockNumber::get);
            record_reorg((tip.get(), ours), (a, ancestor_hash), new_head, depth);
            Ok(Preflight::RolledBack {
                ancestor: BlockNumber(a),
                depth,
            })
        }
    }
}

/// Usable peers, one per network.
fn one_per_network(pool: &PoolHandle) -> Vec<crate::p2p::rlpx::PeerId> {
    let mut seen: Vec<IpAddr> = Vec::new();
    let mut out = Vec::new();
    for p in pool.snapshot().peers.iter().filter(|p| p.usable) {
        let net = pool.network_of(p.ip);
        if !seen.contains(&net) {
            seen.push(net);
            out.push(p.id);
        }
    }
    out
}
