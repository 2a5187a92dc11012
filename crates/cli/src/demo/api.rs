//! The demo page's API, served by the origin under `/api`:
//!
//! - `GET /api/config`: what the page offers (streams, live windows, players), the trackers and
//!   ICE servers to use, and how many native peers join each stream;
//! - `GET /api/status`: the in-process tracker's counters and the native peers' state per stream;
//! - `POST /api/watch?url=<manifest URL>`: the page plays this stream (sent every few seconds);
//!   native peers join it if it is one the catalogue allows. Answers as `/api/status`.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use p2pml_origin::{Endpoint, EndpointReply, EndpointRequest};
use p2pml_tracker::Stats;
use percent_encoding::percent_decode_str;
use serde_json::json;
use tokio::sync::watch;

use super::catalog::Catalog;
use super::peers::Pool;

/// What the API serves once the sockets are bound (the catalogue needs the origin's port).
pub(crate) struct Ready {
    pub(crate) catalog: Catalog,
    /// `/api/config`, rendered once.
    pub(crate) config: Bytes,
    pub(crate) tracker: Option<watch::Receiver<Stats>>,
}

/// The `/api` endpoint.
pub(crate) struct Api {
    pub(crate) ready: OnceLock<Ready>,
    pub(crate) pool: Arc<Pool>,
}

impl Endpoint for Api {
    fn respond(&self, request: &EndpointRequest<'_>) -> EndpointReply {
        let Some(ready) = self.ready.get() else {
            return EndpointReply::error(503, "starting");
        };
        let what = request.path.first().map(String::as_str);
        match (request.method, what, request.path.len()) {
            ("GET" | "HEAD", Some("config"), 1) => EndpointReply::json(ready.config.clone()),
            ("GET" | "HEAD", Some("status"), 1) => self.status(ready),
            ("POST", Some("watch"), 1) => {
                let Some(url) = query_param(request.query, "url") else {
                    return EndpointReply::error(400, "watch: missing url=");
                };
                if !ready.catalog.allows(&url) {
                    return EndpointReply::error(403, "watch: not a stream of this demo");
                }
                self.pool.watch(&url);
                self.status(ready)
            }
            (_, Some("config" | "status" | "watch"), 1) => {
                EndpointReply::error(405, "method not allowed")
            }
            _ => EndpointReply::error(404, "no such API"),
        }
    }
}

impl Api {
    fn status(&self, ready: &Ready) -> EndpointReply {
        let tracker = ready.tracker.as_ref().map(|rx| {
            let s = *rx.borrow();
            json!({ "connections": s.connections, "swarms": s.swarms, "peers": s.peers })
        });
        let body = json!({ "tracker": tracker, "native": self.pool.to_json() });
        EndpointReply::json(body.to_string())
    }
}

/// The percent-decoded value of `name` in a query string (`+` is not a space here: the page
/// encodes with `encodeURIComponent`).
fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .and_then(|(_, v)| percent_decode_str(v).decode_utf8().ok())
        .map(|v| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_decoded() {
        let q = Some("a=1&url=http%3A%2F%2F127.0.0.1%3A8080%2Fhls-ts%2Fmaster.m3u8%3Fx%3D1");
        assert_eq!(
            query_param(q, "url").as_deref(),
            Some("http://127.0.0.1:8080/hls-ts/master.m3u8?x=1")
        );
        assert_eq!(query_param(q, "a").as_deref(), Some("1"));
        assert_eq!(query_param(q, "b"), None);
        assert_eq!(query_param(None, "url"), None);
        assert_eq!(query_param(Some("url=%FF"), "url"), None);
    }
}
