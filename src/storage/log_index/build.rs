//! Writing a sealed shard's index file (at seal time, and on open for a sealed shard that has
//! none), and checking one (`histd db verify`). The protocol: build into `logs-<gen>.idx.tmp`,
//! fsync, rename, fsync the directory; only then may the shard be committed Sealed. A crash
//! leaves a tmp file (removed on open) or an index of a shard not sealed yet (removed on open, and
//! written again by the seal that follows).

use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::time::Instant;

use alloy_primitives::B256;
use serde::Serialize;

use super::file::{BuildError, Builder, HEADER, IndexFile};
use super::index_path;
use crate::primitives::Receipt;
use crate::storage::Storage;
use crate::storage::error::{CorruptError, IoError, ReadError, StorageError, WriteError};
use crate::storage::fsio;
use crate::storage::layout::ShardRow;
use crate::storage::read::{Frames, ShardFiles};
use crate::storage::record;
use crate::storage::shard::{shard_dir, tmp_path};

/// What building one index took (the README's size and time figures come from these).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LogIndexStats {
    /// Blocks covered.
    pub blocks: u64,
    /// Logs stored.
    pub logs: u64,
    /// Distinct keys.
    pub keys: u64,
    /// File size in bytes.
    pub bytes: u64,
    /// Build time in milliseconds.
    pub millis: u64,
}

/// A seed nobody outside this process can predict (std's per-process random hasher keys).
pub(super) fn random_seed() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    );
    h.finish()
}

impl Storage {
    /// Feeds every block of a complete shard to `builder`, in order.
    fn feed<W: Write>(
        &self,
        shard: u64,
        row: &ShardRow,
        builder: &mut Builder<W>,
    ) -> Result<(), WriteError> {
        let first = self.geo.first_of(shard);
        let mut files = ShardFiles::open(self, shard, row.clone());
        for n in first..=self.geo.last_of(shard) {
            let f = files.frames(n, false)?.ok_or_else(|| CorruptError {
                path: shard_dir(&self.dir, first),
                offset: 0,
                what: format!("block {n} of a complete shard is missing"),
            })?;
            let (timestamp, tx_hashes, receipts) = decode_for_logs(n, &f)?;
            builder
                .push_block(f.hash, timestamp, &tx_hashes, &receipts)
                .map_err(|e| build_error(e, &shard_dir(&self.dir, first)))?;
        }
        Ok(())
    }

    /// Writes the index file of complete shard `shard` (its blocks all in segment generation
    /// `row.seg_gen`), durably, under its final name. Runs under the writer lock or on open.
    pub(in crate::storage) fn write_log_index(
        &self,
        shard: u64,
        row: &ShardRow,
    ) -> Result<LogIndexStats, WriteError> {
        let started = Instant::now();
        // The shard's files kept open are dropped: a shard sealed again (after its blocks were
        // dropped and fetched again) must not be answered from the file it had before.
        self.log_files.forget_shard(shard);
        let dir = shard_dir(&self.dir, self.geo.first_of(shard));
        let path = index_path(&dir, row.seg_gen);
        let bytes = fsio::write_with_header(&*self.fs, &tmp_path(&path), &path, |out, tmp| {
            let mut builder = Builder::new(out, random_seed(), self.geo.first_of(shard))
                .map_err(|e| build_error(e, tmp))?;
            self.feed(shard, row, &mut builder)?;
            builder.finish().map_err(|e| build_error(e, tmp))
        })?;
        ::metrics::gauge!(crate::metrics::LOG_INDEX_BYTES).increment(bytes as f64);
        let opened = IndexFile::open(&*self.fs, &path).map_err(ReadError::from)?;
        let h = opened.header;
        Ok(LogIndexStats {
            blocks: u64::from(h.blocks),
            logs: u64::from(h.logs),
            keys: u64::from(h.keys),
            bytes,
            millis: started.elapsed().as_millis() as u64,
        })
    }

    /// Whether the index file at `path` was written by another version of the format (then
    /// open writes it again; a file that does not read is left to `db verify`).
    pub(in crate::storage) fn log_index_outdated(&self, path: &std::path::Path) -> bool {
        let mut h = [0u8; 12];
        fsio::open_read(&*self.fs, path)
            .map_err(crate::storage::error::FileError::from)
            .and_then(|f| fsio::read_exact_at(&*f, path, &mut h, 0))
            .is_ok_and(|()| super::file::Header::other_version(&h))
    }

    /// Checks a sealed shard's index file: present, its body checksum, and the same bytes as a
    /// build from the shard's blocks with the file's seed would write.
    pub(in crate::storage) fn check_log_index(
        &self,
        shard: u64,
        row: &ShardRow,
    ) -> Result<(), StorageError> {
        let first = self.geo.first_of(shard);
        let dir = shard_dir(&self.dir, first);
        let path = index_path(&dir, row.seg_gen);
        let bad = |reason: String| StorageError::Verify {
            number: crate::primitives::BlockNumber(first),
            reason: format!("shard {shard} log index {}: {reason}", path.display()),
        };
        let file = IndexFile::open(&*self.fs, &path).map_err(|e| bad(e.to_string()))?;
        file.check_body().map_err(|e| bad(e.to_string()))?;
        let mut builder = Builder::new(std::io::sink(), file.header.seed, first)
            .map_err(|e| bad(e.to_string()))?;
        self.feed(shard, row, &mut builder)?;
        let (header, _) = builder.finish().map_err(|e| bad(e.to_string()))?;
        let mut on_disk = [0u8; HEADER];
        let f = fsio::open_read(&*self.fs, &path).map_err(ReadError::from)?;
        fsio::read_exact_at(&*f, &path, &mut on_disk, 0).map_err(ReadError::from)?;
        if header != on_disk {
            return Err(bad(
                "does not match the shard's logs (rebuild: delete it and open the store)".into(),
            ));
        }
        Ok(())
    }
}

/// What the index needs of stored block `n`: its timestamp, the hashes of the transactions that
/// logged (the others are `B256::ZERO`: no log refers to them) and its receipts. The
/// transactions are not decoded, and only those that logged are hashed: decoding every block
/// whole and hashing every transaction was about a third of a seal's CPU (perf, 5,000
/// mainnet-like blocks: 8% of histd's samples of the seal's 24%).
fn decode_for_logs(n: u64, f: &Frames) -> Result<(u64, Vec<B256>, Vec<Receipt>), ReadError> {
    let undecodable = |what: String| ReadError::Undecodable {
        number: crate::primitives::BlockNumber(n),
        what,
    };
    let header = record::decode_header(f.header()).map_err(undecodable)?;
    if header.number != n {
        return Err(undecodable(format!("frame holds block {}", header.number)));
    }
    let receipts = record::decode_receipts(f.receipts()).map_err(undecodable)?;
    let logged = |i: usize| receipts.get(i).is_some_and(|r| !r.logs.is_empty());
    let tx_hashes = record::decode_tx_hashes(f.txs(), logged).map_err(undecodable)?;
    Ok((header.timestamp, tx_hashes, receipts))
}

fn io_error(op: &'static str, path: &std::path::Path, source: std::io::Error) -> WriteError {
    IoError {
        op,
        path: path.to_path_buf(),
        source,
    }
    .into()
}

fn build_error(e: BuildError, path: &std::path::Path) -> WriteError {
    match e {
        BuildError::Io(source) => io_error("write", path, source),
        BuildError::TooManyLogs => CorruptError {
            path: path.to_path_buf(),
            offset: 0,
            what: e.to_string(),
        }
        .into(),
    }
}
