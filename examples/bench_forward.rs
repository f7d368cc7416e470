//! Benchmark (not a test) of onyx's port-forward against kubectl's, one run: HTTP to a real nginx
//! (started by `scripts/bench-forward.sh`, `sendfile on`) as the nginx pod's server behind the
//! Kubernetes API simulator, reached three ways:
//! - **direct**: a TCP connection to nginx;
//! - **onyx**: `onyx::kube::forward` (listener → kube-rs WebSocket v4 port-forward → simulator);
//! - **kubectl**: `kubectl port-forward svc/nginx 0:80` (SPDY/3.1 in a WebSocket → simulator).
//!
//! Measures, each the median of several rounds:
//! 1. throughput of one large GET on a fresh connection;
//! 2. p50 latency of small GETs on one kept-alive connection;
//! 3. p50 latency of a small GET on a new connection (connect + stream set-up + request).
//!
//! Environment: `BENCH_NGINX` (host:port of nginx), `BENCH_LARGE` and `BENCH_SMALL` (paths of the
//! large and the small file), `ONYX_KUBECTL` (else `kubectl` on PATH).
// A benchmark's results are its stdout.
#![allow(clippy::print_stdout, clippy::print_stderr)]

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

async fn measure(
    addr: SocketAddr,
    large: &str,
    small: &str,
    rounds: usize,
    requests: usize,
) -> Figures {
    let mut buf = Vec::with_capacity(1 << 20);
    let mut rates = Vec::new();
    for _ in 0..rounds {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.set_nodelay(true).ok();
        let t = Instant::now();
        let n = get(&mut s, large, &mut buf).await;
        assert!(n > 0, "{large} is empty");
        rates.push(n as f64 / (1024.0 * 1024.0) / t.elapsed().as_secs_f64());
    }
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.set_nodelay(true).ok();
    for _ in 0..20 {
        get(&mut s, small, &mut buf).await;
    }
    let mut lat = Vec::new();
    for _ in 0..requests {
        let t = Instant::now();
        get(&mut s, small, &mut buf).await;
        lat.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let mut fresh = Vec::new();
    for _ in 0..(requests / 5).max(20) {
        let t = Instant::now();
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.set_nodelay(true).ok();
        get(&mut s, small, &mut buf).await;
        fresh.push(t.elapsed().as_secs_f64() * 1e6);
    }
    Figures {
        mib_s: median(rates),
        keepalive_p50_us: median(lat),
        new_conn_p50_us: median(fresh),
    }
}

/// Starts `kubectl port-forward svc/nginx 0:80` against the simulator; returns the process and
/// its local address (client-go `tools/portforward/portforward.go`: "Forwarding from A -> P").
async fn kubectl_forward(kubeconfig: &std::path::Path) -> (tokio::process::Child, SocketAddr) {
    use tokio::io::AsyncBufReadExt;
    let bin = std::env::var_os("ONYX_KUBECTL").unwrap_or_else(|| "kubectl".into());
    let mut child = tokio::process::Command::new(&bin)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args([
            "port-forward",
            "--address",
            "127.0.0.1",
            "svc/nginx",
            "0:80",
        ])
        .env_remove("KUBECONFIG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("running {bin:?}: {e}"));
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let addr = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(l)) = lines.next_line().await {
            if let Some(a) = l
                .strip_prefix("Forwarding from ")
                .and_then(|r| r.split(" -> ").next())
                .and_then(|a| a.parse().ok())
            {
                return a;
            }
        }
        panic!("kubectl port-forward ended before listening");
    })
    .await
    .expect("kubectl port-forward listening within 30 s");
    // Keep reading its "Handling connection" lines so the pipe never fills.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, addr)
}

fn row(name: &str, f: &Figures, direct: &Figures) {
    println!(
        "{name:<8} {:9.1} MiB/s ({:4.2}x direct)   p50 keep-alive {:7.1} us (+{:5.0})   p50 new connection {:7.1} us (+{:5.0})",
        f.mib_s,
        f.mib_s / direct.mib_s,
        f.keepalive_p50_us,
        f.keepalive_p50_us - direct.keepalive_p50_us,
        f.new_conn_p50_us,
        f.new_conn_p50_us - direct.new_conn_p50_us
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let arg = |i: usize, d: usize| {
        std::env::args()
            .nth(i)
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let rounds = arg(1, 5);
    let requests = arg(2, 1000);
    let nginx: SocketAddr = std::env::var("BENCH_NGINX")
        .expect(
            "BENCH_NGINX=host:port of the nginx to measure (scripts/bench-forward.sh starts one)",
        )
        .parse()
        .expect("BENCH_NGINX is host:port");
    let large = std::env::var("BENCH_LARGE").unwrap_or_else(|_| "/large.bin".into());
    let small = std::env::var("BENCH_SMALL").unwrap_or_else(|_| "/small.txt".into());

    let sim = k8s_sim::Sim::start(k8s_sim::SimConfig::default())
        .await
        .expect("sim");
    onyx::init_tls();
    let client =
        kube::Client::try_from(kube::Config::new(sim.url().parse().expect("url"))).expect("client");
    sim.forward_port(
        k8s_sim::Target::labels("app.kubernetes.io/name=nginx"),
        8080,
        nginx,
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
    let dir = std::env::temp_dir().join(format!("bench-forward-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let kubeconfig = dir.join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).expect("kubeconfig");
    let (_kubectl, kubectl_addr) = kubectl_forward(&kubeconfig).await;

    // Alternate the three per round so load on the machine falls on each alike.
    let mut all: [Vec<Figures>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for _ in 0..rounds {
        for (i, addr) in [nginx, pf.local_addr(), kubectl_addr]
            .into_iter()
            .enumerate()
        {
            all[i].push(measure(addr, &large, &small, 1, requests).await);
        }
    }
    let pick = |v: &Vec<Figures>| Figures {
        mib_s: median(v.iter().map(|f| f.mib_s).collect()),
        keepalive_p50_us: median(v.iter().map(|f| f.keepalive_p50_us).collect()),
        new_conn_p50_us: median(v.iter().map(|f| f.new_conn_p50_us).collect()),
    };
    let [direct, onyx, kubectl] = [pick(&all[0]), pick(&all[1]), pick(&all[2])];
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "large GET {large}; small GET {small} x {requests} (keep-alive) and x {} (new connections); {rounds} rounds, medians",
        (requests / 5).max(20)
    );
    row("direct", &direct, &direct);
    row("onyx", &onyx, &direct);
    row("kubectl", &kubectl, &direct);
    println!(
        "onyx / kubectl: throughput {:.2}x; p50 keep-alive {:.2}x; p50 new connection {:.2}x (latency: lower is better)",
        onyx.mib_s / kubectl.mib_s,
        onyx.keepalive_p50_us / kubectl.keepalive_p50_us,
        onyx.new_conn_p50_us / kubectl.new_conn_p50_us
    );
}
