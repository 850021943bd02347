//! Missing ranges for the scheduler: a streaming iterator over `[from ..= to]` that yields maximal
//! runs of absent blocks. It consults shard state first (no row → whole shard missing; complete or
//! sealed → nothing missing) and a presence bitset only for partial shards, one row at a time from a
//! single redb snapshot. It must never materialise a per-block list, whatever the range length.

use std::ops::RangeInclusive;

use redb::ReadOnlyTable;

use super::Storage;
use super::error::ReadError;
use super::index::SHARDS;
use super::layout::ShardRow;
use super::shard::{Geometry, ShardState};
use crate::primitives::BlockNumber;

/// Iterator of missing block ranges, ascending and maximal (adjacent shards merge).
pub struct MissingRanges {
    table: ReadOnlyTable<u64, &'static [u8]>,
    store_geo: Geometry,
    index_path: std::path::PathBuf,
    next: u64,
    end: u64,
    done: bool,
    cached: Option<(u64, ShardRow)>,
}

impl Storage {
    /// Streams the missing ranges of `from ..= to` as of now (a consistent snapshot).
    pub fn missing(&self, from: BlockNumber, to: BlockNumber) -> Result<MissingRanges, ReadError> {
        let txn = self.read_txn()?;
        let table = txn.open_table(SHARDS)?;
        Ok(MissingRanges {
            table,
            store_geo: self.geo,
            index_path: self.index_path.clone(),
            next: from.get(),
            end: to.get(),
            done: from > to,
            cached: None,
        })
    }
}

impl MissingRanges {
    /// The row of `shard` if it exists; otherwise the next shard that has a row (or `None`).
    fn row_or_next(&mut self, shard: u64) -> Result<Result<ShardRow, Option<u64>>, ReadError> {
        if let Some((s, row)) = &self.cached
            && *s == shard
        {
            return Ok(Ok(row.clone()));
        }
        let mut range = self.table.range(shard..)?;
        match range.next() {
            Some(item) => {
                let (k, v) = item?;
                let s = k.value();
                if s == shard {
                    let row =
                        ShardRow::decode(v.value(), self.store_geo.shard_size).map_err(|what| {
                            super::error::CorruptError {
                                path: self.index_path.clone(),
                                offset: 0,
                                what: format!("shard {s} row: {what}"),
                            }
                        })?;
                    self.cached = Some((shard, row.clone()));
                    Ok(Ok(row))
                } else {
                    Ok(Err(Some(s)))
                }
            }
            None => Ok(Err(None)),
        }
    }

    fn step(&mut self) -> Result<Option<RangeInclusive<BlockNumber>>, ReadError> {
        let g = self.store_geo;
        let mut start: Option<u64> = None;
        loop {
            if self.next > self.end {
                self.done = true;
                return Ok(start.map(|s| BlockNumber(s)..=BlockNumber(self.end)));
            }
            let shard = g.shard_of(self.next);
            let shard_first = g.first_of(shard);
            let after_shard = shard_first.saturating_add(g.shard_size);
            match self.row_or_next(shard)? {
                Err(next_row) => {
                    // No row: everything up to the next shard with a row is missing.
                    start.get_or_insert(self.next);
                    self.next = match next_row {
                        Some(s) => g.first_of(s),
                        None => self.end.saturating_add(1),
                    };
                }
                Ok(row) => {
                    let complete =
                        row.state == ShardState::Sealed || u64::from(row.present) == g.shard_size;
                    let pos = self.next - shard_first;
                    let present_at = if complete {
                        Some(pos)
                    } else {
                        row.first_present(pos, g.shard_size)
                    };
                    if let Some(s) = start {
                        match present_at {
                            Some(p) => {
                                self.next = shard_first + p;
                                let last = (shard_first + p - 1).min(self.end);
                                return Ok(Some(BlockNumber(s)..=BlockNumber(last)));
                            }
                            None => self.next = after_shard,
                        }
                    } else if complete {
                        self.next = after_shard;
                    } else {
                        match row.first_absent(pos, g.shard_size) {
                            Some(p) => {
                                start = Some(shard_first + p);
                                self.next = shard_first + p;
                                // Loop again: the run's end is the next present position.
                                match row.first_present(p, g.shard_size) {
                                    Some(q) => {
                                        self.next = shard_first + q;
                                        let s = shard_first + p;
                                        if s > self.end {
                                            self.done = true;
                                            return Ok(None);
                                        }
                                        let last = (shard_first + q - 1).min(self.end);
                                        return Ok(Some(BlockNumber(s)..=BlockNumber(last)));
                                    }
                                    None => self.next = after_shard,
                                }
                            }
                            None => self.next = after_shard,
                        }
                    }
                }
            }
            if let Some(s) = start
                && s > self.end
            {
                self.done = true;
                return Ok(None);
            }
        }
    }
}

impl Iterator for MissingRanges {
    type Item = Result<RangeInclusive<BlockNumber>, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(r)) => Some(Ok(r)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
