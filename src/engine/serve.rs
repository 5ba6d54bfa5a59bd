//! The optional `/metrics` listener (`metrics_addr`): a minimal HTTP/1.1
//! responder (one request per connection) on the engine's runtime. Bounded: at most `MAX_CONNECTIONS` at
//! once, each with a deadline; stopped and joined with the engine.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use super::stats::TaskGuard;
use super::shared::Shared;

const MAX_CONNECTIONS: usize = 16;
const CONNECTION_DEADLINE: Duration = Duration::from_secs(5);
const MAX_REQUEST_BYTES: usize = 8 * 1024;

/// Serves `GET /metrics` until shutdown.
pub(super) async fn serve_metrics(listener: TcpListener, shared: Arc<Shared>) {
    let _guard = TaskGuard::new(&shared.stats);
    let mut shutdown = shared.shutdown.clone();
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            _ = shutdown.wait() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                if connections.len() >= MAX_CONNECTIONS {
                    drop(stream); // over the limit: refuse by closing
                    continue;
                }
                let shared = shared.clone();
                let guard = TaskGuard::new(&shared.stats);
                connections.spawn(async move {
                    let _guard = guard;
                    let _ = tokio::time::timeout(CONNECTION_DEADLINE, answer(stream, &shared)).await;
                });
            }
        }
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}

async fn answer(mut stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let mut request = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && !request.windows(2).any(|w| w == b"\n\n") {
        let n = stream.read(&mut chunk).await?;
        if n == 0 || request.len() + n > MAX_REQUEST_BYTES {
            return Ok(());
        }
        request.extend_from_slice(&chunk[..n]);
    }
    let line = request.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    let (status, content_type, body) = match (method, path) {
        ("GET", "/metrics") => ("200 OK", "text/plain; version=0.0.4; charset=utf-8", super::report::metrics_text(shared)),
        ("GET", _) => ("404 Not Found", "text/plain; charset=utf-8", "Not found: try /metrics.\n".to_string()),
        _ => ("405 Method Not Allowed", "text/plain; charset=utf-8", "Only GET is served.\n".to_string()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    if method == "GET" {
        stream.write_all(body.as_bytes()).await?;
    }
    stream.shutdown().await
}
