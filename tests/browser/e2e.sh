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

if [[ "${NETNS:-1}" != 0 && "${E2E_IN_NETNS:-}" != 1 ]]; then
	cargo build --quiet -p p2pml-cli
	exec env E2E_IN_NETNS=1 unshare -n -- "$0" "$@"
fi
if [[ "${E2E_IN_NETNS:-}" == 1 ]]; then
	ip link set lo up
fi
[[ -x target/debug/p2pml ]] || cargo build --quiet -p p2pml-cli

stream="${1:-/live/20/hls-ts/master.m3u8}"
shift || true
port_origin=18080
port_tracker=18000
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

mounts=(--mount /web=tests/browser/web --mount /node_modules=node_modules)
# Our packages, once built (cargo xtask build-web), for --page /web/ours.html (hls.js) and
# /web/ours-shaka.html (Shaka Player).
for pkg in hlsjs shaka; do
	if [[ -d packages/$pkg/dist ]]; then
		mounts+=(--mount "/packages/$pkg/dist=packages/$pkg/dist")
	fi
done
target/debug/p2pml origin --listen "127.0.0.1:$port_origin" --media media "${mounts[@]}" >/dev/null 2>&1 &
pids+=($!)
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
# Wait for both to listen (at most 10 s).
for _ in $(seq 100); do
	if (exec 3<>/dev/tcp/127.0.0.1/$port_origin) 2>/dev/null &&
		(exec 3<>/dev/tcp/127.0.0.1/"${tracker##*:}") 2>/dev/null; then
		break
	fi
	sleep 0.1
done
node tests/browser/run-p2pml.mjs --origin "http://127.0.0.1:$port_origin" --tracker "$tracker" \
	--stream "$stream" "$@"
