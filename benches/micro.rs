//! Micro-benchmarks of the capturer's hot path, with std timing only (no
//! criterion: CI builds stay lean). Each case repeats until about
//! `BENCH_SECONDS` (1 s) has passed and prints ns per item and MB/s.
//!
//!     cargo bench --bench micro              # every case
//!     cargo bench --bench micro -- assemble  # cases whose name holds "assemble"
//!
//! Without `--bench` (e.g. `cargo test --benches`) every case runs once, as
//! a check that the harness works.

use std::collections::{BTreeMap, VecDeque};
use std::ffi::CString;
use std::hint::black_box;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use log_capturer::docker::DockerHost;
use log_capturer::docker::{BodyRead, Endpoint};
use log_capturer::record::ContainerMeta;
use log_capturer::ffi::capture_record;
use log_capturer::chain::{Assembler, ChainOptions, Dedup, Line, LineChain};
use log_capturer::frame::{decode_multiplexed, Decoded, Entry, Stream, PIECE_BYTES};
use log_capturer::logfile::json_file::encode_line;
use log_capturer::logfile::{FollowConfig, Follower, Format, LineParser, ReadState, Start};
use log_capturer::multiline::{Event, Grouper, MultilineConfig, Parser};
use log_capturer::position::{Position, Watermark};
use log_capturer::queue::Queue;
use log_capturer::record::Record;

/// Docker's fixed timestamp form, as every frame starts.
const TS: &[u8] = b"2024-05-06T07:08:09.123456789Z";
/// A first timestamp, in ns (2024-05-06T07:08:09Z).
const T0: i64 = 1_714_979_289_000_000_000;
/// Entries per batch in the cases that build batches (`capture_poll` max).
const BATCH: usize = 8192;

struct Harness {
    filter: Vec<String>,
    measure: bool,
    seconds: f64,
}

impl Harness {
    fn from_args() -> Harness {
        let args: Vec<String> = std::env::args().skip(1).collect();
        Harness {
            measure: args.iter().any(|a| a == "--bench"),
            filter: args.into_iter().filter(|a| !a.starts_with('-')).collect(),
            seconds: std::env::var("BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(1.0),
        }
    }

    /// Times `f`, which handles `items` items of `bytes` bytes in all per
    /// call: warms up, sizes the repetitions to about `seconds`, and prints
    /// the per-item time and the throughput.
    fn case(&self, name: &str, items: u64, bytes: u64, mut f: impl FnMut()) -> Option<f64> {
        if !self.filter.is_empty() && !self.filter.iter().any(|p| name.contains(p.as_str())) {
            return None;
        }
        if !self.measure {
            f();
            println!("{name:<60} ok");
            return None;
        }
        let warm = Instant::now();
        let mut calls = 0u64;
        while warm.elapsed() < Duration::from_secs_f64(self.seconds / 10.0) || calls < 2 {
            f();
            calls += 1;
        }
        let per_call = warm.elapsed().as_secs_f64() / calls as f64;
        let reps = ((self.seconds / per_call) as u64).max(1);
        let started = Instant::now();
        for _ in 0..reps {
            f();
        }
        let elapsed = started.elapsed().as_secs_f64();
        let ns = elapsed * 1e9 / (reps * items) as f64;
        let mb = (reps * bytes) as f64 / elapsed / 1e6;
        println!("{name:<60} {ns:>10.1} ns/item {mb:>10.1} MB/s {:>12.0} items/s", 1e9 / ns);
        let _ = std::io::stdout().flush();
        Some(1e9 / ns)
    }
}

/// One multiplexed frame: header, timestamp prefix, payload.
fn frame(kind: u8, ts: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut v = vec![kind, 0, 0, 0];
    v.extend_from_slice(&((ts.len() + 1 + payload.len()) as u32).to_be_bytes());
    v.extend_from_slice(ts);
    v.push(b' ');
    v.extend_from_slice(payload);
    v
}

/// A 100-byte line (99 characters and a newline).
fn line_100() -> Vec<u8> {
    let mut line: Vec<u8> = (0..99).map(|i| b'a' + (i % 26) as u8).collect();
    line.push(b'\n');
    line
}

/// `n` frames of `payload` with Docker's fixed timestamp.
fn wire(n: usize, ts: &[u8], payload: &[u8]) -> Vec<u8> {
    let one = frame(1, ts, payload);
    one.repeat(n)
}

/// Decodes every frame of `wire`, copying it into the buffer first as
/// `Body::drain_buffered` does.
fn decode_all(wire: &[u8]) -> usize {
    let mut buf = BytesMut::with_capacity(wire.len());
    buf.extend_from_slice(wire);
    let mut n = 0;
    while let Some(d) = decode_multiplexed(&mut buf).unwrap() {
        if let Decoded::Entry(e) = d {
            black_box(&e);
            n += 1;
        }
    }
    n
}

/// Entries as the decoder yields them: stdout, increasing timestamps.
fn entries(n: usize, payload: &Bytes, pieces: usize) -> Vec<Entry> {
    let mut out = Vec::with_capacity(n * pieces);
    for i in 0..n {
        let ts = T0 + i as i64 * 1000;
        for p in 0..pieces {
            let last = p + 1 == pieces;
            out.push(Entry {
                stream: Stream::Stdout,
                ts_ns: ts,
                payload: if last || pieces == 1 { payload.clone() } else { Bytes::from(vec![b'p'; PIECE_BYTES]) },
            });
        }
    }
    out
}

/// What the reader's chain does per entry: de-duplicate, lift the other
/// streams' watermarks, assemble.
fn assemble(entries: &[Entry], out: &mut Vec<Line>) {
    let mut position = Position::starting_at(0);
    let options = ChainOptions {
        merge: true,
        max_line_bytes: 1 << 20,
        pieces: Default::default(),
        pieces_share_stamp: true,
        resends_last_line: true,
    };
    let mut chain = LineChain::new(options);
    for e in entries {
        chain.push(&mut position, e.clone(), out);
    }
    black_box(&position);
}

/// Multiline input: `n` lines of 100 bytes (99 and the newline the reader
/// strips) on stdout, every 100th line opening a 10-line Java trace (an
/// exception, frames, a cause, `... N more`); the other lines are ordinary
/// log lines the parsers must look at and pass through.
fn multiline_input(n: usize) -> Vec<Line> {
    let pad = |mut text: String| {
        text.truncate(99);
        while text.len() < 99 {
            text.push('.');
        }
        text
    };
    let trace = [
        "java.lang.IllegalStateException: request 4711 could not be served by the backend pool".to_string(),
        "\tat com.example.shop.checkout.PaymentService.charge(PaymentService.java:214)".to_string(),
        "\tat com.example.shop.checkout.CheckoutController.submit(CheckoutController.java:88)".to_string(),
        "\tat java.base/java.util.concurrent.ThreadPoolExecutor.runWorker(ThreadPoolExecutor.java:1136)".to_string(),
        "\tat java.base/java.util.concurrent.ThreadPoolExecutor$Worker.run(ThreadPoolExecutor.java:635)".to_string(),
        "\tat java.base/java.lang.Thread.run(Thread.java:833)".to_string(),
        "Caused by: java.net.SocketTimeoutException: Read timed out after 30000 ms on 10.0.0.12".to_string(),
        "\tat java.base/sun.nio.ch.NioSocketImpl.timedRead(NioSocketImpl.java:288)".to_string(),
        "\tat com.example.shop.net.BackendClient.call(BackendClient.java:51)".to_string(),
        "\t... 5 more".to_string(),
    ];
    let mut text = Vec::with_capacity(n * 99);
    let mut spans = Vec::with_capacity(n);
    for i in 0..n {
        let k = i % 100;
        let line = if k >= 90 {
            pad(trace[k - 90].clone())
        } else {
            pad(format!(
                "2024-05-06 07:08:09.{:03} INFO  [worker-{}] c.e.shop.Api - request {i} handled in 3 ms",
                i % 1000,
                i % 8
            ))
        };
        spans.push((text.len(), line.len()));
        text.extend_from_slice(line.as_bytes());
    }
    let text = Bytes::from(text);
    spans
        .into_iter()
        .enumerate()
        .map(|(i, (at, len))| Line {
            stream: Stream::Stdout,
            ts_ns: T0 + i as i64 * 1000,
            count: 1,
            first_count: 1,
            message: text.slice(at..at + len),
            flags: 0,
        })
        .collect()
}

/// Pushes every line through a fresh grouper, as a reader would (one
/// `now` per read, here per 1,024 lines), then finishes; returns the
/// number of events.
fn group_all(config: Option<MultilineConfig>, lines: &[Line], out: &mut Vec<Event>) -> usize {
    let mut grouper = Grouper::new(config, 1 << 20);
    let mut events = 0;
    for chunk in lines.chunks(1024) {
        let now = Instant::now();
        for line in chunk {
            grouper.push(line.clone(), now, out);
        }
        grouper.flush_due(now, out);
        events += out.len();
        black_box(&out);
        out.clear();
    }
    grouper.finish(out);
    events += out.len();
    out.clear();
    events
}

fn meta() -> Arc<ContainerMeta> {
    Arc::new(ContainerMeta {
        id: CString::new("3f6a".repeat(16)).unwrap(),
        name: CString::new("bench-container").unwrap(),
        image: CString::new("log-capturer-test/busybox:latest").unwrap(),
        labels: BTreeMap::new(),
        created_ns: T0,
        tty: false,
        log_driver: "json-file".into(),
        log_rotates: false,
        log_max_size: 0,
    })
}

/// The records `Reader::deliver` makes of lines.
fn records(meta: &Arc<ContainerMeta>, lines: &[Line]) -> VecDeque<Record> {
    lines
        .iter()
        .map(|line| Record {
            container: meta.clone(),
            stream: line.stream,
            ts_ns: line.ts_ns,
            mark: Watermark { ts_ns: line.ts_ns, count: line.count },
            flags: line.flags,
            message: line.message.clone(),
        })
        .collect()
}

/// The record views `capture_poll` builds for the host.
fn views(records: &[Record]) -> (Vec<capture_record>, usize) {
    let mut message_bytes = 0;
    let views = records
        .iter()
        .map(|r| {
            message_bytes += r.message.len();
            capture_record {
                container_id: r.container.id.as_ptr(),
                container_name: r.container.name.as_ptr(),
                container_image: r.container.image.as_ptr(),
                message: r.message.as_ptr(),
                message_len: r.message.len(),
                timestamp_ns: r.ts_ns,
                stream: r.stream as u32,
                flags: r.flags,
            }
        })
        .collect();
    (views, message_bytes)
}

/// A server on a unix socket that answers every connection with `body`
/// as dockerd does: chunked, one chunk per frame.
fn serve_chunked(frames: Vec<Vec<u8>>) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("log-capturer-micro-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let mut response =
        b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    for f in &frames {
        response.extend_from_slice(format!("{:x}\r\n", f.len()).as_bytes());
        response.extend_from_slice(f);
        response.extend_from_slice(b"\r\n");
    }
    response.extend_from_slice(b"0\r\n\r\n");
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { break };
            let response = response.clone();
            std::thread::spawn(move || {
                use std::io::Read;
                let mut head = [0u8; 4096];
                let _ = conn.read(&mut head);
                let _ = conn.write_all(&response);
            });
        }
    });
    path
}

fn main() {
    let h = Harness::from_args();
    let line = line_100();

    // Frame decoding: 100-byte lines, and 16 KiB pieces.
    let lines_wire = wire(BATCH, TS, &line);
    h.case("decode_multiplexed, 100-byte lines", BATCH as u64, lines_wire.len() as u64, || {
        assert_eq!(decode_all(&lines_wire), BATCH);
    });
    let piece = vec![b'x'; PIECE_BYTES];
    let pieces_wire = wire(256, TS, &piece);
    h.case("decode_multiplexed, 16 KiB pieces", 256, pieces_wire.len() as u64, || {
        assert_eq!(decode_all(&pieces_wire), 256);
    });

    // Timestamps: the fixed fast path (through the decoder, 1-byte
    // payloads so the timestamp dominates) and the general parser.
    let tiny_fixed = wire(BATCH, TS, b"\n");
    h.case("timestamp: fixed fast path via decode_multiplexed", BATCH as u64, tiny_fixed.len() as u64, || {
        assert_eq!(decode_all(&tiny_fixed), BATCH);
    });
    let tiny_general = wire(BATCH, b"2024-05-06T07:08:09.1234Z", b"\n");
    h.case("timestamp: general path via decode_multiplexed", BATCH as u64, tiny_general.len() as u64, || {
        assert_eq!(decode_all(&tiny_general), BATCH);
    });
    let stamps: Vec<&[u8]> = vec![
        b"2024-05-06T07:08:09.123456789Z",
        b"2024-05-06T09:08:09.123456789+02:00",
        b"2024-05-06T07:08:09Z",
        b"2024-05-06T07:08:09.5Z",
    ];
    h.case(
        "timestamp: parse_rfc3339 (4 forms)",
        stamps.len() as u64,
        stamps.iter().map(|s| s.len() as u64).sum(),
        || {
            for s in &stamps {
                black_box(log_capturer::timestamp::parse_rfc3339(black_box(s)).unwrap());
            }
        },
    );

    // Partial merge and de-duplication, per entry.
    let short = entries(BATCH, &Bytes::from(line.clone()), 1);
    let mut out = Vec::with_capacity(BATCH);
    h.case("assemble: dedup + lift + accept, 100-byte lines", BATCH as u64, (BATCH * line.len()) as u64, || {
        out.clear();
        assemble(&short, &mut out);
        assert_eq!(out.len(), BATCH);
    });
    // 50,000-byte lines: three 16 KiB pieces and the rest, merged.
    let rest = {
        let mut v = vec![b'r'; 50_000 - 3 * PIECE_BYTES];
        v.push(b'\n');
        Bytes::from(v)
    };
    let long = entries(64, &rest, 4);
    h.case("assemble: merge 16 KiB pieces into 50 KB lines (per piece)", long.len() as u64, 64 * 50_001, || {
        out.clear();
        assemble(&long, &mut out);
        assert_eq!(out.len(), 64);
    });

    // Batch building: lines → records → queue → capture_poll's views.
    let meta = meta();
    let mut lines = Vec::with_capacity(BATCH);
    assemble(&short, &mut lines);
    h.case("batch: capture_record views of 8192 records (per record)", BATCH as u64, (BATCH * 99) as u64, || {
        let records: Vec<Record> = records(&meta, &lines).into();
        let (views, bytes) = views(&records);
        black_box((&views, bytes));
    });
    let queue = Queue::new(65_536, 64 << 20);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    h.case(
        "batch: records → Queue::push_all → pop → views (per record)",
        BATCH as u64,
        (BATCH * 99) as u64,
        || {
            let mut pending = records(&meta, &lines);
            runtime.block_on(queue.push_all(&mut pending, |_| {})).unwrap();
            let taken = queue.pop(BATCH, Duration::ZERO).unwrap();
            let (views, bytes) = views(&taken);
            assert_eq!(views.len(), BATCH);
            black_box(bytes);
        },
    );

    // Multiline grouping of 1M 100-byte lines, a 10-line Java trace every
    // 100: the java parser next to the stage off (every line an event).
    let n = 1_000_000;
    let input = multiline_input(n);
    let mut events = Vec::with_capacity(1024);
    h.case("multiline: off (pass-through), 1M 100-byte lines (per line)", n as u64, (n * 99) as u64, || {
        assert_eq!(group_all(None, &input, &mut events), n);
    });
    let java = MultilineConfig::parser(Parser::Java);
    h.case("multiline: java parser, a trace every 100 lines (per line)", n as u64, (n * 99) as u64, || {
        assert_eq!(group_all(Some(java.clone()), &input, &mut events), n - n / 100 * 9);
    });
    for parser in [Parser::Python, Parser::Go] {
        let config = MultilineConfig::parser(parser);
        let name = format!("multiline: {} parser, same lines (nothing to group)", parser.name());
        h.case(&name, n as u64, (n * 99) as u64, || {
            assert_eq!(group_all(Some(config.clone()), &input, &mut events), n);
        });
    }
    let patterns = MultilineConfig::from_json(
        r#"{"start_pattern": "^\\S", "condition_pattern": "^\\s", "mode": "continue_through"}"#,
    )
    .unwrap()
    .unwrap();
    h.case("multiline: start/condition patterns, continue_through (per line)", n as u64, (n * 99) as u64, || {
        // Every unindented line opens an event: a trace is two, the
        // exception with its frames and `Caused by` with its own.
        assert_eq!(group_all(Some(patterns.clone()), &input, &mut events), n - n / 100 * 8);
    });

    // The client's whole path on a local socket, without the daemon:
    // HTTP/1.1 chunked body → frames → dedup/assemble.
    let frames: Vec<Vec<u8>> = (0..BATCH * 8).map(|_| frame(1, TS, &line)).collect();
    let total_bytes: usize = frames.iter().map(Vec::len).sum();
    let socket = serve_chunked(frames);
    let endpoint = Endpoint::new(DockerHost::Unix(socket.clone()));
    h.case("client path: unix socket, chunked body, decode, assemble", (BATCH * 8) as u64, total_bytes as u64, || {
        runtime.block_on(async {
            let mut response = endpoint.get("/logs", Duration::from_secs(10)).await.unwrap();
            let mut buf = BytesMut::with_capacity(64 * 1024);
            let mut position = Position::starting_at(0);
            let mut dedup = Dedup::default();
            let mut assembler = Assembler::new(true, 1 << 20);
            let mut out = Vec::with_capacity(1024);
            let mut n = 0;
            loop {
                let end = response.body.read(&mut buf).await.unwrap() == BodyRead::End;
                while let Some(Decoded::Entry(e)) = decode_multiplexed(&mut buf).unwrap() {
                    // Every frame has the same stamp here: count it as new.
                    let (k, _) = dedup.check(&position, e.stream, e.ts_ns);
                    assembler.accept(&mut position, e, k, &mut out);
                    n += out.len();
                    out.clear();
                }
                if end {
                    break;
                }
            }
            assert_eq!(n, BATCH * 8);
        });
    });
    let _ = std::fs::remove_file(socket);

    logfile_cases(&h, &line);
}

/// A container's log file as dockerd or conmon writes it: `n` entries of
/// `payload`, 1 µs apart.
fn write_log(path: &std::path::Path, format: Format, n: usize, payload: &[u8]) -> u64 {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let mut line = Vec::with_capacity(256);
    let mut bytes = 0;
    for i in 0..n {
        line.clear();
        let ts = log_capturer::timestamp::format_rfc3339(T0 + i as i64 * 1000);
        match format {
            Format::JsonFile => encode_line(Stream::Stdout, &ts, payload, &mut line),
            Format::K8sFile => {
                line.extend_from_slice(ts.replace('Z', "+00:00").as_bytes());
                line.extend_from_slice(b" stdout F ");
                line.extend_from_slice(payload);
            }
        }
        out.write_all(&line).unwrap();
        bytes += line.len() as u64;
    }
    out.flush().unwrap();
    bytes
}

/// The log-file source (issue #14): parsers per line, then the follower
/// over a whole 1M-line file next to `cat` of the same file, and the
/// follower feeding the engine's de-duplication and merge.
fn logfile_cases(h: &Harness, line: &[u8]) {
    let n: usize = std::env::var("LOGFILE_LINES").ok().and_then(|s| s.parse().ok()).unwrap_or(if h.measure {
        1_000_000
    } else {
        10_000
    });
    let root = std::env::temp_dir().join(format!("log-capturer-micro-logfile-{}", std::process::id()));
    let dir = root.join("containers/c");
    std::fs::create_dir_all(&dir).unwrap();

    // Per line, from memory.
    let mut json_lines = Vec::new();
    let mut k8s_lines = Vec::new();
    for (format, lines) in [(Format::JsonFile, &mut json_lines), (Format::K8sFile, &mut k8s_lines)] {
        let path = dir.join("sample.log");
        write_log(&path, format, BATCH, line);
        *lines = std::fs::read(&path).unwrap();
    }
    for (format, lines) in [(Format::JsonFile, json_lines), (Format::K8sFile, k8s_lines)] {
        let lines = Bytes::from(lines);
        let mut parser = LineParser::new(format);
        let name = format!("logfile: LineParser::parse, {}, 100-byte lines", format.name());
        h.case(&name, BATCH as u64, lines.len() as u64, || {
            let (mut start, mut n) = (0, 0);
            while let Some(len) = memchr::memchr(b'\n', &lines[start..]) {
                black_box(parser.parse(&lines, start, start + len + 1).unwrap());
                start += len + 1;
                n += 1;
            }
            assert_eq!(n, BATCH);
        });
    }

    // A whole file: `cat` (the reference), the follower, the follower
    // feeding the engine's per-entry work.
    for format in [Format::JsonFile, Format::K8sFile] {
        let path = dir.join(if format == Format::JsonFile { "c-json.log" } else { "ctr.log" });
        let bytes = write_log(&path, format, n, line);
        let label = format!("{} of {n} lines ({} MB)", format.name(), bytes / 1_000_000);
        let cat = h.case(&format!("logfile: cat > /dev/null, {label}"), n as u64, bytes, || {
            let status =
                std::process::Command::new("cat").arg(&path).stdout(std::process::Stdio::null()).status().unwrap();
            assert!(status.success());
        });
        let config = FollowConfig {
            format,
            root: root.clone(),
            log_path: path.clone(),
            tty: false,
            order_slack_ns: 100_000_000,
            poll_interval: Duration::from_millis(100),
            inotify: true,
        };
        let follow = h.case(&format!("logfile: Follower::read_batch(4 MiB), {label}"), n as u64, bytes, || {
            let (mut follower, _) = Follower::open(&config, Start::Since(i64::MIN)).unwrap();
            let mut count = 0;
            loop {
                let batch = follower.read_batch(4 << 20).unwrap();
                count += batch.entries.len();
                if batch.state != ReadState::More {
                    break;
                }
            }
            assert_eq!(count, n);
        });
        let mut out = Vec::with_capacity(BATCH);
        let whole = h.case(&format!("logfile: follower + dedup + assemble, {label}"), n as u64, bytes, || {
            let (mut follower, _) = Follower::open(&config, Start::Since(i64::MIN)).unwrap();
            let mut position = Position::starting_at(0);
            let mut dedup = Dedup::default();
            let mut assembler = Assembler::new(true, 1 << 20);
            let mut count = 0;
            loop {
                let batch = follower.read_batch(4 << 20).unwrap();
                for e in batch.entries {
                    let (k, new) = dedup.check(&position, e.stream, e.ts_ns);
                    assembler.lift_others(&mut position, e.stream, e.ts_ns);
                    if new {
                        assembler.accept(&mut position, e, k, &mut out);
                    }
                    count += out.len();
                    out.clear();
                }
                if batch.state != ReadState::More {
                    break;
                }
            }
            assert_eq!(count, n);
        });
        if let (Some(cat), Some(follow), Some(whole)) = (cat, follow, whole) {
            println!(
                "{:<60} follower {:.2}× cat's lines/s, with dedup + assemble {:.2}×",
                format!("logfile: ratio, {}", format.name()),
                follow / cat,
                whole / cat
            );
        }
    }
    let _ = std::fs::remove_dir_all(&root);
}
