//! `p2pml wire`: a wire inspector for people debugging interoperability with
//! P2P Media Loader peers.

use std::io::Write;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use p2pml_proto::command::{
    CommandCode, DEFAULT_MAX_MESSAGE_SIZE, Incoming, PeerCommand, PeerMessageReader, RawCommand,
};
use p2pml_proto::identity::{
    InfoHash, StreamDescriptor, StreamType, stream_swarm_id, swarm_id_from_manifest_url,
};
use serde_json::{Value, json};

const JSON_SHAPE: &str = "\
Commands use P2P Media Loader's own JSON shape, so a command logged by a JS
peer can be pasted as is: {\"c\": code, ...fields}, with only the fields the
command carries:
  c  command code: 0 SegmentsAnnouncement, 1 SegmentRequest, 2 SegmentData,
     3 SegmentDataSendingCompleted, 4 SegmentAbsent, 5 CancelSegmentRequest;
     6-255 are extensions (JS peers ignore them)
  i  segment id (integer)            r  request id (integer)
  b  resume byte offset (integer, request only, left out when 0)
  s  byte count that follows (integer, SegmentData only)
  l  stored segment ids (array)      p  ids loading over HTTP (array)
Examples: {\"c\":1,\"i\":42,\"r\":777}  {\"c\":0,\"l\":[40,41,42],\"p\":[43]}
Extension fields are any one-character names with an integer, an array of
integers or a string.";

/// `p2pml wire …`
#[derive(Subcommand)]
pub(crate) enum WireCommand {
    /// Decode data-channel messages given in hex.
    ///
    /// Each argument is one message, in the order received; the parts of a
    /// split command are joined. Spaces, colons and a 0x prefix inside an
    /// argument are ignored, so quote a message copied with spaces. Prints
    /// one JSON command per line, or "segment data, N bytes".
    #[command(after_help = JSON_SHAPE)]
    Decode {
        /// Messages in hex, in order.
        #[arg(required = true, value_name = "HEX")]
        messages: Vec<String>,
    },
    /// Encode a command given as JSON into data-channel messages.
    ///
    /// Prints one message per line in hex, split exactly as P2P Media Loader
    /// 2.3.x splits.
    #[command(after_help = JSON_SHAPE)]
    Encode {
        /// The command, e.g. '{"c":1,"i":42,"r":777}'.
        json: String,
        /// The sender's webRtcMaxMessageSize.
        #[arg(long, default_value_t = DEFAULT_MAX_MESSAGE_SIZE)]
        max_message_size: usize,
    },
    /// Compute a stream's swarm id and tracker info hash.
    InfoHash(InfoHashArgs),
    /// Compute a stream's short id (the "index") from its attributes.
    StreamIndex(StreamIndexArgs),
}

#[derive(Args)]
pub(crate) struct InfoHashArgs {
    /// The swarm id: P2P Media Loader's `swarmId`, or by default the manifest
    /// URL without its query.
    #[arg(
        long,
        required_unless_present = "manifest_url",
        conflicts_with = "manifest_url"
    )]
    swarm_id: Option<String>,
    /// Derive the swarm id from a manifest URL (everything before `?`).
    #[arg(long)]
    manifest_url: Option<String>,
    /// `main` (variants) or `secondary` (alternative audio).
    #[arg(long, default_value = "main")]
    stream_type: StreamType,
    /// The stream's short id (see `p2pml wire stream-index`); for 2.2.x, the
    /// rendition's position.
    #[arg(long)]
    stream_index: String,
    /// Use P2P Media Loader 2.2.x's hash (MD5), which 2.3 peers never meet.
    #[arg(long)]
    legacy_2_2: bool,
}

#[derive(Args)]
pub(crate) struct StreamIndexArgs {
    /// BANDWIDTH (or AVERAGE-BANDWIDTH) in bits per second.
    #[arg(long)]
    bitrate: Option<f64>,
    /// CODECS, comma-separated (hls.js passes the video codecs only).
    #[arg(long)]
    codecs: Option<String>,
    /// Width from RESOLUTION.
    #[arg(long)]
    width: Option<u32>,
    /// Height from RESOLUTION.
    #[arg(long)]
    height: Option<u32>,
    /// LANGUAGE.
    #[arg(long)]
    language: Option<String>,
    /// CHANNELS, e.g. 2 or 16/JOC.
    #[arg(long)]
    channels: Option<String>,
    /// NAME.
    #[arg(long)]
    name: Option<String>,
    /// FRAME-RATE as written, e.g. 30.000.
    #[arg(long)]
    frame_rate: Option<String>,
    /// VIDEO-RANGE: SDR, PQ or HLG.
    #[arg(long)]
    video_range: Option<String>,
}

/// Runs one `wire` subcommand, writing its output to `out`.
pub(crate) fn run(cmd: WireCommand, out: &mut impl Write) -> anyhow::Result<()> {
    match cmd {
        WireCommand::Decode { messages } => decode(&messages, out),
        WireCommand::Encode {
            json,
            max_message_size,
        } => encode(&json, max_message_size, out),
        WireCommand::InfoHash(args) => info_hash(args, out),
        WireCommand::StreamIndex(args) => stream_index(args, out),
    }
}

fn parse_hex(arg: &str) -> anyhow::Result<Vec<u8>> {
    let cleaned: String = arg
        .trim()
        .trim_start_matches("0x")
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ':')
        .collect();
    Ok(hex::decode(&cleaned)?)
}

fn decode(messages: &[String], out: &mut impl Write) -> anyhow::Result<()> {
    let mut reader = PeerMessageReader::default();
    // Keep going after a bad message, as a receiving peer does, and report
    // every failure at the end.
    let mut failures = Vec::new();
    for (n, arg) in messages.iter().enumerate() {
        let n = n + 1;
        let bytes = match parse_hex(arg) {
            Ok(bytes) => bytes,
            Err(e) => {
                failures.push(format!("message {n} is not hex: {e}"));
                continue;
            }
        };
        match reader.read(&bytes) {
            Ok(Incoming::SegmentData(data)) => writeln!(out, "segment data, {} bytes", data.len())?,
            Ok(Incoming::PartialCommand) => {}
            Ok(Incoming::Command(cmd)) => writeln!(out, "{}", command_json(&cmd)?)?,
            Err(e) => failures.push(format!("message {n} ({} bytes): {e}", bytes.len())),
        }
    }
    if reader.is_joining() {
        failures.push(
            "the last command is incomplete: its final part (ending in `cend`) is missing".into(),
        );
    }
    if !failures.is_empty() {
        bail!(
            "{} problem(s):\n  {}",
            failures.len(),
            failures.join("\n  ")
        );
    }
    Ok(())
}

fn command_json(cmd: &PeerCommand) -> anyhow::Result<Value> {
    Ok(cmd.to_raw()?.to_json())
}

fn encode(json: &str, max: usize, out: &mut impl Write) -> anyhow::Result<()> {
    let value: Value = serde_json::from_str(json).context("the command is not valid JSON")?;
    let raw = RawCommand::from_json(&value).map_err(anyhow::Error::msg)?;
    let name = CommandCode::from_byte(raw.code).map_or("extension", CommandCode::name);
    let cmd = PeerCommand::from_raw(raw).with_context(|| format!("not a valid {name}"))?;
    for message in cmd.encode(max)? {
        writeln!(out, "{}", hex::encode(message))?;
    }
    Ok(())
}

fn info_hash(args: InfoHashArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let swarm = match (&args.swarm_id, &args.manifest_url) {
        (Some(id), _) => id.as_str(),
        (None, Some(url)) => swarm_id_from_manifest_url(url),
        (None, None) => bail!("give --swarm-id or --manifest-url"),
    };
    let id = stream_swarm_id(swarm, args.stream_type, &args.stream_index);
    let hash = if args.legacy_2_2 {
        InfoHash::legacy_2_2_from_stream_swarm_id(&id)
    } else {
        InfoHash::from_stream_swarm_id(&id)
    };
    let report = json!({
        "swarmId": swarm,
        "streamSwarmId": id,
        "infoHash": hash.to_string(),
        "infoHashHex": hex::encode(hash.as_bytes()),
    });
    writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    Ok(())
}

fn stream_index(args: StreamIndexArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let d = StreamDescriptor {
        bitrate: args.bitrate,
        codecs: args.codecs,
        width: args.width,
        height: args.height,
        language: args.language,
        channels: args.channels,
        name: args.name,
        frame_rate: args.frame_rate,
        video_range: args.video_range,
    };
    let report = json!({ "preimage": d.preimage(), "index": d.short_id() });
    writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    Ok(())
}
