//! A discv4 service against a hand-driven UDP socket: junk, expired packets and FindNode from an
//! unverified endpoint get no answer (amplification guard); after the ping/pong bond the same
//! FindNode is answered, and the bonded node is in the table. Bonds belong to an endpoint: a
//! second socket (127.0.0.2) using the bonded node's key gets no Neighbours (no amplification
//! towards a spoofed source) and cannot move its table entry; a ping flood from a thousand ids
//! leaves room for our own pings.
//!
//! "No answer" is checked without sleeping: the service handles datagrams in order, so any answer
//! to an earlier packet would arrive before the Pong to a later Ping.

use std::{
    net::SocketAddr,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use alloy_primitives::B256;
use histd::{
    p2p::discovery::{
        node_record::{PeerId, peer_id_from_pubkey},
        v4::{
            Discv4, Discv4Config,
            wire::{Endpoint, FindNode, Message, Packet, Ping, Pong, decode_packet, encode_packet},
        },
    },
    testkit::discovery::test_key,
};
use secp256k1::{PublicKey, SecretKey};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn recv(sock: &UdpSocket) -> Packet {
    let mut buf = [0u8; 1500];
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
        .await
        .expect("an answer within 5 s")
        .unwrap();
    decode_packet(&buf[..n]).unwrap()
}

async fn send(sock: &UdpSocket, key: &SecretKey, m: Message, to: SocketAddr) -> B256 {
    let (bytes, hash) = encode_packet(&m, key);
    sock.send_to(&bytes, to).await.unwrap();
    hash
}

fn ping(me: SocketAddr, to: SocketAddr, expiration: u64) -> Message {
    Message::Ping(Ping {
        version: 4,
        from: Endpoint::new(me, me.port()),
        to: Endpoint::new(to, to.port()),
        expiration,
        enr_seq: None,
    })
}

/// Reads packets until the Pong to `ping_hash`; answers the service's own pings on the way and
/// returns everything else that arrived before that Pong.
async fn until_pong(
    sock: &UdpSocket,
    key: &SecretKey,
    svc: SocketAddr,
    ping_hash: B256,
) -> Vec<Message> {
    let mut other = Vec::new();
    loop {
        let p = recv(sock).await;
        match p.message {
            Message::Pong(ref pong) if pong.ping_hash == ping_hash => return other,
            Message::Ping(_) => {
                let pong = Message::Pong(Pong {
                    to: Endpoint::new(svc, svc.port()),
                    ping_hash: p.hash,
                    expiration: now() + 20,
                    enr_seq: None,
                });
                send(sock, key, pong, svc).await;
            }
            m => other.push(m),
        }
    }
}

#[tokio::test]
async fn findnode_is_answered_only_after_the_endpoint_proof() {
    let cancel = CancellationToken::new();
    let mut config = Discv4Config::new(test_key(1), "127.0.0.1:0".parse().unwrap());
    config.lookup_interval = Duration::from_secs(3600);
    let (handle, _found) = Discv4::spawn(config, cancel.clone()).await.unwrap();
    let svc = handle.local_record().udp_addr();

    let key = test_key(2);
    let me_id: PeerId = peer_id_from_pubkey(&PublicKey::from_secret_key(&key));
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let me = sock.local_addr().unwrap();
    let find = || {
        Message::FindNode(FindNode {
            target: me_id,
            expiration: now() + 20,
        })
    };

    sock.send_to(b"not a discv4 packet", svc).await.unwrap();
    sock.send_to(&[0u8; 2000], svc).await.unwrap();
    send(&sock, &key, find(), svc).await;
    let expired = send(&sock, &key, ping(me, svc, now() - 1), svc).await;
    let fresh = send(&sock, &key, ping(me, svc, now() + 20), svc).await;
    let before = until_pong(&sock, &key, svc, fresh).await;
    assert!(
        before.iter().all(|m| !matches!(m, Message::Neighbours(_))),
        "FindNode from an unverified endpoint was answered: {before:?}"
    );
    assert!(
        !before
            .iter()
            .any(|m| matches!(m, Message::Pong(p) if p.ping_hash == expired)),
        "an expired Ping was answered"
    );

    // The service pinged us back and we answered (in until_pong): poll its table for us.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !handle.table().await.unwrap().iter().any(|r| r.id == me_id) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "bonded node never entered the table"
        );
        // The service's ping may still be in flight: read and answer it.
        let probe = send(&sock, &key, ping(me, svc, now() + 20), svc).await;
        until_pong(&sock, &key, svc, probe).await;
    }

    send(&sock, &key, find(), svc).await;
    let answer = loop {
        if let Message::Neighbours(n) = recv(&sock).await.message {
            break n;
        }
    };
    // Junk, the oversized datagram and the expired ping were counted as dropped.
    let stats = handle.stats().await.unwrap();
    assert!(stats.packets_dropped >= 3, "{stats:?}");
    assert_eq!(stats.table_nodes, 1);
    assert_eq!(stats.nodes_reported, 1);
    let us = answer
        .nodes
        .iter()
        .find(|n| n.id == me_id)
        .expect("we are in its table");
    assert_eq!(us.udp_addr(), me);
    cancel.cancel();
}

/// Bonds `key` at `sock` with the service (both directions) and waits until it is in the table.
async fn bond(
    handle: &histd::p2p::discovery::v4::Discv4Handle,
    sock: &UdpSocket,
    key: &SecretKey,
    svc: SocketAddr,
) {
    let me = sock.local_addr().unwrap();
    let id = peer_id_from_pubkey(&PublicKey::from_secret_key(key));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !handle.table().await.unwrap().iter().any(|r| r.id == id) {
        assert!(tokio::time::Instant::now() < deadline, "never bonded");
        let probe = send(sock, key, ping(me, svc, now() + 20), svc).await;
        until_pong(sock, key, svc, probe).await;
    }
}

#[tokio::test]
async fn a_bond_belongs_to_its_endpoint_spoofed_sources_get_nothing() {
    let cancel = CancellationToken::new();
    let mut config = Discv4Config::new(test_key(11), "127.0.0.1:0".parse().unwrap());
    config.lookup_interval = Duration::from_secs(3600);
    let (handle, _found) = Discv4::spawn(config, cancel.clone()).await.unwrap();
    let svc = handle.local_record().udp_addr();

    let key = test_key(12);
    let id: PeerId = peer_id_from_pubkey(&PublicKey::from_secret_key(&key));
    let bonded = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    bond(&handle, &bonded, &key, svc).await;
    let home = bonded.local_addr().unwrap();

    // The same key from another address (a spoofed source, or packets replayed from there).
    let spoofer = UdpSocket::bind("127.0.0.2:0").await.unwrap();
    let there = spoofer.local_addr().unwrap();
    let find = Message::FindNode(FindNode {
        target: id,
        expiration: now() + 20,
    });
    let (find_bytes, _) = encode_packet(&find, &key);
    spoofer.send_to(&find_bytes, svc).await.unwrap();
    let probe = send(&spoofer, &key, ping(there, svc, now() + 20), svc).await;
    // Read (never answering) until the Pong to that ping: whatever came before it is all the
    // service sent there for the FindNode and the Ping.
    let mut got = Vec::new();
    let mut bytes = 0;
    loop {
        let mut buf = [0u8; 1500];
        let (n, _) = tokio::time::timeout(Duration::from_secs(5), spoofer.recv_from(&mut buf))
            .await
            .expect("a Pong within 5 s")
            .unwrap();
        bytes += n;
        let p = decode_packet(&buf[..n]).unwrap();
        if matches!(&p.message, Message::Pong(pong) if pong.ping_hash == probe) {
            break;
        }
        got.push(p.message);
    }
    assert!(
        got.iter().all(|m| !matches!(m, Message::Neighbours(_))),
        "Neighbours sent to an unbonded endpoint: {got:?}"
    );
    // At most our Pong and a bonding Ping: no more bytes than the spoofer sent, roughly.
    assert!(
        bytes <= 2 * 200,
        "{bytes} bytes sent to the spoofed address"
    );
    // The table entry still points home: a ping from elsewhere is not a bond.
    let entry = handle
        .table()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.id == id)
        .expect("still in the table");
    assert_eq!(entry.udp_addr(), home);

    // Home is still bonded and answered.
    send(&bonded, &key, find, svc).await;
    loop {
        if let Message::Neighbours(_) = recv(&bonded).await.message {
            break;
        }
    }
    cancel.cancel();
}

#[tokio::test]
async fn a_ping_flood_does_not_make_our_own_pings_busy() {
    let cancel = CancellationToken::new();
    let mut config = Discv4Config::new(test_key(21), "127.0.0.1:0".parse().unwrap());
    config.lookup_interval = Duration::from_secs(3600);
    // Pings to the flood's sources stay pending for the whole test.
    config.request_timeout = Duration::from_secs(30);
    let (handle, _found) = Discv4::spawn(config, cancel.clone()).await.unwrap();
    let svc = handle.local_record().udp_addr();

    // 1 600 new ids ping us from one silent socket: each one makes the service ping it back,
    // more than the whole pending-ping room.
    let flood = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let from = flood.local_addr().unwrap();
    for seed in 1_000..2_600u32 {
        // Each claims another TCP port, so the pings sent back differ (distinct hashes).
        let flood_ping = Message::Ping(Ping {
            version: 4,
            from: Endpoint::new(from, seed as u16),
            to: Endpoint::new(svc, svc.port()),
            expiration: now() + 20,
            enr_seq: None,
        });
        let (bytes, _) = encode_packet(&flood_ping, &test_key(seed));
        flood.send_to(&bytes, svc).await.unwrap();
        if seed.is_multiple_of(32) {
            // Let the service keep up (its socket buffer is finite).
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    // Datagrams are handled in order: once this is answered, the flood has been.
    let key = test_key(22);
    let sync = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let me = sync.local_addr().unwrap();
    let probe = send(&sync, &key, ping(me, svc, now() + 20), svc).await;
    until_pong(&sync, &key, svc, probe).await;
    let stats = handle.stats().await.unwrap();
    assert!(stats.packets_received >= 1_200, "{stats:?}");

    // Our own ping to a live node still goes out and is answered.
    let peer_key = test_key(23);
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let peer_addr = peer.local_addr().unwrap();
    let peer_id = peer_id_from_pubkey(&PublicKey::from_secret_key(&peer_key));
    let answer = async {
        loop {
            let p = recv(&peer).await;
            if let Message::Ping(_) = p.message {
                let pong = Message::Pong(Pong {
                    to: Endpoint::new(svc, svc.port()),
                    ping_hash: p.hash,
                    expiration: now() + 20,
                    enr_seq: None,
                });
                send(&peer, &peer_key, pong, svc).await;
            }
        }
    };
    let record = histd::p2p::discovery::NodeRecord::new(peer_id, peer_addr.ip(), peer_addr.port());
    tokio::select! {
        r = handle.ping(record) => r.expect("our ping is not refused as busy"),
        _ = answer => unreachable!(),
    }
    cancel.cancel();
}
