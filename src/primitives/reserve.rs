//! How many items of an RLP list payload to reserve room for before decoding them, so a decoded
//! list is allocated once instead of growing one push at a time (each growth a copy, and past
//! glibc's mmap threshold a fresh mapping whose pages fault in: perf, README "Ingest CPU").
//!
//! Owns [`capacity_for`]. It walks item headers only, never decodes an item and never fails: a
//! payload that does not walk gets a smaller reservation and the decoder reports the error as it
//! did before. The count is bounded by the payload's bytes, so a peer or file claiming many tiny
//! items cannot make the caller reserve more than a fixed multiple of what it sent.

use alloy_rlp::Header as RlpHeader;

/// The number of items the list payload `payload` holds (walking item headers until the end or
/// the first item that does not walk), but at most `payload.len() / min_item_len`: the fewest
/// bytes a decodable item takes, so a payload of genuine items is never under-reserved.
pub(crate) fn capacity_for(payload: &[u8], min_item_len: usize) -> usize {
    let bound = payload.len() / min_item_len.max(1);
    let mut rest = payload;
    let mut n = 0;
    while n < bound && !rest.is_empty() {
        let Ok(h) = RlpHeader::decode(&mut rest) else {
            break;
        };
        let Some(after) = rest.get(h.payload_length..) else {
            break;
        };
        rest = after;
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_items_of_a_payload() {
        // Three items: a short string, a list of two, a single byte.
        let payload = [0x82, 0xaa, 0xbb, 0xc2, 0x01, 0x02, 0x05];
        assert_eq!(capacity_for(&payload, 1), 3);
        assert_eq!(capacity_for(&[], 1), 0);
    }

    #[test]
    fn stops_at_the_byte_bound_and_at_an_item_that_does_not_walk() {
        // 100 one-byte items: bounded by bytes / min_item_len.
        assert_eq!(capacity_for(&[0x01; 100], 1), 100);
        assert_eq!(capacity_for(&[0x01; 100], 24), 4);
        assert_eq!(capacity_for(&[0x01; 100], 0), 100);
        // The second item claims more bytes than follow: counted up to it.
        assert_eq!(capacity_for(&[0x01, 0x85, 0x01], 1), 1);
    }
}
