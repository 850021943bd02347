//! The peer cache: good peers saved in the data directory so a restart dials them first.
//!
//! Owns the [`PeerCache`] interface (narrow: load and save a list, and the saved bans of
//! [`saved_bans`](super::saved_bans)), its byte format ([`encode`],
//! [`decode`]) and the in-memory [`MemoryPeerCache`]. It must never decide which peers are good
//! (the service picks them) and never dial. It knows nothing of where the bytes are kept: the
//! node's wiring implements [`PeerCache`] over storage (`daemon::node::peer_cache`), since p2p
//! must not import storage.
//!
//! # Byte layout (version 2), stored as one value wherever the implementation keeps it
//! ```text
//! magic  "HPC2"                      4 bytes
//! count  u32 big-endian              4 bytes
//! count × entry:
//!   id         secp256k1 node id     64 bytes
//!   ip kind    4 or 6                 1 byte
//!   ip         IPv4 or IPv6           4 or 16 bytes
//!   tcp port   u16 BE                 2 bytes
//!   udp port   u16 BE                 2 bytes
//!   last seen  u64 BE, unix seconds   8 bytes
//!   successes  u32 BE                 4 bytes
//!   batch      u32 BE                 4 bytes   learned blocks per request (0: none yet)
//! ```
//! Version 1 (`HPC1`, written by earlier builds) is the same without `batch`; it is still read.
//! Trailing bytes or a short entry make the whole value corrupt: the cache is then ignored
//! (logged) and rewritten at the next save, never half-used.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};

use super::saved_bans::SavedBan;
use crate::p2p::discovery::NodeRecord;
use crate::p2p::rlpx::PeerId;

const MAGIC: &[u8; 4] = b"HPC2";
const MAGIC_V1: &[u8; 4] = b"HPC1";

/// One remembered peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachedPeer {
    /// Where and who.
    pub record: NodeRecord,
    /// When it was last connected (unix seconds).
    pub last_seen: u64,
    /// Answers it gave in its last session (a tie-breaker when dialing cached peers).
    pub successes: u32,
    /// The batch size (blocks per request) learned for it last time; 0 when none was.
    pub batch: u32,
}

/// Why the cache could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The store behind the cache could not be read (its own error: the pool does not know it).
    #[error("reading the peer cache: {0}")]
    Read(Box<dyn std::error::Error + Send + Sync>),
    /// The store behind the cache could not be written.
    #[error("writing the peer cache: {0}")]
    Write(Box<dyn std::error::Error + Send + Sync>),
    /// The stored bytes do not follow the layout.
    #[error("peer cache is corrupt at byte {offset}: {reason}")]
    Corrupt {
        /// Where decoding stopped.
        offset: usize,
        /// What was wrong.
        reason: &'static str,
    },
}

/// Where the pool keeps its peer cache.
pub trait PeerCache: Send + Sync + 'static {
    /// The peers last saved (empty when none were).
    fn load(&self) -> Result<Vec<CachedPeer>, CacheError>;
    /// Replaces the saved peers.
    fn save(&self, peers: &[CachedPeer]) -> Result<(), CacheError>;
    /// The temporary bans last saved (empty when none were, or the cache keeps none).
    fn load_bans(&self) -> Result<Vec<SavedBan>, CacheError> {
        Ok(Vec::new())
    }
    /// Replaces the saved bans (a cache that keeps none ignores them).
    fn save_bans(&self, bans: &[SavedBan]) -> Result<(), CacheError> {
        let _ = bans;
        Ok(())
    }
}

/// A cache in memory (unit tests; or no data directory).
#[derive(Debug, Default, Clone)]
pub struct MemoryPeerCache(Arc<Mutex<(Vec<CachedPeer>, Vec<SavedBan>)>>);

impl MemoryPeerCache {
    /// What was saved last.
    pub fn saved(&self) -> Vec<CachedPeer> {
        self.0.lock().map(|v| v.0.clone()).unwrap_or_default()
    }

    /// The bans saved last.
    pub fn saved_bans(&self) -> Vec<SavedBan> {
        self.0.lock().map(|v| v.1.clone()).unwrap_or_default()
    }
}

impl PeerCache for MemoryPeerCache {
    fn load(&self) -> Result<Vec<CachedPeer>, CacheError> {
        Ok(self.saved())
    }

    fn save(&self, peers: &[CachedPeer]) -> Result<(), CacheError> {
        if let Ok(mut v) = self.0.lock() {
            v.0 = peers.to_vec();
        }
        Ok(())
    }

    fn load_bans(&self) -> Result<Vec<SavedBan>, CacheError> {
        Ok(self.saved_bans())
    }

    fn save_bans(&self, bans: &[SavedBan]) -> Result<(), CacheError> {
        if let Ok(mut v) = self.0.lock() {
            v.1 = bans.to_vec();
        }
        Ok(())
    }
}

/// The bytes of `peers` (layout in the module doc).
pub fn encode(peers: &[CachedPeer]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + peers.len() * 101);
    out.extend_from_slice(MAGIC);
    let count = u32::try_from(peers.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&count.to_be_bytes());
    for p in peers.iter().take(count as usize) {
        out.extend_from_slice(p.record.id.as_slice());
        match p.record.ip {
            IpAddr::V4(ip) => {
                out.push(4);
                out.extend_from_slice(&ip.octets());
            }
            IpAddr::V6(ip) => {
                out.push(6);
                out.extend_from_slice(&ip.octets());
            }
        }
        out.extend_from_slice(&p.record.tcp_port.to_be_bytes());
        out.extend_from_slice(&p.record.udp_port.to_be_bytes());
        out.extend_from_slice(&p.last_seen.to_be_bytes());
        out.extend_from_slice(&p.successes.to_be_bytes());
        out.extend_from_slice(&p.batch.to_be_bytes());
    }
    out
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], CacheError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let Some(end) = end else {
            return Err(CacheError::Corrupt {
                offset: self.pos,
                reason: what,
            });
        };
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], CacheError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, what)?);
        Ok(a)
    }
}

/// Decodes bytes written by [`encode`].
pub fn decode(bytes: &[u8]) -> Result<Vec<CachedPeer>, CacheError> {
    let mut r = Reader { buf: bytes, pos: 0 };
    let v2 = match r.take(4, "short magic")? {
        m if m == MAGIC => true,
        m if m == MAGIC_V1 => false,
        _ => {
            return Err(CacheError::Corrupt {
                offset: 0,
                reason: "unknown magic or version",
            });
        }
    };
    let count = u32::from_be_bytes(r.array("short count")?);
    // Each entry is at least 85 bytes: a count larger than the data is corrupt, not an allocation.
    if (count as usize).saturating_mul(85) > bytes.len() {
        return Err(CacheError::Corrupt {
            offset: 4,
            reason: "count exceeds the data",
        });
    }
    let mut peers = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let id = PeerId::from_slice(r.take(64, "short node id")?);
        let ip = match r.array::<1>("short ip kind")?[0] {
            4 => IpAddr::V4(Ipv4Addr::from(r.array::<4>("short IPv4")?)),
            6 => IpAddr::V6(Ipv6Addr::from(r.array::<16>("short IPv6")?)),
            _ => {
                return Err(CacheError::Corrupt {
                    offset: r.pos - 1,
                    reason: "ip kind is neither 4 nor 6",
                });
            }
        };
        let tcp_port = u16::from_be_bytes(r.array("short tcp port")?);
        let udp_port = u16::from_be_bytes(r.array("short udp port")?);
        let last_seen = u64::from_be_bytes(r.array("short last seen")?);
        let successes = u32::from_be_bytes(r.array("short successes")?);
        let batch = if v2 {
            u32::from_be_bytes(r.array("short batch")?)
        } else {
            0
        };
        peers.push(CachedPeer {
            record: NodeRecord {
                id,
                ip,
                tcp_port,
                udp_port,
            },
            last_seen,
            successes,
            batch,
        });
    }
    if r.pos != bytes.len() {
        return Err(CacheError::Corrupt {
            offset: r.pos,
            reason: "trailing bytes",
        });
    }
    Ok(peers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(b: u8, ip: IpAddr) -> CachedPeer {
        CachedPeer {
            record: NodeRecord {
                id: PeerId::repeat_byte(b),
                ip,
                tcp_port: 30303,
                udp_port: 30301,
            },
            last_seen: 1_700_000_000 + u64::from(b),
            successes: u32::from(b) * 7,
            batch: u32::from(b) * 64,
        }
    }

    #[test]
    fn round_trips_v4_and_v6() {
        let peers = vec![
            peer(1, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))),
            peer(2, IpAddr::V6(Ipv6Addr::LOCALHOST)),
        ];
        let bytes = encode(&peers);
        assert_eq!(&bytes[..4], b"HPC2");
        assert_eq!(decode(&bytes).unwrap(), peers);
        assert_eq!(decode(&encode(&[])).unwrap(), vec![]);
    }

    #[test]
    fn version_1_bytes_still_load_without_a_batch() {
        let p = peer(3, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3)));
        let mut v1 = encode(&[p]);
        v1[..4].copy_from_slice(b"HPC1");
        v1.truncate(v1.len() - 4);
        assert_eq!(decode(&v1).unwrap(), vec![CachedPeer { batch: 0, ..p }]);
    }

    #[test]
    fn corrupt_bytes_are_named_errors() {
        let bytes = encode(&[peer(1, IpAddr::V4(Ipv4Addr::LOCALHOST))]);
        for cut in 0..bytes.len() {
            assert!(
                matches!(decode(&bytes[..cut]), Err(CacheError::Corrupt { .. })),
                "{cut}"
            );
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(matches!(
            decode(&extra),
            Err(CacheError::Corrupt {
                reason: "trailing bytes",
                ..
            })
        ));
        let mut huge = bytes.clone();
        huge[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(decode(&huge).is_err());
        let mut kind = bytes;
        kind[72] = 5;
        assert!(decode(&kind).is_err());
    }
}
