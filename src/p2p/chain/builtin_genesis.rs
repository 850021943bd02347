//! Block 0 of the built-in chains whose genesis fields are public constants, so histd can serve
//! the genesis it announces without having stored it.
//!
//! Owns the header fields of mainnet's, sepolia's and hoodi's genesis. A field typed wrong cannot
//! slip through: the spec builder checks the hash of the header built here against the well-known
//! genesis hash, and the unit tests pin it. The state roots are the published ones (computing them
//! needs the genesis allocation, which histd does not carry).

use alloy_consensus::Header;
use alloy_consensus::constants::{EMPTY_OMMER_ROOT_HASH, EMPTY_ROOT_HASH};
use alloy_primitives::{B64, B256, Bytes, U256, b256, bytes};

/// Mainnet's genesis header (30 July 2015).
pub fn mainnet() -> Header {
    frontier_era(
        b256!("d7f8974fb5ac78d9ac099b9ad5018bedc2ce0a72dad1827a1709da30580f0544"),
        0x4_0000_0000,
        5_000,
        0,
        bytes!("11bbe8db4e347b4e8c937c1c8370e4b5ed33adb3db69cbdb7a38e1e50b1b82fa"),
        0x42,
    )
}

/// Sepolia's genesis header (October 2021; "Sepolia, Athens, Attica, Greece!"), London from
/// block 0, so it carries a base fee of 1 gwei.
pub fn sepolia() -> Header {
    let header = frontier_era(
        b256!("5eb6e371a698b8d68f665192350ffcecbbbf322916f4b51bd79bb6887da3f494"),
        0x2_0000,
        30_000_000,
        1_633_267_481,
        bytes!("5365706f6c69612c20417468656e732c204174746963612c2047726565636521"),
        0,
    );
    Header {
        base_fee_per_gas: Some(1_000_000_000),
        ..header
    }
}

/// Hoodi's genesis header (17 March 2025): proof of stake and Cancun from block 0, so it carries
/// the base fee, withdrawals root, blob gas fields and a zero parent beacon block root; no
/// requests hash (Prague came later, at a timestamp).
pub fn hoodi() -> Header {
    Header {
        parent_hash: B256::ZERO,
        ommers_hash: EMPTY_OMMER_ROOT_HASH,
        state_root: b256!("da87d7f5f91c51508791bbcbd4aa5baf04917830b86985eeb9ad3d5bfb657576"),
        transactions_root: EMPTY_ROOT_HASH,
        receipts_root: EMPTY_ROOT_HASH,
        difficulty: U256::from(1),
        number: 0,
        gas_limit: 0x225_5100,
        timestamp: 0x67d8_0ec0,
        nonce: B64::from(0x1234_u64),
        base_fee_per_gas: Some(1_000_000_000),
        withdrawals_root: Some(EMPTY_ROOT_HASH),
        blob_gas_used: Some(0),
        excess_blob_gas: Some(0),
        parent_beacon_block_root: Some(B256::ZERO),
        ..Header::default()
    }
}

/// A genesis header with the fields of the frontier era only: no transactions, no ommers, zero parent and mix hash.
fn frontier_era(
    state_root: B256,
    difficulty: u64,
    gas_limit: u64,
    timestamp: u64,
    extra_data: Bytes,
    nonce: u64,
) -> Header {
    Header {
        parent_hash: B256::ZERO,
        ommers_hash: EMPTY_OMMER_ROOT_HASH,
        state_root,
        transactions_root: EMPTY_ROOT_HASH,
        receipts_root: EMPTY_ROOT_HASH,
        difficulty: U256::from(difficulty),
        number: 0,
        gas_limit,
        timestamp,
        extra_data,
        nonce: B64::from(nonce),
        ..Header::default()
    }
}

#[cfg(test)]
mod tests {
    use alloy_consensus::constants::{
        HOODI_GENESIS_HASH, MAINNET_GENESIS_HASH, SEPOLIA_GENESIS_HASH,
    };

    use super::*;

    #[test]
    fn headers_hash_to_the_published_genesis_hashes() {
        assert_eq!(mainnet().hash_slow(), MAINNET_GENESIS_HASH);
        assert_eq!(sepolia().hash_slow(), SEPOLIA_GENESIS_HASH);
        assert_eq!(hoodi().hash_slow(), HOODI_GENESIS_HASH);
    }
}
