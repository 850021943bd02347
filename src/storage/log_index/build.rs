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
use super::tx_hashes::SideFile;
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

/// Where a build takes the hashes of the transactions that logged from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TxHashes {
    /// The shard's side file where a block's record checks out, hashing the others (the seal).
    SideFile,
    /// Hashing the stored transactions of every block (`db verify`: the independent check).
    Rehash,
}

impl Storage {
    /// Feeds every block of a complete shard to `builder`, in order.
    fn feed<W: Write>(
        &self,
        shard: u64,
        row: &ShardRow,
        builder: &mut Builder<W>,
        source: TxHashes,
    ) -> Result<(), WriteError> {
        let first = self.geo.first_of(shard);
        let dir = shard_dir(&self.dir, first);
        let mut files = ShardFiles::open(self, shard, row.clone());
        let mut scratch = Scratch::default();
        let mut side = match source {
            TxHashes::SideFile => SideFile::open(&*self.fs, &dir),
            TxHashes::Rehash => None,
        };
        let mut tally = Tally::default();
        for n in first..=self.geo.last_of(shard) {
            let f = files.complete_frames(n)?;
            let from = feed_block(n, &f, &mut scratch, side.as_mut(), builder)
                .map_err(|e| feed_error(e, &dir))?;
            tally.add(from);
        }
        if let Some(side) = &side {
            tracing::debug!(
                shard,
                from_side = tally.side_file,
                hashed = tally.stored,
                no_logs = tally.not_needed,
                side_records = side.blocks(),
                "log index: transaction hashes from the side file"
            );
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
            self.feed(shard, row, &mut builder, TxHashes::SideFile)?;
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
        // Never from the side file: this is the check of what the seal built with it.
        self.feed(shard, row, &mut builder, TxHashes::Rehash)?;
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

/// Buffers one build reuses from block to block (the decompressed frames, the hashes).
#[derive(Default)]
struct Scratch {
    receipts: Vec<u8>,
    txs: Vec<u8>,
    tx_hashes: Vec<B256>,
}

/// Where one block's transaction hashes came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HashesFrom {
    /// The side file's record for the block.
    SideFile,
    /// The stored transactions (those that logged hashed).
    Stored,
    /// Nowhere: the block logged nothing, so the build needs none (seal with a side file only).
    NotNeeded,
}

/// How many blocks of a build took their hashes from where.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Tally {
    side_file: u64,
    stored: u64,
    not_needed: u64,
}

impl Tally {
    fn add(&mut self, from: HashesFrom) {
        match from {
            HashesFrom::SideFile => self.side_file += 1,
            HashesFrom::Stored => self.stored += 1,
            HashesFrom::NotNeeded => self.not_needed += 1,
        }
    }
}

/// Why feeding one block failed: its frames, or the builder.
enum FeedError {
    Read(ReadError),
    Build(BuildError),
}

impl From<BuildError> for FeedError {
    fn from(e: BuildError) -> Self {
        Self::Build(e)
    }
}

/// Feeds stored block `n` to `builder`: its timestamp, then each log with the hash of the
/// transaction that emitted it. The logs are walked in the stored receipts' bytes (no `Receipt`
/// or `Log` is built: allocating and freeing one per log was about a third of the walk). The
/// hashes come from `side` when it holds a good record for this block (then the transactions
/// frame is not even decompressed); otherwise the transactions are not decoded, and only those
/// that logged are hashed: decoding every block whole and hashing every transaction was about a
/// third of a seal's CPU (perf, 5,000 mainnet-like blocks: 8% of histd's samples of the seal's
/// 24%). A block that logged nothing needs no hash: with a side file (the seal) neither it nor
/// the transactions frame is read. Without one (`db verify`, or a seal whose side file is gone)
/// the frame is still walked as before, so what verify reads and reports stays the same.
fn feed_block<W: Write>(
    n: u64,
    f: &Frames,
    scratch: &mut Scratch,
    side: Option<&mut SideFile>,
    builder: &mut Builder<W>,
) -> Result<HashesFrom, FeedError> {
    let undecodable = |what: String| {
        FeedError::Read(ReadError::Undecodable {
            number: crate::primitives::BlockNumber(n),
            what,
        })
    };
    let header = f.checked_header(n).map_err(undecodable)?;
    record::decompress_into(f.receipts(), &mut scratch.receipts).map_err(undecodable)?;
    let mut logs = Vec::new();
    let txs = record::for_each_log(&scratch.receipts, |tx, log| logs.push((tx, log)))
        .map_err(undecodable)?;
    let from = if side.is_some() && logs.is_empty() {
        // No log, no hash to look up: the side file's read (a page-cache read per block) is
        // skipped, and the builder below asks `tx_hashes` for nothing.
        HashesFrom::NotNeeded
    } else if side.is_some_and(|s| s.hashes(n, &f.hash, txs, &mut scratch.tx_hashes)) {
        // The side file's record counts only if it names this block's hash and as many
        // transactions as the stored receipts (one receipt per transaction).
        HashesFrom::SideFile
    } else {
        // `logs` is in transaction order.
        let logged = |i: usize| logs.binary_search_by_key(&i, |(tx, _)| *tx).is_ok();
        record::decode_tx_hashes(f.txs(), logged, &mut scratch.txs, &mut scratch.tx_hashes)
            .map_err(undecodable)?;
        HashesFrom::Stored
    };
    builder.begin_block(f.hash, header.timestamp);
    for (tx, log) in logs {
        let tx_hash = scratch.tx_hashes.get(tx).copied().unwrap_or_default();
        builder.push_log(tx, &tx_hash, log)?;
    }
    Ok(from)
}

fn io_error(op: &'static str, path: &std::path::Path, source: std::io::Error) -> WriteError {
    IoError {
        op,
        path: path.to_path_buf(),
        source,
    }
    .into()
}

fn feed_error(e: FeedError, path: &std::path::Path) -> WriteError {
    match e {
        FeedError::Read(e) => e.into(),
        FeedError::Build(e) => build_error(e, path),
    }
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

#[cfg(test)]
mod tests {
    use super::super::tx_hashes;
    use super::*;
    use crate::primitives::VerifiedBlock;
    use crate::storage::record::tests::mainnet;
    use crate::storage::record::{Retention, TxRetention};
    use crate::testkit::testnet::{ChainKind, TestnetChain};

    /// 120 mainnet-like blocks: enough logs to train the chunks' dictionary.
    fn testnet() -> Vec<VerifiedBlock> {
        let chain = TestnetChain::build(ChainKind::Mainnet, 5, 120);
        (0..120)
            .map(|i| chain.verified_block(i).expect("built").expect("verifies"))
            .collect()
    }

    /// The file the build wrote from decoded receipts (before it walked the stored bytes).
    fn from_decoded(blocks: &[VerifiedBlock], seed: u64) -> Vec<u8> {
        let first = blocks[0].number().get();
        let mut b = Builder::new(Vec::new(), seed, first).expect("builder");
        for block in blocks {
            let hashes: Vec<_> = block.transaction_hashes().collect();
            b.push_block(
                block.hash(),
                block.header().timestamp,
                &hashes,
                block.receipts(),
            )
            .expect("push");
        }
        let (header, mut body) = b.finish().expect("finish");
        body.splice(0..0, header);
        body
    }

    /// (length, crc32) of a file.
    fn fingerprint(file: &[u8]) -> (usize, u32) {
        (file.len(), crc32fast::hash(file))
    }

    /// The bytes of format version 2 as the build wrote them before it walked the stored
    /// receipts (fingerprints taken from that build): a change of the bytes written needs a
    /// version bump, or every existing file fails `db verify`.
    #[test]
    fn the_decoded_path_writes_the_format_2_bytes() {
        assert_eq!(
            fingerprint(&from_decoded(&mainnet(), 7)),
            (306_449, 2_469_909_280)
        );
        assert_eq!(
            fingerprint(&from_decoded(&testnet(), 7)),
            (1_919_718, 3_575_814_342)
        );
    }

    /// A block's frames as the store reads them back.
    fn frames(block: &VerifiedBlock, transactions: TxRetention) -> Frames {
        let e = record::encode(block, Retention { transactions });
        let lens = e.lens();
        Frames {
            hash: e.hash,
            lens,
            bytes: [e.header, e.txs, e.receipts].concat(),
        }
    }

    /// The file the build writes from the stored frames (what a seal and `db verify` do).
    fn from_frames(blocks: &[VerifiedBlock], seed: u64, transactions: TxRetention) -> Vec<u8> {
        from_frames_with(blocks, seed, transactions, None).0
    }

    /// [`from_frames`] with the hashes from a side file holding `side` (as written), and how
    /// many blocks took them from where.
    fn from_frames_with(
        blocks: &[VerifiedBlock],
        seed: u64,
        transactions: TxRetention,
        side: Option<&[u8]>,
    ) -> (Vec<u8>, Tally) {
        let sim = crate::storage::sim::SimDisk::new();
        let fs = sim.disk();
        let dir = std::path::Path::new("/shard");
        fs.create_dir_all(dir).expect("dir");
        let mut side = side.and_then(|bytes| {
            let f = fs
                .open(
                    &tx_hashes::path(dir),
                    crate::storage::backend::OpenMode::Create,
                )
                .expect("create");
            f.write_all_at(bytes, 0).expect("write");
            SideFile::open(&*fs, dir)
        });
        let first = blocks[0].number().get();
        let mut b = Builder::new(Vec::new(), seed, first).expect("builder");
        let mut scratch = Scratch::default();
        let mut tally = Tally::default();
        for block in blocks {
            let f = frames(block, transactions);
            let fed = feed_block(
                block.number().get(),
                &f,
                &mut scratch,
                side.as_mut(),
                &mut b,
            );
            assert!(fed.is_ok());
            tally.add(fed.unwrap_or(HashesFrom::Stored));
        }
        let (header, mut body) = b.finish().expect("finish");
        body.splice(0..0, header);
        (body, tally)
    }

    /// How many of `blocks` logged nothing.
    fn without_logs(blocks: &[VerifiedBlock]) -> u64 {
        blocks
            .iter()
            .filter(|b| b.receipts().iter().all(|r| r.logs.is_empty()))
            .count() as u64
    }

    /// A side file as the writer appends it for `blocks`.
    fn side_file(blocks: &[VerifiedBlock]) -> Vec<u8> {
        let mut out = Vec::new();
        for b in blocks {
            let hashes: Vec<_> = b.transaction_hashes().collect();
            tx_hashes::encode_record(&mut out, b.number().get(), &b.hash(), &hashes);
        }
        out
    }

    #[test]
    fn the_build_from_the_side_file_writes_the_same_bytes() {
        let mut quiet_blocks = 0;
        for (name, blocks) in [("mainnet", mainnet()), ("testnet", testnet())] {
            let want = from_decoded(&blocks, 7);
            let side = side_file(&blocks);
            let quiet = without_logs(&blocks);
            for transactions in [TxRetention::Full, TxRetention::Hashes] {
                let (got, tally) = from_frames_with(&blocks, 7, transactions, Some(&side));
                assert!(got == want, "{name} {transactions:?}");
                // Every block that logged took its hashes from the file; the others none.
                let all = Tally {
                    side_file: blocks.len() as u64 - quiet,
                    stored: 0,
                    not_needed: quiet,
                };
                assert_eq!(tally, all, "{name} {transactions:?}");
                // Without one (`db verify`) every block is walked from its stored frames.
                let (_, tally) = from_frames_with(&blocks, 7, transactions, None);
                let walked = Tally {
                    side_file: 0,
                    stored: blocks.len() as u64,
                    not_needed: 0,
                };
                assert_eq!(tally, walked, "{name} {transactions:?}");
            }
            quiet_blocks += quiet;
        }
        // The skip is exercised (the testnet chain has a block that logged nothing).
        assert!(quiet_blocks > 0);
    }

    #[test]
    fn a_side_file_that_does_not_check_out_falls_back_to_hashing() {
        let blocks = testnet();
        let want = from_decoded(&blocks, 7);
        let side = side_file(&blocks);
        let logged = blocks.len() as u64 - without_logs(&blocks);
        let build = |side: &[u8]| from_frames_with(&blocks, 7, TxRetention::Full, Some(side));
        // Cut short (a crash mid-append): the blocks before the cut from it, the rest hashed.
        let (got, tally) = build(&side[..side.len() / 2]);
        assert!(got == want);
        assert!(tally.side_file > 0 && tally.stored > 0, "{tally:?}");
        assert_eq!(tally.side_file + tally.stored, logged, "{tally:?}");
        // One damaged byte: that record and every later one ignored.
        let mut damaged = side.clone();
        damaged[side.len() / 2] ^= 0x40;
        let (got, tally) = build(&damaged);
        assert!(got == want);
        assert!(tally.stored > 0, "{tally:?}");
        // Records of other blocks at these numbers (a block dropped and fetched again): none
        // used, and a later record for a number wins only when its hash matches.
        let mut other = Vec::new();
        let mut mixed = side.clone();
        for b in &blocks {
            let hashes = vec![B256::repeat_byte(0xab); b.receipts().len()];
            let wrong = B256::repeat_byte(0xcd);
            tx_hashes::encode_record(&mut other, b.number().get(), &wrong, &hashes);
            tx_hashes::encode_record(&mut mixed, b.number().get(), &wrong, &hashes);
        }
        let (got, tally) = build(&other);
        assert!(got == want);
        assert_eq!((tally.side_file, tally.stored), (0, logged));
        let (got, tally) = build(&mixed);
        assert!(got == want);
        assert_eq!((tally.side_file, tally.stored), (logged, 0));
        // The right hash but not the block's transaction count: hashed.
        let mut long = Vec::new();
        for b in &blocks {
            let hashes: Vec<_> = b.transaction_hashes().chain([B256::ZERO]).collect();
            tx_hashes::encode_record(&mut long, b.number().get(), &b.hash(), &hashes);
        }
        let (got, tally) = build(&long);
        assert!(got == want);
        assert_eq!((tally.side_file, tally.stored), (0, logged));
        // Garbage: nothing from it.
        let (got, tally) = build(&[0x5a; 4096]);
        assert!(got == want);
        assert_eq!((tally.side_file, tally.stored), (0, logged));
    }

    /// A record the writer never appends (the block's hash, other transaction hashes, a good
    /// crc) is used as it is: the block hash match is the check, so this is what `db verify`,
    /// which never reads the side file, is there to catch.
    #[test]
    fn a_forged_record_is_used_so_db_verify_must_rehash() {
        let blocks = mainnet();
        let want = from_decoded(&blocks, 7);
        let mut forged = Vec::new();
        for b in &blocks {
            let hashes = vec![B256::repeat_byte(0xab); b.receipts().len()];
            tx_hashes::encode_record(&mut forged, b.number().get(), &b.hash(), &hashes);
        }
        let (got, tally) = from_frames_with(&blocks, 7, TxRetention::Full, Some(&forged));
        assert_eq!(tally.stored, 0);
        assert!(tally.side_file > 0);
        assert!(got != want);
    }

    #[test]
    fn the_build_from_stored_frames_writes_the_decoded_paths_bytes() {
        for (name, blocks) in [("mainnet", mainnet()), ("testnet", testnet())] {
            assert!(
                blocks
                    .iter()
                    .any(|b| b.receipts().iter().any(|r| !r.logs.is_empty()))
            );
            let want = from_decoded(&blocks, 7);
            for transactions in [TxRetention::Full, TxRetention::Hashes] {
                let got = from_frames(&blocks, 7, transactions);
                assert!(got == want, "{name} {transactions:?}");
            }
        }
    }

    #[test]
    fn a_damaged_receipts_frame_is_an_error() {
        let block = &mainnet()[0];
        let good = frames(block, TxRetention::Full);
        let mut raw = Vec::new();
        record::decompress_into(good.receipts(), &mut raw).expect("frame");
        let n = block.number().get();
        let feed = |receipts: &[u8]| {
            let mut f = frames(block, TxRetention::Full);
            let keep = f.bytes.len() - f.lens.receipts as usize;
            f.bytes.truncate(keep);
            f.bytes.extend_from_slice(receipts);
            f.lens.receipts = receipts.len() as u32;
            let mut b = Builder::new(std::io::sink(), 7, n).expect("builder");
            feed_block(n, &f, &mut Scratch::default(), None, &mut b)
        };
        let compress = |raw: &[u8]| zstd::bulk::compress(raw, 3).expect("compress");
        assert!(feed(&compress(&raw)).is_ok());
        assert!(matches!(feed(&[]), Err(FeedError::Read(_))));
        assert!(matches!(
            feed(&compress(&raw[..raw.len() / 2])),
            Err(FeedError::Read(_))
        ));
    }
}
