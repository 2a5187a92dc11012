//! The engine's events as P2P Media Loader's listeners receive them
//! (`CoreEventMap`, SPEC §6.2): the event name and the listener arguments.

use js_sys::{Object, Reflect};
use p2pml_core::engine::{Event, Source};
use p2pml_proto::identity::{PeerId, StreamType};
use wasm_bindgen::JsValue;

use crate::{Host, SegmentMeta};

fn obj(fields: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in fields {
        // Setting a property on a fresh plain object cannot fail.
        let _ = Reflect::set(&o, &JsValue::from_str(k), v);
    }
    o.into()
}

fn source(s: Source) -> JsValue {
    JsValue::from_str(match s {
        Source::Http => "http",
        Source::P2p => "p2p",
    })
}

fn stream_type(t: StreamType) -> JsValue {
    JsValue::from_str(t.as_str())
}

/// P2P Media Loader's `Segment`: `{runtimeId, externalId, url, byteRange,
/// startTime, endTime}`.
fn segment(h: &Host, t: StreamType, id: i64) -> JsValue {
    match h.segment_for(t, id) {
        Some(m) => segment_js(m),
        None => obj(&[("externalId", JsValue::from_f64(id as f64))]),
    }
}

fn segment_js(m: &SegmentMeta) -> JsValue {
    let range = m.byte_range.map_or(JsValue::UNDEFINED, |(s, e)| {
        obj(&[
            ("start", JsValue::from_f64(s as f64)),
            ("end", JsValue::from_f64(e as f64)),
        ])
    });
    obj(&[
        ("runtimeId", JsValue::from_str(&m.runtime_id)),
        ("externalId", JsValue::from_f64(m.external_id as f64)),
        ("url", JsValue::from_str(&m.url)),
        ("byteRange", range),
        ("startTime", JsValue::from_f64(m.start)),
        ("endTime", JsValue::from_f64(m.end)),
    ])
}

/// A `RequestError`-like error: an `Error` with P2P Media Loader's `type`.
fn request_error(source: Source, reason: &str) -> JsValue {
    let lower = reason.to_ascii_lowercase();
    let kind = if lower.contains("timeout") || lower.contains("no bytes") {
        "bytes-receiving-timeout"
    } else if lower.contains("abort") {
        "abort"
    } else {
        match source {
            Source::Http if lower.contains("status") => "http-unexpected-status-code",
            Source::Http if lower.contains("length") || lower.contains("size") => {
                "http-bytes-mismatch"
            }
            Source::Http => "http-error",
            Source::P2p if lower.contains("absent") => "peer-segment-absent",
            Source::P2p if lower.contains("closed") => "peer-closed",
            Source::P2p if lower.contains("length") || lower.contains("size") => {
                "peer-response-bytes-length-mismatch"
            }
            Source::P2p => "peer-protocol-violation",
        }
    };
    let e = js_sys::Error::new(reason);
    let _ = Reflect::set(&e, &JsValue::from_str("type"), &JsValue::from_str(kind));
    let _ = Reflect::set(
        &e,
        &JsValue::from_str("timestamp"),
        &JsValue::from_f64(js_sys::Date::now()),
    );
    e.into()
}

/// Updates the counters `stats()` reports.
pub(crate) fn count(h: &mut Host, event: &Event) {
    let c = &mut h.counters;
    match event {
        Event::ChunkDownloaded { bytes, source, .. } => match source {
            Source::Http => c.http_bytes += *bytes as f64,
            Source::P2p => c.p2p_bytes += *bytes as f64,
        },
        Event::ChunkUploaded { bytes, .. } => c.uploaded_bytes += *bytes as f64,
        Event::PeerConnect { .. } => c.peers += 1,
        Event::PeerClose { .. } => c.peers = c.peers.saturating_sub(1),
        _ => {}
    }
}

fn peer_id(peer: &Option<PeerId>) -> JsValue {
    peer.map_or(JsValue::UNDEFINED, |p| {
        JsValue::from_str(&p.to_utf8_lossy())
    })
}

/// The event's name and listener arguments. `peerId` is given where the
/// engine names the peer (connect, close, error, chunks from and to peers)
/// and left undefined on segment events and HTTP chunks.
pub(crate) fn to_js(h: &Host, event: &Event) -> (&'static str, Vec<JsValue>) {
    let none = JsValue::UNDEFINED;
    match event {
        Event::SegmentStart {
            stream_type: t,
            segment: id,
            source: s,
        } => (
            "onSegmentStart",
            vec![obj(&[
                ("segment", segment(h, *t, *id)),
                ("downloadSource", source(*s)),
                ("peerId", none),
            ])],
        ),
        Event::SegmentLoaded {
            stream_type: t,
            segment: id,
            bytes,
            http_bytes,
        } => {
            let url = h
                .segment_for(*t, *id)
                .map_or(JsValue::UNDEFINED, |m| JsValue::from_str(&m.url));
            let from = if http_bytes * 2 > *bytes {
                Source::Http
            } else {
                Source::P2p
            };
            (
                "onSegmentLoaded",
                vec![obj(&[
                    ("segmentUrl", url),
                    ("bytesLength", JsValue::from_f64(*bytes as f64)),
                    ("downloadSource", source(from)),
                    ("peerId", none),
                    ("streamType", stream_type(*t)),
                ])],
            )
        }
        Event::SegmentError {
            stream_type: t,
            segment: id,
            source: s,
            reason,
        } => (
            "onSegmentError",
            vec![obj(&[
                ("error", request_error(*s, reason)),
                ("segment", segment(h, *t, *id)),
                ("downloadSource", source(*s)),
                ("peerId", none),
                ("streamType", stream_type(*t)),
            ])],
        ),
        Event::SegmentAbort {
            stream_type: t,
            segment: id,
            source: s,
        } => (
            "onSegmentAbort",
            vec![obj(&[
                ("segment", segment(h, *t, *id)),
                ("downloadSource", source(*s)),
                ("peerId", none),
                ("streamType", stream_type(*t)),
            ])],
        ),
        Event::PeerConnect {
            peer,
            stream_type: t,
        } => (
            "onPeerConnect",
            vec![obj(&[
                ("peerId", JsValue::from_str(&peer.to_utf8_lossy())),
                ("streamType", stream_type(*t)),
            ])],
        ),
        Event::PeerClose {
            peer,
            stream_type: t,
        } => (
            "onPeerClose",
            vec![obj(&[
                ("peerId", JsValue::from_str(&peer.to_utf8_lossy())),
                ("streamType", stream_type(*t)),
            ])],
        ),
        Event::PeerError {
            peer,
            stream_type: t,
            reason,
        } => (
            "onPeerError",
            vec![obj(&[
                (
                    "peerId",
                    peer.map_or(JsValue::UNDEFINED, |p| {
                        JsValue::from_str(&p.to_utf8_lossy())
                    }),
                ),
                ("streamType", stream_type(*t)),
                ("error", js_sys::Error::new(reason).into()),
            ])],
        ),
        Event::ChunkDownloaded {
            bytes,
            source: s,
            peer,
        } => (
            "onChunkDownloaded",
            vec![JsValue::from_f64(*bytes as f64), source(*s), peer_id(peer)],
        ),
        Event::ChunkUploaded { bytes, peer } => (
            "onChunkUploaded",
            vec![JsValue::from_f64(*bytes as f64), peer_id(peer)],
        ),
        Event::TrackerError {
            stream_type: t,
            message,
        } => (
            "onTrackerError",
            vec![obj(&[
                ("streamType", t.map_or(JsValue::UNDEFINED, stream_type)),
                ("error", js_sys::Error::new(message).into()),
            ])],
        ),
        Event::TrackerWarning {
            stream_type: t,
            message,
        } => (
            "onTrackerWarning",
            vec![obj(&[
                ("streamType", t.map_or(JsValue::UNDEFINED, stream_type)),
                ("warning", JsValue::from_str(message)),
            ])],
        ),
    }
}
