//! The streams the demo offers: the bundled test media (VOD, and live where the origin
//! emulates it) and the user's own `--url`, and which URLs native peers may be asked to join.

use std::path::Path;

use serde_json::{Value, json};

/// A manifest format, which decides the players that can open it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Hls,
    Dash,
}

impl Format {
    /// By the URL's path: `.mpd` is DASH, anything else HLS.
    pub(crate) fn of_url(url: &str) -> Self {
        let path = url.split(['?', '#']).next().unwrap_or(url);
        if path.to_ascii_lowercase().ends_with(".mpd") {
            Self::Dash
        } else {
            Self::Hls
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Hls => "hls",
            Self::Dash => "dash",
        }
    }
}

/// One bundled presentation, served by the origin at `path` (VOD) and, if `live`, at
/// `/live/{window}{path}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bundled {
    /// Short name, used in the page's URL (`hls-ts`).
    pub(crate) id: String,
    /// What a viewer reads in the stream list.
    pub(crate) label: &'static str,
    pub(crate) format: Format,
    /// The VOD manifest's path on the origin (`/hls-ts/master.m3u8`).
    pub(crate) path: String,
    /// Whether the origin also serves it as live.
    pub(crate) live: bool,
}

/// What the demo knows how to play, in the order the page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Catalog {
    /// `http://127.0.0.1:PORT`: the origin as the native peers reach it. Bundled streams'
    /// swarm ids are built on it, whatever address a browser opened the page with.
    pub(crate) base: String,
    pub(crate) bundled: Vec<Bundled>,
    /// The `--url` stream.
    pub(crate) user: Option<String>,
    /// Largest live window the origin accepts.
    pub(crate) max_live_window: u32,
}

/// The bundled presentations the demo knows, by directory under `media/`: (directory,
/// manifest, label, format, live). The origin emulates live HLS from every VOD playlist and
/// live DASH (a dynamic MPD) from every static one.
const KNOWN: &[(&str, &str, &str, Format, bool)] = &[
    ("hls-ts", "master.m3u8", "HLS · MPEG-TS", Format::Hls, true),
    (
        "hls-fmp4",
        "master.m3u8",
        "HLS · fMP4, separate audio",
        Format::Hls,
        true,
    ),
    ("dash", "manifest.mpd", "DASH · fMP4", Format::Dash, true),
];

impl Catalog {
    /// The bundled presentations present under `media`, and the user's stream.
    pub(crate) fn new(base: String, media: &Path, user: Option<String>) -> Self {
        let bundled = KNOWN
            .iter()
            .filter(|(dir, manifest, ..)| media.join(dir).join(manifest).is_file())
            .map(|&(dir, manifest, label, format, live)| Bundled {
                id: dir.to_owned(),
                label,
                format,
                path: format!("/{dir}/{manifest}"),
                live,
            })
            .collect();
        Self {
            base,
            bundled,
            user,
            max_live_window: p2pml_origin::OriginConfig::new(media).max_live_window,
        }
    }

    /// The URL native peers and the swarm id use for a bundled stream.
    pub(crate) fn url(&self, bundled: &Bundled, live_window: Option<u32>) -> String {
        match live_window {
            Some(w) if bundled.live => format!("{}/live/{w}{}", self.base, bundled.path),
            _ => format!("{}{}", self.base, bundled.path),
        }
    }

    /// Whether native peers may join `url`: a bundled stream (any live window the origin
    /// accepts) or the user's. Anything else is refused, so the API cannot be used to make
    /// this process fetch arbitrary URLs.
    pub(crate) fn allows(&self, url: &str) -> bool {
        if self.user.as_deref() == Some(url) {
            return true;
        }
        let Some(path) = url.strip_prefix(&self.base) else {
            return false;
        };
        match path.strip_prefix("/live/") {
            Some(rest) => {
                let Some((window, rest)) = rest.split_once('/') else {
                    return false;
                };
                let window_ok = window
                    .parse::<u32>()
                    .is_ok_and(|w| (1..=self.max_live_window).contains(&w));
                window_ok
                    && self
                        .bundled
                        .iter()
                        .any(|b| b.live && b.path.strip_prefix('/') == Some(rest))
            }
            None => self.bundled.iter().any(|b| b.path == path),
        }
    }

    /// The catalogue as the page reads it (part of `/api/config`).
    pub(crate) fn to_json(&self) -> Value {
        let bundled: Vec<Value> = self
            .bundled
            .iter()
            .map(|b| {
                json!({
                    "id": b.id,
                    "label": b.label,
                    "format": b.format.as_str(),
                    "path": b.path,
                    "live": b.live,
                })
            })
            .collect();
        json!({
            "swarmBase": self.base,
            "bundled": bundled,
            "user": self.user.as_ref().map(|url| json!({
                "url": url,
                "format": Format::of_url(url).as_str(),
            })),
            "maxLiveWindow": self.max_live_window,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        let media = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../media");
        Catalog::new(
            "http://127.0.0.1:8080".into(),
            &media,
            Some("https://cdn.example/live/index.mpd?token=1".into()),
        )
    }

    #[test]
    fn bundled_streams_come_from_the_media_directory() {
        let c = catalog();
        let ids: Vec<&str> = c.bundled.iter().map(|b| b.id.as_str()).collect();
        assert_eq!(ids, ["hls-ts", "hls-fmp4", "dash"]);
        let ts = &c.bundled[0];
        assert_eq!(
            c.url(ts, Some(6)),
            "http://127.0.0.1:8080/live/6/hls-ts/master.m3u8"
        );
        assert_eq!(c.url(ts, None), "http://127.0.0.1:8080/hls-ts/master.m3u8");
        assert_eq!(
            c.url(&c.bundled[2], Some(6)),
            "http://127.0.0.1:8080/live/6/dash/manifest.mpd"
        );
        let missing = Catalog::new("http://x".into(), Path::new("/nonexistent"), None);
        assert!(missing.bundled.is_empty());
    }

    #[test]
    fn only_catalogued_urls_are_allowed() {
        let c = catalog();
        for ok in [
            "http://127.0.0.1:8080/hls-ts/master.m3u8",
            "http://127.0.0.1:8080/dash/manifest.mpd",
            "http://127.0.0.1:8080/live/20/hls-fmp4/master.m3u8",
            "http://127.0.0.1:8080/live/1000/hls-ts/master.m3u8",
            "http://127.0.0.1:8080/live/20/dash/manifest.mpd",
            "https://cdn.example/live/index.mpd?token=1",
        ] {
            assert!(c.allows(ok), "{ok}");
        }
        for refused in [
            "http://127.0.0.1:8080/hls-ts/240p/index.m3u8",
            "http://127.0.0.1:8080/live/0/hls-ts/master.m3u8",
            "http://127.0.0.1:8080/live/1001/hls-ts/master.m3u8",
            "http://127.0.0.1:8080/live/20/dash/init-0.mp4",
            "http://127.0.0.1:8080/live/x/hls-ts/master.m3u8",
            "http://127.0.0.1:8081/hls-ts/master.m3u8",
            "http://169.254.169.254/latest/meta-data",
            "https://cdn.example/live/index.mpd",
        ] {
            assert!(!c.allows(refused), "{refused}");
        }
    }

    #[test]
    fn format_by_extension() {
        assert_eq!(Format::of_url("https://a/b/manifest.MPD?x=1"), Format::Dash);
        assert_eq!(Format::of_url("https://a/b/master.m3u8"), Format::Hls);
        assert_eq!(Format::of_url("https://a/b/stream"), Format::Hls);
    }
}
