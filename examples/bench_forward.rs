//! Benchmark (not a test) of onyx's port-forward: HTTP through `onyx::kube::forward` (listener →
//! WebSocket port-forward → the Kubernetes API simulator → a local stand-in nginx) against a
//! direct TCP connection to the same stand-in. Run by `scripts/bench-forward.sh`.
//!
//! Measures, each as the median of several rounds:
//! 1. throughput of one large GET (`/bytes/N`) on a fresh connection;
//! 2. p50 latency of small GETs on one kept-alive connection (the cost the forward adds to every
//!    request of a page);
//! 3. p50 latency of a small GET on a new connection (connect + WebSocket set-up + request).
// A benchmark's results are its stdout.
#![allow(clippy::print_stdout)]

#[path = "../tests/it/support/stand_in_nginx.rs"]
mod stand_in_nginx;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, Patch, PatchParams};
use onyx::kube::forward::{self, ForwardOptions, ForwardTarget};
use onyx::stack::render::{Object, embedded_objects};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> usize {
    // Head, then Content-Length bytes of body.
    buf.clear();
    let mut chunk = vec![0u8; 256 * 1024];
    let (head_end, len) = loop {
        let n = s.read(&mut chunk).await.expect("read");
        assert!(n > 0, "connection closed early");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .expect("content-length");
            break (i + 4, len);
        }
    };
    let mut have = buf.len() - head_end;
    while have < len {
        let n = s.read(&mut chunk).await.expect("read body");
        assert!(n > 0, "body cut short");
        have += n;
    }
    len
}

async fn get(s: &mut TcpStream, path: &str, buf: &mut Vec<u8>) -> usize {
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
        .await
        .expect("write");
    read_response(s, buf).await
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

struct Figures {
    mib_s: f64,
    keepalive_p50_us: f64,
    new_conn_p50_us: f64,
}

async fn measure(addr: SocketAddr, bytes: usize, rounds: usize, requests: usize) -> Figures {
    let mut buf = Vec::with_capacity(1 << 20);
    let mut rates = Vec::new();
    for _ in 0..rounds {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.set_nodelay(true).ok();
        let t = Instant::now();
        let n = get(&mut s, &format!("/bytes/{bytes}"), &mut buf).await;
        assert_eq!(n, bytes);
        rates.push(bytes as f64 / (1024.0 * 1024.0) / t.elapsed().as_secs_f64());
    }
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.set_nodelay(true).ok();
    for _ in 0..20 {
        get(&mut s, "/nginx-health", &mut buf).await;
    }
    let mut lat = Vec::new();
    for _ in 0..requests {
        let t = Instant::now();
        get(&mut s, "/nginx-health", &mut buf).await;
        lat.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let mut fresh = Vec::new();
    for _ in 0..(requests / 5).max(20) {
        let t = Instant::now();
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.set_nodelay(true).ok();
        get(&mut s, "/nginx-health", &mut buf).await;
        fresh.push(t.elapsed().as_secs_f64() * 1e6);
    }
    Figures {
        mib_s: median(rates),
        keepalive_p50_us: median(lat),
        new_conn_p50_us: median(fresh),
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let arg = |i: usize, d: usize| {
        std::env::args()
            .nth(i)
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let mib = arg(1, 256);
    let rounds = arg(2, 5);
    let requests = arg(3, 1000);

    let nginx = stand_in_nginx::StandIn::nginx().await;
    let sim = k8s_sim::Sim::start(k8s_sim::SimConfig::default())
        .await
        .expect("sim");
    onyx::init_tls();
    let client =
        kube::Client::try_from(kube::Config::new(sim.url().parse().expect("url"))).expect("client");
    sim.forward_port(
        k8s_sim::Target::labels("app.kubernetes.io/name=nginx"),
        8080,
        nginx.addr,
    );
    let pp = PatchParams::apply("onyx").force();
    for r in embedded_objects()
        .into_iter()
        .filter(|r| r.service == Some("nginx"))
    {
        match &r.object {
            Object::Service(s) => {
                Api::<Service>::namespaced(client.clone(), "default")
                    .patch("nginx", &pp, &Patch::Apply(s))
                    .await
                    .expect("service");
            }
            Object::Deployment(d) => {
                Api::<Deployment>::namespaced(client.clone(), "default")
                    .patch("nginx", &pp, &Patch::Apply(d))
                    .await
                    .expect("deployment");
            }
            _ => {}
        }
    }
    let pf = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match forward::start(
                client.clone(),
                ForwardTarget::gateway("default"),
                0,
                ForwardOptions::default(),
            )
            .await
            {
                Ok(pf) => return pf,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    })
    .await
    .expect("nginx pod ready within 20 s");

    let bytes = mib * 1024 * 1024;
    let direct = measure(nginx.addr, bytes, rounds, requests).await;
    let through = measure(pf.local_addr(), bytes, rounds, requests).await;
    println!("transfer: {mib} MiB x {rounds} rounds; small GETs: {requests} (keep-alive)");
    println!(
        "direct : {:8.1} MiB/s   p50 keep-alive {:7.1} us   p50 new connection {:7.1} us",
        direct.mib_s, direct.keepalive_p50_us, direct.new_conn_p50_us
    );
    println!(
        "forward: {:8.1} MiB/s   p50 keep-alive {:7.1} us   p50 new connection {:7.1} us",
        through.mib_s, through.keepalive_p50_us, through.new_conn_p50_us
    );
    println!(
        "ratio  : {:.2}x direct throughput; +{:.0} us p50 (keep-alive); +{:.0} us p50 (new connection)",
        through.mib_s / direct.mib_s,
        through.keepalive_p50_us - direct.keepalive_p50_us,
        through.new_conn_p50_us - direct.new_conn_p50_us
    );
}
