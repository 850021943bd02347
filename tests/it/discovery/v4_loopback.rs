//! Five real discv4 services on 127.0.0.1 (port 0), each bootstrapped with only one other node,
//! find each other through ping/pong bonding and FindNode/Neighbours lookups.

use std::{collections::HashSet, net::SocketAddr, time::Duration};

use histd::p2p::discovery::{
    NodeRecord,
    v4::{Discv4, Discv4Config, Discv4Handle},
};
use secp256k1::SecretKey;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const NODES: usize = 5;

async fn start(
    seed: u8,
    bootnodes: Vec<NodeRecord>,
    cancel: &CancellationToken,
) -> (Discv4Handle, mpsc::Receiver<NodeRecord>) {
    let key = SecretKey::from_secret_bytes([seed; 32]).unwrap();
    let mut config = Discv4Config::new(key, SocketAddr::from(([127, 0, 0, 1], 0)));
    config.bootnodes = bootnodes;
    config.request_timeout = Duration::from_millis(500);
    // Background lookups would race the test's own; the test drives lookups itself.
    config.lookup_interval = Duration::from_secs(3600);
    Discv4::spawn(config, cancel.child_token()).await.unwrap()
}

#[tokio::test]
async fn nodes_bootstrapped_in_a_chain_all_find_each_other() {
    let cancel = CancellationToken::new();
    let mut handles: Vec<Discv4Handle> = Vec::new();
    let mut streams = Vec::new();
    for i in 0..NODES {
        // Node i knows only node i-1; node 0 knows nobody and must be found.
        let boot = handles
            .last()
            .map(|h| vec![h.local_record()])
            .unwrap_or_default();
        let (h, rx) = start(i as u8 + 1, boot, &cancel).await;
        handles.push(h);
        streams.push(rx);
    }
    let ids: Vec<_> = handles.iter().map(|h| h.local_record().id).collect();

    // Bounded: each round every node runs one lookup; no sleeping as an assertion.
    let mut complete = false;
    for _round in 0..8 {
        let lookups = handles.iter().map(|h| h.lookup(h.local_record().id));
        futures::future::join_all(lookups).await;
        let mut all = true;
        for (i, h) in handles.iter().enumerate() {
            let table: HashSet<_> = h.table().await.unwrap().into_iter().map(|r| r.id).collect();
            let others: HashSet<_> = ids.iter().copied().filter(|id| *id != ids[i]).collect();
            all &= table == others;
        }
        if all {
            complete = true;
            break;
        }
    }
    for (i, h) in handles.iter().enumerate() {
        let table = h.table().await.unwrap();
        assert!(
            complete,
            "node {i} table after 8 rounds: {} of {} nodes",
            table.len(),
            NODES - 1
        );
    }

    // Every node reported the others on its discovery channel, each once, with the ports they
    // bound.
    for (i, rx) in streams.iter_mut().enumerate() {
        let mut seen = HashSet::new();
        while let Ok(rec) = rx.try_recv() {
            assert!(seen.insert(rec.id), "node {i} reported {} twice", rec.id);
            let h = handles
                .iter()
                .find(|h| h.local_record().id == rec.id)
                .unwrap();
            assert_eq!(rec.udp_addr(), h.local_record().udp_addr());
            assert_eq!(rec.tcp_port, h.local_record().tcp_port);
        }
        assert_eq!(
            seen.len(),
            NODES - 1,
            "node {i} reported {} nodes",
            seen.len()
        );
    }

    // EIP-868: a bonded node hands out its signed record, matching what it listens on.
    let enr = handles[0]
        .request_enr(handles[1].local_record())
        .await
        .unwrap();
    let rec = enr.node_record().unwrap();
    assert_eq!(rec, handles[1].local_record());

    cancel.cancel();
    // After shutdown requests fail with a clear error instead of hanging.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        if handles[0].table().await.is_err() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "service still answering after cancel"
        );
        tokio::task::yield_now().await;
    }
}
