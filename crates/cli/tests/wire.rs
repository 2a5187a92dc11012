//! Black-box tests of `p2pml wire`.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::print_stderr,
    missing_docs,
    clippy::cast_possible_truncation,
    clippy::type_complexity
)]

use std::process::{Command, Output};

fn p2pml(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_p2pml"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

#[test]
fn decodes_a_transcript_with_split_commands_and_data() {
    let o = p2pml(&[
        "wire",
        "decode",
        "63737472 00 6c 10 01 01 03 28 29 2a 70 10 01 01 01 2b 63656e64",
        "637374720169046553f164656e64",
        "647374727b720203e76264656e64",
        "0x647374720310000063656e64",
        "00:01:02:03",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "{\"c\":0,\"l\":[40,41,42],\"p\":[43]}\n{\"c\":1,\"i\":1700000123,\"r\":999,\"b\":1048576}\nsegment data, 4 bytes\n"
    );
}

#[test]
fn decode_reports_every_bad_message_and_keeps_going() {
    let o = p2pml(&[
        "wire",
        "decode",
        "6473747203e87264656e64",
        "zz",
        "637374720169016373747263656e64",
        "637374720569010372010063656e64",
        "637374720169046553f164656e64",
    ]);
    assert_eq!(o.status.code(), Some(1));
    // The good command in the middle still decodes.
    assert_eq!(stdout(&o), "{\"c\":5,\"i\":3,\"r\":0}\n");
    let err = stderr(&o);
    for expected in [
        "4 problem(s)",
        "message 1 (11 bytes): continuation part without a first part",
        "message 2 is not hex",
        "message 3 (15 bytes): unknown item type 7 at byte 5",
        "the last command is incomplete",
    ] {
        assert!(err.contains(expected), "{expected:?} not in {err}");
    }
}

#[test]
fn encodes_like_the_js_serializer() {
    // Golden vector 18: split with max 12.
    let o = p2pml(&[
        "wire",
        "encode",
        r#"{"c":1,"i":1700000123,"r":999,"b":1048576}"#,
        "--max-message-size",
        "12",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "637374720169046553f164656e64\n647374727b720203e76264656e64\n647374720310000063656e64\n"
    );
    // Field order in the JSON does not matter for known commands (JS order is used).
    let o = p2pml(&["wire", "encode", r#"{"r":5,"s":1048576,"i":42,"c":2}"#]);
    assert_eq!(stdout(&o), "637374720269012a730310000072010563656e64\n");
    // Extensions keep the JSON order: golden vector 33.
    let o = p2pml(&[
        "wire",
        "encode",
        r#"{"c":7,"x":-300,"y":[1,2,256],"z":"ok"}"#,
    ]);
    assert_eq!(
        stdout(&o),
        "63737472077802812c79100201020102020101007a20026f6b63656e64\n"
    );
}

#[test]
fn encode_errors_are_clear() {
    for (json, expected) in [
        ("{", "not valid JSON"),
        (r#"{"c":1,"i":42}"#, "lacks field `r`"),
        (r#"{"c":300}"#, "command code"),
        (r#"{"c":1,"i":1.5,"r":1}"#, "not an integer"),
        (r#"{"c":6,"xy":1}"#, "one single-byte character"),
        (r#"{"c":2,"i":1,"r":1,"s":-4}"#, "must not be negative"),
    ] {
        let o = p2pml(&["wire", "encode", json]);
        assert_eq!(o.status.code(), Some(1), "{json}");
        assert!(stderr(&o).contains(expected), "{json}: {}", stderr(&o));
    }
}

#[test]
fn identities() {
    let o = p2pml(&[
        "wire",
        "stream-index",
        "--bitrate",
        "2000000",
        "--codecs",
        "avc1.100.31",
        "--width",
        "1280",
        "--height",
        "720",
        "--frame-rate",
        "30.000",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["index"], "NqsTkWHiCF+FGmHQvwp+Aigq4Tk=");
    assert_eq!(v["preimage"], "2000000-avc1.64001f-1280-720----30-");
    let o = p2pml(&[
        "wire",
        "stream-index",
        "--codecs",
        "ec-3",
        "--language",
        "und",
        "--channels",
        "16/JOC",
        "--name",
        "Atmos",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["index"], "H639F1KDFJLGBC5vz1CLFxlumKw=");

    let o = p2pml(&[
        "wire",
        "info-hash",
        "--manifest-url",
        "https://example.com/hls/master.m3u8?token=abc123",
        "--stream-type",
        "secondary",
        "--stream-index",
        "bdjQ1B4N2yrcTDHyU5j7iDGV9sY=",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["infoHash"], "Brw7M7eJYTdtKRTVLdah");
    let o = p2pml(&[
        "wire",
        "info-hash",
        "--swarm-id",
        "my-channel-42",
        "--stream-index",
        "NqsTkWHiCF+FGmHQvwp+Aigq4Tk=",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["infoHash"], "xGh+2lZnRwNh/ymqceuN");
    let o = p2pml(&[
        "wire",
        "info-hash",
        "--swarm-id",
        "https://example.com/hls/master.m3u8",
        "--stream-index",
        "0",
        "--legacy-2-2",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["infoHash"], "wziFoizJPqsH8SnxvNiC");
    let o = p2pml(&[
        "wire",
        "info-hash",
        "--swarm-id",
        "x",
        "--stream-type",
        "tertiary",
        "--stream-index",
        "0",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("main or secondary"), "{}", stderr(&o));
}

#[test]
fn help_documents_the_json_shape() {
    for sub in ["encode", "decode"] {
        let o = p2pml(&["wire", sub, "--help"]);
        let help = stdout(&o);
        assert!(
            help.contains("SegmentDataSendingCompleted")
                && help.contains("{\"c\":1,\"i\":42,\"r\":777}"),
            "{help}"
        );
    }
}
