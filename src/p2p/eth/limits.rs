//! Size and count caps on what a peer may send, checked before anything is allocated.

/// Largest eth message payload (uncompressed) we accept; below the base protocol's
/// `MAX_RLPX_MESSAGE_SIZE` (16 MiB), which bounds any message on the connection. The eth spec: "the actual limit of the
/// eth protocol is lower [than RLPx's 16.7 MiB], usually 10 MiB".
pub const MAX_ETH_MESSAGE_SIZE: usize = 10 * 1024 * 1024;

/// Most headers in one `BlockHeaders` response, and the most a `GetBlockHeaders` we serve
/// returns (geth's `maxHeadersServe`).
pub const MAX_HEADERS: usize = 1024;

/// Most hashes in one `GetBlockBodies` / `GetReceipts` request, and most bodies or blocks of
/// receipts in a response.
pub const MAX_BLOCKS_PER_REQUEST: usize = 1024;

/// Most transactions in one body, and receipts in one block's receipt list: a transaction costs
/// at least 21000 gas, so this allows blocks of up to 344M gas (mainnet today: well under 100M).
pub const MAX_TRANSACTIONS_PER_BLOCK: usize = 16_384;

/// Most transactions in one `BlockBodies` message, and receipts in one `Receipts` message, all
/// blocks together. Transactions are where decoding amplifies memory most (a 10-byte legacy
/// transaction decodes to a 336-byte value), so the total is bounded, not just the bytes. Honest
/// peers stop near 2 MiB per response, i.e. at most a few tens of thousands of transactions.
pub const MAX_TRANSACTIONS_PER_MESSAGE: usize = 65_536;

/// Most hashes in a `GetPooledTransactions` and transactions in a `PooledTransactions`.
pub const MAX_POOLED_TRANSACTIONS: usize = 4096;

/// Soft cap on the payload of a response we serve: stop adding bodies/receipts/headers once the
/// response reaches this size (geth's `softResponseLimit`); peers do the same, so partial answers
/// are normal.
pub const SOFT_RESPONSE_LIMIT: usize = 2 * 1024 * 1024;
