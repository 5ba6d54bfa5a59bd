//! A log record as Fluent Bit takes it from an input: msgpack
//! `[[EventTime, {}], {body}]`, records simply concatenated.
//!
//! EventTime is msgpack ext type 0 of 8 bytes, a big-endian u32 of seconds
//! then a u32 of nanoseconds (Fluent Bit's `flb_time_append_to_msgpack`, and
//! the Forward protocol's EventTime). The body's keys are those of Docker's
//! `fluentd` log driver (`log`, `source`, `container_id`, `container_name`
//! with its leading `/`), plus `image_name` (the name Docker's `gelf` and
//! `journald` drivers give it) and `labels` when asked for. A record cut by
//! the engine carries `partial_message` (Docker's key) or
//! `truncated_message`, both `"true"`, and only then.

use crate::frame::Stream;
use crate::record::flags;
use crate::record::Record;

/// What the body holds besides the fixed keys.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordOptions {
    /// Adds `image_name`: the image as the container was created with it.
    pub image: bool,
    /// Adds `labels`: a map of every label of the container.
    pub labels: bool,
}

/// Appends one record to `out`.
pub fn encode(out: &mut Vec<u8>, record: &Record, options: RecordOptions) {
    let meta = &record.container;
    let partial = record.flags & flags::PARTIAL != 0;
    let truncated = record.flags & flags::TRUNCATED != 0;

    out.push(0x92); // [header, body]
    out.push(0x92); // header: [time, metadata]
    event_time(out, record.ts_ns);
    out.push(0x80); // metadata: {}

    let entries = 4 + options.image as u8 + options.labels as u8 + partial as u8 + truncated as u8;
    out.push(0x80 | entries); // at most 8 entries: a fixmap
    str(out, b"log");
    str(out, &record.message);
    str(out, b"source");
    str(out, source(record.stream).as_bytes());
    str(out, b"container_id");
    str(out, meta.id.as_bytes());
    // Docker's fluentd driver sends the name with its leading slash.
    str(out, b"container_name");
    str_header(out, 1 + meta.name.as_bytes().len());
    out.push(b'/');
    out.extend_from_slice(meta.name.as_bytes());
    if options.image {
        str(out, b"image_name");
        str(out, meta.image.as_bytes());
    }
    if options.labels {
        str(out, b"labels");
        map_header(out, meta.labels.len());
        for (key, value) in &meta.labels {
            str(out, key.as_bytes());
            str(out, value.as_bytes());
        }
    }
    if partial {
        str(out, b"partial_message");
        str(out, b"true");
    }
    if truncated {
        str(out, b"truncated_message");
        str(out, b"true");
    }
}

/// The `source` value: Docker's stream names, `console` for a TTY.
pub fn source(stream: Stream) -> &'static str {
    stream.name()
}

/// EventTime: fixext 8 (0xd7) of type 0, seconds and nanoseconds as
/// big-endian u32. Times outside the u32 range are clamped to it.
fn event_time(out: &mut Vec<u8>, ts_ns: i64) {
    let ts_ns = ts_ns.max(0);
    let seconds = (ts_ns / 1_000_000_000).min(u32::MAX as i64) as u32;
    let nanoseconds = (ts_ns % 1_000_000_000) as u32;
    out.extend_from_slice(&[0xd7, 0x00]);
    out.extend_from_slice(&seconds.to_be_bytes());
    out.extend_from_slice(&nanoseconds.to_be_bytes());
}

/// A msgpack str (its bytes as they are: Docker's `log` need not be UTF-8,
/// and its fluentd driver sends it as a str all the same).
fn str(out: &mut Vec<u8>, bytes: &[u8]) {
    str_header(out, bytes.len());
    out.extend_from_slice(bytes);
}

fn str_header(out: &mut Vec<u8>, len: usize) {
    match len {
        0..=31 => out.push(0xa0 | len as u8),
        32..=0xff => out.extend_from_slice(&[0xd9, len as u8]),
        0x100..=0xffff => {
            out.push(0xda);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(0xdb);
            out.extend_from_slice(&(len.min(u32::MAX as usize) as u32).to_be_bytes());
        }
    }
}

fn map_header(out: &mut Vec<u8>, len: usize) {
    match len {
        0..=15 => out.push(0x80 | len as u8),
        16..=0xffff => {
            out.push(0xde);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(0xdf);
            out.extend_from_slice(&(len as u32).to_be_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::ffi::CString;
    use std::sync::Arc;

    use bytes::Bytes;
    use rmpv::Value;

    use crate::record::ContainerMeta;

    fn meta(labels: &[(&str, &str)]) -> Arc<ContainerMeta> {
        let mut meta = ContainerMeta::for_tests("0123456789abcdef", "web-1");
        meta.image = CString::new("nginx:1.27").unwrap();
        meta.labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>();
        Arc::new(meta)
    }

    fn record(message: &[u8], stream: Stream, ts_ns: i64, flags: u32) -> Record {
        Record {
            container: meta(&[("team", "blue"), ("tier", "web")]),
            stream,
            ts_ns,
            mark: Default::default(),
            flags,
            message: Bytes::copy_from_slice(message),
        }
    }

    /// Decodes every record of `buf` with a real decoder.
    fn decode_all(mut buf: &[u8]) -> Vec<Value> {
        let mut out = Vec::new();
        while !buf.is_empty() {
            out.push(rmpv::decode::read_value(&mut buf).expect("valid msgpack"));
        }
        out
    }

    fn body_get<'a>(body: &'a Value, key: &str) -> Option<&'a Value> {
        body.as_map().unwrap().iter().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v)
    }

    fn keys(body: &Value) -> Vec<&str> {
        body.as_map().unwrap().iter().map(|(k, _)| k.as_str().unwrap()).collect()
    }

    #[test]
    fn record_is_header_and_body_with_docker_keys() {
        let mut buf = Vec::new();
        let ts = 1_704_164_645_123_456_789;
        encode(&mut buf, &record(b"hello", Stream::Stderr, ts, 0), RecordOptions::default());
        let values = decode_all(&buf);
        assert_eq!(values.len(), 1);
        let top = values[0].as_array().unwrap();
        assert_eq!(top.len(), 2);
        let header = top[0].as_array().unwrap();
        assert_eq!(header.len(), 2);
        let Value::Ext(kind, data) = &header[0] else { panic!("not an ext: {:?}", header[0]) };
        assert_eq!(*kind, 0);
        assert_eq!(data.len(), 8);
        let seconds = u32::from_be_bytes(data[0..4].try_into().unwrap());
        let nanoseconds = u32::from_be_bytes(data[4..8].try_into().unwrap());
        assert_eq!(seconds as i64 * 1_000_000_000 + nanoseconds as i64, ts);
        assert_eq!(header[1], Value::Map(vec![]));
        let body = &top[1];
        assert_eq!(keys(body), ["log", "source", "container_id", "container_name"]);
        assert_eq!(body_get(body, "log").unwrap().as_str(), Some("hello"));
        assert_eq!(body_get(body, "source").unwrap().as_str(), Some("stderr"));
        assert_eq!(body_get(body, "container_id").unwrap().as_str(), Some("0123456789abcdef"));
        assert_eq!(body_get(body, "container_name").unwrap().as_str(), Some("/web-1"));
    }

    #[test]
    fn image_labels_and_flags_only_when_set() {
        let mut buf = Vec::new();
        let options = RecordOptions { image: true, labels: true };
        encode(&mut buf, &record(b"a", Stream::Console, 5, flags::PARTIAL | flags::TRUNCATED), options);
        encode(&mut buf, &record(b"b", Stream::Stdout, 6, flags::TRUNCATED), RecordOptions::default());
        let values = decode_all(&buf);
        assert_eq!(values.len(), 2);
        let first = &values[0].as_array().unwrap()[1];
        assert_eq!(
            keys(first),
            [
                "log",
                "source",
                "container_id",
                "container_name",
                "image_name",
                "labels",
                "partial_message",
                "truncated_message"
            ]
        );
        assert_eq!(body_get(first, "source").unwrap().as_str(), Some("console"));
        assert_eq!(body_get(first, "image_name").unwrap().as_str(), Some("nginx:1.27"));
        let labels = body_get(first, "labels").unwrap().as_map().unwrap();
        assert_eq!(labels.len(), 2);
        assert_eq!(labels[0].0.as_str(), Some("team"));
        assert_eq!(labels[0].1.as_str(), Some("blue"));
        assert_eq!(body_get(first, "partial_message").unwrap().as_str(), Some("true"));
        assert_eq!(body_get(first, "truncated_message").unwrap().as_str(), Some("true"));
        let second = &values[1].as_array().unwrap()[1];
        assert_eq!(keys(second), ["log", "source", "container_id", "container_name", "truncated_message"]);
    }

    #[test]
    fn every_length_class_round_trips() {
        // fixstr, str8, str16, str32; fixmap and map16 of labels.
        for len in [0usize, 31, 32, 255, 256, 65_535, 65_536, 1 << 20] {
            let message: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            let mut buf = Vec::new();
            encode(&mut buf, &record(&message, Stream::Stdout, 1, 0), RecordOptions::default());
            let values = decode_all(&buf);
            let body = &values[0].as_array().unwrap()[1];
            assert_eq!(body_get(body, "log").unwrap().as_str().unwrap().as_bytes(), &message[..], "len {len}");
        }
        let many: Vec<(String, String)> = (0..40).map(|i| (format!("k{i:02}"), format!("v{i}"))).collect();
        let pairs: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let rec = Record {
            container: meta(&pairs),
            stream: Stream::Stdout,
            ts_ns: 1,
            mark: Default::default(),
            flags: 0,
            message: Bytes::from_static(b"x"),
        };
        let mut buf = Vec::new();
        encode(&mut buf, &rec, RecordOptions { image: false, labels: true });
        let values = decode_all(&buf);
        let labels = body_get(&values[0].as_array().unwrap()[1], "labels").unwrap().as_map().unwrap();
        assert_eq!(labels.len(), 40);
    }

    #[test]
    fn non_utf8_message_is_kept_byte_for_byte() {
        let message = [0xff, 0xfe, b'x', 0x00, 0xc3];
        let mut buf = Vec::new();
        encode(&mut buf, &record(&message, Stream::Stdout, 1, 0), RecordOptions::default());
        let values = decode_all(&buf);
        let body = &values[0].as_array().unwrap()[1];
        let Value::String(log) = body_get(body, "log").unwrap() else { panic!() };
        assert_eq!(log.as_bytes(), &message);
    }

    #[test]
    fn event_time_clamps_out_of_range_times() {
        let mut buf = Vec::new();
        event_time(&mut buf, -5);
        assert_eq!(buf, [0xd7, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        buf.clear();
        event_time(&mut buf, 999_999_999);
        assert_eq!(buf, [0xd7, 0, 0, 0, 0, 0, 0x3b, 0x9a, 0xc9, 0xff]);
    }
}
