//! Hostile input to the eth decoder: random bytes for every message id in both versions,
//! truncations, trailing garbage, bit flips and oversized counts. Every case must be an error (or a
//! message that re-encodes consistently), never a panic, and counts are refused before allocating.

use std::sync::OnceLock;

use alloy_primitives::{B256, Bytes};
use histd::p2p::chain::ChainSpec;
use histd::p2p::eth::limits::{
    MAX_BLOCKS_PER_REQUEST, MAX_ETH_MESSAGE_SIZE, MAX_HEADERS, MAX_POOLED_TRANSACTIONS,
    MAX_TRANSACTIONS_PER_BLOCK, MAX_TRANSACTIONS_PER_MESSAGE,
};
use histd::p2p::eth::{
    BlockHashOrNumber, BlockRange, EthDecodeErrorKind, EthMessage, EthVersion, GetBlockHeaders,
    RequestPair, Status, reason,
};
use histd::primitives::{BlockNumber, Header};
use histd::testkit::mainnet::load_blocks;
use proptest::prelude::*;

/// Valid encodings of every message kind, for both versions: (version, id, payload).
fn valid() -> &'static [(EthVersion, u8, Vec<u8>)] {
    static VALID: OnceLock<Vec<(EthVersion, u8, Vec<u8>)>> = OnceLock::new();
    VALID.get_or_init(|| {
        let blocks = load_blocks();
        // Two small real blocks keep the truncation sweeps quick.
        let few: Vec<_> = blocks
            .iter()
            .filter(|b| b.body.transactions.len() < 50)
            .take(2)
            .collect();
        let spec = ChainSpec::mainnet();
        let filter = spec.fork_filter(spec.latest_fork_head());
        let mut out = Vec::new();
        for v in EthVersion::ALL {
            let range = BlockRange::genesis(&spec);
            let mut msgs = vec![
                EthMessage::Status(Status::ours(v, &spec, &filter, range)),
                EthMessage::GetBlockHeaders(RequestPair::new(
                    77,
                    GetBlockHeaders {
                        start: BlockHashOrNumber::Hash(B256::repeat_byte(1)),
                        limit: 64,
                        skip: 2,
                        reverse: true,
                    },
                )),
                EthMessage::BlockHeaders(RequestPair::new(
                    1,
                    few.iter().map(|b| b.header.clone()).collect(),
                )),
                EthMessage::GetBlockBodies(RequestPair::new(2, vec![B256::ZERO; 2])),
                EthMessage::BlockBodies(RequestPair::new(
                    3,
                    few.iter().map(|b| b.body.clone()).collect(),
                )),
                EthMessage::GetReceipts(RequestPair::new(4, vec![B256::ZERO])),
                EthMessage::Receipts(RequestPair::new(
                    5,
                    few.iter().map(|b| b.receipts.clone()).collect(),
                )),
                EthMessage::GetPooledTransactions(RequestPair::new(6, vec![B256::ZERO])),
                EthMessage::PooledTransactions(RequestPair::new(
                    6,
                    vec![Bytes::from_static(&[0xc1, 0x80])],
                )),
            ];
            if v == EthVersion::Eth69 {
                msgs.push(EthMessage::BlockRangeUpdate(range));
            }
            for m in msgs {
                let (id, payload) = m.encode(v).unwrap();
                out.push((v, id, payload));
            }
        }
        out
    })
}

/// Decoding may succeed on arbitrary bytes only if the result is self-consistent.
fn check(version: EthVersion, id: u8, bytes: &[u8]) {
    match EthMessage::decode(version, id, bytes) {
        Ok(msg) => {
            let (id2, payload) = msg.encode(version).expect("decoded message re-encodes");
            assert_eq!(id2, id);
            assert_eq!(
                EthMessage::decode(version, id2, &payload).as_ref(),
                Ok(&msg)
            );
        }
        Err(e) => {
            assert_eq!(e.version, version);
            assert_eq!(e.id, id);
            assert_eq!(e.disconnect_reason(), reason::BREACH_OF_PROTOCOL);
            assert!(e.to_string().starts_with(&version.to_string()), "{e}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_for_every_id(id in 0u8..=0x12, bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        for v in EthVersion::ALL {
            check(v, id, &bytes);
        }
    }

    #[test]
    fn random_lists_for_every_id(id in 0u8..=0x12, inner in proptest::collection::vec(any::<u8>(), 0..300)) {
        // Well-framed outer list with random contents gets past the first check.
        let mut bytes = Vec::new();
        alloy_rlp::Header { list: true, payload_length: inner.len() }.encode(&mut bytes);
        bytes.extend_from_slice(&inner);
        for v in EthVersion::ALL {
            check(v, id, &bytes);
        }
    }

    #[test]
    fn bit_flips_in_valid_messages(pick in any::<prop::sample::Index>(), pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let all = valid();
        let (v, id, payload) = &all[pick.index(all.len())];
        let mut bytes = payload.clone();
        let i = pos.index(bytes.len());
        bytes[i] ^= 1 << bit;
        check(*v, *id, &bytes);
    }
}

#[test]
fn every_truncation_and_any_trailing_byte_is_an_error() {
    for (v, id, payload) in valid() {
        assert!(EthMessage::decode(*v, *id, payload).is_ok());
        let step = (payload.len() / 400).max(1);
        for len in (0..payload.len()).step_by(step) {
            let err = EthMessage::decode(*v, *id, &payload[..len]);
            assert!(
                err.is_err(),
                "{v} id {id:#x}: prefix of {len} bytes decoded"
            );
        }
        let mut longer = payload.clone();
        longer.push(0x80);
        assert!(
            EthMessage::decode(*v, *id, &longer).is_err(),
            "{v} id {id:#x}: trailing byte"
        );
    }
}

fn too_many(v: EthVersion, id: u8, payload: &[u8]) {
    let err = EthMessage::decode(v, id, payload).unwrap_err();
    assert!(
        matches!(err.kind, EthDecodeErrorKind::TooMany { .. }),
        "{v} id {id:#x}: {err}"
    );
}

/// `[item × n]` from one encoded item.
fn list_of(n: usize, item: &[u8]) -> Vec<u8> {
    let mut list = Vec::new();
    alloy_rlp::Header {
        list: true,
        payload_length: item.len() * n,
    }
    .encode(&mut list);
    for _ in 0..n {
        list.extend_from_slice(item);
    }
    list
}

/// `[request_id, [item × n]]` from one encoded item.
fn pair_of(n: usize, item: &[u8]) -> Vec<u8> {
    let list = list_of(n, item);
    let mut out = Vec::new();
    alloy_rlp::Header {
        list: true,
        payload_length: 1 + list.len(),
    }
    .encode(&mut out);
    out.push(0x01);
    out.extend_from_slice(&list);
    out
}

#[test]
fn counts_over_the_caps_are_refused() {
    let hash = alloy_rlp::encode(B256::ZERO);
    let header = alloy_rlp::encode(Header::default());
    for v in EthVersion::ALL {
        too_many(v, 0x04, &pair_of(MAX_HEADERS + 1, &header));
        assert!(EthMessage::decode(v, 0x04, &pair_of(MAX_HEADERS, &header)).is_ok());
        too_many(v, 0x05, &pair_of(MAX_BLOCKS_PER_REQUEST + 1, &hash));
        too_many(v, 0x0f, &pair_of(MAX_BLOCKS_PER_REQUEST + 1, &hash));
        too_many(v, 0x09, &pair_of(MAX_POOLED_TRANSACTIONS + 1, &hash));
        too_many(v, 0x0a, &pair_of(MAX_POOLED_TRANSACTIONS + 1, &[0xc0]));
        too_many(
            v,
            0x06,
            &pair_of(MAX_BLOCKS_PER_REQUEST + 1, &[0xc2, 0xc0, 0xc0]),
        );
        too_many(v, 0x10, &pair_of(MAX_BLOCKS_PER_REQUEST + 1, &[0xc0]));
        // Transactions and receipts: per block, and all blocks of a message together. Counting
        // walks headers only, so empty lists stand in for them.
        let body = |txs: usize| {
            let mut b = list_of(txs, &[0xc0]);
            b.push(0xc0); // no ommers
            let mut out = Vec::new();
            alloy_rlp::Header {
                list: true,
                payload_length: b.len(),
            }
            .encode(&mut out);
            out.extend_from_slice(&b);
            out
        };
        too_many(v, 0x06, &pair_of(1, &body(MAX_TRANSACTIONS_PER_BLOCK + 1)));
        let per_block = MAX_TRANSACTIONS_PER_BLOCK;
        let blocks = MAX_TRANSACTIONS_PER_MESSAGE / per_block + 1;
        too_many(v, 0x06, &pair_of(blocks, &body(per_block)));
        too_many(v, 0x10, &pair_of(1, &list_of(per_block + 1, &[0xc0])));
        too_many(v, 0x10, &pair_of(blocks, &list_of(per_block, &[0xc0])));
        // Even a request we would serve only partly: the limit field is a number, not a count.
        let big_limit = EthMessage::GetBlockHeaders(RequestPair::new(
            1,
            GetBlockHeaders {
                start: BlockHashOrNumber::Number(BlockNumber(1)),
                limit: u64::MAX,
                skip: 0,
                reverse: false,
            },
        ));
        let (id, p) = big_limit.encode(v).unwrap();
        let EthMessage::GetBlockHeaders(r) = EthMessage::decode(v, id, &p).unwrap() else {
            panic!()
        };
        assert_eq!(r.message.served_limit(), MAX_HEADERS);
    }
}

#[test]
fn lengths_claiming_more_than_present_are_refused() {
    for v in EthVersion::ALL {
        for id in 0u8..=0x11 {
            // A list header claiming 4 GiB, followed by almost nothing.
            check(
                v,
                id,
                &[0xfb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            );
            assert!(
                EthMessage::decode(
                    v,
                    id,
                    &[0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
                )
                .is_err()
            );
            assert!(EthMessage::decode(v, id, &[]).is_err());
        }
        // A request pair whose inner list claims a huge length.
        assert!(
            EthMessage::decode(v, 0x05, &[0xc7, 0x01, 0xfb, 0xff, 0xff, 0xff, 0xff, 0x00]).is_err()
        );
        let huge = vec![0xc0; MAX_ETH_MESSAGE_SIZE + 1];
        let err = EthMessage::decode(v, 0x02, &huge).unwrap_err();
        assert!(
            matches!(err.kind, EthDecodeErrorKind::TooLarge { .. }),
            "{err}"
        );
    }
}

#[test]
fn block_ranges_must_not_be_empty() {
    let spec = ChainSpec::mainnet();
    let bad = BlockRange {
        earliest: BlockNumber(10),
        latest: BlockNumber(9),
        latest_hash: B256::ZERO,
    };
    let (id, payload) = EthMessage::BlockRangeUpdate(bad)
        .encode(EthVersion::Eth69)
        .unwrap();
    let err = EthMessage::decode(EthVersion::Eth69, id, &payload).unwrap_err();
    assert!(matches!(
        err.kind,
        EthDecodeErrorKind::InvalidBlockRange {
            earliest: 10,
            latest: 9
        }
    ));
    assert_eq!(
        err.to_string(),
        "eth/69 BlockRangeUpdate (0x11): block range 10..=9 is empty"
    );
    let filter = spec.fork_filter(spec.latest_fork_head());
    let s = Status::ours(EthVersion::Eth69, &spec, &filter, bad);
    let (id, payload) = EthMessage::Status(s).encode(EthVersion::Eth69).unwrap();
    assert!(EthMessage::decode(EthVersion::Eth69, id, &payload).is_err());
}
