//! Does a response fit the request it answers? Pure checks the session applies before handing
//! data on: header numbers, steps and count; body/receipt counts. (Roots and parent links are
//! checked by `verify`.)

use alloy_consensus::Header;

use super::{BlockHashOrNumber, GetBlockHeaders, reason};
use crate::primitives::BlockNumber;

/// A response that does not answer its request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    /// More items than asked for.
    #[error("{got} {what} for a request of {requested}")]
    TooMany {
        /// Headers, bodies or receipt lists.
        what: &'static str,
        /// How many we asked for.
        requested: usize,
        /// How many came.
        got: usize,
    },
    /// The first header is not the requested start block.
    #[error("first header is block {got}, not the requested start {expected:?}")]
    WrongStart {
        /// The request's start.
        expected: BlockHashOrNumber,
        /// Number of the first header received.
        got: BlockNumber,
    },
    /// A header is not where `skip` and `reverse` put it.
    #[error("header #{index} is block {got}, expected block {expected}")]
    WrongStep {
        /// Position in the response.
        index: usize,
        /// Number it should have.
        expected: BlockNumber,
        /// Number it has.
        got: BlockNumber,
    },
}

impl ResponseError {
    /// The peer answered something we did not ask: a protocol breach.
    pub fn disconnect_reason(&self) -> u8 {
        reason::BREACH_OF_PROTOCOL
    }
}

impl GetBlockHeaders {
    /// The numbers this request covers when its start block has number `start`, in answer
    /// order: `skip + 1` apart, descending when `reverse`, at most [`Self::served_limit`], ending
    /// early at genesis or at `u64::MAX`. What a server looks up, and what a response must hold
    /// (possibly fewer).
    pub fn numbers_from(&self, start: BlockNumber) -> impl Iterator<Item = BlockNumber> + use<> {
        // skip = u64::MAX makes a step of 2^64: nothing after the start.
        let step = self.skip.checked_add(1);
        let reverse = self.reverse;
        let mut next = Some(start.get());
        std::iter::from_fn(move || {
            let n = next?;
            next = step.and_then(|s| {
                if reverse {
                    n.checked_sub(s)
                } else {
                    n.checked_add(s)
                }
            });
            Some(BlockNumber(n))
        })
        .take(self.served_limit())
    }

    /// Checks a `BlockHeaders` answer: not more than asked, first header the requested start
    /// (by number, or by hash — one keccak), and every later one `skip + 1` further in the
    /// requested direction. An empty answer is valid ("none of them found").
    pub fn check_response(&self, headers: &[Header]) -> Result<(), ResponseError> {
        let requested = usize::try_from(self.limit).unwrap_or(usize::MAX);
        if headers.len() > requested {
            return Err(ResponseError::TooMany {
                what: "headers",
                requested,
                got: headers.len(),
            });
        }
        let Some(first) = headers.first() else {
            return Ok(());
        };
        let first_number = BlockNumber(first.number);
        let start_ok = match self.start {
            BlockHashOrNumber::Number(n) => n == first_number,
            BlockHashOrNumber::Hash(h) => first.hash_slow() == h,
        };
        if !start_ok {
            return Err(ResponseError::WrongStart {
                expected: self.start,
                got: first_number,
            });
        }
        let mut expected = self.numbers_from(first_number);
        for (index, header) in headers.iter().enumerate() {
            let got = BlockNumber(header.number);
            match expected.next() {
                Some(e) if e == got => {}
                Some(e) => {
                    return Err(ResponseError::WrongStep {
                        index,
                        expected: e,
                        got,
                    });
                }
                // Past genesis, u64::MAX or our serving cap: more than the request can hold.
                None => {
                    return Err(ResponseError::TooMany {
                        what: "headers",
                        requested: index,
                        got: headers.len(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// Checks that a `BlockBodies` or `Receipts` answer holds no more entries than hashes requested
/// (fewer is normal: the peer stops at its size limit or at blocks it does not have).
pub fn check_response_count(
    what: &'static str,
    requested: usize,
    got: usize,
) -> Result<(), ResponseError> {
    if got > requested {
        Err(ResponseError::TooMany {
            what,
            requested,
            got,
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(start: u64, limit: u64, skip: u64, reverse: bool) -> GetBlockHeaders {
        GetBlockHeaders {
            start: BlockHashOrNumber::Number(BlockNumber(start)),
            limit,
            skip,
            reverse,
        }
    }

    fn nums(r: &GetBlockHeaders, start: u64) -> Vec<u64> {
        r.numbers_from(BlockNumber(start))
            .map(|n| n.get())
            .collect()
    }

    fn headers(numbers: &[u64]) -> Vec<Header> {
        numbers
            .iter()
            .map(|&number| Header {
                number,
                ..Header::default()
            })
            .collect()
    }

    #[test]
    fn numbers_follow_skip_and_direction_and_stop_at_the_ends() {
        assert_eq!(nums(&req(10, 3, 0, false), 10), [10, 11, 12]);
        assert_eq!(nums(&req(10, 3, 4, false), 10), [10, 15, 20]);
        assert_eq!(nums(&req(10, 5, 4, true), 10), [10, 5, 0]);
        assert_eq!(nums(&req(1, 5, 0, true), 1), [1, 0]);
        assert_eq!(
            nums(&req(u64::MAX - 1, 5, 0, false), u64::MAX - 1),
            [u64::MAX - 1, u64::MAX]
        );
        assert_eq!(nums(&req(0, 5, u64::MAX, false), 0), [0]);
        assert_eq!(
            req(0, u64::MAX, 0, false)
                .numbers_from(BlockNumber(0))
                .count(),
            1024
        );
        assert_eq!(nums(&req(0, 0, 0, false), 0), Vec::<u64>::new());
    }

    #[test]
    fn responses_must_fit_their_request() {
        let r = req(100, 4, 1, false);
        assert_eq!(r.check_response(&[]), Ok(()));
        assert_eq!(r.check_response(&headers(&[100, 102])), Ok(()));
        assert_eq!(r.check_response(&headers(&[100, 102, 104, 106])), Ok(()));
        assert!(matches!(
            r.check_response(&headers(&[100, 102, 104, 106, 108])),
            Err(ResponseError::TooMany { .. })
        ));
        assert!(matches!(
            r.check_response(&headers(&[101])),
            Err(ResponseError::WrongStart { .. })
        ));
        assert_eq!(
            r.check_response(&headers(&[100, 101])),
            Err(ResponseError::WrongStep {
                index: 1,
                expected: BlockNumber(102),
                got: BlockNumber(101)
            })
        );
        let back = req(1, 10, 0, true);
        assert!(back.check_response(&headers(&[1, 0])).is_ok());
        let by_hash = GetBlockHeaders {
            start: BlockHashOrNumber::Hash(headers(&[7])[0].hash_slow()),
            limit: 2,
            skip: 0,
            reverse: false,
        };
        assert!(by_hash.check_response(&headers(&[7, 8])).is_ok());
        assert!(by_hash.check_response(&headers(&[8, 9])).is_err());
        assert!(check_response_count("bodies", 3, 3).is_ok());
        assert!(check_response_count("bodies", 3, 4).is_err());
    }
}
