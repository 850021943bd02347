//! The eth handshake message (`Status`, id 0x00) in both layouts, our own Status, and the checks
//! a peer's Status must pass.
//!
//! - eth/68: `[version, networkid, td, blockhash, genesis, forkid]`
//! - eth/69 (EIP-7642): `[version, networkid, genesis, forkid, earliestBlock, latestBlock,
//!   latestBlockHash]`

use alloy_eip2124::{ForkFilter, ForkId, ValidationError};
use alloy_primitives::{B256, U256};
use alloy_rlp::{Decodable, Encodable, Header};

use super::rlp::{finish, rlp_err, take_list};
use super::{EthDecodeErrorKind as Kind, EthVersion, StatusError};
use crate::p2p::chain::ChainSpec;
use crate::primitives::BlockNumber;

/// The blocks a node serves (eth/69 Status and `BlockRangeUpdate`): `earliest ..= latest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockRange {
    /// Oldest block whose body and receipts are served.
    pub earliest: BlockNumber,
    /// Newest block.
    pub latest: BlockNumber,
    /// Hash of `latest`.
    pub latest_hash: B256,
}

impl BlockRange {
    /// The range of a node holding only the genesis block of `spec`.
    pub fn genesis(spec: &ChainSpec) -> Self {
        Self {
            earliest: BlockNumber::ZERO,
            latest: BlockNumber::ZERO,
            latest_hash: spec.genesis_hash,
        }
    }

    fn fields_len(&self) -> usize {
        self.earliest.get().length() + self.latest.get().length() + self.latest_hash.length()
    }

    /// `[earliestBlock, latestBlock, latestBlockHash]` (the `BlockRangeUpdate` payload).
    pub(super) fn encode_message(&self, out: &mut Vec<u8>) {
        Header {
            list: true,
            payload_length: self.fields_len(),
        }
        .encode(out);
        self.encode_fields(out);
    }

    fn encode_fields(&self, out: &mut Vec<u8>) {
        self.earliest.get().encode(out);
        self.latest.get().encode(out);
        self.latest_hash.encode(out);
    }

    pub(super) fn decode_message(payload: &[u8]) -> Result<Self, Kind> {
        let mut buf = payload;
        let mut body = take_list(&mut buf, "BlockRangeUpdate")?;
        finish(buf, "BlockRangeUpdate")?;
        let this = Self::decode_fields(&mut body)?;
        finish(body, "BlockRangeUpdate fields")?;
        Ok(this)
    }

    fn decode_fields(body: &mut &[u8]) -> Result<Self, Kind> {
        let earliest = u64::decode(body).map_err(rlp_err("earliestBlock"))?;
        let latest = u64::decode(body).map_err(rlp_err("latestBlock"))?;
        let latest_hash = B256::decode(body).map_err(rlp_err("latestBlockHash"))?;
        if earliest > latest {
            return Err(Kind::InvalidBlockRange { earliest, latest });
        }
        Ok(Self {
            earliest: BlockNumber(earliest),
            latest: BlockNumber(latest),
            latest_hash,
        })
    }
}

/// The version-specific part of a Status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusBlocks {
    /// eth/68: total difficulty and best block hash (no number: resolve it with a header request).
    Eth68 {
        /// Total difficulty of the best block (meaningless after the merge).
        total_difficulty: U256,
        /// Hash of the best block.
        best_hash: B256,
    },
    /// eth/69: the served block range.
    Eth69(BlockRange),
}

/// An eth Status message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// Protocol version announced (must equal the negotiated one).
    pub version: u64,
    /// Network id.
    pub network_id: u64,
    /// Genesis hash.
    pub genesis: B256,
    /// EIP-2124 fork id.
    pub fork_id: ForkId,
    /// Head (eth/68) or served range (eth/69).
    pub blocks: StatusBlocks,
}

impl Status {
    /// Our Status for a session speaking `version` on `spec`, announcing the fork id of `filter`
    /// (the same filter that validates the peer) and the blocks we hold.
    pub fn ours(
        version: EthVersion,
        spec: &ChainSpec,
        filter: &ForkFilter,
        served: BlockRange,
    ) -> Self {
        let blocks = match version {
            EthVersion::Eth68 => StatusBlocks::Eth68 {
                total_difficulty: spec.total_difficulty,
                best_hash: served.latest_hash,
            },
            EthVersion::Eth69 => StatusBlocks::Eth69(served),
        };
        Self {
            version: u64::from(version.as_u8()),
            network_id: spec.network_id,
            genesis: spec.genesis_hash,
            fork_id: filter.current(),
            blocks,
        }
    }

    /// The version whose layout this Status has.
    pub fn layout(&self) -> EthVersion {
        match self.blocks {
            StatusBlocks::Eth68 { .. } => EthVersion::Eth68,
            StatusBlocks::Eth69(_) => EthVersion::Eth69,
        }
    }

    /// Hash of the peer's best (eth/68) or latest (eth/69) block.
    pub fn best_hash(&self) -> B256 {
        match self.blocks {
            StatusBlocks::Eth68 { best_hash, .. } => best_hash,
            StatusBlocks::Eth69(r) => r.latest_hash,
        }
    }

    /// The served range (eth/69 only; eth/68 peers do not say).
    pub fn block_range(&self) -> Option<BlockRange> {
        match self.blocks {
            StatusBlocks::Eth68 { .. } => None,
            StatusBlocks::Eth69(r) => Some(r),
        }
    }

    fn fields_len(&self) -> usize {
        let common = self.version.length()
            + self.network_id.length()
            + self.genesis.length()
            + self.fork_id.length();
        match &self.blocks {
            StatusBlocks::Eth68 {
                total_difficulty,
                best_hash,
            } => common + total_difficulty.length() + best_hash.length(),
            StatusBlocks::Eth69(r) => common + r.fields_len(),
        }
    }

    /// Encodes in this Status's own layout.
    pub(super) fn encode_message(&self, out: &mut Vec<u8>) {
        Header {
            list: true,
            payload_length: self.fields_len(),
        }
        .encode(out);
        self.version.encode(out);
        self.network_id.encode(out);
        match &self.blocks {
            StatusBlocks::Eth68 {
                total_difficulty,
                best_hash,
            } => {
                total_difficulty.encode(out);
                best_hash.encode(out);
                self.genesis.encode(out);
                self.fork_id.encode(out);
            }
            StatusBlocks::Eth69(r) => {
                self.genesis.encode(out);
                self.fork_id.encode(out);
                r.encode_fields(out);
            }
        }
    }

    /// Decodes the layout of `version`.
    pub(super) fn decode_message(version: EthVersion, payload: &[u8]) -> Result<Self, Kind> {
        let mut buf = payload;
        let mut body = take_list(&mut buf, "Status")?;
        finish(buf, "Status")?;
        let b = &mut body;
        let proto = u64::decode(b).map_err(rlp_err("version"))?;
        let network_id = u64::decode(b).map_err(rlp_err("networkid"))?;
        let this = match version {
            EthVersion::Eth68 => {
                let total_difficulty = U256::decode(b).map_err(rlp_err("td"))?;
                let best_hash = B256::decode(b).map_err(rlp_err("blockhash"))?;
                let genesis = B256::decode(b).map_err(rlp_err("genesis"))?;
                let fork_id = ForkId::decode(b).map_err(rlp_err("forkid"))?;
                Self {
                    version: proto,
                    network_id,
                    genesis,
                    fork_id,
                    blocks: StatusBlocks::Eth68 {
                        total_difficulty,
                        best_hash,
                    },
                }
            }
            EthVersion::Eth69 => {
                let genesis = B256::decode(b).map_err(rlp_err("genesis"))?;
                let fork_id = ForkId::decode(b).map_err(rlp_err("forkid"))?;
                let range = BlockRange::decode_fields(b)?;
                Self {
                    version: proto,
                    network_id,
                    genesis,
                    fork_id,
                    blocks: StatusBlocks::Eth69(range),
                }
            }
        };
        finish(body, "Status fields")?;
        Ok(this)
    }
}

/// Which side a fork-id refusal points at, read from EIP-2124's rules so an operator can tell
/// "histd needs an update" from "that peer does" from "another chain".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ForkSide {
    /// Same fork hash, but they announce a next fork at a block/time we have already passed
    /// without forking: a fork we do not know, so our release may be out of date.
    WeMayBeOutdated,
    /// Their hash is one of our past forks and their `next` misses the fork that followed it:
    /// they have not upgraded.
    PeerOutdated,
    /// A fork hash we do not know at all: another chain sharing our genesis, or a fork we lack.
    OtherChain,
}

impl ForkSide {
    /// Reads EIP-2124's verdict on `theirs` against `ours` (our current fork id).
    pub fn of(ours: ForkId, theirs: ForkId, reason: &ValidationError) -> Self {
        match reason {
            ValidationError::RemoteStale { .. } => Self::PeerOutdated,
            // Rule 1a: only reached with equal hashes and a remote `next` we passed.
            ValidationError::LocalIncompatibleOrStale { .. } if ours.hash == theirs.hash => {
                Self::WeMayBeOutdated
            }
            ValidationError::LocalIncompatibleOrStale { .. } => Self::OtherChain,
        }
    }

    /// Label for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WeMayBeOutdated => "we_may_be_outdated",
            Self::PeerOutdated => "peer_outdated",
            Self::OtherChain => "other_chain",
        }
    }
}

impl std::fmt::Display for ForkSide {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A fork id as logs show it: `0x<hash>/next=<block or time>` (`next=0`: no fork scheduled).
pub fn fmt_fork_id(id: ForkId) -> String {
    format!(
        "0x{}/next={}",
        alloy_primitives::hex::encode(id.hash.0),
        id.next
    )
}

/// Checks a peer's Status against ours: same version, network and genesis, and a fork id that
/// EIP-2124 accepts given our head (`filter`). Errors map to a disconnect reason with
/// [`StatusError::disconnect_reason`].
pub fn validate_status(
    ours: &Status,
    theirs: &Status,
    filter: &ForkFilter,
) -> Result<(), StatusError> {
    if theirs.version != ours.version {
        return Err(StatusError::VersionMismatch {
            ours: ours.version,
            theirs: theirs.version,
        });
    }
    if theirs.network_id != ours.network_id {
        return Err(StatusError::NetworkMismatch {
            ours: ours.network_id,
            theirs: theirs.network_id,
        });
    }
    if theirs.genesis != ours.genesis {
        return Err(StatusError::GenesisMismatch {
            ours: ours.genesis,
            theirs: theirs.genesis,
        });
    }
    filter
        .validate(theirs.fork_id)
        .map_err(|reason| StatusError::ForkIdRejected {
            ours: filter.current(),
            theirs: theirs.fork_id,
            reason,
        })
}

#[cfg(test)]
mod tests {
    use alloy_eip2124::{ForkFilterKey, ForkHash};

    use super::*;
    use crate::p2p::chain::ForkHead;

    /// Which side each EIP-2124 refusal points at, on a chain forking at blocks 10 and 20 with
    /// our head at 15 (current fork id: hash of genesis+10, next 20).
    #[test]
    fn fork_refusals_name_the_outdated_side() {
        let spec = ChainSpec::new(
            "forks",
            1,
            1,
            B256::repeat_byte(7),
            0,
            U256::ZERO,
            [ForkFilterKey::Block(10), ForkFilterKey::Block(20)],
        );
        let genesis_only = spec.fork_filter(ForkHead::new(0u64, 0)).current();
        let filter = spec.fork_filter(ForkHead::new(15u64, 0));
        let ours = filter.current();
        assert_eq!(ours.next, 20);
        let side = |theirs: ForkId| {
            let reason = filter.validate(theirs).expect_err("refused");
            ForkSide::of(ours, theirs, &reason)
        };
        // Still on the genesis fork and not expecting block 10: they missed an upgrade.
        let stale = ForkId {
            hash: genesis_only.hash,
            next: 5,
        };
        assert_eq!(side(stale), ForkSide::PeerOutdated);
        // Our hash, but a fork at block 12 that we passed without knowing it.
        let unknown_next = ForkId {
            hash: ours.hash,
            next: 12,
        };
        assert_eq!(side(unknown_next), ForkSide::WeMayBeOutdated);
        let elsewhere = ForkId {
            hash: ForkHash([9, 9, 9, 9]),
            next: 0,
        };
        assert_eq!(side(elsewhere), ForkSide::OtherChain);
        assert_eq!(
            fmt_fork_id(elsewhere),
            "0x09090909/next=0",
            "hash as hex, next as announced"
        );
    }
}
