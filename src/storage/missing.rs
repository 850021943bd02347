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
    next: u128,
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
            next: u128::from(from.get()),
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
        // Block arithmetic in u128 so a range ending at u64::MAX cannot overflow.
        let g = self.store_geo;
        let size = u128::from(g.shard_size);
        let end = u128::from(self.end);
        let range = |s: u128, e: u128| Some(BlockNumber(s as u64)..=BlockNumber(e.min(end) as u64));
        let mut start: Option<u128> = None;
        loop {
            if self.next > end {
                self.done = true;
                return Ok(start.and_then(|s| range(s, end)));
            }
            let shard = g.shard_of(self.next as u64);
            let first = u128::from(g.first_of(shard));
            let after_shard = first + size;
            match self.row_or_next(shard)? {
                Err(next_row) => {
                    // No row: everything up to the next shard with a row is missing.
                    start.get_or_insert(self.next);
                    self.next = match next_row {
                        Some(s) => u128::from(g.first_of(s)),
                        None => end + 1,
                    };
                }
                Ok(row) => {
                    let complete =
                        row.state == ShardState::Sealed || u64::from(row.present) == g.shard_size;
                    let pos = (self.next - first) as u64;
                    match start {
                        Some(s) => {
                            // Inside a run: it ends before the next present block.
                            let present = if complete {
                                Some(pos)
                            } else {
                                row.first_present(pos, g.shard_size)
                            };
                            match present {
                                Some(p) => {
                                    self.next = first + u128::from(p);
                                    return Ok(range(s, self.next - 1));
                                }
                                None => self.next = after_shard,
                            }
                        }
                        None if complete => self.next = after_shard,
                        None => match row.first_absent(pos, g.shard_size) {
                            Some(p) => {
                                let s = first + u128::from(p);
                                if s > end {
                                    self.done = true;
                                    return Ok(None);
                                }
                                match row.first_present(p, g.shard_size) {
                                    Some(q) => {
                                        self.next = first + u128::from(q);
                                        return Ok(range(s, self.next - 1));
                                    }
                                    None => {
                                        start = Some(s);
                                        self.next = after_shard;
                                    }
                                }
                            }
                            None => self.next = after_shard,
                        },
                    }
                }
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
