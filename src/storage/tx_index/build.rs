//! Writing a sealed shard's transaction index file (at seal time, on open for a sealed shard
//! whose file is missing or unreadable, and after the schema-3 migration), and checking one
//! (`histd db verify`). The protocol is the log index's: write `txs-<gen>.idx.tmp`, fsync,
//! rename, fsync the directory; only then may the shard be committed Sealed (that commit also
//! removes the shard's `TX_BLOCKS` range). A crash leaves a tmp file or a file of a shard not
//! sealed yet, both removed on open.

use redb::ReadableDatabase;

use super::file::{Entry, HEADER, TxFile, encode, write_body};
use super::index_path;
use crate::storage::Storage;
use crate::storage::error::{CorruptError, IoContext, ReadError, StorageError, WriteError};
use crate::storage::fsio;
use crate::storage::index::TX_BLOCKS;
use crate::storage::layout::ShardRow;
use crate::storage::read::ShardFiles;
use crate::storage::record;
use crate::storage::repair::RepairReport;
use crate::storage::shard::{ShardState, shard_dir, tmp_path};

impl Storage {
    /// Every transaction of complete shard `shard`: from its `TX_BLOCKS` values where present
    /// (the seal: no block is read), else by hashing the stored transactions (a file lost, or
    /// a shard sealed before schema 3).
    pub(super) fn shard_tx_entries(
        &self,
        shard: u64,
        row: &ShardRow,
    ) -> Result<Vec<Entry>, WriteError> {
        let first = self.geo.first_of(shard);
        let last = self.geo.last_of(shard);
        let txn = self.db.begin_read()?;
        let tail = txn.open_table(TX_BLOCKS)?;
        let mut files = ShardFiles::open(self, shard, row.clone());
        // Sized once: growing by doubling would hold up to twice the entries for a moment.
        let mut known = 0usize;
        for item in tail.range(first..=last)? {
            known += item?.1.value().len() / 8;
        }
        let mut out = Vec::with_capacity(known);
        let mut push = |n: u64, prefixes: &mut dyn Iterator<Item = u64>| {
            for (i, prefix) in prefixes.enumerate() {
                out.push(Entry {
                    prefix,
                    offset: (n - first) as u32,
                    index: i as u32,
                });
            }
        };
        // The decompressed transactions frame and its hashes, reused from block to block (as
        // the log index build reuses its frames).
        let mut scratch = Vec::new();
        let mut hashes = Vec::new();
        for n in first..=last {
            if let Some(v) = tail.get(n)? {
                push(n, &mut super::block_prefixes(v.value()));
                continue;
            }
            let f = files.complete_frames(n)?;
            record::decode_tx_hashes(f.txs(), |_| true, &mut scratch, &mut hashes).map_err(
                |what| ReadError::Undecodable {
                    number: crate::primitives::BlockNumber(n),
                    what,
                },
            )?;
            push(n, &mut hashes.iter().map(crate::storage::index::tx_prefix));
        }
        Ok(out)
    }

    /// Writes the transaction index file of complete shard `shard` (generation `row.seg_gen`),
    /// durably, under its final name. Returns its size. Runs under the writer lock or on open.
    pub(in crate::storage) fn write_tx_index(
        &self,
        shard: u64,
        row: &ShardRow,
    ) -> Result<u64, WriteError> {
        // The shard's files kept open are dropped (any generation): a shard sealed again must
        // not be answered from the file it had before. Other shards' files stay open.
        self.tx_files.shards.forget_shard(shard);
        let entries = self.shard_tx_entries(shard, row)?;
        self.write_tx_file(shard, row, entries)
    }

    /// Writes the transaction index file of sealed shard `shard` from its `entries` (offsets
    /// from the shard's first block; in any order), durably, under its final name: a file
    /// rebuilt from the shard's blocks, or split from a run (`split.rs`). Returns its size.
    pub(super) fn write_tx_file(
        &self,
        shard: u64,
        row: &ShardRow,
        entries: Vec<Entry>,
    ) -> Result<u64, WriteError> {
        let first = self.geo.first_of(shard);
        let path = index_path(&shard_dir(&self.dir, first), row.seg_gen);
        let bytes = fsio::write_with_header(&*self.fs, &tmp_path(&path), &path, |mut out, tmp| {
            let header = write_body(&mut out, first, self.blocks_per_shard(), entries)
                .ctx("write", tmp)?
                .ok_or_else(|| too_many(tmp))?;
            Ok::<_, WriteError>((header, out))
        })?;
        ::metrics::gauge!(crate::metrics::TX_INDEX_BYTES).increment(bytes as f64);
        Ok(bytes)
    }

    /// The header's block count (shard sizes are at most 1,000,000 blocks: `Storage::open`).
    fn blocks_per_shard(&self) -> u32 {
        self.geo.shard_size as u32
    }

    /// Checks a sealed shard's transaction index: where a valid run covers the shard, the run
    /// (once per group, at its first shard: `check_run.rs`; a file the shard still has is a
    /// leftover the next open removes, not an error); else its file: present, its checksums,
    /// and the same bytes as a build from the shard's stored transactions.
    pub(in crate::storage) fn check_tx_index(
        &self,
        shard: u64,
        row: &ShardRow,
    ) -> Result<(), StorageError> {
        if let Some((cover, run)) = self.covering_tx_run(shard)?
            && let Some(run) = run.as_ref()
        {
            if cover[0].shard == shard {
                return self.check_tx_run(&cover, run);
            }
            return Ok(());
        }
        let first = self.geo.first_of(shard);
        let path = index_path(&shard_dir(&self.dir, first), row.seg_gen);
        let bad = |reason: String| StorageError::Verify {
            number: crate::primitives::BlockNumber(first),
            reason: format!(
                "shard {shard} transaction index {}: {reason}",
                path.display()
            ),
        };
        let file = TxFile::open(&*self.fs, &path).map_err(|e| bad(e.to_string()))?;
        let body = file.body().map_err(|e| bad(e.to_string()))?;
        let entries = self.shard_tx_entries(shard, row)?;
        let expected = encode(first, self.blocks_per_shard(), entries)
            .ok_or_else(|| WriteError::from(too_many(&path)))?;
        if expected[HEADER..] != body[..] {
            return Err(bad(
                "does not match the shard's transactions (rebuild: delete it and open the store)"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Writes the transaction index of a sealed shard whose file is missing or does not open
    /// (lost, damaged, a shard sealed before schema 3, or one whose run stopped matching and
    /// could not be split); open calls it only for shards no valid run covers (`merge.rs`). A
    /// failure is logged, not fatal: lookups then report the shard's file as unreadable, and
    /// `db verify` names it.
    pub(in crate::storage) fn repair_tx_index(
        &self,
        shard: u64,
        row: &ShardRow,
        report: &mut RepairReport,
    ) {
        if row.state != ShardState::Sealed {
            return;
        }
        let dir = shard_dir(&self.dir, self.geo.first_of(shard));
        let path = index_path(&dir, row.seg_gen);
        if let Ok(file) = TxFile::open(&*self.fs, &path) {
            // Counted into the index-size gauge (its length was checked against the header).
            ::metrics::gauge!(crate::metrics::TX_INDEX_BYTES).increment(file.len() as f64);
            // Kept open: the first lookup would open it anyway.
            self.tx_files
                .shards
                .put(shard, row.seg_gen, std::sync::Arc::new(file));
            return;
        }
        match self.write_tx_index(shard, row) {
            Ok(bytes) => {
                tracing::info!(
                    shard,
                    bytes,
                    "transaction index of a sealed shard written again"
                );
                report.rebuilt_tx_indexes.push(shard);
            }
            Err(error) => {
                tracing::warn!(shard, %error, "transaction index could not be written; lookups in this shard fail");
            }
        }
    }
}

fn too_many(path: &std::path::Path) -> CorruptError {
    CorruptError {
        path: path.to_path_buf(),
        offset: 0,
        what: "more than 2^32 transactions in one shard".into(),
    }
}
