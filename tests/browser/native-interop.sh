#!/usr/bin/env bash
# A native peer (`p2pml seed`) and Chromium viewers running the real P2P Media Loader 2.3.1
# on one live stream, through `p2pml tracker`, inside a private network namespace whose only
# interface is lo (as root; NETNS=0 runs in the host's network). The seeder joins after the
# first viewer, so it can both download from browsers and upload to the next one.
#
# tests/browser/native-interop.sh [STREAM_PATH] [extra run-p2pml.mjs options…]
#   default: /live/20/hls-ts/master.m3u8 --page '/web/p2pml.html?liveSyncCount=19' --viewers 2
#            --spacing 12 --duration 30 (a fixed start latency: P2PML's own tuning is random, and
#            at 6 s behind the edge it downloads nothing from peers)
#   e.g. live DASH with our Shaka package: /live/20/dash/manifest.mpd --page /web/ours-shaka.html \
#        --viewers 2 --spacing 12 --duration 30 (the native peer numbers DASH segments as Shaka does)
# Exit status 0 when the viewers played without error (run-p2pml.mjs's checks; add --expect-p2p
# to also require P2P bytes for every viewer after the first) and the native peer both received
# bytes from peers and sent bytes to peers.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

source tests/browser/lib.sh
in_loopback_netns "$0" "$@"

stream="${1:-/live/20/hls-ts/master.m3u8}"
shift || true
viewer_args=("$@")
if [[ ${#viewer_args[@]} -eq 0 ]]; then
	viewer_args=(--page '/web/p2pml.html?liveSyncCount=19' --viewers 2 --spacing 12 --duration 30)
fi
port_origin=18180
port_tracker=18100
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# Our packages, once built (cargo xtask build-web): --page /web/ours.html or /web/ours-shaka.html.
start_origin "$port_origin"
target/debug/p2pml tracker --listen "127.0.0.1:$port_tracker" >/dev/null 2>&1 &
pids+=($!)
tracker="ws://127.0.0.1:$port_tracker"
wait_listening "$port_origin" "$port_tracker"

# The native peer: every rendition (the viewers' ABR picks one), WebRTC on loopback.
seed_out="$(mktemp)"
(
	sleep 6
	exec env RUST_LOG=warn target/debug/p2pml seed --url "http://127.0.0.1:$port_origin$stream" \
		--tracker "$tracker" --udp 127.0.0.1:0
) >"$seed_out" &
seed_pid=$!
pids+=($seed_pid)

status=0
node tests/browser/run-p2pml.mjs --origin "http://127.0.0.1:$port_origin" --tracker "$tracker" \
	--stream "$stream" "${viewer_args[@]}" || status=$?

# SIGINT: the seeder prints its totals and exits.
kill -INT "$seed_pid" 2>/dev/null || true
for _ in $(seq 50); do kill -0 "$seed_pid" 2>/dev/null || break; sleep 0.1; done
totals="$(tail -n 1 "$seed_out")"
echo "native peer: $totals"
# "P2P 1.0 MB (25%) · HTTP 3.0 MB · up 0.5 MB · 2 peers"
p2p="$(sed -n 's/^P2P \([0-9.]*\) MB.*/\1/p' <<<"$totals")"
up="$(sed -n 's/.* up \([0-9.]*\) MB.*/\1/p' <<<"$totals")"
if [[ -z "$p2p" || -z "$up" ]]; then
	echo "native peer: no totals" >&2
	status=1
elif [[ "$p2p" == 0.0 || "$up" == 0.0 ]]; then
	echo "native peer did not trade both ways (received $p2p MB, sent $up MB)" >&2
	status=1
fi
rm -f "$seed_out"
exit "$status"
