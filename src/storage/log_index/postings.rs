//! Posting lists: the sorted log ids that carry one key, delta-varint compressed in blocks of
//! [`BLOCK`] ids with a skip table, so a cursor can jump to the first id at or after a target
//! without decoding what lies before it (a selective list walks a common one in a few jumps).
//! Never does I/O; the bytes come from the index file or from a builder.
//!
//! ```text
//! list     varint count, then
//!            count <= BLOCK: varint first id, varint deltas
//!            count >  BLOCK: skip table (first id u32 LE, byte offset u32 LE) per block,
//!                            then per block: varint deltas after its first id
//! ```

/// Ids per block of a long list.
pub const BLOCK: usize = 128;

/// Appends `v` as a LEB128 varint.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a LEB128 varint at `*pos`, advancing it; `None` if the bytes end or it overflows.
pub fn get_varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Encodes ascending, distinct `ids`.
pub fn encode(ids: &[u32], out: &mut Vec<u8>) {
    put_varint(out, ids.len() as u64);
    if ids.len() <= BLOCK {
        let mut prev = 0u32;
        for (i, &id) in ids.iter().enumerate() {
            put_varint(out, u64::from(if i == 0 { id } else { id - prev }));
            prev = id;
        }
        return;
    }
    let mut data = Vec::new();
    let mut skips = Vec::with_capacity(ids.len().div_ceil(BLOCK) * 8);
    for block in ids.chunks(BLOCK) {
        skips.extend_from_slice(&block[0].to_le_bytes());
        skips.extend_from_slice(&(data.len() as u32).to_le_bytes());
        for pair in block.windows(2) {
            put_varint(&mut data, u64::from(pair[1] - pair[0]));
        }
    }
    out.extend_from_slice(&skips);
    out.extend_from_slice(&data);
}

/// Entry `b` of a skip table: the block's first id and the byte offset of its data.
fn skip_entry(skips: &[u8], b: usize) -> (u32, usize) {
    let s = &skips[b * 8..b * 8 + 8];
    (
        u32::from_le_bytes([s[0], s[1], s[2], s[3]]),
        u32::from_le_bytes([s[4], s[5], s[6], s[7]]) as usize,
    )
}

/// A posting list read back (its bytes borrowed), with its count known before any decoding.
/// Of a long list only a window of its block data may be held ([`List::window`]): decoding a
/// block outside it is an error, never a wrong id.
#[derive(Debug, Clone, Copy)]
pub struct List<'a> {
    count: usize,
    /// The skip table (empty for a short list).
    skips: &'a [u8],
    /// Block data from byte `base` of the list's data on (a short list: everything after the
    /// count, `base` 0).
    data: &'a [u8],
    base: usize,
}

/// Why list bytes do not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("posting list: {0}")]
pub struct Damaged(pub &'static str);

impl<'a> List<'a> {
    /// Reads a whole list (the builder's tests; the index reads windows, [`Self::window`]).
    #[cfg(test)]
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Damaged> {
        let (count, header) = Self::header_len(bytes)?;
        let body = bytes.get(header..).ok_or(Damaged("skip table cut short"))?;
        if count <= BLOCK {
            return Ok(Self::window(count, &[], body, 0));
        }
        let table = &bytes[header - count.div_ceil(BLOCK) * 8..header];
        Ok(Self::window(count, table, body, 0))
    }

    /// The count of a list and the length of its header (the count, then a long list's skip
    /// table), from the list's first bytes (the header may run past them).
    pub fn header_len(prefix: &[u8]) -> Result<(usize, usize), Damaged> {
        let mut pos = 0;
        let count = get_varint(prefix, &mut pos)
            .and_then(|c| usize::try_from(c).ok())
            .ok_or(Damaged("count"))?;
        if count <= BLOCK {
            return Ok((count, pos));
        }
        let header = count
            .div_ceil(BLOCK)
            .checked_mul(8)
            .and_then(|t| t.checked_add(pos))
            .ok_or(Damaged("count"))?;
        Ok((count, header))
    }

    /// A list from its parts: a short list (`count <= BLOCK`) has no skip table and all its
    /// data (`base` 0); a long one has its skip table and the part of its block data that
    /// starts at data byte `base`.
    pub fn window(count: usize, skips: &'a [u8], data: &'a [u8], base: usize) -> Self {
        Self {
            count,
            skips,
            data,
            base,
        }
    }

    /// The data a walk over ids `lo .. hi` of a long list reads, as byte offsets into its block
    /// data: from the block holding `lo` through the first block starting at or after `hi`
    /// (a walk loads it to find where the range ends); `None` as the end: the end of the data.
    /// `skips` is the list's skip table.
    pub fn data_span(skips: &[u8], lo: u32, hi: u32) -> (usize, Option<usize>) {
        let blocks = skips.len() / 8;
        let first_id = |b: usize| skip_entry(skips, b).0;
        let offset = |b: usize| skip_entry(skips, b).1;
        // The number of blocks (from the start) whose first id passes `keep`.
        let count_while = |keep: &dyn Fn(u32) -> bool| {
            let (mut lo, mut hi) = (0, blocks);
            while lo < hi {
                let mid = (lo + hi) / 2;
                if keep(first_id(mid)) {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            lo
        };
        if blocks == 0 {
            return (0, None);
        }
        let first = count_while(&|id| id <= lo).saturating_sub(1);
        let last = count_while(&|id| id < hi).max(first);
        (offset(first), (last + 1 < blocks).then(|| offset(last + 1)))
    }

    fn blocks(&self) -> usize {
        if self.count <= BLOCK {
            usize::from(self.count > 0)
        } else {
            self.count.div_ceil(BLOCK)
        }
    }

    fn skip(&self, b: usize) -> (u32, usize) {
        skip_entry(self.skips, b)
    }

    /// Decodes block `b` into `out`.
    fn decode_block(&self, b: usize, out: &mut Vec<u32>) -> Result<(), Damaged> {
        out.clear();
        let n = if self.count <= BLOCK {
            self.count
        } else {
            BLOCK.min(self.count - b * BLOCK)
        };
        let (mut id, data, mut pos) = if self.count <= BLOCK {
            let mut pos = 0;
            let first = get_varint(self.data, &mut pos).ok_or(Damaged("first id"))?;
            (first, self.data, pos)
        } else {
            let (first, off) = self.skip(b);
            let pos = off
                .checked_sub(self.base)
                .ok_or(Damaged("block outside the read window"))?;
            (u64::from(first), self.data, pos)
        };
        out.push(u32::try_from(id).map_err(|_| Damaged("id overflow"))?);
        for _ in 1..n {
            // Checked: a damaged delta may be any u64.
            id = get_varint(data, &mut pos)
                .and_then(|d| id.checked_add(d))
                .ok_or(Damaged("delta"))?;
            out.push(u32::try_from(id).map_err(|_| Damaged("id overflow"))?);
        }
        Ok(())
    }

    /// A cursor at the start.
    pub fn cursor(self) -> Cursor<'a> {
        Cursor {
            list: self,
            block: usize::MAX,
            buf: Vec::with_capacity(BLOCK.min(self.count)),
            at: 0,
        }
    }

    /// Every id in `lo .. hi`.
    pub fn range(self, lo: u32, hi: u32, out: &mut Vec<u32>) -> Result<(), Damaged> {
        let mut c = self.cursor();
        let mut next = c.seek(lo)?;
        while let Some(id) = next.filter(|&id| id < hi) {
            out.push(id);
            next = c.next()?;
        }
        Ok(())
    }
}

/// Walks a list forwards.
#[derive(Debug)]
pub struct Cursor<'a> {
    list: List<'a>,
    /// Block decoded into `buf` (`usize::MAX`: none yet).
    block: usize,
    buf: Vec<u32>,
    at: usize,
}

impl Cursor<'_> {
    fn load(&mut self, b: usize) -> Result<(), Damaged> {
        self.list.decode_block(b, &mut self.buf)?;
        self.block = b;
        self.at = 0;
        Ok(())
    }

    /// The next id (after the current one).
    pub fn next(&mut self) -> Result<Option<u32>, Damaged> {
        if self.block == usize::MAX {
            if self.list.blocks() == 0 {
                return Ok(None);
            }
            self.load(0)?;
            return Ok(self.buf.first().copied());
        }
        self.at += 1;
        if self.at >= self.buf.len() {
            if self.block + 1 >= self.list.blocks() {
                self.at = self.buf.len();
                return Ok(None);
            }
            self.load(self.block + 1)?;
        }
        Ok(self.buf.get(self.at).copied())
    }

    /// The first id at or after `target`, never moving backwards (ids already passed stay
    /// passed): callers seek with ascending targets.
    pub fn seek(&mut self, target: u32) -> Result<Option<u32>, Damaged> {
        let blocks = self.list.blocks();
        if blocks == 0 {
            return Ok(None);
        }
        let start = if self.block == usize::MAX {
            0
        } else {
            self.block
        };
        // The last block from `start` whose first id is <= target (skip table: no decoding).
        let mut b = start;
        if self.list.count > BLOCK {
            let (mut lo, mut hi) = (start, blocks);
            while hi - lo > 1 {
                let mid = (lo + hi) / 2;
                if self.list.skip(mid).0 <= target {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            b = lo;
        }
        if b != self.block {
            self.load(b)?;
        }
        while self.at < self.buf.len() {
            if self.buf[self.at] >= target {
                return Ok(Some(self.buf[self.at]));
            }
            self.at += 1;
        }
        // Past this block's end: the next block's first id is the answer (it is > target).
        if self.block + 1 < blocks {
            self.load(self.block + 1)?;
            return Ok(self.buf.first().copied());
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ids(v: &[u32]) -> Vec<u32> {
        let mut v = v.to_vec();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Seeks `list` (holding `ids`) to each of `targets` in ascending order.
    fn check_seeks(
        list: List<'_>,
        ids: &[u32],
        mut targets: Vec<u32>,
    ) -> Result<(), TestCaseError> {
        targets.sort_unstable();
        let mut c = list.cursor();
        for t in targets {
            let want = ids.iter().copied().find(|&i| i >= t);
            prop_assert_eq!(c.seek(t).unwrap(), want);
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn round_trip_range_and_seek(
            raw in proptest::collection::vec(0u32..5_000, 0..700),
            lo in 0u32..5_000,
            span in 0u32..3_000,
            targets in proptest::collection::vec(0u32..5_500, 0..20),
        ) {
            let ids = ids(&raw);
            let mut bytes = Vec::new();
            encode(&ids, &mut bytes);
            let list = List::parse(&bytes).unwrap();
            prop_assert_eq!(list.count, ids.len());
            let mut all = Vec::new();
            list.range(0, u32::MAX, &mut all).unwrap();
            prop_assert_eq!(&all, &ids);
            let hi = lo.saturating_add(span);
            let mut some = Vec::new();
            list.range(lo, hi, &mut some).unwrap();
            let want: Vec<u32> = ids.iter().copied().filter(|&i| i >= lo && i < hi).collect();
            prop_assert_eq!(some, want);
            check_seeks(list, &ids, targets)?;
        }

        /// A long list read as the index reads it for a query over `lo .. hi` (its skip table
        /// and only the blocks that walk touches) walks like the whole list.
        #[test]
        fn a_window_walks_like_the_whole_list(
            raw in proptest::collection::vec(0u32..20_000, 0..2_000),
            lo in 0u32..20_000,
            span in 0u32..8_000,
            targets in proptest::collection::vec(0u32..8_000, 0..40),
        ) {
            let ids = ids(&raw);
            let mut bytes = Vec::new();
            encode(&ids, &mut bytes);
            let (count, header) = List::header_len(&bytes).unwrap();
            prop_assert_eq!(count, ids.len());
            let hi = lo.saturating_add(span);
            let window = if count <= BLOCK {
                List::parse(&bytes).unwrap()
            } else {
                let table = &bytes[header - count.div_ceil(BLOCK) * 8..header];
                let (start, end) = List::data_span(table, lo, hi);
                let data = &bytes[header..];
                let end = end.unwrap_or(data.len());
                List::window(count, table, &data[start..end], start)
            };
            let mut some = Vec::new();
            window.range(lo, hi, &mut some).unwrap();
            let want: Vec<u32> = ids.iter().copied().filter(|&i| i >= lo && i < hi).collect();
            prop_assert_eq!(some, want);
            // Seeks with ascending targets inside `lo .. hi`, as the intersection makes them.
            let targets = targets.into_iter().map(|t| lo.saturating_add(t % span.max(1))).filter(|&t| t < hi).collect();
            check_seeks(window, &ids, targets)?;
        }
    }

    #[test]
    fn damaged_bytes_are_errors_not_panics() {
        let mut bytes = Vec::new();
        encode(&(0..1000).collect::<Vec<_>>(), &mut bytes);
        for cut in [1, 5, 100, bytes.len() - 1] {
            if let Ok(list) = List::parse(&bytes[..cut]) {
                let mut out = Vec::new();
                assert!(list.range(0, u32::MAX, &mut out).is_err());
            }
        }
        // A delta near u64::MAX (a varint of ten bytes) after a first id: an error, not an
        // overflow, in a short list and in a block of a long one.
        let mut short = Vec::new();
        put_varint(&mut short, 2);
        put_varint(&mut short, 5);
        put_varint(&mut short, u64::MAX);
        let mut out = Vec::new();
        let list = List::parse(&short).unwrap();
        assert_eq!(list.range(0, u32::MAX, &mut out), Err(Damaged("delta")));
        let mut long = Vec::new();
        encode(&(5..205).collect::<Vec<_>>(), &mut long);
        let (_, header) = List::header_len(&long).unwrap();
        let mut bad = long[..header].to_vec();
        put_varint(&mut bad, u64::MAX);
        let list = List::parse(&bad).unwrap();
        assert_eq!(list.range(0, u32::MAX, &mut out), Err(Damaged("delta")));
    }
}
