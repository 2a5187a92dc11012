//! DASH MPDs (dash-mpd-core), described and numbered as P2P Media Loader's
//! Shaka integration does it (SPEC §3.3, §3.5): a `main` stream per video
//! representation, a `secondary` per audio representation, segment ids
//! `trunc(start / 0.5)` from presentation times.
//!
//! The Shaka descriptor is reproduced from its documented rules, and checked
//! against what a running Shaka Player 5 made of the test media
//! (`tests/fixtures/shaka-dash-vod.json`, shared with `packages/shaka`'s
//! tests). Segments whose ids collide are left out, as `p2pml-rs-shaka`
//! keeps them off P2P.

use std::ops::Range;
use std::time::Duration;

use dash_mpd_core::{MPD, Period, Representation, SegmentList, SegmentTemplate, SegmentTimeline};
use p2pml_core::streams::SegmentInfo;
use p2pml_proto::identity::{StreamDescriptor, StreamType};
use url::Url;

pub use super::sidx::segments_from_sidx;
use super::{ManifestError, Rendition, Segment, resolve};

/// Segments listed per representation at most (a dynamic MPD without a
/// time-shift depth would otherwise list every segment since it started).
const MAX_SEGMENTS: usize = 10_000;

/// A parsed MPD.
#[derive(Debug, Clone)]
pub struct DashManifest {
    /// The MPD-level base URL: the MPD's URL, or its top `BaseURL` resolved.
    pub base: Url,
    /// `type="dynamic"`.
    pub dynamic: bool,
    /// How often a dynamic MPD should be fetched again.
    pub minimum_update_period: Option<Duration>,
    /// Video and audio representations with their segments.
    pub renditions: Vec<DashRendition>,
}

/// One representation (across periods, by id).
#[derive(Debug, Clone)]
pub struct DashRendition {
    /// Identity; `uri` is the representation id.
    pub rendition: Rendition,
    /// Segments, in order; empty until the index is read for `SegmentBase`.
    pub segments: Vec<Segment>,
    /// A `SegmentBase` index to fetch and pass to [`segments_from_sidx`].
    pub index: Option<IndexRef>,
}

/// Where a `SegmentBase` representation's `sidx` box is.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexRef {
    /// The media URL.
    pub url: String,
    /// The `indexRange` (end exclusive).
    pub range: Range<u64>,
    /// Presentation time of the period start, in seconds.
    pub period_start: f64,
}

/// Parses an MPD fetched from `mpd_url` (after redirects); `now_unix` is the
/// wall clock in seconds since 1970, which places a dynamic MPD's segments.
///
/// # Errors
/// [`ManifestError::Dash`] for text that is not an MPD or has nothing to play.
pub fn parse(text: &str, mpd_url: &Url, now_unix: f64) -> Result<DashManifest, ManifestError> {
    let mpd = dash_mpd_core::parse(text).map_err(|e| ManifestError::Dash(e.to_string()))?;
    let dynamic = mpd.mpdtype.as_deref() == Some("dynamic");
    let mut base = mpd_url.clone();
    if let Some(b) = mpd.base_url.first() {
        base = resolve(&base, &b.base)?;
    }
    let mut renditions: Vec<DashRendition> = Vec::new();
    let mut period_start = 0.0;
    for (pi, period) in mpd.periods.iter().enumerate() {
        if let Some(s) = period.start {
            period_start = s.as_secs_f64();
        }
        let period_end = period
            .duration
            .map(|d| period_start + d.as_secs_f64())
            .or_else(|| {
                mpd.periods
                    .get(pi + 1)
                    .and_then(|p| p.start)
                    .map(|s| s.as_secs_f64())
            })
            .or_else(|| mpd.mediaPresentationDuration.map(|d| d.as_secs_f64()));
        let ctx = PeriodCtx {
            mpd: &mpd,
            period,
            start: period_start,
            end: period_end,
            dynamic,
            now_unix,
        };
        let mut period_base = base.clone();
        if let Some(b) = period.BaseURL.first() {
            period_base = resolve(&period_base, &b.base)?;
        }
        let audio_bandwidth = period
            .adaptations
            .iter()
            .flat_map(|a| a.representations.iter().map(move |r| (a, r)))
            .find(|(a, r)| content_type(a, r) == Some(Kind::Audio))
            .and_then(|(_, r)| r.bandwidth)
            .unwrap_or(0);
        for adaptation in &period.adaptations {
            let mut as_base = period_base.clone();
            if let Some(b) = adaptation.BaseURL.first() {
                as_base = resolve(&as_base, &b.base)?;
            }
            for rep in &adaptation.representations {
                let Some(kind) = content_type(adaptation, rep) else {
                    continue;
                };
                let mut rep_base = as_base.clone();
                if let Some(b) = rep.BaseURL.first() {
                    rep_base = resolve(&rep_base, &b.base)?;
                }
                let rendition = describe(adaptation, rep, kind, audio_bandwidth);
                let (mut segments, index) = rep_segments(&ctx, adaptation, rep, &rep_base)?;
                if let Some(first) = segments.first_mut() {
                    first.discontinuity = pi > 0;
                }
                match renditions
                    .iter_mut()
                    .find(|r| r.rendition.uri == rendition.uri)
                {
                    Some(existing) => {
                        existing.segments.append(&mut segments);
                        existing.index = existing.index.take().or(index);
                    }
                    None => renditions.push(DashRendition {
                        rendition,
                        segments,
                        index,
                    }),
                }
            }
        }
        if let Some(end) = period_end {
            period_start = end;
        }
    }
    for r in &mut renditions {
        dedup_ids(&mut r.segments);
    }
    if renditions.is_empty() {
        return Err(ManifestError::Dash(
            "no video or audio representation".into(),
        ));
    }
    Ok(DashManifest {
        base,
        dynamic,
        minimum_update_period: mpd.minimumUpdatePeriod,
        renditions,
    })
}

/// Shaka's id: presentation start time at half-second resolution.
///
/// ```
/// use p2pml_native::manifest::dash::segment_id;
/// assert_eq!(segment_id(0.0), 0);
/// assert_eq!(segment_id(2.0), 4);
/// assert_eq!(segment_id(2.49), 4);
/// ```
#[expect(
    clippy::cast_possible_truncation,
    reason = "trunc, as Shaka does; times are far below 2^62"
)]
pub fn segment_id(start: f64) -> i64 {
    (start / 0.5).trunc() as i64
}

/// Segments starting less than 0.5 s apart collide on their id: P2P Media
/// Loader's peers could then serve one for the other, so every segment of
/// such an id is left out (played over HTTP), as `p2pml-rs-shaka` does.
pub(super) fn dedup_ids(segments: &mut Vec<Segment>) {
    let mut count = std::collections::HashMap::<i64, usize>::new();
    for s in segments.iter() {
        *count.entry(s.info.id).or_default() += 1;
    }
    segments.retain(|s| count.get(&s.info.id) == Some(&1));
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Video,
    Audio,
}

fn content_type(a: &dash_mpd_core::AdaptationSet, r: &Representation) -> Option<Kind> {
    let ty = r
        .contentType
        .as_deref()
        .or(a.contentType.as_deref())
        .or_else(|| {
            r.mimeType
                .as_deref()
                .or(a.mimeType.as_deref())
                .and_then(|m| m.split('/').next())
        });
    match ty {
        Some("video") => Some(Kind::Video),
        Some("audio") => Some(Kind::Audio),
        _ => None,
    }
}

/// `"30000/1001"` or `"25"` as a number.
fn frame_rate(s: &str) -> Option<f64> {
    match s.split_once('/') {
        Some((n, d)) => {
            let (n, d): (f64, f64) = (n.trim().parse().ok()?, d.trim().parse().ok()?);
            (d != 0.0).then_some(n / d)
        }
        None => s.trim().parse().ok(),
    }
}

fn describe(
    a: &dash_mpd_core::AdaptationSet,
    r: &Representation,
    kind: Kind,
    audio_bandwidth: u64,
) -> Rendition {
    let codecs = r.codecs.clone().or_else(|| a.codecs.clone());
    let id = r.id.clone().unwrap_or_default();
    match kind {
        Kind::Video => {
            // Shaka: the bandwidth of the first variant with this video, i.e.
            // video plus the first audio; nothing else when it is 0.
            let bitrate = r.bandwidth.unwrap_or(0) + audio_bandwidth;
            let descriptor = if bitrate == 0 {
                StreamDescriptor::default()
            } else {
                StreamDescriptor {
                    #[expect(clippy::cast_precision_loss, reason = "bit rates are far below 2^53")]
                    bitrate: Some(bitrate as f64),
                    codecs: codecs.map(|c| {
                        c.split(',')
                            .map(str::trim)
                            .filter(|c| {
                                !["mp4a", "ac-3", "ec-3", "ec+3", "opus", "vorb", "flac"]
                                    .iter()
                                    .any(|p| c.starts_with(p))
                            })
                            .collect::<Vec<_>>()
                            .join(",")
                    }),
                    width: r.width.or(a.width).and_then(|w| u32::try_from(w).ok()),
                    height: r.height.or(a.height).and_then(|h| u32::try_from(h).ok()),
                    frame_rate: r
                        .frameRate
                        .as_deref()
                        .or(a.frameRate.as_deref())
                        .and_then(frame_rate)
                        .map(|f| f.to_string()),
                    ..StreamDescriptor::default()
                }
            };
            Rendition {
                stream_type: StreamType::Main,
                descriptor,
                uri: id,
            }
        }
        Kind::Audio => {
            let channels = r
                .AudioChannelConfiguration
                .first()
                .or(a.AudioChannelConfiguration.first())
                .and_then(|c| c.value.clone());
            let label = a.Label.first().map(|l| l.content.clone());
            Rendition {
                stream_type: StreamType::Secondary,
                descriptor: StreamDescriptor {
                    bitrate: None,
                    codecs,
                    language: r.lang.clone().or_else(|| a.lang.clone()),
                    channels,
                    name: label.or_else(|| Some(id.clone())),
                    ..StreamDescriptor::default()
                },
                uri: id,
            }
        }
    }
}

struct PeriodCtx<'a> {
    mpd: &'a MPD,
    period: &'a Period,
    start: f64,
    end: Option<f64>,
    dynamic: bool,
    now_unix: f64,
}

impl PeriodCtx<'_> {
    /// Presentation time up to which segments are complete (dynamic), or
    /// the period end (static).
    #[expect(
        clippy::cast_precision_loss,
        reason = "milliseconds since 1970 fit in 2^53"
    )]
    fn available_until(&self) -> Option<f64> {
        if !self.dynamic {
            return self.end;
        }
        let ast = self
            .mpd
            .availabilityStartTime
            .map(|t| t.timestamp_millis() as f64 / 1000.0)?;
        let live = self.now_unix - ast;
        Some(self.end.map_or(live, |e| e.min(live)))
    }

    /// The earliest presentation time still listed (time-shift buffer).
    fn available_from(&self) -> f64 {
        match (
            self.dynamic,
            self.mpd.timeShiftBufferDepth,
            self.available_until(),
        ) {
            (true, Some(depth), Some(until)) => until - depth.as_secs_f64(),
            _ => f64::NEG_INFINITY,
        }
    }
}

/// The innermost template, with fields it leaves out taken from outer ones.
fn merged_template(
    ctx: &PeriodCtx<'_>,
    a: &dash_mpd_core::AdaptationSet,
    r: &Representation,
) -> Option<SegmentTemplate> {
    let levels = [
        &r.SegmentTemplate,
        &a.SegmentTemplate,
        &ctx.period.SegmentTemplate,
    ];
    let mut found = levels.iter().filter_map(|t| t.as_ref());
    let mut t = found.next()?.clone();
    for outer in found {
        t.media = t.media.or_else(|| outer.media.clone());
        t.startNumber = t.startNumber.or(outer.startNumber);
        t.duration = t.duration.or(outer.duration);
        t.timescale = t.timescale.or(outer.timescale);
        t.presentationTimeOffset = t.presentationTimeOffset.or(outer.presentationTimeOffset);
        t.SegmentTimeline = t.SegmentTimeline.or_else(|| outer.SegmentTimeline.clone());
    }
    Some(t)
}

fn rep_segments(
    ctx: &PeriodCtx<'_>,
    a: &dash_mpd_core::AdaptationSet,
    r: &Representation,
    base: &Url,
) -> Result<(Vec<Segment>, Option<IndexRef>), ManifestError> {
    if let Some(t) = merged_template(ctx, a, r) {
        return Ok((template_segments(ctx, &t, r, base)?, None));
    }
    let list = r
        .SegmentList
        .as_ref()
        .or(a.SegmentList.as_ref())
        .or(ctx.period.SegmentList.as_ref());
    if let Some(list) = list {
        return Ok((list_segments(ctx, list, base)?, None));
    }
    let segment_base = r
        .SegmentBase
        .as_ref()
        .or(a.SegmentBase.as_ref())
        .or(ctx.period.SegmentBase.as_ref());
    match segment_base.and_then(|b| b.indexRange.as_deref()) {
        Some(range) => Ok((
            Vec::new(),
            Some(IndexRef {
                url: base.to_string(),
                range: parse_range(range)?,
                period_start: ctx.start,
            }),
        )),
        // A single file without an index: one segment for the whole period.
        None => {
            let start = ctx.start;
            let end = ctx.end.unwrap_or(start);
            Ok((vec![segment(base.to_string(), None, start, end)], None))
        }
    }
}

pub(super) fn segment(
    url: String,
    byte_range: Option<Range<u64>>,
    start: f64,
    end: f64,
) -> Segment {
    Segment {
        info: SegmentInfo {
            id: segment_id(start),
            url,
            byte_range,
            start,
            end,
        },
        discontinuity: false,
    }
}

/// `"100-199"` (inclusive) as `100..200`.
fn parse_range(s: &str) -> Result<Range<u64>, ManifestError> {
    let bad = || ManifestError::Dash(format!("bad byte range {s:?}"));
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let (a, b): (u64, u64) = (
        a.trim().parse().map_err(|_| bad())?,
        b.trim().parse().map_err(|_| bad())?,
    );
    if b < a {
        return Err(bad());
    }
    Ok(a..b + 1)
}

/// Fills `$RepresentationID$`, `$Bandwidth$`, `$Number$`, `$Time$` (with
/// optional `%0Nd` widths) and `$$`.
///
/// ```
/// use p2pml_native::manifest::dash::fill_template;
/// assert_eq!(fill_template("seg-$RepresentationID$-$Number%03d$.m4s", "0", 0, 7, 0), "seg-0-007.m4s");
/// assert_eq!(fill_template("$Time$.m4s?x=$$", "v", 0, 0, 90000), "90000.m4s?x=$");
/// ```
pub fn fill_template(
    template: &str,
    rep_id: &str,
    bandwidth: u64,
    number: u64,
    time: u64,
) -> String {
    let mut out = String::new();
    let mut parts = template.split('$');
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    let mut in_tag = true;
    for part in parts {
        if in_tag {
            let (name, format) = part.split_once('%').unwrap_or((part, ""));
            let width: usize = format
                .strip_prefix('0')
                .and_then(|f| f.strip_suffix('d'))
                .and_then(|w| w.parse().ok())
                .unwrap_or(0);
            match name {
                "" => out.push('$'),
                "RepresentationID" => out.push_str(rep_id),
                "Bandwidth" => out.push_str(&format!("{bandwidth:0width$}")),
                "Number" => out.push_str(&format!("{number:0width$}")),
                "Time" => out.push_str(&format!("{time:0width$}")),
                other => {
                    out.push('$');
                    out.push_str(other);
                    out.push('$');
                }
            }
        } else {
            out.push_str(part);
        }
        in_tag = !in_tag;
    }
    out
}

#[expect(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    reason = "media times and counts fit in 2^53; floors and ceils of non-negative values"
)]
fn template_segments(
    ctx: &PeriodCtx<'_>,
    t: &SegmentTemplate,
    r: &Representation,
    base: &Url,
) -> Result<Vec<Segment>, ManifestError> {
    let media = t
        .media
        .as_deref()
        .ok_or_else(|| ManifestError::Dash("SegmentTemplate without media".into()))?;
    let rep_id = r.id.as_deref().unwrap_or_default();
    let bandwidth = r.bandwidth.unwrap_or(0);
    let timescale = t.timescale.unwrap_or(1).max(1) as f64;
    let pto = t.presentationTimeOffset.unwrap_or(0);
    let start_number = t.startNumber.unwrap_or(1);
    let until = ctx.available_until();
    let from = ctx.available_from();
    let mut out = Vec::new();
    let mut push = |number: u64, time: u64, start: f64, end: f64| -> Result<bool, ManifestError> {
        if until.is_some_and(|u| end > u + 1e-6) {
            return Ok(false);
        }
        if start >= from {
            let url = resolve(base, &fill_template(media, rep_id, bandwidth, number, time))?;
            out.push(segment(url.to_string(), None, start, end));
            if out.len() > MAX_SEGMENTS {
                out.remove(0);
            }
        }
        Ok(true)
    };
    if let Some(SegmentTimeline { segments }) = &t.SegmentTimeline {
        let mut time = 0u64;
        let mut number = start_number;
        for (i, s) in segments.iter().enumerate() {
            if let Some(st) = s.t {
                time = st;
            }
            let next_t = segments.get(i + 1).and_then(|n| n.t);
            let repeats = match s.r {
                Some(r) if r >= 0 => u64::try_from(r).unwrap_or(0),
                // r = -1: until the next S, the period end, or the live edge.
                Some(_) => {
                    let limit = next_t
                        .map(|n| n as f64 / timescale)
                        .or_else(|| until.map(|u| (u - ctx.start) + pto as f64 / timescale));
                    match limit {
                        Some(l) if s.d > 0 => {
                            ((l * timescale - time as f64) / s.d as f64).ceil().max(1.0) as u64 - 1
                        }
                        _ => 0,
                    }
                }
                None => 0,
            };
            for _ in 0..=repeats {
                let start = ctx.start + (time.saturating_sub(pto)) as f64 / timescale;
                let end = start + s.d as f64 / timescale;
                if !push(number, time, start, end)? {
                    return Ok(out);
                }
                time += s.d;
                number += 1;
            }
        }
        return Ok(out);
    }
    let duration = t.duration.filter(|d| *d > 0.0).ok_or_else(|| {
        ManifestError::Dash("SegmentTemplate with neither duration nor SegmentTimeline".into())
    })? / timescale;
    let Some(until) = until else {
        return Err(ManifestError::Dash(
            "neither a duration (static) nor an availabilityStartTime (dynamic)".into(),
        ));
    };
    let first = if ctx.dynamic && from.is_finite() {
        ((from - ctx.start) / duration).floor().max(0.0) as u64
    } else {
        0
    };
    let count = ((until - ctx.start) / duration - 1e-9).ceil().max(0.0) as u64;
    let first = first.max(count.saturating_sub(MAX_SEGMENTS as u64));
    for k in first..count {
        let start = ctx.start + k as f64 * duration;
        let end = if ctx.dynamic {
            start + duration
        } else {
            (start + duration).min(until)
        };
        let time = (k as f64 * duration * timescale) as u64 + pto;
        if !push(start_number + k, time, start, end)? {
            break;
        }
    }
    Ok(out)
}

#[expect(clippy::cast_precision_loss, reason = "media times fit in 2^53")]
fn list_segments(
    ctx: &PeriodCtx<'_>,
    list: &SegmentList,
    base: &Url,
) -> Result<Vec<Segment>, ManifestError> {
    let timescale = list.timescale.unwrap_or(1).max(1) as f64;
    let duration = list.duration.unwrap_or(0) as f64 / timescale;
    let mut out = Vec::new();
    for (i, s) in list.segment_urls.iter().enumerate() {
        let url = match &s.media {
            Some(m) => resolve(base, m)?,
            None => base.clone(),
        };
        let range = s.mediaRange.as_deref().map(parse_range).transpose()?;
        let start = ctx.start + i as f64 * duration;
        out.push(segment(url.to_string(), range, start, start + duration));
    }
    Ok(out)
}

/// The MPD with its top-level `BaseURL` replaced by `base` and `Location`
/// elements removed, so that a player resolves every segment (and refresh)
/// against `base`, which must end with `/`. Lower-level relative `BaseURL`s
/// keep working; absolute ones would bypass `base` and are left as they are.
///
/// ```
/// use p2pml_native::manifest::dash::rewrite_base;
/// let mpd = "<MPD type=\"static\"><BaseURL>http://cdn/x/</BaseURL><Period/></MPD>";
/// assert_eq!(rewrite_base(mpd, "http://proxy/d/1/"), "<MPD type=\"static\"><BaseURL>http://proxy/d/1/</BaseURL><Period/></MPD>");
/// ```
pub fn rewrite_base(text: &str, base: &str) -> String {
    let Some(mpd_start) = text.find("<MPD") else {
        return text.to_owned();
    };
    let Some(open_end) = text
        .get(mpd_start..)
        .and_then(|t| t.find('>'))
        .map(|i| mpd_start + i + 1)
    else {
        return text.to_owned();
    };
    let first_period = text.find("<Period").unwrap_or(text.len());
    let (head, tail) = text.split_at(open_end);
    let (between, rest) = tail.split_at(first_period.saturating_sub(open_end).min(tail.len()));
    let mut kept = String::new();
    let mut rest_of = between;
    // Drop MPD-level <BaseURL> and <Location> elements.
    loop {
        let next = ["<BaseURL", "<Location"]
            .iter()
            .filter_map(|tag| rest_of.find(tag).map(|i| (i, *tag)))
            .min();
        let Some((i, tag)) = next else {
            kept.push_str(rest_of);
            break;
        };
        kept.push_str(rest_of.get(..i).unwrap_or_default());
        let close = if tag == "<BaseURL" {
            "</BaseURL>"
        } else {
            "</Location>"
        };
        match rest_of.get(i..).and_then(|t| t.find(close)) {
            Some(j) => rest_of = rest_of.get(i + j + close.len()..).unwrap_or_default(),
            None => {
                kept.push_str(rest_of.get(i..).unwrap_or_default());
                break;
            }
        }
    }
    format!("{head}<BaseURL>{base}</BaseURL>{kept}{rest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_range_is_inclusive() {
        assert_eq!(parse_range("0-99").unwrap(), 0..100);
        assert!(parse_range("9-1").is_err());
        assert!(parse_range("x").is_err());
    }
}
