//! What we announce follows what we hold: as sync stores blocks, every eth/69 peer is told our
//! new served range (`BlockRangeUpdate`), a peer that connected with an older range is told the
//! current one, and the Status of each new session announces the current one. A rollback (follow's,
//! or the check of the stored tip at start) is announced at once: peers must not ask us for blocks
//! we dropped, nor take the abandoned tip for our head.
//!
//! Owns [`ServedAnnouncer`]: the range last read from storage, which peers were told it, and the
//! range new sessions' Status reads ([`PeerConfig::served_now`](crate::p2p::session::PeerConfig)).
//! The network worker ticks it about once a second with the count of blocks sync has stored; it
//! takes a new range when that grew by at least [`STEP`] blocks (geth announces every 32), since
//! fast-sync stores top-down and out of order (the range can grow at either end), or when the
//! stored tip moved and the announced latest block is no longer stored (a rollback). It never
//! writes storage.

use std::collections::HashMap;

use tokio::sync::watch;

use crate::p2p::chain::ChainSpec;
use crate::p2p::eth::BlockRange;
use crate::p2p::pool::PoolHandle;
use crate::p2p::rlpx::PeerId;
use crate::primitives::BlockNumber;
use crate::storage::{ReadError, Storage, StoreHandle};

/// Blocks stored since the last read before the range is read (and announced) again.
pub const STEP: u64 = 32;

/// See the module doc.
#[derive(Debug)]
pub struct ServedAnnouncer {
    current: BlockRange,
    read_at: Option<u64>,
    told: HashMap<PeerId, BlockRange>,
    /// What new sessions' Status announces; set with `current`.
    status: watch::Sender<BlockRange>,
    /// The stored tip as sync writes and rolls back (`NodeServices::stored_tip`).
    tip: watch::Receiver<Option<BlockNumber>>,
}

impl ServedAnnouncer {
    /// Starts from the range in `status` (what our Status announces so far); `tip` is the stored
    /// tip sync publishes.
    pub fn new(
        status: watch::Sender<BlockRange>,
        tip: watch::Receiver<Option<BlockNumber>>,
    ) -> Self {
        let current = *status.borrow();
        Self {
            current,
            read_at: None,
            told: HashMap::new(),
            status,
            tip,
        }
    }

    /// Takes the stored range if `stored` (blocks stored by sync so far) grew enough or a
    /// rollback dropped the announced tip, then tells every peer that has not heard the current
    /// range (new sessions included).
    pub async fn tick(
        &mut self,
        stored: u64,
        store: &StoreHandle,
        spec: &ChainSpec,
        pool: &PoolHandle,
    ) {
        let grew = stored > 0 && stored >= self.read_at.map_or(0, |r| r.saturating_add(STEP));
        // Every write moves the tip too: it is read each time (a few lookups at most once a
        // tick), but only a dropped tip is announced before `STEP`.
        let tip_moved = self.tip.has_changed().unwrap_or(false);
        if grew || tip_moved {
            self.tip.mark_unchanged();
            let (spec_owned, announced) = (spec.clone(), self.current);
            let read = store
                .read("reading the stored range", move |s| {
                    let range = super::network::served_range(s, &spec_owned);
                    Ok::<_, std::convert::Infallible>((range, dropped(s, announced)))
                })
                .await;
            if let Ok((range, dropped)) = read
                && (grew || dropped)
            {
                self.current = range;
                self.read_at = Some(stored);
                self.status.send_replace(range);
            }
        }
        if self.read_at.is_none() {
            // Nothing stored since our Status was built: every session announced this range.
            return;
        }
        let snapshot = pool.snapshot();
        self.told
            .retain(|id, _| snapshot.peers.iter().any(|p| p.id == *id));
        for p in &snapshot.peers {
            if self.told.get(&p.id) == Some(&self.current) {
                continue;
            }
            if let Some(lease) = pool.lease(p.id) {
                lease.session().update_served(self.current).await;
                self.told.insert(p.id, self.current);
            }
        }
    }
}

/// Whether storage no longer holds the latest block of `announced`: rolled back below it, or the
/// block at its number is another one (rolled back and refilled from another branch). Also true
/// for the genesis placeholder of a node that does not store block 0, whose first stored range
/// is then announced at once. A read error counts as held: the next change reads again.
fn dropped(storage: &Storage, announced: BlockRange) -> bool {
    let at_tip: Result<Option<_>, ReadError> = storage.block_hash(announced.latest);
    match at_tip {
        Ok(hash) => hash != Some(announced.latest_hash),
        Err(_) => false,
    }
}
