//! P2P Media Loader's configuration object (`CoreConfig`, SPEC §6.1) read
//! into the engine's [`EngineConfig`], and written back for `getConfig()`.
//!
//! Layering as in P2P Media Loader: keys at the top level apply to both
//! stream types, `mainStream` / `secondaryStream` override them per type,
//! `undefined` never overrides, unknown keys are ignored.

use std::time::Duration;

use js_sys::{Array, Object, Reflect};
use p2pml_core::config::{Seeding, StreamConfig};
use p2pml_core::engine::EngineConfig;
use wasm_bindgen::{JsCast, JsValue};

/// The browser-side settings the engine does not see.
#[derive(Debug, Clone)]
pub(crate) struct HostConfig {
    /// Passed to `new RTCPeerConnection(…)` as given (`rtcConfig`).
    pub(crate) rtc_config: JsValue,
    /// How long to wait for ICE gathering before sending what is there.
    pub(crate) ice_gathering_timeout_ms: f64,
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            // P2P Media Loader's default ICE servers (SPEC §6.1).
            rtc_config: default_rtc_config(),
            ice_gathering_timeout_ms: 5000.0,
        }
    }
}

fn default_rtc_config() -> JsValue {
    let servers = Array::new();
    for url in [
        "stun:stun.l.google.com:19302",
        "stun:global.stun.twilio.com:3478",
    ] {
        let s = Object::new();
        set(&s, "urls", &JsValue::from_str(url));
        servers.push(&s);
    }
    let cfg = Object::new();
    set(&cfg, "iceServers", &servers);
    cfg.into()
}

fn get(obj: &JsValue, key: &str) -> Option<JsValue> {
    if !obj.is_object() {
        return None;
    }
    Reflect::get(obj, &JsValue::from_str(key))
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

fn set(obj: &Object, key: &str, value: &JsValue) {
    // Setting a property on a fresh plain object cannot fail.
    let _ = Reflect::set(obj, &JsValue::from_str(key), value);
}

fn num(obj: &JsValue, key: &str) -> Option<f64> {
    get(obj, key)
        .and_then(|v| v.as_f64())
        .filter(|v| v.is_finite())
}

fn count(obj: &JsValue, key: &str) -> Option<usize> {
    num(obj, key).filter(|v| *v >= 0.0).map(|v| v as usize)
}

fn millis(obj: &JsValue, key: &str) -> Option<Duration> {
    num(obj, key)
        .filter(|v| *v >= 0.0)
        .map(|v| Duration::from_micros((v * 1000.0) as u64))
}

fn flag(obj: &JsValue, key: &str) -> Option<bool> {
    get(obj, key).and_then(|v| v.as_bool())
}

fn string(obj: &JsValue, key: &str) -> Option<String> {
    get(obj, key).and_then(|v| v.as_string())
}

/// Applies the per-type keys found in `obj` to `s`.
fn apply_stream(obj: &JsValue, s: &mut StreamConfig) {
    if let Some(v) = num(obj, "highDemandTimeWindow") {
        s.high_demand_window = v;
    }
    if let Some(v) = num(obj, "httpDownloadTimeWindow") {
        s.http_download_window = v;
    }
    if let Some(v) = num(obj, "p2pDownloadTimeWindow") {
        s.p2p_download_window = v;
    }
    if let Some(v) = millis(obj, "httpDownloadInitialTimeoutMs") {
        s.http_initial_delay = v;
    }
    if let Some(v) = count(obj, "simultaneousHttpDownloads") {
        s.simultaneous_http_downloads = v;
    }
    if let Some(v) = count(obj, "simultaneousP2PDownloads") {
        s.simultaneous_p2p_downloads = v;
    }
    if let Some(v) = count(obj, "webRtcMaxMessageSize") {
        // A data-channel message never exceeds 64 KiB − 1 towards JS peers.
        s.max_message_size = v.clamp(1024, 65_535);
    }
    if let Some(v) = millis(obj, "p2pNotReceivingBytesTimeoutMs") {
        s.p2p_no_bytes_timeout = v;
    }
    if let Some(v) = millis(obj, "p2pInactiveLoaderDestroyTimeoutMs") {
        s.inactive_swarm_linger = v;
    }
    if let Some(v) = millis(obj, "httpNotReceivingBytesTimeoutMs") {
        s.http_no_bytes_timeout = v;
    }
    if let Some(v) = count(obj, "httpErrorRetries") {
        s.http_error_retries = u32::try_from(v).unwrap_or(u32::MAX);
    }
    if let Some(v) = count(obj, "p2pErrorRetries") {
        s.p2p_error_retries = u32::try_from(v).unwrap_or(u32::MAX);
    }
    if let Some(v) = flag(obj, "isP2PDisabled") {
        s.p2p_disabled = v;
    }
    if let Some(v) = flag(obj, "isP2PUploadDisabled") {
        s.p2p_upload_disabled = v;
    }
}

/// Applies the keys of a P2P Media Loader config object (full or partial)
/// to `config` and `host` (for `applyDynamicConfig`, the engine then keeps
/// its creation-only settings: see `Engine::set_config`).
pub(crate) fn apply(obj: &JsValue, config: &mut EngineConfig, host: &mut HostConfig) {
    apply_stream(obj, &mut config.main);
    apply_stream(obj, &mut config.secondary);
    if let Some(main) = get(obj, "mainStream") {
        apply_stream(&main, &mut config.main);
    }
    if let Some(secondary) = get(obj, "secondaryStream") {
        apply_stream(&secondary, &mut config.secondary);
    }
    let c = &mut config.common;
    if let Some(list) = get(obj, "announceTrackers").and_then(|v| v.dyn_into::<Array>().ok()) {
        c.announce_trackers = list.iter().filter_map(|u| u.as_string()).collect();
    }
    if let Some(v) = string(obj, "trackerClientVersionPrefix") {
        c.peer_id_prefix = v;
    }
    if let Some(v) = string(obj, "swarmId") {
        c.swarm_id = Some(v);
    }
    if let Some(v) = num(obj, "segmentMemoryStorageLimit").filter(|v| *v > 0.0) {
        c.storage_limit_bytes = (v * 1024.0 * 1024.0) as u64;
    }
    // Our own settings (not in P2P Media Loader; see p2pml_core::config).
    if let Some(v) = count(obj, "maxPeersPerSwarm") {
        c.max_peers_per_swarm = v;
    }
    if let Some(v) = count(obj, "maxConcurrentUploads") {
        c.max_concurrent_uploads = v;
    }
    if let Some(v) = count(obj, "peersPerSeeder") {
        c.peers_per_seeder = v.max(1);
    }
    if let Some(v) = num(obj, "httpSafetyMargin").filter(|v| *v >= 0.0) {
        c.http_safety_margin = v;
    }
    if let Some(v) = num(obj, "maxPrefetchBytes").filter(|v| *v >= 0.0) {
        c.max_prefetch_bytes = v as u64;
    }
    if let Some(v) = millis(obj, "seedingGraceMs") {
        c.seeding_grace = v;
    }
    if let Some(v) = millis(obj, "seedingLeadWindowMs") {
        c.seeding_lead_window = v;
    }
    if let Some(v) = flag(obj, "relay") {
        c.relay = v;
    }
    match string(obj, "seeding").as_deref() {
        Some("random") => c.seeding = Seeding::Random,
        Some("coordinated") => c.seeding = Seeding::Coordinated,
        Some("all") => c.seeding = Seeding::All,
        _ => {}
    }
    if let Some(v) = get(obj, "rtcConfig").filter(JsValue::is_object) {
        host.rtc_config = v;
    }
    if let Some(v) = num(obj, "iceGatheringTimeoutMs").filter(|v| *v >= 0.0) {
        host.ice_gathering_timeout_ms = v;
    }
}

fn stream_to_js(s: &StreamConfig) -> Object {
    let o = Object::new();
    let ms = |d: Duration| JsValue::from_f64(d.as_secs_f64() * 1000.0);
    let n = |v: usize| JsValue::from_f64(v as f64);
    set(&o, "highDemandTimeWindow", &s.high_demand_window.into());
    set(&o, "httpDownloadTimeWindow", &s.http_download_window.into());
    set(&o, "p2pDownloadTimeWindow", &s.p2p_download_window.into());
    set(
        &o,
        "httpDownloadInitialTimeoutMs",
        &ms(s.http_initial_delay),
    );
    set(
        &o,
        "simultaneousHttpDownloads",
        &n(s.simultaneous_http_downloads),
    );
    set(
        &o,
        "simultaneousP2PDownloads",
        &n(s.simultaneous_p2p_downloads),
    );
    set(&o, "webRtcMaxMessageSize", &n(s.max_message_size));
    set(
        &o,
        "p2pNotReceivingBytesTimeoutMs",
        &ms(s.p2p_no_bytes_timeout),
    );
    set(
        &o,
        "p2pInactiveLoaderDestroyTimeoutMs",
        &ms(s.inactive_swarm_linger),
    );
    set(
        &o,
        "httpNotReceivingBytesTimeoutMs",
        &ms(s.http_no_bytes_timeout),
    );
    set(&o, "httpErrorRetries", &s.http_error_retries.into());
    set(&o, "p2pErrorRetries", &s.p2p_error_retries.into());
    set(&o, "isP2PDisabled", &s.p2p_disabled.into());
    set(&o, "isP2PUploadDisabled", &s.p2p_upload_disabled.into());
    o
}

/// The configuration in force, in P2P Media Loader's shape: the common keys
/// at the top level, each type's settings under `mainStream` and
/// `secondaryStream`.
pub(crate) fn to_js(config: &EngineConfig, host: &HostConfig) -> JsValue {
    let o = Object::new();
    let c = &config.common;
    let trackers: Array = c
        .announce_trackers
        .iter()
        .map(|u| JsValue::from_str(u))
        .collect();
    set(&o, "announceTrackers", &trackers);
    set(&o, "rtcConfig", &host.rtc_config);
    set(
        &o,
        "trackerClientVersionPrefix",
        &JsValue::from_str(&c.peer_id_prefix),
    );
    if let Some(id) = &c.swarm_id {
        set(&o, "swarmId", &JsValue::from_str(id));
    }
    set(
        &o,
        "segmentMemoryStorageLimit",
        &JsValue::from_f64(c.storage_limit_bytes as f64 / (1024.0 * 1024.0)),
    );
    set(
        &o,
        "maxPeersPerSwarm",
        &JsValue::from_f64(c.max_peers_per_swarm as f64),
    );
    set(
        &o,
        "maxConcurrentUploads",
        &JsValue::from_f64(c.max_concurrent_uploads as f64),
    );
    set(
        &o,
        "peersPerSeeder",
        &JsValue::from_f64(c.peers_per_seeder as f64),
    );
    set(&o, "httpSafetyMargin", &c.http_safety_margin.into());
    set(
        &o,
        "maxPrefetchBytes",
        &JsValue::from_f64(c.max_prefetch_bytes as f64),
    );
    set(&o, "relay", &c.relay.into());
    set(
        &o,
        "seedingGraceMs",
        &JsValue::from_f64(c.seeding_grace.as_secs_f64() * 1000.0),
    );
    set(
        &o,
        "seedingLeadWindowMs",
        &JsValue::from_f64(c.seeding_lead_window.as_secs_f64() * 1000.0),
    );
    let seeding = match c.seeding {
        Seeding::Coordinated => "coordinated",
        Seeding::Random => "random",
        Seeding::All => "all",
    };
    set(&o, "seeding", &JsValue::from_str(seeding));
    set(
        &o,
        "iceGatheringTimeoutMs",
        &JsValue::from_f64(host.ice_gathering_timeout_ms),
    );
    set(&o, "mainStream", &stream_to_js(&config.main));
    set(&o, "secondaryStream", &stream_to_js(&config.secondary));
    o.into()
}
