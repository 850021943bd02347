//! Finding the candidates for a transaction hash: the unsealed tail's `TX_BLOCKS` values
//! scanned, every sealed shard's file probed, all in one redb snapshot (a shard sealed
//! meanwhile is seen either as tail or as file, never both or neither).

use std::sync::Arc;

use alloy_primitives::B256;
use redb::ReadableTable;

use super::file::TxFile;
use super::index_path;
use crate::storage::Storage;
use crate::storage::error::ReadError;
use crate::storage::index::{SHARDS, TX_BLOCKS};
use crate::storage::shard::{ShardState, shard_dir};

impl Storage {
    /// The (block, index) of every stored transaction whose hash starts like `hash`, ascending:
    /// the caller keeps the first whose stored transaction has exactly this hash (so a hash
    /// stored twice answers with its lowest block, as the schema-2 index did).
    pub(in crate::storage) fn tx_candidates(
        &self,
        hash: &B256,
    ) -> Result<Vec<(u64, u32)>, ReadError> {
        let txn = self.read_txn()?;
        let mut out = Vec::new();
        let prefix = crate::storage::index::tx_prefix(hash);
        let tail = txn.open_table(TX_BLOCKS)?;
        tail_candidates(&tail, prefix, &mut out)?;
        let shards = txn.open_table(SHARDS)?;
        for item in shards.range(0u64..)? {
            let (k, _) = item?;
            let shard = k.value();
            let Some(row) = self.row::<ReadError>(&shards, shard)? else {
                continue;
            };
            if row.state != ShardState::Sealed {
                continue;
            }
            let file = match self.tx_files.get(shard, row.seg_gen) {
                Some(f) => f,
                None => {
                    let dir = shard_dir(&self.dir, self.geo.first_of(shard));
                    let f = Arc::new(TxFile::open(&*self.fs, &index_path(&dir, row.seg_gen))?);
                    self.tx_files.put(shard, row.seg_gen, f.clone());
                    f
                }
            };
            file.candidates(prefix, &mut out)?;
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
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
