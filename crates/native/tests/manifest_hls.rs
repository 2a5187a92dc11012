#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::print_stderr,
    clippy::cast_possible_truncation,
    clippy::type_complexity,
    missing_docs
)]
//! HLS playlists: renditions and their swarm identities, segment ids, byte
//! ranges, discontinuities, live refresh, rewriting, and broken input.

use p2pml_native::manifest::hls::{self, HlsPlaylist, Timeline};
use p2pml_native::manifest::{ManifestError, Rendition};
use p2pml_proto::identity::{InfoHash, StreamType, stream_swarm_id};
use url::Url;

fn url(s: &str) -> Url {
    Url::parse(s).unwrap()
}

fn master(text: &str, base: &str) -> Vec<Rendition> {
    match hls::parse(text, &url(base)).unwrap() {
        HlsPlaylist::Master(m) => m.renditions,
        HlsPlaylist::Media(_) => panic!("not a master"),
    }
}

fn media(text: &str) -> m3u8_rs::MediaPlaylist {
    match hls::parse(text, &url("http://cdn.example/a/index.m3u8")).unwrap() {
        HlsPlaylist::Media(m) => *m,
        HlsPlaylist::Master(_) => panic!("not a media playlist"),
    }
}

#[test]
fn master_renditions_get_the_identity_p2p_media_loader_computes() {
    // SPEC §2.2's worked example, computed by the real P2P Media Loader.
    let text = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=2000000,RESOLUTION=1280x720,\
                CODECS=\"avc1.64001f,mp4a.40.2\",FRAME-RATE=30.000\nlevel/720p.m3u8\n";
    let r = master(text, "https://example.com/hls/master.m3u8?token=abc123");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].stream_type, StreamType::Main);
    assert_eq!(
        r[0].descriptor.preimage(),
        "2000000-avc1.64001f-1280-720----30-"
    );
    assert_eq!(r[0].short_id(), "NqsTkWHiCF+FGmHQvwp+Aigq4Tk=");
    assert_eq!(r[0].uri, "https://example.com/hls/level/720p.m3u8");
    let swarm = stream_swarm_id(
        "https://example.com/hls/master.m3u8",
        StreamType::Main,
        &r[0].short_id(),
    );
    assert_eq!(
        InfoHash::from_stream_swarm_id(&swarm).to_string(),
        "1O4gjNdlI6cBBN+l8Qtc"
    );
}

#[test]
fn a_level_without_bandwidth_is_described_by_nothing_else() {
    let text = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=0,RESOLUTION=1280x720,CODECS=\"avc1.64001f\"\nv.m3u8\n";
    let r = master(text, "http://cdn.example/m.m3u8");
    assert_eq!(r[0].descriptor.preimage(), "0--------");
    assert_eq!(r[0].short_id(), "UYnLxGhQilEV4D0HbCx+kRv0ZF0=");
}

#[test]
fn audio_renditions_are_secondary_with_the_groups_audio_codec() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../media/hls-fmp4/master.m3u8"
    ))
    .unwrap();
    let r = master(&text, "http://127.0.0.1:8080/hls-fmp4/master.m3u8");
    assert_eq!(r.len(), 4);
    assert!(r[..3].iter().all(|r| r.stream_type == StreamType::Main));
    assert_eq!(
        r[0].descriptor.preimage(),
        "75848-avc1.4d4015-426-240----30-"
    );
    assert_eq!(r[3].stream_type, StreamType::Secondary);
    assert_eq!(r[3].descriptor.preimage(), "0-mp4a.40.2---en-1-sine--");
    assert_eq!(r[3].uri, "http://127.0.0.1:8080/hls-fmp4/media_3.m3u8");
}

#[test]
fn vod_ids_are_positions_and_ignore_the_media_sequence() {
    let p = media(
        "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:7\n\
         #EXTINF:4,\ns0.ts\n#EXTINF:3.5,\ns1.ts\n#EXTINF:4,\n/abs/s2.ts\n#EXT-X-ENDLIST\n",
    );
    assert!(!hls::is_live(&p));
    let s = hls::segments(
        &p,
        &url("http://cdn.example/a/index.m3u8"),
        &mut Timeline::default(),
    )
    .unwrap();
    let ids: Vec<i64> = s.iter().map(|s| s.info.id).collect();
    assert_eq!(ids, [0, 1, 2]);
    assert_eq!(s[1].info.start, 4.0);
    assert_eq!(s[2].info.start, 7.5);
    assert_eq!(s[2].info.end, 11.5);
    assert_eq!(s[0].info.url, "http://cdn.example/a/s0.ts");
    assert_eq!(s[2].info.url, "http://cdn.example/abs/s2.ts");
}

#[test]
fn byte_ranges_become_absolute_and_a_missing_offset_follows_the_previous_range() {
    let p = media(
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MAP:URI=\"all.mp4\",BYTERANGE=\"800@0\"\n\
         #EXTINF:2,\n#EXT-X-BYTERANGE:1000@800\nall.mp4\n#EXTINF:2,\n#EXT-X-BYTERANGE:500\nall.mp4\n\
         #EXT-X-ENDLIST\n",
    );
    let base = url("http://cdn.example/a/index.m3u8");
    let s = hls::segments(&p, &base, &mut Timeline::default()).unwrap();
    assert_eq!(s[0].info.byte_range, Some(800..1800));
    assert_eq!(s[1].info.byte_range, Some(1800..2300));
    assert_eq!(s[1].info.known_size(), Some(500));

    // Each segment gets its own URI, so its range tag goes; the map keeps its range.
    let out = hls::rewrite_media(
        &p,
        &s,
        &base,
        |s| format!("http://proxy/h/{}", s.info.id),
        |u| format!("http://proxy/r?u={u}"),
    )
    .unwrap();
    assert!(out.contains("\nhttp://proxy/h/0\n"), "{out}");
    assert!(out.contains("\nhttp://proxy/h/1\n"), "{out}");
    assert!(!out.contains("#EXT-X-BYTERANGE"), "{out}");
    assert!(
        out.contains("URI=\"http://proxy/r?u=http://cdn.example/a/all.mp4\""),
        "{out}"
    );
    assert!(out.contains("BYTERANGE=\"800@0\""), "{out}");
    // What the proxy serves must parse again.
    assert!(matches!(hls::parse(&out, &base), Ok(HlsPlaylist::Media(_))));

    let orphan =
        media("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n#EXT-X-BYTERANGE:500\nall.mp4\n");
    let err = hls::segments(&orphan, &base, &mut Timeline::default()).unwrap_err();
    assert!(err.to_string().contains("without offset"), "{err}");
}

#[test]
fn live_refresh_keeps_ids_and_times_and_discontinuities() {
    let base = url("http://cdn.example/live/index.m3u8");
    let mut timeline = Timeline::default();
    let first = media(
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:100\n\
         #EXTINF:2,\na.ts\n#EXTINF:2,\nb.ts\n#EXTINF:2,\nc.ts\n",
    );
    assert!(hls::is_live(&first));
    let s1 = hls::segments(&first, &base, &mut timeline).unwrap();
    assert_eq!(
        s1.iter().map(|s| s.info.id).collect::<Vec<_>>(),
        [100, 101, 102]
    );
    let second = media(
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:101\n\
         #EXTINF:2,\nb.ts\n#EXTINF:2,\nc.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:1.5,\nd.ts\n",
    );
    let s2 = hls::segments(&second, &base, &mut timeline).unwrap();
    assert_eq!(
        s2.iter().map(|s| s.info.id).collect::<Vec<_>>(),
        [101, 102, 103]
    );
    // Segments seen before keep their times; the new one continues.
    assert_eq!(s2[0].info.start, s1[1].info.start);
    assert_eq!(s2[2].info.start, s1[2].info.end);
    assert!(s2[2].discontinuity && !s2[1].discontinuity);
    let out = hls::rewrite_media(
        &second,
        &s2,
        &base,
        |s| format!("/h/{}", s.info.id),
        str::to_owned,
    )
    .unwrap();
    assert!(out.contains("#EXT-X-MEDIA-SEQUENCE:101"), "{out}");
    assert!(
        out.contains("#EXT-X-DISCONTINUITY\n#EXTINF:1.5,\n/h/103"),
        "{out}"
    );

    // A refresh after a gap (nothing in common) continues at the target duration.
    let later =
        media("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:110\n#EXTINF:2,\nz.ts\n");
    let s3 = hls::segments(&later, &base, &mut timeline).unwrap();
    assert_eq!(s3[0].info.id, 110);
    assert_eq!(s3[0].info.start, s2[2].info.start + 7.0 * 2.0);
}

#[test]
fn master_rewrite_points_renditions_at_the_proxy() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../media/hls-fmp4/master.m3u8"
    ))
    .unwrap();
    let base = url("http://127.0.0.1:8080/hls-fmp4/master.m3u8");
    let HlsPlaylist::Master(m) = hls::parse(&text, &base).unwrap() else {
        panic!("not a master");
    };
    let out = hls::rewrite_master(
        &m,
        &base,
        |i| format!("http://proxy/p/0/{}.m3u8", i + 1),
        str::to_owned,
    )
    .unwrap();
    for i in 1..=4 {
        assert!(out.contains(&format!("http://proxy/p/0/{i}.m3u8")), "{out}");
    }
    assert!(!out.contains("media_0.m3u8"), "{out}");
    assert!(out.contains("URI=\"http://proxy/p/0/4.m3u8\""), "{out}");
}

#[test]
fn broken_playlists_are_clear_errors() {
    let base = url("http://cdn.example/x.m3u8");
    let err = hls::parse("<html>502 Bad Gateway</html>", &base).unwrap_err();
    assert!(matches!(err, ManifestError::Hls(_)));
    assert!(err.to_string().contains("no #EXTM3U header"), "{err}");
    let err = hls::parse("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n", &base).unwrap_err();
    assert!(err.to_string().contains("without a URI"), "{err}");
}
