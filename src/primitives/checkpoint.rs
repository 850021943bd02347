//! [`Checkpoint`]: a block number with the hash an operator (or a chain spec) trusts for it,
//! written `N:0xHASH`. Parsing only: what trusts it is the sync layer's anchor rule.

use std::fmt;
use std::str::FromStr;

use alloy_primitives::B256;

use super::BlockNumber;

/// A trusted `(number, hash)` pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Checkpoint {
    /// The block.
    pub number: BlockNumber,
    /// Its hash.
    pub hash: B256,
}

/// Why a checkpoint does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not N:0xHASH: {problem}")]
pub struct CheckpointParseError {
    /// What was given.
    pub input: String,
    /// What is wrong.
    pub problem: &'static str,
}

impl FromStr for Checkpoint {
    type Err = CheckpointParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |problem| CheckpointParseError {
            input: s.to_string(),
            problem,
        };
        let (n, h) = s.trim().split_once(':').ok_or_else(|| err("no `:`"))?;
        let number = n
            .trim()
            .parse::<u64>()
            .map_err(|_| err("the block number is not a decimal number"))?;
        let h = h.trim();
        if !h.starts_with("0x") || h.len() != 66 {
            return Err(err("the hash is not 0x followed by 64 hex digits"));
        }
        let hash = h
            .parse::<B256>()
            .map_err(|_| err("the hash is not 0x followed by 64 hex digits"))?;
        Ok(Self {
            number: BlockNumber(number),
            hash,
        })
    }
}

impl fmt::Display for Checkpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.number, self.hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_n_colon_hash() {
        let text = format!("12:{}", B256::repeat_byte(0xab));
        let c: Checkpoint = text.parse().expect("parses");
        assert_eq!(c.number, BlockNumber(12));
        assert_eq!(c.to_string(), text);
        for bad in ["12", "x:0xab", "12:ab", "12:0x1234", ""] {
            assert!(bad.parse::<Checkpoint>().is_err(), "{bad}");
        }
    }
}
