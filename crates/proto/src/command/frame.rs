//! Framing of command payloads into data-channel messages, and joining them
//! back (SPEC §1.2–1.3).
//!
//! A command travels as one or more messages framed by 4-byte ASCII markers:
//! `cstr…cend` when it fits, otherwise `cstr…dend`, `dstr…dend`*, `dstr…cend`.
//! Any message that does not both start and end with a marker is raw segment
//! data.

use super::JoinError;

/// Marker opening the first part of a command.
pub const COMMAND_START: [u8; 4] = *b"cstr";
/// Marker closing the last part of a command.
pub const COMMAND_END: [u8; 4] = *b"cend";
/// Marker opening a continuation part.
pub const PART_START: [u8; 4] = *b"dstr";
/// Marker closing a part that more parts follow.
pub const PART_END: [u8; 4] = *b"dend";
const MARKER_LEN: usize = 4;
const FRAMES_LEN: usize = 2 * MARKER_LEN;

/// P2P Media Loader's default `webRtcMaxMessageSize`: 64 KiB − 1.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 65_535;

/// Default cap on a joined command payload. The largest command a compliant
/// peer sends is an announcement of two lists of 255 full blocks, about
/// 135 KB; 1 MiB leaves room for extensions while bounding memory per peer.
pub const DEFAULT_MAX_COMMAND_LEN: usize = 1 << 20;

/// What a received data-channel message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// A whole command, or one part of a split command.
    CommandPart,
    /// A raw chunk of segment payload.
    SegmentData,
}

/// Classifies a received message exactly as JS peers do: a command part starts
/// with `cstr`/`dstr` and ends with `cend`/`dend`; anything else is data.
///
/// ```
/// use p2pml_proto::command::{classify, MessageKind};
/// assert_eq!(classify(b"cstr\x00cend"), MessageKind::CommandPart);
/// assert_eq!(classify(&[0u8; 100]), MessageKind::SegmentData);
/// ```
pub fn classify(message: &[u8]) -> MessageKind {
    let head = message.first_chunk::<MARKER_LEN>();
    let tail = message.last_chunk::<MARKER_LEN>();
    match (head, tail) {
        (Some(h), Some(t))
            if (*h == COMMAND_START || *h == PART_START)
                && (*t == COMMAND_END || *t == PART_END) =>
        {
            MessageKind::CommandPart
        }
        _ => MessageKind::SegmentData,
    }
}

/// Whether sending `chunk` as raw segment data would be mistaken for a command
/// part by the receiver. Senders shift a chunk boundary when this is true.
pub fn looks_like_command(chunk: &[u8]) -> bool {
    classify(chunk) == MessageKind::CommandPart
}

/// Frames a payload into messages, splitting it exactly as P2P Media Loader
/// 2.3.x does so that output is byte-identical to JS peers.
///
/// The split count is `ceil(len / max)`, plus one if the parts would then not
/// fit with their frames; that correction is applied once only, so for very
/// small `max` parts exceed it (golden vectors 18 and 30). Parts stay within
/// `max` whenever `len <= max²/9 − max`: with the default 65 535 that is any
/// payload up to about 477 MB. `max` of zero is treated as one.
pub(crate) fn frame_payload(payload: &[u8], max_message_size: usize) -> Vec<Vec<u8>> {
    let max = max_message_size.max(1);
    if payload.len() + FRAMES_LEN <= max {
        return vec![framed(payload, COMMAND_START, COMMAND_END)];
    }
    let mut parts = payload.len().div_ceil(max);
    if payload.len().div_ceil(parts) + FRAMES_LEN > max {
        parts += 1;
    }
    let part_len = payload.len().div_ceil(parts);
    (0..parts)
        .map(|i| {
            let start = (i * part_len).min(payload.len());
            let end = ((i + 1) * part_len).min(payload.len());
            let body = payload.get(start..end).unwrap_or_default();
            let head = if i == 0 { COMMAND_START } else { PART_START };
            let tail = if i == parts - 1 {
                COMMAND_END
            } else {
                PART_END
            };
            framed(body, head, tail)
        })
        .collect()
}

fn framed(body: &[u8], head: [u8; 4], tail: [u8; 4]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + FRAMES_LEN);
    out.extend_from_slice(&head);
    out.extend_from_slice(body);
    out.extend_from_slice(&tail);
    out
}

/// Re-joins the parts of split commands received on one connection.
///
/// It keeps JS semantics, including that "collecting" means "holds bytes": a
/// `cstr` part while bytes are held drops them and the new part; a `dstr`
/// part with no bytes held is dropped. In both cases an error says so, and
/// the joiner is ready for the next command. Unlike JS, the joined size is
/// capped.
///
/// ```
/// use p2pml_proto::command::{CommandJoiner, Joined};
/// let mut joiner = CommandJoiner::default();
/// assert_eq!(joiner.push(b"cstr\x04idend").unwrap(), Joined::Pending);
/// assert_eq!(joiner.push(b"dstr\x01\x03cend").unwrap(), Joined::Complete(vec![4, b'i', 1, 3]));
/// ```
#[derive(Debug)]
pub struct CommandJoiner {
    collected: Vec<u8>,
    max_command_len: usize,
}

/// The result of adding one part to a [`CommandJoiner`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Joined {
    /// More parts are expected.
    Pending,
    /// The command payload is complete (frames removed).
    Complete(Vec<u8>),
}

impl Default for CommandJoiner {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_COMMAND_LEN)
    }
}

impl CommandJoiner {
    /// A joiner that refuses commands whose payload exceeds `max_command_len` bytes.
    pub fn new(max_command_len: usize) -> Self {
        Self {
            collected: Vec::new(),
            max_command_len,
        }
    }

    /// Whether a split command is partly collected.
    pub fn is_collecting(&self) -> bool {
        !self.collected.is_empty()
    }

    /// The payload of `part` if it is a whole command by itself (first and
    /// last part, within the length limit) and nothing is being collected:
    /// what [`Self::push`] would return, without copying it.
    pub fn whole<'a>(&self, part: &'a [u8]) -> Option<&'a [u8]> {
        let whole = !self.is_collecting()
            && classify(part) == MessageKind::CommandPart
            && part.starts_with(&COMMAND_START)
            && part.ends_with(&COMMAND_END);
        let body = part.get(MARKER_LEN..part.len().checked_sub(MARKER_LEN)?)?;
        (whole && body.len() <= self.max_command_len).then_some(body)
    }

    /// Adds one received command part (see [`classify`]).
    pub fn push(&mut self, part: &[u8]) -> Result<Joined, JoinError> {
        if classify(part) != MessageKind::CommandPart {
            return Err(JoinError::NotACommandPart);
        }
        let first = part.starts_with(&COMMAND_START);
        let last = part.ends_with(&COMMAND_END);
        if self.is_collecting() && first {
            self.reset();
            return Err(JoinError::IncompleteJoining);
        }
        if !self.is_collecting() && !first {
            return Err(JoinError::NoFirstPart);
        }
        let body = part
            .get(MARKER_LEN..part.len() - MARKER_LEN)
            .unwrap_or_default();
        if self.collected.len() + body.len() > self.max_command_len {
            self.reset();
            return Err(JoinError::TooLong {
                limit: self.max_command_len,
            });
        }
        self.collected.extend_from_slice(body);
        if last {
            return Ok(Joined::Complete(std::mem::take(&mut self.collected)));
        }
        Ok(Joined::Pending)
    }

    /// Drops any partly collected command.
    pub fn reset(&mut self) {
        self.collected = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_messages_are_data() {
        for m in [&b""[..], b"cstr", b"cstrcen", b"dstrdend"[..7].as_ref()] {
            assert_eq!(classify(m), MessageKind::SegmentData, "{m:?}");
        }
        assert_eq!(classify(b"dstrdend"), MessageKind::CommandPart);
    }

    #[test]
    fn degenerate_split_matches_js() {
        let parts = frame_payload(&[4, 0x69, 2, 3, 0xe8, 0x72, 2, 3, 0xe8], 3);
        let hex: Vec<String> = parts
            .iter()
            .map(|p| p.iter().map(|b| format!("{b:02x}")).collect())
            .collect();
        assert_eq!(
            hex,
            [
                "6373747204690264656e64",
                "6473747203e87264656e64",
                "647374720203e864656e64",
                "6473747263656e64"
            ]
        );
    }

    #[test]
    fn joiner_errors_reset_state() {
        let mut j = CommandJoiner::default();
        assert_eq!(j.push(b"dstr\x01cend"), Err(JoinError::NoFirstPart));
        assert_eq!(j.push(b"cstr\x01dend"), Ok(Joined::Pending));
        assert_eq!(j.push(b"cstr\x02cend"), Err(JoinError::IncompleteJoining));
        assert!(!j.is_collecting());
        assert_eq!(j.push(b"cstr\x03cend"), Ok(Joined::Complete(vec![3])));
        assert_eq!(j.push(b"data"), Err(JoinError::NotACommandPart));
        // As in JS, an empty first part leaves nothing collected.
        assert_eq!(j.push(b"cstrdend"), Ok(Joined::Pending));
        assert_eq!(j.push(b"dstr\x04cend"), Err(JoinError::NoFirstPart));
    }

    #[test]
    fn a_whole_command_is_what_pushing_it_alone_returns() {
        let messages: [&[u8]; 9] = [
            b"cstr\x01\x02cend",
            b"cstrcend",
            b"cstr\x01dend",
            b"dstr\x01cend",
            b"cstr\x01\x02\x03\x04\x05cend",
            b"data",
            b"cstrend",
            b"cstr",
            b"",
        ];
        for m in messages {
            let mut fresh = CommandJoiner::new(4);
            let expected = match fresh.push(m) {
                Ok(Joined::Complete(body)) => Some(body),
                _ => None,
            };
            let j = CommandJoiner::new(4);
            assert_eq!(j.whole(m).map(<[u8]>::to_vec), expected, "{m:?}");
        }
        // While a split command is collected, nothing is whole.
        let mut j = CommandJoiner::new(4);
        assert_eq!(j.push(b"cstr\x01dend"), Ok(Joined::Pending));
        assert_eq!(j.whole(b"cstr\x01cend"), None);
    }

    #[test]
    fn joiner_caps_the_command_size() {
        let mut j = CommandJoiner::new(4);
        assert_eq!(j.push(b"cstr\x01\x02dend"), Ok(Joined::Pending));
        assert_eq!(
            j.push(b"dstr\x03\x04\x05cend"),
            Err(JoinError::TooLong { limit: 4 })
        );
        assert!(!j.is_collecting());
    }
}
