# Shared by the browser scripts (e2e.sh, native-interop.sh, demo.sh); source it from the
# repository root, after `set -euo pipefail`.

# Re-runs the calling script ($1; the rest are its arguments) inside a private network namespace
# whose only interface is lo, after building p2pml (as root; NETNS=0 stays in the host's
# network). Returns only inside the namespace, or with NETNS=0.
in_loopback_netns() {
	local script="$1"
	shift
	if [[ "${NETNS:-1}" != 0 && "${E2E_IN_NETNS:-}" != 1 ]]; then
		cargo build --quiet -p p2pml-cli
		exec env E2E_IN_NETNS=1 unshare -n -- "$script" "$@"
	fi
	if [[ "${E2E_IN_NETNS:-}" == 1 ]]; then
		ip link set lo up
	fi
	[[ -x target/debug/p2pml ]] || cargo build --quiet -p p2pml-cli
}

# Starts `p2pml origin` on 127.0.0.1:$1 with the test media, the test pages, node_modules and our
# packages once built (cargo xtask build-web: /web/ours.html for hls.js, /web/ours-shaka.html for
# Shaka Player); its pid goes to the caller's `pids` array.
start_origin() {
	local mounts=(--mount /web=tests/browser/web --mount /node_modules=node_modules)
	local pkg
	for pkg in hlsjs shaka; do
		if [[ -d packages/$pkg/dist ]]; then
			mounts+=(--mount "/packages/$pkg/dist=packages/$pkg/dist")
		fi
	done
	target/debug/p2pml origin --listen "127.0.0.1:$1" --media media "${mounts[@]}" >/dev/null 2>&1 &
	pids+=($!)
}

# Waits until every port given listens on 127.0.0.1 (at most 10 s).
wait_listening() {
	local port ready
	for _ in $(seq 100); do
		ready=1
		for port in "$@"; do
			(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || ready=0
		done
		[[ $ready == 1 ]] && return 0
		sleep 0.1
	done
	return 0
}
