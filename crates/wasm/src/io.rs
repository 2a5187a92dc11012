//! The browser I/O the engine asks for: `fetch`, tracker `WebSocket`s and
//! WebRTC data channels. Each piece reports back through [`crate::feed`],
//! and only while the engine still wants it: once the engine aborted a
//! fetch or closed a connection, late browser callbacks are dropped.

use std::collections::HashMap;
use std::rc::{Rc, Weak};

use bytes::Bytes;
use js_sys::{Promise, Reflect, Uint8Array};
use p2pml_core::engine::{FetchId, HttpRange, Input, Output, TrackerId};
use p2pml_core::tracker::ConnId;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, spawn_local};
use web_sys::{
    AbortController, Headers, MessageEvent, Request, RequestInit, Response, RtcDataChannel,
    RtcDataChannelEvent, RtcDataChannelState, RtcDataChannelType, RtcIceConnectionState,
    RtcIceGatheringState, RtcPeerConnection, RtcSdpType, RtcSessionDescriptionInit, WebSocket,
};

use crate::{Host, HostRef, feed, set_timeout};

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = fetch)]
    fn fetch_request(request: &Request) -> Promise;
}

/// simple-peer's `bufferedAmountLowThreshold` (SPEC §2.5): the engine is
/// told when a channel's buffer drains below it.
const LOW_WATER: u32 = 65_536;

type Handler = Closure<dyn FnMut(JsValue)>;

struct Socket {
    ws: WebSocket,
    _handlers: Vec<Handler>,
}

struct Conn {
    pc: RtcPeerConnection,
    channel: Option<(RtcDataChannel, Vec<Handler>)>,
    _handlers: Vec<Handler>,
}

impl Conn {
    fn close(self) {
        if let Some((dc, _)) = &self.channel {
            detach_channel(dc);
            dc.close();
        }
        self.pc.set_ondatachannel(None);
        self.pc.set_oniceconnectionstatechange(None);
        self.pc.close();
    }
}

fn detach_channel(dc: &RtcDataChannel) {
    dc.set_onopen(None);
    dc.set_onmessage(None);
    dc.set_onclose(None);
    dc.set_onbufferedamountlow(None);
}

impl Socket {
    fn close(self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        self.ws.set_onerror(None);
        let _ = self.ws.close();
    }
}

/// The browser resources in use, keyed by the engine's ids.
#[derive(Default)]
pub(crate) struct Io {
    fetches: HashMap<FetchId, AbortController>,
    sockets: HashMap<TrackerId, Socket>,
    conns: HashMap<ConnId, Conn>,
}

impl Io {
    /// Aborts, closes and forgets everything.
    pub(crate) fn close_all(&mut self) {
        for (_, c) in self.fetches.drain() {
            c.abort();
        }
        for (_, s) in self.sockets.drain() {
            s.close();
        }
        for (_, c) in self.conns.drain() {
            c.close();
        }
    }
}

fn error_text(e: &JsValue) -> String {
    e.as_string()
        .or_else(|| {
            Reflect::get(e, &JsValue::from_str("message"))
                .ok()
                .and_then(|m| m.as_string())
        })
        .unwrap_or_else(|| "unknown error".into())
}

/// Performs one I/O output of the engine.
pub(crate) fn perform(rc: &HostRef, output: Output<Bytes>) {
    match output {
        Output::HttpFetch { fetch, url, range } => start_fetch(rc, fetch, &url, range),
        Output::HttpAbort { fetch } => {
            if let Some(c) = rc.borrow_mut().io.fetches.remove(&fetch) {
                c.abort();
            }
        }
        Output::TrackerConnect { tracker, url } => connect_tracker(rc, tracker, &url),
        Output::TrackerSend { tracker, text } => {
            let failed = match rc.borrow().io.sockets.get(&tracker) {
                Some(s) => s.ws.send_with_str(&text).is_err(),
                None => false,
            };
            if failed {
                closed_tracker(rc, tracker);
            }
        }
        Output::CreateOffer { conn } => create_offer(rc, conn),
        Output::CreateAnswer { conn, offer } => create_answer(rc, conn, offer),
        Output::AcceptAnswer { conn, answer } => accept_answer(rc, conn, answer),
        Output::Send { conn, data } => {
            let sent = match rc
                .borrow()
                .io
                .conns
                .get(&conn)
                .and_then(|c| c.channel.as_ref())
            {
                Some((dc, _)) => dc.send_with_u8_array(&data).is_ok(),
                None => false,
            };
            if !sent {
                closed_conn(rc, conn);
            }
        }
        Output::QueryBuffered { conn } => {
            let amount = rc
                .borrow()
                .io
                .conns
                .get(&conn)
                .and_then(|c| c.channel.as_ref())
                .map(|(dc, _)| dc.buffered_amount() as usize);
            if let Some(amount) = amount {
                let mut h = rc.borrow_mut();
                let now = h.now();
                h.engine
                    .handle_input(now, Input::ChannelBuffered { conn, amount });
            }
        }
        Output::Close { conn } => {
            let c = rc.borrow_mut().io.conns.remove(&conn);
            if let Some(c) = c {
                c.close();
            }
        }
        // Answers to the player and events are the host's, not I/O.
        Output::SegmentLoaded { .. } | Output::SegmentFailed { .. } | Output::Event(_) => {}
    }
}

// ---- HTTP ----------------------------------------------------------------

fn start_fetch(rc: &HostRef, fetch: FetchId, url: &str, range: Option<HttpRange>) {
    let weak = Rc::downgrade(rc);
    let controller = match AbortController::new() {
        Ok(c) => c,
        Err(e) => {
            return fail_fetch_later(weak, fetch, error_text(&e));
        }
    };
    let init = RequestInit::new();
    init.set_signal(Some(&controller.signal()));
    if let Some(r) = range {
        let value = match r.end {
            Some(end) => format!("bytes={}-{}", r.start, end.saturating_sub(1)),
            None => format!("bytes={}-", r.start),
        };
        if let Ok(headers) = Headers::new() {
            let _ = headers.set("Range", &value);
            init.set_headers(&headers);
        }
    }
    let request = match Request::new_with_str_and_init(url, &init) {
        Ok(r) => r,
        Err(e) => return fail_fetch_later(weak, fetch, error_text(&e)),
    };
    rc.borrow_mut().io.fetches.insert(fetch, controller);
    spawn_local(async move {
        if let Err(reason) = run_fetch(&weak, fetch, request).await {
            fetch_input(&weak, fetch, Input::HttpFailed { fetch, reason });
        }
    });
}

fn fail_fetch_later(weak: Weak<std::cell::RefCell<Host>>, fetch: FetchId, reason: String) {
    // Reported from a task, never from inside the engine's own output loop.
    spawn_local(async move {
        let _ = feed(&weak, Input::HttpFailed { fetch, reason });
    });
}

/// Feeds an input about a fetch the engine still wants; false if it no
/// longer does (aborted) or the host is gone.
fn fetch_input(weak: &Weak<std::cell::RefCell<Host>>, fetch: FetchId, input: Input<Bytes>) -> bool {
    let Some(rc) = weak.upgrade() else {
        return false;
    };
    let finished = matches!(input, Input::HttpEnd { .. } | Input::HttpFailed { .. });
    {
        let mut h = rc.borrow_mut();
        let wanted = if finished {
            h.io.fetches.remove(&fetch).is_some()
        } else {
            h.io.fetches.contains_key(&fetch)
        };
        if !wanted {
            return false;
        }
    }
    feed(weak, input)
}

async fn run_fetch(
    weak: &Weak<std::cell::RefCell<Host>>,
    fetch: FetchId,
    request: Request,
) -> Result<(), String> {
    let response: Response = JsFuture::from(fetch_request(&request))
        .await
        .map_err(|e| error_text(&e))?
        .unchecked_into();
    let content_length = response
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse::<u64>().ok());
    let headers = Input::HttpHeaders {
        fetch,
        status: response.status(),
        content_length,
    };
    if !fetch_input(weak, fetch, headers) {
        return Ok(());
    }
    let Some(body) = response.body() else {
        fetch_input(weak, fetch, Input::HttpEnd { fetch });
        return Ok(());
    };
    let reader: web_sys::ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    loop {
        let chunk = JsFuture::from(reader.read())
            .await
            .map_err(|e| error_text(&e))?;
        let done = Reflect::get(&chunk, &JsValue::from_str("done"))
            .ok()
            .and_then(|d| d.as_bool())
            .unwrap_or(true);
        if done {
            fetch_input(weak, fetch, Input::HttpEnd { fetch });
            return Ok(());
        }
        let value =
            Reflect::get(&chunk, &JsValue::from_str("value")).map_err(|e| error_text(&e))?;
        let data = Bytes::from(Uint8Array::new(&value).to_vec());
        if !fetch_input(weak, fetch, Input::HttpData { fetch, data }) {
            let _ = reader.cancel();
            return Ok(());
        }
    }
}

// ---- Trackers --------------------------------------------------------------

fn connect_tracker(rc: &HostRef, tracker: TrackerId, url: &str) {
    if let Some(old) = rc.borrow_mut().io.sockets.remove(&tracker) {
        old.close();
    }
    let ws = match WebSocket::new(url) {
        Ok(ws) => ws,
        Err(e) => {
            warn(&format!("tracker {url}: {}", error_text(&e)));
            // Reported from a task: the engine backs off and retries.
            let weak = Rc::downgrade(rc);
            spawn_local(async move {
                let _ = feed(&weak, Input::TrackerClosed { tracker });
            });
            return;
        }
    };
    let weak = Rc::downgrade(rc);
    let on_open = {
        let weak = weak.clone();
        Handler::new(move |_| {
            if live_socket(&weak, tracker) {
                let _ = feed(&weak, Input::TrackerOpened { tracker });
            }
        })
    };
    let on_message = {
        let weak = weak.clone();
        Handler::new(move |ev: JsValue| {
            let ev: MessageEvent = ev.unchecked_into();
            // Trackers speak JSON text; a binary frame is not a message.
            if let Some(text) = ev.data().as_string() {
                if live_socket(&weak, tracker) {
                    let _ = feed(&weak, Input::TrackerMessage { tracker, text });
                }
            }
        })
    };
    let on_close = {
        let weak = weak.clone();
        Handler::new(move |_| {
            if let Some(rc) = weak.upgrade() {
                closed_tracker(&rc, tracker);
            }
        })
    };
    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    rc.borrow_mut().io.sockets.insert(
        tracker,
        Socket {
            ws,
            _handlers: vec![on_open, on_message, on_close],
        },
    );
}

fn live_socket(weak: &Weak<std::cell::RefCell<Host>>, tracker: TrackerId) -> bool {
    weak.upgrade()
        .is_some_and(|rc| rc.borrow().io.sockets.contains_key(&tracker))
}

/// A tracker socket closed (or could not send): forget it and tell the
/// engine, which reconnects with back-off.
fn closed_tracker(rc: &HostRef, tracker: TrackerId) {
    let socket = rc.borrow_mut().io.sockets.remove(&tracker);
    if let Some(s) = socket {
        // Dropping the handlers inside their own call is not allowed:
        // release them from a task.
        spawn_local(async move { s.close() });
        let weak = Rc::downgrade(rc);
        spawn_local(async move {
            let _ = feed(&weak, Input::TrackerClosed { tracker });
        });
    }
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = warn)]
    fn warn(message: &str);
}

// ---- WebRTC ----------------------------------------------------------------

fn new_peer_connection(rc: &HostRef) -> Result<RtcPeerConnection, JsValue> {
    let cfg = rc.borrow().host_config.rtc_config.clone();
    RtcPeerConnection::new_with_configuration(cfg.unchecked_ref())
}

/// Wires a connection's data channel to the engine.
fn attach_channel(rc: &HostRef, conn: ConnId, dc: RtcDataChannel) {
    dc.set_binary_type(RtcDataChannelType::Arraybuffer);
    dc.set_buffered_amount_low_threshold(LOW_WATER);
    let weak = Rc::downgrade(rc);
    let on_open = {
        let weak = weak.clone();
        Handler::new(move |_| conn_input(&weak, conn, Input::ChannelOpen { conn }))
    };
    let on_message = {
        let weak = weak.clone();
        Handler::new(move |ev: JsValue| {
            let ev: MessageEvent = ev.unchecked_into();
            let raw = ev.data();
            // JS peers send binary; a text message counts as its UTF-8 bytes.
            let data = match raw.as_string() {
                Some(text) => Bytes::from(text.into_bytes()),
                None => Bytes::from(Uint8Array::new(&raw).to_vec()),
            };
            conn_input(&weak, conn, Input::ChannelMessage { conn, data });
        })
    };
    let on_close = {
        let weak = weak.clone();
        Handler::new(move |_| {
            if let Some(rc) = weak.upgrade() {
                closed_conn(&rc, conn);
            }
        })
    };
    let on_low = {
        let weak = weak.clone();
        let dc = dc.clone();
        Handler::new(move |_| {
            let amount = dc.buffered_amount() as usize;
            conn_input(&weak, conn, Input::ChannelBuffered { conn, amount });
        })
    };
    dc.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    dc.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    dc.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    dc.set_onbufferedamountlow(Some(on_low.as_ref().unchecked_ref()));
    let open_now = dc.ready_state() == RtcDataChannelState::Open;
    if let Some(c) = rc.borrow_mut().io.conns.get_mut(&conn) {
        c.channel = Some((dc, vec![on_open, on_message, on_close, on_low]));
    }
    if open_now {
        spawn_local(async move { conn_input(&weak, conn, Input::ChannelOpen { conn }) });
    }
}

/// Watches the connection's ICE state: a failed or closed link ends it.
fn watch_ice(rc: &HostRef, conn: ConnId, pc: &RtcPeerConnection) -> Handler {
    let weak = Rc::downgrade(rc);
    let pc2 = pc.clone();
    let handler = Handler::new(move |_| {
        if matches!(
            pc2.ice_connection_state(),
            RtcIceConnectionState::Failed | RtcIceConnectionState::Closed
        ) {
            if let Some(rc) = weak.upgrade() {
                closed_conn(&rc, conn);
            }
        }
    });
    pc.set_oniceconnectionstatechange(Some(handler.as_ref().unchecked_ref()));
    handler
}

fn conn_input(weak: &Weak<std::cell::RefCell<Host>>, conn: ConnId, input: Input<Bytes>) {
    let live = weak
        .upgrade()
        .is_some_and(|rc| rc.borrow().io.conns.contains_key(&conn));
    if live {
        let _ = feed(weak, input);
    }
}

/// A connection ended on the browser's side: forget it, tell the engine.
fn closed_conn(rc: &HostRef, conn: ConnId) {
    let c = rc.borrow_mut().io.conns.remove(&conn);
    if let Some(c) = c {
        spawn_local(async move { c.close() });
        let weak = Rc::downgrade(rc);
        spawn_local(async move {
            let _ = feed(&weak, Input::ChannelClosed { conn });
        });
    }
}

/// 40 lower-case hex characters, as simple-peer names its channel.
fn channel_label() -> String {
    (0..40)
        .map(|_| {
            let d = (js_sys::Math::random() * 16.0) as u32;
            char::from_digit(d.min(15), 16).unwrap_or('0')
        })
        .collect()
}

fn create_offer(rc: &HostRef, conn: ConnId) {
    let pc = match new_peer_connection(rc) {
        Ok(pc) => pc,
        Err(e) => return fail_conn_later(rc, conn, &e),
    };
    let ice = watch_ice(rc, conn, &pc);
    rc.borrow_mut().io.conns.insert(
        conn,
        Conn {
            pc: pc.clone(),
            channel: None,
            _handlers: vec![ice],
        },
    );
    let dc = pc.create_data_channel(&channel_label());
    attach_channel(rc, conn, dc);
    let weak = Rc::downgrade(rc);
    spawn_local(async move {
        let result = async {
            let offer = JsFuture::from(pc.create_offer()).await?;
            JsFuture::from(pc.set_local_description(offer.unchecked_ref())).await?;
            Ok::<_, JsValue>(gathered_sdp(&weak, &pc).await)
        }
        .await;
        match result {
            Ok(Some(sdp)) => conn_input(&weak, conn, Input::OfferCreated { conn, sdp }),
            Ok(None) => {}
            Err(e) => {
                if let Some(rc) = weak.upgrade() {
                    fail_conn(&rc, conn, &e);
                }
            }
        }
    });
}

fn create_answer(rc: &HostRef, conn: ConnId, offer: String) {
    let pc = match new_peer_connection(rc) {
        Ok(pc) => pc,
        Err(e) => return fail_conn_later(rc, conn, &e),
    };
    let ice = watch_ice(rc, conn, &pc);
    let weak = Rc::downgrade(rc);
    let on_channel = {
        let weak = weak.clone();
        Handler::new(move |ev: JsValue| {
            let ev: RtcDataChannelEvent = ev.unchecked_into();
            if let Some(rc) = weak.upgrade() {
                let known = rc
                    .borrow()
                    .io
                    .conns
                    .get(&conn)
                    .is_some_and(|c| c.channel.is_none());
                if known {
                    attach_channel(&rc, conn, ev.channel());
                }
            }
        })
    };
    pc.set_ondatachannel(Some(on_channel.as_ref().unchecked_ref()));
    rc.borrow_mut().io.conns.insert(
        conn,
        Conn {
            pc: pc.clone(),
            channel: None,
            _handlers: vec![ice, on_channel],
        },
    );
    spawn_local(async move {
        let result = async {
            let desc = RtcSessionDescriptionInit::new(RtcSdpType::Offer);
            desc.set_sdp(&offer);
            JsFuture::from(pc.set_remote_description(&desc)).await?;
            let answer = JsFuture::from(pc.create_answer()).await?;
            JsFuture::from(pc.set_local_description(answer.unchecked_ref())).await?;
            Ok::<_, JsValue>(gathered_sdp(&weak, &pc).await)
        }
        .await;
        match result {
            Ok(Some(sdp)) => conn_input(&weak, conn, Input::AnswerCreated { conn, sdp }),
            Ok(None) => {}
            Err(e) => {
                if let Some(rc) = weak.upgrade() {
                    fail_conn(&rc, conn, &e);
                }
            }
        }
    });
}

fn accept_answer(rc: &HostRef, conn: ConnId, answer: String) {
    let Some(pc) = rc.borrow().io.conns.get(&conn).map(|c| c.pc.clone()) else {
        return;
    };
    let weak = Rc::downgrade(rc);
    spawn_local(async move {
        let desc = RtcSessionDescriptionInit::new(RtcSdpType::Answer);
        desc.set_sdp(&answer);
        if let Err(e) = JsFuture::from(pc.set_remote_description(&desc)).await {
            if let Some(rc) = weak.upgrade() {
                fail_conn(&rc, conn, &e);
            }
        }
    });
}

fn fail_conn(rc: &HostRef, conn: ConnId, e: &JsValue) {
    warn(&format!("WebRTC connection {conn}: {}", error_text(e)));
    closed_conn(rc, conn);
}

fn fail_conn_later(rc: &HostRef, conn: ConnId, e: &JsValue) {
    warn(&format!("WebRTC connection {conn}: {}", error_text(e)));
    let weak = Rc::downgrade(rc);
    spawn_local(async move {
        let _ = feed(&weak, Input::ChannelClosed { conn });
    });
}

async fn sleep_ms(ms: f64) {
    let promise = Promise::new(&mut |resolve, _| {
        let _ = set_timeout(&resolve, ms);
    });
    let _ = JsFuture::from(promise).await;
}

/// Waits for ICE gathering to complete, or for the configured timeout, and
/// returns the local SDP with every candidate gathered so far and without
/// `a=ice-options:trickle` (as simple-peer sends it). `None` if the
/// connection was closed meanwhile.
async fn gathered_sdp(
    weak: &Weak<std::cell::RefCell<Host>>,
    pc: &RtcPeerConnection,
) -> Option<String> {
    let timeout = weak
        .upgrade()?
        .borrow()
        .host_config
        .ice_gathering_timeout_ms;
    let mut waited = 0.0;
    while pc.ice_gathering_state() != RtcIceGatheringState::Complete && waited < timeout {
        sleep_ms(20.0).await;
        waited += 20.0;
    }
    let sdp = pc.local_description()?.sdp();
    Some(
        sdp.split("\r\n")
            .filter(|line| *line != "a=ice-options:trickle")
            .collect::<Vec<_>>()
            .join("\r\n"),
    )
}
