//! WebTorrent tracker messages (SPEC §2): JSON text frames over a WebSocket.
//!
//! Outgoing messages serialize with the key order P2P Media Loader's client
//! (bittorrent-tracker) uses, so captures can be compared byte for byte.
//! Incoming messages parse leniently, because the three trackers in the field
//! differ: bittorrent-tracker, aquatic_ws and wt-tracker order keys
//! differently, add or omit `flags`, send failures with or without `action`,
//! send or skip an announce response after an answer, and wt-tracker forwards
//! answers with extra keys. Numbers are accepted as integers, floats or
//! numeric strings. The 20-byte ids are "binary strings": one char
//! (U+0000–U+00FF) per byte; see [`crate::identity::InfoHash`].
//!
//! ```
//! use p2pml_proto::identity::{InfoHash, PeerId};
//! use p2pml_proto::tracker::{AnnounceEvent, AnnounceRequest, ClientMessage, TrackerMessage};
//! let info_hash = InfoHash::from_binary_string("sNS9hkFnoJOLT+X2k7+f").unwrap();
//! let peer_id = PeerId::from_binary_string("-PM0203-5WtNoo3wtVui").unwrap();
//! let started = AnnounceRequest::new(info_hash, peer_id, Some(AnnounceEvent::Started), vec![]).unwrap();
//! let json = ClientMessage::Announce(started).to_json();
//! assert!(json.starts_with(r#"{"numwant":0,"uploaded":0,"downloaded":0,"event":"started","action":"announce""#));
//!
//! let reply = TrackerMessage::parse(r#"{"complete":0,"incomplete":1,"action":"announce","interval":120,"info_hash":"sNS9hkFnoJOLT+X2k7+f"}"#).unwrap();
//! let TrackerMessage::AnnounceResponse(r) = reply else { panic!() };
//! assert_eq!(r.interval_secs, Some(120.0));
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::identity::{BinaryStringError, InfoHash, OfferId, PeerId};

/// Largest JSON frame the parsers accept. aquatic_ws and wt-tracker cap
/// messages at 64 KiB too; an announce with 10 real offers is about 16 KiB.
pub const MAX_MESSAGE_LEN: usize = 64 * 1024;

/// Most offers we put in one announce. aquatic_ws relays at most 10, and
/// P2P Media Loader sends 5. [`AnnounceRequest::new`] sets `numwant` to the
/// number of offers (wt-tracker relays at most `numwant`).
pub const MAX_OFFERS_PER_ANNOUNCE: usize = 10;

/// The announce `event`. `update`, `empty` and a missing event all mean a
/// regular re-announce and parse as `None`; we never emit `update`, which
/// wt-tracker answers by closing the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnnounceEvent {
    /// First announce in a swarm.
    Started,
    /// Leaving the swarm (P2P Media Loader never sends it; trackers accept it).
    Stopped,
    /// The download completed.
    Completed,
    /// bittorrent-tracker's pause; aquatic_ws and wt-tracker reject it.
    Paused,
}

/// Offer or answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SdpType {
    /// An SDP offer.
    Offer,
    /// An SDP answer.
    Answer,
}

/// A WebRTC session description as carried by trackers: `{"type","sdp"}`.
/// The SDP is complete (non-trickle): it carries every ICE candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionDescription {
    /// `offer` or `answer`.
    #[serde(rename = "type")]
    pub kind: SdpType,
    /// The SDP text.
    pub sdp: String,
}

/// One offer of an announce.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    /// The offer SDP.
    pub offer: SessionDescription,
    /// Random id echoed back with the answer.
    pub offer_id: OfferId,
}

/// Client → tracker `announce` (without an answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceRequest {
    /// Peers wanted; P2P Media Loader sets it to the number of offers.
    pub numwant: u32,
    /// Bytes uploaded (P2P Media Loader always sends 0).
    pub uploaded: u64,
    /// Bytes downloaded (P2P Media Loader always sends 0).
    pub downloaded: u64,
    /// Bytes left, if sent; trackers treat `Some(0)` as a seeder.
    pub left: Option<u64>,
    /// The event, if any.
    pub event: Option<AnnounceEvent>,
    /// The swarm.
    pub info_hash: InfoHash,
    /// The announcing peer, unique per info hash.
    pub peer_id: PeerId,
    /// The tracker id a tracker returned earlier (`trackerid`).
    pub tracker_id: Option<String>,
    /// Offers the tracker relays to other peers of the swarm.
    pub offers: Vec<Offer>,
}

/// Client → tracker answer to a relayed offer (an `announce` with `answer`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerRequest {
    /// The swarm.
    pub info_hash: InfoHash,
    /// The answering peer.
    pub peer_id: PeerId,
    /// The peer whose offer is answered.
    pub to_peer_id: PeerId,
    /// The answer SDP.
    pub answer: SessionDescription,
    /// The id of the offer answered.
    pub offer_id: OfferId,
    /// The tracker id, if one was returned.
    pub tracker_id: Option<String>,
}

/// Client → tracker `scrape`. An empty list asks for every swarm, which
/// aquatic_ws refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrapeRequest {
    /// The swarms asked about.
    pub info_hashes: Vec<InfoHash>,
}

/// Any message a client sends to a tracker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMessage {
    /// Announce, with offers or an event.
    Announce(AnnounceRequest),
    /// Answer to a relayed offer.
    Answer(AnswerRequest),
    /// Scrape.
    Scrape(ScrapeRequest),
}

/// Tracker → client announce response.
#[derive(Debug, Clone, PartialEq)]
pub struct AnnounceResponse {
    /// The swarm (aquatic_ws, bittorrent-tracker and wt-tracker all send it).
    pub info_hash: Option<InfoHash>,
    /// Seconds until the next announce (`interval`, else `min interval`).
    pub interval_secs: Option<f64>,
    /// Seeders.
    pub complete: Option<u64>,
    /// Leechers.
    pub incomplete: Option<u64>,
    /// `tracker id` to echo as `trackerid`.
    pub tracker_id: Option<String>,
    /// `warning message`: processing continues.
    pub warning: Option<String>,
}

/// Tracker → client: another peer's offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayedOffer {
    /// The swarm.
    pub info_hash: InfoHash,
    /// The offering peer.
    pub peer_id: PeerId,
    /// The offer SDP.
    pub offer: SessionDescription,
    /// Echo this in the answer.
    pub offer_id: OfferId,
}

/// Tracker → client: the answer to one of our offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayedAnswer {
    /// The swarm.
    pub info_hash: InfoHash,
    /// The answering peer.
    pub peer_id: PeerId,
    /// The answer SDP.
    pub answer: SessionDescription,
    /// Which of our offers it answers.
    pub offer_id: OfferId,
}

/// Counts for one swarm in a scrape response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScrapeStats {
    /// Seeders.
    #[serde(default, deserialize_with = "lenient_count")]
    pub complete: u64,
    /// Leechers.
    #[serde(default, deserialize_with = "lenient_count")]
    pub incomplete: u64,
    /// Completed downloads.
    #[serde(default, deserialize_with = "lenient_count")]
    pub downloaded: u64,
}

/// Tracker → client scrape response. Unknown swarms may be missing
/// (aquatic_ws) or present with zero counts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScrapeResponse {
    /// Counts per swarm.
    pub files: BTreeMap<InfoHash, ScrapeStats>,
    /// bittorrent-tracker's `flags.min_request_interval`, in seconds.
    pub min_request_interval_secs: Option<u64>,
}

/// Which request a failure refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// `announce`.
    Announce,
    /// `scrape`.
    Scrape,
}

/// Tracker → client refusal (`failure reason`). bittorrent-tracker and
/// aquatic_ws omit `action` and `info_hash` when the request did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The refused request's action, if known.
    pub action: Option<Action>,
    /// The swarm, if known.
    pub info_hash: Option<InfoHash>,
    /// Why.
    pub reason: String,
}

/// Any message a tracker sends to a client.
#[derive(Debug, Clone, PartialEq)]
pub enum TrackerMessage {
    /// Reply to an announce.
    AnnounceResponse(AnnounceResponse),
    /// Another peer's offer to answer.
    Offer(RelayedOffer),
    /// An answer to one of our offers.
    Answer(RelayedAnswer),
    /// Reply to a scrape.
    Scrape(ScrapeResponse),
    /// A refusal.
    Failure(Failure),
}

/// Why a tracker message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrackerMessageError {
    /// Not a JSON object, or a field of the wrong JSON type.
    #[error("invalid JSON message: {0}")]
    Json(String),
    /// No `action` (and no `failure reason`).
    #[error("message has no action")]
    MissingAction,
    /// An action other than `announce` or `scrape`.
    #[error("unknown action {0:?}")]
    UnknownAction(String),
    /// A required field is missing.
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    /// An id field is not a 20-byte binary string.
    #[error("invalid `{field}`: {error}")]
    BadId {
        /// The field.
        field: &'static str,
        /// What is wrong.
        error: BinaryStringError,
    },
    /// An event other than started/stopped/completed/paused/update/empty.
    #[error("invalid event {0:?}")]
    BadEvent(String),
    /// A number that is negative, fractional where a count is needed, or not a number.
    #[error("invalid `{0}`: expected a non-negative number")]
    BadNumber(&'static str),
    /// A frame longer than [`MAX_MESSAGE_LEN`].
    #[error("message of {0} bytes exceeds the {MAX_MESSAGE_LEN}-byte limit")]
    TooLong(usize),
    /// More offers than an announce may carry.
    #[error("{0} offers; at most {MAX_OFFERS_PER_ANNOUNCE} per announce")]
    TooManyOffers(usize),
}

impl AnnounceRequest {
    /// An announce as P2P Media Loader sends it: `numwant` equal to the number
    /// of offers, `uploaded`/`downloaded` 0, no `left`. At most
    /// [`MAX_OFFERS_PER_ANNOUNCE`] offers.
    pub fn new(
        info_hash: InfoHash,
        peer_id: PeerId,
        event: Option<AnnounceEvent>,
        offers: Vec<Offer>,
    ) -> Result<Self, TrackerMessageError> {
        if offers.len() > MAX_OFFERS_PER_ANNOUNCE {
            return Err(TrackerMessageError::TooManyOffers(offers.len()));
        }
        Ok(Self {
            // At most MAX_OFFERS_PER_ANNOUNCE, checked above.
            numwant: u32::try_from(offers.len()).unwrap_or(u32::MAX),
            uploaded: 0,
            downloaded: 0,
            left: None,
            event,
            info_hash,
            peer_id,
            tracker_id: None,
            offers,
        })
    }
}

// ---- serialization (key order as the reference client / server send) ----

#[derive(Serialize)]
struct AnnounceOut<'a> {
    numwant: u32,
    uploaded: u64,
    downloaded: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    left: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event: Option<AnnounceEvent>,
    action: Action,
    info_hash: &'a InfoHash,
    peer_id: &'a PeerId,
    #[serde(skip_serializing_if = "Option::is_none")]
    trackerid: Option<&'a str>,
    /// Left out for `stopped` and `completed`, as the reference client does.
    #[serde(skip_serializing_if = "Option::is_none")]
    offers: Option<&'a [Offer]>,
}

#[derive(Serialize)]
struct AnswerOut<'a> {
    action: Action,
    info_hash: &'a InfoHash,
    peer_id: &'a PeerId,
    to_peer_id: &'a PeerId,
    answer: &'a SessionDescription,
    offer_id: &'a OfferId,
    #[serde(skip_serializing_if = "Option::is_none")]
    trackerid: Option<&'a str>,
}

#[derive(Serialize)]
struct ScrapeOut<'a> {
    action: Action,
    info_hash: &'a [InfoHash],
}

impl ClientMessage {
    /// The JSON text frame.
    pub fn to_json(&self) -> String {
        let result = match self {
            Self::Announce(a) => serde_json::to_string(&AnnounceOut {
                numwant: a.numwant,
                uploaded: a.uploaded,
                downloaded: a.downloaded,
                left: a.left,
                event: a.event,
                action: Action::Announce,
                info_hash: &a.info_hash,
                peer_id: &a.peer_id,
                trackerid: a.tracker_id.as_deref(),
                offers: match a.event {
                    Some(AnnounceEvent::Stopped | AnnounceEvent::Completed)
                        if a.offers.is_empty() =>
                    {
                        None
                    }
                    _ => Some(&a.offers),
                },
            }),
            Self::Answer(a) => serde_json::to_string(&AnswerOut {
                action: Action::Announce,
                info_hash: &a.info_hash,
                peer_id: &a.peer_id,
                to_peer_id: &a.to_peer_id,
                answer: &a.answer,
                offer_id: &a.offer_id,
                trackerid: a.tracker_id.as_deref(),
            }),
            Self::Scrape(s) => serde_json::to_string(&ScrapeOut {
                action: Action::Scrape,
                info_hash: &s.info_hashes,
            }),
        };
        // Serializing these structs cannot fail: every key is a string and
        // every value a string, number, list or struct.
        result.unwrap_or_default()
    }

    /// Parses a client's JSON frame (what a tracker receives). An announce
    /// with more than [`MAX_OFFERS_PER_ANNOUNCE`] offers is refused with
    /// [`TrackerMessageError::TooManyOffers`]; a tracker may enforce a lower
    /// cap of its own.
    pub fn parse(text: &str) -> Result<Self, TrackerMessageError> {
        let w: Wire = parse_wire(text)?;
        match w.action.as_deref() {
            Some("announce") if w.answer.is_some() => Ok(Self::Answer(AnswerRequest {
                info_hash: id(w.info_hash.as_ref().and_then(OneOrMany::one), "info_hash")?,
                peer_id: id(w.peer_id.as_deref(), "peer_id")?,
                to_peer_id: id(w.to_peer_id.as_deref(), "to_peer_id")?,
                answer: w
                    .answer
                    .ok_or(TrackerMessageError::MissingField("answer"))?,
                offer_id: id(w.offer_id.as_deref(), "offer_id")?,
                tracker_id: lenient_text(w.trackerid),
            })),
            Some("announce") => {
                let offers = w.offers.unwrap_or_default();
                // The same cap as `AnnounceRequest::new`: an announce this
                // crate would refuse to build is refused on the way in too.
                if offers.len() > MAX_OFFERS_PER_ANNOUNCE {
                    return Err(TrackerMessageError::TooManyOffers(offers.len()));
                }
                Ok(Self::Announce(AnnounceRequest {
                    numwant: count(w.numwant.as_ref(), "numwant")?
                        .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
                        .unwrap_or_else(|| u32::try_from(offers.len()).unwrap_or(u32::MAX)),
                    uploaded: count(w.uploaded.as_ref(), "uploaded")?.unwrap_or(0),
                    downloaded: count(w.downloaded.as_ref(), "downloaded")?.unwrap_or(0),
                    left: count(w.left.as_ref(), "left")?,
                    event: parse_event(w.event.as_deref())?,
                    info_hash: id(w.info_hash.as_ref().and_then(OneOrMany::one), "info_hash")?,
                    peer_id: id(w.peer_id.as_deref(), "peer_id")?,
                    tracker_id: lenient_text(w.trackerid),
                    offers,
                }))
            }
            Some("scrape") => Ok(Self::Scrape(ScrapeRequest {
                info_hashes: match w.info_hash {
                    None => Vec::new(),
                    Some(list) => list
                        .iter()
                        .map(|s| id(Some(s), "info_hash"))
                        .collect::<Result<_, _>>()?,
                },
            })),
            Some(other) => Err(TrackerMessageError::UnknownAction(other.to_owned())),
            None => Err(TrackerMessageError::MissingAction),
        }
    }
}

#[derive(Serialize)]
struct AnnounceResponseOut<'a> {
    complete: u64,
    incomplete: u64,
    action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    interval: Option<serde_json::Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    info_hash: Option<&'a InfoHash>,
    #[serde(rename = "tracker id", skip_serializing_if = "Option::is_none")]
    tracker_id: Option<&'a str>,
    #[serde(rename = "warning message", skip_serializing_if = "Option::is_none")]
    warning: Option<&'a str>,
}

#[derive(Serialize)]
struct RelayedOut<'a> {
    action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    offer: Option<&'a SessionDescription>,
    #[serde(skip_serializing_if = "Option::is_none")]
    answer: Option<&'a SessionDescription>,
    offer_id: &'a OfferId,
    peer_id: &'a PeerId,
    info_hash: &'a InfoHash,
}

#[derive(Serialize)]
struct ScrapeFlags {
    min_request_interval: u64,
}

#[derive(Serialize)]
struct ScrapeResponseOut<'a> {
    action: Action,
    files: &'a BTreeMap<InfoHash, ScrapeStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    flags: Option<ScrapeFlags>,
}

#[derive(Serialize)]
struct FailureOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<Action>,
    #[serde(rename = "failure reason")]
    reason: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    info_hash: Option<&'a InfoHash>,
}

impl TrackerMessage {
    /// The JSON text frame.
    pub fn to_json(&self) -> String {
        let result = match self {
            Self::AnnounceResponse(r) => serde_json::to_string(&AnnounceResponseOut {
                complete: r.complete.unwrap_or(0),
                incomplete: r.incomplete.unwrap_or(0),
                action: Action::Announce,
                interval: r.interval_secs.and_then(json_seconds),
                info_hash: r.info_hash.as_ref(),
                tracker_id: r.tracker_id.as_deref(),
                warning: r.warning.as_deref(),
            }),
            Self::Offer(o) => serde_json::to_string(&RelayedOut {
                action: Action::Announce,
                offer: Some(&o.offer),
                answer: None,
                offer_id: &o.offer_id,
                peer_id: &o.peer_id,
                info_hash: &o.info_hash,
            }),
            Self::Answer(a) => serde_json::to_string(&RelayedOut {
                action: Action::Announce,
                offer: None,
                answer: Some(&a.answer),
                offer_id: &a.offer_id,
                peer_id: &a.peer_id,
                info_hash: &a.info_hash,
            }),
            Self::Scrape(s) => serde_json::to_string(&ScrapeResponseOut {
                action: Action::Scrape,
                files: &s.files,
                flags: s
                    .min_request_interval_secs
                    .map(|min_request_interval| ScrapeFlags {
                        min_request_interval,
                    }),
            }),
            Self::Failure(f) => serde_json::to_string(&FailureOut {
                action: f.action,
                reason: &f.reason,
                info_hash: f.info_hash.as_ref(),
            }),
        };
        // Cannot fail: see `ClientMessage::to_json`. A non-finite interval is left out.
        result.unwrap_or_default()
    }

    /// Parses a tracker's JSON frame (what a client receives).
    ///
    /// Lenient where trackers in the field differ: a `failure reason` is
    /// reported even if the rest is malformed; informational fields of the
    /// wrong type or with impossible values are ignored; an `interval` of 0
    /// falls back to `min interval`, as the reference client does. Only what
    /// is needed to act on the message (ids, SDP) is required.
    pub fn parse(text: &str) -> Result<Self, TrackerMessageError> {
        let w: Wire = parse_wire(text)?;
        let info_hash = w.info_hash.as_ref().and_then(OneOrMany::one);
        if let Some(reason) = lenient_text(w.failure_reason) {
            let action = match w.action.as_deref() {
                Some("announce") => Some(Action::Announce),
                Some("scrape") => Some(Action::Scrape),
                _ => None,
            };
            return Ok(Self::Failure(Failure {
                action,
                // bittorrent-tracker may echo a malformed or list-valued hash.
                info_hash: info_hash.and_then(|s| InfoHash::from_binary_string(s).ok()),
                reason,
            }));
        }
        let info_hash = info_hash.map(|s| id(Some(s), "info_hash")).transpose()?;
        match w.action.as_deref() {
            Some("announce") => {
                if let Some(offer) = w.offer {
                    return Ok(Self::Offer(RelayedOffer {
                        info_hash: info_hash
                            .ok_or(TrackerMessageError::MissingField("info_hash"))?,
                        peer_id: id(w.peer_id.as_deref(), "peer_id")?,
                        offer,
                        offer_id: id(w.offer_id.as_deref(), "offer_id")?,
                    }));
                }
                if let Some(answer) = w.answer {
                    return Ok(Self::Answer(RelayedAnswer {
                        info_hash: info_hash
                            .ok_or(TrackerMessageError::MissingField("info_hash"))?,
                        peer_id: id(w.peer_id.as_deref(), "peer_id")?,
                        answer,
                        offer_id: id(w.offer_id.as_deref(), "offer_id")?,
                    }));
                }
                let positive =
                    |v: Option<&Value>| seconds(v, "interval").ok().flatten().filter(|s| *s > 0.0);
                Ok(Self::AnnounceResponse(AnnounceResponse {
                    info_hash,
                    interval_secs: positive(w.interval.as_ref())
                        .or(positive(w.min_interval.as_ref())),
                    complete: count(w.complete.as_ref(), "complete").ok().flatten(),
                    incomplete: count(w.incomplete.as_ref(), "incomplete").ok().flatten(),
                    tracker_id: lenient_text(w.tracker_id),
                    warning: lenient_text(w.warning_message),
                }))
            }
            Some("scrape") => {
                let files = w
                    .files
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| Ok((id(Some(&k), "files")?, v)))
                    .collect::<Result<_, TrackerMessageError>>()?;
                let min_request_interval =
                    w.flags.as_ref().and_then(|f| f.get("min_request_interval"));
                Ok(Self::Scrape(ScrapeResponse {
                    files,
                    min_request_interval_secs: count(min_request_interval, "min_request_interval")
                        .ok()
                        .flatten(),
                }))
            }
            Some(other) => Err(TrackerMessageError::UnknownAction(other.to_owned())),
            None => Err(TrackerMessageError::MissingAction),
        }
    }
}

/// Seconds as JSON: an integer when integral (`120`, not `120.0`).
#[expect(clippy::cast_possible_truncation, reason = "integral and below 2^53")]
fn json_seconds(secs: f64) -> Option<serde_json::Number> {
    if secs.fract() == 0.0 && (0.0..9.0e15).contains(&secs) {
        Some(serde_json::Number::from(secs as u64))
    } else {
        serde_json::Number::from_f64(secs)
    }
}

// ---- lenient parsing ----

/// Every field any of the three trackers or their clients send; unknown keys
/// are ignored.
#[derive(Deserialize, Default)]
struct Wire {
    action: Option<String>,
    info_hash: Option<OneOrMany>,
    peer_id: Option<String>,
    to_peer_id: Option<String>,
    offer_id: Option<String>,
    numwant: Option<Value>,
    uploaded: Option<Value>,
    downloaded: Option<Value>,
    left: Option<Value>,
    event: Option<String>,
    offers: Option<Vec<Offer>>,
    offer: Option<SessionDescription>,
    answer: Option<SessionDescription>,
    trackerid: Option<Value>,
    #[serde(rename = "tracker id")]
    tracker_id: Option<Value>,
    interval: Option<Value>,
    #[serde(rename = "min interval")]
    min_interval: Option<Value>,
    complete: Option<Value>,
    incomplete: Option<Value>,
    #[serde(rename = "failure reason")]
    failure_reason: Option<Value>,
    #[serde(rename = "warning message")]
    warning_message: Option<Value>,
    files: Option<BTreeMap<String, ScrapeStats>>,
    flags: Option<Value>,
}

/// `info_hash` is a string in announces and a string or a list in scrapes.
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn one(&self) -> Option<&str> {
        match self {
            Self::One(s) => Some(s),
            Self::Many(_) => None,
        }
    }

    fn iter(&self) -> impl Iterator<Item = &str> {
        let slice: &[String] = match self {
            Self::One(s) => std::slice::from_ref(s),
            Self::Many(v) => v,
        };
        slice.iter().map(String::as_str)
    }
}

/// Parses through a JSON value first so that a repeated key keeps its last
/// value, as `JSON.parse` does, instead of failing.
fn parse_wire(text: &str) -> Result<Wire, TrackerMessageError> {
    if text.len() > MAX_MESSAGE_LEN {
        return Err(TrackerMessageError::TooLong(text.len()));
    }
    let value: Value =
        serde_json::from_str(text).map_err(|e| TrackerMessageError::Json(e.to_string()))?;
    Wire::deserialize(value).map_err(|e| TrackerMessageError::Json(e.to_string()))
}

/// A string field that some tracker might send as another JSON type.
fn lenient_text(value: Option<Value>) -> Option<String> {
    match value? {
        Value::Null => None,
        Value::String(s) => Some(s),
        other => Some(other.to_string()),
    }
}

fn id<T>(value: Option<&str>, field: &'static str) -> Result<T, TrackerMessageError>
where
    T: TryFromBinary,
{
    let s = value.ok_or(TrackerMessageError::MissingField(field))?;
    T::try_from_binary(s).map_err(|error| TrackerMessageError::BadId { field, error })
}

trait TryFromBinary: Sized {
    fn try_from_binary(s: &str) -> Result<Self, BinaryStringError>;
}

macro_rules! try_from_binary {
    ($($t:ty),*) => {$(
        impl TryFromBinary for $t {
            fn try_from_binary(s: &str) -> Result<Self, BinaryStringError> {
                Self::from_binary_string(s)
            }
        }
    )*};
}
try_from_binary!(InfoHash, PeerId, OfferId);

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|v: &f64| v.is_finite() && *v >= 0.0)
}

#[expect(
    clippy::cast_possible_truncation,
    reason = "integral and non-negative; saturates"
)]
fn count(value: Option<&Value>, field: &'static str) -> Result<Option<u64>, TrackerMessageError> {
    value
        .filter(|v| !v.is_null())
        .map(|v| {
            number(v)
                .filter(|n| n.fract() == 0.0)
                .map(|n| n as u64)
                .ok_or(TrackerMessageError::BadNumber(field))
        })
        .transpose()
}

fn seconds(value: Option<&Value>, field: &'static str) -> Result<Option<f64>, TrackerMessageError> {
    value
        .filter(|v| !v.is_null())
        .map(|v| number(v).ok_or(TrackerMessageError::BadNumber(field)))
        .transpose()
}

/// Scrape counts are informational: a value of the wrong type counts as 0.
fn lenient_count<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let v = Value::deserialize(d)?;
    Ok(count(Some(&v), "count").ok().flatten().unwrap_or_default())
}

fn parse_event(event: Option<&str>) -> Result<Option<AnnounceEvent>, TrackerMessageError> {
    Ok(match event {
        None | Some("update" | "empty" | "") => None,
        Some("started") => Some(AnnounceEvent::Started),
        Some("stopped") => Some(AnnounceEvent::Stopped),
        Some("completed") => Some(AnnounceEvent::Completed),
        Some("paused") => Some(AnnounceEvent::Paused),
        Some(other) => return Err(TrackerMessageError::BadEvent(other.to_owned())),
    })
}
