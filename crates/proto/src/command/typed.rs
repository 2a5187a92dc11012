//! Commands as typed values (SPEC §1.5), their raw field form, and P2P Media
//! Loader's JSON shape (`{"c": code, "i": …, "l": [...]}`), which is how JS
//! peers log commands.

use serde_json::{Map, Value};

use super::item::{Item, Reader, write_item};
use super::{DecodeError, EncodeError, frame};

/// The six command codes of P2P Media Loader 2.3.x.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CommandCode {
    /// What the sender stores (`l`) and is fetching over HTTP (`p`).
    SegmentsAnnouncement = 0,
    /// Ask for segment `i` from byte `b`, request id `r`.
    SegmentRequest = 1,
    /// Response header: `s` bytes of segment `i` follow.
    SegmentData = 2,
    /// All bytes of the response were written.
    SegmentDataSendingCompleted = 3,
    /// The requested segment is not available.
    SegmentAbsent = 4,
    /// Stop serving request `r`.
    CancelSegmentRequest = 5,
}

impl CommandCode {
    /// The code for a byte, if it is one of the six known commands.
    pub fn from_byte(code: u8) -> Option<Self> {
        Some(match code {
            0 => Self::SegmentsAnnouncement,
            1 => Self::SegmentRequest,
            2 => Self::SegmentData,
            3 => Self::SegmentDataSendingCompleted,
            4 => Self::SegmentAbsent,
            5 => Self::CancelSegmentRequest,
            _ => return None,
        })
    }

    /// P2P Media Loader's name for the command.
    pub fn name(self) -> &'static str {
        match self {
            Self::SegmentsAnnouncement => "SegmentsAnnouncement",
            Self::SegmentRequest => "SegmentRequest",
            Self::SegmentData => "SegmentData",
            Self::SegmentDataSendingCompleted => "SegmentDataSendingCompleted",
            Self::SegmentAbsent => "SegmentAbsent",
            Self::CancelSegmentRequest => "CancelSegmentRequest",
        }
    }
}

/// `SegmentsAnnouncement`: a complete replacement of what the sender offers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Announcement {
    /// Ids of stored segments (`l`).
    pub loaded: Vec<i64>,
    /// Ids being fetched over HTTP right now (`p`).
    pub http_loading: Vec<i64>,
}

/// `SegmentRequest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentRequest {
    /// Segment external id (`i`).
    pub segment_id: i64,
    /// Request id chosen by the downloader (`r`), echoed by the uploader.
    pub request_id: i64,
    /// Resume offset (`b`); 0 means from the start and is not sent.
    pub byte_from: u64,
}

/// `SegmentData`: the response header that precedes raw chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentData {
    /// Segment external id (`i`).
    pub segment_id: i64,
    /// Request id (`r`).
    pub request_id: i64,
    /// Number of payload bytes that follow (`s`).
    pub byte_length: u64,
}

/// A segment id with a request id: the body of commands 3, 4 and 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentRef {
    /// Segment external id (`i`).
    pub segment_id: i64,
    /// Request id (`r`).
    pub request_id: i64,
}

/// A command with its fields in wire order, whatever its code. Known commands
/// convert to [`PeerCommand`]; unknown codes (≥ 6) are extensions that JS
/// peers decode and ignore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawCommand {
    /// The command code.
    pub code: u8,
    /// `(name, value)` in wire order; a repeated name means the last one wins.
    pub fields: Vec<(u8, Item)>,
}

/// A decoded or to-be-sent peer command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerCommand {
    /// Code 0.
    SegmentsAnnouncement(Announcement),
    /// Code 1.
    SegmentRequest(SegmentRequest),
    /// Code 2.
    SegmentData(SegmentData),
    /// Code 3.
    SegmentDataSendingCompleted(SegmentRef),
    /// Code 4.
    SegmentAbsent(SegmentRef),
    /// Code 5.
    CancelSegmentRequest(SegmentRef),
    /// Any other code: an extension command, kept raw.
    Extension(RawCommand),
}

impl RawCommand {
    /// The value of field `name` (the last one if repeated, as in JS).
    pub fn get(&self, name: u8) -> Option<&Item> {
        self.fields
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }

    /// The command payload (code and fields, without frames).
    pub fn encode_payload(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = vec![self.code];
        for (name, item) in &self.fields {
            out.push(*name);
            write_item(&mut out, item)?;
        }
        Ok(out)
    }

    /// Decodes a joined command payload field by field.
    ///
    /// Like a JS object, a repeated name keeps its first position and takes
    /// the last value, so a command holds at most 256 fields however long it
    /// is. Unlike JS, which reads past the end as zeros or short values, a
    /// truncated item, a trailing field name and an integer beyond `i64` are
    /// errors rather than made-up values.
    ///
    /// ```
    /// use p2pml_proto::command::{Item, RawCommand};
    /// let raw = RawCommand::decode(&[4, b'i', 1, 3, b'r', 1, 5, b'i', 1, 7]).unwrap();
    /// assert_eq!(raw.fields, [(b'i', Item::Int(7)), (b'r', Item::Int(5))]);
    /// assert!(RawCommand::decode(&[4, b'i', 2, 3]).is_err());
    /// ```
    pub fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(payload);
        let code = reader.byte().map_err(|_| DecodeError::Empty)?;
        let mut fields: Vec<(u8, Item)> = Vec::new();
        while !reader.is_empty() {
            let name = reader.byte()?;
            if reader.is_empty() {
                return Err(DecodeError::Truncated {
                    offset: reader.position(),
                    needed: 1,
                });
            }
            let item = reader.item()?;
            match fields.iter_mut().find(|(n, _)| *n == name) {
                Some(slot) => slot.1 = item,
                None => fields.push((name, item)),
            }
        }
        Ok(Self { code, fields })
    }

    /// The command in P2P Media Loader's JSON shape, e.g. `{"c":1,"i":42,"r":5}`.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("c".into(), Value::from(self.code));
        for (name, item) in &self.fields {
            let value = match item {
                Item::Int(v) => Value::from(*v),
                Item::IntArray(vs) => Value::from(vs.clone()),
                Item::String(s) => Value::from(s.clone()),
            };
            map.insert(char::from(*name).to_string(), value);
        }
        Value::Object(map)
    }

    /// Parses P2P Media Loader's JSON shape: `c` is the code, every other key
    /// is a one-character field name whose value is an integer, an array of
    /// integers or a string. Fields keep the object's key order.
    pub fn from_json(value: &Value) -> Result<Self, String> {
        let map = value.as_object().ok_or("a command is a JSON object")?;
        let code = map
            .get("c")
            .and_then(Value::as_u64)
            .and_then(|c| u8::try_from(c).ok())
            .ok_or("`c` must be an integer command code 0..=255")?;
        let mut fields = Vec::new();
        for (key, value) in map.iter().filter(|(k, _)| k.as_str() != "c") {
            let mut chars = key.chars();
            let name = match (chars.next(), chars.next()) {
                (Some(ch), None) => u8::try_from(u32::from(ch)).ok(),
                _ => None,
            }
            .ok_or_else(|| format!("field name {key:?} must be one single-byte character"))?;
            let item = match value {
                Value::Array(vs) => Item::IntArray(
                    vs.iter()
                        .map(json_int)
                        .collect::<Option<_>>()
                        .ok_or_else(|| format!("field `{key}`: ids must be integers"))?,
                ),
                Value::String(s) => Item::String(s.clone()),
                other => Item::Int(
                    json_int(other).ok_or_else(|| format!("field `{key}`: not an integer"))?,
                ),
            };
            fields.push((name, item));
        }
        Ok(Self { code, fields })
    }
}

fn json_int(v: &Value) -> Option<i64> {
    if let Some(i) = v.as_i64() {
        return Some(i);
    }
    let f = v.as_f64()?;
    // JS accepts integral Numbers such as 1e3; anything else makes BigInt throw.
    #[expect(
        clippy::cast_possible_truncation,
        reason = "integral and within i64 range"
    )]
    (f.fract() == 0.0 && f.abs() < 9.2e18).then_some(f as i64)
}

fn int_field(raw: &RawCommand, name: u8) -> Result<Option<i64>, DecodeError> {
    match raw.get(name) {
        None => Ok(None),
        Some(Item::Int(v)) => Ok(Some(*v)),
        Some(_) => Err(DecodeError::InvalidField {
            code: raw.code,
            field: char::from(name),
            reason: "expected an integer",
        }),
    }
}

fn required(raw: &RawCommand, name: u8) -> Result<i64, DecodeError> {
    int_field(raw, name)?.ok_or(DecodeError::MissingField {
        code: raw.code,
        field: char::from(name),
    })
}

fn non_negative(raw: &RawCommand, name: u8, v: i64) -> Result<u64, DecodeError> {
    u64::try_from(v).map_err(|_| DecodeError::InvalidField {
        code: raw.code,
        field: char::from(name),
        reason: "must not be negative",
    })
}

fn take_id_list(raw: &mut RawCommand, name: u8) -> Result<Vec<i64>, DecodeError> {
    let code = raw.code;
    match raw.fields.iter_mut().rev().find(|(n, _)| *n == name) {
        None => Ok(Vec::new()),
        Some((_, Item::IntArray(ids))) => Ok(std::mem::take(ids)),
        Some(_) => Err(DecodeError::InvalidField {
            code,
            field: char::from(name),
            reason: "expected an id list",
        }),
    }
}

fn segment_ref(raw: &RawCommand) -> Result<SegmentRef, DecodeError> {
    Ok(SegmentRef {
        segment_id: required(raw, b'i')?,
        request_id: required(raw, b'r')?,
    })
}

fn signed(field: char, v: u64) -> Result<i64, EncodeError> {
    i64::try_from(v).map_err(|_| EncodeError::IntOutOfRange { field, value: v })
}

impl PeerCommand {
    /// The command code byte.
    pub fn code(&self) -> u8 {
        match self {
            Self::SegmentsAnnouncement(_) => 0,
            Self::SegmentRequest(_) => 1,
            Self::SegmentData(_) => 2,
            Self::SegmentDataSendingCompleted(_) => 3,
            Self::SegmentAbsent(_) => 4,
            Self::CancelSegmentRequest(_) => 5,
            Self::Extension(raw) => raw.code,
        }
    }

    /// The fields in the order and with the omissions JS peers use, so that
    /// encoded bytes are identical to theirs.
    pub fn to_raw(&self) -> Result<RawCommand, EncodeError> {
        let code = self.code();
        let refs = |r: &SegmentRef| {
            vec![
                (b'i', Item::Int(r.segment_id)),
                (b'r', Item::Int(r.request_id)),
            ]
        };
        let fields = match self {
            Self::SegmentsAnnouncement(a) => {
                let mut f = Vec::new();
                if !a.loaded.is_empty() {
                    f.push((b'l', Item::IntArray(a.loaded.clone())));
                }
                if !a.http_loading.is_empty() {
                    f.push((b'p', Item::IntArray(a.http_loading.clone())));
                }
                f
            }
            Self::SegmentRequest(r) => {
                let mut f = vec![
                    (b'i', Item::Int(r.segment_id)),
                    (b'r', Item::Int(r.request_id)),
                ];
                if r.byte_from > 0 {
                    f.push((b'b', Item::Int(signed('b', r.byte_from)?)));
                }
                f
            }
            Self::SegmentData(d) => vec![
                (b'i', Item::Int(d.segment_id)),
                (b's', Item::Int(signed('s', d.byte_length)?)),
                (b'r', Item::Int(d.request_id)),
            ],
            Self::SegmentDataSendingCompleted(r)
            | Self::SegmentAbsent(r)
            | Self::CancelSegmentRequest(r) => refs(r),
            Self::Extension(raw) => return Ok(raw.clone()),
        };
        Ok(RawCommand { code, fields })
    }

    /// Interprets a raw command. Unknown fields are ignored and a repeated
    /// field's last value wins, as in JS; codes ≥ 6 become [`PeerCommand::Extension`].
    ///
    /// Stricter than JS on purpose: a missing `i` or `r`, or a negative `b` or
    /// `s`, is an error (JS would act on `undefined` or a negative size and
    /// then fail the transfer). Every known sender includes both ids.
    pub fn from_raw(mut raw: RawCommand) -> Result<Self, DecodeError> {
        let Some(code) = CommandCode::from_byte(raw.code) else {
            return Ok(Self::Extension(raw));
        };
        Ok(match code {
            CommandCode::SegmentsAnnouncement => Self::SegmentsAnnouncement(Announcement {
                loaded: take_id_list(&mut raw, b'l')?,
                http_loading: take_id_list(&mut raw, b'p')?,
            }),
            CommandCode::SegmentRequest => {
                let byte_from = match int_field(&raw, b'b')? {
                    Some(b) => non_negative(&raw, b'b', b)?,
                    None => 0,
                };
                Self::SegmentRequest(SegmentRequest {
                    segment_id: required(&raw, b'i')?,
                    request_id: required(&raw, b'r')?,
                    byte_from,
                })
            }
            CommandCode::SegmentData => {
                let s = required(&raw, b's')?;
                Self::SegmentData(SegmentData {
                    segment_id: required(&raw, b'i')?,
                    request_id: required(&raw, b'r')?,
                    byte_length: non_negative(&raw, b's', s)?,
                })
            }
            CommandCode::SegmentDataSendingCompleted => {
                Self::SegmentDataSendingCompleted(segment_ref(&raw)?)
            }
            CommandCode::SegmentAbsent => Self::SegmentAbsent(segment_ref(&raw)?),
            CommandCode::CancelSegmentRequest => Self::CancelSegmentRequest(segment_ref(&raw)?),
        })
    }

    /// Decodes a joined command payload.
    pub fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        Self::from_raw(RawCommand::decode(payload)?)
    }

    /// The command payload without frames.
    pub fn encode_payload(&self) -> Result<Vec<u8>, EncodeError> {
        self.to_raw()?.encode_payload()
    }

    /// The framed data-channel messages for this command, split to
    /// `max_message_size` as JS peers split (see [`super::DEFAULT_MAX_MESSAGE_SIZE`]).
    /// A size of 0 is treated as 1; below about 64 bytes parts can exceed the
    /// size, exactly as JS's do.
    pub fn encode(&self, max_message_size: usize) -> Result<Vec<Vec<u8>>, EncodeError> {
        Ok(frame::frame_payload(
            &self.encode_payload()?,
            max_message_size,
        ))
    }
}
