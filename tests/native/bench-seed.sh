#!/usr/bin/env bash
# A seeder (`p2pml seed`, its own process) serving a 2 Mb/s live stream to N native viewers that
# may only get it from peers (crates/native/examples/seed_load.rs), in a loopback-only network
# namespace. Prints the seeder's CPU over the measured window as a share of one core, and what
# the viewers received. `cargo xtask bench-seed` builds what it needs and runs this.
#
# tests/native/bench-seed.sh [VIEWERS] [SECONDS]   (default 50 viewers, 150 s; measured: the
# last third, once the seeder has found the viewers)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
if [[ "${BENCH_IN_NETNS:-}" != 1 ]]; then
	exec env BENCH_IN_NETNS=1 unshare -n -- "$0" "$@"
fi
ip link set lo up

viewers="${1:-50}"
seconds="${2:-150}"
bin=target/release/p2pml
load=target/release/examples/seed_load
dir=target/bench-seed

# 2 Mb/s: 2 s segments of 500,000 bytes (the peers never parse media), one rendition.
rm -rf "$dir" && mkdir -p "$dir/media/syn"
{
	printf '#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n'
	for i in $(seq -w 0 29); do
		head -c 500000 /dev/urandom >"$dir/media/syn/seg-0$i.ts"
		printf '#EXTINF:2.000,\nseg-0%s.ts\n' "$i"
	done
	printf '#EXT-X-ENDLIST\n'
} >"$dir/media/syn/media.m3u8"
printf '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=2000000,RESOLUTION=1280x720,CODECS="avc1.64001f"\nmedia.m3u8\n' \
	>"$dir/media/syn/master.m3u8"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
"$bin" origin --listen 127.0.0.1:18380 --media "$dir/media" >/dev/null 2>&1 &
pids+=($!)
# Announces every 5 s, so the seeder's offers (10 per announce,
# `p2pml seed --offers 10` below) reach every viewer within the
# warm-up half; the viewers send no offers (see seed_load.rs).
printf '[tracker]\nannounce_interval_secs = 5\n' >"$dir/tracker.toml"
"$bin" tracker --listen 127.0.0.1:18300 --config "$dir/tracker.toml" >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 100); do
	if (exec 3<>/dev/tcp/127.0.0.1/18380) 2>/dev/null && (exec 3<>/dev/tcp/127.0.0.1/18300) 2>/dev/null; then
		break
	fi
	sleep 0.1
done
url="http://127.0.0.1:18380/live/20/syn/master.m3u8"
tracker="ws://127.0.0.1:18300"

# The viewers first: they only answer, so the seeder must find them in the swarm.
"$load" "$url" "$tracker" "$viewers" "$seconds" >"$dir/load.out" &
load_pid=$!
pids+=($load_pid)
sleep 3
# --max-peers counts unanswered offers too (each holds a peer connection until its timeout,
# `p2pml seed --offer-timeout`, 15 s), and the tracker hands some offers to viewers already
# connected, which ignore them: room for twice the viewers, so that offers keep going out.
"$bin" seed --pull-all --url "$url" --tracker "$tracker" --udp 127.0.0.1:0 --max-peers "$((viewers * 2))" --offers 10 \
	--max-uploads "$viewers" >"$dir/seed.out" 2>"$dir/seed.err" &
seed=$!
pids+=($seed)

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz="$(getconf CLK_TCK)"
half=$((seconds * 2 / 3))
sleep "$half"
t0="$(date +%s.%N)"
c0="$(ticks "$seed")"
l0="$(ticks "$load_pid")"
sleep "$((seconds - half - 8))"
t1="$(date +%s.%N)"
c1="$(ticks "$seed")"
l1="$(ticks "$load_pid")"
wait "$load_pid" || true
kill -INT "$seed" 2>/dev/null || true
for _ in $(seq 50); do kill -0 "$seed" 2>/dev/null || break; sleep 0.1; done

window="$(echo "$t1 - $t0" | bc -l)"
seed_pct="$(echo "100 * ($c1 - $c0) / $hz / $window" | bc -l)"
load_pct="$(echo "100 * ($l1 - $l0) / $hz / $window" | bc -l)"
first="$(grep -m1 "^t=$half\b\|^t=$((half + 1))\b\|^t=$((half + 2))\b\|^t=$((half + 3))\b\|^t=$((half + 4))\b" "$dir/load.out" || true)"
last="$(tail -n 1 "$dir/load.out")"
echo "viewers: $last"
echo "seeder: $(tail -n 1 "$dir/seed.out")"
printf 'seeder CPU over the last %.0f s: %.1f%% of one core (the %s viewers'"'"' process: %.1f%%)\n' \
	"$window" "$seed_pct" "$viewers" "$load_pct"
if [[ -n "$first" ]]; then
	b0="$(sed -n 's/.*p2p_bytes=\([0-9]*\).*/\1/p' <<<"$first")"
	b1="$(sed -n 's/.*p2p_bytes=\([0-9]*\).*/\1/p' <<<"$last")"
	t_first="$(sed -n 's/^t=\([0-9]*\).*/\1/p' <<<"$first")"
	t_last="$(sed -n 's/^t=\([0-9]*\).*/\1/p' <<<"$last")"
	printf 'viewers received %.2f Mb/s each on average from t=%s s to t=%s s (the stream is 2 Mb/s)\n' \
		"$(echo "($b1 - $b0) * 8 / 1000000 / ($t_last - $t_first) / $viewers" | bc -l)" "$t_first" "$t_last"
fi
