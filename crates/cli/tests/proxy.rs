#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::print_stderr,
    clippy::cast_possible_truncation,
    clippy::type_complexity,
    missing_docs
)]
//! Three `p2pml proxy` processes, each read in real time by ffmpeg (`-re`),
//! with our origin (live HLS) and our tracker on 127.0.0.1: every proxy
//! after the first gets segments from its peers, and ffmpeg reports no
//! error. Skipped (with a message) only when ffmpeg is missing outside CI.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Killed, ffmpeg_turn, get, proxy, servers, stat, three_players};

#[test]
fn three_ffmpeg_players_through_proxies_share_a_live_stream() {
    let Some(_turn) = ffmpeg_turn() else {
        return;
    };
    // 13 segments of 2 s in: the window is 13..=32 and ffmpeg starts three
    // from the end, at segment 30, the first of the loop's second pass, so
    // no player crosses the wrap-around (a timestamp jump that ffmpeg
    // reports as corrupt packets, with or without the proxy).
    let (_runtime, origin, tracker) = servers(Duration::from_secs(26));
    three_players(
        &format!("{origin}/live/20/hls-ts/master.m3u8"),
        &tracker,
        24,
    );
}

#[test]
fn three_ffmpeg_players_through_proxies_share_vod_with_separate_audio() {
    let Some(_turn) = ffmpeg_turn() else {
        return;
    };
    // fMP4 with an EXT-X-MAP per rendition and an audio rendition of its
    // own: two swarms per player.
    let (_runtime, origin, tracker) = servers(Duration::ZERO);
    three_players(&format!("{origin}/hls-fmp4/master.m3u8"), &tracker, 20);
}

#[test]
fn three_ffmpeg_players_through_proxies_share_dash() {
    let Some(_turn) = ffmpeg_turn() else {
        return;
    };
    let (_runtime, origin, tracker) = servers(Duration::ZERO);
    three_players(&format!("{origin}/dash/manifest.mpd"), &tracker, 20);
}

#[test]
fn three_ffmpeg_players_through_proxies_share_live_dash() {
    let Some(_turn) = ffmpeg_turn() else {
        return;
    };
    // The origin's dynamic MPD: a 12-segment (24 s) buffer, one Period per
    // loop pass. ffmpeg numbers `$Number$` segments from the clock alone
    // (availabilityStartTime, ignoring Period@start) and never reads the MPD
    // again, so the test stays inside the first pass (the live edge moves
    // from 24 s to about 56 s), and the proxy reads the MPD again itself to
    // learn the new segments.
    let (_runtime, origin, tracker) = servers(Duration::ZERO);
    three_players(&format!("{origin}/live/12/dash/manifest.mpd"), &tracker, 20);
}

#[test]
fn a_seeder_serves_a_live_stream_to_a_proxy() {
    let Some(_turn) = ffmpeg_turn() else {
        return;
    };
    let (_runtime, origin, tracker) = servers(Duration::from_secs(26));
    let manifest = format!("{origin}/live/20/hls-ts/master.m3u8");
    // The rendition ffmpeg picks: the highest bandwidth, 480p, the third.
    let mut seeder = Killed(
        Command::new(env!("CARGO_BIN_EXE_p2pml"))
            .args([
                "seed",
                "--url",
                &manifest,
                "--rendition",
                "2",
                "--udp",
                "127.0.0.1:0",
            ])
            // 10 offers into a swarm still empty, with 8 slots: they fill every
            // slot until the tracker's count shows nobody got them, and only
            // then can the seeder answer the proxy's offers.
            .args([
                "--tracker",
                &tracker,
                "--max-peers",
                "8",
                "--offers",
                "10",
                "--upload-kbps",
                "2000",
            ])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(seeder.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("seeding "), "{line}");
    std::thread::sleep(Duration::from_secs(3));
    let (_proxy, base) = proxy(&tracker);
    let url = p2pml_native::proxy::manifest_url(&base, &manifest);
    let out = Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-re",
            "-i",
        ])
        .arg(&url)
        .args(["-t", "16", "-c", "copy", "-f", "null", "-"])
        .output()
        .unwrap();
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && errors.trim().is_empty(), "{errors}");
    let response = get(&base, "/stats");
    let json = response.split("\r\n\r\n").nth(1).unwrap();
    eprintln!("proxy beside a seeder: {}", json.trim());
    assert!(
        stat(json, "p2p_bytes") > 0,
        "nothing from the seeder: {json}"
    );
    assert_eq!(stat(json, "segments_failed"), 0, "{json}");
}
