//! Live HLS emulated from VOD playlists: pure functions of the playlist text and the time elapsed
//! since the live stream started.
//!
//! The live stream loops over the VOD segments forever. Absolute segment `j` (0, 1, 2, …) is VOD
//! segment `j mod n` in pass `j / n`; it is listed under a URI that names its pass
//! (`{prefix}/pass-{j / n}/{path}`), so every segment of the endless stream has its own URI, as
//! in a real live stream. Each wrap back to VOD segment 0 is marked `EXT-X-DISCONTINUITY` (the
//! timestamps restart).
//!
//! Time advances one segment per `EXT-X-TARGETDURATION`, for every playlist alike, so the audio
//! and video playlists of one presentation keep equal media sequence numbers even where their
//! segment durations differ slightly. At `elapsed = 0` the window already holds segments
//! `0..window`, like a stream that has been running for a while: a player can start at once.

use std::fmt::Write as _;
use std::time::Duration;

use crate::error::PlaylistError;
use crate::paths;

/// A VOD media playlist reduced to what the live emulation needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VodPlaylist {
    target_duration: u64,
    version: u32,
    independent_segments: bool,
    /// The `EXT-X-MAP` attribute list, its `URI` already resolved to a media-root path.
    map: Option<String>,
    segments: Vec<VodSegment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct VodSegment {
    /// The `EXTINF` value as written (duration and optional title), kept verbatim.
    extinf: String,
    /// The segment's path relative to the media root, or an absolute URL kept as is.
    uri: Uri,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Uri {
    /// A path below the media root, without a leading `/`.
    Local(String),
    /// A URL with a scheme, which the emulation cannot make unique per pass.
    External(String),
}

impl VodPlaylist {
    /// Parses a VOD media playlist found at `playlist_path` (relative to the media root; used to
    /// resolve relative segment URIs).
    ///
    /// # Errors
    /// [`PlaylistError`] when the text is not a media playlist, has no segments, lacks
    /// `EXT-X-TARGETDURATION`, or a URI leaves the media root.
    pub fn parse(text: &str, playlist_path: &str) -> Result<Self, PlaylistError> {
        if !text.trim_start().starts_with("#EXTM3U") {
            return Err(PlaylistError::NotM3u8);
        }
        let dir = playlist_path.rsplit_once('/').map_or("", |(dir, _)| dir);
        let mut target_duration = None;
        let mut version = 3;
        let mut independent_segments = false;
        let mut map = None;
        let mut segments = Vec::new();
        let mut pending_extinf: Option<String> = None;
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if let Some(v) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
                target_duration = Some(
                    v.parse::<u64>()
                        .map_err(|_| PlaylistError::BadTag(line.into()))?,
                );
            } else if let Some(v) = line.strip_prefix("#EXT-X-VERSION:") {
                version = v.parse().map_err(|_| PlaylistError::BadTag(line.into()))?;
            } else if line == "#EXT-X-INDEPENDENT-SEGMENTS" {
                independent_segments = true;
            } else if let Some(attrs) = line.strip_prefix("#EXT-X-MAP:") {
                map = Some(rewrite_uri_attribute(attrs, |uri| {
                    resolve(dir, uri).map(|u| u.to_absolute(""))
                })?);
            } else if let Some(v) = line.strip_prefix("#EXTINF:") {
                pending_extinf = Some(v.to_owned());
            } else if line.starts_with("#EXT-X-STREAM-INF") || line.starts_with("#EXT-X-MEDIA:") {
                return Err(PlaylistError::NotMediaPlaylist);
            } else if !line.starts_with('#') {
                let extinf = pending_extinf
                    .take()
                    .ok_or_else(|| PlaylistError::BadTag(line.into()))?;
                segments.push(VodSegment {
                    extinf,
                    uri: resolve(dir, line)?,
                });
            }
        }
        let target_duration = target_duration.ok_or(PlaylistError::NoTargetDuration)?;
        if target_duration == 0 {
            return Err(PlaylistError::NoTargetDuration);
        }
        if segments.is_empty() {
            return Err(PlaylistError::NoSegments);
        }
        Ok(Self {
            target_duration,
            version,
            independent_segments,
            map,
            segments,
        })
    }

    /// The number of VOD segments one pass of the loop plays.
    #[must_use]
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// The live media playlist at `elapsed` since the stream started: a window of `window`
    /// segments, its segment URIs under `prefix` (for example `/live/6`).
    #[must_use]
    pub fn render_live(&self, window: u32, elapsed: Duration, prefix: &str) -> String {
        let n = self.segments.len() as u64;
        let first = elapsed.as_secs() / self.target_duration;
        let last = first + u64::from(window.max(1)) - 1;
        let mut out = String::new();
        // `write!` to a String cannot fail; the results are ignored on purpose below.
        let _ = write!(
            out,
            "#EXTM3U\n#EXT-X-VERSION:{}\n#EXT-X-TARGETDURATION:{}\n#EXT-X-MEDIA-SEQUENCE:{first}\n\
             #EXT-X-DISCONTINUITY-SEQUENCE:{}\n",
            self.version.max(3),
            self.target_duration,
            first / n,
        );
        if self.independent_segments {
            out.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
        }
        if let Some(map) = &self.map {
            let _ = writeln!(out, "#EXT-X-MAP:{map}");
        }
        for j in first..=last {
            let pass = j / n;
            // `j % n < n == segments.len()`, so the index is in bounds.
            let Some(segment) = usize::try_from(j % n)
                .ok()
                .and_then(|i| self.segments.get(i))
            else {
                continue;
            };
            if j % n == 0 && j != first {
                out.push_str("#EXT-X-DISCONTINUITY\n");
            }
            let uri = segment.uri.to_absolute(&format!("{prefix}/pass-{pass}"));
            let _ = write!(out, "#EXTINF:{}\n{uri}\n", segment.extinf);
        }
        out
    }
}

/// Rewrites a master playlist found at `playlist_path` so that every local URI (variant lines
/// and `URI="…"` attributes) points below `prefix`, where the live media playlists are served.
///
/// # Errors
/// [`PlaylistError::NotM3u8`] for text that is not a playlist, [`PlaylistError::OutsideRoot`]
/// for a URI that leaves the media root.
pub fn rewrite_master(
    text: &str,
    playlist_path: &str,
    prefix: &str,
) -> Result<String, PlaylistError> {
    if !text.trim_start().starts_with("#EXTM3U") {
        return Err(PlaylistError::NotM3u8);
    }
    let dir = playlist_path.rsplit_once('/').map_or("", |(dir, _)| dir);
    let mut out = String::with_capacity(text.len() * 2);
    for line in text.lines().map(str::trim) {
        if line.is_empty() {
            continue;
        }
        if line.starts_with('#') {
            if line.contains("URI=\"") {
                let (tag, attrs) = line.split_once(':').unwrap_or((line, ""));
                let attrs = rewrite_uri_attribute(attrs, |uri| {
                    resolve(dir, uri).map(|u| u.to_absolute(prefix))
                })?;
                out.push_str(tag);
                out.push(':');
                out.push_str(&attrs);
            } else {
                out.push_str(line);
            }
        } else {
            out.push_str(&resolve(dir, line)?.to_absolute(prefix));
        }
        out.push('\n');
    }
    Ok(out)
}

/// Is this playlist text a master (multivariant) playlist?
#[must_use]
pub fn is_master(text: &str) -> bool {
    text.lines()
        .any(|l| l.starts_with("#EXT-X-STREAM-INF") || l.starts_with("#EXT-X-MEDIA:"))
}

impl Uri {
    fn to_absolute(&self, prefix: &str) -> String {
        match self {
            Self::Local(path) => format!("{prefix}/{path}"),
            Self::External(url) => url.clone(),
        }
    }
}

fn resolve(dir: &str, uri: &str) -> Result<Uri, PlaylistError> {
    if uri.contains("://") {
        return Ok(Uri::External(uri.to_owned()));
    }
    let joined = match uri.strip_prefix('/') {
        Some(abs) => abs.to_owned(),
        None if dir.is_empty() => uri.to_owned(),
        None => format!("{dir}/{uri}"),
    };
    paths::normalize(&joined)
        .map(|parts| Uri::Local(parts.join("/")))
        .ok_or_else(|| PlaylistError::OutsideRoot(uri.into()))
}

/// Replaces the value of the `URI="…"` attribute in an attribute list.
fn rewrite_uri_attribute(
    attrs: &str,
    rewrite: impl FnOnce(&str) -> Result<String, PlaylistError>,
) -> Result<String, PlaylistError> {
    let Some((before, rest)) = attrs.split_once("URI=\"") else {
        return Ok(attrs.to_owned());
    };
    let (uri, after) = rest
        .split_once('"')
        .ok_or_else(|| PlaylistError::BadTag(attrs.into()))?;
    Ok(format!("{before}URI=\"{}\"{after}", rewrite(uri)?))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn vod(n: usize) -> String {
        let mut s = String::from(
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n",
        );
        for i in 0..n {
            s.push_str(&format!("#EXTINF:2.000000,\nseg-{i:03}.ts\n"));
        }
        s.push_str("#EXT-X-ENDLIST\n");
        s
    }

    fn tag(playlist: &str, name: &str) -> Option<u64> {
        playlist
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':')?.parse().ok())
    }

    fn uris(playlist: &str) -> Vec<&str> {
        playlist.lines().filter(|l| !l.starts_with('#')).collect()
    }

    #[test]
    fn window_starts_full_and_slides_one_segment_per_target_duration() {
        let p = VodPlaylist::parse(&vod(5), "hls/a/index.m3u8").unwrap();
        let at0 = p.render_live(3, Duration::ZERO, "/live/3");
        assert_eq!(tag(&at0, "#EXT-X-MEDIA-SEQUENCE"), Some(0));
        assert_eq!(
            uris(&at0),
            [
                "/live/3/pass-0/hls/a/seg-000.ts",
                "/live/3/pass-0/hls/a/seg-001.ts",
                "/live/3/pass-0/hls/a/seg-002.ts"
            ]
        );
        assert!(!at0.contains("ENDLIST"));
        // 1.999 s: nothing new yet; 2 s: one segment slid.
        let early = p.render_live(3, Duration::from_millis(1999), "/live/3");
        assert_eq!(early, at0);
        let at2 = p.render_live(3, Duration::from_secs(2), "/live/3");
        assert_eq!(tag(&at2, "#EXT-X-MEDIA-SEQUENCE"), Some(1));
        assert_eq!(uris(&at2).last(), Some(&"/live/3/pass-0/hls/a/seg-003.ts"));
    }

    #[test]
    fn wrap_is_a_discontinuity_with_new_uris_and_counted_once_it_leaves() {
        let p = VodPlaylist::parse(&vod(5), "v/index.m3u8").unwrap();
        // first = 3: segments 3, 4 | 5 (=vod 0, pass 1)
        let l = p.render_live(3, Duration::from_secs(6), "/live/3");
        assert_eq!(tag(&l, "#EXT-X-DISCONTINUITY-SEQUENCE"), Some(0));
        assert_eq!(
            uris(&l),
            [
                "/live/3/pass-0/v/seg-003.ts",
                "/live/3/pass-0/v/seg-004.ts",
                "/live/3/pass-1/v/seg-000.ts"
            ]
        );
        let body: Vec<&str> = l
            .lines()
            .skip_while(|x| !x.starts_with("#EXTINF"))
            .collect();
        assert_eq!(body.get(4), Some(&"#EXT-X-DISCONTINUITY"));
        // first = 5 is the wrapped segment itself: the tag is gone, the sequence counts it.
        let l = p.render_live(3, Duration::from_secs(10), "/live/3");
        assert_eq!(tag(&l, "#EXT-X-MEDIA-SEQUENCE"), Some(5));
        assert_eq!(tag(&l, "#EXT-X-DISCONTINUITY-SEQUENCE"), Some(1));
        assert!(!l.contains("#EXT-X-DISCONTINUITY\n"));
        // Many passes later the URIs are still unique and the counts still agree.
        let l = p.render_live(3, Duration::from_secs(2 * 1003), "/live/3");
        assert_eq!(tag(&l, "#EXT-X-MEDIA-SEQUENCE"), Some(1003));
        assert_eq!(tag(&l, "#EXT-X-DISCONTINUITY-SEQUENCE"), Some(200));
        assert_eq!(uris(&l).first(), Some(&"/live/3/pass-200/v/seg-003.ts"));
    }

    #[test]
    fn window_longer_than_the_vod_lists_several_passes() {
        let p = VodPlaylist::parse(&vod(4), "index.m3u8").unwrap();
        let l = p.render_live(10, Duration::ZERO, "/live/10");
        assert_eq!(uris(&l).len(), 10);
        assert_eq!(l.matches("#EXT-X-DISCONTINUITY\n").count(), 2);
        assert_eq!(uris(&l).get(9), Some(&"/live/10/pass-2/seg-001.ts"));
    }

    #[test]
    fn map_and_parent_relative_uris_are_resolved() {
        let text = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-INDEPENDENT-SEGMENTS\n\
                    #EXT-X-MAP:URI=\"../dash/init-0.mp4\"\n#EXTINF:2.0,\n../dash/seg-0-001.m4s\n";
        let p = VodPlaylist::parse(text, "hls-fmp4/media_0.m3u8").unwrap();
        let l = p.render_live(6, Duration::ZERO, "/live/6");
        assert!(l.contains("#EXT-X-VERSION:7\n"));
        assert!(l.contains("#EXT-X-INDEPENDENT-SEGMENTS\n"));
        assert!(l.contains("#EXT-X-MAP:URI=\"/dash/init-0.mp4\"\n"));
        assert_eq!(uris(&l).first(), Some(&"/live/6/pass-0/dash/seg-0-001.m4s"));
    }

    #[test]
    fn bad_playlists_are_refused() {
        assert_eq!(
            VodPlaylist::parse("hello", "x.m3u8"),
            Err(PlaylistError::NotM3u8)
        );
        assert_eq!(
            VodPlaylist::parse("#EXTM3U\n#EXT-X-TARGETDURATION:2\n", "x.m3u8"),
            Err(PlaylistError::NoSegments)
        );
        assert_eq!(
            VodPlaylist::parse("#EXTM3U\n#EXTINF:2,\na.ts\n", "x.m3u8"),
            Err(PlaylistError::NoTargetDuration)
        );
        assert!(matches!(
            VodPlaylist::parse(
                "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n../../etc/passwd\n",
                "a/x.m3u8"
            ),
            Err(PlaylistError::OutsideRoot(_))
        ));
        assert_eq!(
            VodPlaylist::parse("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\na.m3u8\n", "x.m3u8"),
            Err(PlaylistError::NotMediaPlaylist)
        );
    }

    #[test]
    fn master_uris_move_under_the_live_prefix() {
        let master = "#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",URI=\"media_3.m3u8\"\n\
                      #EXT-X-STREAM-INF:BANDWIDTH=1,AUDIO=\"a\"\nmedia_0.m3u8\n";
        assert!(is_master(master));
        let out = rewrite_master(master, "hls-fmp4/master.m3u8", "/live/20").unwrap();
        assert_eq!(
            out,
            "#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",URI=\"/live/20/hls-fmp4/media_3.m3u8\"\n\
             #EXT-X-STREAM-INF:BANDWIDTH=1,AUDIO=\"a\"\n/live/20/hls-fmp4/media_0.m3u8\n"
        );
    }
}
