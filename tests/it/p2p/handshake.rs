//! RLPx + Hello over real loopback TCP: our initiator against our responder, the EIP-8 vectors'
//! auths against our responder and their acks against our initiator, and hostile peers (bad MACs,
//! truncated frames, oversized lengths, silence). Each failure must be a typed error, never a panic
//! or a big allocation.

use std::time::Duration;

use alloy_primitives::hex;
use bytes::Bytes;
use histd::p2p::base::{Capability, DisconnectReason, Hello, P2pError, P2pStream};
use histd::p2p::rlpx::{self, RlpxError, RlpxStream, auth, id_of};
use secp256k1::SecretKey;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const T: Duration = Duration::from_secs(5);

fn key() -> SecretKey {
    SecretKey::new(&mut secp256k1::rand::rng())
}

fn hello(sk: &SecretKey, versions: &[u64]) -> Hello {
    Hello {
        protocol_version: 5,
        client_id: "histd-test".into(),
        capabilities: versions.iter().map(|v| Capability::eth(*v)).collect(),
        listen_port: 0,
        id: id_of(sk),
    }
}

async fn listener() -> (TcpListener, std::net::SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    (l, a)
}

/// Connects an initiator and a responder over TCP; returns both RLPx streams.
async fn pair() -> (RlpxStream<TcpStream>, RlpxStream<TcpStream>) {
    let (l, addr) = listener().await;
    let (ki, kr) = (key(), key());
    let rid = id_of(&kr);
    let server = tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        rlpx::accept(s, &kr, T).await.unwrap()
    });
    let c = TcpStream::connect(addr).await.unwrap();
    let client = rlpx::initiate(c, &ki, rid, T).await.unwrap();
    (client, server.await.unwrap())
}

#[tokio::test]
async fn handshake_and_frames_both_ways() {
    let (mut c, mut s) = pair().await;
    c.send(Bytes::from_static(b"\x10hello")).await.unwrap();
    s.send(Bytes::from(vec![0x11; 70_000])).await.unwrap();
    assert_eq!(&s.recv().await.unwrap().unwrap()[..], b"\x10hello");
    assert_eq!(c.recv().await.unwrap().unwrap().len(), 70_000);
}

async fn p2p_pair(
    a: &[u64],
    b: &[u64],
) -> (
    Result<P2pStream<TcpStream>, P2pError>,
    Result<P2pStream<TcpStream>, P2pError>,
) {
    let (l, addr) = listener().await;
    let (ki, kr) = (key(), key());
    let (rid, hr, hi) = (id_of(&kr), hello(&kr, b), hello(&ki, a));
    let server = tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let r = rlpx::accept(s, &kr, T).await.unwrap();
        P2pStream::handshake(r, hr, T).await
    });
    let c = TcpStream::connect(addr).await.unwrap();
    let r = rlpx::initiate(c, &ki, rid, T).await.unwrap();
    let client = P2pStream::handshake(r, hi, T).await;
    (client, server.await.unwrap())
}

#[tokio::test]
async fn hello_negotiates_highest_common_version_and_answers_ping() {
    let (c, s) = p2p_pair(&[68, 69], &[69, 68]).await;
    let (mut c, mut s) = (c.unwrap(), s.unwrap());
    assert_eq!(c.capability(), &Capability::eth(69));
    assert_eq!(s.capability(), &Capability::eth(69));
    assert_eq!(s.their_hello().client_id, "histd-test");
    // Ping is answered inside recv; the message after it is delivered.
    c.ping().await.unwrap();
    c.send(3, b"\xc0").await.unwrap();
    let m = s.recv().await.unwrap();
    assert_eq!((m.id, &m.payload[..]), (3, &b"\xc0"[..]));
    s.send(4, b"\xc1\x80").await.unwrap();
    assert_eq!(c.recv().await.unwrap().id, 4);
    s.disconnect(DisconnectReason::ClientQuitting).await;
    assert!(matches!(
        c.recv().await,
        Err(P2pError::Disconnected {
            reason: DisconnectReason::ClientQuitting
        })
    ));

    let (c, s) = p2p_pair(&[68, 69], &[68]).await;
    assert_eq!(c.unwrap().capability(), &Capability::eth(68));
    assert_eq!(s.unwrap().capability(), &Capability::eth(68));
}

#[tokio::test]
async fn no_shared_capability_disconnects_useless_peer() {
    let (c, s) = p2p_pair(&[69], &[68]).await;
    let s = s.unwrap_err();
    assert!(matches!(s, P2pError::NoSharedCapability { .. }), "{s}");
    // The client also fails, either by its own negotiation or by the server's Disconnect.
    assert!(c.is_err());
}

#[tokio::test]
async fn legacy_pre_eip8_auth_is_accepted_over_tcp() {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(vectors_path()).unwrap()).unwrap();
    let hs = &v["rlpx_handshake"];
    let hex_of = |s: &serde_json::Value| hex::decode(s.as_str().unwrap()).unwrap();
    let sk =
        |n: &str| SecretKey::from_secret_bytes(hex_of(&hs["keys"][n]).try_into().unwrap()).unwrap();
    let (key_a, key_b) = (sk("Static Key A"), sk("Static Key B"));
    let (l, addr) = listener().await;
    let server = tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        rlpx::accept(s, &key_b, T).await.map(|r| r.remote_id())
    });
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(&hex_of(&hs["auth1_v4"]["packet"]))
        .await
        .unwrap();
    // The answer to a legacy auth is a legacy ack, decryptable with A's key.
    let mut ack = vec![0u8; auth::LEGACY_ACK_LEN];
    c.read_exact(&mut ack).await.unwrap();
    let body = auth::open_packet(&key_a, &ack, auth::WireForm::Legacy).unwrap();
    auth::decode_ack(&body, auth::WireForm::Legacy).unwrap();
    assert_eq!(server.await.unwrap().unwrap(), id_of(&key_a));

    // EIP-8 auth with extra elements and version 56.
    let (l, addr) = listener().await;
    let server = tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        rlpx::accept(s, &key_b, T).await.map(|r| r.remote_id())
    });
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(&hex_of(&hs["auth3_eip8_v56"]["packet"]))
        .await
        .unwrap();
    let mut prefix = [0u8; 2];
    c.read_exact(&mut prefix).await.unwrap();
    assert_eq!(server.await.unwrap().unwrap(), id_of(&key_a));
}

/// Our initiator (as node A, with A's static key) against a scripted node B that answers with the
/// vectors' ack packets: B's ephemeral key and nonce, pre-EIP-8, EIP-8 and EIP-8 with extra elements
/// and version 57. Every form must complete our handshake; B then derives the recipient secrets
/// from the auth we actually sent (its ephemeral key recovered, its nonce read) and its vector
/// keys, and frames must pass both ways: our initiator's secrets are the ones B derives.
#[tokio::test]
async fn vector_acks_complete_our_initiator_handshake() {
    use futures::{SinkExt, StreamExt};
    use tokio_util::codec::Framed;

    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(vectors_path()).unwrap()).unwrap();
    let hs = &v["rlpx_handshake"];
    let hex_of = |s: &serde_json::Value| hex::decode(s.as_str().unwrap()).unwrap();
    let sk =
        |n: &str| SecretKey::from_secret_bytes(hex_of(&hs["keys"][n]).try_into().unwrap()).unwrap();
    let (key_a, key_b, eph_b) = (
        sk("Static Key A"),
        sk("Static Key B"),
        sk("Ephemeral Key B"),
    );
    let nonce_b = alloy_primitives::B256::from_slice(&hex_of(&hs["keys"]["Nonce B"]));
    for name in ["ack1_v4", "ack2_eip8", "ack3_eip8_v57"] {
        let ack_packet = hex_of(&hs[name]["packet"]);
        let (l, addr) = listener().await;
        let node_b = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            // Our auth is always EIP-8: size prefix, then that many bytes.
            let mut auth_packet = vec![0u8; 2];
            s.read_exact(&mut auth_packet).await.unwrap();
            let size = usize::from(u16::from_be_bytes([auth_packet[0], auth_packet[1]]));
            auth_packet.resize(2 + size, 0);
            s.read_exact(&mut auth_packet[2..]).await.unwrap();
            let body = auth::open_packet(&key_b, &auth_packet, auth::WireForm::Eip8).unwrap();
            let msg = auth::decode_auth(&body, auth::WireForm::Eip8).unwrap();
            assert_eq!(msg.initiator_id, id_of(&key_a));
            s.write_all(&ack_packet).await.unwrap();
            let secrets = auth::derive_secrets(auth::SecretInputs {
                role: auth::Role::Recipient,
                our_ephemeral: &eph_b,
                remote_ephemeral: &auth::recover_initiator_ephemeral(&key_b, &msg).unwrap(),
                our_nonce: &nonce_b,
                remote_nonce: &msg.nonce,
                auth_packet: &auth_packet,
                ack_packet: &ack_packet,
            });
            let mut framed = Framed::new(s, rlpx::FrameCodec::new(secrets));
            let got = framed.next().await.unwrap().unwrap();
            framed
                .send(Bytes::from_static(b"\x11from-b"))
                .await
                .unwrap();
            got
        });
        let c = TcpStream::connect(addr).await.unwrap();
        let mut a = rlpx::initiate(c, &key_a, id_of(&key_b), T)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(a.remote_id(), id_of(&key_b), "{name}");
        a.send(Bytes::from_static(b"\x10from-a")).await.unwrap();
        assert_eq!(
            &a.recv().await.unwrap().unwrap()[..],
            b"\x11from-b",
            "{name}"
        );
        assert_eq!(&node_b.await.unwrap()[..], b"\x10from-a", "{name}");
    }
}

fn vectors_path() -> std::path::PathBuf {
    histd::testkit::devp2p_vectors_path()
}

/// Accepts one connection and returns what the responder's handshake says.
async fn respond_once(l: TcpListener, limit: Duration) -> Result<RlpxStream<TcpStream>, RlpxError> {
    let (s, _) = l.accept().await.unwrap();
    rlpx::accept(s, &key(), limit).await
}

#[tokio::test]
async fn hostile_handshakes_fail_cleanly() {
    // Silence: the responder gives up after its timeout.
    let (l, addr) = listener().await;
    let server = tokio::spawn(respond_once(l, Duration::from_millis(200)));
    let _c = TcpStream::connect(addr).await.unwrap();
    assert!(matches!(
        server.await.unwrap(),
        Err(RlpxError::HandshakeTimeout { .. })
    ));

    // A size prefix of 65535: refused before reading (or allocating) it.
    let (l, addr) = listener().await;
    let server = tokio::spawn(respond_once(l, T));
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(&[0xff, 0xff, 1, 2, 3]).await.unwrap();
    assert!(matches!(
        server.await.unwrap(),
        Err(RlpxError::HandshakeTooLarge { size: 65535, .. })
    ));

    // Garbage of a plausible size: the ECIES MAC fails.
    let (l, addr) = listener().await;
    let server = tokio::spawn(respond_once(l, T));
    let mut c = TcpStream::connect(addr).await.unwrap();
    let mut junk = vec![0x01, 0x80];
    junk.extend(std::iter::repeat_n(0x42, 0x180));
    c.write_all(&junk).await.unwrap();
    let e = server.await.unwrap().unwrap_err();
    assert!(e.is_protocol_breach(), "{e}");

    // Truncated auth: the peer closes mid-message.
    let (l, addr) = listener().await;
    let server = tokio::spawn(respond_once(l, T));
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(&[0x01, 0x80, 4, 4, 4]).await.unwrap();
    drop(c);
    assert!(matches!(server.await.unwrap(), Err(RlpxError::Io(_))));

    // A responder that never answers: our initiator times out.
    let (l, addr) = listener().await;
    let hold = tokio::spawn(async move { l.accept().await });
    let c = TcpStream::connect(addr).await.unwrap();
    let r = rlpx::initiate(c, &key(), id_of(&key()), Duration::from_millis(200)).await;
    assert!(matches!(r, Err(RlpxError::HandshakeTimeout { .. })));
    drop(hold);
}

/// Writes raw bytes on the socket under an established RLPx stream.
#[tokio::test]
async fn hostile_frames_fail_cleanly() {
    // Bad header MAC: raw junk where a frame should be.
    let (l, addr) = listener().await;
    let (ki, kr) = (key(), key());
    let rid = id_of(&kr);
    let server = tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let mut r = rlpx::accept(s, &kr, T).await.unwrap();
        r.recv().await
    });
    let mut c = TcpStream::connect(addr).await.unwrap();
    let tapped = Tap(&mut c);
    let _ = rlpx::initiate(tapped, &ki, rid, T).await.unwrap();
    c.write_all(&[0x55; 48]).await.unwrap();
    assert!(matches!(
        server.await.unwrap(),
        Some(Err(RlpxError::BadHeaderMac))
    ));

    // Truncated frame: a valid header then EOF mid-body.
    let (l, addr) = listener().await;
    let (ki, kr) = (key(), key());
    let rid = id_of(&kr);
    let server = tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let mut r = rlpx::accept(s, &kr, T).await.unwrap();
        r.recv().await
    });
    let c = TcpStream::connect(addr).await.unwrap();
    let mut cut = Cut {
        inner: c,
        left: usize::MAX,
    };
    let mut r = rlpx::initiate(&mut cut, &ki, rid, T).await.unwrap();
    r.get_mut().left = 40;
    let _ = r.send(Bytes::from(vec![0x10; 1000])).await;
    drop(r);
    drop(cut);
    assert!(matches!(
        server.await.unwrap(),
        Some(Err(RlpxError::TruncatedFrame { .. }))
    ));

    // Oversized: a responder with a 1 KiB frame limit refuses a 4 KiB frame at the header.
    let (l, addr) = listener().await;
    let (ki, kr) = (key(), key());
    let rid = id_of(&kr);
    let server = tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let mut r = rlpx::accept(s, &kr, T).await.unwrap();
        r.set_max_frame(1024);
        r.recv().await
    });
    let c = TcpStream::connect(addr).await.unwrap();
    let mut r = rlpx::initiate(c, &ki, rid, T).await.unwrap();
    r.send(Bytes::from(vec![0x10; 4096])).await.unwrap();
    assert!(matches!(
        server.await.unwrap(),
        Some(Err(RlpxError::FrameTooLarge {
            size: 4096,
            max: 1024
        }))
    ));
}

#[tokio::test]
async fn hostile_base_messages_fail_cleanly() {
    // The peer speaks raw RLPx under us, so it can send what P2pStream never would.
    async fn run(after_hello: Vec<Bytes>) -> P2pError {
        let (l, addr) = listener().await;
        let (ki, kr) = (key(), key());
        let (rid, hr) = (id_of(&kr), hello(&kr, &[68, 69]));
        let server = tokio::spawn(async move {
            let (s, _) = l.accept().await.unwrap();
            let r = rlpx::accept(s, &kr, T).await.unwrap();
            let mut p = P2pStream::handshake(r, hr, T).await?;
            loop {
                p.recv().await?;
            }
        });
        let c = TcpStream::connect(addr).await.unwrap();
        let mut r = rlpx::initiate(c, &ki, rid, T).await.unwrap();
        let mut h = vec![0x80];
        h.extend(hello(&ki, &[69]).encode());
        r.send(h.into()).await.unwrap();
        for f in after_hello {
            r.send(f).await.unwrap();
        }
        let res: Result<(), P2pError> = server.await.unwrap();
        res.unwrap_err()
    }
    // Snappy header claiming 1 GiB: refused before allocation.
    let e = run(vec![Bytes::from_static(&[
        0x10, 0x80, 0x80, 0x80, 0x80, 0x04, 0x00,
    ])])
    .await;
    assert!(
        matches!(
            e,
            P2pError::MessageTooLarge {
                size: 1073741824,
                ..
            }
        ),
        "{e}"
    );
    // Not snappy at all.
    let e = run(vec![Bytes::from_static(&[0x13, 0xff, 0xff, 0xff])]).await;
    assert!(matches!(e, P2pError::Snappy { .. }), "{e}");
    // Id outside eth/69's range.
    let e = run(vec![Bytes::from_static(&[0x30, 0x00])]).await;
    assert!(matches!(e, P2pError::UnknownMessageId { id: 0x30 }), "{e}");
    // Malformed id.
    let e = run(vec![Bytes::from_static(&[0xb8, 0x00])]).await;
    assert!(matches!(e, P2pError::BadMessageId), "{e}");
    // Disconnect as a bare integer, uncompressed.
    let e = run(vec![Bytes::from_static(&[0x01, 0x04])]).await;
    assert!(
        matches!(
            e,
            P2pError::Disconnected {
                reason: DisconnectReason::TooManyPeers
            }
        ),
        "{e}"
    );
    // Disconnect as a list, snappy-compressed.
    let comp = snap::raw::Encoder::new()
        .compress_vec(&[0xc1, 0x08])
        .unwrap();
    let mut f = vec![0x01];
    f.extend(comp);
    let e = run(vec![f.into()]).await;
    assert!(
        matches!(
            e,
            P2pError::Disconnected {
                reason: DisconnectReason::ClientQuitting
            }
        ),
        "{e}"
    );
    // Hello with a node id other than the handshake's.
    let (l, addr) = listener().await;
    let (ki, kr) = (key(), key());
    let (rid, hr) = (id_of(&kr), hello(&kr, &[68]));
    let server = tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let r = rlpx::accept(s, &kr, T).await.unwrap();
        P2pStream::handshake(r, hr, T).await.map(|_| ())
    });
    let c = TcpStream::connect(addr).await.unwrap();
    let mut r = rlpx::initiate(c, &ki, rid, T).await.unwrap();
    let mut h = vec![0x80];
    h.extend(hello(&key(), &[68]).encode());
    r.send(h.into()).await.unwrap();
    assert!(matches!(
        server.await.unwrap(),
        Err(P2pError::UnexpectedIdentity { .. })
    ));
    // And the server told us why.
    let _hello = r.recv().await.unwrap().unwrap();
    let disc = r.recv().await.unwrap().unwrap();
    assert_eq!(&disc[..], &[0x01, 0xc1, 0x09]);
}

/// A transparent `&mut TcpStream` adapter (lets the test keep writing raw bytes afterwards).
struct Tap<'a>(&'a mut TcpStream);

impl tokio::io::AsyncRead for Tap<'_> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Tap<'_> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut *self.0).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut *self.0).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut *self.0).poll_shutdown(cx)
    }
}

/// A TCP stream that silently stops writing after `left` more bytes (a peer dying mid-frame).
struct Cut {
    inner: TcpStream,
    left: usize,
}

impl tokio::io::AsyncRead for Cut {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Cut {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let n = buf.len().min(self.left);
        if n == 0 {
            // Pretend everything went out.
            return std::task::Poll::Ready(Ok(buf.len()));
        }
        let r = std::pin::Pin::new(&mut self.inner).poll_write(cx, &buf[..n]);
        if let std::task::Poll::Ready(Ok(w)) = r {
            self.left -= w;
        }
        r
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[tokio::test]
async fn dialling_ourselves_is_refused() {
    let (l, addr) = listener().await;
    let k = key();
    let (k2, h) = (k, hello(&k, &[68]));
    let h2 = h.clone();
    let server = tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let r = rlpx::accept(s, &k2, T).await.unwrap();
        P2pStream::handshake(r, h2, T).await.map(|_| ())
    });
    let c = TcpStream::connect(addr).await.unwrap();
    let r = rlpx::initiate(c, &k, id_of(&k), T).await.unwrap();
    let client = P2pStream::handshake(r, h, T).await.map(|_| ());
    assert!(matches!(
        server.await.unwrap(),
        Err(P2pError::ConnectedToSelf)
    ));
    assert!(client.is_err());
}
