//! Sessions over real loopback TCP: our initiator against our responder serving synthetic history,
//! with eth/68 and eth/69, every request type, version negotiation, fork-id mismatch, and hostile
//! peers (garbage RLP in every message id, wrong/oversized answers, silence).

use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::B256;
use histd::p2p::base::{DisconnectReason, P2pError, P2pStream};
use histd::p2p::chain::{ChainSpec, ForkFilterKey, ForkHead};
use histd::p2p::eth::{
    BlockHashOrNumber, BlockRange, EthMessage, EthVersion, GetBlockHeaders, RequestPair,
    ResponseError, StatusError,
};
use histd::p2p::node_key::NodeKey;
use histd::p2p::rlpx;
use histd::p2p::session::{
    self, EmptyHistory, EthStreamError, HistoryProvider, PeerConfig, PeerHead, RequestError,
    SessionConfig, StatusInputs,
};
use histd::primitives::{BlockNumber, VerifiedBlock};
use histd::testkit::chain::ChainGen;
use histd::testkit::history::MemoryHistory;
use tokio::net::{TcpListener, TcpStream};

const CHAIN_LEN: u64 = 40;

pub(super) fn chain() -> Vec<VerifiedBlock> {
    ChainGen::new(42).chain(BlockNumber(0), CHAIN_LEN, B256::ZERO)
}

pub(super) fn spec(blocks: &[VerifiedBlock], forks: &[u64]) -> ChainSpec {
    ChainSpec::new(
        "testnet",
        1337,
        1337,
        blocks[0].hash(),
        0,
        alloy_primitives::U256::from(1u64),
        forks.iter().map(|b| ForkFilterKey::Block(*b)),
    )
}

pub(super) fn status_inputs(spec: ChainSpec, head: &VerifiedBlock) -> StatusInputs {
    StatusInputs {
        filter: spec.fork_filter(ForkHead::new(head.number(), head.header().timestamp)),
        served: BlockRange {
            earliest: BlockNumber(0),
            latest: head.number(),
            latest_hash: head.hash(),
        },
        spec,
    }
}

pub(super) fn config(status: StatusInputs, versions: &[EthVersion]) -> PeerConfig {
    let mut c = PeerConfig::new(NodeKey::random(), status);
    c.versions = versions.to_vec();
    c
}

pub(super) fn fast() -> SessionConfig {
    SessionConfig {
        request_timeout: Duration::from_millis(500),
        ..SessionConfig::default()
    }
}

/// Server = responder serving `provider`; client = initiator serving nothing.
async fn connect(
    server_cfg: PeerConfig,
    client_cfg: PeerConfig,
    provider: Arc<dyn HistoryProvider>,
) -> (
    Result<session::SessionHandle, EthStreamError>,
    Result<session::SessionHandle, EthStreamError>,
) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let server_id = server_cfg.key.id();
    let server = tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let eth = session::accept(s, &server_cfg).await?;
        Ok(session::spawn(eth, provider, fast()).0)
    });
    let tcp = TcpStream::connect(addr).await.unwrap();
    let client = match session::dial(tcp, server_id, &client_cfg).await {
        Ok(eth) => Ok(session::spawn(eth, Arc::new(EmptyHistory), fast()).0),
        Err(e) => Err(e),
    };
    (server.await.unwrap(), client)
}

async fn every_request_type(
    server_versions: &[EthVersion],
    client_versions: &[EthVersion],
    expect: EthVersion,
) {
    let blocks = chain();
    let head = blocks.last().unwrap();
    let sp = spec(&blocks, &[1_000_000]);
    let provider = Arc::new(MemoryHistory::from_verified(&blocks));
    let (server, client) = connect(
        config(status_inputs(sp.clone(), head), server_versions),
        config(status_inputs(sp.clone(), &blocks[0]), client_versions),
        provider,
    )
    .await;
    let (server, client) = (server.unwrap(), client.unwrap());
    assert_eq!(client.snapshot().version, expect);
    assert_eq!(server.snapshot().version, expect);

    // The server's head, resolved to a number (eth/68 by a header request, eth/69 from Status).
    assert_eq!(
        client.head().await,
        Some(PeerHead {
            number: head.number(),
            hash: head.hash()
        })
    );

    // Headers by number, ascending.
    let h = client
        .get_headers(GetBlockHeaders {
            start: BlockHashOrNumber::Number(BlockNumber(5)),
            limit: 10,
            skip: 0,
            reverse: false,
        })
        .await
        .unwrap();
    assert_eq!(h.len(), 10);
    assert!(h.iter().zip(&blocks[5..15]).all(|(a, b)| a == b.header()));
    // By hash, reverse, skip 2: 30, 27, 24, ... down to 0 (11 headers).
    let h = client
        .get_headers(GetBlockHeaders {
            start: BlockHashOrNumber::Hash(blocks[30].hash()),
            limit: 100,
            skip: 2,
            reverse: true,
        })
        .await
        .unwrap();
    let numbers: Vec<u64> = h.iter().map(|h| h.number).collect();
    assert_eq!(numbers, (0..=30).rev().step_by(3).collect::<Vec<_>>());
    // Past our head: a short answer.
    let h = client
        .get_headers(GetBlockHeaders {
            start: BlockHashOrNumber::Number(BlockNumber(CHAIN_LEN - 2)),
            limit: 10,
            skip: 0,
            reverse: false,
        })
        .await
        .unwrap();
    assert_eq!(h.len(), 2);

    // Bodies and receipts, with an unknown hash at the end (answer is the known prefix).
    let mut hashes: Vec<B256> = blocks[10..20].iter().map(|b| b.hash()).collect();
    hashes.push(B256::repeat_byte(0xee));
    let bodies = client.get_bodies(hashes.clone()).await.unwrap();
    assert_eq!(bodies.len(), 10);
    assert!(
        bodies
            .iter()
            .zip(&blocks[10..20])
            .all(|(a, b)| a == b.body())
    );
    let receipts = client.get_receipts(hashes).await.unwrap();
    assert_eq!(receipts.len(), 10);
    assert!(
        receipts
            .iter()
            .zip(&blocks[10..20])
            .all(|(a, b)| a == b.receipts())
    );
    assert!(receipts.iter().any(|r| !r.is_empty()));
    // Every answer still verifies against its header.
    for (i, b) in blocks[10..20].iter().enumerate() {
        let sealed = histd::verify::SealedHeader::seal(b.header().clone());
        histd::verify::check_body(&sealed, &bodies[i]).unwrap();
        histd::verify::check_receipts(&sealed, &bodies[i], &receipts[i]).unwrap();
    }

    // The other way round: the client serves nothing, and empty is a valid answer.
    let h = server
        .get_headers(GetBlockHeaders {
            start: BlockHashOrNumber::Number(BlockNumber(0)),
            limit: 5,
            skip: 0,
            reverse: false,
        })
        .await
        .unwrap();
    assert!(h.is_empty());
    assert!(
        server
            .get_bodies(vec![blocks[1].hash()])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        server
            .get_receipts(vec![blocks[1].hash()])
            .await
            .unwrap()
            .is_empty()
    );

    // Too large a request is refused locally.
    assert!(matches!(
        client.get_bodies(vec![B256::ZERO; 2000]).await,
        Err(RequestError::TooLarge { .. })
    ));

    // Our served range moved: eth/69 tells the peer, eth/68 has no message for it.
    let moved = BlockRange {
        earliest: BlockNumber(0),
        latest: BlockNumber(7),
        latest_hash: blocks[7].hash(),
    };
    client.update_served(moved).await;
    // A round trip after it proves the update was processed.
    let _ = client.get_bodies(vec![blocks[1].hash()]).await.unwrap();
    let _ = server.get_bodies(vec![blocks[1].hash()]).await.unwrap();
    let seen = server.snapshot();
    if expect == EthVersion::Eth69 {
        assert_eq!(seen.served, Some(moved));
        assert_eq!(seen.head.map(|h| h.number), Some(BlockNumber(7)));
    } else {
        assert_eq!(seen.served, None);
    }

    client.disconnect(DisconnectReason::ClientQuitting).await;
    let why = server.closed().await;
    assert!(why.contains("client quitting"), "{why}");
    assert!(client.get_bodies(vec![B256::ZERO]).await.is_err());
}

#[tokio::test]
async fn eth69_every_request_type() {
    every_request_type(&EthVersion::ALL, &EthVersion::ALL, EthVersion::Eth69).await;
}

#[tokio::test]
async fn eth68_every_request_type_when_client_offers_only_68() {
    every_request_type(&EthVersion::ALL, &[EthVersion::Eth68], EthVersion::Eth68).await;
}

#[tokio::test]
async fn eth68_every_request_type_when_server_offers_only_68() {
    every_request_type(&[EthVersion::Eth68], &EthVersion::ALL, EthVersion::Eth68).await;
}

#[tokio::test]
async fn fork_id_mismatch_disconnects_with_subprotocol_reason() {
    let blocks = chain();
    let head = blocks.last().unwrap();
    // Same genesis, but the server forked at block 5 and the client never did.
    let (server, client) = connect(
        config(status_inputs(spec(&blocks, &[5]), head), &EthVersion::ALL),
        config(
            status_inputs(spec(&blocks, &[1_000_000]), head),
            &EthVersion::ALL,
        ),
        Arc::new(EmptyHistory),
    )
    .await;
    for e in [server.unwrap_err(), client.unwrap_err()] {
        // Each side either rejected the fork id itself or was told so by the other.
        match &e {
            EthStreamError::Status(s) if matches!(**s, StatusError::ForkIdRejected { .. }) => {
                assert_eq!(
                    e.disconnect_reason(),
                    Some(DisconnectReason::SubprotocolSpecific)
                );
            }
            EthStreamError::P2p(P2pError::Disconnected {
                reason: DisconnectReason::SubprotocolSpecific,
            }) => {}
            other => panic!("unexpected {other}"),
        }
    }

    // A different genesis is also 0x10.
    let other = ChainGen::new(7).chain(BlockNumber(0), 2, B256::ZERO);
    let (server, _client) = connect(
        config(status_inputs(spec(&blocks, &[]), head), &EthVersion::ALL),
        config(
            status_inputs(spec(&other, &[]), &other[1]),
            &EthVersion::ALL,
        ),
        Arc::new(EmptyHistory),
    )
    .await;
    let e = server.unwrap_err();
    assert!(
        matches!(&e, EthStreamError::Status(s) if matches!(**s, StatusError::GenesisMismatch { .. })),
        "{e}"
    );
}

/// A peer we script by hand: RLPx + Hello + Status done properly, then whatever the test sends.
pub(super) struct RawPeer {
    pub(super) p2p: P2pStream<TcpStream>,
    pub(super) version: EthVersion,
    /// The same socket, for bytes no codec would produce.
    pub(super) raw_socket: TcpStream,
}

/// Starts our responder session (serving `provider`) and connects a raw peer to it.
pub(super) async fn raw_peer(
    versions: &[EthVersion],
    provider: Arc<dyn HistoryProvider>,
    cfg: SessionConfig,
) -> (
    RawPeer,
    session::SessionHandle,
    tokio::task::JoinHandle<Result<(), EthStreamError>>,
) {
    raw_peer_with_recv_buffer(versions, provider, cfg, None).await
}

/// [`raw_peer`] whose socket's receive buffer is set to `recv_buffer` bytes (a peer that means to
/// stall our writes sooner).
pub(super) async fn raw_peer_with_recv_buffer(
    versions: &[EthVersion],
    provider: Arc<dyn HistoryProvider>,
    cfg: SessionConfig,
    recv_buffer: Option<u32>,
) -> (
    RawPeer,
    session::SessionHandle,
    tokio::task::JoinHandle<Result<(), EthStreamError>>,
) {
    let blocks = chain();
    let sp = spec(&blocks, &[1_000_000]);
    let head = blocks.last().unwrap();
    let server_cfg = config(status_inputs(sp.clone(), head), &EthVersion::ALL);
    let client_cfg = config(status_inputs(sp, &blocks[0]), versions);
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let server_id = server_cfg.key.id();
    let server = tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let eth = session::accept(s, &server_cfg).await.unwrap();
        session::spawn(eth, provider, cfg)
    });
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    if let Some(size) = recv_buffer {
        socket.set_recv_buffer_size(size).unwrap();
    }
    let tcp = socket.connect(addr).await.unwrap();
    // A second handle on the same socket, to write raw bytes under the encryption.
    let std_tcp = tcp.into_std().unwrap();
    let raw_socket = TcpStream::from_std(std_tcp.try_clone().unwrap()).unwrap();
    let tcp = TcpStream::from_std(std_tcp).unwrap();
    let r = rlpx::initiate(
        tcp,
        client_cfg.key.secret(),
        server_id,
        rlpx::DEFAULT_HANDSHAKE_TIMEOUT,
    )
    .await
    .unwrap();
    let mut p2p = P2pStream::handshake(r, client_cfg.hello(), Duration::from_secs(5))
        .await
        .unwrap();
    let version = EthVersion::from_number(p2p.capability().version).unwrap();
    let (id, payload) = EthMessage::Status(client_cfg.status.status(version))
        .encode(version)
        .unwrap();
    p2p.send(id, &payload).await.unwrap();
    let theirs = p2p.recv().await.unwrap();
    assert_eq!(theirs.id, 0);
    let (handle, task) = server.await.unwrap();
    (
        RawPeer {
            p2p,
            version,
            raw_socket,
        },
        handle,
        task,
    )
}

impl RawPeer {
    pub(super) async fn send(&mut self, msg: EthMessage) {
        let (id, payload) = msg.encode(self.version).unwrap();
        self.p2p.send(id, &payload).await.unwrap();
    }

    /// Reads until the peer disconnects; returns its reason.
    pub(super) async fn disconnect_reason(&mut self) -> DisconnectReason {
        loop {
            match tokio::time::timeout(Duration::from_secs(5), self.p2p.recv()).await {
                Ok(Ok(_)) => continue,
                Ok(Err(P2pError::Disconnected { reason })) => return reason,
                Ok(Err(e)) => panic!("expected Disconnect, got {e}"),
                Err(_) => panic!("no Disconnect within 5s"),
            }
        }
    }

    /// Reads until a message with request id arrives; returns it decoded.
    pub(super) async fn next_eth(&mut self) -> EthMessage {
        loop {
            let m = self.p2p.recv().await.unwrap();
            let msg = EthMessage::decode(self.version, m.id, &m.payload).unwrap();
            if msg.request_id().is_some() {
                return msg;
            }
        }
    }
}

#[tokio::test]
async fn garbage_rlp_in_every_message_type_ends_session_with_breach() {
    for version in EthVersion::ALL {
        for id in 0..version.message_count() {
            for garbage in [&b"\xf8\xff\x01"[..], b"", b"\xc2\x01"] {
                let (mut peer, handle, task) =
                    raw_peer(&[version], Arc::new(EmptyHistory), fast()).await;
                peer.p2p.send(id, garbage).await.unwrap();
                // Read the reason first and then close, as a real peer does: the session lingers
                // until we close so that its Disconnect is not lost to a TCP reset.
                let reason = peer.disconnect_reason().await;
                drop(peer);
                let result = task.await.unwrap();
                match result {
                    Err(e) => {
                        assert!(
                            e.is_protocol_breach(),
                            "{version} id {id:#x} {garbage:x?}: {e}"
                        );
                        assert_eq!(
                            reason,
                            DisconnectReason::ProtocolBreach,
                            "{version} id {id:#x}"
                        );
                    }
                    Ok(()) => panic!("session ended cleanly on {version} id {id:#x}"),
                }
                drop(handle);
            }
        }
    }
}

#[tokio::test]
async fn gossip_is_ignored_and_pooled_tx_requests_get_empty_answers() {
    let (mut peer, handle, task) =
        raw_peer(&[EthVersion::Eth69], Arc::new(EmptyHistory), fast()).await;
    // Transactions (0x02) with an empty list, NewPooledTransactionHashes (0x08) well-formed.
    peer.p2p.send(0x02, b"\xc0").await.unwrap();
    peer.p2p.send(0x08, b"\xc3\x80\xc0\xc0").await.unwrap();
    peer.send(EthMessage::GetPooledTransactions(RequestPair::new(
        77,
        vec![B256::ZERO],
    )))
    .await;
    match peer.next_eth().await {
        EthMessage::PooledTransactions(r) => {
            assert_eq!(r.request_id, 77);
            assert!(r.message.is_empty());
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(handle.snapshot().ended.is_none());
    drop(handle);
    assert_eq!(peer.disconnect_reason().await, DisconnectReason::Requested);
    assert!(task.await.unwrap().is_ok());
}

#[tokio::test]
async fn silent_peer_times_out_each_request_and_then_the_session() {
    let (mut peer, handle, task) =
        raw_peer(&[EthVersion::Eth69], Arc::new(EmptyHistory), fast()).await;
    // Each request times out alone; the third in a row without an answer ends the session.
    for n in 1..=3 {
        let r = handle
            .get_headers(GetBlockHeaders {
                start: BlockHashOrNumber::Number(BlockNumber(1)),
                limit: 1,
                skip: 0,
                reverse: false,
            })
            .await;
        assert!(matches!(r, Err(RequestError::Timeout { .. })), "{n}: {r:?}");
        if n < 3 {
            assert_eq!(handle.snapshot().ended, None, "after timeout {n}");
        }
    }
    assert!(matches!(
        task.await.unwrap(),
        Err(EthStreamError::RequestTimeout { .. })
    ));
    assert_eq!(
        peer.disconnect_reason().await,
        DisconnectReason::PingTimeout
    );
}

#[tokio::test]
async fn wrong_or_oversized_answers_are_breaches() {
    for case in 0..4 {
        let (mut peer, handle, task) =
            raw_peer(&[EthVersion::Eth69], Arc::new(EmptyHistory), fast()).await;
        let asker = tokio::spawn({
            let handle = handle.clone();
            async move {
                handle
                    .get_headers(GetBlockHeaders {
                        start: BlockHashOrNumber::Number(BlockNumber(1)),
                        limit: 2,
                        skip: 0,
                        reverse: false,
                    })
                    .await
            }
        });
        let req = match peer.next_eth().await {
            EthMessage::GetBlockHeaders(r) => r,
            other => panic!("unexpected {other:?}"),
        };
        let h = chain()[1].header().clone();
        let answer = match case {
            // Three headers for a limit of two.
            0 => EthMessage::BlockHeaders(req.answer(vec![h.clone(), h.clone(), h])),
            // Bodies for a headers request.
            1 => EthMessage::BlockBodies(req.answer(vec![])),
            // The wrong start block.
            3 => EthMessage::BlockHeaders(req.answer(vec![chain()[5].header().clone()])),
            // An answer to a request we never made: unsolicited, a breach.
            _ => EthMessage::BlockHeaders(RequestPair::new(req.request_id + 1000, vec![h])),
        };
        peer.send(answer).await;
        let r = asker.await.unwrap();
        let end = task.await.unwrap().unwrap_err();
        match case {
            0 => assert!(
                matches!(
                    end,
                    EthStreamError::BadResponse {
                        source: ResponseError::TooMany {
                            got: 3,
                            requested: 2,
                            ..
                        },
                        ..
                    }
                ),
                "{end}"
            ),
            1 => assert!(
                matches!(end, EthStreamError::MismatchedResponse { .. }),
                "{end}"
            ),
            3 => assert!(
                matches!(
                    end,
                    EthStreamError::BadResponse {
                        source: ResponseError::WrongStart { .. },
                        ..
                    }
                ),
                "{end}"
            ),
            _ => assert!(
                matches!(
                    end,
                    EthStreamError::UnsolicitedResponse {
                        got: "BlockHeaders",
                        ..
                    }
                ),
                "{end}"
            ),
        }
        assert!(end.is_protocol_breach(), "{end}");
        assert!(r.is_err());
        assert_eq!(
            peer.disconnect_reason().await,
            DisconnectReason::ProtocolBreach
        );
    }
}

#[tokio::test]
async fn keepalive_pings_keep_live_peers_and_drop_silent_ones() {
    let quick = SessionConfig {
        request_timeout: Duration::from_secs(5),
        ping_interval: Duration::from_millis(100),
        idle_timeout: Duration::from_millis(350),
        ..SessionConfig::default()
    };
    // A raw peer that never reads never answers our Pings: dropped with "ping timeout".
    let (mut peer, handle, task) =
        raw_peer(&[EthVersion::Eth69], Arc::new(EmptyHistory), quick).await;
    let end = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("idle peer dropped")
        .unwrap()
        .unwrap_err();
    assert!(matches!(end, EthStreamError::Idle { .. }), "{end}");
    assert!(handle.closed().await.contains("silent"));
    assert_eq!(
        peer.disconnect_reason().await,
        DisconnectReason::PingTimeout
    );

    // Two sessions that both answer Pings stay up well past the idle limit.
    let blocks = chain();
    let sp = spec(&blocks, &[1_000_000]);
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let server_cfg = config(status_inputs(sp.clone(), &blocks[3]), &EthVersion::ALL);
    let client_cfg = config(status_inputs(sp, &blocks[3]), &EthVersion::ALL);
    let server_id = server_cfg.key.id();
    let server = tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let eth = session::accept(s, &server_cfg).await.unwrap();
        session::spawn(eth, Arc::new(EmptyHistory), quick).0
    });
    let tcp = TcpStream::connect(addr).await.unwrap();
    let eth = session::dial(tcp, server_id, &client_cfg).await.unwrap();
    let (client, _task) = session::spawn(eth, Arc::new(EmptyHistory), quick);
    let server = server.await.unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(client.snapshot().ended, None);
    assert_eq!(server.snapshot().ended, None);
}

#[tokio::test]
async fn each_ending_leaves_one_clear_log_line() {
    let logs = histd::testkit::logs::logs();
    let ended_lines = |peer: String| -> Vec<String> {
        logs.text()
            .lines()
            .filter(|l| l.contains("session ended") && l.contains(&peer))
            .map(str::to_owned)
            .collect()
    };

    // Garbage: warn, naming the peer, the version, the message id and what failed.
    let (mut peer, handle, task) =
        raw_peer(&[EthVersion::Eth68], Arc::new(EmptyHistory), fast()).await;
    peer.p2p.send(0x04, b"\xf8\xff\x01").await.unwrap();
    assert!(task.await.unwrap().is_err());
    let lines = ended_lines(handle.peer_id().to_string());
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("WARN") && lines[0].contains("peer broke the protocol"),
        "{lines:?}"
    );
    assert!(lines[0].contains("eth/68 BlockHeaders (0x04)"), "{lines:?}");

    // Silence: info, naming the request (the session ends at the third timeout in a row).
    let (_peer, handle, task) =
        raw_peer(&[EthVersion::Eth69], Arc::new(EmptyHistory), fast()).await;
    for _ in 0..3 {
        let _ = handle.get_bodies(vec![B256::ZERO]).await;
    }
    assert!(task.await.unwrap().is_err());
    let lines = ended_lines(handle.peer_id().to_string());
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("INFO") && lines[0].contains("no answer to BlockBodies request"),
        "{lines:?}"
    );
}

#[tokio::test]
async fn corrupt_or_truncated_frames_end_the_session() {
    use tokio::io::AsyncWriteExt;
    // Junk where a frame header should be: the header MAC fails.
    let (mut peer, _handle, task) =
        raw_peer(&[EthVersion::Eth69], Arc::new(EmptyHistory), fast()).await;
    peer.raw_socket.write_all(&[0x42; 48]).await.unwrap();
    let end = task.await.unwrap().unwrap_err();
    assert!(
        matches!(
            end,
            EthStreamError::P2p(P2pError::Rlpx(rlpx::RlpxError::BadHeaderMac))
        ),
        "{end}"
    );
    assert!(end.is_protocol_breach());

    // Half a frame header, then the connection closes.
    let (mut peer, _handle, task) =
        raw_peer(&[EthVersion::Eth68], Arc::new(EmptyHistory), fast()).await;
    peer.raw_socket.write_all(&[0x42; 10]).await.unwrap();
    peer.raw_socket.shutdown().await.unwrap();
    drop(peer);
    let end = task.await.unwrap().unwrap_err();
    assert!(
        matches!(
            end,
            EthStreamError::P2p(P2pError::Rlpx(rlpx::RlpxError::TruncatedFrame {
                buffered: 10
            }))
        ),
        "{end}"
    );
    assert!(!end.is_protocol_breach());
}
