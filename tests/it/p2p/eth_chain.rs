//! Chain specs and fork ids against tables nobody here wrote: EIP-2124's own mainnet table and
//! validation cases (Petersburg-era schedule), geth's `forkid_test.go` mainnet table through BPO2,
//! the values in DEPENDENCIES.md, and custom chains from TOML/JSON descriptions.

use alloy_consensus::Header;
use alloy_consensus::constants::MAINNET_GENESIS_HASH;
use alloy_primitives::{U256, hex};
use histd::p2p::chain::{
    ChainSpec, ChainSpecError, ForkFilterKey, ForkHash, ForkHead, ForkId, ValidationError,
};

fn id(hash: u32, next: u64) -> ForkId {
    ForkId {
        hash: ForkHash(hash.to_be_bytes()),
        next,
    }
}

/// Mainnet with only its block forks up to Petersburg: the schedule EIP-2124's tables assume.
fn mainnet_petersburg() -> ChainSpec {
    let blocks = ChainSpec::mainnet()
        .forks()
        .iter()
        .copied()
        .filter(|k| matches!(*k, ForkFilterKey::Block(n) if n <= 7_280_000))
        .collect::<Vec<_>>();
    assert_eq!(
        blocks.len(),
        6,
        "Homestead, DAO, Tangerine, Spurious, Byzantium, Petersburg"
    );
    ChainSpec::new(
        "mainnet-petersburg",
        1,
        1,
        MAINNET_GENESIS_HASH,
        0,
        U256::ZERO,
        blocks,
    )
}

/// EIP-2124 "Test Cases": every fork id mainnet can advertise, given the Petersburg fork cap.
#[test]
fn eip2124_mainnet_creation_table() {
    let spec = mainnet_petersburg();
    let table: [(u64, u32, u64); 14] = [
        (0, 0xfc64ec04, 1150000),       // Unsynced
        (1149999, 0xfc64ec04, 1150000), // Last Frontier block
        (1150000, 0x97c2c34c, 1920000), // First Homestead block
        (1919999, 0x97c2c34c, 1920000), // Last Homestead block
        (1920000, 0x91d1f948, 2463000), // First DAO block
        (2462999, 0x91d1f948, 2463000), // Last DAO block
        (2463000, 0x7a64da13, 2675000), // First Tangerine block
        (2674999, 0x7a64da13, 2675000), // Last Tangerine block
        (2675000, 0x3edd5b10, 4370000), // First Spurious block
        (4369999, 0x3edd5b10, 4370000), // Last Spurious block
        (4370000, 0xa00bc324, 7280000), // First Byzantium block
        (7279999, 0xa00bc324, 7280000), // Last Byzantium block
        (7280000, 0x668db0af, 0),       // First and last Constantinople, first Petersburg block
        (7987396, 0x668db0af, 0),       // Today Petersburg block
    ];
    for (head, hash, next) in table {
        assert_eq!(
            spec.fork_id(ForkHead::new(head, 0)),
            id(hash, next),
            "head {head}"
        );
    }
}

/// EIP-2124's validation cases for a Petersburg-era mainnet node.
#[test]
fn eip2124_mainnet_validation_table() {
    let spec = mainnet_petersburg();
    #[derive(Debug, PartialEq)]
    enum Want {
        Ok,
        RemoteStale,
        LocalIncompatibleOrStale,
    }
    let cases = [
        (7987396, id(0x668db0af, 0), Want::Ok),
        (7987396, id(0x668db0af, u64::MAX), Want::Ok),
        (7279999, id(0xa00bc324, 0), Want::Ok),
        (7279999, id(0xa00bc324, 7280000), Want::Ok),
        (7279999, id(0xa00bc324, u64::MAX), Want::Ok),
        // The EIP lists hash 0x668db0af here, but its comment ("remote announces Byzantium +
        // knowledge about Petersburg") and geth's test use Byzantium's 0xa00bc324.
        (7987396, id(0xa00bc324, 7280000), Want::Ok),
        (7987396, id(0x3edd5b10, 4370000), Want::Ok),
        (7279999, id(0x668db0af, 0), Want::Ok),
        (4369999, id(0xa00bc324, 0), Want::Ok),
        (7987396, id(0xa00bc324, 0), Want::RemoteStale),
        (7987396, id(0x5cddc0e1, 0), Want::LocalIncompatibleOrStale),
        (7279999, id(0x5cddc0e1, 0), Want::LocalIncompatibleOrStale),
        (7987396, id(0xafec6b27, 0), Want::LocalIncompatibleOrStale), // Rinkeby
    ];
    for (head, remote, want) in cases {
        let got = match spec.fork_filter(ForkHead::new(head, 0)).validate(remote) {
            Ok(()) => Want::Ok,
            Err(ValidationError::RemoteStale { .. }) => Want::RemoteStale,
            Err(ValidationError::LocalIncompatibleOrStale { .. }) => Want::LocalIncompatibleOrStale,
        };
        assert_eq!(got, want, "head {head}, remote {remote:?}");
    }
}

/// geth `core/forkid/forkid_test.go` TestCreation, mainnet through BPO2 (block and timestamp
/// forks), against our built-in mainnet spec.
#[test]
fn geth_mainnet_creation_table_through_bpo2() {
    let spec = ChainSpec::mainnet();
    let table: &[(u64, u64, u32, u64)] = &[
        (0, 0, 0xfc64ec04, 1150000),
        (1150000, 0, 0x97c2c34c, 1920000),
        (1920000, 0, 0x91d1f948, 2463000),
        (2463000, 0, 0x7a64da13, 2675000),
        (2675000, 0, 0x3edd5b10, 4370000),
        (4370000, 0, 0xa00bc324, 7280000),
        (7280000, 0, 0x668db0af, 9069000),
        (9069000, 0, 0x879d6e30, 9200000),
        (9200000, 0, 0xe029e991, 12244000),
        (12244000, 0, 0x0eb440f6, 12965000),
        (12965000, 0, 0xb715077d, 13773000),
        (13773000, 0, 0x20c327fc, 15050000),
        (15050000, 0, 0xf0afd0e3, 1681338455),
        (20000000, 1681338454, 0xf0afd0e3, 1681338455),
        (20000000, 1681338455, 0xdce96c2d, 1710338135),
        (30000000, 1710338134, 0xdce96c2d, 1710338135),
        (30000000, 1710338135, 0x9f3d2254, 1746612311),
        (30000000, 1746612311, 0xc376cf8b, 1764798551),
        (30000000, 1764798551, 0x5167e2a6, 1765290071),
        (30000000, 1765290071, 0xcba2a1c0, 1767747671),
        (30000000, 1767747671, 0x07c9462e, 0),
        (50000000, 2000000000, 0x07c9462e, 0),
    ];
    for &(head, time, hash, next) in table {
        assert_eq!(
            spec.fork_id(ForkHead::new(head, time)),
            id(hash, next),
            "head {head} time {time}"
        );
    }
}

/// DEPENDENCIES.md: values checked independently of this code.
#[test]
fn values_checked_independently() {
    let mainnet = ChainSpec::mainnet();
    assert_eq!(
        mainnet.fork_id(ForkHead::new(22_431_084u64, 1_746_612_311)),
        id(0xc376cf8b, 1764798551)
    );
    assert_eq!(
        mainnet.fork_id(mainnet.latest_fork_head()),
        id(0x07c9462e, 0)
    );
    let hoodi = ChainSpec::hoodi();
    assert_eq!(hoodi.fork_id(hoodi.latest_fork_head()), id(0x23aa1351, 0));
    assert_eq!(hoodi.chain_id, 560048);
    assert_eq!(ChainSpec::sepolia().network_id, 11155111);
}

/// EIP-2124's RLP encoding cases for the fork id itself.
#[test]
fn fork_id_rlp_encoding() {
    for (fork_id, want) in [
        (id(0, 0), "c6840000000080"),
        (id(0xdeadbeef, 0xBADDCAFE), "ca84deadbeef84baddcafe"),
        (id(u32::MAX, u64::MAX), "ce84ffffffff88ffffffffffffffff"),
    ] {
        assert_eq!(hex::encode(alloy_rlp::encode(fork_id)), want);
    }
}

#[test]
fn custom_chain_from_toml() {
    let spec = ChainSpec::from_toml_str(&format!(
        r#"
        name = "mainnet-again"
        chain_id = 1
        genesis_hash = "{MAINNET_GENESIS_HASH}"
        genesis_timestamp = 0
        fork_blocks = [1150000, 1920000, 2463000, 2675000, 4370000, 7280000, 7280000]
        "#
    ))
    .unwrap();
    assert_eq!(spec.network_id, 1, "defaults to the chain id");
    assert_eq!(spec.name, "mainnet-again");
    assert_eq!(spec.forks(), mainnet_petersburg().forks());
    assert_eq!(
        spec.fork_id(ForkHead::new(7987396u64, 0)),
        id(0x668db0af, 0)
    );
}

/// geth TestTimeBasedForkInGenesis: timestamp forks at or before genesis are not forks.
#[test]
fn custom_chain_from_json_genesis_header() {
    let time = 1690475657u64;
    let header = Header {
        timestamp: time,
        ..Header::default()
    };
    let rlp = hex::encode_prefixed(alloy_rlp::encode(&header));
    let genesis_crc = ForkHash::from(header.hash_slow());
    for (shanghai, cancun) in [(time - 1, time + 1), (time, time + 1), (time + 1, time + 2)] {
        let json = format!(
            r#"{{"chain_id": 1337, "network_id": 7, "genesis_header": "{rlp}",
                "fork_blocks": [0, 0, 0], "fork_timestamps": [{shanghai}, {cancun}]}}"#
        );
        let spec = ChainSpec::from_json_str(&json).unwrap();
        assert_eq!(spec.genesis_hash, header.hash_slow());
        assert_eq!(spec.genesis_timestamp, time);
        assert_eq!(spec.network_id, 7);
        assert_eq!(
            spec.fork_id(ForkHead::new(0u64, time)),
            ForkId {
                hash: genesis_crc,
                next: time + 1
            }
        );
    }
}

#[test]
fn custom_chain_file_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("devnet.toml");
    std::fs::write(
        &path,
        format!("chain_id = 5\ngenesis_hash = \"{MAINNET_GENESIS_HASH}\"\ngenesis_timestamp = 9\n"),
    )
    .unwrap();
    let spec = ChainSpec::from_file(&path).unwrap();
    assert_eq!((spec.chain_id, spec.genesis_timestamp), (5, 9));
    let missing = ChainSpec::from_file(&dir.path().join("nope.toml")).unwrap_err();
    assert!(missing.to_string().contains("nope.toml"), "{missing}");
    let yaml = dir.path().join("x.yaml");
    std::fs::write(&yaml, "chain_id: 1").unwrap();
    assert!(matches!(
        ChainSpec::from_file(&yaml),
        Err(ChainSpecError::UnknownFormat { .. })
    ));
}

/// Every mistake names its key.
#[test]
fn bad_descriptions_name_the_key() {
    let hash = MAINNET_GENESIS_HASH;
    let cases: &[(&str, &str)] = &[
        (
            "chain_id = 1\ngenesis_hash = \"0x1234\"\ngenesis_timestamp = 0",
            "genesis_hash",
        ),
        ("chain_id = 1\ngenesis_timestamp = 0", "genesis_hash"),
        (
            &format!("chain_id = 1\ngenesis_hash = \"{hash}\""),
            "genesis_timestamp",
        ),
        (
            &format!("chain_id = 0\ngenesis_hash = \"{hash}\"\ngenesis_timestamp = 0"),
            "chain_id",
        ),
        (
            &format!(
                "chain_id = 1\ngenesis_hash = \"{hash}\"\ngenesis_timestamp = 0\nfork_block = [1]"
            ),
            "fork_block",
        ),
        (
            &format!("chain_id = 1\ngenesis_hash = \"{hash}\"\ngenesis_header = \"0xc0\""),
            "genesis_hash",
        ),
        ("chain_id = 1\ngenesis_header = \"0xc0\"", "genesis_header"),
        (
            "chain_id = 1\ngenesis_timestamp = 0\nfork_timestamps = [\"soon\"]\ngenesis_hash = \"0x00\"",
            "fork_timestamps",
        ),
    ];
    for (text, key) in cases {
        let err = ChainSpec::from_toml_str(text).unwrap_err();
        assert!(err.to_string().contains(key), "{text:?}: {err}");
    }
    let not_genesis = Header {
        number: 5,
        ..Header::default()
    };
    let rlp = hex::encode_prefixed(alloy_rlp::encode(&not_genesis));
    let err =
        ChainSpec::from_toml_str(&format!("chain_id = 1\ngenesis_header = \"{rlp}\"")).unwrap_err();
    assert!(err.to_string().contains("not block 0"), "{err}");
    let rlp0 = hex::encode_prefixed(alloy_rlp::encode(Header::default()));
    let err = ChainSpec::from_toml_str(&format!(
        "chain_id = 1\ngenesis_header = \"{rlp0}\"\ngenesis_timestamp = 3"
    ))
    .unwrap_err();
    assert!(err.to_string().contains("genesis_timestamp"), "{err}");
}

/// geth `forkid_test.go` TestValidation, "block to timestamp transition" and "timestamp based"
/// cases, against our built-in mainnet spec.
#[test]
fn geth_mainnet_validation_across_timestamp_forks() {
    let spec = ChainSpec::mainnet();
    let bumped = |h: u32| ForkHash(h.to_be_bytes()) + u64::MAX;
    let cases: Vec<(u64, u64, ForkId, Option<&str>)> = vec![
        (15050000, 0, id(0xf0afd0e3, 0), None),
        (15050000, 0, id(0xf0afd0e3, 1681338455), None),
        (15050000, 0, id(0xf0afd0e3, u64::MAX), None),
        (20000000, 1681338455, id(0xf0afd0e3, 1681338455), None),
        (20123456, 1681338456, id(0xf0afd0e3, 1681338455), None),
        (20000000, 1681338455, id(0x20c327fc, 15050000), None),
        (15050000, 0, id(0xdce96c2d, 0), None),
        (13773000, 0, id(0xf0afd0e3, 0), None),
        (20000000, 1681338455, id(0xf0afd0e3, 0), Some("remote")),
        (
            15050000,
            0,
            ForkId {
                hash: bumped(0xf0afd0e3),
                next: 0,
            },
            Some("local"),
        ),
        (
            15050000,
            0,
            ForkId {
                hash: bumped(0xdce96c2d),
                next: 0,
            },
            Some("local"),
        ),
        (
            888888888,
            1660000000,
            id(0xf0afd0e3, 1660000000),
            Some("local"),
        ),
        (
            19999999,
            1667999999,
            id(0xf0afd0e3, 1667999999),
            Some("local"),
        ),
        (20000000, 1681338455, id(0xdce96c2d, 0), None),
        (20000000, 1681338455, id(0xdce96c2d, u64::MAX), None),
        (20000000, 1668000000, id(0xdce96c2d, 0), None),
        (20000000, 1668000000, id(0xdce96c2d, 1710338135), None),
        (21000000, 1710338135, id(0xdce96c2d, 1710338135), None),
        (21123456, 1710338136, id(0xdce96c2d, 1710338135), None),
        (0, 0, id(0x3edd5b10, 1710338135), None),
        (21000000, 1700000000, id(0x9f3d2254, 0), None),
        (21000000, 1678000000, id(0xc376cf8b, 0), None),
        (21000000, 1710338135, id(0xdce96c2d, 0), Some("remote")),
        (
            20000000,
            1681338455,
            ForkId {
                hash: bumped(0xdce96c2d),
                next: 0,
            },
            Some("local"),
        ),
        (
            20000000,
            1668000000,
            ForkId {
                hash: bumped(0x9f3d2254),
                next: 0,
            },
            Some("local"),
        ),
        (20000000, 1681338455, id(0x12345678, 0), Some("local")),
        (
            88888888,
            8888888888,
            id(0x07c9462e, 8888888888),
            Some("local"),
        ),
        (
            20999999,
            1699999999,
            id(0x71147644, 1700000000),
            Some("local"),
        ),
    ];
    for (head, time, remote, want) in cases {
        let got = match spec.fork_filter(ForkHead::new(head, time)).validate(remote) {
            Ok(()) => None,
            Err(ValidationError::RemoteStale { .. }) => Some("remote"),
            Err(ValidationError::LocalIncompatibleOrStale { .. }) => Some("local"),
        };
        assert_eq!(got, want, "head {head} time {time} remote {remote:?}");
    }
}

/// Erigon's `forkid_test.go` tables for sepolia and hoodi (written when Prague was the last
/// scheduled fork: at Prague it says `next = 0` where our schedule now has Osaka next).
#[test]
fn erigon_sepolia_and_hoodi_tables() {
    let sepolia = ChainSpec::sepolia();
    let table: &[(u64, u64, u32, u64)] = &[
        (0, 1633267481, 0xfe3366e7, 1735371),
        (1735370, 1661130096, 0xfe3366e7, 1735371),
        (1735371, 1661130108, 0xb96cbd13, 1677557088),
        (2990907, 1677557076, 0xb96cbd13, 1677557088),
        (2990908, 1677557088, 0xf7f9bc08, 1706655072),
        (5187022, 1706655060, 0xf7f9bc08, 1706655072),
        (5187023, 1706655072, 0x88cf81d9, 1741159776),
        (7844466, 1741159764, 0x88cf81d9, 1741159776),
        (7844467, 1741159776, 0xed88b5fd, 1760427360), // Prague; next = Osaka here
    ];
    for &(head, time, hash, next) in table {
        assert_eq!(
            sepolia.fork_id(ForkHead::new(head, time)),
            id(hash, next),
            "sepolia head {head} time {time}"
        );
    }
    let hoodi = ChainSpec::hoodi();
    let table: &[(u64, u64, u32, u64)] = &[
        (0, 1742212800, 0xbef71d30, 1742999832),
        (50000, 1742999820, 0xbef71d30, 1742999832),
        (50001, 1742999832, 0x0929e24e, 1761677592), // Prague; next = Osaka here
    ];
    for &(head, time, hash, next) in table {
        assert_eq!(
            hoodi.fork_id(ForkHead::new(head, time)),
            id(hash, next),
            "hoodi head {head} time {time}"
        );
    }
}

#[test]
fn resolve_names_and_files() {
    assert_eq!(ChainSpec::resolve("hoodi").unwrap(), ChainSpec::hoodi());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dev.json");
    std::fs::write(
        &path,
        format!(
            r#"{{"chain_id": 9, "genesis_hash": "{MAINNET_GENESIS_HASH}", "genesis_timestamp": 0}}"#
        ),
    )
    .unwrap();
    assert_eq!(
        ChainSpec::resolve(path.to_str().unwrap()).unwrap().chain_id,
        9
    );
    let err = ChainSpec::resolve("holesky").unwrap_err();
    assert!(matches!(err, ChainSpecError::UnknownChain { .. }));
    assert!(err.to_string().contains("`holesky`"), "{err}");
    assert_eq!(
        ChainSpec::mainnet().to_string(),
        format!("mainnet (chain id 1, network id 1, genesis {MAINNET_GENESIS_HASH})")
    );
}
