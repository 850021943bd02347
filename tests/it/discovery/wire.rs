//! discv4 packets against the EIP-8 vectors (`../shared/testdata/devp2p/devp2p-vectors.json`,
//! written by nobody here): every packet decodes despite extra list elements and trailing junk, its
//! hash and signature check out, and the signer recovered is the vectors' node key.

use std::net::{IpAddr, Ipv4Addr};

use alloy_primitives::{B256, hex};
use histd::p2p::discovery::{
    node_record::{PeerId, peer_id_from_pubkey},
    v4::wire::{
        Endpoint, FindNode, MAX_PACKET_SIZE, Message, Neighbours, Ping, Pong, WireError,
        check_expiration, decode_packet, encode_packet,
    },
};
use secp256k1::{PublicKey, SecretKey};
use serde_json::Value;

fn vectors() -> Value {
    let path = histd::testkit::devp2p_vectors_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let all: Value = serde_json::from_str(&text).unwrap();
    all["discv4"].clone()
}

fn packet(v: &Value, name: &str) -> Vec<u8> {
    hex::decode(v[name]["packet"].as_str().unwrap()).unwrap()
}

fn node_key(v: &Value) -> SecretKey {
    let b: [u8; 32] = hex::decode(v["node_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    SecretKey::from_secret_bytes(b).unwrap()
}

fn signer(v: &Value) -> PeerId {
    let id = peer_id_from_pubkey(&PublicKey::from_secret_key(&node_key(v)));
    assert_eq!(
        format!("{id:x}"),
        v["node_pubkey_decoded"].as_str().unwrap()
    );
    id
}

const EXPIRATION: u64 = 0x43b9a355;

#[test]
fn every_vector_decodes_and_recovers_the_signer() {
    let v = vectors();
    let signer = signer(&v);
    for name in [
        "ping_v4_extra",
        "ping_v555_extra_junk",
        "pong_extra_junk",
        "findnode_extra_junk",
        "neighbours_extra_junk",
    ] {
        let p = decode_packet(&packet(&v, name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(p.signer, signer, "{name}");
        assert_eq!(
            u64::from(p.message.packet_type()),
            v[name]["type_decoded"].as_u64().unwrap()
        );
        assert_eq!(p.message.expiration(), Some(EXPIRATION), "{name}");
        // 2006: long expired. Decoding works; processing refuses.
        assert!(check_expiration(EXPIRATION, 1_700_000_000).is_err());
    }
}

#[test]
fn ping_fields_match_the_vectors() {
    let v = vectors();
    let p = decode_packet(&packet(&v, "ping_v4_extra")).unwrap();
    let Message::Ping(ping) = p.message else {
        panic!("not a ping")
    };
    assert_eq!(ping.version, 4);
    assert_eq!(
        ping.from,
        Endpoint {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            udp_port: 3322,
            tcp_port: 5544
        }
    );
    assert_eq!(ping.to.ip, "::1".parse::<IpAddr>().unwrap());
    assert_eq!((ping.to.udp_port, ping.to.tcp_port), (2222, 3333));

    let p = decode_packet(&packet(&v, "ping_v555_extra_junk")).unwrap();
    let Message::Ping(ping) = p.message else {
        panic!("not a ping")
    };
    assert_eq!(ping.version, 555, "version mismatches are accepted (EIP-8)");
    assert_eq!(
        ping.from.ip,
        "2001:db8:3c4d:15::abcd:ef12".parse::<IpAddr>().unwrap()
    );
    assert_eq!(ping.to.tcp_port, 33338);
    assert_eq!(
        ping.enr_seq, None,
        "a list where enr-seq would be is an ignored extra"
    );
}

#[test]
fn pong_findnode_neighbours_fields_match_the_vectors() {
    let v = vectors();
    let Message::Pong(pong) = decode_packet(&packet(&v, "pong_extra_junk"))
        .unwrap()
        .message
    else {
        panic!("not a pong")
    };
    assert_eq!(
        pong.ping_hash,
        B256::from(hex!(
            "fbc914b16819237dcd8801d7e53f69e9719adecb3cc0e790c57e91ca4461c954"
        ))
    );
    assert_eq!(pong.to.udp_port, 2222);

    let Message::FindNode(find) = decode_packet(&packet(&v, "findnode_extra_junk"))
        .unwrap()
        .message
    else {
        panic!("not a findnode")
    };
    assert_eq!(find.target, signer(&v));

    let Message::Neighbours(n) = decode_packet(&packet(&v, "neighbours_extra_junk"))
        .unwrap()
        .message
    else {
        panic!("not neighbours")
    };
    let want = &v["neighbours_extra_junk"]["rlp_decoded"][0];
    assert_eq!(n.nodes.len(), want.as_array().unwrap().len());
    for (node, w) in n.nodes.iter().zip(want.as_array().unwrap()) {
        assert_eq!(
            u64::from(node.udp_port),
            u64::from_str_radix(w[1].as_str().unwrap(), 16).unwrap()
        );
        assert_eq!(
            u64::from(node.tcp_port),
            u64::from_str_radix(w[2].as_str().unwrap(), 16).unwrap()
        );
        assert_eq!(format!("{:x}", node.id), w[3].as_str().unwrap());
    }
    assert_eq!(n.nodes[0].ip, IpAddr::V4(Ipv4Addr::new(99, 33, 22, 55)));
    assert_eq!(
        n.nodes[2].ip,
        "2001:db8:3c4d:15::abcd:ef12".parse::<IpAddr>().unwrap()
    );
}

#[test]
fn tampered_or_truncated_packets_are_refused() {
    let v = vectors();
    let good = packet(&v, "ping_v4_extra");

    let mut bad_hash = good.clone();
    bad_hash[0] ^= 1;
    assert_eq!(decode_packet(&bad_hash), Err(WireError::HashMismatch));

    // Flip a data byte and fix the hash: the signature no longer recovers the same key.
    let mut resigned = good.clone();
    let last = resigned.len() - 1;
    resigned[last] ^= 1;
    let h = alloy_primitives::keccak256(&resigned[32..]);
    resigned[..32].copy_from_slice(h.as_slice());
    match decode_packet(&resigned) {
        Ok(p) => assert_ne!(p.signer, signer(&v)),
        Err(e) => assert!(matches!(e, WireError::BadSignature | WireError::Rlp { .. })),
    }

    assert_eq!(
        decode_packet(&good[..50]),
        Err(WireError::TooShort { size: 50 })
    );
    assert_eq!(
        decode_packet(&vec![0u8; MAX_PACKET_SIZE + 1]),
        Err(WireError::TooLarge {
            size: MAX_PACKET_SIZE + 1
        })
    );
}

#[test]
fn unknown_types_and_bad_rlp_are_clear_errors() {
    let key = SecretKey::from_secret_bytes([3u8; 32]).unwrap();
    let (mut bytes, _) = encode_packet(
        &Message::EnrRequest(histd::p2p::discovery::v4::wire::EnrRequest { expiration: 1 }),
        &key,
    );
    // Re-sign with another type byte by building the packet by hand is overkill: change the type,
    // which breaks the hash; fix the hash; the signature then recovers *some* key, and the type is
    // what gets reported.
    bytes[97] = 0x09;
    let h = alloy_primitives::keccak256(&bytes[32..]);
    bytes[..32].copy_from_slice(h.as_slice());
    match decode_packet(&bytes) {
        Err(WireError::UnknownType { packet_type: 9 }) | Err(WireError::BadSignature) => {}
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn our_packets_round_trip() {
    let key = SecretKey::from_secret_bytes([5u8; 32]).unwrap();
    let me = peer_id_from_pubkey(&PublicKey::from_secret_key(&key));
    let ep = Endpoint {
        ip: IpAddr::V4(Ipv4Addr::new(1, 2, 3, 4)),
        udp_port: 30301,
        tcp_port: 0,
    };
    let nodes: Vec<_> = (0u8..12)
        .map(|i| histd::p2p::discovery::NodeRecord {
            id: PeerId::repeat_byte(i),
            ip: "2001:db8::1".parse().unwrap(),
            tcp_port: 30303,
            udp_port: 30303,
        })
        .collect();
    let messages = [
        Message::Ping(Ping {
            version: 4,
            from: ep,
            to: ep,
            expiration: 9,
            enr_seq: Some(0),
        }),
        Message::Pong(Pong {
            to: ep,
            ping_hash: B256::repeat_byte(7),
            expiration: 9,
            enr_seq: None,
        }),
        Message::FindNode(FindNode {
            target: me,
            expiration: 9,
        }),
        Message::Neighbours(Neighbours {
            nodes,
            expiration: 9,
        }),
    ];
    for m in messages {
        let (bytes, hash) = encode_packet(&m, &key);
        assert!(
            bytes.len() <= MAX_PACKET_SIZE,
            "{} is {} bytes",
            m.name(),
            bytes.len()
        );
        let p = decode_packet(&bytes).unwrap();
        assert_eq!((p.hash, p.signer, p.message), (hash, me, m));
    }
}
