//! Finding the candidates for a transaction hash: the unsealed tail's `TX_BLOCKS` values
//! scanned, then for every group of sealed shards its run (`run.rs`) probed if the run's cover
//! matches the snapshot's rows, else every sealed shard's own file; all in one redb snapshot (a
//! shard sealed meanwhile is seen either as tail or as file, never both or neither).
//!
//! A file that cannot be read does not fail the lookup: the other files are still probed, and
//! the error is handed to the caller, who answers it only if no candidate was the transaction.
//! A file that is missing first makes the lookup retry in a fresh snapshot ([`ATTEMPTS`]): a
//! run written after the lookup's snapshot may have replaced it (`replace.rs`).

use redb::ReadableTable;

use alloy_primitives::B256;

use super::run::{Covered, GROUP, TxRun, group_of, run_path, tag_of};
use crate::storage::Storage;
use crate::storage::error::ReadError;
use crate::storage::index::{SHARDS, TX_BLOCKS, decode_shard_row};
use crate::storage::shard::ShardState;

/// The (block, index) of candidates, ascending (the test-only racing lookup's answer).
#[cfg(any(test, feature = "testkit"))]
type Found = Vec<(u64, u32)>;

/// What a lookup found: candidates and the first file it could not read.
#[derive(Debug, Default)]
pub struct Candidates {
    /// The (block, index) of every stored transaction whose hash starts like the one looked
    /// up, ascending.
    pub found: Vec<(u64, u32)>,
    /// The error of the first sealed shard's file that could not be read (it names the file).
    pub unreadable: Option<ReadError>,
    /// Whether a shard's file was missing: removed after the lookup's snapshot was taken,
    /// because a run written since replaces it (`replace.rs`), or lost.
    missing: bool,
}

/// Lookups of one hash, each in a fresh snapshot, while a shard's file is missing. A file goes
/// only after a commit sealed the last shard of its group and the group's run was written and
/// opened: a snapshot taken after that sees the group whole and probes the run, so one retry
/// settles a lookup that raced a seal; a second covers a lookup that raced two (tiny shards).
/// A file missing for another reason (lost) is still missing then, and fails the lookup as any
/// unreadable file does.
const ATTEMPTS: usize = 3;

impl Storage {
    /// The candidates for `hash`: the caller keeps the first whose stored transaction has
    /// exactly this hash (so a hash stored twice answers with its lowest block, as the
    /// schema-2 index did).
    pub(in crate::storage) fn tx_candidates(&self, hash: &B256) -> Result<Candidates, ReadError> {
        self.tx_candidates_after(hash, || {})
    }

    /// [`Self::tx_candidates`], calling `meanwhile` once its first snapshot is taken.
    fn tx_candidates_after(
        &self,
        hash: &B256,
        meanwhile: impl FnOnce(),
    ) -> Result<Candidates, ReadError> {
        let mut meanwhile = Some(meanwhile);
        let mut attempt = 1;
        loop {
            let c = self.tx_candidates_once(hash, &mut || {
                if let Some(f) = meanwhile.take() {
                    f();
                }
            })?;
            if !c.missing || attempt == ATTEMPTS {
                return Ok(c);
            }
            attempt += 1;
        }
    }

    /// The candidates for `hash` (ascending) and the error of the first file that could not
    /// be read, with `meanwhile` run between the lookup's snapshot and its probes (tests: a
    /// seal completing a group there removes the files the snapshot names).
    #[cfg(any(test, feature = "testkit"))]
    pub fn tx_candidates_racing(
        &self,
        hash: &B256,
        meanwhile: impl FnOnce(),
    ) -> Result<(Found, Option<ReadError>), ReadError> {
        let c = self.tx_candidates_after(hash, meanwhile)?;
        Ok((c.found, c.unreadable))
    }

    /// [`Self::tx_candidates`] in one snapshot, `after_snapshot` called once it is taken.
    fn tx_candidates_once(
        &self,
        hash: &B256,
        after_snapshot: &mut dyn FnMut(),
    ) -> Result<Candidates, ReadError> {
        let txn = self.read_txn()?;
        after_snapshot();
        let mut c = Candidates::default();
        let prefix = crate::storage::index::tx_prefix(hash);
        let tail = txn.open_table(TX_BLOCKS)?;
        tail_candidates(&tail, prefix, &mut c.found)?;
        let shards = txn.open_table(SHARDS)?;
        // The sealed shards of the current group, in order.
        let mut group: Vec<Covered> = Vec::with_capacity(GROUP as usize);
        for item in shards.range(0u64..)? {
            let (k, v) = item?;
            let shard = k.value();
            // Decoded from the range's own value: a second lookup of the key per shard (as
            // `Storage::row` does) was most of a lookup's cost once runs made probes few.
            let row = decode_shard_row(shard, v.value(), self.geo.shard_size)
                .map_err(|e| e.into_err::<ReadError>(&self.index_path))?;
            if row.state != ShardState::Sealed {
                continue;
            }
            if group
                .first()
                .is_some_and(|g| group_of(g.shard) != group_of(shard))
            {
                self.probe_group(&group, prefix, &mut c);
                group.clear();
            }
            group.push(Covered::of(shard, &row));
        }
        self.probe_group(&group, prefix, &mut c);
        c.found.sort_unstable();
        c.found.dedup();
        Ok(c)
    }

    /// Probes the sealed shards `group` (all of one group, ascending): their run if it covers
    /// exactly these shards as they are now, else each shard's file.
    fn probe_group(&self, group: &[Covered], prefix: u64, c: &mut Candidates) {
        if group.len() == GROUP as usize
            && self.uses_tx_runs()
            && let Some(kept) = self.tx_run(group)
            && let Some(run) = kept.as_ref()
        {
            let before = c.found.len();
            match run.file.candidates(prefix, &mut c.found) {
                Ok(()) => return,
                Err(error) => {
                    // The shards' own files answer instead where they are still there (a run
                    // replaces them once written; open splits a run it cannot use back into
                    // them, and `db verify` names a damaged one).
                    c.found.truncate(before);
                    tracing::warn!(%error, "transaction run unreadable; probing its shards' files (removed once the run was written)");
                }
            }
        }
        for s in group {
            let probed = self
                .shard_tx_file(s.shard, s.seg_gen)
                .and_then(|f| f.candidates(prefix, &mut c.found));
            if let Err(error) = probed {
                c.missing |= super::replace::is_missing(&error);
                if c.unreadable.is_none() {
                    c.unreadable = Some(error.into());
                }
            }
        }
    }

    /// The open run covering exactly `cover` (a whole group of sealed shards), if there is one
    /// that opens.
    pub(super) fn tx_run(&self, cover: &[Covered]) -> Option<std::sync::Arc<Option<TxRun>>> {
        let group = group_of(cover[0].shard);
        let tag = tag_of(cover);
        let kept = match self.tx_files.runs.get(group, tag) {
            Some(kept) => kept,
            None => {
                let path = run_path(&self.dir, group * GROUP, tag);
                let opened = std::sync::Arc::new(TxRun::open(&*self.fs, &path).ok());
                self.tx_files.runs.put_if_absent(group, tag, opened.clone());
                opened
            }
        };
        // The tag is a checksum: the cover itself decides.
        Option::as_ref(&kept)
            .is_some_and(|run| run.cover == cover)
            .then_some(kept)
    }
}

/// Adds the (block, index) of every tail transaction with this hash prefix.
fn tail_candidates(
    tail: &impl ReadableTable<u64, &'static [u8]>,
    prefix: u64,
    out: &mut Vec<(u64, u32)>,
) -> Result<(), redb::StorageError> {
    for item in tail.iter()? {
        let (k, v) = item?;
        for (i, p) in super::block_prefixes(v.value()).enumerate() {
            if p == prefix {
                out.push((k.value(), i as u32));
            }
        }
    }
    Ok(())
}
