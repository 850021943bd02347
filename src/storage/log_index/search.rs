//! `find_logs`: the logs of a block range that match a [`LogQuery`], in block and log order,
//! with the match count known before anything is decoded. Sealed shards with an index file are
//! answered from it (posting lists intersected smallest first, then only the chunks holding
//! matches decoded); blocks without one (the unsealed tail) are picked by their in-memory key
//! sets (by header bloom the first time a query touches them) and read through the tail cache.
//! Never writes.

use std::sync::Arc;

use alloy_primitives::{B256, Log};

use super::file::{CHUNK, IndexFile, ListBytes};
use super::query::LogQuery;
use super::tail::BlockLogs;
use crate::primitives::BlockNumber;
use crate::storage::Storage;
use crate::storage::error::ReadError;
use crate::storage::index::SHARDS;
use crate::storage::layout::ShardRow;
use crate::storage::read::{ShardFiles, decode_stored};
use crate::storage::shard::{ShardState, shard_dir};

/// One matching log with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundLog {
    /// Block number.
    pub block_number: u64,
    /// Block hash.
    pub block_hash: B256,
    /// Block timestamp.
    pub block_timestamp: u64,
    /// Hash of the transaction that emitted it.
    pub tx_hash: B256,
    /// Index of that transaction in the block.
    pub tx_index: u64,
    /// Index of the log in the block (counted across all its receipts).
    pub log_index: u64,
    /// The log.
    pub log: Log,
}

/// What [`Storage::find_logs`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogSearch {
    /// Every matching log, in order (at most the limit).
    Found(Vec<FoundLog>),
    /// More than the limit match. `over_at` is the block where the running count first passes
    /// it: `from ..= over_at - 1` is the largest range from `from` that fits (none when
    /// `over_at == from`: that block alone holds more).
    TooMany {
        /// The block where the limit is passed.
        over_at: u64,
    },
    /// This block of the range is not stored.
    Missing(u64),
}

/// Matches in one shard, counted, not decoded yet.
enum Piece {
    /// From the shard's index file: log ids, and the first log id of each block of the piece
    /// (plus the end), for blocks `first ..`.
    Indexed {
        file: Arc<IndexFile>,
        shard_first: u64,
        first: u64,
        firsts: Vec<u32>,
        ids: Vec<u32>,
    },
    /// From decoded blocks: (block, its logs, matching positions).
    Scanned(Vec<(u64, Arc<BlockLogs>, Vec<usize>)>),
}

impl Piece {
    fn count(&self) -> usize {
        match self {
            Piece::Indexed { ids, .. } => ids.len(),
            Piece::Scanned(v) => v.iter().map(|(_, _, m)| m.len()).sum(),
        }
    }

    /// The block of this piece's `k`-th match.
    fn block_of(&self, k: usize) -> u64 {
        match self {
            Piece::Indexed {
                first, firsts, ids, ..
            } => *first + (firsts.partition_point(|&f| f <= ids[k]) as u64 - 1),
            Piece::Scanned(v) => {
                let mut k = k;
                for (n, _, m) in v {
                    if k < m.len() {
                        return *n;
                    }
                    k -= m.len();
                }
                0
            }
        }
    }
}

impl Storage {
    /// The logs of `from ..= to` matching `query`, or [`LogSearch::TooMany`] when more than
    /// `limit` match (counted before any log is decoded), or the first block not stored.
    pub fn find_logs(
        &self,
        query: &LogQuery,
        from: BlockNumber,
        to: BlockNumber,
        limit: u64,
    ) -> Result<LogSearch, ReadError> {
        self.with_retry(|| self.find_logs_once(query, from.get(), to.get(), limit))
    }

    fn find_logs_once(
        &self,
        query: &LogQuery,
        from: u64,
        to: u64,
        limit: u64,
    ) -> Result<LogSearch, ReadError> {
        // Every block of the range must be stored; one snapshot of the rows for the whole query.
        let txn = self.read_txn()?;
        let shards = txn.open_table(SHARDS)?;
        let mut plan: Vec<(u64, ShardRow, u64, u64)> = Vec::new();
        let mut n = from;
        while n <= to {
            let shard = self.geo.shard_of(n);
            let last = self.geo.last_of(shard).min(to);
            let Some(row) = self.row::<ReadError>(&shards, shard)? else {
                return Ok(LogSearch::Missing(n));
            };
            let first = self.geo.first_of(shard);
            let (a, b) = (n - first, last - first);
            if let Some(p) = row.first_absent(a, b + 1) {
                return Ok(LogSearch::Missing(first + p));
            }
            plan.push((shard, row, n, last));
            match last.checked_add(1) {
                Some(next) => n = next,
                None => break,
            }
        }
        let mut pieces = Vec::with_capacity(plan.len());
        let mut count = 0usize;
        for (shard, row, a, b) in plan {
            let piece = match self.indexed(shard, &row) {
                Some(file) => match_indexed(file, query, self.geo.first_of(shard), a, b)?,
                None => self.match_scanned(shard, row, query, a, b)?,
            };
            let c = piece.count();
            if (count + c) as u64 > limit {
                let k = usize::try_from(limit).unwrap_or(usize::MAX) - count;
                return Ok(LogSearch::TooMany {
                    over_at: piece.block_of(k),
                });
            }
            count += c;
            pieces.push(piece);
        }
        let mut out = Vec::with_capacity(count);
        for piece in pieces {
            decode_piece(piece, query, &mut out)?;
        }
        Ok(LogSearch::Found(out))
    }

    /// The index file of a sealed shard, if it opens (a shard without one is scanned instead,
    /// and `db verify` names it).
    fn indexed(&self, shard: u64, row: &ShardRow) -> Option<Arc<IndexFile>> {
        if row.state != ShardState::Sealed {
            return None;
        }
        if let Some(f) = self.log_files.get(shard, row.seg_gen) {
            return Some(f);
        }
        let dir = shard_dir(&self.dir, self.geo.first_of(shard));
        let path = super::index_path(&dir, row.seg_gen);
        match IndexFile::open(&*self.fs, &path) {
            Ok(f) if f.header.blocks as u64 == self.geo.shard_size => {
                let f = Arc::new(f);
                self.log_files.put(shard, row.seg_gen, f.clone());
                Some(f)
            }
            Ok(_) => {
                tracing::warn!(path = %path.display(), "log index covers another shard size; scanning instead");
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "log index unusable; scanning this shard instead");
                None
            }
        }
    }

    /// Blocks without a log index (the unsealed tail) decoded for log queries since the store
    /// opened: a block is decoded only when its key set (or, the first time, its header bloom)
    /// admits the query, so repeated queries decode only blocks holding candidates.
    pub fn log_tail_decodes(&self) -> u64 {
        self.log_tail.decodes()
    }

    fn match_scanned(
        &self,
        shard: u64,
        row: ShardRow,
        query: &LogQuery,
        a: u64,
        b: u64,
    ) -> Result<Piece, ReadError> {
        let mut files = ShardFiles::open_committed(self, shard, row);
        let tail = &self.log_tail;
        let groups = tail.key_groups(query);
        let mut out = Vec::new();
        for n in a..=b {
            // The hash from the offset table or the WAL index: a block ruled out by its key set
            // costs no frame read.
            let Some(hash) = files.hash(n)? else {
                return Err(missing_now(n));
            };
            // A block a query touched before is ruled out by its exact key set; only a block
            // never touched falls back to its header bloom (saturated on mainnet).
            let set = tail.keys(n, hash);
            if set.as_ref().is_some_and(|s| !s.may_match(&groups)) {
                continue;
            }
            let (logs, fresh) = match tail.get(n, hash) {
                Some(l) => {
                    if set.is_none() {
                        tail.put_keys(n, &l);
                    }
                    (l, false)
                }
                None => {
                    if set.is_none() {
                        let Some((_, header)) = files.header(n)? else {
                            return Err(missing_now(n));
                        };
                        if !query.may_match(&header.logs_bloom) {
                            continue;
                        }
                    }
                    let logs = decode_logs(&mut files, n)?;
                    tail.count_decode();
                    if set.is_none() {
                        tail.put_keys(n, &logs);
                    }
                    (Arc::new(logs), true)
                }
            };
            let hits: Vec<usize> = logs
                .logs
                .iter()
                .enumerate()
                .filter(|(_, (_, _, l))| query.matches(l))
                .map(|(i, _)| i)
                .collect();
            if !hits.is_empty() {
                // Only matched blocks keep their decoded logs: the key sets spare the others.
                if fresh {
                    tail.put(n, logs.clone());
                }
                out.push((n, logs, hits));
            }
        }
        Ok(Piece::Scanned(out))
    }
}

/// Block `n`'s logs with their transactions, decoded from its stored frames.
fn decode_logs(files: &mut ShardFiles, n: u64) -> Result<BlockLogs, ReadError> {
    let Some(full) = files.frames(n)? else {
        return Err(missing_now(n));
    };
    let block = decode_stored(n, &full)?;
    let hashes = block.tx_hashes();
    let mut logs = Vec::new();
    for (i, r) in block.receipts.into_iter().enumerate() {
        let h = hashes.get(i).copied().unwrap_or_default();
        logs.extend(r.logs.into_iter().map(|l| (i as u64, h, l)));
    }
    Ok(BlockLogs {
        hash: block.hash,
        timestamp: block.header.timestamp,
        logs,
    })
}

fn missing_now(n: u64) -> ReadError {
    ReadError::Undecodable {
        number: BlockNumber(n),
        what: "removed while reading (a rollback); retry".into(),
    }
}

fn damaged(file: &IndexFile, e: impl std::fmt::Display) -> ReadError {
    crate::storage::error::CorruptError {
        path: file.path().to_path_buf(),
        offset: 0,
        what: format!("log index: {e}"),
    }
    .into()
}

/// Matches of `a ..= b` in a shard starting at `shard_first`, from its index file.
fn match_indexed(
    file: Arc<IndexFile>,
    query: &LogQuery,
    shard_first: u64,
    a: u64,
    b: u64,
) -> Result<Piece, ReadError> {
    let firsts = file.first_logs((a - shard_first) as u32, (b - shard_first) as u32)?;
    let (lo, hi) = (firsts[0], firsts[firsts.len() - 1]);
    let groups = query.key_groups(file.header.seed);
    // Each group's lists (of a long list only the blocks covering `lo .. hi`), and the
    // group's size bound.
    let mut loaded: Vec<(usize, Vec<ListBytes>)> = Vec::with_capacity(groups.len());
    for g in &groups {
        let mut lists = Vec::new();
        let mut size = 0;
        for &k in g {
            if let Some(at) = file.postings(k)? {
                let list = file.read_list(at, lo, hi)?;
                size += list.count();
                lists.push(list);
            }
        }
        if lists.is_empty() {
            // Nothing carries any value of this group: no log matches.
            return Ok(Piece::Indexed {
                file,
                shard_first,
                first: a,
                firsts,
                ids: Vec::new(),
            });
        }
        loaded.push((size, lists));
    }
    // The smallest group drives; the others filter its ids.
    loaded.sort_by_key(|(size, _)| *size);
    let mut ids: Vec<u32> = match loaded.first() {
        None => (lo..hi).collect(),
        Some((_, lists)) => {
            let mut ids = Vec::new();
            for list in lists {
                list.list()
                    .range(lo, hi, &mut ids)
                    .map_err(|e| damaged(&file, e))?;
            }
            if lists.len() > 1 {
                ids.sort_unstable();
                ids.dedup();
            }
            ids
        }
    };
    for (_, lists) in loaded.iter().skip(1) {
        let mut cursors: Vec<_> = lists.iter().map(|l| l.list().cursor()).collect();
        let mut keep = Vec::with_capacity(ids.len());
        for id in ids {
            let mut hit = false;
            for c in &mut cursors {
                if c.seek(id).map_err(|e| damaged(&file, e))? == Some(id) {
                    hit = true;
                }
            }
            if hit {
                keep.push(id);
            }
        }
        ids = keep;
    }
    Ok(Piece::Indexed {
        file,
        shard_first,
        first: a,
        firsts,
        ids,
    })
}

/// Decodes a piece's matches into `out`, checking each against the query exactly (a keyed-hash
/// collision, about 1 in 10^12 per shard, would otherwise add a log).
fn decode_piece(piece: Piece, query: &LogQuery, out: &mut Vec<FoundLog>) -> Result<(), ReadError> {
    match piece {
        Piece::Scanned(blocks) => {
            for (n, logs, hits) in blocks {
                for i in hits {
                    let (tx_index, tx_hash, log) = &logs.logs[i];
                    out.push(FoundLog {
                        block_number: n,
                        block_hash: logs.hash,
                        block_timestamp: logs.timestamp,
                        tx_hash: *tx_hash,
                        tx_index: *tx_index,
                        log_index: i as u64,
                        log: log.clone(),
                    });
                }
            }
        }
        Piece::Indexed {
            file,
            shard_first,
            first,
            firsts,
            ids,
        } => {
            let mut block: Option<(u64, B256, u64, u32)> = None;
            let chunk_of = |id: u32| id / CHUNK as u32;
            let mut i = 0;
            while i < ids.len() {
                // The matches in one chunk: decompress it once, decode only them.
                let c = chunk_of(ids[i]);
                let end = i + ids[i..].partition_point(|&id| chunk_of(id) == c);
                let mask = ids[i..end]
                    .iter()
                    .fold(0u64, |m, &id| m | 1 << (id % CHUNK as u32));
                let mut logs = file.chunk(c, mask)?;
                for &id in &ids[i..end] {
                    let Some(entry) = logs
                        .get_mut((id % CHUNK as u32) as usize)
                        .and_then(Option::take)
                    else {
                        continue;
                    };
                    let k = firsts.partition_point(|&f| f <= id) - 1;
                    let n = first + k as u64;
                    if block.as_ref().is_none_or(|(have, ..)| *have != n) {
                        let (hash, ts) = file.block((n - shard_first) as u32)?;
                        block = Some((n, hash, ts, firsts[k]));
                    }
                    let Some((_, hash, ts, first_log)) = block else {
                        continue;
                    };
                    if !query.matches(&entry.log) {
                        continue;
                    }
                    out.push(FoundLog {
                        block_number: n,
                        block_hash: hash,
                        block_timestamp: ts,
                        tx_hash: entry.tx_hash,
                        tx_index: entry.tx_index,
                        log_index: u64::from(id - first_log),
                        log: entry.log,
                    });
                }
                i = end;
            }
        }
    }
    Ok(())
}
