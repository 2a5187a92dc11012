//! Segment bytes as the engine moves them. The engine is generic over the
//! payload so that real hosts move real bytes ([`bytes::Bytes`]) while the
//! simulator moves virtual ones ([`VirtualPayload`]): ten thousand peers
//! holding real segments would not fit in memory, and a virtual payload
//! still proves that every byte range reached the right place.

mod pool;

use std::ops::Range;

use bytes::{Bytes, BytesMut};

/// What the engine needs from a payload: its length, sub-ranges, joining
/// received pieces, and carrying encoded commands on the same channel.
pub trait Payload: Clone + std::fmt::Debug {
    /// Length in bytes.
    fn len(&self) -> usize;

    /// Whether it is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes in `range` (which lies within `0..len`).
    fn slice(&self, range: Range<usize>) -> Self;

    /// The pieces in order, as one payload.
    fn concat(pieces: &[Self]) -> Self;

    /// An encoded command part, to send on a data channel.
    fn from_command(bytes: Vec<u8>) -> Self;

    /// The bytes to classify as a command part, if this message can be one.
    /// Real bytes always can; a virtual segment chunk never is.
    fn command_bytes(&self) -> Option<&[u8]>;
}

impl Payload for Bytes {
    fn len(&self) -> usize {
        Bytes::len(self)
    }

    fn slice(&self, range: Range<usize>) -> Self {
        Bytes::slice(self, range)
    }

    fn concat(pieces: &[Self]) -> Self {
        match pieces {
            [one] => one.clone(),
            _ => {
                let len = pieces.iter().map(Bytes::len).sum();
                if len < pool::MIN_POOLED {
                    let mut out = BytesMut::with_capacity(len);
                    pieces.iter().for_each(|p| out.extend_from_slice(p));
                    return out.freeze();
                }
                let mut out = pool::take(len);
                pieces.iter().for_each(|p| out.extend_from_slice(p));
                pool::freeze(out)
            }
        }
    }

    fn from_command(bytes: Vec<u8>) -> Self {
        Bytes::from(bytes)
    }

    fn command_bytes(&self) -> Option<&[u8]> {
        Some(self)
    }
}

/// A payload without bytes: which segment it belongs to and which byte range
/// of it, or a real encoded command. Joining checks that pieces are
/// contiguous parts of one segment; anything else yields
/// [`VirtualPayload::Corrupt`], which the simulator counts as a delivery bug.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VirtualPayload {
    /// Bytes `range` of the segment identified by `segment`.
    Segment {
        /// An identifier of the segment's content (the simulator's choice).
        segment: u64,
        /// The byte range of that content.
        range: Range<u64>,
    },
    /// An encoded command part.
    Command(Bytes),
    /// Pieces that do not form one contiguous range of one segment.
    Corrupt {
        /// Total length.
        len: u64,
    },
}

impl VirtualPayload {
    /// A whole segment of `len` bytes.
    pub fn segment(segment: u64, len: u64) -> Self {
        Self::Segment {
            segment,
            range: 0..len,
        }
    }
}

fn to_usize(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

impl Payload for VirtualPayload {
    fn len(&self) -> usize {
        match self {
            Self::Segment { range, .. } => to_usize(range.end - range.start),
            Self::Command(b) => b.len(),
            Self::Corrupt { len } => to_usize(*len),
        }
    }

    fn slice(&self, r: Range<usize>) -> Self {
        let (start, end) = (r.start as u64, r.end as u64);
        match self {
            Self::Segment { segment, range } => Self::Segment {
                segment: *segment,
                range: range.start + start..range.start + end,
            },
            Self::Command(b) => Self::Command(b.slice(r)),
            Self::Corrupt { .. } => Self::Corrupt { len: end - start },
        }
    }

    fn concat(pieces: &[Self]) -> Self {
        let total: u64 = pieces.iter().map(|p| p.len() as u64).sum();
        let mut joined: Option<(u64, Range<u64>)> = None;
        for piece in pieces.iter().filter(|p| !p.is_empty()) {
            joined = match (joined, piece) {
                (None, Self::Segment { segment, range }) => Some((*segment, range.clone())),
                (Some((s, r)), Self::Segment { segment, range })
                    if s == *segment && r.end == range.start =>
                {
                    Some((s, r.start..range.end))
                }
                _ => return Self::Corrupt { len: total },
            };
        }
        match joined {
            Some((segment, range)) => Self::Segment { segment, range },
            None => Self::Corrupt { len: 0 },
        }
    }

    fn from_command(bytes: Vec<u8>) -> Self {
        Self::Command(Bytes::from(bytes))
    }

    fn command_bytes(&self) -> Option<&[u8]> {
        match self {
            Self::Command(b) => Some(b),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_pieces_join_only_when_contiguous() {
        let whole = VirtualPayload::segment(7, 100);
        let parts = [
            whole.slice(0..40),
            whole.slice(40..90),
            whole.slice(90..100),
        ];
        assert_eq!(VirtualPayload::concat(&parts), whole);
        let gap = [whole.slice(0..40), whole.slice(50..100)];
        assert_eq!(
            VirtualPayload::concat(&gap),
            VirtualPayload::Corrupt { len: 90 }
        );
        let other = [
            whole.slice(0..40),
            VirtualPayload::segment(8, 100).slice(40..100),
        ];
        assert!(matches!(
            VirtualPayload::concat(&other),
            VirtualPayload::Corrupt { .. }
        ));
        // A resumed download: bytes from one peer, then the rest from another.
        let resumed = [whole.slice(0..10), whole.slice(10..100)];
        assert_eq!(VirtualPayload::concat(&resumed), whole);
    }

    #[test]
    fn real_bytes_join() {
        let parts = [Bytes::from_static(b"ab"), Bytes::from_static(b"cd")];
        assert_eq!(
            <Bytes as Payload>::concat(&parts),
            Bytes::from_static(b"abcd")
        );
        assert_eq!(Payload::slice(&parts[0], 1..2), Bytes::from_static(b"b"));
    }
}
