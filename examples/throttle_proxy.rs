//! Benchmark helper (not a test): a TCP proxy that limits the bandwidth of everything it carries to
//! one figure, as a single link would, so a registry on 127.0.0.1 behaves like one at the end of
//! a 40 MB/s line. Run by `scripts/bench-cold-up.sh`.
//!
//! Usage: `throttle_proxy LISTEN UPSTREAM BYTES_PER_SECOND` (e.g. `127.0.0.1:0 127.0.0.1:5000
//! 40000000`). It prints the address it listens on (one line on stdout), then serves until killed.
//!
//! The limit is shared by all connections and applies to each direction separately (a full-duplex
//! link): every chunk read is given the next free slot on its direction's timeline
//! (`len / rate` long) and written when that slot ends, so four parallel pulls share 40 MB/s
//! between them instead of getting 40 MB/s each.
//!
//! The timeline may lag the clock by up to [`BURST`] (a link's queue): a timer wakes late (tokio's
//! timer ticks in whole milliseconds, and a loaded machine adds more), and without that credit
//! every late wake-up was link time lost for good. Before it, one connection got ~10 MB/s of a
//! "40 MB/s" link (16 KiB per ≥ 1 ms sleep), so the benchmark's link was never what it said. Over
//! any window of `w` seconds a direction carries at most `rate × (w + BURST)` bytes.
//!
//! With `THROTTLE_PROXY_LOG=FILE` it appends, every 100 ms, the time (Unix seconds) and the bytes
//! sent downstream so far, so the benchmark can show when the link was busy.

// A helper of a benchmark script: its address on stdout, its trouble on stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// 16 KiB slices: at 40 MB/s one slot is 0.4 ms, fine enough that a request never waits for a
/// long burst of another connection.
const CHUNK: usize = 16 * 1024;

/// How far the link's timeline may lag the clock (see the header): 20 ms, 800 KB at 40 MB/s.
const BURST: Duration = Duration::from_millis(20);

/// One direction of the link: the instant it is free again, and the bytes it carried.
struct Link {
    free_at: Mutex<Instant>,
    bytes_per_second: f64,
    carried: AtomicU64,
}

impl Link {
    /// When a chunk of `len` bytes, sent now, has crossed the link.
    fn reserve(&self, len: usize) -> Instant {
        let mut free_at = self.free_at.lock().expect("link lock");
        let now = Instant::now();
        let start = (*free_at).max(now.checked_sub(BURST).unwrap_or(now));
        *free_at = start + Duration::from_secs_f64(len as f64 / self.bytes_per_second);
        self.carried.fetch_add(len as u64, Ordering::Relaxed);
        *free_at
    }
}

/// Every 100 ms, `UNIX_SECONDS BYTES` (bytes downstream so far) appended to `path`.
async fn log_bytes(path: String, down: Arc<Link>) {
    use std::io::Write;
    let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    else {
        eprintln!("throttle_proxy: cannot write {path}");
        return;
    };
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tick.tick().await;
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        let _ = writeln!(file, "{t:.3} {}", down.carried.load(Ordering::Relaxed));
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    link: Arc<Link>,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            return to.shutdown().await;
        }
        tokio::time::sleep_until(link.reserve(n)).await;
        to.write_all(&buf[..n]).await?;
    }
}

async fn serve(client: TcpStream, upstream: String, down: Arc<Link>, up: Arc<Link>) {
    let Ok(server) = TcpStream::connect(&upstream).await else {
        eprintln!("throttle_proxy: cannot reach {upstream}");
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let to_server = tokio::spawn(pump(client_read, server_write, up));
    let _ = pump(server_read, client_write, down).await;
    to_server.abort();
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [listen, upstream, rate] = args.as_slice() else {
        anyhow::bail!("usage: throttle_proxy LISTEN UPSTREAM BYTES_PER_SECOND");
    };
    let rate: f64 = rate
        .parse()
        .ok()
        .filter(|r: &f64| *r > 0.0)
        .ok_or_else(|| anyhow::anyhow!("BYTES_PER_SECOND must be a positive number: {rate}"))?;
    let link = || {
        Arc::new(Link {
            free_at: Mutex::new(Instant::now()),
            bytes_per_second: rate,
            carried: AtomicU64::new(0),
        })
    };
    let (down, up) = (link(), link());
    if let Ok(path) = std::env::var("THROTTLE_PROXY_LOG") {
        tokio::spawn(log_bytes(path, down.clone()));
    }
    let listener = TcpListener::bind(listen).await?;
    println!("{}", listener.local_addr()?);
    loop {
        let (client, _) = listener.accept().await?;
        tokio::spawn(serve(client, upstream.clone(), down.clone(), up.clone()));
    }
}
