//! Transaction index files kept open between lookups: a lookup probes every sealed shard, and
//! opening a file (open, header read) would cost more than the two reads of the probe. The
//! cache itself is `open_files.rs`'s; `lookup.rs` hands it what it opened.

use super::file::TxFile;
use crate::storage::open_files::OpenFiles;

/// The cache: one descriptor and a few dozen bytes per file, sized by
/// `open_files::Budget::tx_files` (a lookup probes every sealed shard, so it should hold them
/// all: mainnet has some 2,300 of 10,000 blocks). A file not kept is reopened, which costs an
/// open and a header read, not a wrong answer.
pub type OpenTxFiles = OpenFiles<TxFile>;
