//! Interoperability with the real P2P Media Loader 2.3.1 from npm, with
//! fresh random inputs on every run, in both directions:
//! - commands its serializer produces: our receive path decodes them to what
//!   its decoder returns, and our encoder reproduces its bytes;
//! - commands we produce: its joiner and decoder read them back exactly;
//! - stream short ids and info hashes of random renditions and swarm ids.
//!
//! Needs Node.js; installs the npm packages (`npm ci --ignore-scripts`) if
//! they are missing. Set `P2PML_INTEROP_SEED` to replay a run's Rust side.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::print_stderr,
    missing_docs,
    clippy::cast_possible_truncation,
    clippy::type_complexity
)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;

use p2pml_proto::command::{
    Announcement, Item, PeerCommand, RawCommand, SegmentData, SegmentRef, SegmentRequest,
};
use p2pml_proto::identity::{InfoHash, StreamDescriptor, StreamType, stream_swarm_id};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use serde_json::{Value, json};

const CASES: usize = 400;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Installs the locked npm packages once per test binary.
fn ensure_npm_packages() {
    static INSTALL: Mutex<bool> = Mutex::new(false);
    let mut done = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let marker = repo_root().join("node_modules/p2p-media-loader-core/package.json");
    if !*done && !marker.exists() {
        let status = Command::new("npm")
            .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund"])
            .current_dir(repo_root())
            .status()
            .expect("npm must be installed to run the interop tests");
        assert!(status.success(), "npm ci failed");
    }
    *done = true;
}

struct Oracle {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Oracle {
    fn start() -> Self {
        ensure_npm_packages();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js/oracle.mjs");
        let mut child = Command::new("node")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("node must be installed to run the interop tests");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut oracle = Self {
            child,
            stdin,
            stdout,
        };
        assert_eq!(oracle.ask(json!({"op": "version"}))["version"], "2.3.1");
        oracle
    }

    fn ask(&mut self, request: Value) -> Value {
        writeln!(self.stdin, "{request}").unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let reply: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
        if let Some(e) = reply["error"].as_str() {
            assert!(!e.starts_with("oracle:"), "{e}");
        }
        reply
    }
}

impl Drop for Oracle {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn seeded_rng(test: &str) -> ChaCha8Rng {
    let seed = std::env::var("P2PML_INTEROP_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    eprintln!("{test}: P2PML_INTEROP_SEED={seed}");
    ChaCha8Rng::seed_from_u64(seed)
}

fn hexes(messages: &[Vec<u8>]) -> Vec<String> {
    messages.iter().map(hex::encode).collect()
}

fn largest_block(ids: &[i64]) -> usize {
    let mut counts = std::collections::HashMap::new();
    for id in ids {
        *counts.entry(id & !0xff).or_insert(0usize) += 1;
    }
    counts.into_values().max().unwrap_or(0)
}

fn json_ids(v: &Value) -> Vec<i64> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default()
}

#[test]
fn commands_from_the_real_serializer() {
    let mut js = Oracle::start();
    let items = js.ask(json!({"op": "random", "count": CASES}))["items"]
        .as_array()
        .unwrap()
        .clone();
    let (mut identical, mut js_broken, mut split) = (0, 0, 0);
    for item in &items {
        let command = &item["command"];
        let max = item["max"].as_u64().unwrap() as usize;
        let theirs: Vec<Vec<u8>> = item["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| common::unhex(m.as_str().unwrap()))
            .collect();
        split += usize::from(theirs.len() > 1);
        let wraps = largest_block(&json_ids(&command["l"])) > 255
            || largest_block(&json_ids(&command["p"])) > 255;
        let ours = PeerCommand::from_raw(RawCommand::from_json(command).unwrap())
            .unwrap()
            .encode(max)
            .unwrap();
        if let Some(decoded) = item.get("decoded") {
            // Our receive path reads their bytes as their decoder does.
            let raw = RawCommand::decode(&common::join(&theirs)).unwrap();
            assert_eq!(&raw.to_json(), decoded, "{command}");
        }
        if wraps {
            // Their encoder wrapped a block count; our bytes differ on purpose
            // and their decoder reads ours correctly.
            js_broken += 1;
            assert_ne!(hexes(&ours), hexes(&theirs));
            let back = js.ask(json!({"op": "decode", "messages": hexes(&ours)}));
            assert_eq!(
                json_ids(&back["decoded"]["l"]),
                common::grouped(&json_ids(&command["l"])),
                "{command}"
            );
            assert_eq!(
                json_ids(&back["decoded"]["p"]),
                common::grouped(&json_ids(&command["p"])),
                "{command}"
            );
        } else {
            assert!(
                item.get("decoded").is_some(),
                "their decoder failed without a wrapped block: {item}"
            );
            assert_eq!(hexes(&ours), hexes(&theirs), "{command} max {max}");
            identical += 1;
        }
    }
    eprintln!(
        "{CASES} JS commands: {identical} byte-identical, {js_broken} with a wrapped block (ours readable by JS), {split} split across messages"
    );
    assert_eq!(identical + js_broken, CASES);
    assert!(identical > CASES / 2 && split > 0);
}

fn random_id(rng: &mut ChaCha8Rng) -> i64 {
    let safe = 1i64 << 53;
    match rng.next_u32() % 4 {
        0 => i64::from(rng.next_u32() % 1000),
        1 => 1_700_000_000 + i64::from(rng.next_u32() % 100_000),
        2 => (rng.next_u64() % (2 * safe as u64)) as i64 - safe + 1,
        _ => -i64::from(rng.next_u32() % 70_000),
    }
}

fn random_ids(rng: &mut ChaCha8Rng, max_runs: u32) -> Vec<i64> {
    let mut ids = Vec::new();
    for _ in 0..rng.next_u32() % (max_runs + 1) {
        let start = random_id(rng);
        let step = [1, 1, 2, 4][(rng.next_u32() % 4) as usize];
        for _ in 0..rng.next_u32() % 800 {
            let next = start.saturating_add(ids.len() as i64 * step);
            if next.unsigned_abs() < 1 << 53 {
                ids.push(next);
            }
        }
    }
    for _ in 0..rng.next_u32() % 30 {
        ids.push(random_id(rng));
    }
    ids
}

fn random_string(rng: &mut ChaCha8Rng, ascii: bool) -> String {
    const POOL: &[&str] = &["a", "Z", "0", " ", "-", "é", "→", "😀", "\u{0}", "\""];
    let len = rng.next_u32() % 40;
    (0..len)
        .map(|_| {
            if ascii {
                char::from(b'!' + (rng.next_u32() % 90) as u8).to_string()
            } else {
                POOL[(rng.next_u32() as usize) % POOL.len()].to_owned()
            }
        })
        .collect()
}

fn random_command(rng: &mut ChaCha8Rng) -> PeerCommand {
    let i = random_id(rng);
    let r = i64::from(rng.next_u32() % 1000);
    let size = |rng: &mut ChaCha8Rng| {
        [
            rng.next_u64() % 65_536,
            rng.next_u64() % (1 << 31),
            rng.next_u64() % (1 << 53),
            0,
        ][(rng.next_u32() % 4) as usize]
    };
    match rng.next_u32() % 7 {
        0 => PeerCommand::SegmentsAnnouncement(Announcement {
            loaded: random_ids(rng, 3),
            http_loading: random_ids(rng, 1),
        }),
        1 => PeerCommand::SegmentRequest(SegmentRequest {
            segment_id: i,
            request_id: r,
            byte_from: size(rng),
        }),
        2 => PeerCommand::SegmentData(SegmentData {
            segment_id: i,
            request_id: r,
            byte_length: size(rng),
        }),
        3 => PeerCommand::SegmentDataSendingCompleted(SegmentRef {
            segment_id: i,
            request_id: r,
        }),
        4 => PeerCommand::SegmentAbsent(SegmentRef {
            segment_id: i,
            request_id: r,
        }),
        5 => PeerCommand::CancelSegmentRequest(SegmentRef {
            segment_id: i,
            request_id: r,
        }),
        _ => {
            // An extension command with distinct letter names (JS objects
            // would reorder integer-like keys and keep one of duplicates).
            let ascii = rng.next_u32() % 2 == 0;
            let fields = [b'x', b'y', b'z', b'q']
                .into_iter()
                .take((rng.next_u32() % 5) as usize)
                .map(|name| {
                    let item = match rng.next_u32() % 3 {
                        0 => Item::Int(random_id(rng)),
                        1 => Item::IntArray(random_ids(rng, 1)),
                        _ => Item::String(random_string(rng, ascii)),
                    };
                    (name, item)
                })
                .collect();
            PeerCommand::Extension(RawCommand {
                code: 6 + (rng.next_u32() % 250) as u8,
                fields,
            })
        }
    }
}

#[test]
fn our_commands_in_the_real_decoder() {
    let mut rng = seeded_rng("our_commands_in_the_real_decoder");
    let mut js = Oracle::start();
    let (mut identical, mut differ) = (0, 0);
    for _ in 0..CASES {
        let cmd = random_command(&mut rng);
        let max = [65_535, 65_535, 16_384, 1024, 64, 24, 12, 3][(rng.next_u32() % 8) as usize];
        let Ok(messages) = cmd.encode(max) else {
            continue; // more than 255 blocks: the engine announces fewer ids
        };
        let raw = cmd.to_raw().unwrap();
        let expected = PeerCommand::decode(&common::join(&messages))
            .unwrap()
            .to_raw()
            .unwrap()
            .to_json();
        let back = js.ask(json!({"op": "decode", "messages": hexes(&messages)}));
        assert_eq!(back["decoded"], expected, "{:?}", raw.to_json());
        // Where their encoder is sound, it writes the same bytes.
        let wraps = raw
            .fields
            .iter()
            .any(|(_, i)| matches!(i, Item::IntArray(ids) if largest_block(ids) > 255));
        let non_ascii = raw
            .fields
            .iter()
            .any(|(_, i)| matches!(i, Item::String(s) if !s.is_ascii()));
        let theirs = js.ask(json!({"op": "encode", "command": raw.to_json(), "max": max}));
        if wraps || non_ascii {
            differ += 1;
        } else {
            assert_eq!(
                theirs["messages"],
                json!(hexes(&messages)),
                "{:?}",
                raw.to_json()
            );
            identical += 1;
        }
    }
    eprintln!(
        "{CASES} Rust commands decoded by JS; {identical} byte-identical to its encoder, {differ} differ where its encoder is broken"
    );
    assert!(identical > CASES / 2);
}

fn random_descriptor(rng: &mut ChaCha8Rng) -> (StreamDescriptor, Value) {
    let mut props = serde_json::Map::new();
    let mut d = StreamDescriptor::default();
    let maybe = |rng: &mut ChaCha8Rng| rng.next_u32() % 4 != 0;
    let choose =
        |rng: &mut ChaCha8Rng, xs: &[&str]| xs[(rng.next_u32() as usize) % xs.len()].to_owned();
    if maybe(rng) {
        let b = [0.0, 2_000_000.0, f64::from(rng.next_u32()), 1e22, 1234.5]
            [(rng.next_u32() % 5) as usize];
        d.bitrate = Some(b);
        props.insert("bitrate".into(), json!(b));
    }
    if maybe(rng) {
        let c = choose(
            rng,
            &[
                "avc1.64001f,mp4a.40.2",
                "AVC1.100.31",
                "avc1.66.30, mp4a.40.5",
                "avc.077.40",
                "hvc1.2.4.L150.B0",
                "mp4a.40.2,avc1.4d401e",
                "avc1.-5.1",
                "avc1.9007199254740993.1",
                "",
                " ec-3 ,ac-3",
                "vp09.00.10.08,😀,｡",
            ],
        );
        d.codecs = Some(c.clone());
        props.insert("codecs".into(), json!(c));
    }
    if maybe(rng) {
        let (w, h) = (rng.next_u32() % 4000, rng.next_u32() % 3000);
        d.width = Some(w);
        d.height = Some(h);
        props.insert("width".into(), json!(w));
        props.insert("height".into(), json!(h));
    }
    for (key, pool, slot) in [
        (
            "language",
            &["eng", "und", "en-US", "PT-br", "", "😀x", "x😀", "e"][..],
            &mut d.language,
        ),
        (
            "channels",
            &["2", "16/JOC", "6", "", "0", "5.1"][..],
            &mut d.channels,
        ),
        (
            "name",
            &["English", " Main Audio ", "ÉCOLE", "", "ǅ", "ΑΣ"][..],
            &mut d.name,
        ),
        (
            "frameRate",
            &[
                "30.000",
                "29.970",
                "59.94",
                "0x1E",
                " 25 ",
                "1e3",
                "abc",
                "Infinity",
                "-0",
                ".5",
                "5.",
                "",
                " ",
                "0.0000001",
            ][..],
            &mut d.frame_rate,
        ),
        (
            "videoRange",
            &["SDR", "pq", " hlg ", ""][..],
            &mut d.video_range,
        ),
    ] {
        if maybe(rng) {
            let v = choose(rng, pool);
            *slot = Some(v.clone());
            props.insert(key.into(), json!(v));
        }
    }
    (d, Value::Object(props))
}

#[test]
fn stream_ids_and_info_hashes_match_the_real_code() {
    let mut rng = seeded_rng("stream_ids_and_info_hashes_match_the_real_code");
    let mut js = Oracle::start();
    for _ in 0..CASES {
        let (d, props) = random_descriptor(&mut rng);
        let ascii = rng.next_u32() % 2 == 0;
        let swarm = [
            "https://example.com/live/master.m3u8",
            "my-channel-42",
            "",
            "https://ëxample.com/a b#frag",
            "🎥",
        ][(rng.next_u32() % 5) as usize]
            .to_owned()
            + &random_string(&mut rng, ascii);
        let kind = if rng.next_u32() % 2 == 0 {
            StreamType::Main
        } else {
            StreamType::Secondary
        };
        let theirs = js.ask(
            json!({"op": "identity", "swarmId": swarm, "type": kind.as_str(), "props": props}),
        );
        assert_eq!(
            theirs["index"],
            d.short_id(),
            "{props} pre-image {:?}",
            d.preimage()
        );
        let id = stream_swarm_id(&swarm, kind, &d.short_id());
        assert_eq!(theirs["streamSwarmId"], id);
        assert_eq!(
            theirs["infoHash"],
            InfoHash::from_stream_swarm_id(&id).to_string(),
            "{id}"
        );
    }
}
