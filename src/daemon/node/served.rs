//! What we announce follows what we hold: as sync stores blocks, every eth/69 peer is told our
//! new served range (`BlockRangeUpdate`), and a peer that connected with the range of the
//! Status we started with is told the current one.
//!
//! Owns [`ServedAnnouncer`]: the range last read from storage and which peers were told it. The
//! network worker ticks it about once a second with the count of blocks sync has stored; it reads
//! storage only when that grew by at least [`STEP`] blocks (geth announces every 32), since
//! fast-sync stores top-down and out of order (the range can grow at either end), and never
//! writes.

use std::collections::HashMap;

use crate::p2p::chain::ChainSpec;
use crate::p2p::eth::BlockRange;
use crate::p2p::pool::PoolHandle;
use crate::p2p::rlpx::PeerId;
use crate::storage::StoreHandle;

/// Blocks stored since the last read before the range is read (and announced) again.
pub const STEP: u64 = 32;

/// See the module doc.
#[derive(Debug)]
pub struct ServedAnnouncer {
    current: BlockRange,
    read_at: Option<u64>,
    told: HashMap<PeerId, BlockRange>,
}

impl ServedAnnouncer {
    /// Starts from the range our Status announces.
    pub fn new(initial: BlockRange) -> Self {
        Self {
            current: initial,
            read_at: None,
            told: HashMap::new(),
        }
    }

    /// Re-reads the range if `stored` (blocks stored by sync so far) grew enough, then tells
    /// every peer that has not heard the current range (new sessions included).
    pub async fn tick(
        &mut self,
        stored: u64,
        store: &StoreHandle,
        spec: &ChainSpec,
        pool: &PoolHandle,
    ) {
        let moved = stored > 0 && stored >= self.read_at.map_or(0, |r| r.saturating_add(STEP));
        if moved {
            let spec_owned = spec.clone();
            let read = store
                .read("reading the stored range", move |s| {
                    Ok::<_, std::convert::Infallible>(super::network::served_range(s, &spec_owned))
                })
                .await;
            if let Ok(range) = read {
                self.current = range;
                self.read_at = Some(stored);
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
