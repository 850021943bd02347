//! Session hardening over real loopback TCP: a peer that never reads is dropped within the write
//! deadline while request deadlines keep firing; one request timing out leaves the session up and
//! only several in a row end it; unsolicited and duplicate answers are breaches, late ones are
//! not. Base-protocol checks at the frame level: reserved ids refused without decompressing, eth's
//! size limit applied to the size snappy declares, a bounded Hello client id.

use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_primitives::B256;
use bytes::Bytes;
use histd::p2p::base::{DisconnectReason, MAX_CLIENT_ID_LEN, P2pError};
use histd::p2p::eth::limits::MAX_ETH_MESSAGE_SIZE;
use histd::p2p::eth::{BlockHashOrNumber, EthMessage, EthVersion, GetBlockHeaders, RequestPair};
use histd::p2p::rlpx::{self, RlpxStream};
use histd::p2p::session::{
    self, EmptyHistory, EthStreamError, HistoryProvider, RequestError, SessionConfig, SessionHandle,
};
use histd::primitives::{BlockNumber, Body, Header, Receipt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::session::{
    chain, config, fast, raw_peer, raw_peer_with_recv_buffer, spec, status_inputs,
};

/// Serves the same 64 headers for any header request, each with 32 KiB of pseudo-random extra
/// data: every answer is ~2 MiB that snappy cannot shrink, so a peer that does not read stalls
/// our writes after a few answers.
struct BigHeaders(Vec<Header>);

impl BigHeaders {
    fn new() -> Self {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let headers = (0..64u64)
            .map(|n| {
                let mut extra = vec![0u8; 32 * 1024];
                for chunk in extra.chunks_mut(8) {
                    // xorshift64: deterministic, incompressible enough for snappy.
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
                }
                Header {
                    number: n,
                    extra_data: extra.into(),
                    ..Header::default()
                }
            })
            .collect();
        Self(headers)
    }
}

impl HistoryProvider for BigHeaders {
    fn headers(&self, _: &GetBlockHeaders) -> Vec<Header> {
        self.0.clone()
    }
    fn bodies(&self, _: &[B256]) -> Vec<Body> {
        Vec::new()
    }
    fn receipts(&self, _: &[B256]) -> Vec<Vec<Receipt>> {
        Vec::new()
    }
}

fn headers_from(n: u64, limit: u64) -> GetBlockHeaders {
    GetBlockHeaders {
        start: BlockHashOrNumber::Number(BlockNumber(n)),
        limit,
        skip: 0,
        reverse: false,
    }
}

fn ask_one(handle: &SessionHandle) -> JoinHandle<Result<Vec<Header>, RequestError>> {
    let handle = handle.clone();
    tokio::spawn(async move { handle.get_headers(headers_from(1, 1)).await })
}

#[tokio::test]
async fn peer_that_never_reads_is_dropped_within_the_write_deadline() {
    let write_timeout = Duration::from_secs(4);
    let cfg = SessionConfig {
        request_timeout: Duration::from_secs(1),
        write_timeout,
        ..SessionConfig::default()
    };
    let (mut peer, handle, task) = raw_peer_with_recv_buffer(
        &[EthVersion::Eth69],
        Arc::new(BigHeaders::new()),
        cfg,
        Some(4096),
    )
    .await;
    // One request of ours reaches the peer while it still reads...
    let asker = ask_one(&handle);
    match peer.next_eth().await {
        EthMessage::GetBlockHeaders(_) => {}
        other => panic!("unexpected {other:?}"),
    }
    // ...then it only writes: requests for big answers, none of which it reads.
    let started = Instant::now();
    let flood = tokio::spawn(async move {
        for id in 0u64.. {
            let (mid, payload) =
                EthMessage::GetBlockHeaders(RequestPair::new(id, headers_from(0, 1024)))
                    .encode(peer.version)
                    .unwrap();
            if peer.p2p.send(mid, &payload).await.is_err() {
                break;
            }
        }
        peer
    });

    // Our request's deadline fires while an answer waits to be written: its caller gets Timeout
    // (not "session closed" seconds later), and one timeout does not end the session.
    let r = asker.await.unwrap();
    assert!(matches!(r, Err(RequestError::Timeout { .. })), "{r:?}");
    assert_eq!(handle.snapshot().ended, None);

    // Slack: producing the answers that fill the socket buffers, and the bounded attempt to send
    // Disconnect, take time of their own on a loaded machine; without a write deadline the
    // session would never end.
    let slack = Duration::from_secs(10);
    let end = tokio::time::timeout(write_timeout + slack + slack, task)
        .await
        .expect("a peer that never reads is dropped")
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(end, EthStreamError::P2p(P2pError::WriteTimeout { after }) if after == write_timeout),
        "{end}"
    );
    assert!(
        started.elapsed() < write_timeout + slack,
        "dropped after {:?}",
        started.elapsed()
    );
    assert_eq!(end.label(), "write_timeout");
    assert!(!end.is_protocol_breach());
    assert!(handle.closed().await.contains("did not read"));
    flood.abort();
}

#[tokio::test]
async fn a_timeout_fails_one_request_and_only_three_in_a_row_end_the_session() {
    let (mut peer, handle, task) =
        raw_peer(&[EthVersion::Eth69], Arc::new(EmptyHistory), fast()).await;
    let header = chain()[1].header().clone();

    // Request 0 times out; the session stays up.
    let asker = ask_one(&handle);
    let late = match peer.next_eth().await {
        EthMessage::GetBlockHeaders(r) => r,
        other => panic!("unexpected {other:?}"),
    };
    let r = asker.await.unwrap();
    assert!(matches!(r, Err(RequestError::Timeout { .. })), "{r:?}");
    assert_eq!(handle.snapshot().ended, None);
    // Its late answer is dropped quietly (slow is not hostile).
    peer.send(EthMessage::BlockHeaders(late.answer(vec![header.clone()])))
        .await;

    // Pattern: A = answered, T = timed out. A T T A T T T: the answers reset the count, so only
    // the last three in a row end the session.
    let pattern = ['A', 'T', 'T', 'A', 'T', 'T', 'T'];
    for (i, step) in pattern.into_iter().enumerate() {
        let asker = ask_one(&handle);
        let req = match peer.next_eth().await {
            EthMessage::GetBlockHeaders(r) => r,
            other => panic!("step {i}: unexpected {other:?}"),
        };
        if step == 'A' {
            peer.send(EthMessage::BlockHeaders(req.answer(vec![header.clone()])))
                .await;
            let got = asker.await.unwrap().expect("answered");
            assert_eq!(got, vec![header.clone()], "step {i}");
        } else {
            let r = asker.await.unwrap();
            assert!(
                matches!(r, Err(RequestError::Timeout { .. })),
                "step {i}: {r:?}"
            );
        }
        if i + 1 < pattern.len() {
            assert_eq!(handle.snapshot().ended, None, "step {i}");
        }
    }
    let end = task.await.unwrap().unwrap_err();
    assert!(
        matches!(end, EthStreamError::RequestTimeout { .. }),
        "{end}"
    );
    assert_eq!(end.label(), "request_timeouts");
    assert!(!end.is_protocol_breach());
    assert_eq!(
        peer.disconnect_reason().await,
        DisconnectReason::PingTimeout
    );
}

#[tokio::test]
async fn a_second_answer_to_one_request_is_a_breach() {
    let (mut peer, handle, task) =
        raw_peer(&[EthVersion::Eth69], Arc::new(EmptyHistory), fast()).await;
    let header = chain()[1].header().clone();
    let asker = ask_one(&handle);
    let req = match peer.next_eth().await {
        EthMessage::GetBlockHeaders(r) => r,
        other => panic!("unexpected {other:?}"),
    };
    peer.send(EthMessage::BlockHeaders(req.answer(vec![header.clone()])))
        .await;
    assert_eq!(asker.await.unwrap().unwrap(), vec![header.clone()]);
    peer.send(EthMessage::BlockHeaders(req.answer(vec![header])))
        .await;
    let end = task.await.unwrap().unwrap_err();
    assert!(
        matches!(end, EthStreamError::UnsolicitedResponse { request_id, .. } if request_id == req.request_id),
        "{end}"
    );
    assert!(end.is_protocol_breach());
    assert_eq!(
        peer.disconnect_reason().await,
        DisconnectReason::ProtocolBreach
    );
}

/// `rlp(id) || body`: one frame as the base protocol lays it out.
fn frame(id: u8, body: &[u8]) -> Bytes {
    let mut out = vec![if id == 0 { 0x80 } else { id }];
    out.extend_from_slice(body);
    out.into()
}

/// A peer below the base protocol: RLPx done by our code, Hello and Status written frame by frame
/// (snappy on, eth/69 at offset 0x10), so the test can send any message id and any bytes.
async fn frame_peer() -> (
    RlpxStream<TcpStream>,
    SessionHandle,
    JoinHandle<Result<(), EthStreamError>>,
) {
    let blocks = chain();
    let sp = spec(&blocks, &[1_000_000]);
    let server_cfg = config(
        status_inputs(sp.clone(), blocks.last().unwrap()),
        &EthVersion::ALL,
    );
    let client_cfg = config(status_inputs(sp, &blocks[0]), &[EthVersion::Eth69]);
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let server_id = server_cfg.key.id();
    let server = tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let eth = session::accept(s, &server_cfg).await.unwrap();
        session::spawn(eth, Arc::new(EmptyHistory), fast())
    });
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut r = rlpx::initiate(
        tcp,
        client_cfg.key.secret(),
        server_id,
        rlpx::DEFAULT_HANDSHAKE_TIMEOUT,
    )
    .await
    .unwrap();
    r.send(frame(0x00, &client_cfg.hello().encode()))
        .await
        .unwrap();
    let hello = r.recv().await.unwrap().unwrap();
    assert_eq!(hello[0], 0x80, "their Hello first");
    let version = EthVersion::Eth69;
    let (id, payload) = EthMessage::Status(client_cfg.status.status(version))
        .encode(version)
        .unwrap();
    let zipped = snap::raw::Encoder::new().compress_vec(&payload).unwrap();
    r.send(frame(0x10 + id, &zipped)).await.unwrap();
    let status = r.recv().await.unwrap().unwrap();
    assert_eq!(status[0], 0x10, "their Status next");
    let (handle, task) = server.await.unwrap();
    (r, handle, task)
}

#[tokio::test]
async fn reserved_base_ids_are_refused_without_decompressing() {
    for id in [0x04u8, 0x07, 0x0f] {
        let (mut r, _handle, task) = frame_peer().await;
        // Not valid snappy: decompressing first would report a snappy error instead.
        r.send(frame(id, b"\xff\xff\xff\xff\xff\xff"))
            .await
            .unwrap();
        let end = task.await.unwrap().unwrap_err();
        assert!(
            matches!(end, EthStreamError::P2p(P2pError::ReservedMessageId { id: got }) if got == u64::from(id)),
            "{id:#x}: {end}"
        );
        assert!(end.is_protocol_breach(), "{id:#x}");
    }
}

#[tokio::test]
async fn eth_messages_declaring_more_than_the_eth_limit_are_refused_before_decompressing() {
    let (mut r, _handle, task) = frame_peer().await;
    // A snappy preamble declaring 11 MiB (above eth's 10 MiB, below the connection's 16 MiB cap),
    // then a few junk bytes: refused on the declaration, nothing is allocated or decompressed.
    let declared = MAX_ETH_MESSAGE_SIZE + 1024 * 1024;
    let mut body = Vec::new();
    let mut n = declared;
    while n >= 0x80 {
        body.push((n as u8) | 0x80);
        n >>= 7;
    }
    body.push(n as u8);
    body.extend_from_slice(&[0u8; 16]);
    // GetBlockHeaders (eth 0x03) at offset 0x10.
    r.send(frame(0x13, &body)).await.unwrap();
    let end = task.await.unwrap().unwrap_err();
    assert!(
        matches!(
            end,
            EthStreamError::P2p(P2pError::MessageTooLarge { id: 0x13, size, max })
                if size == declared && max == MAX_ETH_MESSAGE_SIZE
        ),
        "{end}"
    );
    assert!(end.is_protocol_breach());
}

#[tokio::test]
async fn hello_client_id_is_bounded() {
    let blocks = chain();
    let sp = spec(&blocks, &[1_000_000]);
    for (len, accepted) in [(MAX_CLIENT_ID_LEN, true), (MAX_CLIENT_ID_LEN + 1, false)] {
        let server_cfg = config(status_inputs(sp.clone(), &blocks[3]), &EthVersion::ALL);
        let mut client_cfg = config(status_inputs(sp.clone(), &blocks[3]), &EthVersion::ALL);
        client_cfg.client_id = "x".repeat(len);
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let server_id = server_cfg.key.id();
        let server = tokio::spawn(async move {
            let (s, _) = l.accept().await.unwrap();
            session::accept(s, &server_cfg)
                .await
                .map(|eth| eth.client_id().len())
        });
        let tcp = TcpStream::connect(addr).await.unwrap();
        let client = session::dial(tcp, server_id, &client_cfg).await;
        let server = server.await.unwrap();
        if accepted {
            assert_eq!(server.unwrap(), len);
            assert!(client.is_ok());
        } else {
            let e = server.unwrap_err();
            assert!(
                matches!(e, EthStreamError::P2p(P2pError::BadHello(_))),
                "{e}"
            );
            assert!(e.is_protocol_breach());
            let c = client.unwrap_err();
            assert!(
                matches!(
                    c,
                    EthStreamError::P2p(P2pError::Disconnected {
                        reason: DisconnectReason::ProtocolBreach
                    })
                ),
                "{c}"
            );
        }
    }
}
