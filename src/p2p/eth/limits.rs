//! Size and count caps on what a peer may send, checked before anything is allocated.

/// Largest eth message payload (uncompressed) we accept. The eth spec: "the actual limit of the
/// eth protocol is lower [than RLPx's 16.7 MiB], usually 10 MiB".
pub const MAX_MESSAGE_SIZE: usize = 10 * 1024 * 1024;

/// Most headers in one `BlockHeaders` response, and the most a `GetBlockHeaders` we serve
/// returns (geth's `maxHeadersServe`).
pub const MAX_HEADERS: usize = 1024;

/// Most hashes in one `GetBlockBodies` / `GetReceipts` request, and most bodies or blocks of
/// receipts in a response.
pub const MAX_BLOCKS_PER_REQUEST: usize = 1024;

/// Most receipts in one block of a `Receipts` response (a 60M-gas block holds < 3000 txs).
pub const MAX_RECEIPTS_PER_BLOCK: usize = 65_536;

/// Most hashes in a `GetPooledTransactions` and transactions in a `PooledTransactions`.
pub const MAX_POOLED_TRANSACTIONS: usize = 4096;
