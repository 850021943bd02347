//! Metric names, defined in one place; components record, the exporter lives in the daemon.
//!
//! Every Prometheus series histd exports is named here, with its kind and help text (docs/architecture.md).
//! Components record with the `metrics` macros using these constants (`gauge!(metrics::HEAD_SEEN)`);
//! they never install a recorder or serve anything. This module must never do I/O.

/// What kind of series a name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// The daemon phase as a state set: label `phase` = `startup|fast_sync|finalizing|follow|shutting_down`,
/// value 1 for the current phase and 0 for the others.
pub const PHASE: &str = "histd_phase";
/// Phase transitions taken, labels `from`, `to`.
pub const PHASE_TRANSITIONS: &str = "histd_phase_transitions_total";
/// Highest head reported by peers (monotonic).
pub const HEAD_SEEN: &str = "histd_head_seen";
/// `head_seen - rollback_window` (monotonic): the fast-sync target in follow mode.
pub const SAFE_HEAD: &str = "histd_safe_head";
/// Highest block stored contiguously from `start_block`.
pub const LAST_INDEXED: &str = "histd_last_indexed_block";
/// Connected peers with a completed eth handshake.
pub const PEERS: &str = "histd_peers";
/// Verified blocks handed to storage.
pub const BLOCKS_INGESTED: &str = "histd_blocks_ingested_total";
/// Bytes of verified block data handed to storage (the eth RLP of their answers, before compression).
pub const BYTES_INGESTED: &str = "histd_bytes_ingested_total";
/// Total size of all shard WALs.
pub const WAL_BYTES: &str = "histd_wal_bytes";
/// Writes that found the data directory's filesystem full (fast-sync then stops, exit code 4).
pub const DISK_FULL: &str = "histd_disk_full_total";
/// Shards with a WAL not yet compacted.
pub const DIRTY_SHARDS: &str = "histd_dirty_shards";
/// Shards sealed (complete, compacted, below the safe point: never rolled back), as of the last
/// finalizing.
pub const SEALED_SHARDS: &str = "histd_sealed_shards";
/// Storage: bytes of the sealed shards' log index files.
pub const LOG_INDEX_BYTES: &str = "histd_log_index_bytes";
/// Storage: bytes of the sealed shards' transaction index: their files (`txs-<gen>.idx`) and
/// the runs that replace them (`txruns/run-*.idx`), counted like [`LOG_INDEX_BYTES`]: the files
/// and valid runs present on open, plus each written, less each file a run replaced. One gauge,
/// not one per kind: a run holds the same entries as the files it replaces, so the sum is the
/// index's disk cost whichever holds a shard's entries.
pub const TX_INDEX_BYTES: &str = "histd_tx_index_bytes";
/// histd's own CPU seconds by ingest stage, label `stage` (`rlpx`, `rlp_decode`, `verify`,
/// `compress`, `disk_write`, `compaction`: `crate::stage_cpu`). Thread CPU time, not wall time;
/// the rest of the process's CPU (scheduling, sessions, RPC) is in no stage.
pub const CPU_SECONDS: &str = "histd_cpu_seconds_total";
/// Seconds each shard compaction took (WAL folded into a sorted segment), successful ones only.
pub const COMPACTION_SECONDS: &str = "histd_compaction_duration_seconds";
/// Answers whose data failed verification, label `kind` (`transactions_root`, `receipts_root`,
/// `header_link`, ...: a fixed set, one per check).
pub const VERIFY_FAILURES: &str = "histd_verification_failures_total";
/// Follow reorder buffer: the next block number the sorted writer expects.
pub const REORDER_EXPECTED: &str = "histd_reorder_expected";
/// Follow reorder buffer: blocks held.
pub const REORDER_LEN: &str = "histd_reorder_len";
/// Follow reorder buffer: smallest block number held.
pub const REORDER_MIN_KEY: &str = "histd_reorder_min_key";
/// Follow reorder buffer: largest block number held.
pub const REORDER_MAX_KEY: &str = "histd_reorder_max_key";
/// Follow reorder buffer: largest gap between consecutive held blocks.
pub const REORDER_MAX_GAP: &str = "histd_reorder_max_gap";
/// Follow reorder buffer: most blocks held at once since the start (never above the follow
/// window).
pub const REORDER_PEAK: &str = "histd_reorder_peak";
/// Reorgs rolled back in follow.
pub const REORGS: &str = "histd_reorgs_total";
/// Depth (blocks rolled back below the stored tip) of each reorg follow rolled back.
pub const REORG_DEPTH: &str = "histd_reorg_depth_blocks";
/// JSON-RPC requests, label `method`.
pub const RPC_REQUESTS: &str = "histd_rpc_requests_total";
/// JSON-RPC requests answered with an error, labels `method` and `code` (the JSON-RPC error code).
pub const RPC_ERRORS: &str = "histd_rpc_errors_total";
/// JSON-RPC request latency in seconds, label `method`.
pub const RPC_LATENCY: &str = "histd_rpc_request_duration_seconds";
/// Peer pool: sessions by client and eth version, labels `client` (Hello name before the first
/// `/`, lowercased), `version` (`eth/68`, `eth/69`).
pub const POOL_PEERS: &str = "histd_pool_peers";
/// Peer pool: sessions whose head is known and that are not banned.
pub const POOL_USABLE_PEERS: &str = "histd_pool_usable_peers";
/// Peer pool: outbound dial attempts.
pub const POOL_DIAL_ATTEMPTS: &str = "histd_pool_dial_attempts_total";
/// Peer pool: outbound dials that failed (connect or handshake).
pub const POOL_DIAL_FAILURES: &str = "histd_pool_dial_failures_total";
/// Peer pool: inbound connections, label `result`: `accepted`; `failed` (handshake error);
/// `handshake_timeout` (over the handshake budget); `throttled` (closed on accept: its public
/// address connected less than the throttle period ago); `address_banned` (closed on accept:
/// its address is banned for a breach); `ip_handshakes` (closed on accept: too many
/// handshakes from its address); `inbound_full` (every inbound slot taken); `ip_sessions` (too
/// many sessions from its address); `refused` (banned, duplicate, ourselves, pool full).
pub const POOL_INBOUND: &str = "histd_pool_inbound_total";
/// Peer pool: seconds each inbound handshake took, finished or cut off by its budget.
pub const POOL_INBOUND_HANDSHAKE_SECONDS: &str = "histd_pool_inbound_handshake_seconds";
/// Peer pool: bans, labels `kind` (`temporary`, `permanent`) and `reason`.
pub const POOL_BANS: &str = "histd_pool_bans_total";
/// Peer pool: node records received from discovery, label `source` (`static`, `dns`, `discv4`).
pub const POOL_DISCOVERED: &str = "histd_pool_discovered_nodes_total";
/// Peer pool: head claims refused, label `reason` (`impossible`: above the chain's physical
/// bound; the peer is banned).
pub const POOL_HEAD_CLAIMS_REFUSED: &str = "histd_pool_head_claims_refused_total";
/// Peer pool: networks (IPv4 /24, IPv6 /48) with a head vote now.
pub const POOL_HEAD_NETWORKS: &str = "histd_pool_head_networks";
/// Peer pool: networks whose vote is at or above `head_seen` (the votes behind the head).
pub const POOL_HEAD_VOTES_AT_SEEN: &str = "histd_pool_head_votes_at_seen";
/// Peer pool: head claims not counted because another peer of the same network already votes.
pub const POOL_HEAD_CLAIMS_SAME_NETWORK: &str = "histd_pool_head_claims_same_network";
/// Peer pool: nodes known as dial candidates.
pub const POOL_CANDIDATES: &str = "histd_pool_dial_candidates";
/// Sessions ended, label `reason` (`local`, `write_timeout`: the peer did not read,
/// `request_timeouts`: several unanswered requests in a row, `idle`, `unsolicited_response`,
/// `protocol_breach`, `peer_disconnected`, `closed`, `other`).
pub const SESSION_ENDS: &str = "histd_session_ends_total";
/// Requests that timed out (each fails alone; the session may live on), label `kind`.
pub const SESSION_REQUEST_TIMEOUTS: &str = "histd_session_request_timeouts_total";

/// Every metric: name, kind, help. The exporter describes them all at start.
pub const ALL: &[(&str, Kind, &str)] = &[
    (
        PHASE,
        Kind::Gauge,
        "Current daemon phase (1 for the current phase label, 0 otherwise)",
    ),
    (
        PHASE_TRANSITIONS,
        Kind::Counter,
        "Daemon phase transitions taken",
    ),
    (
        HEAD_SEEN,
        Kind::Gauge,
        "Highest head block reported by peers",
    ),
    (
        SAFE_HEAD,
        Kind::Gauge,
        "Head seen minus the rollback window",
    ),
    (
        LAST_INDEXED,
        Kind::Gauge,
        "Highest block stored contiguously from start_block",
    ),
    (PEERS, Kind::Gauge, "Connected eth peers"),
    (BLOCKS_INGESTED, Kind::Counter, "Verified blocks stored"),
    (
        BYTES_INGESTED,
        Kind::Counter,
        "Bytes of verified block data stored (eth RLP of the answers, before compression)",
    ),
    (WAL_BYTES, Kind::Gauge, "Total size of shard WALs in bytes"),
    (
        DISK_FULL,
        Kind::Counter,
        "Writes that found the data directory's filesystem full",
    ),
    (DIRTY_SHARDS, Kind::Gauge, "Shards with an uncompacted WAL"),
    (SEALED_SHARDS, Kind::Gauge, "Sealed shards"),
    (
        LOG_INDEX_BYTES,
        Kind::Gauge,
        "Bytes of the sealed shards' log index files",
    ),
    (
        TX_INDEX_BYTES,
        Kind::Gauge,
        "Bytes of the sealed shards' transaction index (files and runs)",
    ),
    (
        CPU_SECONDS,
        Kind::Counter,
        "CPU seconds histd spent by ingest stage",
    ),
    (
        COMPACTION_SECONDS,
        Kind::Histogram,
        "Seconds one shard compaction took",
    ),
    (
        VERIFY_FAILURES,
        Kind::Counter,
        "Peer answers that failed verification, by kind",
    ),
    (
        REORDER_EXPECTED,
        Kind::Gauge,
        "Next block the follow writer expects",
    ),
    (
        REORDER_LEN,
        Kind::Gauge,
        "Blocks held in the reorder buffer",
    ),
    (
        REORDER_MIN_KEY,
        Kind::Gauge,
        "Smallest block held in the reorder buffer",
    ),
    (
        REORDER_MAX_KEY,
        Kind::Gauge,
        "Largest block held in the reorder buffer",
    ),
    (
        REORDER_MAX_GAP,
        Kind::Gauge,
        "Largest gap between held blocks in the reorder buffer",
    ),
    (
        REORDER_PEAK,
        Kind::Gauge,
        "Most blocks the reorder buffer has held at once",
    ),
    (REORGS, Kind::Counter, "Chain reorganisations rolled back"),
    (
        REORG_DEPTH,
        Kind::Histogram,
        "Blocks rolled back below the stored tip, per reorg",
    ),
    (RPC_REQUESTS, Kind::Counter, "JSON-RPC requests served"),
    (
        RPC_ERRORS,
        Kind::Counter,
        "JSON-RPC requests answered with an error, by method and code",
    ),
    (
        RPC_LATENCY,
        Kind::Histogram,
        "JSON-RPC request latency in seconds",
    ),
    (
        POOL_PEERS,
        Kind::Gauge,
        "Peer sessions by client name and eth version",
    ),
    (
        POOL_USABLE_PEERS,
        Kind::Gauge,
        "Peers with a known head that are not banned",
    ),
    (POOL_DIAL_ATTEMPTS, Kind::Counter, "Outbound dial attempts"),
    (
        POOL_DIAL_FAILURES,
        Kind::Counter,
        "Outbound dials that failed",
    ),
    (POOL_INBOUND, Kind::Counter, "Inbound connections by result"),
    (
        POOL_INBOUND_HANDSHAKE_SECONDS,
        Kind::Histogram,
        "Seconds inbound handshakes took, against the handshake budget",
    ),
    (POOL_BANS, Kind::Counter, "Peers banned, by kind and reason"),
    (
        POOL_DISCOVERED,
        Kind::Counter,
        "Node records received from discovery, by source",
    ),
    (
        POOL_CANDIDATES,
        Kind::Gauge,
        "Nodes known as dial candidates",
    ),
    (
        POOL_HEAD_CLAIMS_REFUSED,
        Kind::Counter,
        "Head claims refused, by reason",
    ),
    (POOL_HEAD_NETWORKS, Kind::Gauge, "Networks with a head vote"),
    (
        POOL_HEAD_VOTES_AT_SEEN,
        Kind::Gauge,
        "Network votes at or above head_seen",
    ),
    (
        POOL_HEAD_CLAIMS_SAME_NETWORK,
        Kind::Gauge,
        "Head claims not counted: their network already votes",
    ),
    (
        SESSION_ENDS,
        Kind::Counter,
        "Peer sessions ended, by reason",
    ),
    (
        SESSION_REQUEST_TIMEOUTS,
        Kind::Counter,
        "Requests to peers that timed out, by message kind",
    ),
];

/// Register help texts with whatever recorder is installed (a no-op without one).
pub fn describe_all() {
    for &(name, kind, help) in ALL {
        match kind {
            Kind::Counter => ::metrics::describe_counter!(name, help),
            Kind::Gauge => ::metrics::describe_gauge!(name, help),
            Kind::Histogram => ::metrics::describe_histogram!(name, help),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_prefixed() {
        let mut names: Vec<&str> = ALL.iter().map(|(n, _, _)| *n).collect();
        assert!(names.iter().all(|n| n.starts_with("histd_")));
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
    }
}
