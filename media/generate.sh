#!/usr/bin/env bash
# Regenerates the committed test media under media/ from ffmpeg's synthetic sources.
#
# One encode per rendition (x264 + AAC, a keyframe exactly every 2 s), then three packagings of
# those same encodes:
#   hls-ts/    HLS, MPEG-TS segments with muxed audio; master.m3u8 + one media playlist per rendition
#   dash/      DASH, fMP4 SegmentTemplate with $Number$ (video renditions + one audio), manifest.mpd
#   hls-fmp4/  HLS, fMP4: playlists over the very same files as dash/ (EXT-X-MAP + .m4s), with the
#              audio as an EXT-X-MEDIA rendition; master.m3u8 + media playlists
#
# CI does not run this: it uses the committed files. Re-running it with the same ffmpeg version
# (Debian 12: 5.1) gives byte-identical output (single-threaded x264, bitexact muxers, no dates).
# Usage: media/generate.sh [OUTPUT_DIR]   (default: the directory of this script)
set -euo pipefail

out="${1:-$(cd "$(dirname "$0")" && pwd)}"
duration=60 # seconds of media
seg=2       # segment length in seconds; also the GOP
fps=30
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# name width height video-kb/s
renditions=(
	"240p 426 240 40"
	"360p 640 360 80"
	"480p 854 480 160"
)

ff() { ffmpeg -hide_banner -loglevel error -nostdin -y "$@"; }

# --- Encodes -----------------------------------------------------------------------------------
x264_common=(
	-c:v libx264 -preset medium -profile:v main -pix_fmt yuv420p
	-g $((seg * fps)) -keyint_min $((seg * fps)) -sc_threshold 0
	-force_key_frames "expr:gte(t,n_forced*$seg)"
	-x264-params "threads=1:lookahead-threads=1:open-gop=0"
)
aac_common=(-c:a aac -b:a 24k -ac 1 -ar 48000)
bitexact=(-fflags +bitexact -flags:v +bitexact -flags:a +bitexact -map_metadata -1 -map_chapters -1)

for r in "${renditions[@]}"; do
	read -r name w h kbps <<<"$r"
	# The audio is the whole number of AAC frames (1024 samples) that fits in the video's duration:
	# 2812 frames, 59.989 s. One frame more and the audio ends on a 1-frame segment of its own;
	# much less, and live DASH (one Period per loop pass) has an audio gap at every Period
	# boundary that Chromium does not bridge, so players stall there. 10.7 ms is inside Chromium's
	# tolerance for joining buffered ranges.
	audio_secs=$(awk -v d="$duration" 'BEGIN { printf "%.6f", int(d * 48000 / 1024) * 1024 / 48000 }')
	ff -f lavfi -i "testsrc2=size=${w}x${h}:rate=$fps:duration=$duration" \
		-f lavfi -i "sine=frequency=440:beep_factor=4:sample_rate=48000:duration=$audio_secs" \
		-map 0:v -map 1:a "${x264_common[@]}" -aspect 16:9 \
		-b:v "${kbps}k" -maxrate "$((kbps * 5 / 4))k" -bufsize "$((kbps * 2))k" \
		"${aac_common[@]}" "${bitexact[@]}" "$tmp/$name.mp4"
done

# --- HLS MPEG-TS -------------------------------------------------------------------------------
rm -rf "$out/hls-ts" "$out/dash" "$out/hls-fmp4"
mkdir -p "$out/hls-ts" "$out/dash" "$out/hls-fmp4"
for r in "${renditions[@]}"; do
	read -r name _ _ _ <<<"$r"
	mkdir -p "$out/hls-ts/$name"
	ff -i "$tmp/$name.mp4" -map 0 -c copy "${bitexact[@]}" -f hls -hls_time $seg \
		-hls_playlist_type vod -hls_segment_filename "$out/hls-ts/$name/seg-%03d.ts" \
		"$out/hls-ts/$name/index.m3u8"
done

# --- DASH (and the fMP4 files HLS reuses) ------------------------------------------------------
dash_inputs=()
dash_maps=()
for i in "${!renditions[@]}"; do
	read -r name _ _ _ <<<"${renditions[$i]}"
	dash_inputs+=(-i "$tmp/$name.mp4")
	dash_maps+=(-map "$i:v")
done
dash_maps+=(-map 0:a)
mkdir -p "$tmp/dash"
ff "${dash_inputs[@]}" "${dash_maps[@]}" -c copy "${bitexact[@]}" -f dash \
	-seg_duration $seg -use_template 1 -use_timeline 0 -hls_playlist 1 \
	-adaptation_sets "id=0,streams=v id=1,streams=a" \
	-init_seg_name 'init-$RepresentationID$.mp4' \
	-media_seg_name 'seg-$RepresentationID$-$Number%03d$.m4s' \
	"$tmp/dash/manifest.mpd"
cp "$tmp"/dash/manifest.mpd "$tmp"/dash/*.mp4 "$tmp"/dash/*.m4s "$out/dash/"

# --- HLS fMP4 over the DASH files ---------------------------------------------------------------
# ffmpeg's own playlists carry wall-clock EXT-X-PROGRAM-DATE-TIME lines: drop them (determinism),
# and point segment URIs at ../dash/ so the bytes exist once.
for f in "$tmp"/dash/media_*.m3u8; do
	sed -e '/^#EXT-X-PROGRAM-DATE-TIME/d' \
		-e 's#^\(seg-.*\.m4s\)$#../dash/\1#' \
		-e 's#URI="\(init-.*\.mp4\)"#URI="../dash/\1"#' \
		"$f" >"$out/hls-fmp4/$(basename "$f")"
done

# --- Master playlists, written here so BANDWIDTH, CODECS and RESOLUTION are exact ---------------
# Peak and average bit rate of a list of segment files, each $seg seconds.
rates() {
	local max=0 total=0 n=0 s
	for f in "$@"; do
		s=$(stat -c %s "$f")
		total=$((total + s))
		n=$((n + 1))
		((s > max)) && max=$s
	done
	echo "$((max * 8 / seg)) $((total * 8 / (n * seg)))"
}
# Codecs string of DASH representation $1, from the MPD.
codecs_of() {
	sed -n "s#.*<Representation id=\"$1\"[^>]* codecs=\"\([^\"]*\)\".*#\1#p" "$out/dash/manifest.mpd"
}
audio_id=${#renditions[@]}
audio_codecs=$(codecs_of "$audio_id")
read -r audio_peak audio_avg <<<"$(rates "$out"/dash/seg-"$audio_id"-*.m4s)"

ts_master="$out/hls-ts/master.m3u8"
fmp4_master="$out/hls-fmp4/master.m3u8"
printf '#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n' >"$ts_master"
printf '#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n' >"$fmp4_master"
printf '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aac",NAME="Sine",LANGUAGE="en",CHANNELS="1",DEFAULT=YES,AUTOSELECT=YES,URI="media_%s.m3u8"\n' \
	"$audio_id" >>"$fmp4_master"
for i in "${!renditions[@]}"; do
	read -r name w h _ <<<"${renditions[$i]}"
	video_codecs=$(codecs_of "$i")
	read -r peak avg <<<"$(rates "$out/hls-ts/$name"/seg-*.ts)"
	printf '#EXT-X-STREAM-INF:BANDWIDTH=%s,AVERAGE-BANDWIDTH=%s,RESOLUTION=%sx%s,FRAME-RATE=%s.000,CODECS="%s,%s"\n%s/index.m3u8\n' \
		"$peak" "$avg" "$w" "$h" "$fps" "$video_codecs" "$audio_codecs" "$name" >>"$ts_master"
	read -r peak avg <<<"$(rates "$out"/dash/seg-"$i"-*.m4s)"
	printf '#EXT-X-STREAM-INF:BANDWIDTH=%s,AVERAGE-BANDWIDTH=%s,RESOLUTION=%sx%s,FRAME-RATE=%s.000,CODECS="%s,%s",AUDIO="aac"\nmedia_%s.m3u8\n' \
		"$((peak + audio_peak))" "$((avg + audio_avg))" "$w" "$h" "$fps" "$video_codecs" "$audio_codecs" "$i" >>"$fmp4_master"
done

echo "media written to $out:"
du -sh "$out/hls-ts" "$out/dash" "$out/hls-fmp4"
