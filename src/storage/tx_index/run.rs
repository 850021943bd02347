//! A transaction run (`txruns/run-<first shard>-<tag>.idx`): the transaction index of an aligned
//! group of [`GROUP`] sealed shards merged into one file, so a lookup probes one file per group
//! instead of one per shard (two positioned reads either way). Owns the run's format, its name
//! and [`TxRun`], an open run with its cover. Never decides whether a run may answer a lookup
//! (`lookup.rs` compares the cover with its snapshot) or when one is written (`merge.rs`).
//!
//! ```text
//! index   the format of file.rs over the group's blocks: first block = the group's first,
//!         blocks = GROUP × shard size, each entry's block an offset from the group's first
//! cover   magic "HTXRUNC1" | shards u32 | shards × (shard u64 | seg_gen u32 | seal_crc u32)
//!         | crc32 u32 of the cover's bytes before it (all LE)
//! ```
//!
//! The cover names every shard the run was merged from: the segment generation and the seal
//! checksum (`ShardRow::seal_crc`, the checksum of the sealed segment), so a shard rolled back
//! and sealed again, even at the same generation, no longer matches unless its segment is the
//! same bytes (and then the same transactions).

use std::path::{Path, PathBuf};

use super::file::TxFile;
use crate::storage::error::{CorruptError, FileError};
use crate::storage::layout::{ShardRow, u32_at, u64_at};

/// Shards per run. A lookup probes one run per group of this many sealed shards (mainnet's some
/// 2,300 shards of 10,000 blocks: 36 runs instead of 2,300 files); a larger group means fewer
/// probes but a longer merge at the seal that completes it (it streams the group's files twice
/// and writes them once, under the writer lock). Entries keep a `u32` block offset from the
/// run's first block: 64 × `MAX_SHARD_SIZE` (1,000,000) blocks is far below 2^32.
pub const GROUP: u64 = 64;

const MAGIC: &[u8; 8] = b"HTXRUNC1";
/// Bytes of one covered shard in the cover.
const COVERED: usize = 16;

/// One shard a run was merged from, as its row said then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Covered {
    pub shard: u64,
    pub seg_gen: u32,
    pub seal_crc: u32,
}

impl Covered {
    /// The shard as its (sealed) row describes it.
    pub fn of(shard: u64, row: &ShardRow) -> Self {
        Self {
            shard,
            seg_gen: row.seg_gen,
            seal_crc: row.seal_crc,
        }
    }
}

/// The group of shard `shard`.
pub fn group_of(shard: u64) -> u64 {
    shard / GROUP
}

/// The directory of the runs.
pub fn runs_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("txruns")
}

/// The cover's bytes (without its trailing checksum).
fn cover_bytes(cover: &[Covered]) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + cover.len() * COVERED + 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(cover.len() as u32).to_le_bytes());
    for c in cover {
        out.extend_from_slice(&c.shard.to_le_bytes());
        out.extend_from_slice(&c.seg_gen.to_le_bytes());
        out.extend_from_slice(&c.seal_crc.to_le_bytes());
    }
    out
}

/// The cover as written after a run's body, its checksum last.
pub fn encode_cover(cover: &[Covered]) -> Vec<u8> {
    let mut out = cover_bytes(cover);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The tag in a run's name: the cover's checksum, so a group sealed again with other shards
/// gets another name and a lookup can name the run its snapshot wants without listing.
pub fn tag_of(cover: &[Covered]) -> u32 {
    crc32fast::hash(&cover_bytes(cover))
}

/// The run of the group starting at shard `first_shard` with this cover.
pub fn run_path(data_dir: &Path, first_shard: u64, tag: u32) -> PathBuf {
    runs_dir(data_dir).join(format!("run-{first_shard:012}-{tag:08x}.idx"))
}

/// The (first shard, tag) a run's file name says, `None` for any other name.
pub fn parse_run_name(name: &str) -> Option<(u64, u32)> {
    let rest = name.strip_prefix("run-")?.strip_suffix(".idx")?;
    let (first, tag) = rest.split_once('-')?;
    if first.len() != 12 || tag.len() != 8 {
        return None;
    }
    Some((first.parse().ok()?, u32::from_str_radix(tag, 16).ok()?))
}

/// An open run: its index (`file.rs`) and the shards it covers.
#[derive(Debug)]
pub struct TxRun {
    pub file: TxFile,
    pub cover: Vec<Covered>,
}

impl TxRun {
    /// The run's size on disk: its index and its cover.
    pub fn bytes(&self) -> u64 {
        self.file.len() + (12 + self.cover.len() * COVERED + 4) as u64
    }

    /// Opens the run at `path` and reads its cover (checksummed). The body's checksum is checked
    /// when the run is written, split (`replace.rs`) and checked by `db verify` (`check_run.rs`).
    pub fn open(fs: &dyn crate::storage::FileSystem, path: &Path) -> Result<Self, FileError> {
        let (file, len) = TxFile::open_with_trailer(fs, path)?;
        let at = file.len();
        let bad = |what: String| -> FileError {
            CorruptError {
                path: path.to_path_buf(),
                offset: at,
                what,
            }
            .into()
        };
        let trailer = len - at;
        if trailer < 16
            || (trailer - 16) % COVERED as u64 != 0
            || (trailer - 16) / COVERED as u64 > GROUP
        {
            return Err(bad(format!("a run's cover of {trailer} bytes")));
        }
        let mut bytes = vec![0u8; trailer as usize];
        file.read_at(&mut bytes, at)?;
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        if &body[..8] != MAGIC || crc32fast::hash(body) != u32_at(crc, 0) {
            return Err(bad("a run's cover is damaged".into()));
        }
        let count = u32_at(body, 8) as usize;
        if count * COVERED != body.len() - 12 {
            return Err(bad("a run's cover disagrees with its length".into()));
        }
        let cover = body[12..]
            .chunks_exact(COVERED)
            .map(|c| Covered {
                shard: u64_at(c, 0),
                seg_gen: u32_at(c, 8),
                seal_crc: u32_at(c, 12),
            })
            .collect();
        Ok(Self { file, cover })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_other_names_are_not_runs() {
        let p = run_path(Path::new("/d"), 128, 0xdead_beef);
        let name = p.file_name().and_then(|n| n.to_str()).expect("name");
        assert_eq!(parse_run_name(name), Some((128, 0xdead_beef)));
        assert_eq!(parse_run_name(&format!("{name}.tmp")), None);
        assert_eq!(parse_run_name("run-12-00000000.idx"), None);
    }

    #[test]
    fn the_tag_changes_with_any_shard_of_the_cover() {
        let cover: Vec<Covered> = (0..GROUP)
            .map(|shard| Covered {
                shard,
                seg_gen: 1,
                seal_crc: shard as u32,
            })
            .collect();
        let mut other = cover.clone();
        other[7].seal_crc ^= 1;
        assert_ne!(tag_of(&cover), tag_of(&other));
        assert_eq!(encode_cover(&cover).len(), 12 + 64 * COVERED + 4);
    }
}
