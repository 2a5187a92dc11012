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

    /// Joins a download's pieces while they arrive (see [`Joiner`]).
    type Joiner: Joiner<Self>;
}

/// Joins a segment's pieces while they arrive, so that its last piece
/// finishes it without copying all of it at once.
///
/// Joining a whole segment when its last byte comes in keeps the engine
/// busy (a millisecond for 4 MiB) before it can ask the peer for the next
/// one, and the channel stands idle meanwhile. A joiner spreads that copy
/// over the download.
///
/// ```
/// use bytes::Bytes;
/// use p2pml_core::payload::{Joiner, Payload};
///
/// let mut joiner = <Bytes as Payload>::Joiner::default();
/// joiner.push(&Bytes::from_static(b"seg"), Some(7));
/// joiner.push(&Bytes::from_static(b"ment"), Some(7));
/// assert_eq!(joiner.finish(), Bytes::from_static(b"segment"));
/// ```
pub trait Joiner<P>: Default + std::fmt::Debug {
    /// Appends `piece`; `total` is the segment's full length when known.
    fn push(&mut self, piece: &P, total: Option<u64>);

    /// Keeps only the first `len` bytes.
    fn truncate(&mut self, len: usize);

    /// Everything pushed, in order, as one payload.
    fn finish(self) -> P;
}

/// A joiner that holds the pieces and joins them with [`Payload::concat`]
/// at the end: for payloads whose join costs nothing.
#[derive(Debug)]
pub struct HeldPieces<P>(Vec<P>);

impl<P> Default for HeldPieces<P> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<P: Payload> Joiner<P> for HeldPieces<P> {
    fn push(&mut self, piece: &P, _total: Option<u64>) {
        self.0.push(piece.clone());
    }

    fn truncate(&mut self, len: usize) {
        truncate_pieces(&mut self.0, len);
    }

    fn finish(self) -> P {
        P::concat(&self.0)
    }
}

/// Drops the bytes of `pieces` past `len`.
fn truncate_pieces<P: Payload>(pieces: &mut Vec<P>, len: usize) {
    let mut at = 0;
    let keep = pieces
        .iter()
        .take_while(|p| {
            let start = at;
            at += p.len();
            start < len
        })
        .count();
    pieces.truncate(keep);
    let held: usize = pieces.iter().map(P::len).sum();
    if held > len
        && let Some(last) = pieces.pop()
    {
        let cut = last.len() - (held - len);
        pieces.push(last.slice(0..cut));
    }
}

/// Real bytes, joined into one buffer of the segment's size as they come.
///
/// The buffer is taken only once a sixteenth of the announced size has
/// arrived: a peer that announces 128 MiB and sends a few bytes does not make
/// us reserve 128 MiB. Until then (and when the size is unknown) the pieces
/// are held and joined at the end.
#[derive(Debug, Default)]
pub struct BytesJoiner {
    held: Vec<Bytes>,
    /// The length of `held`.
    held_len: usize,
    joined: Option<Vec<u8>>,
}

impl Joiner<Bytes> for BytesJoiner {
    fn push(&mut self, piece: &Bytes, total: Option<u64>) {
        if let Some(buf) = &mut self.joined {
            buf.extend_from_slice(piece);
            return;
        }
        self.held.push(piece.clone());
        self.held_len += piece.len();
        let Some(total) = total.and_then(|t| usize::try_from(t).ok()) else {
            return;
        };
        if self.held.len() < 2 || total < pool::MIN_POOLED || self.held_len < total / 16 {
            return;
        }
        let mut buf = pool::take(total.max(self.held_len));
        self.held.drain(..).for_each(|p| buf.extend_from_slice(&p));
        self.held_len = 0;
        self.joined = Some(buf);
    }

    fn truncate(&mut self, len: usize) {
        match &mut self.joined {
            Some(buf) => buf.truncate(len),
            None => {
                truncate_pieces(&mut self.held, len);
                self.held_len = self.held_len.min(len);
            }
        }
    }

    fn finish(self) -> Bytes {
        match self.joined {
            Some(buf) => pool::freeze(buf),
            None => <Bytes as Payload>::concat(&self.held),
        }
    }
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

    type Joiner = BytesJoiner;
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

    type Joiner = HeldPieces<Self>;
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

    /// `len` bytes of a pattern, in pieces of `piece` bytes.
    fn pieces(len: usize, piece: usize) -> (Bytes, Vec<Bytes>) {
        #[expect(clippy::cast_possible_truncation, reason = "a byte pattern")]
        let whole: Bytes = (0..len).map(|i| (i * 7 + i / 251) as u8).collect();
        let parts = (0..len)
            .step_by(piece)
            .map(|at| whole.slice(at..(at + piece).min(len)))
            .collect();
        (whole, parts)
    }

    #[test]
    fn bytes_join_as_they_come_once_a_sixteenth_is_in() {
        let len = 1 << 20;
        let (whole, parts) = pieces(len, 65_535);
        let mut joiner = BytesJoiner::default();
        for (k, p) in parts.iter().enumerate() {
            joiner.push(p, Some(len as u64));
            // 65,535 bytes a piece: the second one passes a sixteenth.
            assert_eq!(joiner.joined.is_some(), k >= 1, "after piece {k}");
        }
        assert_eq!(joiner.finish(), whole);
    }

    #[test]
    fn an_announced_size_without_bytes_reserves_nothing() {
        let mut joiner = BytesJoiner::default();
        let (_, parts) = pieces(100_000, 10_000);
        for p in &parts {
            joiner.push(p, Some(128 << 20));
        }
        assert!(joiner.joined.is_none(), "reserved for 100 kB of 128 MiB");
        // Without a size, pieces are held and joined at the end.
        let (whole, parts) = pieces(600_000, 65_535);
        let mut joiner = BytesJoiner::default();
        parts.iter().for_each(|p| joiner.push(p, None));
        assert!(joiner.joined.is_none());
        assert_eq!(joiner.finish(), whole);
    }

    #[test]
    fn joiners_truncate_to_an_attempt_boundary_and_go_on() {
        let len = 1 << 20;
        let (whole, parts) = pieces(len, 65_535);
        // Joined buffer, held pieces (no size), and virtual pieces.
        for total in [Some(len as u64), None] {
            let mut joiner = BytesJoiner::default();
            parts[..6].iter().for_each(|p| joiner.push(p, total));
            // A failed attempt: its last two pieces go, and mid-piece too.
            joiner.truncate(4 * 65_535 + 10);
            let rest = whole.slice(4 * 65_535 + 10..len);
            joiner.push(&rest, total);
            assert_eq!(joiner.finish(), whole, "size known: {}", total.is_some());
        }
        let seg = VirtualPayload::segment(3, 1000);
        let mut joiner = HeldPieces::default();
        for at in (0..1000).step_by(100) {
            joiner.push(&seg.slice(at..at + 100), Some(1000));
        }
        joiner.truncate(250);
        joiner.push(&seg.slice(250..1000), Some(1000));
        assert_eq!(joiner.finish(), seg);
    }
}
