//! Header chains and peer answers for the unit tests of the probe and the ancestor search.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use alloy_primitives::B256;

use super::probe::Answer;
use crate::p2p::rlpx::PeerId;
use crate::primitives::Header;
use crate::verify::SealedHeader;

/// `len` linked headers from genesis: the first `shared` taken from `base`, the rest this chain's
/// own (`salt` makes them differ from any other chain's).
pub fn chain(len: u64, shared: u64, salt: u64, base: &[SealedHeader]) -> Vec<SealedHeader> {
    let mut out: Vec<SealedHeader> = base.iter().take(shared as usize).cloned().collect();
    for n in out.len() as u64..len {
        let parent = out.last().map_or(B256::ZERO, |h| h.hash);
        out.push(SealedHeader::seal(Header {
            number: n,
            parent_hash: parent,
            gas_limit: salt,
            ..Header::default()
        }));
    }
    out
}

/// Our hashes of `c`'s blocks `lo ..= hi`.
pub fn known(c: &[SealedHeader], lo: u64, hi: u64) -> BTreeMap<u64, B256> {
    (lo..=hi).map(|n| (n, c[n as usize].hash)).collect()
}

/// Peer `i` (on its own network) answering `c`'s headers `lo ..= hi`.
pub fn answer(i: u8, c: &[SealedHeader], lo: u64, hi: u64) -> Answer {
    Answer {
        peer: PeerId::repeat_byte(i),
        network: IpAddr::V4(Ipv4Addr::new(127, 0, i, 0)),
        headers: c[lo as usize..=hi as usize].to_vec(),
    }
}
