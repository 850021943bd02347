//! Bans: who the pool refuses to talk to, for how long, and why. Temporary bans for protocol
//! breaches, data that fails verification and peers of our chain on an incompatible fork (one of
//! us is out of date, which an upgrade or their catching up ends); permanent bans (for this
//! process) for peers on another network or genesis. Protocol breaches and bad data also ban the
//! peer's address for the same time (node ids are free: a host must not come back under a new
//! one at once); wrong-chain and fork refusals never do, since other nodes may share the address.
//! Pure bookkeeping: it never disconnects anyone itself (the service does).

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::saved_bans::{BanTarget, SavedBan};
use crate::p2p::rlpx::PeerId;

/// Most bans kept. On mainnet discovery finds many nodes of other chains; forgetting one only
/// costs a dial that fails again.
pub const MAX_BANS: usize = 16_384;

/// What a peer did wrong, as reported by the sync layer or seen by the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Misbehaviour {
    /// Data that failed verification (wrong roots, broken links): temporary ban.
    BadData,
    /// A request not answered in time: counted as a failure and backed off, no ban.
    Timeout,
    /// Malformed or mismatched messages: temporary ban.
    ProtocolBreach,
    /// Another genesis or network: permanent ban.
    WrongChain,
    /// Same genesis and network, but EIP-2124 refuses the fork id: temporary ban, because one
    /// side is probably just out of date and may be upgraded while we run.
    ForkMismatch,
}

impl Misbehaviour {
    /// Whether it also bans the peer's address (temporarily): misbehaviour only a host can
    /// commit, not a difference of chain or version.
    pub fn bans_address(self) -> bool {
        matches!(self, Self::BadData | Self::ProtocolBreach)
    }

    /// The ban it earns, if any.
    pub fn ban(self) -> Option<BanKind> {
        match self {
            Self::BadData | Self::ProtocolBreach | Self::ForkMismatch => Some(BanKind::Temporary),
            Self::WrongChain => Some(BanKind::Permanent),
            Self::Timeout => None,
        }
    }

    /// Label for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadData => "bad_data",
            Self::Timeout => "timeout",
            Self::ProtocolBreach => "protocol_breach",
            Self::WrongChain => "wrong_chain",
            Self::ForkMismatch => "fork_mismatch",
        }
    }
}

impl fmt::Display for Misbehaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How long a ban lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BanKind {
    /// Until `PoolConfig::temp_ban` has passed.
    Temporary,
    /// Until the process exits.
    Permanent,
}

impl BanKind {
    /// Label for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Temporary => "temporary",
            Self::Permanent => "permanent",
        }
    }
}

/// One ban.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ban {
    /// Why.
    pub reason: Misbehaviour,
    /// How long.
    pub kind: BanKind,
    /// When a temporary ban ends.
    pub until: Option<Instant>,
}

/// The ban list.
#[derive(Debug, Default)]
pub struct Bans {
    bans: HashMap<PeerId, Ban>,
    /// Temporary bans of addresses (see the module doc), bounded like the id bans.
    addresses: HashMap<IpAddr, Ban>,
    /// Bumped on every change, so readers can cache [`Bans::list`].
    changes: u64,
}

impl Bans {
    /// Bans `peer` for `reason` if it earns a ban; returns the ban. A permanent ban is never
    /// shortened by a later temporary one.
    pub fn ban(
        &mut self,
        peer: PeerId,
        reason: Misbehaviour,
        now: Instant,
        temp: Duration,
    ) -> Option<Ban> {
        let kind = reason.ban()?;
        let ban = Ban {
            reason,
            kind,
            until: match kind {
                BanKind::Temporary => Some(now + temp),
                BanKind::Permanent => None,
            },
        };
        match self.bans.get(&peer) {
            Some(old) if old.kind == BanKind::Permanent => Some(*old),
            _ => {
                if self.bans.len() >= MAX_BANS && !self.bans.contains_key(&peer) {
                    self.evict_one();
                }
                self.bans.insert(peer, ban);
                self.changes += 1;
                Some(ban)
            }
        }
    }

    /// Bans `ip` for `temp` if `reason` [bans addresses](Misbehaviour::bans_address); returns the
    /// ban. An existing longer ban is kept.
    pub fn ban_address(
        &mut self,
        ip: IpAddr,
        reason: Misbehaviour,
        now: Instant,
        temp: Duration,
    ) -> Option<Ban> {
        if !reason.bans_address() {
            return None;
        }
        let until = now + temp;
        if let Some(old) = self.addresses.get(&ip).filter(|b| b.until >= Some(until)) {
            return Some(*old);
        }
        if self.addresses.len() >= MAX_BANS && !self.addresses.contains_key(&ip) {
            let first_to_end = self
                .addresses
                .iter()
                .min_by_key(|(_, b)| b.until)
                .map(|(ip, _)| *ip);
            if let Some(victim) = first_to_end {
                self.addresses.remove(&victim);
            }
        }
        let ban = Ban {
            reason,
            kind: BanKind::Temporary,
            until: Some(until),
        };
        self.addresses.insert(ip, ban);
        self.changes += 1;
        Some(ban)
    }

    /// The ban on address `ip` in force at `now`, if any.
    pub fn address(&self, ip: &IpAddr, now: Instant) -> Option<Ban> {
        self.addresses
            .get(ip)
            .filter(|b| b.until.is_none_or(|t| now < t))
            .copied()
    }

    /// Address bans in force.
    pub fn addresses(&self, now: Instant) -> Vec<(IpAddr, Ban)> {
        self.addresses
            .iter()
            .filter(|(_, b)| b.until.is_none_or(|t| now < t))
            .map(|(ip, b)| (*ip, *b))
            .collect()
    }

    /// The temporary bans in force (ids and addresses), with their expiry in unix seconds, to
    /// be kept across a restart (permanent ones are not: see [`saved_bans`](super::saved_bans)).
    pub fn saved(&self, now: Instant, now_unix: u64) -> Vec<SavedBan> {
        let until =
            |t: Instant| now_unix.saturating_add(t.saturating_duration_since(now).as_secs().max(1));
        let ids = self.bans.iter().filter_map(|(id, b)| {
            let t = b.until.filter(|t| now < *t)?;
            Some(SavedBan {
                target: BanTarget::Node(*id),
                reason: b.reason,
                until: until(t),
            })
        });
        let addresses = self.addresses.iter().filter_map(|(ip, b)| {
            let t = b.until.filter(|t| now < *t)?;
            Some(SavedBan {
                target: BanTarget::Address(*ip),
                reason: b.reason,
                until: until(t),
            })
        });
        ids.chain(addresses).collect()
    }

    /// Puts saved bans back, each for what is left of it but never longer than `longest` (a
    /// saved value from a clock gone wrong or a tampered file can't ban for ever). Expired ones
    /// are skipped; a ban in force is never shortened. Returns how many were restored.
    pub fn restore(
        &mut self,
        saved: &[SavedBan],
        now: Instant,
        now_unix: u64,
        longest: Duration,
    ) -> usize {
        let mut restored = 0;
        for s in saved {
            let left = Duration::from_secs(s.until.saturating_sub(now_unix)).min(longest);
            if left.is_zero() {
                continue;
            }
            let ban = Ban {
                reason: s.reason,
                kind: BanKind::Temporary,
                until: Some(now + left),
            };
            let kept = match s.target {
                BanTarget::Node(id) => restore_into(&mut self.bans, id, ban),
                BanTarget::Address(ip) => restore_into(&mut self.addresses, ip, ban),
            };
            restored += usize::from(kept);
        }
        if restored > 0 {
            self.changes += 1;
        }
        restored
    }

    /// Makes room: the temporary ban ending first, else any permanent one.
    fn evict_one(&mut self) {
        let victim = self
            .bans
            .iter()
            .filter_map(|(id, b)| b.until.map(|t| (t, *id)))
            .min()
            .map(|(_, id)| id)
            .or_else(|| self.bans.keys().next().copied());
        if let Some(id) = victim {
            self.bans.remove(&id);
        }
    }

    /// The ban on `peer` in force at `now`, if any.
    pub fn get(&self, peer: &PeerId, now: Instant) -> Option<Ban> {
        self.bans
            .get(peer)
            .filter(|b| b.until.is_none_or(|t| now < t))
            .copied()
    }

    /// Whether `peer` is banned at `now`.
    pub fn is_banned(&self, peer: &PeerId, now: Instant) -> bool {
        self.get(peer, now).is_some()
    }

    /// Forgets expired temporary bans.
    pub fn expire(&mut self, now: Instant) {
        let before = (self.bans.len(), self.addresses.len());
        self.bans.retain(|_, b| b.until.is_none_or(|t| now < t));
        self.addresses
            .retain(|_, b| b.until.is_none_or(|t| now < t));
        if (self.bans.len(), self.addresses.len()) != before {
            self.changes += 1;
        }
    }

    /// A counter that changes whenever a ban is added or expires.
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// Bans in force: `(temporary, permanent)`.
    pub fn counts(&self, now: Instant) -> (usize, usize) {
        let live = self
            .bans
            .values()
            .filter(|b| b.until.is_none_or(|t| now < t));
        live.fold((0, 0), |(t, p), b| match b.kind {
            BanKind::Temporary => (t + 1, p),
            BanKind::Permanent => (t, p + 1),
        })
    }

    /// Every ban in force.
    pub fn list(&self, now: Instant) -> Vec<(PeerId, Ban)> {
        self.bans
            .iter()
            .filter(|(_, b)| b.until.is_none_or(|t| now < t))
            .map(|(id, b)| (*id, *b))
            .collect()
    }
}

/// Puts `ban` on `key` unless a ban lasting at least as long is in force or the map is full.
fn restore_into<K: std::hash::Hash + Eq>(map: &mut HashMap<K, Ban>, key: K, ban: Ban) -> bool {
    let outlasts = |old: &Ban| old.until.is_none_or(|t| Some(t) >= ban.until);
    if map.get(&key).is_some_and(outlasts) || (map.len() >= MAX_BANS && !map.contains_key(&key)) {
        return false;
    }
    map.insert(key, ban);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_bans_expire_permanent_ones_stay() {
        let mut bans = Bans::default();
        let now = Instant::now();
        let t = Duration::from_secs(60);
        let (a, b, c) = (
            PeerId::repeat_byte(1),
            PeerId::repeat_byte(2),
            PeerId::repeat_byte(3),
        );
        assert!(bans.ban(a, Misbehaviour::BadData, now, t).is_some());
        assert!(bans.ban(b, Misbehaviour::WrongChain, now, t).is_some());
        assert!(bans.ban(c, Misbehaviour::Timeout, now, t).is_none());
        assert_eq!(Misbehaviour::ForkMismatch.ban(), Some(BanKind::Temporary));
        assert_eq!(Misbehaviour::ForkMismatch.as_str(), "fork_mismatch");
        // A later breach does not shorten the permanent ban.
        bans.ban(b, Misbehaviour::ProtocolBreach, now, t);
        assert_eq!(bans.counts(now), (1, 1));
        let later = now + Duration::from_secs(61);
        assert!(!bans.is_banned(&a, later));
        assert!(bans.is_banned(&b, later));
        assert!(!bans.is_banned(&c, now));
        bans.expire(later);
        assert_eq!(bans.list(later).len(), 1);
    }

    #[test]
    fn breaches_ban_the_address_for_a_while_chain_refusals_never_do() {
        let mut bans = Bans::default();
        let now = Instant::now();
        let t = Duration::from_secs(60);
        let (host, shared): (IpAddr, IpAddr) = (
            "203.0.113.7".parse().unwrap(),
            "198.51.100.1".parse().unwrap(),
        );
        assert!(
            bans.ban_address(shared, Misbehaviour::WrongChain, now, t)
                .is_none()
        );
        assert!(
            bans.ban_address(shared, Misbehaviour::ForkMismatch, now, t)
                .is_none()
        );
        assert!(
            bans.ban_address(shared, Misbehaviour::Timeout, now, t)
                .is_none()
        );
        let ban = bans
            .ban_address(host, Misbehaviour::ProtocolBreach, now, t)
            .unwrap();
        assert_eq!(ban.kind, BanKind::Temporary);
        assert!(bans.address(&host, now + Duration::from_secs(59)).is_some());
        assert!(bans.address(&shared, now).is_none());
        // A later, shorter ban does not cut the running one short.
        let early = bans
            .ban_address(host, Misbehaviour::BadData, now, Duration::from_secs(1))
            .unwrap();
        assert_eq!(early.until, Some(now + t));
        assert!(bans.address(&host, now + t).is_none());
        bans.expire(now + t);
        assert!(bans.addresses(now).is_empty());
    }

    #[test]
    fn temporary_bans_survive_a_restart_for_what_is_left_of_them() {
        let t = Duration::from_secs(1800);
        let now = Instant::now();
        let unix = 1_800_000_000;
        let mut bans = Bans::default();
        let (liar, other_chain) = (PeerId::repeat_byte(1), PeerId::repeat_byte(2));
        let host: IpAddr = "203.0.113.7".parse().unwrap();
        bans.ban(liar, Misbehaviour::BadData, now, t);
        bans.ban_address(host, Misbehaviour::BadData, now, t);
        bans.ban(other_chain, Misbehaviour::WrongChain, now, t);
        // Ten minutes in, the process stops.
        let saved = bans.saved(now + Duration::from_secs(600), unix + 600);
        assert_eq!(saved.len(), 2, "permanent bans are not kept: {saved:?}");
        assert!(saved.iter().all(|s| s.until == unix + 1800));

        // The next process starts a minute later: twenty minutes are left.
        let later = Instant::now();
        let mut next = Bans::default();
        assert_eq!(next.restore(&saved, later, unix + 660, t), 2);
        assert!(next.is_banned(&liar, later + Duration::from_secs(1139)));
        assert!(!next.is_banned(&liar, later + Duration::from_secs(1140)));
        assert!(next.address(&host, later).is_some());
        assert!(!next.is_banned(&other_chain, later));
        // Expired ones are skipped; an absurd expiry is capped.
        let mut fresh = Bans::default();
        assert_eq!(fresh.restore(&saved, later, unix + 1800, t), 0);
        let forever = [SavedBan {
            target: BanTarget::Node(liar),
            reason: Misbehaviour::ProtocolBreach,
            until: u64::MAX,
        }];
        fresh.restore(&forever, later, unix, t);
        assert!(!fresh.is_banned(&liar, later + t));
    }

    #[test]
    fn the_list_is_bounded() {
        let mut bans = Bans::default();
        let now = Instant::now();
        let t = Duration::from_secs(60);
        let mut id = [0u8; 64];
        for i in 0..MAX_BANS + 10 {
            id[..8].copy_from_slice(&(i as u64).to_be_bytes());
            bans.ban(PeerId::from(id), Misbehaviour::WrongChain, now, t);
        }
        let last = PeerId::from(id);
        bans.ban(last, Misbehaviour::BadData, now, t);
        assert_eq!(bans.list(now).len(), MAX_BANS);
        assert!(bans.is_banned(&last, now));
    }
}
