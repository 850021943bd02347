//! [`P2pStream`]: an RLPx stream after the Hello exchange. Owns message ids, snappy (p2p v5),
//! Disconnect and Ping/Pong; hands sub-protocol messages up with ids relative to the negotiated
//! capability. It must never interpret sub-protocol payloads.

use std::time::Duration;

use alloy_rlp::{Decodable, Encodable};
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite};

use super::disconnect::DisconnectReason;
use super::error::P2pError;
use super::hello::{Capability, Hello, SharedCapability, negotiate};
use crate::p2p::rlpx::{MAX_FRAME_SIZE, PeerId, RlpxStream};

const HELLO: u64 = 0x00;
const DISCONNECT: u64 = 0x01;
const PING: u64 = 0x02;
const PONG: u64 = 0x03;
/// `rlp([])`, the body of Ping and Pong.
const EMPTY_LIST: &[u8] = &[0xc0];

/// Default limit for the Hello exchange.
pub const DEFAULT_HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// Default limit for writing one message. A peer that stops reading fills its receive window and
/// our send buffer, and the write then waits forever; this bounds it. 20 s moves a 2 MiB answer
/// (the soft response limit) at ~100 KiB/s, far below any peer worth keeping.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(20);
/// Largest decompressed Ping/Pong/Disconnect body we accept (they are a few bytes).
const MAX_BASE_MESSAGE_SIZE: usize = 1024;
/// Largest decompressed message of any sub-protocol we accept on the connection (same as the
/// frame cap). Each sub-protocol may be stricter: eth's is `MAX_ETH_MESSAGE_SIZE` (10 MiB).
pub const MAX_RLPX_MESSAGE_SIZE: usize = MAX_FRAME_SIZE;

/// One sub-protocol message; `id` is relative to the capability's offset (eth Status = 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubMessage {
    /// Relative message id.
    pub id: u8,
    /// Payload, decompressed.
    pub payload: Bytes,
    /// Bytes of the frame's data as read (message id plus the payload as sent, snappy-compressed
    /// when snappy is on), before RLPx padding and MACs: what the message cost on the wire.
    pub frame_len: usize,
}

/// A [`SubMessage`] whose payload is borrowed from the receive buffer, for
/// [`P2pStream::recv_with`]: it lives only as long as the call that decodes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubMessageRef<'a> {
    /// Relative message id.
    pub id: u8,
    /// Payload, decompressed.
    pub payload: &'a [u8],
    /// Bytes of the frame's data as read (message id plus the payload as sent, snappy-compressed
    /// when snappy is on), before RLPx padding and MACs: what the message cost on the wire.
    pub frame_len: usize,
}

/// A connection that has exchanged Hello and shares exactly one capability we use (`eth`).
#[derive(Debug)]
pub struct P2pStream<S> {
    rlpx: RlpxStream<S>,
    shared: SharedCapability,
    their_hello: Hello,
    snappy: bool,
    /// A Ping arrived and its Pong is not sent yet (survives a cancelled `recv`).
    pong_due: bool,
    /// When the last frame of any kind arrived (keep-alive bookkeeping).
    last_activity: std::time::Instant,
    /// Limit for writing one message ([`P2pError::WriteTimeout`] past it).
    write_timeout: Duration,
    /// Largest sub-protocol message (decompressed) accepted; checked before decompressing.
    max_message: usize,
}

impl SubMessageRef<'_> {
    /// The message with a copy of its payload.
    pub fn to_owned(&self) -> SubMessage {
        SubMessage {
            id: self.id,
            payload: Bytes::copy_from_slice(self.payload),
            frame_len: self.frame_len,
        }
    }
}

fn frame(id: u64, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + 1);
    let mut v = Vec::with_capacity(2);
    id.encode(&mut v);
    out.extend_from_slice(&v);
    out.extend_from_slice(payload);
    out.freeze()
}

fn split_id(frame: &[u8]) -> Result<(u64, &[u8]), P2pError> {
    let mut buf = frame;
    let id = u64::decode(&mut buf).map_err(|_| P2pError::BadMessageId)?;
    Ok((id, buf))
}

thread_local! {
    // Where snappy decompresses a message, reused across messages: a fresh ~2 MiB `Vec` per
    // answer was an mmap whose pages all faulted in, then a munmap (perf: a quarter of histd's
    // page faults). Per thread, not per session: a message is decompressed and decoded within
    // one poll on one thread (`recv_with`), so the runtime's few worker threads hold one buffer
    // each whatever the number of peers (one per session would be 50 × 4 MiB at the default
    // `max_peers`).
    static RECV_BUF: std::cell::RefCell<RecvBuf> = const {
        std::cell::RefCell::new(RecvBuf { buf: Vec::new(), small_run: 0 })
    };
}

/// A thread's receive buffer and how long it has gone without a large message.
#[derive(Debug, Default)]
struct RecvBuf {
    buf: Vec<u8>,
    /// Messages under [`RECV_BUFFER_SMALL`] in a row.
    small_run: u32,
}

/// Largest receive buffer a thread keeps between messages. Bulk answers are about the 2 MiB soft
/// response limit plus the item that crossed it, so 4 MiB keeps the buffer of a syncing node; a
/// bigger message (eth allows 10 MiB) gets a buffer of its own, dropped with the next message.
const RECV_BUFFER_KEPT: usize = 4 * 1024 * 1024;
/// A message under this size is small (below glibc's mmap threshold: its buffer comes from the
/// heap). [`RECV_BUFFER_RELEASE`] small messages in a row release a larger buffer: once the node
/// stops receiving bulk answers the memory goes back instead of staying at the size of the
/// largest answer ever received, while the transaction gossip and Pings between a syncing
/// node's answers do not make it allocate again for every answer.
const RECV_BUFFER_SMALL: usize = 128 * 1024;
/// See [`RECV_BUFFER_SMALL`].
const RECV_BUFFER_RELEASE: u32 = 64;

/// Makes `buf` hold at least `size` bytes and returns the first `size` of them (contents
/// unspecified: the caller overwrites them). The buffer is reused across messages so that a
/// ~2 MiB answer does not cost a fresh allocation (an mmap and its page faults) each time; see
/// [`RECV_BUFFER_KEPT`] and [`RECV_BUFFER_SMALL`] for how much of it is kept.
fn reuse(recv: &mut RecvBuf, size: usize) -> &mut [u8] {
    recv.small_run = if size < RECV_BUFFER_SMALL {
        recv.small_run.saturating_add(1)
    } else {
        0
    };
    let buf = &mut recv.buf;
    if buf.capacity() > RECV_BUFFER_KEPT
        || (recv.small_run >= RECV_BUFFER_RELEASE && buf.capacity() > RECV_BUFFER_SMALL)
    {
        *buf = Vec::new();
    }
    // Bytes past `size` from an earlier, larger message stay as they are: only a growth is
    // zero-filled, never a reuse.
    if buf.len() < size {
        buf.resize(size, 0);
    }
    &mut buf[..size]
}

/// Decompresses one message body of at most `max` bytes into `out` (reused, see [`reuse`]) and
/// returns its size. Both sizes are checked before a byte is allocated: the compressed size
/// against the largest snappy form of `max` bytes, and the size the snappy preamble declares
/// against `max`.
fn decompress(id: u64, data: &[u8], max: usize, out: &mut RecvBuf) -> Result<usize, P2pError> {
    let _cpu = crate::stage_cpu::Stage::Rlpx.timer();
    let snappy_err = |e: snap::Error| P2pError::Snappy {
        id,
        reason: e.to_string(),
    };
    if data.len() > snap::raw::max_compress_len(max) {
        return Err(P2pError::CompressedTooLarge {
            id,
            size: data.len(),
            max: snap::raw::max_compress_len(max),
        });
    }
    let size = snap::raw::decompress_len(data).map_err(snappy_err)?;
    if size > max {
        return Err(P2pError::MessageTooLarge { id, size, max });
    }
    snap::raw::Decoder::new()
        .decompress(data, reuse(out, size))
        .map_err(snappy_err)
}

/// A Disconnect's reason from a body that may or may not be snappy-compressed (rare: a fresh
/// buffer is fine).
fn unzipped_reason(id: u64, body: &[u8]) -> Option<DisconnectReason> {
    let mut out = RecvBuf::default();
    let n = decompress(id, body, MAX_BASE_MESSAGE_SIZE, &mut out).ok()?;
    DisconnectReason::decode(&out.buf[..n])
}

impl<S: AsyncRead + AsyncWrite + Unpin> P2pStream<S> {
    /// Sends our Hello, waits for theirs, checks identity and negotiates the eth version. On
    /// failure the peer gets a Disconnect with the matching reason (best effort).
    pub async fn handshake(
        mut rlpx: RlpxStream<S>,
        ours: Hello,
        limit: Duration,
    ) -> Result<Self, P2pError> {
        let result = tokio::time::timeout(limit, Self::exchange(&mut rlpx, &ours))
            .await
            .unwrap_or(Err(P2pError::HelloTimeout {
                secs: limit.as_secs(),
            }));
        match result {
            Ok((their_hello, shared)) => Ok(Self {
                snappy: their_hello.protocol_version >= 5 && ours.protocol_version >= 5,
                rlpx,
                shared,
                their_hello,
                pong_due: false,
                last_activity: std::time::Instant::now(),
                write_timeout: DEFAULT_WRITE_TIMEOUT,
                max_message: MAX_RLPX_MESSAGE_SIZE,
            }),
            Err(e) => {
                if let Some(reason) = e.disconnect_reason() {
                    // Hello isn't done, so no snappy yet.
                    send_disconnect_raw(&mut rlpx, reason, false).await;
                }
                Err(e)
            }
        }
    }

    async fn exchange(
        rlpx: &mut RlpxStream<S>,
        ours: &Hello,
    ) -> Result<(Hello, SharedCapability), P2pError> {
        rlpx.send(frame(HELLO, &ours.encode())).await?;
        let raw = match rlpx.recv().await {
            None => return Err(P2pError::Closed),
            Some(r) => r?,
        };
        let (id, body) = split_id(&raw)?;
        match id {
            HELLO => {}
            DISCONNECT => {
                let reason = DisconnectReason::decode(body)
                    .or_else(|| unzipped_reason(id, body))
                    .unwrap_or(DisconnectReason::Unknown(0xff));
                return Err(P2pError::Disconnected { reason });
            }
            id => return Err(P2pError::ExpectedHello { id }),
        }
        let theirs = Hello::decode(body)?;
        if theirs.id != rlpx.remote_id() {
            return Err(P2pError::UnexpectedIdentity {
                claimed: Box::new(theirs.id),
                proven: Box::new(rlpx.remote_id()),
            });
        }
        if theirs.id == ours.id {
            return Err(P2pError::ConnectedToSelf);
        }
        if theirs.protocol_version < 4 {
            return Err(P2pError::IncompatibleVersion {
                version: theirs.protocol_version,
            });
        }
        let shared = negotiate(&ours.capabilities, &theirs.capabilities)
            .into_iter()
            .find(|s| s.capability.name == "eth")
            .ok_or_else(|| P2pError::NoSharedCapability {
                ours: ours.capabilities.clone(),
                theirs: theirs.capabilities.clone(),
            })?;
        Ok((theirs, shared))
    }

    /// The negotiated capability (eth and its version) and its id range.
    pub fn shared_capability(&self) -> &SharedCapability {
        &self.shared
    }

    /// The negotiated eth capability.
    pub fn capability(&self) -> &Capability {
        &self.shared.capability
    }

    /// The peer's Hello.
    pub fn their_hello(&self) -> &Hello {
        &self.their_hello
    }

    /// When the last frame (of any kind, Pong included) arrived.
    pub fn last_activity(&self) -> std::time::Instant {
        self.last_activity
    }

    /// The peer's node id.
    pub fn remote_id(&self) -> PeerId {
        self.rlpx.remote_id()
    }

    /// Sets the limit for writing one message (default [`DEFAULT_WRITE_TIMEOUT`]).
    pub fn set_write_timeout(&mut self, limit: Duration) {
        self.write_timeout = limit;
    }

    /// Lowers the largest sub-protocol message accepted (decompressed size; default and ceiling
    /// [`MAX_RLPX_MESSAGE_SIZE`]). A bigger message is refused before it is decompressed.
    pub fn set_max_message_size(&mut self, max: usize) {
        self.max_message = max.min(MAX_RLPX_MESSAGE_SIZE);
    }

    /// Sends one message; returns its frame data size (id plus the payload as sent).
    async fn send_base(&mut self, id: u64, payload: &[u8]) -> Result<usize, P2pError> {
        let body = if self.snappy {
            snap::raw::Encoder::new()
                .compress_vec(payload)
                .map_err(|e| P2pError::Snappy {
                    id,
                    reason: e.to_string(),
                })?
        } else {
            payload.to_vec()
        };
        // A write that times out may leave part of the frame unsent: the stream is unusable
        // afterwards, and the caller ends the session.
        let after = self.write_timeout;
        let frame = frame(id, &body);
        let len = frame.len();
        tokio::time::timeout(after, self.rlpx.send(frame))
            .await
            .map_err(|_| P2pError::WriteTimeout { after })??;
        Ok(len)
    }

    async fn flush_pong(&mut self) -> Result<(), P2pError> {
        if self.pong_due {
            self.send_base(PONG, EMPTY_LIST).await?;
            self.pong_due = false;
        }
        Ok(())
    }

    /// Sends a sub-protocol message (`id` relative to the capability offset); returns its frame
    /// data size (id plus the payload as sent, snappy-compressed when snappy is on).
    pub async fn send(&mut self, id: u8, payload: &[u8]) -> Result<usize, P2pError> {
        self.flush_pong().await?;
        if id >= self.shared.count {
            return Err(P2pError::UnknownMessageId { id: u64::from(id) });
        }
        self.send_base(u64::from(self.shared.offset + id), payload)
            .await
    }

    /// Sends a Ping (keep-alive); the Pong is consumed by [`recv`](Self::recv).
    pub async fn ping(&mut self) -> Result<(), P2pError> {
        self.send_base(PING, EMPTY_LIST).await.map(drop)
    }

    /// Receives the next sub-protocol message. Ping is answered and Pong consumed here; Disconnect
    /// becomes [`P2pError::Disconnected`]. Cancel-safe: an interrupted Pong is sent on the next call.
    pub async fn recv(&mut self) -> Result<SubMessage, P2pError> {
        self.recv_with(|m| m.to_owned()).await
    }

    /// [`recv`](Self::recv) without copying the payload: `decode` gets the message borrowed from
    /// this thread's receive buffer and returns what is kept of it (the eth codec copies into
    /// owned values). Cancel-safe like `recv`: `decode` runs only once a whole message is in.
    pub async fn recv_with<T>(
        &mut self,
        decode: impl FnOnce(SubMessageRef<'_>) -> T,
    ) -> Result<T, P2pError> {
        loop {
            match self.flush_pong().await {
                Ok(()) => {}
                // The peer stopped reading: that is the news, not what it sent before.
                Err(e @ P2pError::WriteTimeout { .. }) => return Err(e),
                Err(_) => {
                    // The write side is gone; frames already received (a Disconnect, typically)
                    // say more about why than the broken pipe does, so keep reading.
                    self.pong_due = false;
                }
            }
            let raw = match self.rlpx.recv().await {
                None => return Err(P2pError::Closed),
                Some(r) => r?,
            };
            self.last_activity = std::time::Instant::now();
            let (id, body) = split_id(&raw)?;
            if id == DISCONNECT {
                // Some clients send it uncompressed even with snappy on; accept both.
                let unzipped = || unzipped_reason(id, body);
                let raw = || DisconnectReason::decode(body);
                let reason = if self.snappy {
                    unzipped().or_else(raw)
                } else {
                    raw().or_else(unzipped)
                }
                .ok_or(P2pError::BadBaseMessage { id })?;
                return Err(P2pError::Disconnected { reason });
            }
            // The id decides what may follow before anything is decompressed: a second Hello, a
            // reserved or unknown id is refused as it stands.
            let offset = u64::from(self.shared.offset);
            let max = match id {
                HELLO => return Err(P2pError::BadBaseMessage { id }),
                PING | PONG => MAX_BASE_MESSAGE_SIZE,
                // Reserved for future base-protocol messages; nobody defines them today.
                0x04..=0x0f => return Err(P2pError::ReservedMessageId { id }),
                id if id >= offset && id < offset + u64::from(self.shared.count) => {
                    self.max_message
                }
                id => return Err(P2pError::UnknownMessageId { id }),
            };
            if !self.snappy && body.len() > max {
                return Err(P2pError::MessageTooLarge {
                    id,
                    size: body.len(),
                    max,
                });
            }
            if id == PING || id == PONG {
                // Their bodies are not looked at: the size checks are all (and that snappy
                // takes them).
                if self.snappy {
                    RECV_BUF.with_borrow_mut(|buf| decompress(id, body, max, buf))?;
                }
                self.pong_due |= id == PING;
                continue;
            }
            let message = SubMessageRef {
                id: (id - offset) as u8,
                payload: body,
                frame_len: raw.len(),
            };
            if !self.snappy {
                return Ok(decode(message));
            }
            return RECV_BUF.with_borrow_mut(|recv| {
                let len = decompress(id, body, max, recv)?;
                Ok(decode(SubMessageRef {
                    payload: &recv.buf[..len],
                    ..message
                }))
            });
        }
    }

    /// Sends Disconnect with `reason` (best effort, bounded by a short timeout) and closes.
    pub async fn disconnect(mut self, reason: DisconnectReason) {
        let snappy = self.snappy;
        send_disconnect_raw(&mut self.rlpx, reason, snappy).await;
    }
}

async fn send_disconnect_raw<S: AsyncRead + AsyncWrite + Unpin>(
    rlpx: &mut RlpxStream<S>,
    reason: DisconnectReason,
    snappy: bool,
) {
    let body = reason.encode();
    let body = if snappy {
        snap::raw::Encoder::new()
            .compress_vec(&body)
            .unwrap_or(body)
    } else {
        body
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = rlpx.send(frame(DISCONNECT, &body)).await;
        let _ = rlpx.close().await;
        // Linger: read until the peer closes. Closing a socket with unread bytes makes the kernel
        // send RST, which discards our Disconnect before the peer reads it (rlpx.md wants the
        // reason delivered; seen with @ethereumjs/devp2p pinging right after Status).
        while let Some(Ok(_)) = rlpx.recv().await {}
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_checked_before_decompressing() {
        let max = 1000;
        let mut out = RecvBuf::default();
        let fits = snap::raw::Encoder::new()
            .compress_vec(&[7u8; 1000])
            .unwrap();
        let n = decompress(0x10, &fits, max, &mut out).unwrap();
        assert_eq!(&out.buf[..n], &[7u8; 1000][..]);
        // Declared one byte too many: refused on the preamble alone.
        let over = snap::raw::Encoder::new()
            .compress_vec(&[7u8; 1001])
            .unwrap();
        assert!(matches!(
            decompress(0x10, &over, max, &mut out),
            Err(P2pError::MessageTooLarge {
                size: 1001,
                max: 1000,
                ..
            })
        ));
        // More compressed bytes than any 1000-byte message can take, whatever they declare.
        let mut long = fits.clone();
        long.resize(snap::raw::max_compress_len(max) + 1, 0);
        assert!(matches!(
            decompress(0x10, &long, max, &mut out),
            Err(P2pError::CompressedTooLarge { .. })
        ));
    }

    #[test]
    fn the_receive_buffer_is_reused_and_released() {
        let mut recv = RecvBuf::default();
        let big = 2 * 1024 * 1024;
        let first = reuse(&mut recv, big).as_ptr();
        // A second answer of the same size or a bit smaller lands in the same allocation, and
        // so does one after a few small messages (gossip, a Ping) in between.
        assert_eq!(reuse(&mut recv, big - 100).as_ptr(), first);
        for _ in 1..RECV_BUFFER_RELEASE {
            assert_eq!(reuse(&mut recv, 3).len(), 3);
        }
        assert_eq!(reuse(&mut recv, big).as_ptr(), first);
        // A long run of small messages (the node stopped receiving bulk answers) gives the
        // large buffer back.
        for _ in 0..RECV_BUFFER_RELEASE {
            assert_eq!(reuse(&mut recv, 3).len(), 3);
        }
        assert!(recv.buf.capacity() <= RECV_BUFFER_SMALL);
        // One message over the kept size gets its buffer, dropped with the next message.
        let huge = RECV_BUFFER_KEPT + 1;
        assert_eq!(reuse(&mut recv, huge).len(), huge);
        assert_eq!(reuse(&mut recv, big).len(), big);
        assert!(recv.buf.capacity() <= RECV_BUFFER_KEPT);
    }

    #[test]
    fn decompressed_messages_overwrite_the_reused_buffer() {
        let mut out = RecvBuf::default();
        for (fill, len) in [(1u8, 300_000), (2, 200_000), (3, 300_000), (4, 10)] {
            let data = snap::raw::Encoder::new()
                .compress_vec(&vec![fill; len])
                .unwrap();
            let n = decompress(0x10, &data, 1 << 20, &mut out).unwrap();
            assert_eq!(n, len);
            assert!(out.buf[..n].iter().all(|&b| b == fill));
        }
    }
}
