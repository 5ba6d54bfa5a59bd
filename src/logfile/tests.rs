//! The parsers on files recorded from the real daemons (tests/fixtures/
//! logfile/, see its README): each json-file entry must equal, stream,
//! stamp and bytes, what dockerd's API served for the same container.

use bytes::{Bytes, BytesMut};

use super::stamp::Stamps;
use super::{json_file, k8s_file};
use crate::frame::{decode_multiplexed, Decoded, Entry, Stream};

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/logfile/", $name))
    };
}

fn json_entries(file: &[u8]) -> Vec<Entry> {
    let (mut arena, mut stamps) = (BytesMut::new(), Stamps::default());
    file.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            json_file::parse_line(l, &mut arena, &mut stamps)
                .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(l)))
        })
        .collect()
}

fn k8s_entries(file: &[u8]) -> Vec<Entry> {
    let file = Bytes::copy_from_slice(file);
    let mut entries = Vec::new();
    let mut start = 0;
    while let Some(len) = memchr::memchr(b'\n', &file[start..]) {
        let line = file.slice(start..start + len + 1);
        entries.push(k8s_file::parse_line(&line, &mut Stamps::default()).unwrap_or_else(|e| panic!("{e}: {line:?}")));
        start += len + 1;
    }
    entries
}

fn api_entries(wire: &[u8]) -> Vec<Entry> {
    let mut buf = BytesMut::from(wire);
    let mut entries = Vec::new();
    while let Some(decoded) = decode_multiplexed(&mut buf).unwrap() {
        let Decoded::Entry(e) = decoded else { panic!("daemon error in the fixture") };
        entries.push(e);
    }
    assert!(buf.is_empty());
    entries
}

#[test]
fn json_file_entries_equal_what_the_api_served() {
    for (file, api) in [
        (&fixture!("escapes.log")[..], &fixture!("escapes.api")[..]),
        (&fixture!("attrs.log")[..], &fixture!("attrs.api")[..]),
    ] {
        let (from_file, from_api) = (json_entries(file), api_entries(api));
        assert_eq!(from_file.len(), from_api.len());
        for (f, a) in from_file.iter().zip(&from_api) {
            assert_eq!(f, a);
        }
    }
}

#[test]
fn json_file_fixture_holds_the_hard_cases() {
    let entries = json_entries(fixture!("escapes.log"));
    let payloads: Vec<&[u8]> = entries.iter().map(|e| &e.payload[..]).collect();
    assert!(payloads.contains(&&b"invalid \xef\xbf\xbd\xef\xbf\xbd bytes\n"[..]), "invalid UTF-8 as U+FFFD");
    assert!(payloads.contains(&&b"\n"[..]), "an empty line");
    assert_eq!(payloads.last(), Some(&&b"no newline at end"[..]), "output left without a newline");
    let pieces: Vec<&Entry> = entries.iter().filter(|e| e.payload.len() == 16 * 1024).collect();
    assert_eq!(pieces.len(), 1, "a 20,000-byte line is a 16 KiB piece and the rest");
    assert!(entries.iter().any(|e| e.stream == Stream::Stderr));
    // A stamp with 8 fraction digits: Go trims trailing zeros.
    assert!(memchr::memmem::find(fixture!("attrs.log"), b"\"time\":\"2026-11-30T18:45:47.93808806Z\"}").is_some());
}

/// What a container wrote, as lines per stream (the two streams'
/// entries interleave differently in each file): pieces joined, invalid
/// UTF-8 as U+FFFD (json-file stores it so; k8s-file keeps the raw bytes).
fn lines(entries: &[Entry], stream: Stream) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut open = false;
    for e in entries.iter().filter(|e| e.stream == stream) {
        let text = String::from_utf8_lossy(&e.payload).into_owned();
        match out.last_mut() {
            Some(line) if open => line.push_str(&text),
            _ => out.push(text),
        }
        open = !e.payload.ends_with(b"\n");
    }
    out
}

#[test]
fn k8s_file_holds_the_same_lines_as_json_file() {
    // The same script run by dockerd (json-file) and by Podman (k8s-file).
    let k8s = k8s_entries(fixture!("k8s-escapes.log"));
    let json = json_entries(fixture!("escapes.log"));
    for stream in [Stream::Stdout, Stream::Stderr] {
        assert!(lines(&k8s, stream) == lines(&json, stream), "{stream:?} lines differ");
    }
    let pieces = k8s.iter().filter(|e| !e.payload.ends_with(b"\n")).count();
    assert_eq!(pieces, 4, "three 8 KiB pieces of the long line, and the unfinished last line");
    assert!(k8s.iter().any(|e| &e.payload[..] == b"invalid \xff\xfe bytes\n"), "raw bytes kept");
}

#[test]
fn compressed_fixture_carries_moby_s_header_stamp() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/logfile/compressed.log.1.gz");
    let file = std::fs::File::open(path).unwrap();
    let (last_time, isize) = super::files::gz_metadata(&file);
    let mut text = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&file), &mut text).unwrap();
    let entries = json_entries(&text);
    assert_eq!(last_time, Some(entries.last().unwrap().ts_ns), "lastTime is the last entry's stamp");
    assert_eq!(isize, Some(text.len() as u32));
}

#[test]
fn the_format_is_told_by_content_then_by_name() {
    use super::Format;
    use std::path::Path;
    assert_eq!(Format::of_content(&fixture!("escapes.log")[..]), Some(Format::JsonFile));
    assert_eq!(Format::of_content(b"2026-11-30T18:46:08.195901363+00:00 stdout F hi\n"), Some(Format::K8sFile));
    assert_eq!(Format::of_content(b""), None);
    assert_eq!(Format::of_content(b"\x1f\x8b"), None);
    assert_eq!(Format::of_name(Path::new("/var/lib/docker/containers/ab/ab-json.log")), Format::JsonFile);
    assert_eq!(Format::of_name(Path::new("/var/lib/containers/storage/overlay-containers/ab/userdata/ctr.log")), Format::K8sFile);
}
