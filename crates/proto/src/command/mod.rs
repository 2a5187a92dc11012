//! P2P Media Loader 2.3.x peer commands (SPEC §1): the six commands peers send
//! each other over a data channel, their binary encoding, splitting into
//! messages, and the receive path (classify → join → decode).
//!
//! Sending:
//! ```
//! use p2pml_proto::command::{PeerCommand, SegmentRef, DEFAULT_MAX_MESSAGE_SIZE};
//! let cancel = PeerCommand::CancelSegmentRequest(SegmentRef { segment_id: 3, request_id: 0 });
//! let messages = cancel.encode(DEFAULT_MAX_MESSAGE_SIZE).unwrap();
//! assert_eq!(messages, [b"cstr\x05\x69\x01\x03\x72\x01\x00cend".to_vec()]);
//! ```
//!
//! Receiving:
//! ```
//! use p2pml_proto::command::{Incoming, PeerCommand, PeerMessageReader};
//! let mut reader = PeerMessageReader::default();
//! match reader.read(b"cstr\x05\x69\x01\x03\x72\x01\x00cend").unwrap() {
//!     Incoming::Command(PeerCommand::CancelSegmentRequest(r)) => assert_eq!(r.segment_id, 3),
//!     other => panic!("{other:?}"),
//! }
//! assert!(matches!(reader.read(&[1, 2, 3]).unwrap(), Incoming::SegmentData(_)));
//! ```

mod ext;
mod frame;
mod item;
mod typed;

pub use ext::{Extension, HELLO_CODE, LISTED_CODE, MAX_RELAYING_IDS, RELAY_VERSION, RELAYING_CODE};
pub use frame::{
    COMMAND_END, COMMAND_START, CommandJoiner, DEFAULT_MAX_COMMAND_LEN, DEFAULT_MAX_MESSAGE_SIZE,
    Joined, MessageKind, PART_END, PART_START, classify, looks_like_command,
};
pub use item::{Item, MAX_BLOCKS, MAX_ENTRIES_PER_BLOCK, MAX_STRING_LEN};
pub use typed::{
    Announcement, CommandCode, PeerCommand, RawCommand, SegmentData, SegmentRef, SegmentRequest,
};

/// Why a command could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// An id list needs more than 255 block entries; announce fewer ids
    /// (for example those nearest the playhead).
    #[error("id list needs {blocks} blocks; at most 255 fit in one list")]
    TooManyBlocks {
        /// Block entries the list would need.
        blocks: usize,
    },
    /// A string item is longer than 4095 bytes.
    #[error("string of {len} bytes exceeds the 4095-byte limit")]
    StringTooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// A size or offset does not fit the signed 64-bit integer encoding.
    #[error("field `{field}` value {value} does not fit a 64-bit signed integer")]
    IntOutOfRange {
        /// The field name.
        field: char,
        /// The value.
        value: u64,
    },
}

/// Why a command payload could not be decoded. Offsets count from the command
/// code byte (frames removed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The payload is empty: there is no command code.
    #[error("empty command")]
    Empty,
    /// An item or field ends past the end of the payload.
    #[error("truncated at byte {offset}: {needed} more byte(s) needed")]
    Truncated {
        /// Where the truncated element starts.
        offset: usize,
        /// Bytes it needs.
        needed: usize,
    },
    /// An item type nibble other than 0, 1 or 2.
    #[error("unknown item type {found} at byte {offset}")]
    UnknownType {
        /// Where the item starts.
        offset: usize,
        /// Its type nibble.
        found: u8,
    },
    /// An item of one type where another was required (for example inside an
    /// id list).
    #[error("expected {expected} at byte {offset}, found item type {found}")]
    UnexpectedType {
        /// Where the item starts.
        offset: usize,
        /// What was required.
        expected: &'static str,
        /// The type nibble found.
        found: u8,
    },
    /// An integer outside the signed 64-bit range.
    #[error("integer at byte {offset} does not fit a signed 64-bit integer")]
    IntOutOfRange {
        /// Where the integer starts.
        offset: usize,
    },
    /// A known command lacks a field it needs.
    #[error("command {code} lacks field `{field}`")]
    MissingField {
        /// The command code.
        code: u8,
        /// The missing field.
        field: char,
    },
    /// A known field has the wrong type or an impossible value.
    #[error("command {code} field `{field}`: {reason}")]
    InvalidField {
        /// The command code.
        code: u8,
        /// The field.
        field: char,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Why a received command part was dropped by a [`CommandJoiner`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    /// The message is not framed as a command part.
    #[error("message is not a command part")]
    NotACommandPart,
    /// A continuation part arrived with no first part before it.
    #[error("continuation part without a first part (no-first-chunk)")]
    NoFirstPart,
    /// A new command started before the previous one ended; both are dropped.
    #[error("new command started before the previous one completed (incomplete-joining)")]
    IncompleteJoining,
    /// The joined command would exceed the size cap; it is dropped.
    #[error("command exceeds {limit} bytes")]
    TooLong {
        /// The cap in bytes.
        limit: usize,
    },
}

/// Why a received message produced no command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiveError {
    /// The part could not be joined.
    #[error(transparent)]
    Join(#[from] JoinError),
    /// The joined command could not be decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// What one received data-channel message turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// A complete command.
    Command(PeerCommand),
    /// A part of a command that is still being joined.
    PartialCommand,
    /// Raw segment payload.
    SegmentData(&'a [u8]),
}

/// The receive path of one connection: classifies each message, joins command
/// parts and decodes complete commands. Errors leave it ready for the next
/// message, so a malformed command never poisons the connection.
#[derive(Debug, Default)]
pub struct PeerMessageReader {
    joiner: CommandJoiner,
}

impl PeerMessageReader {
    /// A reader whose joined commands may not exceed `max_command_len` bytes.
    pub fn new(max_command_len: usize) -> Self {
        Self {
            joiner: CommandJoiner::new(max_command_len),
        }
    }

    /// Whether a split command is partly received.
    pub fn is_joining(&self) -> bool {
        self.joiner.is_collecting()
    }

    /// Handles one received message.
    pub fn read<'a>(&mut self, message: &'a [u8]) -> Result<Incoming<'a>, ReceiveError> {
        if classify(message) == MessageKind::SegmentData {
            return Ok(Incoming::SegmentData(message));
        }
        // Nearly every command fits one message: decode it in place rather
        // than copy it into the joining buffer first.
        if let Some(body) = self.joiner.whole(message) {
            return Ok(Incoming::Command(PeerCommand::decode(body)?));
        }
        match self.joiner.push(message)? {
            Joined::Pending => Ok(Incoming::PartialCommand),
            Joined::Complete(payload) => Ok(Incoming::Command(PeerCommand::decode(&payload)?)),
        }
    }
}
