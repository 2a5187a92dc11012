//! HLS playlists (m3u8-rs), described and numbered as hls.js with P2P
//! Media Loader does it (SPEC §3.3, §3.5).

use std::collections::BTreeMap;
use std::ops::Range;

use m3u8_rs::{AlternativeMediaType, MasterPlaylist, MediaPlaylist, Playlist, QuotedOrUnquoted};
use p2pml_core::streams::SegmentInfo;
use p2pml_proto::identity::{StreamDescriptor, StreamType};
use url::Url;

use super::{CodecKind, ManifestError, Rendition, Segment, codecs_of, resolve};

/// A parsed playlist: master (renditions) or media (segments).
#[derive(Debug, Clone)]
pub enum HlsPlaylist {
    /// A multivariant playlist.
    Master(Box<HlsMaster>),
    /// A media playlist.
    Media(Box<MediaPlaylist>),
}

/// A master playlist and its renditions.
#[derive(Debug, Clone)]
pub struct HlsMaster {
    /// `main` streams (every `EXT-X-STREAM-INF`), then `secondary` ones
    /// (every `EXT-X-MEDIA TYPE=AUDIO` with a URI), URIs resolved.
    pub renditions: Vec<Rendition>,
    /// The playlist as parsed, for rewriting.
    pub playlist: MasterPlaylist,
}

/// Parses a playlist of either kind.
///
/// # Errors
/// [`ManifestError::Hls`] when the text is not an HLS playlist.
pub fn parse(text: &str, base: &Url) -> Result<HlsPlaylist, ManifestError> {
    if !text.trim_start().starts_with("#EXTM3U") {
        return Err(ManifestError::Hls("no #EXTM3U header".into()));
    }
    match m3u8_rs::parse_playlist_res(text.as_bytes()) {
        Ok(Playlist::MasterPlaylist(master)) => {
            Ok(HlsPlaylist::Master(Box::new(describe(master, base)?)))
        }
        Ok(Playlist::MediaPlaylist(media)) => Ok(HlsPlaylist::Media(Box::new(media))),
        Err(e) => Err(ManifestError::Hls(e.to_string())),
    }
}

fn attribute(
    attrs: Option<&std::collections::HashMap<String, QuotedOrUnquoted>>,
    name: &str,
) -> Option<String> {
    attrs.and_then(|a| a.get(name)).map(ToString::to_string)
}

fn describe(playlist: MasterPlaylist, base: &Url) -> Result<HlsMaster, ManifestError> {
    let mut renditions = Vec::new();
    let variants: Vec<_> = playlist.variants.iter().filter(|v| !v.is_i_frame).collect();
    for v in &variants {
        if v.uri.trim().is_empty() {
            return Err(ManifestError::Hls("EXT-X-STREAM-INF without a URI".into()));
        }
        // hls.js: bitrate is BANDWIDTH, or AVERAGE-BANDWIDTH; with a zero
        // bitrate the integration leaves every other field out.
        let bitrate = if v.bandwidth > 0 {
            v.bandwidth
        } else {
            v.average_bandwidth.unwrap_or(0)
        };
        let descriptor = if bitrate == 0 {
            StreamDescriptor::default()
        } else {
            StreamDescriptor {
                #[expect(clippy::cast_precision_loss, reason = "bit rates are far below 2^53")]
                bitrate: Some(bitrate as f64),
                codecs: v
                    .codecs
                    .as_deref()
                    .and_then(|c| codecs_of(c, CodecKind::Video)),
                width: v.resolution.and_then(|r| u32::try_from(r.width).ok()),
                height: v.resolution.and_then(|r| u32::try_from(r.height).ok()),
                frame_rate: v.frame_rate.map(|f| f.to_string()),
                video_range: attribute(v.other_attributes.as_ref(), "VIDEO-RANGE"),
                ..StreamDescriptor::default()
            }
        };
        renditions.push(Rendition {
            stream_type: StreamType::Main,
            descriptor,
            uri: resolve(base, &v.uri)?.to_string(),
        });
    }
    for media in &playlist.alternatives {
        let (AlternativeMediaType::Audio, Some(uri)) = (&media.media_type, &media.uri) else {
            continue;
        };
        // hls.js takes the audio codec from the first level of the group.
        let level = variants
            .iter()
            .find(|v| v.audio.as_deref() == Some(media.group_id.as_str()))
            .or_else(|| variants.first());
        let codecs = level
            .and_then(|v| v.codecs.as_deref())
            .and_then(|c| codecs_of(c, CodecKind::Audio));
        let name = Some(media.name.clone())
            .filter(|n| !n.is_empty())
            .or_else(|| media.language.clone());
        renditions.push(Rendition {
            stream_type: StreamType::Secondary,
            descriptor: StreamDescriptor {
                bitrate: None,
                codecs,
                language: media.language.clone(),
                channels: media.channels.clone(),
                name,
                ..StreamDescriptor::default()
            },
            uri: resolve(base, uri)?.to_string(),
        });
    }
    if renditions.is_empty() {
        return Err(ManifestError::Hls(
            "master playlist without renditions".into(),
        ));
    }
    Ok(HlsMaster {
        renditions,
        playlist,
    })
}

/// Segment start times of one live stream across refreshes, by media
/// sequence number, so that times stay put as the window slides.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    starts: BTreeMap<u64, f64>,
}

/// Media sequence numbers remembered at most per stream.
const TIMELINE_LIMIT: usize = 4096;

impl Timeline {
    /// Start times for segments `first..` with `durations`, keeping the
    /// times of segments seen before.
    fn place(&mut self, first: u64, durations: &[f64], target: f64) -> Vec<f64> {
        let msn = |i: usize| first + i as u64;
        let known = (0..durations.len()).find_map(|i| self.starts.get(&msn(i)).map(|s| (i, *s)));
        let (anchor, anchor_start) = match known {
            Some(k) => k,
            None => match self.starts.iter().next_back() {
                // A gap since the last refresh: continue at the target duration.
                #[expect(clippy::cast_precision_loss, reason = "segment counts")]
                Some((&last, &start)) if last < first => {
                    (0, start + (first - last) as f64 * target)
                }
                _ => (0, 0.0),
            },
        };
        let mut starts = vec![0.0; durations.len()];
        let mut t = anchor_start;
        for i in (0..anchor).rev() {
            t -= durations.get(i).copied().unwrap_or(0.0);
            if let Some(s) = starts.get_mut(i) {
                *s = t;
            }
        }
        t = anchor_start;
        for (i, d) in durations.iter().enumerate().skip(anchor) {
            if let Some(s) = starts.get_mut(i) {
                *s = t;
            }
            t += d;
        }
        for (i, s) in starts.iter().enumerate() {
            self.starts.entry(msn(i)).or_insert(*s);
        }
        while self.starts.len() > TIMELINE_LIMIT {
            self.starts.pop_first();
        }
        starts
    }
}

/// Whether hls.js treats the playlist as live (no `EXT-X-ENDLIST`).
pub fn is_live(playlist: &MediaPlaylist) -> bool {
    !playlist.end_list
}

/// The segments of a media playlist, with P2P Media Loader's ids (media
/// sequence numbers when live, 0-based positions for VOD), resolved URLs,
/// absolute byte ranges (end exclusive) and start times (continuing
/// `timeline` for live playlists).
///
/// # Errors
/// [`ManifestError`] for unresolvable URIs, or a byte range without offset
/// that does not follow a range of the same resource.
pub fn segments(
    playlist: &MediaPlaylist,
    base: &Url,
    timeline: &mut Timeline,
) -> Result<Vec<Segment>, ManifestError> {
    let live = is_live(playlist);
    let durations: Vec<f64> = playlist
        .segments
        .iter()
        .map(|s| f64::from(s.duration).max(0.0))
        .collect();
    #[expect(clippy::cast_precision_loss, reason = "target durations are small")]
    let target = playlist.target_duration as f64;
    let starts = if live {
        timeline.place(playlist.media_sequence, &durations, target)
    } else {
        durations
            .iter()
            .scan(0.0, |t, d| {
                let s = *t;
                *t += d;
                Some(s)
            })
            .collect()
    };
    let mut out = Vec::with_capacity(playlist.segments.len());
    // Where the previous byte range ended, per resource.
    let mut range_end: Option<(String, u64)> = None;
    for (i, (s, (start, duration))) in playlist
        .segments
        .iter()
        .zip(starts.iter().zip(&durations))
        .enumerate()
    {
        if s.uri.trim().is_empty() {
            return Err(ManifestError::Hls(format!("segment {i} without a URI")));
        }
        let url = resolve(base, &s.uri)?.to_string();
        let byte_range = match &s.byte_range {
            None => None,
            Some(r) => {
                let offset = match (r.offset, &range_end) {
                    (Some(o), _) => o,
                    (None, Some((u, end))) if *u == url => *end,
                    (None, _) => {
                        return Err(ManifestError::Hls(format!(
                            "EXT-X-BYTERANGE without offset does not follow a range of {url}"
                        )));
                    }
                };
                let range: Range<u64> = offset..offset.saturating_add(r.length);
                range_end = Some((url.clone(), range.end));
                Some(range)
            }
        };
        let id = if live {
            i64::try_from(playlist.media_sequence + i as u64).unwrap_or(i64::MAX)
        } else {
            i64::try_from(i).unwrap_or(i64::MAX)
        };
        out.push(Segment {
            info: SegmentInfo {
                id,
                url,
                byte_range,
                start: *start,
                end: start + duration,
            },
            discontinuity: s.discontinuity,
        });
    }
    Ok(out)
}

/// A media playlist with every segment URI replaced by `segment_uri(segment)`
/// (and its byte range dropped: the new URI serves exactly the segment),
/// and every other URI (`EXT-X-MAP`, `EXT-X-KEY`) by `other_uri(resolved)`,
/// whose byte ranges are kept.
///
/// # Errors
/// [`ManifestError::BadUri`] for an unresolvable `EXT-X-MAP`/`EXT-X-KEY` URI.
pub fn rewrite_media(
    playlist: &MediaPlaylist,
    segments: &[Segment],
    base: &Url,
    segment_uri: impl Fn(&Segment) -> String,
    other_uri: impl Fn(&str) -> String,
) -> Result<String, ManifestError> {
    let mut p = playlist.clone();
    for (s, seg) in p.segments.iter_mut().zip(segments) {
        s.uri = segment_uri(seg);
        s.byte_range = None;
        if let Some(map) = s.map.as_mut() {
            map.uri = other_uri(resolve(base, &map.uri)?.as_str());
        }
        if let Some(key) = s.key.as_mut() {
            if let Some(uri) = key.uri.as_mut() {
                *uri = other_uri(resolve(base, uri)?.as_str());
            }
        }
    }
    let mut out = Vec::new();
    p.write_to(&mut out)
        .map_err(|e| ManifestError::Hls(e.to_string()))?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// A master playlist whose rendition URIs become `rendition_uri(index)`
/// (the index into [`HlsMaster::renditions`]); I-frame playlists and other
/// URIs go through `other_uri(resolved)`.
///
/// # Errors
/// [`ManifestError::BadUri`] for unresolvable URIs.
pub fn rewrite_master(
    master: &HlsMaster,
    base: &Url,
    rendition_uri: impl Fn(usize) -> String,
    other_uri: impl Fn(&str) -> String,
) -> Result<String, ManifestError> {
    let mut p = master.playlist.clone();
    let mut index = 0;
    for v in &mut p.variants {
        if v.is_i_frame {
            v.uri = other_uri(resolve(base, &v.uri)?.as_str());
        } else {
            v.uri = rendition_uri(index);
            index += 1;
        }
    }
    for media in &mut p.alternatives {
        let Some(uri) = media.uri.as_mut() else {
            continue;
        };
        if media.media_type == AlternativeMediaType::Audio {
            *uri = rendition_uri(index);
            index += 1;
        } else {
            *uri = other_uri(resolve(base, uri)?.as_str());
        }
    }
    let mut out = Vec::new();
    p.write_to(&mut out)
        .map_err(|e| ManifestError::Hls(e.to_string()))?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}
