//! `histd db verify` of a transaction run (`run.rs`): a sealed shard a valid run covers has no
//! file of its own (`replace.rs`), so its transactions are checked in the run. Owns only that
//! check; it reads, never writes or removes anything.
//!
//! The run must be what merging its shards' files, rebuilt from their segments, writes: its
//! header as such a merge sets it, its body checksum, its entries strictly ascending, its
//! bucket table as its entries give it, and per covered shard the same set of entries as a
//! rebuild from that shard's stored transactions. Those together fix the body byte for byte
//! (a merge writes exactly the sorted set under that table). The sets are compared by count
//! and an order-independent digest, one shard rebuilt at a time, while the run is streamed
//! once: a run of mainnet's 64 shards is some 1.5 GB, never held in memory.

use super::file::{Entry, Header};
use super::run::{Covered, GROUP, TxRun};
use crate::primitives::BlockNumber;
use crate::storage::Storage;
use crate::storage::error::{ReadError, StorageError};
use crate::storage::index::SHARDS;

/// A run as the runs' cache keeps it (`open.rs`).
type KeptRun = std::sync::Arc<Option<TxRun>>;

/// A shard's entries as a count and a wrapping sum of mixed entries: equal sets give equal
/// digests whatever their order; a differing entry changes the sum but with chance 2^-64.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Digest {
    count: u64,
    sum: u64,
}

impl Digest {
    fn add(&mut self, e: &Entry) {
        self.count += 1;
        let packed = (u64::from(e.offset) << 32) | u64::from(e.index);
        self.sum = self.sum.wrapping_add(mix(mix(e.prefix) ^ packed));
    }
}

/// splitmix64's finalizer: every input bit moves every output bit.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Storage {
    /// The valid run covering sealed shard `shard`'s group, if its whole group is sealed and
    /// the run opens with a cover matching the rows.
    pub(super) fn covering_tx_run(
        &self,
        shard: u64,
    ) -> Result<Option<(Vec<Covered>, KeptRun)>, ReadError> {
        let Some(cover) = self.sealed_cover(super::run::group_of(shard))? else {
            return Ok(None);
        };
        Ok(self.tx_run(&cover).map(|run| (cover, run)))
    }

    /// Checks `run`, whose cover `cover` matches the sealed rows (module doc).
    pub(super) fn check_tx_run(&self, cover: &[Covered], run: &TxRun) -> Result<(), StorageError> {
        let first_shard = cover[0].shard;
        let first_block = self.geo.first_of(first_shard);
        let path = run.file.path().to_path_buf();
        let bad = |reason: String| StorageError::Verify {
            number: BlockNumber(first_block),
            reason: format!(
                "transaction run {} (shards {first_shard}..{}): {reason} (rebuild: delete the run \
                 and open the store)",
                path.display(),
                first_shard + GROUP
            ),
        };
        let header = run.file.header;
        let blocks = GROUP * self.geo.shard_size;
        let want = Header::for_entries(first_block, blocks as u32, u64::from(header.entries));
        if want.map(|w| (w.bucket_bits, w.first_block, w.blocks))
            != Some((header.bucket_bits, header.first_block, header.blocks))
        {
            return Err(bad("its header is not a merge's".into()));
        }
        let size = self.geo.shard_size;
        let mut digests = vec![Digest::default(); GROUP as usize];
        let mut counts = vec![0u32; header.buckets()];
        let mut previous: Option<Entry> = None;
        let mut disorder = false;
        let mut outside = false;
        run.file
            .scan_entries(|e| {
                disorder |= previous.is_some_and(|p| p >= e);
                previous = Some(e);
                counts[header.bucket(e.prefix)] += 1;
                let i = u64::from(e.offset) / size;
                match digests.get_mut(i as usize) {
                    Some(d) => d.add(&Entry {
                        offset: (u64::from(e.offset) % size) as u32,
                        ..e
                    }),
                    None => outside = true,
                }
            })
            .map_err(|e| bad(e.to_string()))?;
        if disorder || outside {
            return Err(bad(
                "its entries are out of order or outside its blocks".into()
            ));
        }
        if !run
            .file
            .buckets_match(&counts)
            .map_err(|e| bad(e.to_string()))?
        {
            return Err(bad("its bucket table disagrees with its entries".into()));
        }
        let txn = self.read_txn()?;
        let shards = txn.open_table(SHARDS).map_err(ReadError::from)?;
        for (c, got) in cover.iter().zip(&digests) {
            let Some(row) = self.row::<ReadError>(&shards, c.shard)? else {
                return Err(bad(format!("shard {} has no row", c.shard)));
            };
            let mut want = Digest::default();
            for e in self.shard_tx_entries(c.shard, &row)? {
                want.add(&e);
            }
            if want != *got {
                return Err(bad(format!(
                    "shard {}'s entries ({}) differ from its transactions ({})",
                    c.shard, got.count, want.count
                )));
            }
        }
        Ok(())
    }
}
