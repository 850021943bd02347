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

/// A posting list read back (its bytes borrowed), with its count known before any decoding.
#[derive(Debug, Clone, Copy)]
pub struct List<'a> {
    count: usize,
    /// Bytes after the count.
    body: &'a [u8],
}

/// Why list bytes do not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("posting list: {0}")]
pub struct Damaged(pub &'static str);

impl<'a> List<'a> {
    /// Reads a list's header.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Damaged> {
        let mut pos = 0;
        let count = get_varint(bytes, &mut pos).ok_or(Damaged("count"))? as usize;
        let body = &bytes[pos..];
        if count > BLOCK && body.len() < count.div_ceil(BLOCK) * 8 {
            return Err(Damaged("skip table cut short"));
        }
        Ok(Self { count, body })
    }

    /// Ids in the list.
    pub fn count(&self) -> usize {
        self.count
    }

    fn blocks(&self) -> usize {
        if self.count <= BLOCK {
            usize::from(self.count > 0)
        } else {
            self.count.div_ceil(BLOCK)
        }
    }

    fn skip(&self, b: usize) -> (u32, usize) {
        let s = &self.body[b * 8..b * 8 + 8];
        (
            u32::from_le_bytes([s[0], s[1], s[2], s[3]]),
            u32::from_le_bytes([s[4], s[5], s[6], s[7]]) as usize,
        )
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
            let first = get_varint(self.body, &mut pos).ok_or(Damaged("first id"))?;
            (first, self.body, pos)
        } else {
            let (first, off) = self.skip(b);
            let data = &self.body[self.blocks() * 8..];
            (u64::from(first), data, off)
        };
        out.push(u32::try_from(id).map_err(|_| Damaged("id overflow"))?);
        for _ in 1..n {
            id += get_varint(data, &mut pos).ok_or(Damaged("delta"))?;
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
            prop_assert_eq!(list.count(), ids.len());
            let mut all = Vec::new();
            list.range(0, u32::MAX, &mut all).unwrap();
            prop_assert_eq!(&all, &ids);
            let hi = lo.saturating_add(span);
            let mut some = Vec::new();
            list.range(lo, hi, &mut some).unwrap();
            let want: Vec<u32> = ids.iter().copied().filter(|&i| i >= lo && i < hi).collect();
            prop_assert_eq!(some, want);
            let mut targets = targets;
            targets.sort_unstable();
            let mut c = list.cursor();
            for t in targets {
                let want = ids.iter().copied().find(|&i| i >= t);
                prop_assert_eq!(c.seek(t).unwrap(), want);
            }
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
    }
}
