//! The three typed values a command field can hold (SPEC §1.4): sign-magnitude
//! integers, "similar int arrays" grouped by 256-blocks, and short strings.
//!
//! The type is the high nibble of an item's first byte. Encoders here produce
//! what P2P Media Loader 2.3.x produces, except where its output is broken
//! (a block of 256+ ids, non-ASCII string lengths): there we produce what its
//! decoder reads correctly.

use std::collections::HashMap;

use super::{DecodeError, EncodeError};

/// Type nibble of an integer item.
pub(crate) const TYPE_INT: u8 = 0;
/// Type nibble of a similar-int-array item.
pub(crate) const TYPE_INT_ARRAY: u8 = 1;
/// Type nibble of a string item.
pub(crate) const TYPE_STRING: u8 = 2;

/// Most entries one block of a similar-int-array can carry: its count lives in
/// the low byte of the block header, and 256 wraps to 0 (SPEC §7.1 #4).
pub const MAX_ENTRIES_PER_BLOCK: usize = 255;
/// Most block entries one similar-int-array can carry: the count is one byte.
pub const MAX_BLOCKS: usize = 255;
/// Longest string item in bytes: the length field has 12 bits.
pub const MAX_STRING_LEN: usize = 0x0fff;

/// One typed value of a command field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A signed integer (JS encodes any integral `Number`; ±2^53 is the safe range).
    Int(i64),
    /// A list of integers, encoded grouped by `value & !0xff` blocks. Decoding
    /// returns the values regrouped by block in first-appearance order.
    IntArray(Vec<i64>),
    /// A string. Only ASCII is interoperable with JS receivers in general;
    /// this crate encodes the UTF-8 byte length, which JS decodes correctly.
    String(String),
}

/// Appends the minimal sign-magnitude encoding of `v`: `0x0N ‖ magnitude[N]`.
#[expect(clippy::cast_possible_truncation, reason = "extracting bytes; n <= 9")]
pub(crate) fn write_int(out: &mut Vec<u8>, v: i64) {
    let magnitude = u128::from(v.unsigned_abs());
    let bits = if magnitude == 0 {
        1
    } else {
        128 - magnitude.leading_zeros()
    };
    // One extra bit for the sign; at most 9 bytes for i64::MIN.
    let n = (bits + 1).div_ceil(8);
    out.push((TYPE_INT << 4) | n as u8);
    let first = out.len();
    for i in (0..n).rev() {
        out.push((magnitude >> (8 * i)) as u8);
    }
    if v < 0 {
        if let Some(b) = out.get_mut(first) {
            *b |= 0x80;
        }
    }
}

/// Appends a similar-int-array. Values are grouped by block in first-appearance
/// order (exactly as JS does); a block with more than 255 values is emitted as
/// several block entries with the same base, which JS decoders concatenate.
#[expect(
    clippy::cast_possible_truncation,
    reason = "low bytes by design; blocks <= 255 checked"
)]
pub(crate) fn write_int_array(out: &mut Vec<u8>, values: &[i64]) -> Result<(), EncodeError> {
    let mut order: Vec<(i64, Vec<u8>)> = Vec::new();
    let mut index: HashMap<i64, usize> = HashMap::new();
    for &v in values {
        let base = v & !0xff;
        let low = (v & 0xff) as u8;
        let slot = *index.entry(base).or_insert_with(|| {
            order.push((base, Vec::new()));
            order.len() - 1
        });
        if let Some((_, lows)) = order.get_mut(slot) {
            lows.push(low);
        }
    }
    let blocks: usize = order
        .iter()
        .map(|(_, lows)| lows.len().div_ceil(MAX_ENTRIES_PER_BLOCK))
        .sum();
    if blocks > MAX_BLOCKS {
        return Err(EncodeError::TooManyBlocks { blocks });
    }
    out.push(TYPE_INT_ARRAY << 4);
    out.push(blocks as u8);
    for (base, lows) in &order {
        for chunk in lows.chunks(MAX_ENTRIES_PER_BLOCK) {
            // The base has a zero low byte, so `base | count` is `base + count`.
            write_int(out, base | chunk.len() as i64);
            out.extend_from_slice(chunk);
        }
    }
    Ok(())
}

/// Appends a string item whose 12-bit length counts UTF-8 bytes.
#[expect(clippy::cast_possible_truncation, reason = "len <= 4095 checked above")]
pub(crate) fn write_string(out: &mut Vec<u8>, s: &str) -> Result<(), EncodeError> {
    let len = s.len();
    if len > MAX_STRING_LEN {
        return Err(EncodeError::StringTooLong { len });
    }
    out.push((TYPE_STRING << 4) | (len >> 8) as u8);
    out.push((len & 0xff) as u8);
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

/// Appends any item.
pub(crate) fn write_item(out: &mut Vec<u8>, item: &Item) -> Result<(), EncodeError> {
    match item {
        Item::Int(v) => {
            write_int(out, *v);
            Ok(())
        }
        Item::IntArray(values) => write_int_array(out, values),
        Item::String(s) => write_string(out, s),
    }
}

/// A cursor over a command payload that never reads past its end.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub(crate) fn byte(&mut self) -> Result<u8, DecodeError> {
        let b = *self.buf.get(self.pos).ok_or(DecodeError::Truncated {
            offset: self.pos,
            needed: 1,
        })?;
        self.pos += 1;
        Ok(b)
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.ok_or(DecodeError::Truncated {
            offset: self.pos,
            needed: n,
        })?;
        let s = self.buf.get(self.pos..end).unwrap_or_default();
        self.pos = end;
        Ok(s)
    }

    /// Reads an integer item. A zero byte count decodes as 0, as in JS.
    pub(crate) fn int(&mut self) -> Result<i64, DecodeError> {
        let offset = self.pos;
        let header = self.byte()?;
        if header >> 4 != TYPE_INT {
            return Err(DecodeError::UnexpectedType {
                offset,
                expected: "integer",
                found: header >> 4,
            });
        }
        let bytes = self.take(usize::from(header & 0x0f))?;
        let mut magnitude: u128 = 0;
        let mut negative = false;
        for (i, &b) in bytes.iter().enumerate() {
            let b = if i == 0 {
                negative = b & 0x80 != 0;
                b & 0x7f
            } else {
                b
            };
            // At most 15 bytes with the sign bit cleared: 119 bits, fits u128.
            magnitude = (magnitude << 8) | u128::from(b);
        }
        let value = if negative {
            0i128.checked_sub_unsigned(magnitude)
        } else {
            i128::try_from(magnitude).ok()
        };
        value
            .and_then(|v| i64::try_from(v).ok())
            .ok_or(DecodeError::IntOutOfRange { offset })
    }

    /// Reads a similar-int-array item.
    pub(crate) fn int_array(&mut self) -> Result<Vec<i64>, DecodeError> {
        let offset = self.pos;
        let header = self.byte()?;
        if header >> 4 != TYPE_INT_ARRAY {
            return Err(DecodeError::UnexpectedType {
                offset,
                expected: "similar int array",
                found: header >> 4,
            });
        }
        let blocks = self.byte()?;
        let mut values = Vec::new();
        for _ in 0..blocks {
            let block = self.int()?;
            let count = usize::try_from(block & 0xff).unwrap_or_default();
            let base = block & !0xff;
            let lows = self.take(count)?;
            values.extend(lows.iter().map(|&low| base | i64::from(low)));
        }
        Ok(values)
    }

    /// Reads a string item; invalid UTF-8 becomes U+FFFD, as JS's `TextDecoder` does.
    pub(crate) fn string(&mut self) -> Result<String, DecodeError> {
        let offset = self.pos;
        let header = self.byte()?;
        if header >> 4 != TYPE_STRING {
            return Err(DecodeError::UnexpectedType {
                offset,
                expected: "string",
                found: header >> 4,
            });
        }
        let len = (usize::from(header & 0x0f) << 8) | usize::from(self.byte()?);
        let bytes = self.take(len)?;
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }

    /// Reads whichever item comes next, by its type nibble.
    pub(crate) fn item(&mut self) -> Result<Item, DecodeError> {
        let offset = self.pos;
        match self.peek().map(|b| b >> 4) {
            Some(TYPE_INT) => self.int().map(Item::Int),
            Some(TYPE_INT_ARRAY) => self.int_array().map(Item::IntArray),
            Some(TYPE_STRING) => self.string().map(Item::String),
            Some(found) => Err(DecodeError::UnknownType { offset, found }),
            None => Err(DecodeError::Truncated { offset, needed: 1 }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int_bytes(v: i64) -> Vec<u8> {
        let mut out = Vec::new();
        write_int(&mut out, v);
        out
    }

    #[test]
    fn int_examples_from_the_spec() {
        assert_eq!(int_bytes(0), [0x01, 0x00]);
        assert_eq!(int_bytes(127), [0x01, 0x7f]);
        assert_eq!(int_bytes(128), [0x02, 0x00, 0x80]);
        assert_eq!(int_bytes(-1), [0x01, 0x81]);
        assert_eq!(int_bytes(-128), [0x02, 0x80, 0x80]);
        assert_eq!(
            int_bytes(4_000_000_000),
            [0x05, 0x00, 0xee, 0x6b, 0x28, 0x00]
        );
        assert_eq!(
            int_bytes((1 << 53) - 1),
            [0x07, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        );
    }

    #[test]
    fn int_extremes_round_trip() {
        for v in [i64::MIN, i64::MIN + 1, i64::MAX, -(1 << 53), 1 << 62] {
            let bytes = int_bytes(v);
            assert_eq!(Reader::new(&bytes).int(), Ok(v), "{v}");
        }
    }

    #[test]
    fn int_decoding_is_lenient_like_js_but_bounded() {
        // A zero byte count is 0 in JS.
        assert_eq!(Reader::new(&[0x00]).int(), Ok(0));
        // Non-minimal widths are accepted.
        assert_eq!(Reader::new(&[0x03, 0x00, 0x00, 0x05]).int(), Ok(5));
        // 15 magnitude bytes overflow i64: a typed error, not a panic.
        let mut wide = vec![0x0f, 0x7f];
        wide.extend([0xff; 14]);
        assert_eq!(
            Reader::new(&wide).int(),
            Err(DecodeError::IntOutOfRange { offset: 0 })
        );
        assert!(matches!(
            Reader::new(&[0x04, 0x01]).int(),
            Err(DecodeError::Truncated { .. })
        ));
    }

    #[test]
    fn a_full_block_is_split_not_wrapped() {
        let ids: Vec<i64> = (0..300).collect();
        let mut out = Vec::new();
        write_int_array(&mut out, &ids).unwrap();
        // Block 0 holds 256 ids: entries of 255 and 1; block 256 holds 44.
        // Int(255) needs two bytes: 0x02 0x00 0xff.
        assert_eq!(out[..5], [0x10, 0x03, 0x02, 0x00, 0xff]);
        assert_eq!(out[5 + 255..5 + 255 + 3], [0x01, 0x01, 0xff]);
        assert_eq!(Reader::new(&out).int_array().unwrap(), ids);
    }

    #[test]
    fn too_many_blocks_is_an_error() {
        let ids: Vec<i64> = (0..256).map(|b| b * 256).collect();
        let mut out = Vec::new();
        assert_eq!(
            write_int_array(&mut out, &ids),
            Err(EncodeError::TooManyBlocks { blocks: 256 })
        );
        let ok: Vec<i64> = (0..255).map(|b| b * 256).collect();
        write_int_array(&mut out, &ok).unwrap();
    }

    #[test]
    fn strings_carry_their_utf8_length() {
        let mut out = Vec::new();
        write_string(&mut out, "héllo→").unwrap();
        assert_eq!(out[..2], [0x20, 9]);
        assert_eq!(Reader::new(&out).string().unwrap(), "héllo→");
        let long = "x".repeat(MAX_STRING_LEN + 1);
        assert!(write_string(&mut out, &long).is_err());
    }
}
