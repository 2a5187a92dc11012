//! Errors of the origin server.

use std::path::PathBuf;

/// Why the origin could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum OriginError {
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A served directory does not exist or is not a directory.
    #[error("not a directory: {0}")]
    NotADirectory(PathBuf),
    /// A mount prefix is not of the form `/name`.
    #[error("a mount prefix must start with '/' and name at least one path component: {0:?}")]
    BadMountPrefix(String),
    /// Accepting a connection failed for a reason that will not pass.
    #[error("accept failed: {0}")]
    Accept(std::io::Error),
}

/// Why a VOD playlist could not be turned into a live one (answered with HTTP 500).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaylistError {
    /// The text does not start with `#EXTM3U`.
    #[error("not an M3U8 playlist")]
    NotM3u8,
    /// A master playlist where a media playlist was expected.
    #[error("a master playlist, not a media playlist")]
    NotMediaPlaylist,
    /// No `EXT-X-TARGETDURATION`, or zero.
    #[error("no usable EXT-X-TARGETDURATION")]
    NoTargetDuration,
    /// A media playlist without segments.
    #[error("no segments")]
    NoSegments,
    /// A tag that could not be read, or a URI line without `EXTINF`.
    #[error("malformed line: {0}")]
    BadTag(String),
    /// A URI that leaves the media root.
    #[error("URI leaves the media root: {0}")]
    OutsideRoot(String),
}
