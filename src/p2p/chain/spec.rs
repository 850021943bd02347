//! [`ChainSpec`]: the identity of a chain as the eth handshake sees it, and its fork ids.

use alloy_consensus::constants::{HOODI_GENESIS_HASH, MAINNET_GENESIS_HASH, SEPOLIA_GENESIS_HASH};
use alloy_eip2124::{ForkFilter, ForkFilterKey, ForkId, Head};
use alloy_hardforks::{EthereumHardfork, ForkCondition};
use std::sync::Arc;

use alloy_consensus::Header;
use alloy_primitives::{B256, U256};

use crate::p2p::discovery::NodeRecord;
use crate::p2p::discovery::bootnodes;
use crate::p2p::discovery::dns::records::TreeLink;
use crate::primitives::{BlockNumber, Checkpoint};

/// Genesis timestamps are in no crate (DEPENDENCIES.md); they matter because EIP-6122 drops
/// timestamp forks at or before genesis from the fork hash.
const MAINNET_GENESIS_TIMESTAMP: u64 = 0;
const SEPOLIA_GENESIS_TIMESTAMP: u64 = 1_633_267_481;
const HOODI_GENESIS_TIMESTAMP: u64 = 1_742_212_800;

/// The point of the chain a fork id is computed for: block-number forks compare against `number`,
/// timestamp forks (EIP-6122) against `timestamp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ForkHead {
    /// Head block number.
    pub number: BlockNumber,
    /// Head block timestamp (seconds).
    pub timestamp: u64,
}

impl ForkHead {
    /// A head at `number` with `timestamp`.
    pub fn new(number: impl Into<BlockNumber>, timestamp: u64) -> Self {
        Self {
            number: number.into(),
            timestamp,
        }
    }

    fn to_eip2124(self) -> Head {
        Head {
            number: self.number.get(),
            timestamp: self.timestamp,
            ..Head::default()
        }
    }
}

/// Mainnet's terminal proof-of-work block, 15,537,393 (the first proof-of-stake block is
/// 15,537,394): the last block of the pre-merge accumulator's last epoch, and the prune point
/// every client uses for history expiry (geth's `history.PrunePoints`, etherscan). A built-in
/// checkpoint: fast-sync anchors on it without asking peers when its target is this block,
/// derives targets below it down from it, and checks that any longer range links through it.
/// Blocks below it can also be proven with no peer at all, from era1 files and the accumulator.
pub const MAINNET_MERGE_CHECKPOINT: Checkpoint = Checkpoint {
    number: BlockNumber(15_537_393),
    hash: alloy_primitives::b256!(
        "55b11b918355b1ef9c5db810302ebad0bf2544255b530cdce90674d5887bb286"
    ),
};

/// Everything the eth handshake needs to know about a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainSpec {
    /// Short name used in logs and config (`mainnet`, `sepolia`, `hoodi`, or the custom name).
    pub name: String,
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// devp2p network id sent in Status (equal to the chain id on every public chain).
    pub network_id: u64,
    /// Hash of block 0.
    pub genesis_hash: B256,
    /// Timestamp of block 0.
    pub genesis_timestamp: u64,
    /// Total difficulty announced in eth/68 Status. Post-merge peers ignore it; we send the
    /// chain's final (terminal) total difficulty where it is known, else 0.
    pub total_difficulty: U256,
    /// Fork activation points, ascending (block forks first, then timestamp forks).
    forks: Vec<ForkFilterKey>,
    /// Where discv4 starts on this chain (the chain's own list: a custom chain has none unless
    /// its spec file names some).
    bootnodes: Vec<NodeRecord>,
    /// EIP-1459 node lists published for this chain.
    dns_networks: Vec<TreeLink>,
    /// Block 0's header, so the node can serve the genesis it announces: a custom spec's
    /// `genesis_header`, or the built-in chains' own. Custom specs given only a hash: `None`.
    genesis_header: Option<Arc<Header>>,
    /// Block hashes this chain's description vouches for (`checkpoint = "N:0xHASH"` in a custom
    /// spec, mainnet's merge block built in): fast-sync may anchor on them.
    checkpoints: Vec<Checkpoint>,
}

impl ChainSpec {
    /// Ethereum mainnet (chain id 1).
    pub fn mainnet() -> Self {
        Self::builtin(
            "mainnet",
            1,
            MAINNET_GENESIS_HASH,
            MAINNET_GENESIS_TIMESTAMP,
            alloy_hardforks::mainnet::MAINNET_PARIS_FINAL_TD,
            &EthereumHardfork::mainnet(),
        )
        .with_genesis_header(super::builtin_genesis::mainnet())
        .with_discovery(
            bootnodes::builtin_records(bootnodes::MAINNET_BOOTNODES),
            vec![bootnodes::builtin_tree(bootnodes::MAINNET_DNS)],
        )
        .with_checkpoints(vec![MAINNET_MERGE_CHECKPOINT])
    }

    /// Sepolia testnet (chain id 11155111).
    pub fn sepolia() -> Self {
        Self::builtin(
            "sepolia",
            11_155_111,
            SEPOLIA_GENESIS_HASH,
            SEPOLIA_GENESIS_TIMESTAMP,
            alloy_hardforks::sepolia::SEPOLIA_PARIS_FINAL_TD,
            &EthereumHardfork::sepolia(),
        )
        .with_genesis_header(super::builtin_genesis::sepolia())
        .with_discovery(
            bootnodes::builtin_records(bootnodes::SEPOLIA_BOOTNODES),
            vec![bootnodes::builtin_tree(bootnodes::SEPOLIA_DNS)],
        )
    }

    /// Hoodi testnet (chain id 560048), proof of stake from genesis.
    pub fn hoodi() -> Self {
        Self::builtin(
            "hoodi",
            560_048,
            HOODI_GENESIS_HASH,
            HOODI_GENESIS_TIMESTAMP,
            U256::ZERO,
            &EthereumHardfork::hoodi(),
        )
        .with_genesis_header(super::builtin_genesis::hoodi())
        .with_discovery(
            bootnodes::builtin_records(bootnodes::HOODI_BOOTNODES),
            vec![bootnodes::builtin_tree(bootnodes::HOODI_DNS)],
        )
    }

    /// The built-in chain called `name` (`mainnet`, `sepolia`, `hoodi`), if any.
    pub fn by_name(name: &str) -> Option<Self> {
        match name {
            "mainnet" => Some(Self::mainnet()),
            "sepolia" => Some(Self::sepolia()),
            "hoodi" => Some(Self::hoodi()),
            _ => None,
        }
    }

    /// Names accepted by [`Self::by_name`].
    pub const BUILTIN_NAMES: [&'static str; 3] = ["mainnet", "sepolia", "hoodi"];

    fn builtin(
        name: &str,
        chain_id: u64,
        genesis_hash: B256,
        genesis_timestamp: u64,
        total_difficulty: U256,
        schedule: &[(EthereumHardfork, ForkCondition)],
    ) -> Self {
        let forks = schedule.iter().filter_map(|(_, c)| fork_key(c));
        Self::new(
            name,
            chain_id,
            chain_id,
            genesis_hash,
            genesis_timestamp,
            total_difficulty,
            forks,
        )
    }

    /// A chain from its parts. Fork points at block 0, or at/before the genesis timestamp, are
    /// not forks (EIP-2124, EIP-6122) and are dropped; duplicates are merged.
    pub fn new(
        name: impl Into<String>,
        chain_id: u64,
        network_id: u64,
        genesis_hash: B256,
        genesis_timestamp: u64,
        total_difficulty: U256,
        forks: impl IntoIterator<Item = ForkFilterKey>,
    ) -> Self {
        let mut forks: Vec<ForkFilterKey> = forks
            .into_iter()
            .filter(|k| match *k {
                ForkFilterKey::Block(n) => n > 0,
                ForkFilterKey::Time(t) => t > genesis_timestamp,
            })
            .collect();
        forks.sort();
        forks.dedup();
        Self {
            name: name.into(),
            chain_id,
            network_id,
            genesis_hash,
            genesis_timestamp,
            total_difficulty,
            forks,
            bootnodes: Vec::new(),
            dns_networks: Vec::new(),
            genesis_header: None,
            checkpoints: Vec::new(),
        }
    }

    /// The same chain with block 0's header. Only the description parser calls it, with the
    /// header the genesis hash was computed from, so hash and header cannot disagree.
    pub(super) fn with_genesis_header(mut self, header: Header) -> Self {
        debug_assert_eq!(header.hash_slow(), self.genesis_hash);
        self.genesis_header = Some(Arc::new(header));
        self
    }

    /// The same chain vouching for `checkpoints`.
    pub fn with_checkpoints(mut self, checkpoints: Vec<Checkpoint>) -> Self {
        self.checkpoints = checkpoints;
        self
    }

    /// Block hashes the chain's description vouches for (fast-sync may anchor on them).
    pub fn checkpoints(&self) -> &[Checkpoint] {
        &self.checkpoints
    }

    /// Block 0's header, when the spec carries it (mainnet, sepolia, custom specs built from
    /// `genesis_header`).
    pub fn genesis_header(&self) -> Option<&Arc<Header>> {
        self.genesis_header.as_ref()
    }

    /// The same chain with its discovery entry points: discv4 bootnodes and EIP-1459 DNS lists.
    pub fn with_discovery(
        mut self,
        bootnodes: Vec<NodeRecord>,
        dns_networks: Vec<TreeLink>,
    ) -> Self {
        self.bootnodes = bootnodes;
        self.dns_networks = dns_networks;
        self
    }

    /// The chain's discv4 bootnodes (used when the operator names none).
    pub fn bootnodes(&self) -> &[NodeRecord] {
        &self.bootnodes
    }

    /// The chain's EIP-1459 DNS node lists.
    pub fn dns_networks(&self) -> &[TreeLink] {
        &self.dns_networks
    }

    /// Fork activation points that count for the fork id, ascending.
    pub fn forks(&self) -> &[ForkFilterKey] {
        &self.forks
    }

    /// The EIP-2124 filter for a node whose head is `head`: gives our fork id and validates peers'.
    pub fn fork_filter(&self, head: ForkHead) -> ForkFilter {
        ForkFilter::new(
            head.to_eip2124(),
            self.genesis_hash,
            self.genesis_timestamp,
            self.forks.iter().copied(),
        )
    }

    /// Our fork id at `head`.
    pub fn fork_id(&self, head: ForkHead) -> ForkId {
        self.fork_filter(head).current()
    }

    /// The head at which every known fork has activated (the last block fork, and the last
    /// timestamp fork's time): the fork id a fully synced node of this software announces.
    pub fn latest_fork_head(&self) -> ForkHead {
        let mut head = ForkHead::default();
        for key in &self.forks {
            match *key {
                ForkFilterKey::Block(n) => head.number = BlockNumber(n),
                ForkFilterKey::Time(t) => head.timestamp = t,
            }
        }
        head
    }
}

impl std::fmt::Display for ChainSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (chain id {}, network id {}, genesis {})",
            self.name, self.chain_id, self.network_id, self.genesis_hash
        )
    }
}

/// The fork-id activation point of one hardfork condition, if it has one.
fn fork_key(condition: &ForkCondition) -> Option<ForkFilterKey> {
    match *condition {
        ForkCondition::Block(n) => Some(ForkFilterKey::Block(n)),
        // The merge counts for the fork id only where a fork block was configured (sepolia's
        // MergeNetsplit); on mainnet it was a TTD transition, not a fork id change.
        ForkCondition::TTD {
            fork_block: Some(n),
            ..
        } => Some(ForkFilterKey::Block(n)),
        ForkCondition::TTD {
            fork_block: None, ..
        } => None,
        ForkCondition::Timestamp(t) => Some(ForkFilterKey::Time(t)),
        ForkCondition::Never => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(id: ForkId) -> u32 {
        u32::from_be_bytes(id.hash.0)
    }

    #[test]
    fn mainnet_values_checked_independently() {
        let m = ChainSpec::mainnet();
        // DEPENDENCIES.md: at Prague, next = Osaka.
        let prague = m.fork_id(ForkHead::new(22_431_084u64, 1_746_612_311));
        assert_eq!((hash(prague), prague.next), (0xc376_cf8b, 1_764_798_551));
        let after_bpo2 = m.fork_id(ForkHead::new(24_500_000u64, 1_767_747_671));
        assert_eq!((hash(after_bpo2), after_bpo2.next), (0x07c9_462e, 0));
        assert_eq!(m.fork_id(m.latest_fork_head()), after_bpo2);
    }

    #[test]
    fn every_builtin_chain_serves_the_genesis_it_announces() {
        for name in ["mainnet", "sepolia", "hoodi"] {
            let spec = ChainSpec::by_name(name).expect("built in");
            let header = spec.genesis_header().expect("built-in genesis header");
            assert_eq!(header.hash_slow(), spec.genesis_hash, "{name}");
            assert_eq!(header.timestamp, spec.genesis_timestamp, "{name}");
        }
    }

    #[test]
    fn hoodi_current() {
        let h = ChainSpec::hoodi();
        let id = h.fork_id(h.latest_fork_head());
        assert_eq!((hash(id), id.next), (0x23aa_1351, 0));
    }

    #[test]
    fn genesis_forks_are_not_forks() {
        let h = ChainSpec::hoodi();
        assert!(h.forks().iter().all(|k| match *k {
            ForkFilterKey::Block(n) => n > 0,
            ForkFilterKey::Time(t) => t > HOODI_GENESIS_TIMESTAMP,
        }));
        // Hoodi: Prague, Osaka, BPO1, BPO2 by timestamp; sepolia's netsplit block is a fork.
        assert_eq!(h.forks().len(), 4);
        assert!(
            ChainSpec::sepolia()
                .forks()
                .contains(&ForkFilterKey::Block(1_735_371))
        );
    }

    #[test]
    fn built_in_chains_carry_their_discovery_lists() {
        for (spec, boot, dns) in [
            (
                ChainSpec::mainnet(),
                bootnodes::MAINNET_BOOTNODES,
                bootnodes::MAINNET_DNS,
            ),
            (
                ChainSpec::sepolia(),
                bootnodes::SEPOLIA_BOOTNODES,
                bootnodes::SEPOLIA_DNS,
            ),
            (
                ChainSpec::hoodi(),
                bootnodes::HOODI_BOOTNODES,
                bootnodes::HOODI_DNS,
            ),
        ] {
            assert_eq!(spec.bootnodes().len(), boot.len(), "{}", spec.name);
            assert_eq!(spec.dns_networks().len(), 1, "{}", spec.name);
            assert!(dns.ends_with(&format!("@{}", spec.dns_networks()[0].domain)));
        }
        let custom = ChainSpec::new("devnet", 9, 9, B256::ZERO, 0, U256::ZERO, []);
        assert!(custom.bootnodes().is_empty() && custom.dns_networks().is_empty());
    }

    #[test]
    fn by_name() {
        for name in ChainSpec::BUILTIN_NAMES {
            assert_eq!(ChainSpec::by_name(name).expect(name).name, name);
        }
        assert!(ChainSpec::by_name("holesky").is_none());
    }
}
