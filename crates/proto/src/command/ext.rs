//! Our extension commands (codes ≥ 6), spoken only between p2p-media-loader-rs
//! peers. P2P Media Loader 2.3.x decodes and ignores unknown codes (SPEC
//! §1.5), so sending them to a JS peer is harmless; we still send only
//! [`Extension::Hello`] to peers not yet known to be ours.
//!
//! - `Hello` (code 6, `v`: protocol version): "I am a p2p-media-loader-rs
//!   peer". Sent once when a channel opens.
//! - `Relaying` (code 7, `l`: segment ids): replaces the set of segments the
//!   sender is receiving right now and can stream on while they arrive. A
//!   `SegmentRequest` for one of them is answered with a `SegmentData` header
//!   carrying the full remaining size, then chunks as they come in; if the
//!   sender's own download fails, it sends `SegmentAbsent` for the request,
//!   and the bytes received so far stay valid for a resume.
//! - `Listed` (code 8, `i`: segment id): the newest segment of a live stream
//!   the sender's playlist lists, sent when its playlist gains one. Players
//!   refresh live playlists at different moments; whoever learns of a new
//!   segment first can seed it (see the core's seeding).
//!
//! ```
//! use p2pml_proto::command::{Extension, PeerCommand};
//! let hello = Extension::Hello { version: 1 };
//! let raw = hello.to_raw();
//! assert_eq!(raw.code, 6);
//! assert_eq!(Extension::from_raw(&raw), Some(hello));
//! assert!(PeerCommand::Extension(raw).encode(65_535).is_ok());
//! ```

use super::item::Item;
use super::typed::RawCommand;

/// Code of [`Extension::Hello`].
pub const HELLO_CODE: u8 = 6;
/// Code of [`Extension::Relaying`].
pub const RELAYING_CODE: u8 = 7;
/// Code of [`Extension::Listed`].
pub const LISTED_CODE: u8 = 8;
/// The relay protocol version we speak.
pub const RELAY_VERSION: i64 = 1;
/// Most ids a `Relaying` list may carry; longer lists are refused (a peer
/// relays only what it is downloading, a handful of segments).
pub const MAX_RELAYING_IDS: usize = 64;

/// One of our extension commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extension {
    /// The sender is a p2p-media-loader-rs peer speaking relay `version`.
    Hello {
        /// Relay protocol version.
        version: i64,
    },
    /// The segments the sender can stream while they arrive (a replacement).
    Relaying {
        /// Segment external ids.
        ids: Vec<i64>,
    },
    /// The newest segment the sender's live playlist lists.
    Listed {
        /// Segment external id.
        id: i64,
    },
}

impl Extension {
    /// The raw command to send.
    pub fn to_raw(&self) -> RawCommand {
        match self {
            Self::Hello { version } => RawCommand {
                code: HELLO_CODE,
                fields: vec![(b'v', Item::Int(*version))],
            },
            Self::Relaying { ids } => RawCommand {
                code: RELAYING_CODE,
                fields: vec![(b'l', Item::IntArray(ids.clone()))],
            },
            Self::Listed { id } => RawCommand {
                code: LISTED_CODE,
                fields: vec![(b'i', Item::Int(*id))],
            },
        }
    }

    /// Reads one of our extensions; `None` for other codes and for
    /// malformed or oversized ones.
    pub fn from_raw(raw: &RawCommand) -> Option<Self> {
        match raw.code {
            HELLO_CODE => match raw.get(b'v') {
                Some(Item::Int(version)) => Some(Self::Hello { version: *version }),
                _ => None,
            },
            RELAYING_CODE => match raw.get(b'l') {
                Some(Item::IntArray(ids)) if ids.len() <= MAX_RELAYING_IDS => {
                    Some(Self::Relaying { ids: ids.clone() })
                }
                None => Some(Self::Relaying { ids: Vec::new() }),
                _ => None,
            },
            LISTED_CODE => match raw.get(b'i') {
                Some(Item::Int(id)) => Some(Self::Listed { id: *id }),
                _ => None,
            },
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects() {
        let r = Extension::Relaying {
            ids: vec![5, 6, 300],
        };
        assert_eq!(Extension::from_raw(&r.to_raw()), Some(r));
        let empty = Extension::Relaying { ids: vec![] };
        assert_eq!(Extension::from_raw(&empty.to_raw()), Some(empty));
        let big = Extension::Relaying {
            ids: (0..65).collect(),
        };
        assert_eq!(Extension::from_raw(&big.to_raw()), None);
        let listed = Extension::Listed { id: 1_000_000 };
        assert_eq!(Extension::from_raw(&listed.to_raw()), Some(listed));
        let bare = RawCommand {
            code: LISTED_CODE,
            fields: vec![],
        };
        assert_eq!(Extension::from_raw(&bare), None);
        let wrong = RawCommand {
            code: HELLO_CODE,
            fields: vec![(b'v', Item::String("1".into()))],
        };
        assert_eq!(Extension::from_raw(&wrong), None);
        let other = RawCommand {
            code: 99,
            fields: vec![],
        };
        assert_eq!(Extension::from_raw(&other), None);
    }
}
