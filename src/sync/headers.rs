//! Header windows and the linker: how fetched headers become trusted, top-down from an anchor.
//!
//! Owns [`check_window`] (one peer's answer to a reverse `GetBlockHeaders`: the numbers asked,
//! each header the parent of the one above) and [`Linker`], which holds the planned items of the
//! [scheduler](super::scheduler) in order and releases headers only when the window above them is
//! linked: the top header of a window must hash to what the header above it (or the anchor, or a
//! stored header) names as its parent. So every released header is authenticated by hash back to
//! an anchor. Block 1's parent must be the chain's genesis; checkpoints below the anchor must be
//! on the chain. Windows may arrive in any order; a short answer is a prefix and the rest becomes
//! a window of its own. It must never fetch, store or penalise (it says who sent what; the caller
//! acts).

use std::collections::VecDeque;

use alloy_primitives::B256;

use super::scheduler::Item;
use crate::p2p::rlpx::PeerId;
use crate::primitives::{BlockNumber, Header};
use crate::verify::{SealedHeader, VerifyError};

/// Checks one answer to `GetBlockHeaders { start: top, limit: count, reverse: true }`: a prefix of
/// `top, top-1, ...`, each header's parent hash the hash of the next one. Returns the headers
/// sealed (possibly fewer than asked, possibly none).
pub fn check_window(
    top: BlockNumber,
    count: u64,
    headers: Vec<Header>,
) -> Result<Vec<SealedHeader>, VerifyError> {
    let _cpu = crate::stage_cpu::Stage::Verify.timer();
    if headers.len() as u64 > count {
        return Err(VerifyError::NotConsecutive {
            expected: BlockNumber(top.get().saturating_sub(count)),
            got: BlockNumber(headers.last().map_or(0, |h| h.number)),
        });
    }
    let sealed: Vec<SealedHeader> = headers.into_iter().map(SealedHeader::seal).collect();
    let mut expected = top;
    for (i, h) in sealed.iter().enumerate() {
        if h.number() != expected {
            return Err(VerifyError::NotConsecutive {
                expected,
                got: h.number(),
            });
        }
        if let Some(below) = sealed.get(i + 1)
            && h.header.parent_hash != below.hash
        {
            return Err(VerifyError::ParentLink {
                number: h.number(),
                expected: below.hash,
                got: h.header.parent_hash,
            });
        }
        expected = match expected.prev() {
            Some(p) => p,
            None => break,
        };
    }
    Ok(sealed)
}

/// A planned item as the linker holds it.
#[derive(Debug)]
enum Slot {
    Anchor {
        number: BlockNumber,
        hash: B256,
    },
    Window {
        top: BlockNumber,
        count: u64,
        /// A request for it is out.
        in_flight: bool,
        /// The peer whose answer for it failed last (asked last, if possible).
        avoid: Option<PeerId>,
        got: Option<(Vec<SealedHeader>, PeerId)>,
    },
    /// Stored blocks `bottom ..= top`: `top_hash` is the stored hash of `top`, `below` the stored
    /// parent hash of `bottom`.
    Stored {
        top: BlockNumber,
        bottom: BlockNumber,
        top_hash: B256,
        below: B256,
    },
    LinkBelow {
        hash: B256,
    },
}

/// A window to request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowRequest {
    /// Highest block.
    pub top: BlockNumber,
    /// Headers.
    pub count: u64,
    /// Ask another peer than this one, if one can serve it.
    pub avoid: Option<PeerId>,
}

/// What went wrong while linking.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// A peer's window does not link to the trusted header above it: drop it, penalise the peer,
    /// ask another (the caller does; the window is already open again).
    #[error("headers from {peer}: {error}")]
    Peer {
        peer: PeerId,
        error: Box<VerifyError>,
    },
    /// The trusted chain itself is inconsistent: what is stored, the genesis, a checkpoint or the
    /// previous anchor disagree with the anchored headers. Syncing on would store a wrong chain.
    #[error("{0}")]
    Fatal(String),
}

/// Holds planned items in order and releases linked headers (see the module doc).
#[derive(Debug)]
pub struct Linker {
    slots: VecDeque<Slot>,
    /// The block the next header down must be, and the hash it must have.
    expect: Option<(BlockNumber, B256)>,
    genesis: B256,
    checkpoints: Vec<(BlockNumber, B256)>,
}

impl Linker {
    /// An empty linker for the chain with `genesis`; `checkpoints` are `(number, hash)` pairs the
    /// anchored chain must contain.
    pub fn new(genesis: B256, checkpoints: Vec<(BlockNumber, B256)>) -> Self {
        Self {
            slots: VecDeque::new(),
            expect: None,
            genesis,
            checkpoints,
        }
    }

    /// Appends a planned item; `Stored` needs the stored hashes (`top_hash`, `below`) read by
    /// the caller.
    pub fn push(&mut self, item: Item, stored: Option<(B256, B256)>) {
        let slot = match item {
            Item::Anchor { number, hash } => Slot::Anchor { number, hash },
            Item::Fetch { top, count } => Slot::Window {
                top,
                count,
                in_flight: false,
                avoid: None,
                got: None,
            },
            Item::Stored { top, bottom } => {
                let (top_hash, below) = stored.unwrap_or_default();
                Slot::Stored {
                    top,
                    bottom,
                    top_hash,
                    below,
                }
            }
            Item::LinkBelow { hash } => Slot::LinkBelow { hash },
        };
        self.slots.push_back(slot);
    }

    /// Nothing held.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Headers planned or fetched but not yet released (for the memory bound).
    pub fn headers_held(&self) -> u64 {
        self.slots
            .iter()
            .map(|s| match s {
                Slot::Window { count, .. } => *count,
                _ => 0,
            })
            .sum()
    }

    /// Windows waiting for a request, top-most first, marking them in flight (at most `n`).
    pub fn take_requests(&mut self, n: usize) -> Vec<WindowRequest> {
        let mut out = Vec::new();
        for slot in &mut self.slots {
            if out.len() >= n {
                break;
            }
            if let Slot::Window {
                top,
                count,
                in_flight,
                avoid,
                got: None,
            } = slot
                && !*in_flight
            {
                *in_flight = true;
                out.push(WindowRequest {
                    top: *top,
                    count: *count,
                    avoid: *avoid,
                });
            }
        }
        out
    }

    fn window_mut(&mut self, top: BlockNumber) -> Option<(usize, &mut Slot)> {
        self.slots
            .iter_mut()
            .enumerate()
            .find(|(_, s)| matches!(s, Slot::Window { top: t, .. } if *t == top))
    }

    /// The window at `top` was claimed but no peer could take it: open it again as it was.
    pub fn unclaim(&mut self, top: BlockNumber) {
        if let Some((_, Slot::Window { in_flight, .. })) = self.window_mut(top) {
            *in_flight = false;
        }
    }

    /// The request for the window at `top` failed or came back empty: open it again, to be asked
    /// of another peer than `peer`.
    pub fn failed(&mut self, top: BlockNumber, peer: PeerId) {
        if let Some((
            _,
            Slot::Window {
                in_flight, avoid, ..
            },
        )) = self.window_mut(top)
        {
            *in_flight = false;
            *avoid = Some(peer);
        }
    }

    /// `peer` answered the window at `top` with `headers` (already [`check_window`]ed, maybe
    /// fewer than asked): a short answer keeps its prefix, the rest becomes a new window.
    pub fn fill(&mut self, top: BlockNumber, peer: PeerId, headers: Vec<SealedHeader>) {
        if headers.is_empty() {
            self.failed(top, peer);
            return;
        }
        let got = headers.len() as u64;
        let Some((i, slot)) = self.window_mut(top) else {
            return;
        };
        let Slot::Window {
            count,
            in_flight,
            got: g,
            ..
        } = slot
        else {
            return;
        };
        let rest = count.saturating_sub(got);
        *count = got.min(*count);
        *in_flight = false;
        *g = Some((headers, peer));
        if rest > 0 {
            self.slots.insert(
                i + 1,
                Slot::Window {
                    top: BlockNumber(top.get() - got),
                    count: rest,
                    in_flight: false,
                    avoid: None,
                    got: None,
                },
            );
        }
    }

    /// Links what can be linked at the front, appending released headers (descending) to `out`.
    /// On [`LinkError::Peer`] the offending window is open again; call again after acting on it.
    pub fn advance(&mut self, out: &mut Vec<SealedHeader>) -> Result<(), LinkError> {
        while let Some(front) = self.slots.front_mut() {
            match front {
                Slot::Anchor { number, hash } => {
                    self.expect = Some((*number, *hash));
                }
                Slot::LinkBelow { hash } => {
                    let hash = *hash;
                    if let Some((n, want)) = self.expect
                        && want != hash
                    {
                        return Err(LinkError::Fatal(format!(
                            "the new anchor's chain names {want} as block {n}, the previous anchor is {hash}: it does not link down to what was anchored before"
                        )));
                    }
                }
                Slot::Stored {
                    top,
                    bottom,
                    top_hash,
                    below,
                } => {
                    if let Some((n, want)) = self.expect
                        && (n != *top || want != *top_hash)
                    {
                        return Err(LinkError::Fatal(format!(
                            "stored block {top} has hash {top_hash}, but the anchored chain names {want} for block {n}: the data directory holds another chain (run `histd db repair` or use another data directory)"
                        )));
                    }
                    if *bottom == BlockNumber(1) && *below != self.genesis {
                        return Err(LinkError::Fatal(format!(
                            "stored block 1 names parent {below}, the chain's genesis is {}",
                            self.genesis
                        )));
                    }
                    self.expect = bottom.prev().map(|p| (p, *below));
                }
                Slot::Window {
                    top,
                    in_flight,
                    avoid,
                    got,
                    ..
                } => {
                    let Some((headers, peer)) = got.as_ref() else {
                        return Ok(());
                    };
                    let (top, peer, first) = (*top, *peer, headers[0].hash);
                    if let Some((n, want)) = self.expect
                        && (n != top || first != want)
                    {
                        *in_flight = false;
                        *avoid = Some(peer);
                        *got = None;
                        return Err(LinkError::Peer {
                            peer,
                            error: Box::new(VerifyError::HeaderHash {
                                number: top,
                                expected: want,
                                got: first,
                            }),
                        });
                    }
                    let Some(Slot::Window {
                        got: Some((headers, _)),
                        ..
                    }) = self.slots.pop_front()
                    else {
                        return Ok(());
                    };
                    self.release(headers, out)?;
                    continue;
                }
            }
            self.slots.pop_front();
        }
        Ok(())
    }

    /// Trusted headers (linked at the top): checks genesis and checkpoints, moves `expect` down.
    fn release(
        &mut self,
        headers: Vec<SealedHeader>,
        out: &mut Vec<SealedHeader>,
    ) -> Result<(), LinkError> {
        for h in &headers {
            let n = h.number();
            if n == BlockNumber(1) && h.header.parent_hash != self.genesis {
                return Err(LinkError::Fatal(format!(
                    "the anchored chain's block 1 names parent {}, the chain's genesis is {}: the anchor is not on this chain",
                    h.header.parent_hash, self.genesis
                )));
            }
            if n == BlockNumber::ZERO && h.hash != self.genesis {
                return Err(LinkError::Fatal(format!(
                    "the anchored chain's block 0 is {}, the chain's genesis is {}",
                    h.hash, self.genesis
                )));
            }
            if let Some((_, want)) = self.checkpoints.iter().find(|(c, _)| *c == n)
                && *want != h.hash
            {
                return Err(LinkError::Fatal(format!(
                    "the anchored chain has {} at block {n}, the checkpoint says {want}",
                    h.hash
                )));
            }
        }
        if let Some(last) = headers.last() {
            self.expect = last.number().prev().map(|p| (p, last.header.parent_hash));
        }
        out.extend(headers);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chain of `len` linked headers from a fake genesis (block 0).
    fn chain(len: u64, salt: u64) -> Vec<SealedHeader> {
        let mut out: Vec<SealedHeader> = Vec::new();
        for n in 0..len {
            let header = Header {
                number: n,
                parent_hash: out.last().map_or(B256::ZERO, |p| p.hash),
                gas_limit: salt,
                ..Header::default()
            };
            out.push(SealedHeader::seal(header));
        }
        out
    }

    fn window(c: &[SealedHeader], top: u64, count: u64) -> Vec<Header> {
        (0..count)
            .map(|i| c[(top - i) as usize].header.clone())
            .collect()
    }

    fn peer(b: u8) -> PeerId {
        PeerId::repeat_byte(b)
    }

    #[test]
    fn windows_check_numbers_and_links() {
        let c = chain(20, 1);
        let ok = check_window(BlockNumber(10), 5, window(&c, 10, 5)).expect("linked");
        assert_eq!(ok.len(), 5);
        assert_eq!(ok[0].hash, c[10].hash);
        // A prefix is fine; empty is fine.
        assert_eq!(
            check_window(BlockNumber(10), 5, window(&c, 10, 2))
                .unwrap()
                .len(),
            2
        );
        assert!(check_window(BlockNumber(10), 5, vec![]).unwrap().is_empty());
        // Wrong start, a gap, a broken link, too many.
        assert!(check_window(BlockNumber(11), 5, window(&c, 10, 5)).is_err());
        let mut gap = window(&c, 10, 5);
        gap.remove(2);
        assert!(check_window(BlockNumber(10), 5, gap).is_err());
        let mut broken = window(&c, 10, 5);
        broken[1].gas_limit = 99;
        assert!(matches!(
            check_window(BlockNumber(10), 5, broken),
            Err(VerifyError::ParentLink { .. })
        ));
        assert!(check_window(BlockNumber(10), 2, window(&c, 10, 5)).is_err());
    }

    #[test]
    fn windows_link_top_down_in_any_arrival_order_and_reach_genesis() {
        let c = chain(10, 1);
        let mut l = Linker::new(c[0].hash, vec![]);
        l.push(
            Item::Anchor {
                number: BlockNumber(9),
                hash: c[9].hash,
            },
            None,
        );
        l.push(
            Item::Fetch {
                top: BlockNumber(9),
                count: 5,
            },
            None,
        );
        l.push(
            Item::Fetch {
                top: BlockNumber(4),
                count: 5,
            },
            None,
        );
        let reqs = l.take_requests(8);
        assert_eq!(reqs.len(), 2);
        let mut out = Vec::new();
        // The lower window first: nothing released until the one above links.
        let low = check_window(BlockNumber(4), 5, window(&c, 4, 5)).unwrap();
        l.fill(BlockNumber(4), peer(2), low);
        l.advance(&mut out).unwrap();
        assert!(out.is_empty());
        // The upper one comes back short: its prefix links, the rest is a new window.
        let high = check_window(BlockNumber(9), 5, window(&c, 9, 3)).unwrap();
        l.fill(BlockNumber(9), peer(1), high);
        l.advance(&mut out).unwrap();
        assert_eq!(out.len(), 3);
        let reqs = l.take_requests(8);
        assert_eq!(
            reqs,
            vec![WindowRequest {
                top: BlockNumber(6),
                count: 2,
                avoid: None
            }]
        );
        l.fill(
            BlockNumber(6),
            peer(3),
            check_window(BlockNumber(6), 2, window(&c, 6, 2)).unwrap(),
        );
        l.advance(&mut out).unwrap();
        let numbers: Vec<u64> = out.iter().map(|h| h.number().get()).collect();
        assert_eq!(numbers, vec![9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
        assert!(l.is_empty());
    }

    #[test]
    fn a_window_of_another_chain_is_the_peers_fault_and_asked_again() {
        let c = chain(10, 1);
        let fake = chain(10, 2);
        let mut l = Linker::new(c[0].hash, vec![]);
        l.push(
            Item::Anchor {
                number: BlockNumber(9),
                hash: c[9].hash,
            },
            None,
        );
        l.push(
            Item::Fetch {
                top: BlockNumber(9),
                count: 10,
            },
            None,
        );
        l.take_requests(1);
        l.fill(
            BlockNumber(9),
            peer(7),
            check_window(BlockNumber(9), 10, window(&fake, 9, 10)).unwrap(),
        );
        let mut out = Vec::new();
        let err = l.advance(&mut out).unwrap_err();
        assert!(matches!(err, LinkError::Peer { peer: p, .. } if p == peer(7)));
        assert!(out.is_empty());
        assert_eq!(
            l.take_requests(1),
            vec![WindowRequest {
                top: BlockNumber(9),
                count: 10,
                avoid: Some(peer(7))
            }]
        );
    }

    #[test]
    fn an_anchor_off_the_chain_never_reaches_the_genesis() {
        let fake = chain(10, 2);
        let real = chain(1, 1);
        let mut l = Linker::new(real[0].hash, vec![]);
        l.push(
            Item::Anchor {
                number: BlockNumber(9),
                hash: fake[9].hash,
            },
            None,
        );
        l.push(
            Item::Fetch {
                top: BlockNumber(9),
                count: 9,
            },
            None,
        );
        l.take_requests(1);
        l.fill(
            BlockNumber(9),
            peer(1),
            check_window(BlockNumber(9), 9, window(&fake, 9, 9)).unwrap(),
        );
        assert!(matches!(
            l.advance(&mut Vec::new()),
            Err(LinkError::Fatal(_))
        ));
    }

    #[test]
    fn stored_stretches_relink_and_must_match_the_anchor() {
        let c = chain(10, 1);
        let mut l = Linker::new(c[0].hash, vec![(BlockNumber(2), c[2].hash)]);
        l.push(
            Item::Anchor {
                number: BlockNumber(9),
                hash: c[9].hash,
            },
            None,
        );
        l.push(
            Item::Stored {
                top: BlockNumber(9),
                bottom: BlockNumber(5),
            },
            Some((c[9].hash, c[4].hash)),
        );
        l.push(
            Item::Fetch {
                top: BlockNumber(4),
                count: 4,
            },
            None,
        );
        l.take_requests(1);
        l.fill(
            BlockNumber(4),
            peer(1),
            check_window(BlockNumber(4), 4, window(&c, 4, 4)).unwrap(),
        );
        let mut out = Vec::new();
        l.advance(&mut out).unwrap();
        assert_eq!(out.len(), 4);
        // A stored top that is not the anchor's chain: fatal.
        let mut l = Linker::new(c[0].hash, vec![]);
        l.push(
            Item::Anchor {
                number: BlockNumber(9),
                hash: c[9].hash,
            },
            None,
        );
        l.push(
            Item::Stored {
                top: BlockNumber(9),
                bottom: BlockNumber(5),
            },
            Some((B256::repeat_byte(9), c[4].hash)),
        );
        assert!(matches!(l.advance(&mut out), Err(LinkError::Fatal(_))));
    }
}
