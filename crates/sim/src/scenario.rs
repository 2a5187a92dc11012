//! A scenario: the stream, the viewers, the network, and what happens.
//! Read from TOML; unknown keys are refused so typos do not go unnoticed.

use serde::{Deserialize, Serialize};

/// Live or VOD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A sliding-window playlist that gains a segment every segment duration.
    Live,
    /// A fixed title.
    Vod,
}

/// Where a viewer starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Start {
    /// Live: `live_delay_segments` behind the edge (hls.js's default is 3).
    Edge,
    /// Live: at the oldest segment of the window.
    Oldest,
    /// VOD: at the beginning.
    Beginning,
    /// VOD: anywhere in the first 80% of the title.
    Random,
}

/// Everything a run needs. Defaults are the common settings:
/// 2 Mb/s, 2 s segments, uplinks 4 Mb/s, downlinks 25 Mb/s, 20–80 ms peer
/// latency, origin 25 Mb/s per client with 50 ms to first byte.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Scenario {
    /// Name in reports.
    pub name: String,
    /// Live or VOD.
    pub mode: Mode,
    /// Stream bitrate in kbit/s.
    pub bitrate_kbps: u64,
    /// Segment duration in seconds.
    pub segment_secs: f64,
    /// Live playlist window in segments.
    pub window_segments: u64,
    /// Live: how many segments behind the edge players start (hls.js: 3).
    pub live_delay_segments: u64,
    /// VOD title length in seconds.
    pub vod_secs: f64,
    /// How far ahead the player buffers (P2P Media Loader's hls.js tuning:
    /// max(2 × target duration, 15 s)).
    pub player_buffer_secs: f64,
    /// Viewers.
    pub viewers: usize,
    /// Viewers join evenly over this many seconds.
    pub join_over_secs: f64,
    /// Where viewers start.
    pub start: Start,
    /// Virtual seconds to simulate.
    pub duration_secs: f64,
    /// Peer uplink in kbit/s.
    pub uplink_kbps: u64,
    /// Peer downlink in kbit/s.
    pub downlink_kbps: u64,
    /// Share of viewers (0..1) with a slow uplink.
    pub slow_uplink_share: f64,
    /// The slow uplink in kbit/s.
    pub slow_uplink_kbps: u64,
    /// One-way latency between peers, min and max milliseconds.
    pub latency_ms: [u64; 2],
    /// Origin throughput per client in kbit/s.
    pub origin_kbps: u64,
    /// Origin time to first byte in milliseconds.
    pub origin_ttfb_ms: u64,
    /// Share of origin requests (0..1) that fail with 503.
    pub origin_error_rate: f64,
    /// Churn: mean seconds a viewer stays before leaving and rejoining (0: never).
    pub churn_mean_secs: f64,
    /// At this second, all viewers but `vanish_keep` leave at once (0: never).
    pub vanish_at_secs: f64,
    /// How many viewers stay when the others vanish.
    pub vanish_keep: usize,
    /// Maximum open connections per peer (engine's cap).
    pub max_peers: usize,
    /// Engine settings to try instead of the defaults.
    pub engine: EngineOverrides,
}

/// Engine settings a scenario may override, to compare designs side by side.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct EngineOverrides {
    /// `CommonConfig::max_concurrent_uploads`.
    pub upload_slots: Option<usize>,
    /// `CommonConfig::peers_per_seeder`.
    pub peers_per_seeder: Option<usize>,
    /// `CommonConfig::http_safety_margin`, in seconds.
    pub http_safety_margin: Option<f64>,
    /// `CommonConfig::relay`.
    pub relay: Option<bool>,
    /// `CommonConfig::seeding_grace`, in seconds.
    pub seeding_grace_secs: Option<f64>,
    /// `CommonConfig::seeding_lead_window`, in seconds.
    pub seeding_lead_window_secs: Option<f64>,
}

impl Default for Scenario {
    fn default() -> Self {
        Self {
            name: "unnamed".into(),
            mode: Mode::Live,
            bitrate_kbps: 2000,
            segment_secs: 2.0,
            window_segments: 6,
            live_delay_segments: 3,
            vod_secs: 600.0,
            player_buffer_secs: 15.0,
            viewers: 20,
            join_over_secs: 30.0,
            start: Start::Edge,
            duration_secs: 600.0,
            uplink_kbps: 4000,
            downlink_kbps: 25_000,
            slow_uplink_share: 0.0,
            slow_uplink_kbps: 500,
            latency_ms: [20, 80],
            origin_kbps: 25_000,
            origin_ttfb_ms: 50,
            origin_error_rate: 0.0,
            churn_mean_secs: 0.0,
            vanish_at_secs: 0.0,
            vanish_keep: 1,
            max_peers: 24,
            engine: EngineOverrides::default(),
        }
    }
}

/// A scenario file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// Not valid TOML, or unknown or mistyped keys.
    #[error("invalid scenario: {0}")]
    Toml(#[from] toml::de::Error),
    /// Values that make no sense.
    #[error("invalid scenario: {0}")]
    Invalid(String),
}

impl Scenario {
    /// Parses and checks a scenario.
    pub fn from_toml(text: &str) -> Result<Self, ScenarioError> {
        let s: Self = toml::from_str(text)?;
        s.validate()?;
        Ok(s)
    }

    /// Checks that values make sense.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        let bad = |m: &str| Err(ScenarioError::Invalid(m.into()));
        if self.segment_secs <= 0.0 || self.bitrate_kbps == 0 {
            return bad("segment_secs and bitrate_kbps must be positive");
        }
        if self.viewers == 0 || self.duration_secs <= 0.0 {
            return bad("viewers and duration_secs must be positive");
        }
        if self.uplink_kbps == 0 || self.downlink_kbps == 0 || self.origin_kbps == 0 {
            return bad("link speeds must be positive");
        }
        if self.latency_ms[0] > self.latency_ms[1] {
            return bad("latency_ms is [min, max]");
        }
        if self.mode == Mode::Live && self.window_segments < self.live_delay_segments.max(1) {
            return bad("window_segments must hold live_delay_segments");
        }
        if !(0.0..=1.0).contains(&self.slow_uplink_share)
            || !(0.0..=1.0).contains(&self.origin_error_rate)
        {
            return bad("shares and rates are between 0 and 1");
        }
        Ok(())
    }

    /// Bytes of one segment.
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "sizes"
    )]
    pub fn segment_bytes(&self) -> u64 {
        (self.bitrate_kbps as f64 * 1000.0 * self.segment_secs / 8.0) as u64
    }
}
