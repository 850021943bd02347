//! Index files kept open between queries: opening one costs a file open, a header read and
//! loading its dictionary (64 KiB) into a decompression table, more than a small query's whole
//! search. The cache itself is `open_files.rs`'s; `search.rs` hands it what it opened.

use super::file::IndexFile;
use crate::storage::open_files::OpenFiles;

/// The cache: some 100 KiB of memory and one descriptor per file, sized by
/// `open_files::Budget::log_files`.
pub type OpenIndexes = OpenFiles<IndexFile>;
