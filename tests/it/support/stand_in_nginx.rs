//! A stand-in for the stack's nginx on 127.0.0.1 (tokio, HTTP/1.1 with keep-alive), for the
//! port-forward tests and benchmark: `/nginx-health` answers `ok` like the real gateway's
//! location, `/bytes/N` answers N bytes (transfers), anything else 404. Requests are counted.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct StandIn {
    pub addr: SocketAddr,
    requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl StandIn {
    /// Answers like nginx's `/nginx-health` location.
    pub async fn nginx() -> StandIn {
        Self::start("ok\n").await
    }

    /// Answers `health_body` on `/nginx-health` (to play something that is not nginx).
    pub async fn start(health_body: &'static str) -> StandIn {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                let _ = s.set_nodelay(true);
                let counter = counter.clone();
                tokio::spawn(async move {
                    let _ = serve(s, health_body, &counter).await;
                });
            }
        });
        StandIn {
            addr,
            requests,
            task,
        }
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

async fn serve(mut s: TcpStream, health: &str, counter: &AtomicUsize) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 4096];
    loop {
        // Read one request head (no bodies in these tests).
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = s.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        buf.drain(..end);
        counter.fetch_add(1, Ordering::SeqCst);
        let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
        let close = head.to_ascii_lowercase().contains("connection: close");
        let (status, body): (&str, Vec<u8>) = if path == "/nginx-health" {
            ("200 OK", health.as_bytes().to_vec())
        } else if let Some(n) = path.strip_prefix("/bytes/") {
            match n.parse::<usize>() {
                Ok(n) => ("200 OK", vec![b'x'; n]),
                Err(_) => ("400 Bad Request", b"bad size\n".to_vec()),
            }
        } else {
            ("404 Not Found", b"not found\n".to_vec())
        };
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}\r\n",
            body.len(),
            if close { "Connection: close\r\n" } else { "" }
        );
        s.write_all(head.as_bytes()).await?;
        s.write_all(&body).await?;
        if close {
            s.shutdown().await?;
            return Ok(());
        }
    }
}
