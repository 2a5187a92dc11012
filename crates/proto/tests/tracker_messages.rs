//! Tracker JSON: the capture of real P2P Media Loader 2.3.1 clients against a
//! bittorrent-tracker server re-serializes byte for byte, and the dialects of
//! aquatic_ws and wt-tracker parse.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::print_stderr,
    missing_docs,
    clippy::cast_possible_truncation,
    clippy::type_complexity
)]

mod common;

use p2pml_proto::identity::{InfoHash, OfferId, PeerId};
use p2pml_proto::tracker::{
    Action, AnnounceEvent, AnnounceRequest, ClientMessage, MAX_OFFERS_PER_ANNOUNCE, Offer,
    ScrapeStats, SdpType, SessionDescription, TrackerMessage, TrackerMessageError,
};

const IH: &str = "sNS9hkFnoJOLT+X2k7+f";
const A: &str = "-PM0203-5WtNoo3wtVui";
const B: &str = "-PM0203-hgzx1IVLI24R";

fn captured(dir: &str) -> Vec<String> {
    common::fixture("p2pml-tracker-capture.json")["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["dir"] == dir)
        .map(|m| m["raw"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn client_messages_reserialize_byte_for_byte() {
    let msgs = captured("client->tracker");
    assert_eq!(msgs.len(), 3);
    let mut kinds = Vec::new();
    for raw in &msgs {
        let parsed = ClientMessage::parse(raw).unwrap();
        assert_eq!(&parsed.to_json(), raw);
        kinds.push(match &parsed {
            ClientMessage::Announce(a) => {
                assert_eq!(a.event, Some(AnnounceEvent::Started));
                assert_eq!(a.numwant as usize, a.offers.len());
                assert_eq!(a.offers.len(), 5);
                assert_eq!(a.info_hash.to_string(), IH);
                "announce"
            }
            ClientMessage::Answer(a) => {
                assert_eq!(
                    (
                        a.peer_id.to_string().as_str(),
                        a.to_peer_id.to_string().as_str()
                    ),
                    (A, B)
                );
                assert_eq!(a.answer.kind, SdpType::Answer);
                "answer"
            }
            ClientMessage::Scrape(_) => "scrape",
        });
    }
    assert_eq!(kinds, ["announce", "announce", "answer"]);
}

#[test]
fn tracker_messages_reserialize_byte_for_byte() {
    let msgs = captured("tracker->client");
    let mut kinds = Vec::new();
    for raw in &msgs {
        let parsed = TrackerMessage::parse(raw).unwrap();
        assert_eq!(&parsed.to_json(), raw);
        kinds.push(match parsed {
            TrackerMessage::AnnounceResponse(r) => {
                assert_eq!(r.interval_secs, Some(120.0));
                "response"
            }
            TrackerMessage::Offer(o) => {
                assert_eq!(o.peer_id.to_string(), B);
                "offer"
            }
            TrackerMessage::Answer(a) => {
                assert_eq!(a.peer_id.to_string(), A);
                "answer"
            }
            other => panic!("{other:?}"),
        });
    }
    assert_eq!(kinds, ["response", "response", "offer", "answer"]);
}

#[test]
fn the_answer_echoes_the_offer_id_of_the_relayed_offer() {
    let offers: Vec<_> = captured("tracker->client")
        .iter()
        .map(|m| TrackerMessage::parse(m).unwrap())
        .collect();
    let answer = captured("client->tracker")
        .iter()
        .map(|m| ClientMessage::parse(m).unwrap())
        .find_map(|m| match m {
            ClientMessage::Answer(a) => Some(a),
            _ => None,
        });
    let offer_id = offers.iter().find_map(|m| match m {
        TrackerMessage::Offer(o) => Some(o.offer_id),
        _ => None,
    });
    assert_eq!(answer.unwrap().offer_id, offer_id.unwrap());
}

fn ids() -> (InfoHash, PeerId) {
    (
        InfoHash::from_binary_string(IH).unwrap(),
        PeerId::from_binary_string(A).unwrap(),
    )
}

fn offer(n: u8) -> Offer {
    Offer {
        offer: SessionDescription {
            kind: SdpType::Offer,
            sdp: format!("v=0\r\no=- {n} 2 IN IP4 127.0.0.1\r\n"),
        },
        offer_id: OfferId([n; 20]),
    }
}

#[test]
fn our_announces_never_say_update_and_numwant_counts_offers() {
    let (ih, pid) = ids();
    let re = AnnounceRequest::new(ih, pid, None, (0..3).map(offer).collect()).unwrap();
    let json = ClientMessage::Announce(re).to_json();
    assert!(
        json.starts_with(r#"{"numwant":3,"uploaded":0,"downloaded":0,"action":"announce""#),
        "{json}"
    );
    assert!(!json.contains("update"));
    let too_many = (0..=MAX_OFFERS_PER_ANNOUNCE as u8).map(offer).collect();
    assert_eq!(
        AnnounceRequest::new(ih, pid, None, too_many),
        Err(TrackerMessageError::TooManyOffers(11))
    );
    let stopped = AnnounceRequest::new(ih, pid, Some(AnnounceEvent::Stopped), vec![]).unwrap();
    let json = ClientMessage::Announce(stopped).to_json();
    assert!(
        json.contains(r#""event":"stopped""#) && !json.contains("offers"),
        "{json}"
    );
}

#[test]
fn parse_refuses_more_offers_than_an_announce_may_carry() {
    let (ih, pid) = ids();
    let at_cap = (0..MAX_OFFERS_PER_ANNOUNCE as u8).map(offer).collect();
    let a = AnnounceRequest::new(ih, pid, None, at_cap).unwrap();
    let json = ClientMessage::Announce(a).to_json();
    assert!(matches!(
        ClientMessage::parse(&json),
        Ok(ClientMessage::Announce(a)) if a.offers.len() == MAX_OFFERS_PER_ANNOUNCE
    ));
    // One more offer spliced into the same frame.
    let extra = serde_json::to_string(&offer(MAX_OFFERS_PER_ANNOUNCE as u8)).unwrap();
    let over = json.replacen(r#""offers":["#, &format!(r#""offers":[{extra},"#), 1);
    assert_eq!(
        ClientMessage::parse(&over),
        Err(TrackerMessageError::TooManyOffers(
            MAX_OFFERS_PER_ANNOUNCE + 1
        ))
    );
}

#[test]
fn binary_ids_survive_control_and_high_bytes() {
    let (ih, pid) = ids();
    let mut o = offer(0);
    o.offer_id = OfferId([
        0, 1, 0x14, 0x22, 0x5c, 0x7f, 0x80, 0xff, 0xc3, 0xa9, 10, 13, 9, 8, 12, 0x1f, 0x20, 0x41,
        0xfe, 0x9e,
    ]);
    let msg = ClientMessage::Announce(
        AnnounceRequest::new(ih, pid, Some(AnnounceEvent::Started), vec![o.clone()]).unwrap(),
    );
    let json = msg.to_json();
    assert!(
        json.contains(r#"\u0014"#) && json.contains(r#"\"\\"#),
        "{json}"
    );
    assert_eq!(ClientMessage::parse(&json).unwrap(), msg);
}

#[test]
fn aquatic_dialect() {
    let offer = format!(
        r#"{{"action":"announce","peer_id":"{B}","info_hash":"{IH}","offer":{{"type":"offer","sdp":"v=0"}},"offer_id":"{}"}}"#,
        "o".repeat(20)
    );
    assert!(matches!(
        TrackerMessage::parse(&offer).unwrap(),
        TrackerMessage::Offer(_)
    ));
    let response = format!(
        r#"{{"action":"announce","info_hash":"{IH}","complete":0,"incomplete":3,"interval":120}}"#
    );
    let TrackerMessage::AnnounceResponse(r) = TrackerMessage::parse(&response).unwrap() else {
        panic!()
    };
    assert_eq!(r.incomplete, Some(3));
    let failure = r#"{"failure reason":"Invalid request"}"#;
    assert_eq!(
        TrackerMessage::parse(failure).unwrap(),
        TrackerMessage::Failure(p2pml_proto::tracker::Failure {
            action: None,
            info_hash: None,
            reason: "Invalid request".into()
        })
    );
    let scrape_failure = r#"{"failure reason":"Full scrapes are not allowed","action":"scrape"}"#;
    let TrackerMessage::Failure(f) = TrackerMessage::parse(scrape_failure).unwrap() else {
        panic!()
    };
    assert_eq!(f.action, Some(Action::Scrape));
    let scrape = format!(
        r#"{{"action":"scrape","files":{{"{IH}":{{"complete":1,"incomplete":2,"downloaded":0}}}}}}"#
    );
    let TrackerMessage::Scrape(s) = TrackerMessage::parse(&scrape).unwrap() else {
        panic!()
    };
    assert_eq!(s.files.values().next().unwrap().incomplete, 2);
    assert_eq!(s.min_request_interval_secs, None);
}

#[test]
fn bittorrent_tracker_scrape_with_flags() {
    let scrape = format!(
        r#"{{"action":"scrape","files":{{"{IH}":{{"complete":1,"incomplete":0,"downloaded":1}}}},"flags":{{"min_request_interval":600}}}}"#
    );
    let parsed = TrackerMessage::parse(&scrape).unwrap();
    let TrackerMessage::Scrape(s) = &parsed else {
        panic!()
    };
    assert_eq!(s.min_request_interval_secs, Some(600));
    assert_eq!(parsed.to_json(), scrape);
}

#[test]
fn wt_tracker_dialect() {
    // Answers forwarded as the answerer sent them, minus to_peer_id, with extra keys.
    let answer = format!(
        r#"{{"action":"announce","info_hash":"{IH}","peer_id":"{A}","answer":{{"type":"answer","sdp":"v=0"}},"offer_id":"{}","trackerid":"x","numwant":"5"}}"#,
        "p".repeat(20)
    );
    assert!(matches!(
        TrackerMessage::parse(&answer).unwrap(),
        TrackerMessage::Answer(_)
    ));
    let response = format!(
        r#"{{"action":"announce","interval":20,"info_hash":"{IH}","complete":0,"incomplete":"2"}}"#
    );
    let TrackerMessage::AnnounceResponse(r) = TrackerMessage::parse(&response).unwrap() else {
        panic!()
    };
    assert_eq!((r.interval_secs, r.incomplete), (Some(20.0), Some(2)));
}

#[test]
fn min_interval_tracker_id_and_warnings() {
    let msg = format!(
        r#"{{"action":"announce","info_hash":"{IH}","min interval":12.5,"tracker id":"t1","warning message":"slow down"}}"#
    );
    let TrackerMessage::AnnounceResponse(r) = TrackerMessage::parse(&msg).unwrap() else {
        panic!()
    };
    assert_eq!(r.interval_secs, Some(12.5));
    assert_eq!(r.tracker_id.as_deref(), Some("t1"));
    assert_eq!(r.warning.as_deref(), Some("slow down"));
}

#[test]
fn client_messages_from_other_clients_parse() {
    let (ih, pid) = ids();
    // bittorrent-tracker clients send `update`, scrapes as strings or lists, `left`.
    let update = format!(
        r#"{{"action":"announce","event":"update","info_hash":"{IH}","peer_id":"{A}","left":0,"numwant":2.0}}"#
    );
    let ClientMessage::Announce(a) = ClientMessage::parse(&update).unwrap() else {
        panic!()
    };
    assert_eq!(
        (a.event, a.left, a.numwant, a.peer_id),
        (None, Some(0), 2, pid)
    );
    for scrape in [
        format!(r#"{{"action":"scrape","info_hash":"{IH}"}}"#),
        format!(r#"{{"action":"scrape","info_hash":["{IH}"]}}"#),
    ] {
        let ClientMessage::Scrape(s) = ClientMessage::parse(&scrape).unwrap() else {
            panic!()
        };
        assert_eq!(s.info_hashes, [ih]);
    }
    let ClientMessage::Scrape(all) = ClientMessage::parse(r#"{"action":"scrape"}"#).unwrap() else {
        panic!()
    };
    assert!(all.info_hashes.is_empty());
}

#[test]
fn bad_input_gets_a_clear_error() {
    let cases: [(&str, fn(&TrackerMessageError) -> bool); 9] = [
        ("not json", |e| matches!(e, TrackerMessageError::Json(_))),
        ("[1,2]", |e| matches!(e, TrackerMessageError::Json(_))),
        (r#"{"info_hash":"x"}"#, |e| {
            matches!(e, TrackerMessageError::MissingAction)
        }),
        (r#"{"action":"dance"}"#, |e| {
            matches!(e, TrackerMessageError::UnknownAction(_))
        }),
        (
            r#"{"action":"announce","peer_id":"-PM0203-5WtNoo3wtVui"}"#,
            |e| matches!(e, TrackerMessageError::MissingField("info_hash")),
        ),
        (
            r#"{"action":"announce","info_hash":"short","peer_id":"-PM0203-5WtNoo3wtVui"}"#,
            |e| {
                matches!(
                    e,
                    TrackerMessageError::BadId {
                        field: "info_hash",
                        ..
                    }
                )
            },
        ),
        (
            r#"{"action":"announce","info_hash":"sNS9hkFnoJOLT+X2k7+f","peer_id":"€€€€€€€€€€€€€€€€€€€€"}"#,
            |e| {
                matches!(
                    e,
                    TrackerMessageError::BadId {
                        field: "peer_id",
                        ..
                    }
                )
            },
        ),
        (
            r#"{"action":"announce","event":"dance","info_hash":"sNS9hkFnoJOLT+X2k7+f","peer_id":"-PM0203-5WtNoo3wtVui"}"#,
            |e| matches!(e, TrackerMessageError::BadEvent(_)),
        ),
        (
            r#"{"action":"announce","numwant":-1,"info_hash":"sNS9hkFnoJOLT+X2k7+f","peer_id":"-PM0203-5WtNoo3wtVui"}"#,
            |e| matches!(e, TrackerMessageError::BadNumber("numwant")),
        ),
    ];
    for (input, expected) in cases {
        let err = ClientMessage::parse(input).unwrap_err();
        assert!(expected(&err), "{input}: {err}");
        assert!(!err.to_string().is_empty());
    }
    assert!(matches!(
        TrackerMessage::parse(
            r#"{"action":"announce","offer":{"type":"offer","sdp":""},"info_hash":"sNS9hkFnoJOLT+X2k7+f"}"#
        ),
        Err(TrackerMessageError::MissingField("peer_id"))
    ));
}

#[test]
fn a_failure_is_reported_even_with_a_malformed_info_hash() {
    // bittorrent-tracker echoes hex2bin of whatever was sent, possibly a list.
    for msg in [
        r#"{"failure reason":"invalid info_hash","info_hash":"bad"}"#,
        r#"{"action":"scrape","failure reason":"invalid info_hash","info_hash":["x","y"]}"#,
    ] {
        let TrackerMessage::Failure(f) = TrackerMessage::parse(msg).unwrap() else {
            panic!("{msg}")
        };
        assert_eq!(
            (f.reason.as_str(), f.info_hash),
            ("invalid info_hash", None)
        );
    }
}

#[test]
fn replies_with_odd_informational_fields_still_parse() {
    let msg = format!(
        r#"{{"action":"announce","info_hash":"{IH}","interval":0,"min interval":30,"complete":-1,"incomplete":2.5,"tracker id":5,"warning message":null,"interval":0}}"#
    );
    let TrackerMessage::AnnounceResponse(r) = TrackerMessage::parse(&msg).unwrap() else {
        panic!()
    };
    // An interval of 0 falls back to `min interval`, as `interval || min interval` does in JS.
    assert_eq!(r.interval_secs, Some(30.0));
    assert_eq!((r.complete, r.incomplete), (None, None));
    assert_eq!(r.tracker_id.as_deref(), Some("5"));
    let scrape = format!(
        r#"{{"action":"scrape","files":{{"{IH}":{{"complete":"x","incomplete":1}}}},"flags":[]}}"#
    );
    let TrackerMessage::Scrape(s) = TrackerMessage::parse(&scrape).unwrap() else {
        panic!()
    };
    assert_eq!(
        s.files.values().next().unwrap(),
        &ScrapeStats {
            complete: 0,
            incomplete: 1,
            downloaded: 0
        }
    );
}

#[test]
fn repeated_keys_keep_the_last_value_like_json_parse() {
    let msg =
        format!(r#"{{"action":"scrape","action":"announce","info_hash":"{IH}","interval":5}}"#);
    assert!(matches!(
        TrackerMessage::parse(&msg).unwrap(),
        TrackerMessage::AnnounceResponse(_)
    ));
}

#[test]
fn an_announce_without_offers_sends_an_empty_list_like_the_reference_client() {
    let (ih, pid) = ids();
    let json = ClientMessage::Announce(
        AnnounceRequest::new(ih, pid, Some(AnnounceEvent::Started), vec![]).unwrap(),
    )
    .to_json();
    assert!(json.ends_with(r#""offers":[]}"#), "{json}");
}

#[test]
fn oversized_frames_are_refused_before_parsing() {
    let huge = format!(
        r#"{{"action":"scrape","info_hash":"{}"}}"#,
        "x".repeat(70_000)
    );
    assert!(matches!(
        ClientMessage::parse(&huge),
        Err(TrackerMessageError::TooLong(_))
    ));
    assert!(matches!(
        TrackerMessage::parse(&huge),
        Err(TrackerMessageError::TooLong(_))
    ));
}
