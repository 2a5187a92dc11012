//! One WebSocket to one tracker (`ws://` or `wss://`), shared by every
//! swarm of the engine. The engine decides when to connect again after a
//! close, with its back-off; this task only carries frames.

use futures_util::{SinkExt, StreamExt};
use p2pml_core::engine::{Input, TrackerId};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::host::IoSender;

/// Largest tracker frame accepted: announces carry a few SDPs of a few KiB.
const MAX_FRAME: usize = 1 << 20;
/// How long a connection attempt may take.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Connects, reports the socket open, then relays frames both ways until
/// either side closes; always ends by reporting the close.
pub(crate) async fn run(
    tracker: TrackerId,
    url: String,
    io: IoSender,
    mut outgoing: mpsc::Receiver<String>,
) {
    crate::install_crypto_provider();
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_FRAME))
        .max_frame_size(Some(MAX_FRAME));
    let connect = tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), false);
    let ws = match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
        Ok(Ok((ws, _))) => ws,
        Ok(Err(e)) => {
            tracing::warn!(%url, error = %e, "tracker connection failed");
            io.send(Input::TrackerClosed { tracker }).await;
            return;
        }
        Err(_) => {
            tracing::warn!(%url, "tracker connection timed out");
            io.send(Input::TrackerClosed { tracker }).await;
            return;
        }
    };
    tracing::debug!(%url, "tracker connected");
    if !io.send(Input::TrackerOpened { tracker }).await {
        return;
    }
    let (mut sink, mut stream) = ws.split();
    loop {
        tokio::select! {
            text = outgoing.recv() => {
                let Some(text) = text else { break };
                if let Err(e) = sink.send(Message::text(text)).await {
                    tracing::debug!(%url, error = %e, "tracker send failed");
                    break;
                }
            }
            frame = stream.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    let text = text.as_str().to_owned();
                    if !io.send(Input::TrackerMessage { tracker, text }).await {
                        return;
                    }
                }
                Some(Ok(Message::Close(_))) | None => break,
                Some(Ok(_)) => {} // pings are answered by tungstenite; binary is not a message
                Some(Err(e)) => {
                    tracing::debug!(%url, error = %e, "tracker socket error");
                    break;
                }
            }
        }
    }
    let _ = sink.close().await;
    io.send(Input::TrackerClosed { tracker }).await;
}
