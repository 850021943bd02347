//! Transaction index files kept open between lookups: a lookup probes every sealed shard, and
//! opening a file (open, header read) would cost more than the two reads of the probe. The
//! cache itself is `open_files.rs`'s; `lookup.rs` hands it what it opened.

use super::file::TxFile;
use crate::storage::open_files::OpenFiles;

/// The cache: at most 512 files kept open (one descriptor and a few dozen bytes each; 5 million
/// blocks in shards of 10,000). Past that a lookup reopens files, which costs an open and a
/// header read per shard, not a wrong answer; the bound keeps the descriptors well inside a
/// default limit of 1,024 beside the log index's 256.
pub type OpenTxFiles = OpenFiles<TxFile, 512>;
