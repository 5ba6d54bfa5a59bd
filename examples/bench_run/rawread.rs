//! A reference reader for the CPU figures: one blocking socket, one GET,
//! the body read into a large buffer and thrown away (no HTTP decoding, no
//! frames). With `--pause-us N` it sleeps N µs after every read that did
//! not fill half the buffer, so each read takes many of dockerd's one-frame
//! writes at once: what any reader's kernel cost comes down to when it reads
//! in large pieces.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::capture::Args;
use crate::probe;

const BUFFER_BYTES: usize = 256 * 1024;

pub fn rawread(args: &Args) -> Result<Value, String> {
    let socket = args.text("socket");
    let path = args.text("path");
    let pause = Duration::from_micros(args.optional("pause-us").unwrap_or(0));
    let dockerd: u32 = args.number("dockerd");
    let cpu = || probe::cpu_seconds(std::process::id()).unwrap_or(f64::NAN);
    let dockerd_cpu = || probe::cpu_seconds(dockerd).unwrap_or(f64::NAN);
    let (cpu0, dockerd0) = (cpu(), dockerd_cpu());
    let started = Instant::now();
    let mut conn = UnixStream::connect(&socket).map_err(|e| format!("{socket}: {e}"))?;
    write!(conn, "GET {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n").map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; BUFFER_BYTES];
    let (mut bytes, mut reads) = (0usize, 0u64);
    loop {
        let n = conn.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        bytes += n;
        reads += 1;
        if n < BUFFER_BYTES / 2 && !pause.is_zero() {
            std::thread::sleep(pause);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(json!({
        "bytes": bytes,
        "reads": reads,
        "seconds": seconds,
        "cpu_seconds": cpu() - cpu0,
        "dockerd_cpu_seconds": dockerd_cpu() - dockerd0,
    }))
}
