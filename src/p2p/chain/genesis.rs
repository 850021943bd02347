//! Custom chains for tests and devnets, described in a small TOML or JSON file:
//!
//! ```toml
//! name = "devnet"                 # optional, default "custom"
//! chain_id = 1337
//! network_id = 1337               # optional, default = chain_id
//! # exactly one of:
//! genesis_hash = "0x…"            # 32 bytes hex; then genesis_timestamp is required
//! genesis_header = "0xf9…"        # RLP of the genesis header: hash and timestamp come from it
//! genesis_timestamp = 0
//! total_difficulty = "0x0"        # optional, announced in eth/68 Status
//! fork_blocks = [1150000]         # optional, block-number forks
//! fork_timestamps = [1681338455]  # optional, timestamp forks (EIP-6122)
//! bootnodes = ["enode://…@10.0.0.1:30303"]  # optional, discv4 entry points of this chain
//! dns_networks = ["enrtree://…@nodes.example.org"]  # optional, EIP-1459 node lists
//! checkpoint = "1000:0x…"         # optional, a block hash fast-sync may anchor on (N:0xHASH)
//! ```
//!
//! A custom chain has no bootnodes and no DNS lists unless its file lists them.
//!
//! Every mistake is reported with the key it concerns; nothing is guessed.

use std::path::Path;

use alloy_consensus::Header;
use alloy_eip2124::ForkFilterKey;
use alloy_primitives::{B256, Bytes, U256};
use alloy_rlp::Decodable;
use serde::Deserialize;

use super::ChainSpec;
use crate::p2p::discovery::NodeRecord;
use crate::p2p::discovery::dns::records::TreeLink;

/// Why a chain description could not be turned into a [`ChainSpec`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChainSpecError {
    /// The file could not be read.
    #[error("chain spec {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Syntax error, unknown key, wrong type (the message names the key).
    #[error("chain spec ({format}): {message}")]
    Syntax {
        /// `toml` or `json`.
        format: &'static str,
        /// The parser's message, which names the key and position.
        message: String,
    },
    /// A key has a value that parses but is not acceptable.
    #[error("chain spec: `{key}`: {problem}")]
    Invalid {
        /// The offending key.
        key: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// Neither a built-in chain name nor a chain spec file.
    #[error(
        "unknown chain `{value}`: expected mainnet, sepolia, hoodi or a .toml/.json chain spec file"
    )]
    UnknownChain {
        /// What was given.
        value: String,
    },
    /// The file extension says neither TOML nor JSON.
    #[error("chain spec {path}: unknown format (expected a .toml or .json file)")]
    UnknownFormat {
        /// The file.
        path: String,
    },
}

/// The parsed (not yet checked) chain description. See the module docs for the format.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct GenesisDescription {
    /// Name used in logs.
    #[serde(default)]
    pub name: Option<String>,
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// devp2p network id; defaults to the chain id.
    #[serde(default)]
    pub network_id: Option<u64>,
    /// Hash of the genesis block.
    #[serde(default)]
    pub genesis_hash: Option<B256>,
    /// RLP of the genesis header.
    #[serde(default)]
    pub genesis_header: Option<Bytes>,
    /// Genesis timestamp (required with `genesis_hash`; must match the header if both given).
    #[serde(default)]
    pub genesis_timestamp: Option<u64>,
    /// Total difficulty for eth/68 Status.
    #[serde(default)]
    pub total_difficulty: Option<U256>,
    /// Block-number fork activations.
    #[serde(default)]
    pub fork_blocks: Vec<u64>,
    /// Timestamp fork activations.
    #[serde(default)]
    pub fork_timestamps: Vec<u64>,
    /// discv4 bootnodes of this chain, as enode URLs.
    #[serde(default)]
    pub bootnodes: Vec<String>,
    /// EIP-1459 node lists of this chain, as `enrtree://` links.
    #[serde(default)]
    pub dns_networks: Vec<String>,
    /// A trusted block hash, `N:0xHASH`, that fast-sync may anchor on.
    #[serde(default)]
    pub checkpoint: Option<String>,
}

impl GenesisDescription {
    /// Parses TOML.
    pub fn from_toml_str(text: &str) -> Result<Self, ChainSpecError> {
        toml::from_str(text).map_err(|e| ChainSpecError::Syntax {
            format: "toml",
            message: e.to_string(),
        })
    }

    /// Parses JSON.
    pub fn from_json_str(text: &str) -> Result<Self, ChainSpecError> {
        serde_json::from_str(text).map_err(|e| ChainSpecError::Syntax {
            format: "json",
            message: e.to_string(),
        })
    }

    /// Checks the description and builds the spec.
    pub fn into_spec(self) -> Result<ChainSpec, ChainSpecError> {
        if self.chain_id == 0 {
            return Err(invalid("chain_id", "must not be 0"));
        }
        if self.network_id == Some(0) {
            return Err(invalid("network_id", "must not be 0"));
        }
        // (hash, timestamp, header when the description gives it)
        let genesis = match (self.genesis_hash, &self.genesis_header) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "genesis_hash",
                    "give either genesis_hash or genesis_header, not both",
                ));
            }
            (None, None) => {
                return Err(invalid(
                    "genesis_hash",
                    "missing: give genesis_hash (with genesis_timestamp) or genesis_header",
                ));
            }
            (Some(hash), None) => {
                let ts = self.genesis_timestamp.ok_or_else(|| {
                    invalid("genesis_timestamp", "required when genesis_hash is given")
                })?;
                (hash, ts, None)
            }
            (None, Some(rlp)) => {
                let mut buf = &rlp[..];
                let header = Header::decode(&mut buf)
                    .map_err(|e| invalid("genesis_header", format!("not a header RLP: {e}")))?;
                if !buf.is_empty() {
                    return Err(invalid(
                        "genesis_header",
                        format!("{} bytes after the header", buf.len()),
                    ));
                }
                if header.number != 0 {
                    return Err(invalid(
                        "genesis_header",
                        format!("is block {}, not block 0", header.number),
                    ));
                }
                if let Some(ts) = self.genesis_timestamp
                    && ts != header.timestamp
                {
                    return Err(invalid(
                        "genesis_timestamp",
                        format!("{ts} but the genesis header says {}", header.timestamp),
                    ));
                }
                (header.hash_slow(), header.timestamp, Some(header))
            }
        };
        let (genesis_hash, genesis_timestamp, genesis_header) = genesis;
        let bootnodes = parse_each("bootnodes", &self.bootnodes, |s| {
            s.parse::<NodeRecord>().map_err(|e| e.to_string())
        })?;
        let dns_networks = parse_each("dns_networks", &self.dns_networks, |s| {
            s.parse::<TreeLink>().map_err(|e| e.to_string())
        })?;
        let checkpoints = match &self.checkpoint {
            Some(c) => vec![
                c.parse::<crate::primitives::Checkpoint>()
                    .map_err(|e| invalid("checkpoint", e.to_string()))?,
            ],
            None => Vec::new(),
        };
        let forks = self
            .fork_blocks
            .iter()
            .map(|&n| ForkFilterKey::Block(n))
            .chain(self.fork_timestamps.iter().map(|&t| ForkFilterKey::Time(t)));
        let spec = ChainSpec::new(
            self.name.unwrap_or_else(|| "custom".to_owned()),
            self.chain_id,
            self.network_id.unwrap_or(self.chain_id),
            genesis_hash,
            genesis_timestamp,
            self.total_difficulty.unwrap_or(U256::ZERO),
            forks,
        )
        .with_discovery(bootnodes, dns_networks)
        .with_checkpoints(checkpoints);
        Ok(match genesis_header {
            Some(header) => spec.with_genesis_header(header),
            None => spec,
        })
    }
}

impl ChainSpec {
    /// A custom chain from a TOML description.
    pub fn from_toml_str(text: &str) -> Result<Self, ChainSpecError> {
        GenesisDescription::from_toml_str(text)?.into_spec()
    }

    /// A custom chain from a JSON description.
    pub fn from_json_str(text: &str) -> Result<Self, ChainSpecError> {
        GenesisDescription::from_json_str(text)?.into_spec()
    }

    /// A custom chain from a `.toml` or `.json` file.
    pub fn from_file(path: &Path) -> Result<Self, ChainSpecError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ChainSpecError::Io {
            path: shown.clone(),
            source,
        })?;
        match path.extension().and_then(|e| e.to_str()) {
            Some("toml") => Self::from_toml_str(&text),
            Some("json") => Self::from_json_str(&text),
            _ => Err(ChainSpecError::UnknownFormat { path: shown }),
        }
    }
}

impl ChainSpec {
    /// A built-in chain by name (`mainnet`, `sepolia`, `hoodi`), or else a custom chain from the
    /// `.toml`/`.json` file at that path: what a `chain = "..."` config value means.
    pub fn resolve(value: &str) -> Result<Self, ChainSpecError> {
        if let Some(spec) = Self::by_name(value) {
            return Ok(spec);
        }
        let path = Path::new(value);
        match path.extension().and_then(|e| e.to_str()) {
            Some("toml" | "json") => Self::from_file(path),
            _ => Err(ChainSpecError::UnknownChain {
                value: value.to_owned(),
            }),
        }
    }
}

/// Parses every entry of a list; the first bad one is reported with its index and text.
fn parse_each<T>(
    key: &'static str,
    list: &[String],
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, ChainSpecError> {
    list.iter()
        .enumerate()
        .map(|(i, s)| parse(s).map_err(|e| invalid(key, format!("[{i}] {s:?}: {e}"))))
        .collect()
}

fn invalid(key: &'static str, problem: impl Into<String>) -> ChainSpecError {
    ChainSpecError::Invalid {
        key,
        problem: problem.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "chain_id = 1337\ngenesis_hash = \"0x0000000000000000000000000000000000000000000000000000000000000001\"\ngenesis_timestamp = 0\n";

    fn enode(port: u16) -> String {
        // The generator point G: a valid secp256k1 public key.
        let id = "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798\
                  483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8";
        format!("enode://{id}@127.0.0.1:{port}")
    }

    /// The header a spec was built from is kept (so the node can serve it); a spec given only
    /// a hash, like the built-in ones, has none.
    #[test]
    fn a_spec_built_from_the_genesis_header_carries_it() {
        let header = Header {
            timestamp: 42,
            gas_limit: 5000,
            ..Header::default()
        };
        let rlp = alloy_primitives::hex::encode_prefixed(alloy_rlp::encode(&header));
        let spec =
            ChainSpec::from_toml_str(&format!("chain_id = 1\ngenesis_header = \"{rlp}\"")).unwrap();
        assert_eq!(spec.genesis_header().map(|h| &**h), Some(&header));
        assert_eq!(spec.genesis_hash, header.hash_slow());
        assert_eq!(spec.genesis_timestamp, 42);

        assert!(
            ChainSpec::from_toml_str(BASE)
                .unwrap()
                .genesis_header()
                .is_none()
        );
    }

    #[test]
    fn a_custom_chain_has_no_discovery_lists_unless_its_file_names_them() {
        let bare = ChainSpec::from_toml_str(BASE).unwrap();
        assert!(bare.bootnodes().is_empty() && bare.dns_networks().is_empty());

        let dns =
            "enrtree://AKA3AM6LPBYEUDMVNU3BSVQJ5AD45Y7YPOHJLEF6W26QOE4VTUDPE@nodes.example.org";
        let text = format!(
            "{BASE}bootnodes = [\"{}\", \"{}\"]\ndns_networks = [\"{dns}\"]\n",
            enode(30303),
            enode(30304)
        );
        let spec = ChainSpec::from_toml_str(&text).unwrap();
        assert_eq!(spec.bootnodes().len(), 2);
        assert_eq!(spec.bootnodes()[1].tcp_port, 30304);
        assert_eq!(spec.dns_networks()[0].domain, "nodes.example.org");
    }

    #[test]
    fn a_bad_list_entry_is_named_by_key_and_index() {
        let text = format!("{BASE}bootnodes = [\"{}\", \"enode://abc\"]\n", enode(1));
        let err = ChainSpec::from_toml_str(&text).unwrap_err().to_string();
        assert!(err.contains("`bootnodes`: [1] \"enode://abc\""), "{err}");

        let text = format!("{BASE}dns_networks = [\"enrtree://nope\"]\n");
        let err = ChainSpec::from_toml_str(&text).unwrap_err().to_string();
        assert!(
            err.contains("`dns_networks`: [0] \"enrtree://nope\""),
            "{err}"
        );
    }
}
