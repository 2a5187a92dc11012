//! An emulated player, shaped like hls.js under P2P Media Loader's tuning:
//! one segment request at a time, a forward buffer of `player_buffer_secs`,
//! live start `live_delay_segments` behind the edge, playback at rate 1 that
//! stalls when the next segment is missing.

use std::collections::BTreeSet;

use p2pml_core::time::Instant;

/// What the player wants the world to do.
#[derive(Debug, PartialEq)]
pub(crate) enum Want {
    /// Ask the engine for this segment.
    Load(i64),
}

#[derive(Debug)]
pub(crate) struct Player {
    pub(crate) joined: Instant,
    pub(crate) position: f64,
    pub(crate) started: Option<Instant>,
    pub(crate) buffered: BTreeSet<i64>,
    pub(crate) pending: Option<(u64, i64)>,
    pub(crate) retry_at: Option<Instant>,
    stall_since: Option<Instant>,
    pub(crate) stalls: u32,
    pub(crate) stall_secs: f64,
    segment_secs: f64,
    buffer_secs: f64,
    /// The last segment of a VOD title: playing past it is the end, not a stall.
    pub(crate) last_segment: Option<i64>,
}

impl Player {
    pub(crate) fn new(joined: Instant, position: f64, segment_secs: f64, buffer_secs: f64) -> Self {
        Self {
            joined,
            position,
            started: None,
            buffered: BTreeSet::new(),
            pending: None,
            retry_at: None,
            stall_since: None,
            stalls: 0,
            stall_secs: 0.0,
            segment_secs,
            buffer_secs,
            last_segment: None,
        }
    }

    #[expect(clippy::cast_possible_truncation, reason = "segment index")]
    fn segment_at(&self, position: f64) -> i64 {
        (position / self.segment_secs + 1e-9).floor() as i64
    }

    /// Advances playback by `dt` seconds at `now`.
    pub(crate) fn advance(&mut self, now: Instant, dt: f64) {
        if self.started.is_none() {
            if self.buffered.contains(&self.segment_at(self.position)) {
                self.started = Some(now);
            }
            return;
        }
        let mut left = dt;
        while left > 1e-9 {
            let seg = self.segment_at(self.position);
            if self.last_segment.is_some_and(|last| seg > last) {
                return; // the title ended
            }
            if !self.buffered.contains(&seg) {
                if self.stall_since.is_none() {
                    self.stall_since = Some(now);
                    self.stalls += 1;
                }
                return;
            }
            if let Some(since) = self.stall_since.take() {
                self.stall_secs += (now - since).as_secs_f64();
            }
            #[expect(clippy::cast_precision_loss, reason = "segment time")]
            let end = (seg + 1) as f64 * self.segment_secs;
            let step = left.min(end - self.position);
            self.position += step;
            left -= step;
        }
    }

    /// Jumps forward (live resync after falling out of the window).
    pub(crate) fn jump(&mut self, position: f64) {
        if position > self.position {
            self.position = position;
        }
    }

    /// The next request to make, given the playlist's last segment id.
    pub(crate) fn want(&mut self, now: Instant, last_available: i64) -> Option<Want> {
        if self.pending.is_some() || self.retry_at.is_some_and(|t| now < t) {
            return None;
        }
        let mut next = self.segment_at(self.position);
        while self.buffered.contains(&next) {
            next += 1;
        }
        #[expect(clippy::cast_precision_loss, reason = "segment time")]
        let ahead = next as f64 * self.segment_secs - self.position;
        (next <= last_available && ahead < self.buffer_secs).then_some(Want::Load(next))
    }

    /// Stops counting: an ongoing stall ends at `now`.
    pub(crate) fn finish(&mut self, now: Instant) {
        if let Some(since) = self.stall_since.take() {
            self.stall_secs += (now - since).as_secs_f64();
        }
    }

    /// Drops buffered segments well behind the playhead.
    pub(crate) fn trim(&mut self) {
        let keep_from = self.segment_at(self.position) - 2;
        self.buffered = self.buffered.split_off(&keep_from);
    }
}
