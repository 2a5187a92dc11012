//! HTTP downloads: starting them with the right range, checking what the
//! server answers (SPEC §4.10), timeouts, and failure bookkeeping.

use p2pml_proto::identity::StreamType;

use super::Engine;
use super::TYPES;
use super::io::{Event, FetchId, HttpRange, Output, Source};
use super::loader::Attempt;
use crate::payload::Payload;
use crate::storage::SegmentStorage;
use crate::streams::{SegmentInfo, StreamId};
use crate::time::Instant;

impl<P: Payload, S: SegmentStorage<P>> Engine<P, S> {
    /// Announcements list HTTP downloads, so starting or ending one re-announces.
    pub(super) fn mark_http_changed(&mut self, stream: StreamId) {
        if self.swarms.contains_key(&stream) {
            self.dirty.insert(stream);
        }
    }

    pub(super) fn start_http(
        &mut self,
        now: Instant,
        t: StreamType,
        stream: StreamId,
        seg: &SegmentInfo,
    ) {
        let timeout = self.stream_config(t).http_no_bytes_timeout;
        let fetch = self.new_id();
        let d = self.download_entry(t, stream, seg.id);
        let from = d.received;
        let range = match &seg.byte_range {
            Some(r) => Some(HttpRange {
                start: r.start + from,
                end: Some(r.end),
            }),
            None if from > 0 => Some(HttpRange {
                start: from,
                end: None,
            }),
            None => None,
        };
        if d.total.is_none() {
            d.total = seg.known_size();
        }
        d.attempt = Attempt::Http {
            fetch,
            started: now,
            deadline: now + timeout,
            ranged: range.is_some(),
            first_byte: false,
        };
        self.fetches.insert(fetch, (stream, seg.id));
        self.bw_all.start_loading(now);
        self.bw_http.start_loading(now);
        self.out.push_back(Output::HttpFetch {
            fetch,
            url: seg.url.clone(),
            range,
        });
        self.emit(Event::SegmentStart {
            stream_type: t,
            segment: seg.id,
            source: Source::Http,
        });
        self.mark_http_changed(stream);
    }

    /// Which loader and download a fetch belongs to.
    fn fetch_owner(&self, fetch: FetchId) -> Option<(StreamType, StreamId, i64)> {
        let &(stream, id) = self.fetches.get(&fetch)?;
        let t = self.streams.get(&stream)?.stream_type;
        Some((t, stream, id))
    }

    pub(crate) fn http_headers(
        &mut self,
        now: Instant,
        fetch: FetchId,
        status: u16,
        content_length: Option<u64>,
    ) {
        let Some((t, stream, id)) = self.fetch_owner(fetch) else {
            return;
        };
        let byte_range_segment = self
            .streams
            .get(&stream)
            .and_then(|s| s.segment(id))
            .is_some_and(|s| s.byte_range.is_some());
        let Some(d) = self.download_mut(t, stream, id) else {
            return;
        };
        let Attempt::Http { ranged, .. } = d.attempt else {
            return;
        };
        let (verdict, reset) = match status {
            206 if ranged => (Ok(()), false),
            200 if ranged && byte_range_segment => (
                Err(format!(
                    "http-unexpected-status-code {status} for a byte range"
                )),
                false,
            ),
            200 => {
                // The whole body comes again: partial bytes go.
                if d.total.is_none() {
                    d.total = content_length;
                }
                (Ok(()), true)
            }
            406 | 416 => (Err(format!("http-bytes-mismatch: status {status}")), true),
            _ => (Err(format!("http-error: status {status}")), false),
        };
        if reset {
            self.reset_download_bytes(t, stream, id);
        }
        let Some(d) = self.download_mut(t, stream, id) else {
            return;
        };
        if let (Ok(()), Some(len), Some(total)) = (&verdict, content_length, d.total) {
            if d.received + len != total {
                self.reset_download_bytes(t, stream, id);
                self.http_fail(
                    now,
                    t,
                    stream,
                    id,
                    "http-bytes-mismatch: unexpected Content-Length".into(),
                    true,
                );
                return;
            }
        }
        if let Err(reason) = verdict {
            self.http_fail(now, t, stream, id, reason, true);
        }
    }

    pub(crate) fn http_data(&mut self, now: Instant, fetch: FetchId, data: P) {
        let Some((t, stream, id)) = self.fetch_owner(fetch) else {
            return;
        };
        let timeout = self.stream_config(t).http_no_bytes_timeout;
        let len = data.len() as u64;
        let loader = self.loaders.get_mut(t);
        let Some(d) = loader.downloads.get_mut(&(stream, id)) else {
            return;
        };
        let Attempt::Http {
            deadline,
            first_byte,
            started,
            ..
        } = &mut d.attempt
        else {
            return;
        };
        *deadline = now + timeout;
        if !*first_byte {
            *first_byte = true;
            let ttfb = (now - *started).as_secs_f64();
            loader.ttfb = Some(loader.ttfb.map_or(ttfb, |m| 0.8 * m + 0.2 * ttfb));
        }
        if d.total.is_some_and(|total| d.received + len > total) {
            self.reset_download_bytes(t, stream, id);
            self.http_fail(
                now,
                t,
                stream,
                id,
                "http-bytes-mismatch: more bytes than expected".into(),
                true,
            );
            return;
        }
        d.http_bytes += len;
        let first = d.received == 0;
        d.append(data.clone());
        if first {
            self.relay_dirty.insert(stream);
        }
        self.relay_chunk(now, stream, id, &data);
        self.bw_all.add_bytes(now, len);
        self.bw_http.add_bytes(now, len);
        self.emit(Event::ChunkDownloaded {
            bytes: len,
            source: Source::Http,
            peer: None,
        });
    }

    pub(crate) fn http_end(&mut self, now: Instant, fetch: FetchId) {
        let Some((t, stream, id)) = self.fetch_owner(fetch) else {
            return;
        };
        let Some(d) = self.download_mut(t, stream, id) else {
            return;
        };
        match d.total {
            // 2.3.1's fix: a short body fails but keeps its bytes for a resume.
            Some(total) if d.received != total => {
                self.http_fail(
                    now,
                    t,
                    stream,
                    id,
                    "http-bytes-mismatch: body ended early".into(),
                    true,
                );
            }
            _ => {
                d.total = Some(d.received);
                self.finish_attempt(now, stream, Source::Http);
                self.complete(t, stream, id);
            }
        }
    }

    pub(crate) fn http_failed(&mut self, now: Instant, fetch: FetchId, reason: &str) {
        if let Some((t, stream, id)) = self.fetch_owner(fetch) {
            self.http_fail(now, t, stream, id, format!("http-error: {reason}"), false);
        }
    }

    fn http_fail(
        &mut self,
        now: Instant,
        t: StreamType,
        stream: StreamId,
        id: i64,
        reason: String,
        abort: bool,
    ) {
        self.reschedule = true;
        let retries = self.stream_config(t).http_error_retries;
        let Some(d) = self.download_mut(t, stream, id) else {
            return;
        };
        let Attempt::Http { fetch, .. } = d.attempt else {
            return;
        };
        d.attempt = Attempt::Idle;
        d.http_failures += 1;
        d.last_failure = Some(now);
        let exhausted = d.http_failures >= retries;
        self.fetches.remove(&fetch);
        if abort {
            self.out.push_back(Output::HttpAbort { fetch });
        }
        self.finish_attempt(now, stream, Source::Http);
        self.emit(Event::SegmentError {
            stream_type: t,
            segment: id,
            source: Source::Http,
            reason: reason.clone(),
        });
        let player = self.loaders.get(t).player;
        if exhausted && player.is_some_and(|p| p.stream == stream && p.segment == id) {
            self.loaders.get_mut(t).player = None;
            if let Some(p) = player {
                self.out.push_back(Output::SegmentFailed {
                    request: p.id,
                    reason,
                });
            }
        }
    }

    pub(crate) fn http_timeouts(&mut self, now: Instant) {
        for t in TYPES {
            let due: Vec<(StreamId, i64)> = self
                .loaders
                .get(t)
                .downloads
                .iter()
                .filter(
                    |(_, d)| matches!(d.attempt, Attempt::Http { deadline, .. } if now >= deadline),
                )
                .map(|(k, _)| *k)
                .collect();
            for (stream, id) in due {
                self.http_fail(now, t, stream, id, "bytes-receiving-timeout".into(), true);
            }
        }
    }

    pub(crate) fn http_deadline(&self) -> Option<Instant> {
        TYPES
            .iter()
            .flat_map(|t| self.loaders.get(*t).downloads.values())
            .filter_map(|d| match d.attempt {
                Attempt::Http { deadline, .. } => Some(deadline),
                _ => None,
            })
            .min()
    }
}
