//! Swarm identity (SPEC §2.2, §3): which swarm a stream's peers meet in, and
//! the 20-byte ids the tracker protocol carries.
//!
//! ```
//! use p2pml_proto::identity::{InfoHash, StreamDescriptor, StreamType, stream_swarm_id, swarm_id_from_manifest_url};
//! let swarm = swarm_id_from_manifest_url("https://example.com/hls/master.m3u8?token=abc123");
//! let level = StreamDescriptor {
//!     bitrate: Some(2_000_000.0),
//!     codecs: Some("avc1.64001f".into()),
//!     width: Some(1280),
//!     height: Some(720),
//!     frame_rate: Some("30.000".into()),
//!     ..Default::default()
//! };
//! assert_eq!(level.short_id(), "NqsTkWHiCF+FGmHQvwp+Aigq4Tk=");
//! let id = stream_swarm_id(swarm, StreamType::Main, &level.short_id());
//! assert_eq!(InfoHash::from_stream_swarm_id(&id).to_string(), "1O4gjNdlI6cBBN+l8Qtc");
//! ```

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use md5::Md5;
use sha1::{Digest, Sha1};

use crate::js;

/// The peer-protocol version that prefixes every stream swarm id.
pub const PEER_PROTOCOL_VERSION: &str = "v2";
/// The peer id prefix of P2P Media Loader 2.3.x: `-PM` + major + minor + `-`.
pub const DEFAULT_PEER_ID_PREFIX: &str = "-PM0203-";
/// The peer id prefix of P2P Media Loader 2.2.x.
pub const LEGACY_2_2_PEER_ID_PREFIX: &str = "-PM0202-";
const PEER_ID_ALPHABET: &[u8; 62] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Whether a stream is the main rendition (video, or audio-only variants) or
/// a secondary one (alternative audio).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamType {
    /// `main`.
    Main,
    /// `secondary`.
    Secondary,
}

impl StreamType {
    /// The string used in stream swarm ids.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Main => "main",
            Self::Secondary => "secondary",
        }
    }
}

impl std::str::FromStr for StreamType {
    type Err = IdentityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "main" => Ok(Self::Main),
            "secondary" => Ok(Self::Secondary),
            _ => Err(IdentityError::UnknownStreamType(s.to_owned())),
        }
    }
}

/// Errors building identities.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// Stream types are `main` or `secondary`.
    #[error("unknown stream type {0:?} (expected main or secondary)")]
    UnknownStreamType(String),
    /// A peer id prefix leaves no room in 20 bytes.
    #[error("peer id prefix {0:?} is longer than 20 bytes")]
    PrefixTooLong(String),
}

/// The rendition attributes that P2P Media Loader 2.3 hashes into a stream's
/// short id (`generateStreamShortId`). Field values are given as the player
/// integration reads them; normalisation happens in [`Self::preimage`].
///
/// `None` and empty strings are both "missing", as JS's falsy checks treat
/// them. Integrations pass numeric `channels`/`frame_rate` as strings (and
/// leave out a numeric 0, which JS treats as missing).
///
/// What the hls.js integration puts here (SPEC §3.3), which the hash depends
/// on: for a `main` stream (each `EXT-X-STREAM-INF`), the bitrate and, only if
/// that bitrate is not 0, the **video** codecs, resolution, frame rate and
/// video range; for a `secondary` stream (each `EXT-X-MEDIA TYPE=AUDIO`),
/// bitrate 0, the **audio** codec, language, channels and name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamDescriptor {
    /// Bits per second (hls.js: BANDWIDTH, else AVERAGE-BANDWIDTH); `None` is 0.
    pub bitrate: Option<f64>,
    /// Comma-separated codecs: only the video ones for a main stream, the
    /// audio one for a secondary stream (not the whole `CODECS` attribute).
    pub codecs: Option<String>,
    /// Width in pixels.
    pub width: Option<u32>,
    /// Height in pixels.
    pub height: Option<u32>,
    /// Language tag; `und` counts as missing.
    pub language: Option<String>,
    /// Channel count, possibly with a suffix (`16/JOC`).
    pub channels: Option<String>,
    /// Rendition name.
    pub name: Option<String>,
    /// Frame rate as written in the playlist (`30.000`).
    pub frame_rate: Option<String>,
    /// `SDR`, `PQ` or `HLG`.
    pub video_range: Option<String>,
}

fn present(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

impl StreamDescriptor {
    /// The normalised string that is hashed:
    /// `{bitrate}-{codecs}-{width}-{height}-{language}-{channels}-{name}-{frameRate}-{videoRange}`.
    pub fn preimage(&self) -> String {
        let bitrate = js::number_to_string(self.bitrate.unwrap_or(0.0));
        let codecs = present(&self.codecs)
            .map(normalize_codecs)
            .unwrap_or_default();
        let width = self.width.map(|w| w.to_string()).unwrap_or_default();
        let height = self.height.map(|h| h.to_string()).unwrap_or_default();
        let language = present(&self.language)
            .filter(|l| *l != "und")
            .map(|l| js::slice_utf16(l, 2).to_lowercase())
            .unwrap_or_default();
        let channels = present(&self.channels)
            .map(|c| c.split('/').next().unwrap_or_default().to_owned())
            .unwrap_or_default();
        let name = present(&self.name)
            .map(|n| js::trim(&n.to_lowercase()).to_owned())
            .unwrap_or_default();
        let frame_rate = present(&self.frame_rate)
            .map(js::string_to_number)
            .filter(|f| !f.is_nan())
            .map(js::number_to_string)
            .unwrap_or_default();
        let video_range = present(&self.video_range)
            .map(|v| js::trim(&v.to_uppercase()).to_owned())
            .unwrap_or_default();
        format!(
            "{bitrate}-{codecs}-{width}-{height}-{language}-{channels}-{name}-{frame_rate}-{video_range}"
        )
    }

    /// The stream's short id ("index"): Base64 of the SHA-1 of the pre-image,
    /// 28 characters with one `=`.
    pub fn short_id(&self) -> String {
        BASE64.encode(Sha1::digest(self.preimage().as_bytes()))
    }
}

/// Lower-cases and trims each codec, rewrites decimal `avc1.P.L` as
/// `avc1.PP00LL`, and sorts the list in JS order.
fn normalize_codecs(codecs: &str) -> String {
    let mut list: Vec<String> = codecs
        .split(',')
        .map(|c| {
            let c = js::trim(&c.to_lowercase()).to_owned();
            decimal_avc_to_hex(&c).unwrap_or(c)
        })
        .collect();
    list.sort_by(|a, b| js::cmp_utf16(a, b));
    list.join(",")
}

fn decimal_avc_to_hex(codec: &str) -> Option<String> {
    let mut parts = codec.split('.');
    let (prefix, profile, level) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !matches!(prefix, "avc1" | "avc") {
        return None;
    }
    let hex = |s: &str| canonical_integer(s).map(|v| format!("{:0>2}", js_hex(v)));
    Some(format!("{prefix}.{}00{}", hex(profile)?, hex(level)?))
}

/// `s` if it is exactly what JS prints for `parseInt(s, 10)`.
fn canonical_integer(s: &str) -> Option<f64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: f64 = s.parse().ok()?;
    (js::number_to_string(v) == s).then_some(v)
}

/// JS `n.toString(16)` for an integral `n` below 1e21.
#[expect(clippy::cast_possible_truncation, reason = "integral and below 2^70")]
fn js_hex(v: f64) -> String {
    // Integral and below 1e21 < 2^70, so the conversion is exact.
    let magnitude = v.abs() as u128;
    let sign = if v < 0.0 { "-" } else { "" };
    format!("{sign}{magnitude:x}")
}

/// The swarm id P2P Media Loader derives from a manifest URL when none is
/// configured: everything before the first `?` (a `#fragment` is kept).
pub fn swarm_id_from_manifest_url(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

/// `v2-{swarmId}-{main|secondary}-{index}`: the string a stream's info hash
/// and storage keys derive from.
pub fn stream_swarm_id(swarm_id: &str, stream_type: StreamType, index: &str) -> String {
    format!(
        "{PEER_PROTOCOL_VERSION}-{swarm_id}-{}-{index}",
        stream_type.as_str()
    )
}

macro_rules! id20 {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; 20]);

        impl $name {
            /// The 20 bytes.
            pub fn as_bytes(&self) -> &[u8; 20] {
                &self.0
            }

            /// The id as a tracker "binary string": one char (U+0000–U+00FF) per byte.
            pub fn to_binary_string(&self) -> String {
                self.0.iter().map(|&b| char::from(b)).collect()
            }

            /// Parses a tracker "binary string" of exactly 20 chars, each ≤ U+00FF.
            pub fn from_binary_string(s: &str) -> Result<Self, BinaryStringError> {
                parse_binary_string(s).map(Self)
            }
        }

        impl From<[u8; 20]> for $name {
            fn from(bytes: [u8; 20]) -> Self {
                Self(bytes)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self)
            }
        }

        /// Printable ASCII ids print as text (P2P Media Loader's ids are
        /// ASCII); anything else prints as hex.
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                if self.0.iter().all(|b| b.is_ascii_graphic()) {
                    self.0.iter().try_for_each(|&b| write!(f, "{}", char::from(b)))
                } else {
                    self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_binary_string())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::from_binary_string(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

id20!(
    /// A swarm's tracker `info_hash`: for P2P Media Loader, 20 ASCII characters
    /// (Base64 of 15 bytes of SHA-1), not a hex digest.
    InfoHash
);
id20!(
    /// A peer's 20-byte tracker `peer_id`; P2P Media Loader uses
    /// `-PM0203-` plus 12 random alphanumerics, one per info hash.
    PeerId
);
id20!(
    /// The 20 random bytes that pair an offer with its answer.
    OfferId
);

/// A tracker binary string that is not 20 chars of U+0000–U+00FF.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BinaryStringError {
    /// Some character is above U+00FF, so it is not one byte.
    #[error("character {0:?} is not a byte (above U+00FF)")]
    NotAByte(char),
    /// Not exactly 20 characters.
    #[error("expected 20 bytes, found {0}")]
    WrongLength(usize),
}

fn parse_binary_string(s: &str) -> Result<[u8; 20], BinaryStringError> {
    let mut out = [0u8; 20];
    let mut n = 0;
    for c in s.chars() {
        let b = u8::try_from(u32::from(c)).map_err(|_| BinaryStringError::NotAByte(c))?;
        if let Some(slot) = out.get_mut(n) {
            *slot = b;
        }
        n += 1;
    }
    if n == 20 {
        Ok(out)
    } else {
        Err(BinaryStringError::WrongLength(n))
    }
}

fn twenty(bytes: &[u8]) -> [u8; 20] {
    let mut out = [0u8; 20];
    out.iter_mut().zip(bytes).for_each(|(o, b)| *o = *b);
    out
}

impl InfoHash {
    /// P2P Media Loader 2.3.x: Base64 of the first 15 bytes of SHA-1 of the
    /// stream swarm id — 20 ASCII characters.
    pub fn from_stream_swarm_id(stream_swarm_id: &str) -> Self {
        let digest = Sha1::digest(stream_swarm_id.as_bytes());
        Self(twenty(
            BASE64
                .encode(digest.get(..15).unwrap_or_default())
                .as_bytes(),
        ))
    }

    /// P2P Media Loader 2.2.x: Base64 of bytes 1..16 of MD5. 2.2 stream ids use
    /// the rendition's position (`…-main-0`) as the index. Such swarms never
    /// meet 2.3 swarms; use this only to serve 2.2 peers.
    pub fn legacy_2_2_from_stream_swarm_id(stream_swarm_id: &str) -> Self {
        let digest = Md5::digest(stream_swarm_id.as_bytes());
        Self(twenty(
            BASE64
                .encode(digest.get(1..16).unwrap_or_default())
                .as_bytes(),
        ))
    }
}

impl PeerId {
    /// `prefix` followed by random `[A-Za-z0-9]` up to 20 bytes, drawn from
    /// `rng` (seed it for reproducible runs). Use a separate id per info hash:
    /// wt-tracker moves a peer id between swarms.
    pub fn generate(prefix: &str, rng: &mut impl rand_core::Rng) -> Result<Self, IdentityError> {
        if prefix.len() > 20 {
            return Err(IdentityError::PrefixTooLong(prefix.to_owned()));
        }
        let mut out = twenty(prefix.as_bytes());
        for slot in out.iter_mut().skip(prefix.len()) {
            // Rejection sampling keeps the 62 symbols equally likely.
            *slot = loop {
                let x = (rng.next_u32() >> 26) as usize;
                if let Some(&c) = PEER_ID_ALPHABET.get(x) {
                    break c;
                }
            };
        }
        Ok(Self(out))
    }

    /// The id as P2P Media Loader reports it in events (`peerId`): its bytes
    /// as UTF-8, lossily.
    pub fn to_utf8_lossy(&self) -> String {
        String::from_utf8_lossy(&self.0).into_owned()
    }
}

/// The peer id prefix P2P Media Loader uses for a library version `major.minor`.
pub fn peer_id_prefix_for_version(major: u8, minor: u8) -> String {
    format!("-PM{major:02}{minor:02}-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codec_normalisation() {
        assert_eq!(normalize_codecs("avc1.66.30"), "avc1.42001e");
        assert_eq!(
            normalize_codecs(" MP4A.40.2 , avc1.100.31"),
            "avc1.64001f,mp4a.40.2"
        );
        // Not canonical decimals: left alone.
        assert_eq!(normalize_codecs("avc1.066.30"), "avc1.066.30");
        assert_eq!(normalize_codecs("avc1.-0.30"), "avc1.-0.30");
        assert_eq!(normalize_codecs("avc1.4d.40"), "avc1.4d.40");
        assert_eq!(normalize_codecs("avc.5.300"), "avc.050012c");
        assert_eq!(normalize_codecs("avc1.-5.1"), "avc1.-50001");
    }

    #[test]
    fn descriptor_normalisation() {
        let d = StreamDescriptor {
            language: Some("en-US".into()),
            channels: Some("6".into()),
            name: Some("  Main Audio ".into()),
            frame_rate: Some("abc".into()),
            video_range: Some(" pq".into()),
            ..Default::default()
        };
        assert_eq!(d.preimage(), "0----en-6-main audio--PQ");
        let empty = StreamDescriptor {
            codecs: Some(String::new()),
            language: Some("und".into()),
            frame_rate: Some(" ".into()),
            ..Default::default()
        };
        // " " is truthy in JS and Number(" ") is 0.
        assert_eq!(empty.preimage(), "0-------0-");
    }

    #[test]
    fn binary_strings() {
        let id = OfferId::from_binary_string(
            "\u{cf}\u{b5}\u{c}CqT\u{f7}u\u{9e}P\u{a8}\u{b2}\u{cb}\u{d2}\u{fb}\u{15}5\u{7}x\u{e4}",
        )
        .unwrap();
        assert_eq!(id.0[0], 0xcf);
        assert_eq!(OfferId::from_binary_string(&id.to_binary_string()), Ok(id));
        assert_eq!(
            PeerId::from_binary_string("short"),
            Err(BinaryStringError::WrongLength(5))
        );
        assert!(matches!(
            PeerId::from_binary_string("€€€€€€€€€€€€€€€€€€€€"),
            Err(BinaryStringError::NotAByte('€'))
        ));
    }

    #[test]
    fn prefixes() {
        assert_eq!(peer_id_prefix_for_version(2, 3), DEFAULT_PEER_ID_PREFIX);
        assert_eq!(peer_id_prefix_for_version(2, 2), LEGACY_2_2_PEER_ID_PREFIX);
    }
}
