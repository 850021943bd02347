//! The fuzz targets' bodies (`fuzz/common/mod.rs`) on stable: replays the committed seeds
//! (`fuzz/seeds/<target>/`), any local cargo-fuzz corpus (`fuzz/corpus/<target>/`), and a few
//! hundred proptest-generated inputs per target. Set `HISTD_WRITE_FUZZ_SEEDS=1` to regenerate the
//! seed files from real encodings.

#[path = "../../../fuzz/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};

use alloy_primitives::{B256, hex};
use bytes::{Bytes, BytesMut};
use histd::p2p::base::{DisconnectReason, Hello};
use histd::p2p::eth::{BlockHashOrNumber, EthMessage, EthVersion, GetBlockHeaders, RequestPair};
use histd::primitives::BlockNumber;
use histd::testkit::chain::ChainGen;
use proptest::prelude::*;
use tokio_util::codec::Encoder;

type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 4] = [
    ("frame_decode", common::frame_decode),
    ("frame_roundtrip", common::frame_roundtrip),
    ("eth_message", common::eth_message),
    ("handshake_messages", common::handshake_messages),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// Seeds from real encodings, so the fuzzer starts past the first RLP byte.
fn generated_seeds(target: &str) -> Vec<Vec<u8>> {
    match target {
        "frame_decode" => {
            let (mut tx, _) = common::codec_pair();
            let mut wire = BytesMut::new();
            for m in [&b"\x10\xc0"[..], &[0x13; 100], b"\x02\xc0"] {
                tx.encode(Bytes::copy_from_slice(m), &mut wire).unwrap();
            }
            let mut with_step = vec![7u8];
            with_step.extend_from_slice(&wire);
            vec![wire.to_vec(), with_step]
        }
        "frame_roundtrip" => vec![
            b"\x00\x05hello\xffworld".to_vec(),
            b"\x03\x01abc\xff\x10\x11\x12".to_vec(),
            [&[0x00, 0x40][..], &[0x42; 300]].concat(),
        ],
        "eth_message" => {
            let blocks = ChainGen::new(3).chain(BlockNumber(0), 3, B256::ZERO);
            let msgs = [
                EthMessage::GetBlockHeaders(RequestPair::new(
                    1,
                    GetBlockHeaders {
                        start: BlockHashOrNumber::Number(BlockNumber(5)),
                        limit: 10,
                        skip: 1,
                        reverse: true,
                    },
                )),
                EthMessage::BlockHeaders(RequestPair::new(
                    2,
                    blocks.iter().map(|b| b.header().clone()).collect(),
                )),
                EthMessage::GetBlockBodies(RequestPair::new(3, vec![blocks[1].hash()])),
                EthMessage::BlockBodies(RequestPair::new(
                    4,
                    blocks.iter().map(|b| b.body().clone()).collect(),
                )),
                EthMessage::Receipts(RequestPair::new(
                    5,
                    blocks.iter().map(|b| b.receipts().to_vec()).collect(),
                )),
            ];
            let mut out = Vec::new();
            for (flag, version) in [(0u8, EthVersion::Eth68), (1, EthVersion::Eth69)] {
                for m in &msgs {
                    let (id, payload) = m.encode(version).unwrap();
                    out.push([&[flag, id][..], &payload].concat());
                }
            }
            out
        }
        "handshake_messages" => vec![
            Hello {
                protocol_version: 5,
                client_id: "histd".into(),
                capabilities: vec![histd::p2p::base::Capability::eth(68)],
                listen_port: 30303,
                id: alloy_primitives::B512::repeat_byte(9),
            }
            .encode(),
            hex!("f87137916b6e6574682f76302e39312f706c616e39cdc5836574683dc6846d6f726b1682270fb840fda1cff674c90c9a197539fe3dfb53086ace64f83ed7c6eabec741f7f381cc803e52ab2cd55d5569bce4347107a310dfd5f88a010cd2ffd1005ca406f1842877c883666f6f836261720304").to_vec(),
            DisconnectReason::TooManyPeers.encode(),
        ],
        _ => Vec::new(),
    }
}

fn files_in(dir: &Path) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .filter_map(|e| std::fs::read(e.path()).ok())
        .collect()
}

#[test]
fn replay_seeds_and_corpus() {
    let write = std::env::var_os("HISTD_WRITE_FUZZ_SEEDS").is_some();
    for (name, run) in TARGETS {
        let seeds = generated_seeds(name);
        if write {
            let dir = fuzz_dir().join("seeds").join(name);
            std::fs::create_dir_all(&dir).unwrap();
            for (i, s) in seeds.iter().enumerate() {
                std::fs::write(dir.join(format!("seed-{i}")), s).unwrap();
            }
        }
        let mut inputs = seeds;
        inputs.extend(files_in(&fuzz_dir().join("seeds").join(name)));
        inputs.extend(files_in(&fuzz_dir().join("corpus").join(name)));
        inputs.extend(files_in(&fuzz_dir().join("artifacts").join(name)));
        for input in &inputs {
            run(input);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_inputs_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        for (_, run) in TARGETS {
            run(&data);
        }
    }

    #[test]
    fn mutated_seeds_never_panic(target in 0usize..4, seed in any::<prop::sample::Index>(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let (name, run) = TARGETS[target];
        let seeds = generated_seeds(name);
        let mut input = seeds[seed.index(seeds.len())].clone();
        if !input.is_empty() {
            let i = at.index(input.len());
            input[i] = byte;
        }
        run(&input);
        input.truncate(at.index(input.len() + 1));
        run(&input);
    }
}
