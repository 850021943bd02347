//! A full k-bucket (`discv4.md`): when a 17th node of the same bucket proves its endpoint, the
//! service pings the least recently seen entry; a silent entry is replaced by the newcomer, an
//! answering one stays and the newcomer is dropped. Nodes are hand-driven UDP sockets.

use std::{
    net::SocketAddr,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use alloy_primitives::B256;
use histd::{
    p2p::{
        discovery::{
            node_record::PeerId,
            v4::{
                Discv4, Discv4Config, Discv4Handle,
                table::{BUCKET_SIZE, NUM_BUCKETS, id_hash, log_distance},
                wire::{Endpoint, Message, Packet, Ping, Pong, decode_packet, encode_packet},
            },
        },
        rlpx::id_of,
    },
    testkit::discovery::test_key,
};
use secp256k1::SecretKey;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

struct Fake {
    key: SecretKey,
    id: PeerId,
    sock: UdpSocket,
}

impl Fake {
    async fn recv(&self) -> Packet {
        let mut buf = [0u8; 1500];
        let (n, _) = tokio::time::timeout(Duration::from_secs(5), self.sock.recv_from(&mut buf))
            .await
            .expect("a packet within 5 s")
            .unwrap();
        decode_packet(&buf[..n]).unwrap()
    }

    async fn send(&self, m: Message, to: SocketAddr) -> B256 {
        let (bytes, hash) = encode_packet(&m, &self.key);
        self.sock.send_to(&bytes, to).await.unwrap();
        hash
    }

    async fn pong(&self, ping_hash: B256, svc: SocketAddr) {
        let m = Message::Pong(Pong {
            to: Endpoint::new(svc, svc.port()),
            ping_hash,
            expiration: now() + 20,
            enr_seq: None,
        });
        self.send(m, svc).await;
    }

    /// Pings the service and reads until its Pong, answering its pings on the way.
    async fn ping_and_answer(&self, svc: SocketAddr) {
        let me = self.sock.local_addr().unwrap();
        let ping = Message::Ping(Ping {
            version: 4,
            from: Endpoint::new(me, me.port()),
            to: Endpoint::new(svc, svc.port()),
            expiration: now() + 20,
            enr_seq: None,
        });
        let hash = self.send(ping, svc).await;
        loop {
            let p = self.recv().await;
            match p.message {
                Message::Ping(_) => self.pong(p.hash, svc).await,
                Message::Pong(pong) if pong.ping_hash == hash => return,
                _ => {}
            }
        }
    }
}

async fn in_table(h: &Discv4Handle, id: PeerId) -> bool {
    h.table().await.unwrap().iter().any(|r| r.id == id)
}

/// Bonds `f` with the service: ping, answer its ping, until it is in the table.
async fn bond(f: &Fake, h: &Discv4Handle, svc: SocketAddr) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !in_table(h, f.id).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "node never entered the table"
        );
        f.ping_and_answer(svc).await;
    }
}

#[tokio::test]
async fn a_full_bucket_keeps_live_nodes_and_replaces_dead_ones() {
    let cancel = CancellationToken::new();
    let mut config = Discv4Config::new(test_key(1), "127.0.0.1:0".parse().unwrap());
    config.request_timeout = Duration::from_millis(300);
    config.lookup_interval = Duration::from_secs(3600);
    let (h, _rx) = Discv4::spawn(config, cancel.clone()).await.unwrap();
    let svc = h.local_record().udp_addr();
    let own = id_hash(&h.local_record().id);

    // 18 nodes that all fall into the farthest bucket (about half of all ids do).
    let mut fakes = Vec::new();
    let mut seed = 1000;
    while fakes.len() < BUCKET_SIZE + 2 {
        seed += 1;
        let key = test_key(seed);
        let id = id_of(&key);
        if log_distance(&own, &id_hash(&id)) == Some(NUM_BUCKETS) {
            let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            fakes.push(Fake { key, id, sock });
        }
    }
    for f in &fakes[..BUCKET_SIZE] {
        bond(f, &h, svc).await;
    }
    assert_eq!(h.table().await.unwrap().len(), BUCKET_SIZE);

    // Newcomer 16 proves its endpoint; the oldest (0) is pinged and stays silent: replaced.
    let newcomer = &fakes[BUCKET_SIZE];
    // Twice: the service pings back after its Pong, the second round answers that ping.
    newcomer.ping_and_answer(svc).await;
    newcomer.ping_and_answer(svc).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !in_table(&h, newcomer.id).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "silent oldest node was never replaced"
        );
        tokio::task::yield_now().await;
    }
    assert!(!in_table(&h, fakes[0].id).await, "the silent node is gone");

    // Newcomer 17; the oldest is now node 1, which answers the revalidation ping: it stays.
    let late = &fakes[BUCKET_SIZE + 1];
    late.ping_and_answer(svc).await;
    late.ping_and_answer(svc).await;
    // The oldest node is pinged.
    let revalidation = loop {
        let p = fakes[1].recv().await;
        if matches!(p.message, Message::Ping(_)) {
            break p;
        }
    };
    fakes[1].pong(revalidation.hash, svc).await;
    // The service handles datagrams in order: once node 1's next ping is answered, the pong
    // above has been processed.
    fakes[1].ping_and_answer(svc).await;
    assert!(in_table(&h, fakes[1].id).await);
    assert!(
        !in_table(&h, late.id).await,
        "a live bucket is not evicted for a newcomer"
    );
    assert_eq!(h.table().await.unwrap().len(), BUCKET_SIZE);
    cancel.cancel();
}
