//! Write paths that add blocks: `put_unordered` (fast-sync, any order, into the WAL),
//! `append_sorted` (follow mode, the next block only), `seal`, and `set_head_seen`.
//!
//! Every write: encode outside the lock → take the writer lock → write shard bytes → fsync →
//! one redb commit (the commit point). It must never commit before the bytes it names are durable.

use alloy_primitives::B256;
use redb::{ReadableDatabase, ReadableTable, Table};

use super::Storage;
use super::error::WriteError;
use super::fsio;
use super::index::{self, BLOCK_HASHES, META, SHARDS, TX_BLOCKS, key};
use super::layout::ShardRow;
use super::log_index::tx_hashes;
use super::read::ShardFiles;
use super::record::{self, EncodedBlock};
use super::segment::{self, SegmentWriter};
use super::shard::{ShardState, seg_data_path, seg_index_path, shard_dir};
use super::tx_index;
use super::wal::WalAppender;
use crate::primitives::{BlockNumber, VerifiedBlock};

/// What a `put_unordered` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PutOutcome {
    /// Blocks newly stored.
    pub stored: usize,
    /// Blocks already stored (identical), skipped.
    pub duplicates: usize,
}

/// A verified block already encoded and compressed into its stored form (see `record.rs`), so
/// callers can do that CPU work on their own threads, off the writer lock and the async runtime.
#[derive(Debug, Clone)]
pub struct PreparedBlock(EncodedBlock);

impl PreparedBlock {
    /// Encodes and compresses a block (pure CPU work, any thread; [`Storage::prepare`] with the
    /// store's retention).
    pub fn new(block: &VerifiedBlock, retention: record::Retention) -> Self {
        Self(record::encode(block, retention))
    }

    /// Block number.
    pub fn number(&self) -> BlockNumber {
        BlockNumber(self.0.number)
    }

    /// Bytes it will occupy (its three compressed frames).
    pub fn stored_len(&self) -> u64 {
        self.0.lens().total()
    }
}

impl Storage {
    /// Encodes and compresses a block for [`Self::put_prepared`] (pure CPU work, any thread).
    pub fn prepare(&self, block: &VerifiedBlock) -> PreparedBlock {
        let _cpu = crate::stage_cpu::Stage::Compress.timer();
        PreparedBlock::new(block, self.retention)
    }

    /// Stores verified blocks in any order (fast-sync). Blocks already stored are skipped; a
    /// different block at a stored height is a [`WriteError::Conflict`] and nothing is written.
    /// One fsync per touched WAL, then one redb commit.
    pub fn put_unordered(&self, blocks: &[VerifiedBlock]) -> Result<PutOutcome, WriteError> {
        self.put_prepared(blocks.iter().map(|b| self.prepare(b)).collect())
    }

    /// [`Self::put_unordered`] for blocks already prepared with [`Self::prepare`].
    pub fn put_prepared(&self, blocks: Vec<PreparedBlock>) -> Result<PutOutcome, WriteError> {
        let _cpu = crate::stage_cpu::Stage::DiskWrite.timer();
        let mut encoded: Vec<EncodedBlock> = blocks.into_iter().map(|p| p.0).collect();
        encoded.sort_by_key(|e| e.number);
        let _w = self.write_lock();
        let mut outcome = PutOutcome::default();
        let txn = self.db.begin_write()?;
        {
            let mut shards = txn.open_table(SHARDS)?;
            let mut hashes = txn.open_table(BLOCK_HASHES)?;
            let mut txs = txn.open_table(TX_BLOCKS)?;
            let mut meta = txn.open_table(META)?;
            let mut lowest_new: Option<u64> = None;
            // The seal's transaction hashes, beside each shard (derived, best effort).
            let mut side = tx_hashes::Batch::default();
            let mut start = 0;
            while start < encoded.len() {
                let shard = self.geo.shard_of(encoded[start].number);
                let end = encoded[start..]
                    .iter()
                    .position(|e| self.geo.shard_of(e.number) != shard)
                    .map_or(encoded.len(), |k| start + k);
                let group = &encoded[start..end];
                start = end;
                let existing = self.row::<WriteError>(&shards, shard)?;
                let mut row = existing
                    .clone()
                    .unwrap_or_else(|| ShardRow::new(ShardState::Empty, self.geo.shard_size));
                let mut fresh: Vec<&EncodedBlock> = Vec::new();
                for e in group {
                    let pos = self.geo.pos_of(e.number);
                    let dup_in_batch = fresh.last().is_some_and(|p| p.number == e.number);
                    if row.has(pos) || dup_in_batch {
                        let same = if dup_in_batch {
                            fresh.last().is_some_and(|p| p.hash == e.hash)
                        } else {
                            index::block_number(&hashes, &e.hash)? == Some(e.number)
                        };
                        if !same {
                            let stored = if dup_in_batch {
                                fresh.last().map_or(B256::ZERO, |p| p.hash)
                            } else {
                                self.stored_hash(&shards, e.number)?
                            };
                            return Err(WriteError::Conflict {
                                number: BlockNumber(e.number),
                                stored,
                                offered: e.hash,
                            });
                        }
                        outcome.duplicates += 1;
                        continue;
                    }
                    fresh.push(e);
                }
                if fresh.is_empty() {
                    continue;
                }
                self.check_transition(shard, row.state, ShardState::Filling)?;
                let first = self.geo.first_of(shard);
                let dir = shard_dir(&self.dir, first);
                fsio::create_dir_durable(&*self.fs, &dir)?;
                let mut wal = WalAppender::open(&*self.fs, &dir, first, row.wal_len)?;
                let wal_path = wal.path().to_path_buf();
                let append_all = || -> Result<u64, WriteError> {
                    for e in &fresh {
                        wal.append(e)?;
                        row.set(self.geo.pos_of(e.number));
                        index_block(&mut hashes, &mut txs, e)?;
                        lowest_new = Some(lowest_new.map_or(e.number, |l: u64| l.min(e.number)));
                    }
                    Ok(wal.sync()?)
                };
                // A failed append (a full disk) leaves bytes past the committed length that no
                // commit will reference: the next open truncates them. Say so, so later commits
                // of this store (the peer cache, the next try) are not held to syncing them.
                row.wal_len = append_all().inspect_err(|_| fsio::abandon(&[&wal_path]))?;
                for e in &fresh {
                    side.push(&*self.fs, &dir, e);
                }
                side.flush(&*self.fs);
                row.state = ShardState::Filling;
                shards.insert(shard, row.encode().as_slice())?;
                outcome.stored += fresh.len();
            }
            if let Some(n) = lowest_new {
                self.update_contiguity(&mut meta, &shards, n)?;
            }
        }
        self.commit(txn)?;
        Ok(outcome)
    }

    /// Appends the block after [`Self::last_contiguous`] (follow mode). It must be exactly the next
    /// number and link to the stored tip by parent hash. An empty store accepts any block.
    pub fn append_sorted(&self, block: &VerifiedBlock) -> Result<(), WriteError> {
        self.append_sorted_many(&[block])
    }

    /// Appends `blocks`, in order, after [`Self::last_contiguous`] (follow mode), each exactly
    /// the next number and linked by parent hash to the one before (the first to the stored tip;
    /// an empty store accepts any first block). One commit for all of them, after one fsync per
    /// segment touched: catching up block by block would pay the fsyncs per block. Nothing is
    /// committed if any block is refused.
    pub fn append_sorted_many(&self, blocks: &[&VerifiedBlock]) -> Result<(), WriteError> {
        let encoded: Vec<EncodedBlock> = blocks
            .iter()
            .map(|b| record::encode(b, self.retention))
            .collect();
        let _w = self.write_lock();
        let txn = self.db.begin_write()?;
        {
            let mut shards = txn.open_table(SHARDS)?;
            let mut hashes = txn.open_table(BLOCK_HASHES)?;
            let mut txs = txn.open_table(TX_BLOCKS)?;
            let mut meta = txn.open_table(META)?;
            // The segment tail being appended to, kept open across blocks of its shard and
            // fsynced when the batch leaves the shard or ends (before the commit).
            let mut tail: Option<(u64, SegmentWriter)> = None;
            let mut prev: Option<(u64, B256)> = None;
            // The seal's transaction hashes, beside each shard (derived, best effort).
            let mut side = tx_hashes::Batch::default();
            for e in &encoded {
                let tip = match prev {
                    Some((n, h)) => Some((n, h)),
                    None => match index::meta_u64(&meta, key::CONTIG)? {
                        Some(t) => Some((t, self.stored_hash(&shards, t)?)),
                        None => None,
                    },
                };
                if let Some((tip, tip_hash)) = tip {
                    let expected = BlockNumber(tip).next();
                    if e.number != expected.get() {
                        return Err(WriteError::NotNext {
                            expected,
                            got: BlockNumber(e.number),
                        });
                    }
                    if e.parent_hash != tip_hash {
                        return Err(WriteError::NotLinked {
                            number: BlockNumber(e.number),
                            expected: tip_hash,
                            got: e.parent_hash,
                        });
                    }
                }
                prev = Some((e.number, e.hash));
                let shard = self.geo.shard_of(e.number);
                let pos = self.geo.pos_of(e.number);
                let first = self.geo.first_of(shard);
                let dir = shard_dir(&self.dir, first);
                if tail.as_ref().is_some_and(|(s, _)| *s != shard)
                    && let Some((_, w)) = tail.take()
                {
                    w.finish()?;
                }
                let mut row = self
                    .row::<WriteError>(&shards, shard)?
                    .unwrap_or_else(|| ShardRow::new(ShardState::Empty, self.geo.shard_size));
                if row.has(pos) {
                    // Present but beyond the contiguous tip: only possible if contiguity is stale.
                    return Err(WriteError::Conflict {
                        number: BlockNumber(e.number),
                        stored: self.stored_hash(&shards, e.number)?,
                        offered: e.hash,
                    });
                }
                let is_tail = match row.state {
                    ShardState::Empty => true,
                    ShardState::Sorted => u64::from(row.seg_entries) <= pos,
                    _ => false,
                };
                let frames = [&e.header[..], &e.txs[..], &e.receipts[..]].concat();
                if is_tail {
                    self.check_transition(shard, row.state, ShardState::Sorted)?;
                    let w = match tail.as_mut() {
                        Some((_, w)) => w,
                        None => {
                            let w = if row.state == ShardState::Empty {
                                fsio::create_dir_durable(&*self.fs, &dir)?;
                                row.seg_gen = 1;
                                let w = SegmentWriter::create(
                                    &*self.fs,
                                    seg_data_path(&dir, 1),
                                    seg_index_path(&dir, 1),
                                    first,
                                )?;
                                fsio::fsync_dir(&*self.fs, &dir)?;
                                w
                            } else {
                                SegmentWriter::append_to(
                                    &*self.fs,
                                    &dir,
                                    row.seg_gen,
                                    row.seg_data_len,
                                    u64::from(row.seg_entries),
                                )?
                            };
                            &mut tail.insert((shard, w)).1
                        }
                    };
                    w.push(pos, e.lens(), &frames, e.crc(), e.hash)?;
                    let (data_len, entries) = w.written();
                    row.seg_data_len = data_len;
                    row.seg_entries = entries as u32;
                    row.state = ShardState::Sorted;
                } else {
                    self.check_transition(shard, row.state, ShardState::Filling)?;
                    let mut wal = WalAppender::open(&*self.fs, &dir, first, row.wal_len)?;
                    wal.append(e)?;
                    row.wal_len = wal.sync()?;
                    row.state = ShardState::Filling;
                }
                row.set(pos);
                index_block(&mut hashes, &mut txs, e)?;
                shards.insert(shard, row.encode().as_slice())?;
                self.update_contiguity(&mut meta, &shards, e.number)?;
                side.push(&*self.fs, &dir, e);
            }
            // Durable before the commit that names their lengths.
            if let Some((_, w)) = tail.take() {
                w.finish()?;
            }
            side.flush(&*self.fs);
        }
        self.commit(txn)?;
        Ok(())
    }

    /// Records the highest head reported by peers; never moves it backwards.
    pub fn set_head_seen(&self, n: BlockNumber) -> Result<(), WriteError> {
        let _w = self.write_lock();
        let txn = self.db.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            if index::meta_u64(&meta, key::HEAD_SEEN)?.is_some_and(|h| h >= n.get()) {
                return Ok(());
            }
            meta.insert(key::HEAD_SEEN, &n.get().to_le_bytes()[..])?;
        }
        self.commit(txn)?;
        Ok(())
    }

    /// Persists the peer pool's cache (opaque bytes: the p2p layer owns their format).
    pub fn set_peer_cache(&self, bytes: &[u8]) -> Result<(), WriteError> {
        let _w = self.write_lock();
        let txn = self.db.begin_write()?;
        txn.open_table(META)?.insert(key::PEER_CACHE, bytes)?;
        self.commit(txn)?;
        Ok(())
    }

    /// Persists the peer pool's temporary bans (opaque bytes: the p2p layer owns their format).
    pub fn set_peer_bans(&self, bytes: &[u8]) -> Result<(), WriteError> {
        let _w = self.write_lock();
        let txn = self.db.begin_write()?;
        txn.open_table(META)?.insert(key::PEER_BANS, bytes)?;
        self.commit(txn)?;
        Ok(())
    }

    /// Seals a complete shard (compacting it first if needed): checksums its segment and makes it
    /// immutable. Returns whether it was sealed now (`false`: already sealed).
    pub fn seal(&self, shard: u64) -> Result<bool, WriteError> {
        let _w = self.write_lock();
        self.seal_locked(shard)
    }

    /// Seals every complete shard whose last block is at or below `up_to` (keep `up_to` below the
    /// reorg window: sealed shards cannot be rolled back). Returns the shards sealed.
    pub fn seal_complete(&self, up_to: BlockNumber) -> Result<Vec<u64>, WriteError> {
        let _w = self.write_lock();
        let candidates: Vec<u64> = {
            let txn = self.db.begin_read()?;
            let shards = txn.open_table(SHARDS)?;
            let mut out = Vec::new();
            for item in shards.range(0u64..)? {
                let (k, _) = item?;
                let s = k.value();
                let last = self.geo.last_of(s);
                if last > up_to.get() {
                    break;
                }
                if let Some(row) = self.row::<WriteError>(&shards, s)?
                    && row.state != ShardState::Sealed
                    && u64::from(row.present) == self.geo.shard_size
                {
                    out.push(s);
                }
            }
            out
        };
        let mut sealed = Vec::new();
        for s in candidates {
            if self.seal_locked(s)? {
                sealed.push(s);
            }
        }
        Ok(sealed)
    }

    fn seal_locked(&self, shard: u64) -> Result<bool, WriteError> {
        let _cpu = crate::stage_cpu::Stage::Compaction.timer();
        let row = self.read_row(shard)?;
        let Some(mut row) = row else {
            return Err(WriteError::Incomplete {
                shard,
                present: 0,
                size: self.geo.shard_size,
            });
        };
        if row.state == ShardState::Sealed {
            return Ok(false);
        }
        if u64::from(row.present) != self.geo.shard_size {
            return Err(WriteError::Incomplete {
                shard,
                present: u64::from(row.present),
                size: self.geo.shard_size,
            });
        }
        if row.state.awaits_compaction() {
            self.compact_locked(shard)?;
            row = self.read_row(shard)?.ok_or(WriteError::Incomplete {
                shard,
                present: 0,
                size: self.geo.shard_size,
            })?;
        }
        self.check_transition(shard, row.state, ShardState::Sealed)?;
        let dir = shard_dir(&self.dir, self.geo.first_of(shard));
        row.seal_crc = segment::checksum(
            &*self.fs,
            &dir,
            row.seg_gen,
            row.seg_data_len,
            u64::from(row.seg_entries),
        )?;
        // The index is durable under its final name before the row says Sealed (readers trust
        // a Sealed shard's index; a crash before the commit leaves one that open removes).
        let stats = self.write_log_index(shard, &row)?;
        let started = std::time::Instant::now();
        let tx_bytes = self.write_tx_index(shard, &row)?;
        let tx_ms = started.elapsed().as_millis() as u64;
        tracing::debug!(
            shard,
            ?stats,
            tx_bytes,
            tx_ms,
            "log and transaction indexes written"
        );
        row.state = ShardState::Sealed;
        // One commit marks the shard Sealed and hands its transactions from the tail table to
        // the file: a lookup sees them in exactly one of the two.
        let txn = self.db.begin_write()?;
        txn.open_table(SHARDS)?
            .insert(shard, row.encode().as_slice())?;
        let range = self.geo.first_of(shard)..=self.geo.last_of(shard);
        txn.open_table(TX_BLOCKS)?.retain_in(range, |_, _| false)?;
        self.commit(txn)?;
        // Sealed: the index is built, the side file has served (open removes it if this fails).
        tx_hashes::remove(&*self.fs, &dir);
        // Best effort, after the commit: a run is an accelerator no commit depends on.
        self.write_tx_run_after_seal(shard);
        Ok(true)
    }

    pub(super) fn read_row(&self, shard: u64) -> Result<Option<ShardRow>, WriteError> {
        let txn = self.db.begin_read()?;
        let shards = txn.open_table(SHARDS)?;
        self.row::<WriteError>(&shards, shard)
    }

    pub(super) fn commit_row(&self, shard: u64, row: &ShardRow) -> Result<(), WriteError> {
        let txn = self.db.begin_write()?;
        txn.open_table(SHARDS)?
            .insert(shard, row.encode().as_slice())?;
        self.commit(txn)?;
        Ok(())
    }

    pub(super) fn check_transition(
        &self,
        shard: u64,
        from: ShardState,
        to: ShardState,
    ) -> Result<(), WriteError> {
        if from.can_become(to) {
            Ok(())
        } else {
            Err(WriteError::IllegalTransition { shard, from, to })
        }
    }

    /// Hash of stored block `n` as seen by the write transaction's shard table.
    pub(super) fn stored_hash(
        &self,
        shards: &impl ReadableTable<u64, &'static [u8]>,
        n: u64,
    ) -> Result<B256, WriteError> {
        let row = self.row::<WriteError>(shards, self.geo.shard_of(n))?;
        // The hash is in the segment's offset table or the WAL index: no frame needs reading.
        let hash = match row {
            Some(row) => ShardFiles::open(self, self.geo.shard_of(n), row).hash(n)?,
            None => None,
        };
        hash.ok_or_else(|| {
            super::error::CorruptError {
                path: self.index_path.clone(),
                offset: 0,
                what: format!("block {n} is recorded as stored but cannot be found"),
            }
            .into()
        })
    }

    /// Moves `low`/`last_contiguous` after blocks from `new_min` upwards became present.
    pub(super) fn update_contiguity(
        &self,
        meta: &mut Table<&'static str, &'static [u8]>,
        shards: &impl ReadableTable<u64, &'static [u8]>,
        new_min: u64,
    ) -> Result<(), WriteError> {
        let low = index::meta_u64(meta, key::LOW)?;
        let contig = index::meta_u64(meta, key::CONTIG)?;
        let (low, from) = match (low, contig) {
            (Some(l), Some(c)) if new_min >= l => (l, c),
            _ => (new_min, new_min),
        };
        let end = self.run_end(shards, from)?;
        meta.insert(key::LOW, &low.to_le_bytes()[..])?;
        meta.insert(key::CONTIG, &end.to_le_bytes()[..])?;
        Ok(())
    }

    /// The last block of the run of present blocks starting at present block `from`.
    fn run_end(
        &self,
        shards: &impl ReadableTable<u64, &'static [u8]>,
        from: u64,
    ) -> Result<u64, WriteError> {
        let mut n = from;
        loop {
            let Some(next) = n.checked_add(1) else {
                return Ok(n);
            };
            let shard = self.geo.shard_of(next);
            let Some(row) = self.row::<WriteError>(shards, shard)? else {
                return Ok(n);
            };
            let first = self.geo.first_of(shard);
            match row.first_absent(self.geo.pos_of(next), self.geo.shard_size) {
                Some(p) if first + p == next => return Ok(n),
                Some(p) => return Ok(first + p - 1),
                None => n = self.geo.last_of(shard),
            }
        }
    }
}

fn index_block(
    hashes: &mut Table<[u8; 32], u64>,
    txs: &mut Table<u64, &'static [u8]>,
    e: &EncodedBlock,
) -> Result<(), WriteError> {
    hashes.insert(e.hash.0, e.number)?;
    // Empty for a block without transactions: the seal then knows it has none without
    // reading the block (an absent entry sends it to the segment).
    let value = tx_index::block_value(e.tx_hashes.iter().map(index::tx_prefix));
    txs.insert(e.number, value.as_slice())?;
    Ok(())
}
