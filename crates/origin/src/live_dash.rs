//! Live DASH emulated from a static MPD: a pure function of the MPD text, the wall-clock time at
//! which the origin's live clock read zero, and the time elapsed since.
//!
//! The VOD presentation (one Period, `SegmentTemplate` numbering by `duration`) is looped
//! forever, **one Period per loop pass**: pass `k` is Period `pass-k`, starting at `k × L`
//! (L = the VOD's `mediaPresentationDuration`) and lasting L, with `<BaseURL>pass-k/</BaseURL>`
//! so that each pass has its own segment URLs (`…/dash/pass-k/seg-0-001.m4s`), which the server
//! maps back onto the VOD files. The VOD's segments keep their own timestamps (each pass starts
//! at media time 0), which is exactly what a Period with `presentationTimeOffset` 0 expects, so
//! no segment byte is rewritten. Continuous `$Number$`s across passes would need the segments'
//! decode times rewritten; new Periods need nothing.
//!
//! Timing follows the live HLS emulation (`live.rs`): at `elapsed = 0` a window of `window`
//! segments is already available. So `availabilityStartTime` is the wall time of clock zero
//! minus `window` segment durations, `timeShiftBufferDepth` is `window` segment durations, and
//! the MPD lists the Periods that overlap the time-shift buffer. `minimumUpdatePeriod` is one
//! segment duration, so a player learns of the next pass in time; `suggestedPresentationDelay`
//! is three segments (at most half the buffer). A `UTCTiming` element
//! (`urn:mpeg:dash:utc:direct:2014`) carries the origin's clock.
//!
//! Segment presentation times, and with them Shaka's P2P segment ids (`trunc(start / 0.5)`),
//! keep increasing across passes.

use std::fmt::Write as _;
use std::time::Duration;

/// Why a static MPD cannot be turned into a live one (answered with HTTP 500).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MpdError {
    /// No `<MPD …>` element.
    #[error("not an MPD")]
    NotMpd,
    /// Already `type="dynamic"`.
    #[error("already a dynamic MPD")]
    AlreadyDynamic,
    /// Not exactly one `<Period>`.
    #[error("expected exactly one Period, found {0}")]
    PeriodCount(usize),
    /// No usable `mediaPresentationDuration`.
    #[error("no usable mediaPresentationDuration")]
    NoDuration,
    /// A `SegmentTemplate` the emulation cannot loop (no `duration`, a `SegmentTimeline`, or
    /// durations that differ between representations).
    #[error("unsupported SegmentTemplate: {0}")]
    Template(String),
    /// Malformed markup.
    #[error("malformed MPD: {0}")]
    Malformed(String),
}

/// A static single-Period MPD reduced to what the live emulation needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VodMpd {
    /// Everything before `<MPD` (the XML declaration).
    prolog: String,
    /// The root's attributes in their order, values verbatim.
    attrs: Vec<(String, String)>,
    /// Between the root's open tag and `<Period` (ProgramInformation, …).
    before_period: String,
    /// The Period's children, verbatim.
    period_body: String,
    /// From after `</Period>` to the end of the text (`</MPD>` included).
    after_period: String,
    /// One pass (the VOD's duration), in milliseconds.
    pass_ms: u64,
    /// One segment, in milliseconds.
    segment_ms: u64,
}

/// Root attributes the live MPD sets itself; the VOD's values are dropped.
const REPLACED: &[&str] = &[
    "type",
    "mediaPresentationDuration",
    "availabilityStartTime",
    "availabilityEndTime",
    "publishTime",
    "minimumUpdatePeriod",
    "timeShiftBufferDepth",
    "suggestedPresentationDelay",
];

impl VodMpd {
    /// Parses a static MPD with one Period whose representations are numbered by a
    /// `SegmentTemplate` `duration`.
    ///
    /// # Errors
    /// [`MpdError`] saying what the emulation cannot handle.
    pub fn parse(text: &str) -> Result<Self, MpdError> {
        let mpd_at = find_tag(text, "MPD", 0).ok_or(MpdError::NotMpd)?;
        let mpd_end = tag_end(text, mpd_at)
            .ok_or_else(|| MpdError::Malformed("unterminated <MPD> tag".into()))?;
        let attrs = parse_attrs(text.get(mpd_at + 4..mpd_end).unwrap_or_default())?;
        let attr = |name: &str| {
            attrs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        if attr("type") == Some("dynamic") {
            return Err(MpdError::AlreadyDynamic);
        }
        let pass_ms = attr("mediaPresentationDuration")
            .and_then(parse_iso_duration_ms)
            .filter(|ms| *ms > 0)
            .ok_or(MpdError::NoDuration)?;

        let mut periods = Vec::new();
        let mut from = mpd_end;
        while let Some(at) = find_tag(text, "Period", from) {
            periods.push(at);
            from = at + 1;
        }
        let [period_at] = periods.as_slice() else {
            return Err(MpdError::PeriodCount(periods.len()));
        };
        let period_at = *period_at;
        let period_open_end = tag_end(text, period_at)
            .ok_or_else(|| MpdError::Malformed("unterminated <Period> tag".into()))?;
        let close = text
            .get(period_open_end..)
            .and_then(|t| t.find("</Period>"))
            .map(|i| period_open_end + i)
            .ok_or_else(|| MpdError::Malformed("no </Period>".into()))?;
        let period_body = text.get(period_open_end + 1..close).unwrap_or_default();
        let segment_ms = template_duration_ms(period_body)?;
        Ok(Self {
            prolog: text.get(..mpd_at).unwrap_or_default().to_owned(),
            attrs,
            before_period: text
                .get(mpd_end + 1..period_at)
                .unwrap_or_default()
                .to_owned(),
            period_body: period_body.to_owned(),
            after_period: text
                .get(close + "</Period>".len()..)
                .unwrap_or_default()
                .to_owned(),
            pass_ms,
            segment_ms,
        })
    }

    /// One loop pass (the VOD's duration).
    #[must_use]
    pub fn pass_duration(&self) -> Duration {
        Duration::from_millis(self.pass_ms)
    }

    /// One segment's duration.
    #[must_use]
    pub fn segment_duration(&self) -> Duration {
        Duration::from_millis(self.segment_ms)
    }

    /// The dynamic MPD at `elapsed` since the live clock read zero, which happened at
    /// `clock_zero_unix` (wall time since 1970). `window` segments are in the time-shift buffer.
    #[must_use]
    pub fn render_live(&self, window: u32, clock_zero_unix: Duration, elapsed: Duration) -> String {
        let depth_ms = u64::from(window.max(1)) * self.segment_ms;
        let clock_zero_ms = millis(clock_zero_unix);
        let ast_ms = clock_zero_ms.saturating_sub(depth_ms);
        let now_ms = clock_zero_ms + millis(elapsed);
        // Presentation time of the live edge (time since availabilityStartTime).
        let live_ms = now_ms - ast_ms;
        let first_pass = live_ms.saturating_sub(depth_ms) / self.pass_ms;
        let last_pass = live_ms / self.pass_ms;

        let mut out = String::with_capacity(self.period_body.len() * 3 + 1024);
        out.push_str(&self.prolog);
        out.push_str("<MPD");
        for (name, value) in &self.attrs {
            if !REPLACED.contains(&name.as_str()) {
                let _ = write!(out, " {name}=\"{value}\"");
            }
        }
        // `write!` to a String cannot fail; the results are ignored on purpose.
        // Players that compute the live edge from the clock (ffmpeg) need a delay to ask for
        // complete segments only: three segments, at most half the buffer.
        let delay_ms = (3 * self.segment_ms).min(depth_ms / 2);
        let _ = write!(
            out,
            " type=\"dynamic\" availabilityStartTime=\"{}\" publishTime=\"{}\" \
             minimumUpdatePeriod=\"{}\" timeShiftBufferDepth=\"{}\" \
             suggestedPresentationDelay=\"{}\">",
            iso_datetime(ast_ms),
            iso_datetime(now_ms),
            iso_duration(self.segment_ms),
            iso_duration(depth_ms),
            iso_duration(delay_ms),
        );
        out.push_str(&self.before_period);
        for pass in first_pass..=last_pass {
            let _ = write!(
                out,
                "<Period id=\"pass-{pass}\" start=\"{}\" duration=\"{}\">\n\t\t<BaseURL>pass-{pass}/</BaseURL>",
                iso_duration(pass * self.pass_ms),
                iso_duration(self.pass_ms),
            );
            out.push_str(&self.period_body);
            out.push_str("</Period>\n\t");
        }
        // UTCTiming comes after the Periods (ISO/IEC 23009-1 element order).
        let utc = format!(
            "<UTCTiming schemeIdUri=\"urn:mpeg:dash:utc:direct:2014\" value=\"{}\"/>\n",
            iso_datetime(now_ms)
        );
        let tail = self.after_period.trim_start();
        match tail.find("</MPD>") {
            Some(i) => {
                out.push_str(tail.get(..i).unwrap_or_default());
                out.push_str(&utc);
                out.push_str(tail.get(i..).unwrap_or_default());
            }
            None => {
                out.push_str(&utc);
                out.push_str(tail);
            }
        }
        out
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The byte offset of `<name` followed by whitespace, `>` or `/`, from `from` on.
fn find_tag(text: &str, name: &str, from: usize) -> Option<usize> {
    let needle = format!("<{name}");
    let mut at = from;
    loop {
        let i = text.get(at..)?.find(&needle)? + at;
        let next = text.as_bytes().get(i + needle.len()).copied();
        if matches!(next, Some(b' ' | b'\t' | b'\r' | b'\n' | b'>' | b'/')) {
            return Some(i);
        }
        at = i + 1;
    }
}

/// The offset of the `>` closing the tag opened at `open`, skipping quoted values.
fn tag_end(text: &str, open: usize) -> Option<usize> {
    let mut quote = None;
    for (i, b) in text.bytes().enumerate().skip(open) {
        match (quote, b) {
            (None, b'"' | b'\'') => quote = Some(b),
            (Some(q), _) if q == b => quote = None,
            (None, b'>') => return Some(i),
            _ => {}
        }
    }
    None
}

/// `name="value"` pairs of a tag's inside (after its name), in order.
fn parse_attrs(inside: &str) -> Result<Vec<(String, String)>, MpdError> {
    let mut out = Vec::new();
    let mut rest = inside.trim_start().trim_end_matches('/').trim_end();
    while !rest.is_empty() {
        let (name, after) = rest
            .split_once('=')
            .ok_or_else(|| MpdError::Malformed(format!("attribute without value: {rest:?}")))?;
        let after = after.trim_start();
        let quote = after
            .chars()
            .next()
            .filter(|c| *c == '"' || *c == '\'')
            .ok_or_else(|| MpdError::Malformed(format!("unquoted attribute {name:?}")))?;
        let value_and_rest = after.get(1..).unwrap_or_default();
        let end = value_and_rest
            .find(quote)
            .ok_or_else(|| MpdError::Malformed(format!("unterminated attribute {name:?}")))?;
        out.push((
            name.trim().to_owned(),
            value_and_rest.get(..end).unwrap_or_default().to_owned(),
        ));
        rest = value_and_rest
            .get(end + 1..)
            .unwrap_or_default()
            .trim_start();
    }
    Ok(out)
}

/// The common segment duration of every `SegmentTemplate` in a Period, in milliseconds.
fn template_duration_ms(period_body: &str) -> Result<u64, MpdError> {
    if period_body.contains("<SegmentTimeline") {
        return Err(MpdError::Template("SegmentTimeline".into()));
    }
    let mut found = None;
    let mut from = 0;
    while let Some(at) = find_tag(period_body, "SegmentTemplate", from) {
        let end = tag_end(period_body, at)
            .ok_or_else(|| MpdError::Malformed("unterminated <SegmentTemplate> tag".into()))?;
        let attrs = parse_attrs(
            period_body
                .get(at + "<SegmentTemplate".len()..end)
                .unwrap_or_default(),
        )?;
        let number = |name: &str| -> Option<u64> {
            attrs
                .iter()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.trim().parse().ok())
        };
        let duration = number("duration")
            .filter(|d| *d > 0)
            .ok_or_else(|| MpdError::Template("no duration".into()))?;
        let timescale = number("timescale").unwrap_or(1).max(1);
        let ms = duration
            .checked_mul(1000)
            .filter(|scaled| scaled % timescale == 0)
            .map(|scaled| scaled / timescale)
            .ok_or_else(|| MpdError::Template("duration is not whole milliseconds".into()))?;
        match found {
            Some(f) if f != ms => {
                return Err(MpdError::Template(format!("durations {f} ms and {ms} ms")));
            }
            _ => found = Some(ms),
        }
        from = end;
    }
    found.ok_or_else(|| MpdError::Template("no SegmentTemplate".into()))
}

/// An `xs:duration` such as `PT1M0.0S` or `P1DT2H`, in milliseconds; `None` for years,
/// months, negative or malformed values.
#[must_use]
pub fn parse_iso_duration_ms(s: &str) -> Option<u64> {
    let rest = s.trim().strip_prefix('P')?;
    let (date, time) = rest.split_once('T').unwrap_or((rest, ""));
    let mut total = 0.0_f64;
    for (part, units) in [
        (date, &[('D', 86_400.0)][..]),
        (time, &[('H', 3600.0), ('M', 60.0), ('S', 1.0)][..]),
    ] {
        let mut rest = part;
        for &(unit, seconds) in units {
            if let Some((number, after)) = rest.split_once(unit) {
                let n: f64 = number
                    .parse()
                    .ok()
                    .filter(|n: &f64| n.is_finite() && *n >= 0.0)?;
                total += n * seconds;
                rest = after;
            }
        }
        if !rest.is_empty() {
            return None;
        }
    }
    #[expect(
        clippy::cast_possible_truncation,
        reason = "non-negative and far below 2^53 ms for any real presentation"
    )]
    let ms = (total * 1000.0).round() as u64;
    Some(ms)
}

/// `PT{seconds}.{millis}S`.
fn iso_duration(ms: u64) -> String {
    format!("PT{}.{:03}S", ms / 1000, ms % 1000)
}

/// Milliseconds since 1970 as `YYYY-MM-DDThh:mm:ss.sssZ` (proleptic Gregorian, UTC).
#[must_use]
pub fn iso_datetime(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let days = secs / 86_400;
    let day_secs = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        day_secs / 3600,
        day_secs / 60 % 60,
        day_secs % 60,
        unix_ms % 1000
    )
}

/// Days since 1970-01-01 as (year, month, day): H. Hinnant's `civil_from_days`, for days ≥ 0.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    const VOD: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011"
	profiles="urn:mpeg:dash:profile:isoff-live:2011"
	type="static"
	mediaPresentationDuration="PT1M0.0S"
	maxSegmentDuration="PT2.0S"
	minBufferTime="PT4.0S">
	<ProgramInformation>
	</ProgramInformation>
	<Period id="0" start="PT0.0S">
		<AdaptationSet id="0" contentType="video">
			<Representation id="0" mimeType="video/mp4" codecs="avc1.4d4015" bandwidth="40410" width="426" height="240">
				<SegmentTemplate timescale="1000000" duration="2000000" initialization="init-$RepresentationID$.mp4" media="seg-$RepresentationID$-$Number%03d$.m4s" startNumber="1">
				</SegmentTemplate>
			</Representation>
		</AdaptationSet>
	</Period>
</MPD>
"#;

    /// 2026-11-25T04:00:00Z.
    const ZERO: Duration = Duration::from_secs(1_795_579_200);

    fn attr<'a>(mpd: &'a str, tag: &str, name: &str) -> Vec<&'a str> {
        let mut out = Vec::new();
        let mut from = 0;
        while let Some(at) = find_tag(mpd, tag, from) {
            let end = tag_end(mpd, at).unwrap();
            let inside = &mpd[at..end];
            let key = format!(" {name}=\"");
            if let Some(i) = inside.find(&key) {
                let v = &inside[i + key.len()..];
                out.push(&v[..v.find('"').unwrap()]);
            }
            from = end;
        }
        out
    }

    #[test]
    fn dates_and_durations() {
        assert_eq!(iso_datetime(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_datetime(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(
            iso_datetime(millis(ZERO) + 1_234),
            "2026-11-25T04:00:01.234Z"
        );
        assert_eq!(iso_duration(60_000), "PT60.000S");
        assert_eq!(parse_iso_duration_ms("PT1M0.0S"), Some(60_000));
        assert_eq!(parse_iso_duration_ms("PT2.5S"), Some(2_500));
        assert_eq!(parse_iso_duration_ms("P1DT1H"), Some(90_000_000));
        assert_eq!(parse_iso_duration_ms("P1Y"), None);
        assert_eq!(parse_iso_duration_ms("PT-1S"), None);
        assert_eq!(parse_iso_duration_ms("1S"), None);
    }

    #[test]
    fn at_clock_zero_a_full_window_is_available_in_one_period() {
        let vod = VodMpd::parse(VOD).unwrap();
        assert_eq!(vod.pass_duration(), Duration::from_secs(60));
        assert_eq!(vod.segment_duration(), Duration::from_secs(2));
        let live = vod.render_live(20, ZERO, Duration::ZERO);
        assert!(live.starts_with("<?xml"));
        assert_eq!(attr(&live, "MPD", "type"), ["dynamic"]);
        // 20 segments of 2 s before clock zero.
        assert_eq!(
            attr(&live, "MPD", "availabilityStartTime"),
            ["2026-11-25T03:59:20.000Z"]
        );
        assert_eq!(
            attr(&live, "MPD", "publishTime"),
            ["2026-11-25T04:00:00.000Z"]
        );
        assert_eq!(attr(&live, "MPD", "timeShiftBufferDepth"), ["PT40.000S"]);
        assert_eq!(attr(&live, "MPD", "minimumUpdatePeriod"), ["PT2.000S"]);
        assert_eq!(
            attr(&live, "MPD", "suggestedPresentationDelay"),
            ["PT6.000S"]
        );
        assert!(attr(&live, "MPD", "mediaPresentationDuration").is_empty());
        // Other root attributes are kept.
        assert_eq!(attr(&live, "MPD", "maxSegmentDuration"), ["PT2.0S"]);
        assert!(live.contains("xmlns=\"urn:mpeg:dash:schema:mpd:2011\""));
        assert_eq!(attr(&live, "Period", "id"), ["pass-0"]);
        assert_eq!(attr(&live, "Period", "start"), ["PT0.000S"]);
        assert_eq!(attr(&live, "Period", "duration"), ["PT60.000S"]);
        assert!(live.contains("<BaseURL>pass-0/</BaseURL>"));
        // The representations are copied verbatim.
        assert!(live.contains("media=\"seg-$RepresentationID$-$Number%03d$.m4s\""));
        assert!(live.contains("<ProgramInformation>"));
        assert!(live.contains(
            "<UTCTiming schemeIdUri=\"urn:mpeg:dash:utc:direct:2014\" value=\"2026-11-25T04:00:00.000Z\"/>\n</MPD>"
        ));
        assert_eq!(live.matches("</MPD>").count(), 1);
    }

    #[test]
    fn passes_become_periods_listed_while_they_overlap_the_buffer() {
        let vod = VodMpd::parse(VOD).unwrap();
        // Live edge at 40 + 30 = 70 s: pass 1 is being played; pass 0 is still in the 40-s buffer.
        let live = vod.render_live(20, ZERO, Duration::from_secs(30));
        assert_eq!(attr(&live, "Period", "id"), ["pass-0", "pass-1"]);
        assert_eq!(attr(&live, "Period", "start"), ["PT0.000S", "PT60.000S"]);
        assert!(live.contains("<BaseURL>pass-1/</BaseURL>"));
        // The AST does not move with the clock.
        assert_eq!(
            attr(&live, "MPD", "availabilityStartTime"),
            ["2026-11-25T03:59:20.000Z"]
        );
        // Live edge at 40 + 70 = 110 s: the buffer [70, 110] is inside pass 1 only.
        let live = vod.render_live(20, ZERO, Duration::from_secs(70));
        assert_eq!(attr(&live, "Period", "id"), ["pass-1"]);
        // Many passes later: a short window lists one or two Periods, far along.
        let live = vod.render_live(6, ZERO, Duration::from_secs(3600 * 24));
        assert_eq!(attr(&live, "Period", "id"), ["pass-1440"]);
        let live = vod.render_live(6, ZERO, Duration::from_secs(3600 * 24 - 4));
        assert_eq!(attr(&live, "Period", "id"), ["pass-1439", "pass-1440"]);
        assert_eq!(attr(&live, "Period", "start")[1], "PT86400.000S");
    }

    #[test]
    fn what_cannot_be_looped_is_refused() {
        assert_eq!(VodMpd::parse("<html/>"), Err(MpdError::NotMpd));
        assert_eq!(
            VodMpd::parse(&VOD.replace("type=\"static\"", "type=\"dynamic\"")),
            Err(MpdError::AlreadyDynamic)
        );
        assert_eq!(
            VodMpd::parse(&VOD.replace("mediaPresentationDuration=\"PT1M0.0S\"", "")),
            Err(MpdError::NoDuration)
        );
        let two = VOD.replace("</Period>", "</Period><Period id=\"1\"></Period>");
        assert_eq!(VodMpd::parse(&two), Err(MpdError::PeriodCount(2)));
        assert!(matches!(
            VodMpd::parse(&VOD.replace(" duration=\"2000000\"", "")),
            Err(MpdError::Template(_))
        ));
        assert!(matches!(
            VodMpd::parse(
                &VOD.replace("</SegmentTemplate>", "<SegmentTimeline/></SegmentTemplate>")
            ),
            Err(MpdError::Template(_))
        ));
        assert!(matches!(
            VodMpd::parse(&VOD.replace("duration=\"2000000\"", "duration=\"1\" timescale=\"3\"")),
            Err(MpdError::Template(_)) | Err(MpdError::Malformed(_))
        ));
        assert!(matches!(
            VodMpd::parse(&VOD.replace("type=\"static\"", "type=static")),
            Err(MpdError::Malformed(_))
        ));
    }
}
