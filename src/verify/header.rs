//! Header rules: a header's hash, and the number/hash link from one header to the next.

use alloy_consensus::Header;
use alloy_primitives::B256;

use super::{SealedHeader, VerifyError};

/// Checks that `header` hashes to `expected`: the hash that was asked for, that peers agreed on, or
/// that a trusted child names as its parent. A header is only as trustworthy as this comparison, since
/// every root in it is checked against data that the header itself vouches for.
pub fn check_hash(header: &SealedHeader, expected: B256) -> Result<(), VerifyError> {
    if header.hash != expected {
        return Err(VerifyError::HeaderHash {
            number: header.number(),
            expected,
            got: header.hash,
        });
    }
    Ok(())
}

/// Checks that `child` directly follows `parent` (number and hash link).
pub fn check_link(parent: &SealedHeader, child: &SealedHeader) -> Result<(), VerifyError> {
    let expected = parent.number().next();
    if child.number() != expected {
        return Err(VerifyError::NotConsecutive {
            expected,
            got: child.number(),
        });
    }
    if child.header.parent_hash != parent.hash {
        return Err(VerifyError::ParentLink {
            number: child.number(),
            expected: parent.hash,
            got: child.header.parent_hash,
        });
    }
    Ok(())
}

/// Seals headers and checks they form one ascending, hash-linked chain.
pub fn seal_chain(headers: Vec<Header>) -> Result<Vec<SealedHeader>, VerifyError> {
    let sealed: Vec<SealedHeader> = headers.into_iter().map(SealedHeader::seal).collect();
    for pair in sealed.windows(2) {
        check_link(&pair[0], &pair[1])?;
    }
    Ok(sealed)
}
