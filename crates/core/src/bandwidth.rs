//! Throughput estimation (SPEC §4.11), with P2P Media Loader's two clocks:
//! wall time, and "loading-only" time that stands still while nothing
//! downloads, so idle gaps between segments do not dilute the estimate.

use std::collections::VecDeque;
use std::time::Duration;

use crate::time::Instant;

/// Samples older than this much loading-only time are dropped when a
/// download starts (P2PML: 20 s).
const KEEP_LOADING_TIME: Duration = Duration::from_secs(20);
/// Most samples kept, whatever their age: bounds memory when chunks are tiny.
const MAX_SAMPLES: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Sample {
    bytes: u64,
    wall: Instant,
    /// Position on the loading-only clock.
    loading: Duration,
}

/// Bytes over time, on both clocks.
///
/// ```
/// use p2pml_core::bandwidth::BandwidthCalculator;
/// use p2pml_core::time::Instant;
/// use std::time::Duration;
/// let mut bw = BandwidthCalculator::default();
/// let t0 = Instant::from_secs(10);
/// bw.start_loading(t0);
/// bw.add_bytes(t0 + Duration::from_millis(500), 62_500);
/// bw.add_bytes(t0 + Duration::from_millis(1000), 62_500);
/// bw.stop_loading(t0 + Duration::from_millis(1000));
/// // 125 kB over the 0.5 s from the oldest to the newest sample: 2 Mbit/s
/// // (P2P Media Loader measures from the oldest sample, not the download start).
/// assert_eq!(bw.loading_only(Duration::from_secs(3)), 2_000_000.0);
/// ```
#[derive(Debug, Clone, Default)]
pub struct BandwidthCalculator {
    samples: VecDeque<Sample>,
    active: usize,
    /// Loading-only time accumulated while downloads were active.
    accumulated: Duration,
    /// When the current active period started.
    active_since: Option<Instant>,
}

impl BandwidthCalculator {
    /// A download started (several may be active at once).
    pub fn start_loading(&mut self, now: Instant) {
        if self.active == 0 {
            self.active_since = Some(now);
            let clock = self.accumulated;
            while self
                .samples
                .front()
                .is_some_and(|s| clock.saturating_sub(s.loading) > KEEP_LOADING_TIME)
            {
                self.samples.pop_front();
            }
        }
        self.active += 1;
    }

    /// A download ended (completed, failed or aborted).
    pub fn stop_loading(&mut self, now: Instant) {
        if self.active == 0 {
            return;
        }
        self.active -= 1;
        if self.active == 0 {
            self.accumulated = self.loading_clock(now);
            self.active_since = None;
        }
    }

    fn loading_clock(&self, now: Instant) -> Duration {
        self.accumulated + self.active_since.map_or(Duration::ZERO, |s| now - s)
    }

    /// Bytes arrived.
    pub fn add_bytes(&mut self, now: Instant, bytes: u64) {
        if self.samples.len() == MAX_SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back(Sample {
            bytes,
            wall: now,
            loading: self.loading_clock(now),
        });
    }

    /// Forgets everything (after a peer's timeout or error).
    pub fn clear(&mut self) {
        self.samples.clear();
    }

    /// Bits per second over the last `window` of loading-only time, divided
    /// by the span from the oldest counted sample to the newest (at least
    /// 1 ms, as in P2P Media Loader). 0 without samples.
    #[expect(clippy::cast_precision_loss, reason = "a rate")]
    pub fn loading_only(&self, window: Duration) -> f64 {
        let Some(last) = self.samples.back() else {
            return 0.0;
        };
        let threshold = last.loading.saturating_sub(window);
        let mut bytes = 0u64;
        let mut oldest = last.loading;
        for s in self
            .samples
            .iter()
            .rev()
            .take_while(|s| s.loading >= threshold)
        {
            bytes += s.bytes;
            oldest = s.loading;
        }
        let span = (last.loading - oldest).max(Duration::from_millis(1));
        bytes as f64 * 8.0 / span.as_secs_f64()
    }

    /// Like [`Self::loading_only`], but `None` until the samples span at least
    /// `min_span` of loading time: one sample says nothing about throughput.
    pub fn loading_only_if_spanning(&self, window: Duration, min_span: Duration) -> Option<f64> {
        let (first, last) = (self.samples.front()?, self.samples.back()?);
        (last.loading.saturating_sub(first.loading) >= min_span).then(|| self.loading_only(window))
    }

    /// Bits per second over the last `window` of wall time, ignoring samples
    /// before `ignore_before` (the last quality switch), divided by the time
    /// from the oldest counted sample to `now`.
    #[expect(clippy::cast_precision_loss, reason = "a rate")]
    pub fn wall(&self, now: Instant, window: Duration, ignore_before: Instant) -> f64 {
        let threshold = (now - window).max(ignore_before);
        let mut bytes = 0u64;
        let mut oldest = None;
        for s in self
            .samples
            .iter()
            .rev()
            .take_while(|s| s.wall >= threshold)
        {
            bytes += s.bytes;
            oldest = Some(s.wall);
        }
        let Some(oldest) = oldest else {
            return 0.0;
        };
        let span = (now - oldest).max(Duration::from_millis(1));
        bytes as f64 * 8.0 / span.as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn idle_gaps_do_not_dilute_loading_only_throughput() {
        let mut bw = BandwidthCalculator::default();
        let t0 = Instant::from_secs(100);
        // Two 1-second downloads at 1 Mbit/s, 10 s apart.
        for start in [t0, t0 + MS(11_000)] {
            bw.start_loading(start);
            for k in 1..=10 {
                bw.add_bytes(start + MS(100 * k), 12_500);
            }
            bw.stop_loading(start + MS(1000));
        }
        let rate = bw.loading_only(Duration::from_secs(5));
        // 20 samples over 1.9 s of loading time (the first sample's 0.1 s is the span floor).
        assert!((rate - 250_000.0 * 8.0 / 1.9).abs() < 1.0, "{rate}");
        // Wall time over 15 s sees the gap.
        let wall = bw.wall(t0 + MS(12_000), Duration::from_secs(15), Instant::ZERO);
        assert!((wall - 250_000.0 * 8.0 / 11.9).abs() < 1.0, "{wall}");
    }

    #[test]
    fn windows_and_quality_switches_bound_what_counts() {
        let mut bw = BandwidthCalculator::default();
        let t0 = Instant::from_secs(1);
        bw.start_loading(t0);
        bw.add_bytes(t0 + MS(1000), 1000);
        bw.add_bytes(t0 + MS(5000), 1000);
        bw.add_bytes(t0 + MS(6000), 1000);
        // The last 2 s of loading time: samples at 5 s and 6 s, a 1 s span.
        assert_eq!(bw.loading_only(Duration::from_secs(2)), 16_000.0);
        // Ignoring samples before a switch at 5.5 s: one sample, 0.5 s ago.
        assert_eq!(
            bw.wall(t0 + MS(6500), Duration::from_secs(30), t0 + MS(5500)),
            16_000.0
        );
        bw.clear();
        assert_eq!(bw.loading_only(Duration::from_secs(2)), 0.0);
    }

    #[test]
    fn old_samples_go_when_a_download_starts() {
        let mut bw = BandwidthCalculator::default();
        let t0 = Instant::ZERO;
        bw.start_loading(t0);
        bw.add_bytes(t0 + MS(1), 1000);
        bw.stop_loading(t0 + Duration::from_secs(30));
        bw.start_loading(t0 + Duration::from_secs(40));
        assert_eq!(bw.loading_only(Duration::from_secs(60)), 0.0);
    }
}
