//! The browser host of the P2P Media Loader engine.
//!
//! [`WasmEngine`] owns one sans-IO [`Engine`] and performs what it asks for
//! with the browser's own APIs: `fetch` (abortable, body streamed chunk by
//! chunk), `WebSocket` to the trackers, `RTCPeerConnection` with one
//! `RTCDataChannel` per peer (non-trickle, flow-controlled through
//! `bufferedAmountLowThreshold`), and `setTimeout` for the engine's next
//! deadline. It makes no scheduling decision of its own.
//!
//! From JavaScript (after `await init()` of the wasm-bindgen module):
//!
//! ```js
//! const engine = new WasmEngine({ announceTrackers: ["wss://tracker.example"] },
//!                               (name, ...args) => console.log(name, ...args));
//! engine.setManifestResponseUrl("https://cdn.example/master.m3u8");
//! engine.addStreamIfNoneExists("https://cdn.example/720p.m3u8", "main", { bitrate: 2000000 });
//! engine.updateStream("https://cdn.example/720p.m3u8",
//!   [{ runtimeId: "https://cdn.example/0.ts", externalId: 0, url: "https://cdn.example/0.ts",
//!      startTime: 0, endTime: 2 }], []);
//! engine.loadSegment("https://cdn.example/0.ts", (data, bandwidth) => {}, (type, message) => {});
//! ```
//!
//! Re-entrancy: the host never calls into JavaScript (callbacks, events)
//! while it holds its own state borrowed, so a callback may call back into
//! the engine.

// JavaScript numbers are f64: the saturating `as` casts to integers are the
// intended conversion throughout this crate (inputs are range-checked first).
#![allow(clippy::cast_possible_truncation)]

mod config;
mod events;
mod io;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::{Rc, Weak};

use bytes::Bytes;
use js_sys::{Array, Function, Object, Reflect};
use p2pml_core::engine::{Engine, EngineConfig, Input, Output, PlayerRequestId};
use p2pml_core::streams::{SegmentInfo, StreamId};
use p2pml_core::time::Instant;
use p2pml_proto::identity::{StreamDescriptor, StreamType};
use wasm_bindgen::prelude::*;

use config::HostConfig;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(handler: &Function, ms: f64) -> JsValue;
    #[wasm_bindgen(js_name = clearTimeout)]
    fn clear_timeout(id: &JsValue);
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
}

/// How many removed segments stay known for events.
const RECENTLY_REMOVED: usize = 64;

/// A segment as the integration described it: what events report back.
#[derive(Debug, Clone)]
pub(crate) struct SegmentMeta {
    runtime_id: String,
    url: String,
    /// Inclusive end, as P2P Media Loader reports byte ranges.
    byte_range: Option<(u64, u64)>,
    start: f64,
    end: f64,
    external_id: i64,
}

struct StreamMeta {
    stream_type: StreamType,
}

struct PlayerRequest {
    on_success: Function,
    on_error: Function,
}

/// Byte counters since creation, for `stats()`.
#[derive(Debug, Default, Clone, Copy)]
struct Counters {
    http_bytes: f64,
    p2p_bytes: f64,
    uploaded_bytes: f64,
    peers: u32,
}

/// Everything the host owns. Always borrowed briefly: see the crate docs.
pub(crate) struct Host {
    engine: Engine<Bytes>,
    config: EngineConfig,
    host_config: HostConfig,
    /// `performance.now()` at creation: the engine's epoch.
    epoch_ms: f64,
    on_event: Function,
    streams: HashMap<String, StreamId>,
    stream_meta: HashMap<StreamId, StreamMeta>,
    next_stream: StreamId,
    /// Segment runtime id → its stream and wire id.
    segments: HashMap<String, (StreamId, i64)>,
    segment_meta: HashMap<(StreamId, i64), SegmentMeta>,
    /// Segments that just left their playlist: a download of one may still
    /// finish (a live player sits at the window's oldest segment), and its
    /// events should still name it.
    recently_removed: std::collections::VecDeque<((StreamId, i64), SegmentMeta)>,
    /// The stream of each type the player asked for last: events name a
    /// segment by type and id only.
    current: [Option<StreamId>; 2],
    requests: HashMap<PlayerRequestId, PlayerRequest>,
    next_request: PlayerRequestId,
    live: bool,
    io: io::Io,
    timer: Option<(JsValue, Instant)>,
    timer_callback: Option<Closure<dyn FnMut()>>,
    counters: Counters,
}

/// A shared handle on the host, as the browser's callbacks hold it.
pub(crate) type HostRef = Rc<RefCell<Host>>;

impl Host {
    fn now(&self) -> Instant {
        let ms = (performance_now() - self.epoch_ms).max(0.0);
        Instant::from_micros((ms * 1000.0) as u64)
    }

    fn segment_for(&self, stream_type: StreamType, id: i64) -> Option<&SegmentMeta> {
        let slot = type_slot(stream_type);
        self.current
            .get(slot)
            .copied()
            .flatten()
            .and_then(|s| self.segment_meta.get(&(s, id)))
            .or_else(|| {
                let of_type = |s: &StreamId| {
                    self.stream_meta
                        .get(s)
                        .is_some_and(|sm| sm.stream_type == stream_type)
                };
                self.segment_meta
                    .iter()
                    .chain(self.recently_removed.iter().rev().map(|(k, m)| (k, m)))
                    .find_map(|((s, i), m)| (*i == id && of_type(s)).then_some(m))
            })
    }
}

fn type_slot(t: StreamType) -> usize {
    match t {
        StreamType::Main => 0,
        StreamType::Secondary => 1,
    }
}

/// A seed from the browser's randomness: peer ids and every random choice
/// must differ between viewers.
fn random_seed() -> u64 {
    let hi = (js_sys::Math::random() * 4_294_967_296.0) as u64;
    let lo = (js_sys::Math::random() * 4_294_967_296.0) as u64;
    (hi << 32) ^ lo
}

/// Feeds one input and performs everything that follows. Returns false if
/// the host is gone.
pub(crate) fn feed(host: &Weak<RefCell<Host>>, input: Input<Bytes>) -> bool {
    let Some(rc) = host.upgrade() else {
        return false;
    };
    {
        let mut h = rc.borrow_mut();
        let now = h.now();
        h.engine.handle_input(now, input);
    }
    pump(&rc);
    true
}

/// Drains the engine's outputs and performs them, then arms the timer for
/// its next deadline.
pub(crate) fn pump(rc: &HostRef) {
    loop {
        let outputs: Vec<Output<Bytes>> = {
            let mut h = rc.borrow_mut();
            std::iter::from_fn(|| h.engine.poll_output()).collect()
        };
        if outputs.is_empty() {
            break;
        }
        for output in outputs {
            perform(rc, output);
        }
    }
    arm_timer(rc);
}

fn arm_timer(rc: &HostRef) {
    let mut h = rc.borrow_mut();
    let deadline = h.engine.poll_timeout();
    if h.timer.as_ref().map(|(_, at)| *at) == deadline {
        return;
    }
    if let Some((id, _)) = h.timer.take() {
        clear_timeout(&id);
    }
    let Some(at) = deadline else {
        return;
    };
    let now = h.now();
    let delay_ms = (at - now).as_secs_f64() * 1000.0;
    let Some(callback) = h.timer_callback.as_ref() else {
        return;
    };
    let id = set_timeout(callback.as_ref().unchecked_ref(), delay_ms.ceil());
    h.timer = Some((id, at));
}

fn on_timer(weak: &Weak<RefCell<Host>>) {
    let Some(rc) = weak.upgrade() else {
        return;
    };
    {
        let mut h = rc.borrow_mut();
        h.timer = None;
        let now = h.now();
        h.engine.handle_timeout(now);
    }
    pump(&rc);
}

fn perform(rc: &HostRef, output: Output<Bytes>) {
    match output {
        Output::SegmentLoaded {
            request,
            data,
            bandwidth,
        } => {
            let Some(req) = rc.borrow_mut().requests.remove(&request) else {
                return;
            };
            let buffer = js_sys::Uint8Array::from(&data[..]).buffer();
            // Never answered synchronously (see `defer_error`); errors thrown
            // by the player's callback are the player's.
            wasm_bindgen_futures::spawn_local(async move {
                let _ =
                    req.on_success
                        .call2(&JsValue::NULL, &buffer, &JsValue::from_f64(bandwidth));
            });
        }
        Output::SegmentFailed { request, reason } => {
            let Some(req) = rc.borrow_mut().requests.remove(&request) else {
                return;
            };
            defer_error(req.on_error, "failed", reason);
        }
        Output::Event(event) => {
            let (name, args, on_event) = {
                let mut h = rc.borrow_mut();
                events::count(&mut h, &event);
                let (name, args) = events::to_js(&h, &event);
                (name, args, h.on_event.clone())
            };
            let _ = on_event.apply(
                &JsValue::NULL,
                &std::iter::once(JsValue::from_str(name))
                    .chain(args)
                    .collect::<Array>(),
            );
        }
        other => io::perform(rc, other),
    }
}

/// The engine in a web page: one per player. See the crate docs.
#[wasm_bindgen]
pub struct WasmEngine {
    /// Replaced as a whole by `reset`: browser callbacks of the old host hold
    /// only a weak reference to it and find it gone.
    host: RefCell<HostRef>,
}

fn new_host(config: EngineConfig, host_config: HostConfig, on_event: Function) -> HostRef {
    let epoch_ms = performance_now();
    let mut engine_config = config.clone();
    engine_config.common.seed = random_seed();
    let rc = Rc::new(RefCell::new(Host {
        engine: Engine::new(engine_config, Instant::ZERO),
        config,
        host_config,
        epoch_ms,
        on_event,
        streams: HashMap::new(),
        stream_meta: HashMap::new(),
        next_stream: 1,
        segments: HashMap::new(),
        segment_meta: HashMap::new(),
        recently_removed: std::collections::VecDeque::new(),
        current: [None, None],
        requests: HashMap::new(),
        next_request: 1,
        live: false,
        io: io::Io::default(),
        timer: None,
        timer_callback: None,
        counters: Counters::default(),
    }));
    let weak = Rc::downgrade(&rc);
    let callback = Closure::<dyn FnMut()>::new(move || on_timer(&weak));
    rc.borrow_mut().timer_callback = Some(callback);
    rc
}

fn descriptor_from_js(d: &JsValue) -> StreamDescriptor {
    let get = |k: &str| {
        Reflect::get(d, &JsValue::from_str(k))
            .ok()
            .filter(|v| !v.is_undefined() && !v.is_null())
    };
    // Numbers and strings both occur (hls.js gives FRAME-RATE as written,
    // Shaka as a number); the descriptor normalises like JS does.
    let text = |k: &str| {
        get(k).and_then(|v| {
            v.as_string()
                .or_else(|| v.as_f64().filter(|n| *n != 0.0).map(js_number))
        })
    };
    let int = |k: &str| {
        get(k)
            .and_then(|v| v.as_f64())
            .filter(|n| *n > 0.0 && n.fract() == 0.0)
            .map(|n| n as u32)
    };
    StreamDescriptor {
        bitrate: get("bitrate").and_then(|v| v.as_f64()),
        codecs: text("codecs"),
        width: int("width"),
        height: int("height"),
        language: text("language"),
        channels: text("channels"),
        name: text("name"),
        frame_rate: text("frameRate"),
        video_range: text("videoRange"),
    }
}

/// A number as JavaScript's `String(n)` writes it.
fn js_number(n: f64) -> String {
    js_sys::Number::from(n)
        .to_string_with_radix(10)
        .map(String::from)
        .unwrap_or_default()
}

fn segment_from_js(v: &JsValue) -> Option<SegmentMeta> {
    let get = |k: &str| Reflect::get(v, &JsValue::from_str(k)).ok();
    let runtime_id = get("runtimeId")?.as_string()?;
    let url = get("url")?.as_string()?;
    let external_id = get("externalId")?.as_f64()?;
    let start = get("startTime")?.as_f64()?;
    let end = get("endTime")?.as_f64()?;
    let byte_range = get("byteRange").filter(JsValue::is_object).and_then(|r| {
        let s = Reflect::get(&r, &JsValue::from_str("start"))
            .ok()?
            .as_f64()?;
        let e = Reflect::get(&r, &JsValue::from_str("end")).ok()?.as_f64()?;
        (s >= 0.0 && e >= s).then_some((s as u64, e as u64))
    });
    (external_id.is_finite() && external_id.fract() == 0.0).then_some(SegmentMeta {
        runtime_id,
        url,
        byte_range,
        start,
        end,
        external_id: external_id as i64,
    })
}

impl WasmEngine {
    fn rc(&self) -> HostRef {
        self.host.borrow().clone()
    }
}

#[wasm_bindgen]
impl WasmEngine {
    /// A new engine. `config` has P2P Media Loader's `CoreConfig` shape
    /// (unknown keys ignored); `on_event(name, ...args)` receives P2P Media
    /// Loader's events with their listener arguments.
    #[wasm_bindgen(constructor)]
    pub fn new(config: JsValue, on_event: Function) -> WasmEngine {
        let mut engine_config = EngineConfig::default();
        // Browsers keep a megabyte in flight per channel: loopback and LAN
        // links would idle behind a 64 KiB window.
        engine_config.peer.send_high_water = 1 << 20;
        // Newcomers wait for the peers the tracker is about to introduce
        // before seeding (see `CommonConfig::seeding_grace`; measured in
        // Chromium: 58% → 69% P2P on a 20-segment live window).
        engine_config.common.seeding_grace = std::time::Duration::from_secs(3);
        let mut host_config = HostConfig::default();
        config::apply(&config, &mut engine_config, &mut host_config);
        WasmEngine {
            host: RefCell::new(new_host(engine_config, host_config, on_event)),
        }
    }

    /// The configuration in force, in P2P Media Loader's shape.
    #[wasm_bindgen(js_name = getConfig)]
    pub fn get_config(&self) -> JsValue {
        let rc = self.rc();
        let h = rc.borrow();
        config::to_js(h.engine.config(), &h.host_config)
    }

    /// Changes settings at run time (a partial `CoreConfig`); trackers, peer
    /// id prefix, swarm id and storage limit keep their first value.
    #[wasm_bindgen(js_name = applyDynamicConfig)]
    pub fn apply_dynamic_config(&self, partial: JsValue) {
        let rc = self.rc();
        {
            let mut h = rc.borrow_mut();
            let mut config = h.engine.config().clone();
            let mut host_config = h.host_config.clone();
            config::apply(&partial, &mut config, &mut host_config);
            h.host_config.ice_gathering_timeout_ms = host_config.ice_gathering_timeout_ms;
            let now = h.now();
            h.engine.set_config(now, config.clone());
            let mut kept = h.config.clone();
            kept.main = config.main;
            kept.secondary = config.secondary;
            kept.common.max_peers_per_swarm = config.common.max_peers_per_swarm;
            kept.common.max_concurrent_uploads = config.common.max_concurrent_uploads;
            kept.common.peers_per_seeder = config.common.peers_per_seeder;
            kept.common.http_safety_margin = config.common.http_safety_margin;
            kept.common.max_prefetch_bytes = config.common.max_prefetch_bytes;
            kept.common.relay = config.common.relay;
            kept.common.seeding = config.common.seeding;
            h.config = kept;
        }
        pump(&rc);
    }

    /// The manifest's final URL (after redirects): the swarm id is it
    /// without its query, unless configured.
    #[wasm_bindgen(js_name = setManifestResponseUrl)]
    pub fn set_manifest_response_url(&self, url: String) {
        let rc = self.rc();
        let _ = feed(&Rc::downgrade(&rc), Input::ManifestUrl(url));
    }

    /// Registers a stream (rendition) by its runtime id (hls.js: the
    /// playlist URL), of type `"main"` or `"secondary"`, described by the
    /// attributes its swarm identity is computed from (SPEC §3.2).
    #[wasm_bindgen(js_name = addStreamIfNoneExists)]
    pub fn add_stream_if_none_exists(&self, runtime_id: String, kind: &str, descriptor: JsValue) {
        let rc = self.rc();
        let stream_type = if kind == "secondary" {
            StreamType::Secondary
        } else {
            StreamType::Main
        };
        let stream = {
            let mut h = rc.borrow_mut();
            if h.streams.contains_key(&runtime_id) {
                return;
            }
            let id = h.next_stream;
            h.next_stream += 1;
            h.streams.insert(runtime_id, id);
            h.stream_meta.insert(id, StreamMeta { stream_type });
            id
        };
        let index = descriptor_from_js(&descriptor).short_id();
        let _ = feed(
            &Rc::downgrade(&rc),
            Input::AddStream {
                stream,
                stream_type,
                index,
            },
        );
    }

    /// Segments added to (or changed in) a stream's playlist, and the runtime
    /// ids of those no longer in it.
    #[wasm_bindgen(js_name = updateStream)]
    pub fn update_stream(&self, stream_runtime_id: &str, add: Array, remove: Array) {
        let rc = self.rc();
        let update = {
            let mut h = rc.borrow_mut();
            let Some(&stream) = h.streams.get(stream_runtime_id) else {
                return;
            };
            let mut added = Vec::new();
            for meta in add.iter().filter_map(|v| segment_from_js(&v)) {
                added.push(SegmentInfo {
                    id: meta.external_id,
                    url: meta.url.clone(),
                    byte_range: meta.byte_range.map(|(s, e)| s..e.saturating_add(1)),
                    start: meta.start,
                    end: meta.end,
                });
                h.segments
                    .insert(meta.runtime_id.clone(), (stream, meta.external_id));
                h.segment_meta.insert((stream, meta.external_id), meta);
            }
            let mut removed = Vec::new();
            for runtime_id in remove.iter().filter_map(|v| v.as_string()) {
                if let Some((s, id)) = h.segments.remove(&runtime_id) {
                    if let Some(meta) = h.segment_meta.remove(&(s, id)) {
                        if h.recently_removed.len() == RECENTLY_REMOVED {
                            h.recently_removed.pop_front();
                        }
                        h.recently_removed.push_back(((s, id), meta));
                    }
                    removed.push(id);
                }
            }
            Input::UpdateStream {
                stream,
                add: added,
                remove: removed,
            }
        };
        let _ = feed(&Rc::downgrade(&rc), update);
    }

    /// Whether the engine knows this segment (else the player loads it itself).
    #[wasm_bindgen(js_name = hasSegment)]
    pub fn has_segment(&self, segment_runtime_id: &str) -> bool {
        let rc = self.rc();
        rc.borrow().segments.contains_key(segment_runtime_id)
    }

    /// Whether the engine would load this segment: it knows it, and P2P is
    /// not disabled for its stream type (else the player loads it itself).
    #[wasm_bindgen(js_name = isSegmentLoadable)]
    pub fn is_segment_loadable(&self, segment_runtime_id: &str) -> bool {
        let rc = self.rc();
        let h = rc.borrow();
        let Some((stream, _)) = h.segments.get(segment_runtime_id) else {
            return false;
        };
        let config = h.engine.config();
        match h.stream_meta.get(stream).map(|m| m.stream_type) {
            Some(StreamType::Main) => !config.main.p2p_disabled,
            Some(StreamType::Secondary) => !config.secondary.p2p_disabled,
            None => false,
        }
    }

    /// Asks for a segment. Exactly one of the callbacks is called, later:
    /// `on_success(ArrayBuffer, bandwidthBitsPerSecond)` or
    /// `on_error(type, message)` with type `"failed"` or `"aborted"`.
    /// Returns the request id for [`Self::abort_segment_loading`].
    #[wasm_bindgen(js_name = loadSegment)]
    pub fn load_segment(
        &self,
        segment_runtime_id: &str,
        on_success: Function,
        on_error: Function,
    ) -> f64 {
        let rc = self.rc();
        let (request, input) = {
            let mut h = rc.borrow_mut();
            let request = h.next_request;
            h.next_request += 1;
            let Some(&(stream, segment)) = h.segments.get(segment_runtime_id) else {
                drop(h);
                let message = format!("unknown segment {segment_runtime_id}");
                defer_error(on_error, "failed", message);
                return request as f64;
            };
            if let Some(meta) = h.stream_meta.get(&stream) {
                let slot = type_slot(meta.stream_type);
                if let Some(c) = h.current.get_mut(slot) {
                    *c = Some(stream);
                }
            }
            h.requests.insert(
                request,
                PlayerRequest {
                    on_success,
                    on_error,
                },
            );
            (
                request,
                Input::LoadSegment {
                    request,
                    stream,
                    segment,
                },
            )
        };
        let _ = feed(&Rc::downgrade(&rc), input);
        request as f64
    }

    /// The player no longer needs a request: its error callback gets
    /// `"aborted"` and the download may go on as prefetch.
    #[wasm_bindgen(js_name = abortSegmentLoading)]
    pub fn abort_segment_loading(&self, request: f64) {
        let rc = self.rc();
        let request = request as PlayerRequestId;
        let Some(req) = rc.borrow_mut().requests.remove(&request) else {
            return;
        };
        let _ = feed(&Rc::downgrade(&rc), Input::AbortSegment { request });
        defer_error(req.on_error, "aborted", "aborted by the player".into());
    }

    /// The playhead (seconds of media) and the playback rate.
    #[wasm_bindgen(js_name = updatePlayback)]
    pub fn update_playback(&self, position: f64, rate: f64) {
        let rc = self.rc();
        if position.is_finite() {
            let _ = feed(&Rc::downgrade(&rc), Input::Playback { position, rate });
        }
    }

    /// The bitrate of the level now playing, in bits per second.
    #[wasm_bindgen(js_name = setActiveLevelBitrate)]
    pub fn set_active_level_bitrate(&self, bits_per_second: f64) {
        let rc = self.rc();
        let _ = feed(&Rc::downgrade(&rc), Input::ActiveBitrate(bits_per_second));
    }

    /// Whether the presentation is live.
    #[wasm_bindgen(js_name = setIsLive)]
    pub fn set_is_live(&self, live: bool) {
        let rc = self.rc();
        rc.borrow_mut().live = live;
        let _ = feed(&Rc::downgrade(&rc), Input::Live(live));
    }

    /// Whether the presentation is live, as last set.
    #[wasm_bindgen(js_name = isLive)]
    pub fn is_live(&self) -> bool {
        let rc = self.rc();
        rc.borrow().live
    }

    /// Byte counters since creation and peers connected now:
    /// `{httpBytes, p2pBytes, uploadedBytes, peers}`.
    pub fn stats(&self) -> JsValue {
        let rc = self.rc();
        let c = rc.borrow().counters;
        let o = Object::new();
        for (k, v) in [
            ("httpBytes", c.http_bytes),
            ("p2pBytes", c.p2p_bytes),
            ("uploadedBytes", c.uploaded_bytes),
            ("peers", f64::from(c.peers)),
        ] {
            let _ = Reflect::set(&o, &JsValue::from_str(k), &JsValue::from_f64(v));
        }
        o.into()
    }

    /// Like P2P Media Loader's `core.destroy()`: closes every connection,
    /// aborts every download, fails pending requests as aborted, and forgets
    /// streams and segments; the object stays usable for a new source, with
    /// the same configuration and event callback.
    pub fn reset(&self) {
        let rc = self.rc();
        let (config, host_config, on_event, counters) = {
            let h = rc.borrow();
            (
                h.config.clone(),
                h.host_config.clone(),
                h.on_event.clone(),
                h.counters,
            )
        };
        let requests = shut_down(&rc);
        let fresh = new_host(config, host_config, on_event);
        *self.host.borrow_mut() = fresh.clone();
        fresh.borrow_mut().counters = Counters {
            peers: 0,
            ..counters
        };
        for req in requests {
            defer_error(req.on_error, "aborted", "the engine was reset".into());
        }
    }

    /// Closes everything for good (the object must not be used again).
    pub fn destroy(&self) {
        for req in shut_down(&self.rc()) {
            defer_error(req.on_error, "aborted", "the engine was destroyed".into());
        }
    }
}

/// Stops the timer and every browser resource; returns the pending requests.
fn shut_down(rc: &HostRef) -> Vec<PlayerRequest> {
    let mut h = rc.borrow_mut();
    if let Some((id, _)) = h.timer.take() {
        clear_timeout(&id);
    }
    h.timer_callback = None;
    h.io.close_all();
    h.requests.drain().map(|(_, r)| r).collect()
}

/// Calls `on_error(kind, message)` on a later task: P2P Media Loader never
/// answers a request synchronously, and players rely on that.
fn defer_error(on_error: Function, kind: &'static str, message: String) {
    wasm_bindgen_futures::spawn_local(async move {
        let _ = on_error.call2(
            &JsValue::NULL,
            &JsValue::from_str(kind),
            &JsValue::from_str(&message),
        );
    });
}
