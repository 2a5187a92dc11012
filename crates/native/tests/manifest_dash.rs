#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::print_stderr,
    clippy::cast_possible_truncation,
    clippy::type_complexity,
    missing_docs
)]
//! DASH MPDs: SegmentTemplate with `$Number$` and `$Time$` (static and
//! dynamic), SegmentList, SegmentBase with a `sidx`, ids, rewriting, and
//! broken input.

use p2pml_native::manifest::ManifestError;
use p2pml_native::manifest::dash::{self, IndexRef};
use p2pml_proto::identity::{StreamDescriptor, StreamType};
use url::Url;

fn url(s: &str) -> Url {
    Url::parse(s).unwrap()
}

fn mpd(body: &str, attrs: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?><MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" {attrs}>{body}</MPD>"
    )
}

#[test]
fn the_test_media_number_template_lists_every_segment() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../media/dash/manifest.mpd"
    ))
    .unwrap();
    let m = dash::parse(&text, &url("http://127.0.0.1:8080/dash/manifest.mpd"), 0.0).unwrap();
    assert!(!m.dynamic);
    assert_eq!(m.renditions.len(), 4);
    let video = &m.renditions[0];
    assert_eq!(video.rendition.stream_type, StreamType::Main);
    // Shaka: the video bandwidth plus the first audio's; video codecs only.
    assert_eq!(
        video.rendition.descriptor.preimage(),
        "62424-avc1.4d4015-426-240----30-"
    );
    assert_eq!(video.segments.len(), 30);
    assert_eq!(
        video.segments[0].info.url,
        "http://127.0.0.1:8080/dash/seg-0-001.m4s"
    );
    assert_eq!(
        video.segments[29].info.url,
        "http://127.0.0.1:8080/dash/seg-0-030.m4s"
    );
    let ids: Vec<i64> = video.segments.iter().take(3).map(|s| s.info.id).collect();
    assert_eq!(ids, [0, 4, 8]); // trunc(start / 0.5)
    assert_eq!(video.segments[29].info.end, 60.0);
    let audio = &m.renditions[3];
    assert_eq!(audio.rendition.stream_type, StreamType::Secondary);
    assert_eq!(
        audio.rendition.descriptor.preimage(),
        "0-mp4a.40.2----1-3--"
    );
}

#[test]
fn time_template_with_a_timeline_and_repeats() {
    let body = "<Period start=\"PT0S\" duration=\"PT10S\"><AdaptationSet contentType=\"video\" mimeType=\"video/mp4\">\
        <SegmentTemplate timescale=\"90000\" presentationTimeOffset=\"90000\" media=\"v/$RepresentationID$/$Time$.m4s\">\
        <SegmentTimeline><S t=\"90000\" d=\"180000\" r=\"2\"/><S d=\"90000\"/></SegmentTimeline></SegmentTemplate>\
        <Representation id=\"hd\" bandwidth=\"1000\" codecs=\"avc1.64001f\" width=\"1280\" height=\"720\"/>\
        </AdaptationSet></Period>";
    let m = dash::parse(
        &mpd(body, "type=\"static\""),
        &url("http://cdn/x/a.mpd"),
        0.0,
    )
    .unwrap();
    let s = &m.renditions[0].segments;
    let urls: Vec<&str> = s.iter().map(|s| s.info.url.as_str()).collect();
    assert_eq!(
        urls,
        [
            "http://cdn/x/v/hd/90000.m4s",
            "http://cdn/x/v/hd/270000.m4s",
            "http://cdn/x/v/hd/450000.m4s",
            "http://cdn/x/v/hd/630000.m4s"
        ]
    );
    // Presentation times start at the period, minus the offset.
    let starts: Vec<f64> = s.iter().map(|s| s.info.start).collect();
    assert_eq!(starts, [0.0, 2.0, 4.0, 6.0]);
    assert_eq!(s[3].info.end, 7.0);
    assert_eq!(
        s.iter().map(|s| s.info.id).collect::<Vec<_>>(),
        [0, 4, 8, 12]
    );
}

/// What real Shaka Player made of the test media's MPD, and p2pml-rs-shaka's
/// stream descriptors and segment ids for it (tests/browser/record-shaka-golden.mjs;
/// packages/shaka/test/golden.test.mjs checks the TypeScript side).
#[test]
fn the_native_parser_agrees_with_shaka_on_the_test_media() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let golden: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{root}/tests/fixtures/shaka-dash-vod.json")).unwrap(),
    )
    .unwrap();
    let text = std::fs::read_to_string(format!("{root}/media/dash/manifest.mpd")).unwrap();
    let origin = "http://127.0.0.1:8080";
    let m = dash::parse(&text, &url(&format!("{origin}/dash/manifest.mpd")), 0.0).unwrap();
    let expected = golden["expected"].as_array().unwrap();
    assert_eq!(m.renditions.len(), expected.len());
    for want in expected {
        let rep = want["representation"].as_str().unwrap();
        let got = m
            .renditions
            .iter()
            .find(|r| r.rendition.uri == rep)
            .unwrap_or_else(|| panic!("representation {rep} missing"));
        let ty = match got.rendition.stream_type {
            StreamType::Main => "main",
            StreamType::Secondary => "secondary",
        };
        assert_eq!(ty, want["type"], "representation {rep}");
        // The descriptor as the wasm engine reads it from JavaScript (numbers as JS writes them).
        let d = &want["descriptor"];
        let text = |k: &str| {
            d.get(k).and_then(|v| match v {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Number(n) => n.as_f64().filter(|f| *f != 0.0).map(|f| {
                    if f.fract() == 0.0 {
                        format!("{}", f as i64)
                    } else {
                        f.to_string()
                    }
                }),
                _ => None,
            })
        };
        let shaka = StreamDescriptor {
            bitrate: d.get("bitrate").and_then(serde_json::Value::as_f64),
            codecs: text("codecs"),
            width: d
                .get("width")
                .and_then(serde_json::Value::as_u64)
                .map(|w| w as u32),
            height: d
                .get("height")
                .and_then(serde_json::Value::as_u64)
                .map(|h| h as u32),
            language: text("language"),
            channels: text("channels"),
            name: text("name"),
            frame_rate: text("frameRate"),
            video_range: text("videoRange"),
        };
        assert_eq!(
            got.rendition.descriptor.preimage(),
            shaka.preimage(),
            "representation {rep}"
        );
        let segments: Vec<(String, i64)> = got
            .segments
            .iter()
            .map(|s| (s.info.url.trim_start_matches(origin).to_owned(), s.info.id))
            .collect();
        let want_segments: Vec<(String, i64)> = want["segments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s[0].as_str().unwrap().to_owned(), s[1].as_i64().unwrap()))
            .collect();
        assert_eq!(segments, want_segments, "representation {rep}");
    }
}

#[test]
fn segments_starting_within_half_a_second_stay_off_p2p_both() {
    // Starts 0, 2, 2.3, 4: the second and third share id 4 (trunc(start / 0.5)).
    let body = "<Period start=\"PT0S\" duration=\"PT6S\"><AdaptationSet contentType=\"video\" mimeType=\"video/mp4\">\
        <SegmentTemplate timescale=\"10\" media=\"$Time$.m4s\">\
        <SegmentTimeline><S t=\"0\" d=\"20\"/><S d=\"3\"/><S d=\"17\"/><S d=\"20\"/></SegmentTimeline></SegmentTemplate>\
        <Representation id=\"v\" bandwidth=\"1000\"/></AdaptationSet></Period>";
    let m = dash::parse(&mpd(body, "type=\"static\""), &url("http://cdn/a.mpd"), 0.0).unwrap();
    let kept: Vec<(i64, &str)> = m.renditions[0]
        .segments
        .iter()
        .map(|s| (s.info.id, s.info.url.as_str()))
        .collect();
    assert_eq!(kept, [(0, "http://cdn/0.m4s"), (8, "http://cdn/40.m4s")]);
}

#[test]
fn dynamic_number_template_follows_the_clock_and_the_time_shift_window() {
    let body = "<Period start=\"PT0S\"><AdaptationSet contentType=\"video\">\
        <SegmentTemplate timescale=\"1\" duration=\"2\" startNumber=\"1\" media=\"s-$Number$.m4s\"/>\
        <Representation id=\"v\" bandwidth=\"1000\"/></AdaptationSet></Period>";
    let attrs = "type=\"dynamic\" availabilityStartTime=\"2026-01-01T00:00:00Z\" timeShiftBufferDepth=\"PT10S\" minimumUpdatePeriod=\"PT2S\"";
    let ast = 1_767_225_600.0; // 2026-01-01T00:00:00Z
    let base = url("http://cdn/live/a.mpd");
    let m = dash::parse(&mpd(body, attrs), &base, ast + 21.0).unwrap();
    assert!(m.dynamic);
    assert_eq!(
        m.minimum_update_period,
        Some(std::time::Duration::from_secs(2))
    );
    let s = &m.renditions[0].segments;
    // 21 s in: segments ending by 21 s, starting no earlier than 11 s.
    let urls: Vec<&str> = s
        .iter()
        .map(|s| s.info.url.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(urls, ["s-7.m4s", "s-8.m4s", "s-9.m4s", "s-10.m4s"]);
    assert_eq!(
        s.iter().map(|s| s.info.id).collect::<Vec<_>>(),
        [24, 28, 32, 36]
    );
    // Four seconds later the window has slid by two segments; ids stay put.
    let later = dash::parse(&mpd(body, attrs), &base, ast + 25.0).unwrap();
    let ids: Vec<i64> = later.renditions[0]
        .segments
        .iter()
        .map(|s| s.info.id)
        .collect();
    assert_eq!(ids, [32, 36, 40, 44]);
}

#[test]
fn segment_list_with_media_ranges() {
    let body = "<Period duration=\"PT4S\"><AdaptationSet mimeType=\"audio/mp4\" lang=\"en\">\
        <Representation id=\"a\" codecs=\"mp4a.40.2\"><BaseURL>audio.mp4</BaseURL>\
        <SegmentList timescale=\"1000\" duration=\"2000\"><SegmentURL mediaRange=\"100-199\"/><SegmentURL mediaRange=\"200-349\"/></SegmentList>\
        </Representation></AdaptationSet></Period>";
    let m = dash::parse(
        &mpd(body, "type=\"static\""),
        &url("http://cdn/x/a.mpd"),
        0.0,
    )
    .unwrap();
    let r = &m.renditions[0];
    assert_eq!(r.rendition.stream_type, StreamType::Secondary);
    assert_eq!(r.segments[0].info.url, "http://cdn/x/audio.mp4");
    assert_eq!(r.segments[0].info.byte_range, Some(100..200));
    assert_eq!(r.segments[1].info.byte_range, Some(200..350));
    assert_eq!(r.segments[1].info.start, 2.0);
}

/// A version-0 `sidx` with `refs` (size, duration) at timescale 1000.
fn sidx(refs: &[(u32, u32)]) -> Vec<u8> {
    let mut b = Vec::new();
    let size = 32 + 12 * refs.len() as u32;
    b.extend(size.to_be_bytes());
    b.extend(b"sidx");
    b.extend([0, 0, 0, 0]); // version, flags
    b.extend(1u32.to_be_bytes()); // reference id
    b.extend(1000u32.to_be_bytes()); // timescale
    b.extend(0u32.to_be_bytes()); // earliest presentation time
    b.extend(0u32.to_be_bytes()); // first offset
    b.extend([0, 0]);
    b.extend((refs.len() as u16).to_be_bytes());
    for (size, duration) in refs {
        b.extend(size.to_be_bytes());
        b.extend(duration.to_be_bytes());
        b.extend(0x9000_0000u32.to_be_bytes());
    }
    b
}

#[test]
fn segment_base_segments_come_from_the_sidx() {
    let body = "<Period duration=\"PT4S\"><AdaptationSet contentType=\"video\">\
        <Representation id=\"v\" bandwidth=\"5\"><BaseURL>v.mp4</BaseURL><SegmentBase indexRange=\"800-855\"/>\
        </Representation></AdaptationSet></Period>";
    let m = dash::parse(
        &mpd(body, "type=\"static\""),
        &url("http://cdn/x/a.mpd"),
        0.0,
    )
    .unwrap();
    let r = &m.renditions[0];
    assert!(r.segments.is_empty());
    let index = r.index.clone().unwrap();
    assert_eq!(
        index,
        IndexRef {
            url: "http://cdn/x/v.mp4".into(),
            range: 800..856,
            period_start: 0.0
        }
    );
    let box_ = sidx(&[(1000, 2000), (1500, 2000)]);
    assert_eq!(box_.len(), 56);
    let s = dash::segments_from_sidx(&box_, &index).unwrap();
    assert_eq!(s[0].info.byte_range, Some(856..1856));
    assert_eq!(s[1].info.byte_range, Some(1856..3356));
    assert_eq!(
        (s[1].info.start, s[1].info.end, s[1].info.id),
        (2.0, 4.0, 4)
    );
    assert!(matches!(
        dash::segments_from_sidx(&box_[..20], &index),
        Err(ManifestError::BadIndex(_))
    ));
}

#[test]
fn rewriting_puts_one_base_at_the_top_and_drops_locations() {
    let text = mpd(
        "<Location>http://cdn/x/a.mpd</Location><BaseURL>http://cdn/x/</BaseURL><Period><BaseURL>p1/</BaseURL></Period>",
        "type=\"dynamic\"",
    );
    let out = dash::rewrite_base(&text, "http://127.0.0.1:1/d/0/");
    assert!(
        out.contains("><BaseURL>http://127.0.0.1:1/d/0/</BaseURL><Period><BaseURL>p1/</BaseURL>"),
        "{out}"
    );
    assert!(!out.contains("Location"), "{out}");
    assert!(!out.contains("http://cdn/x/"), "{out}");
    // And the parser follows the original base for segment URLs.
    let playable = mpd(
        "<BaseURL>http://cdn/x/</BaseURL><Period duration=\"PT2S\"><BaseURL>p1/</BaseURL>\
         <AdaptationSet contentType=\"video\"><SegmentTemplate duration=\"2\" media=\"s$Number$.m4s\"/>\
         <Representation id=\"v\"/></AdaptationSet></Period>",
        "type=\"static\"",
    );
    let m = dash::parse(&playable, &url("http://other/a.mpd"), 0.0).unwrap();
    assert_eq!(m.base.as_str(), "http://cdn/x/");
    assert_eq!(
        m.renditions[0].segments[0].info.url,
        "http://cdn/x/p1/s1.m4s"
    );
}

#[test]
fn broken_mpds_are_clear_errors() {
    let base = url("http://cdn/x/a.mpd");
    let err = dash::parse("<html>oops</html>", &base, 0.0).unwrap_err();
    assert!(matches!(err, ManifestError::Dash(_)), "{err}");
    let empty = mpd("<Period duration=\"PT2S\"/>", "type=\"static\"");
    let err = dash::parse(&empty, &base, 0.0).unwrap_err();
    assert!(err.to_string().contains("no video or audio"), "{err}");
}
