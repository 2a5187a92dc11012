#!/usr/bin/env bash
# The demo end to end, inside a private network namespace whose only interface is lo (as root;
# NETNS=0 runs in the host's network): `p2pml demo --peers 2`, then run-demo.mjs opens its page
# in headless Chromium, clicks "Open another viewer", and checks both tabs (P2P bytes shown, no
# visible stall); then SIGINT must stop the demo cleanly. Screenshot: target/artifacts/demo.png.
#
# tests/browser/demo.sh [run-demo.mjs options…]   e.g. --player shaka --stream vod/dash
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

source tests/browser/lib.sh
in_loopback_netns "$0" "$@"

port=18280
out="$(mktemp)"
mkdir -p target/artifacts
target/debug/p2pml demo --listen "127.0.0.1:$port" --peers 2 >"$out" 2>&1 &
demo_pid=$!
cleanup() {
	kill "$demo_pid" 2>/dev/null || true
	rm -f "$out"
}
trap cleanup EXIT
for _ in $(seq 100); do
	if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then break; fi
	if ! kill -0 "$demo_pid" 2>/dev/null; then
		echo "p2pml demo exited at start:" >&2
		cat "$out" >&2
		exit 1
	fi
	sleep 0.1
done

status=0
node tests/browser/run-demo.mjs --url "http://127.0.0.1:$port/" \
	--screenshot target/artifacts/demo.png "$@" || status=$?

# Ctrl-C: everything stops within a few seconds and the demo says so.
kill -INT "$demo_pid"
for _ in $(seq 50); do kill -0 "$demo_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$demo_pid" 2>/dev/null; then
	echo "p2pml demo still running 5 s after SIGINT" >&2
	status=1
else
	demo_status=0
	wait "$demo_pid" || demo_status=$?
	if [[ "$demo_status" != 0 ]] || ! grep -q '^stopped' "$out"; then
		echo "p2pml demo did not stop cleanly (exit $demo_status)" >&2
		status=1
	fi
fi
echo "--- p2pml demo output" >&2
sed 's/\r/\n/g' "$out" >&2
exit "$status"
