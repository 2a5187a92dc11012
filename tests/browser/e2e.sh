#!/usr/bin/env bash
# One end-to-end run: our origin (p2pml origin) + bittorrent-tracker + N Chromium viewers with
# the real P2P Media Loader, all inside a private network namespace whose only interface is lo
# (as root; set NETNS=0 to run in the host's network instead). Prints the JSON report.
#
# tests/browser/e2e.sh [STREAM_PATH] [extra run-p2pml.mjs options…]
#   e.g. tests/browser/e2e.sh /live/20/hls-ts/master.m3u8 --viewers 3 --spacing 5 --duration 40 --expect-p2p
#   Our engine instead of P2P Media Loader: add --page /web/ours.html (needs packages/hlsjs/dist),
#   or --page /web/ours-shaka.html for Shaka Player (DASH or HLS; needs packages/shaka/dist).
# Environment: TRACKER=p2pml to start `p2pml tracker` instead of bittorrent-tracker (the
# default); TRACKER_URL=ws://… to use a tracker already running; NETNS=0 to skip the namespace.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

source tests/browser/lib.sh
in_loopback_netns "$0" "$@"

stream="${1:-/live/20/hls-ts/master.m3u8}"
shift || true
port_origin=18080
port_tracker=18000
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

start_origin "$port_origin"
tracker="${TRACKER_URL:-}"
if [[ -z "$tracker" ]]; then
	case "${TRACKER:-bittorrent-tracker}" in
	p2pml) target/debug/p2pml tracker --listen "127.0.0.1:$port_tracker" >/dev/null 2>&1 & ;;
	bittorrent-tracker) node tests/browser/tracker.mjs "$port_tracker" >/dev/null & ;;
	*) echo "TRACKER must be p2pml or bittorrent-tracker" >&2; exit 2 ;;
	esac
	pids+=($!)
	tracker="ws://127.0.0.1:$port_tracker"
fi
wait_listening "$port_origin" "${tracker##*:}"
node tests/browser/run-p2pml.mjs --origin "http://127.0.0.1:$port_origin" --tracker "$tracker" \
	--stream "$stream" "$@"
