//! Temporary bans kept across restarts, so a peer banned for a breach can't come back by making
//! us restart (or by waiting for an operator to). Permanent bans (another chain) are not kept:
//! a wrong-chain peer is found out again by its first Status, at no cost.
//!
//! Owns the saved form ([`SavedBan`], expiry in unix seconds, since an `Instant` means nothing
//! to the next process) and its byte layout ([`encode`], [`decode`]). Where the bytes are kept
//! is the [`PeerCache`](super::PeerCache)'s business; which peers to ban is the service's.
//!
//! # Byte layout (version 1)
//! ```text
//! magic  "HPB1"                                4 bytes
//! count  u32 big-endian                        4 bytes
//! count × entry:
//!   target kind  0 = node id, 4 = IPv4, 6 = IPv6   1 byte
//!   target       64, 4 or 16 bytes
//!   reason       Misbehaviour code              1 byte
//!   until        u64 BE, unix seconds           8 bytes
//! ```
//! Anything else (an unknown kind or reason, trailing bytes) makes the whole value corrupt: it is
//! ignored (logged), never half-used.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::bans::Misbehaviour;
use super::cache::CacheError;
use crate::p2p::rlpx::PeerId;

const MAGIC: &[u8; 4] = b"HPB1";
/// The smallest entry (an IPv4 address).
const MIN_ENTRY: usize = 1 + 4 + 1 + 8;

/// What a saved ban is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BanTarget {
    /// One node id.
    Node(PeerId),
    /// Every connection from an address.
    Address(IpAddr),
}

/// A temporary ban as saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SavedBan {
    /// Who.
    pub target: BanTarget,
    /// Why.
    pub reason: Misbehaviour,
    /// When it ends (unix seconds).
    pub until: u64,
}

fn reason_code(r: Misbehaviour) -> u8 {
    match r {
        Misbehaviour::BadData => 1,
        Misbehaviour::Timeout => 2,
        Misbehaviour::ProtocolBreach => 3,
        Misbehaviour::WrongChain => 4,
        Misbehaviour::ForkMismatch => 5,
    }
}

fn reason_of(code: u8) -> Option<Misbehaviour> {
    Some(match code {
        1 => Misbehaviour::BadData,
        2 => Misbehaviour::Timeout,
        3 => Misbehaviour::ProtocolBreach,
        4 => Misbehaviour::WrongChain,
        5 => Misbehaviour::ForkMismatch,
        _ => return None,
    })
}

/// The bytes of `bans` (layout in the module doc).
pub fn encode(bans: &[SavedBan]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + bans.len() * 74);
    out.extend_from_slice(MAGIC);
    let count = u32::try_from(bans.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&count.to_be_bytes());
    for b in bans.iter().take(count as usize) {
        match b.target {
            BanTarget::Node(id) => {
                out.push(0);
                out.extend_from_slice(id.as_slice());
            }
            BanTarget::Address(IpAddr::V4(ip)) => {
                out.push(4);
                out.extend_from_slice(&ip.octets());
            }
            BanTarget::Address(IpAddr::V6(ip)) => {
                out.push(6);
                out.extend_from_slice(&ip.octets());
            }
        }
        out.push(reason_code(b.reason));
        out.extend_from_slice(&b.until.to_be_bytes());
    }
    out
}

/// Decodes bytes written by [`encode`].
pub fn decode(bytes: &[u8]) -> Result<Vec<SavedBan>, CacheError> {
    let mut pos = 0usize;
    let mut take = |n: usize, reason: &'static str| -> Result<&[u8], CacheError> {
        let end = pos
            .checked_add(n)
            .filter(|&e| e <= bytes.len())
            .ok_or(CacheError::Corrupt {
                offset: pos,
                reason,
            })?;
        let s = &bytes[pos..end];
        pos = end;
        Ok(s)
    };
    if take(4, "short magic")? != MAGIC {
        return Err(CacheError::Corrupt {
            offset: 0,
            reason: "unknown magic or version",
        });
    }
    let count = u32::from_be_bytes(take(4, "short count")?.try_into().unwrap_or_default());
    if (count as usize).saturating_mul(MIN_ENTRY) > bytes.len() {
        return Err(CacheError::Corrupt {
            offset: 4,
            reason: "count exceeds the data",
        });
    }
    let mut bans = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let kind_at = 8 + bans.len();
        let target = match take(1, "short target kind")?[0] {
            0 => BanTarget::Node(PeerId::from_slice(take(64, "short node id")?)),
            4 => {
                let o: [u8; 4] = take(4, "short IPv4")?.try_into().unwrap_or_default();
                BanTarget::Address(IpAddr::V4(Ipv4Addr::from(o)))
            }
            6 => {
                let o: [u8; 16] = take(16, "short IPv6")?.try_into().unwrap_or_default();
                BanTarget::Address(IpAddr::V6(Ipv6Addr::from(o)))
            }
            _ => {
                return Err(CacheError::Corrupt {
                    offset: kind_at,
                    reason: "target kind is neither 0, 4 nor 6",
                });
            }
        };
        let reason = reason_of(take(1, "short reason")?[0]).ok_or(CacheError::Corrupt {
            offset: 0,
            reason: "unknown ban reason",
        })?;
        let until = u64::from_be_bytes(take(8, "short expiry")?.try_into().unwrap_or_default());
        bans.push(SavedBan {
            target,
            reason,
            until,
        });
    }
    if pos != bytes.len() {
        return Err(CacheError::Corrupt {
            offset: pos,
            reason: "trailing bytes",
        });
    }
    Ok(bans)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<SavedBan> {
        vec![
            SavedBan {
                target: BanTarget::Node(PeerId::repeat_byte(7)),
                reason: Misbehaviour::BadData,
                until: 1_800_000_000,
            },
            SavedBan {
                target: BanTarget::Address("203.0.113.7".parse().unwrap()),
                reason: Misbehaviour::ProtocolBreach,
                until: 1_800_000_001,
            },
            SavedBan {
                target: BanTarget::Address("2001:db8::1".parse().unwrap()),
                reason: Misbehaviour::ForkMismatch,
                until: u64::MAX,
            },
        ]
    }

    #[test]
    fn round_trips() {
        assert_eq!(decode(&encode(&sample())).unwrap(), sample());
        assert_eq!(decode(&encode(&[])).unwrap(), vec![]);
    }

    #[test]
    fn every_truncation_and_junk_is_corrupt_not_half_used() {
        let bytes = encode(&sample());
        for len in 0..bytes.len() {
            assert!(decode(&bytes[..len]).is_err(), "truncated at {len}");
        }
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(decode(&trailing).is_err());
        let mut bad_reason = bytes.clone();
        bad_reason[8 + 1 + 64] = 99;
        assert!(decode(&bad_reason).is_err());
        let mut bad_kind = bytes;
        bad_kind[8] = 5;
        assert!(decode(&bad_kind).is_err());
    }
}
