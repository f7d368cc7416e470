//! The gateway's nginx.conf, run by real nginx.
//!
//! Routing mistakes in that file (a prefix not stripped, a chat stream held back in a buffer, an
//! upload cap) only show when nginx itself runs it, so these tests start the nginx installed on the
//! machine with the exact text `onyx render` ships in the `onyx-nginx` ConfigMap, in front of two
//! stand-in servers (API and web) on 127.0.0.1, and check what each side sees.
//!
//! Only the machine-specific parts are swapped: upstream hosts, the listen address, the /tmp paths
//! and the /dev/std* log targets. Each swap is counted, so a change to the config can't quietly
//! turn these tests into tests of something else.
//!
//! Without nginx they print `SKIPPED: <test>: nginx …` and count as skipped
//! (tests/it/support/gate.rs), unless `ONYX_REQUIRE_REAL=1` or `CI=true` says no real part may be
//! missing: then they fail.
//!
//! This file: finding nginx, the config under test, the gateway (nginx in front of the
//! stand-ins) and the tests; `upstream` holds the stand-in servers, `client` the browser's side.

use crate::support::bounded::{BOUND, Bounded};

use std::env;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use onyx::stack::catalog::NGINX_CONF;
use onyx::stack::profile::{self, ProfileName};
use onyx::stack::render::{self, Object, RenderOptions};
use tempfile::TempDir;

mod client;
mod upstream;

use client::*;
use upstream::*;

/// Upper bound for anything that waits (readiness, a read, a stream gate): generous, so a slow
/// machine passes, but bounded, so a broken gateway fails instead of hanging.
const TIMEOUT: Duration = Duration::from_secs(10);

// ------------------------------------------------------------------------------------------------
// Finding nginx, or skipping

fn find_nginx() -> Option<PathBuf> {
    let debian = Path::new("/usr/sbin/nginx");
    if debian.is_file() {
        return Some(debian.to_path_buf());
    }
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|dir| dir.join("nginx"))
        .find(|candidate| candidate.is_file())
}

/// The nginx binary; `None` (after a visible SKIPPED line) when there is none and skipping is
/// allowed. Under `ONYX_REQUIRE_REAL=1` or `CI=true` a missing nginx is a failure.
fn nginx_or_skip() -> Option<PathBuf> {
    if let Some(nginx) = find_nginx() {
        return Some(nginx);
    }
    // The one gate (support/gate.rs): fails under CI, else a counted SKIPPED line.
    crate::support::skip_or_fail(
        "nginx (Debian's nginx-light; looked at /usr/sbin/nginx and PATH)",
    );
    None
}

// ------------------------------------------------------------------------------------------------
// The config under test

/// The nginx.conf that `onyx render` puts into the `onyx-nginx` ConfigMap, checked to be the
/// library's embedded `NGINX_CONF`.
fn shipped_conf() -> String {
    let opts = RenderOptions {
        profile: profile::profile(ProfileName::Small),
        namespace: None,
        web_url: "http://localhost:3000".into(),
        credentials: None,
        gateway_node_port: None,
        indexing: onyx::stack::indexing::Indexing::default_for(ProfileName::Small),
    };
    let rendered = render::render(&opts);
    let configmaps: Vec<_> = rendered
        .iter()
        .filter_map(|r| match &r.object {
            Object::ConfigMap(cm) if cm.metadata.name.as_deref() == Some("onyx-nginx") => Some(cm),
            _ => None,
        })
        .collect();
    assert_eq!(
        configmaps.len(),
        1,
        "render must emit exactly one onyx-nginx ConfigMap"
    );
    let conf = configmaps[0]
        .data
        .as_ref()
        .and_then(|data| data.get("nginx.conf"))
        .expect("onyx-nginx ConfigMap has no nginx.conf key");
    assert_eq!(
        conf, NGINX_CONF,
        "the ConfigMap must carry the embedded nginx.conf verbatim"
    );
    conf.clone()
}

/// `text` with every `from` replaced by `to`, after checking `from` occurs exactly `expected` times.
fn replace_counted(text: &str, from: &str, to: &str, expected: usize) -> String {
    let found = text.matches(from).count();
    assert_eq!(
        found, expected,
        "nginx.conf should contain {from:?} {expected} time(s), found {found}: the config changed, \
         so update this test's adaptation (and check the test still means something)"
    );
    text.replace(from, to)
}

/// The shipped config with its machine-specific parts pointed at this test's ports and directory.
fn adapt(conf: &str, dir: &Path, listen: u16, api: SocketAddr, web: SocketAddr) -> String {
    let dir = dir.display();
    let conf = replace_counted(conf, "server api-server:8080", &format!("server {api}"), 1);
    let conf = replace_counted(&conf, "server web-server:3000", &format!("server {web}"), 1);
    let conf = replace_counted(
        &conf,
        "listen 8080",
        &format!("listen 127.0.0.1:{listen}"),
        1,
    );
    // pid and the five *_temp_path directives.
    let conf = replace_counted(&conf, "/tmp/", &format!("{dir}/"), 6);
    let conf = replace_counted(&conf, "/dev/stdout", &format!("{dir}/access.log"), 1);
    replace_counted(&conf, "/dev/stderr", &format!("{dir}/error.log"), 1)
}

/// A port that was free a moment ago (nginx binds it itself).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// A prefix directory for one nginx run.
fn prefix_dir() -> TempDir {
    let dir = tempfile::tempdir().expect("create temp dir");
    // Run as root, nginx's workers drop to `nobody`; they must be able to reach the temp paths
    // nginx creates (and chowns to them) inside this directory. tempfile makes it 0700.
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod temp dir");
    dir
}

fn nginx_command(nginx: &Path, dir: &Path, conf: &Path) -> Command {
    let mut cmd = Command::new(nginx);
    // -e: the log nginx writes to before it has read the config; keep it off /var/log.
    cmd.arg("-p")
        .arg(dir)
        .arg("-e")
        .arg(dir.join("startup-error.log"))
        .arg("-c")
        .arg(conf);
    cmd
}

fn read_or_empty(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

// ------------------------------------------------------------------------------------------------
// The gateway: nginx in front of the two stand-ins

/// A running nginx, stopped when dropped.
struct NginxGuard {
    child: Child,
    /// `nginx -s stop` for this instance (it signals the pid in the instance's pid file).
    stop: Command,
}

impl Drop for NginxGuard {
    fn drop(&mut self) {
        // Ask the master to stop (SIGTERM): it takes its workers down with it. Child::kill is
        // SIGKILL, which would leave the workers running, orphaned, on the port; it is only the
        // fallback.
        let asked = self
            .stop
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        let deadline = Instant::now() + TIMEOUT;
        while asked && Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(None) => thread::sleep(Duration::from_millis(20)),
                Ok(Some(_)) | Err(_) => return,
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// nginx running the shipped config in front of the stand-ins. Fields drop in order: nginx
/// first, then the stand-ins, then its directory.
struct Gateway {
    nginx: NginxGuard,
    port: u16,
    api: StandIn,
    web: StandIn,
    dir: TempDir,
}

impl Gateway {
    /// Start one, or `None` when the test is skipped.
    fn start() -> Option<Gateway> {
        let nginx = nginx_or_skip()?;
        let api = StandIn::start("api");
        let web = StandIn::start("web");
        let dir = prefix_dir();
        let port = free_port();
        let conf_path = dir.path().join("nginx.conf");
        let conf = adapt(&shipped_conf(), dir.path(), port, api.addr, web.addr);
        fs::write(&conf_path, conf).expect("write nginx.conf");

        let mut cmd = nginx_command(&nginx, dir.path(), &conf_path);
        cmd.stdin(Stdio::null())
            .stdout(File::create(dir.path().join("nginx.stdout")).expect("stdout file"))
            .stderr(File::create(dir.path().join("nginx.stderr")).expect("stderr file"));
        let child = cmd.spawn().expect("start nginx");
        let mut stop = nginx_command(&nginx, dir.path(), &conf_path);
        stop.args(["-s", "stop"]);
        let mut gateway = Gateway {
            nginx: NginxGuard { child, stop },
            port,
            api,
            web,
            dir,
        };
        gateway.wait_ready();
        Some(gateway)
    }

    /// Poll /nginx-health until it answers 200, for at most [`TIMEOUT`].
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.nginx.child.try_wait().expect("poll nginx") {
                panic!("nginx exited early ({status}):\n{}", self.logs());
            }
            if let Ok(r) = try_request(self.port, "GET", "/nginx-health", &[], &[])
                && r.status == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "nginx did not answer /nginx-health within {TIMEOUT:?}:\n{}",
                self.logs()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// nginx's own output, for failure messages.
    fn logs(&self) -> String {
        ["startup-error.log", "error.log", "nginx.stderr"]
            .iter()
            .map(|f| format!("--- {f}:\n{}", read_or_empty(&self.dir.path().join(f))))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

// ------------------------------------------------------------------------------------------------
// Tests

#[test]
fn rendered_configmap_carries_the_embedded_config() {
    // shipped_conf() asserts the ConfigMap's nginx.conf equals NGINX_CONF; this runs without nginx.
    let conf = shipped_conf();
    assert!(
        conf.contains("daemon off;"),
        "nginx must stay in the foreground in its container"
    );
}

#[test]
fn nginx_accepts_the_config() {
    let Some(nginx) = nginx_or_skip() else { return };
    let dir = prefix_dir();
    let api: SocketAddr = "127.0.0.1:1".parse().unwrap();
    let web: SocketAddr = "127.0.0.1:2".parse().unwrap();
    let conf = adapt(&shipped_conf(), dir.path(), free_port(), api, web);
    let conf_path = dir.path().join("nginx.conf");
    fs::write(&conf_path, conf).expect("write nginx.conf");

    let out = nginx_command(&nginx, dir.path(), &conf_path)
        .arg("-t")
        .output_within(BOUND)
        .expect("run nginx -t");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "nginx -t rejected the config ({}):\n{stderr}",
        out.status
    );
    assert!(
        stderr.contains("test is successful"),
        "nginx -t said:\n{stderr}"
    );
}

#[test]
fn api_paths_reach_the_api_with_the_prefix_stripped() {
    let Some(gw) = Gateway::start() else { return };

    for (sent, expected) in [
        ("/api/chat/x", "/chat/x"),
        ("/openapi.json", "/openapi.json"),
        ("/api/chat/x?session=1&q=a%20b", "/chat/x?session=1&q=a%20b"),
    ] {
        let r = get(gw.port, sent);
        assert_eq!(r.status, 200, "GET {sent}: {r:?}");
        assert_eq!(
            r.text(),
            gw.api.body(),
            "GET {sent} answered by the wrong server"
        );
        let requests = gw.api.requests();
        let last = requests.last().expect("API stand-in got nothing");
        assert_eq!(last.target, expected, "GET {sent} reached the API as");
    }
    assert_eq!(gw.api.requests().len(), 3);
    assert!(
        gw.web.requests().is_empty(),
        "web got {:#?}",
        gw.web.requests()
    );
}

#[test]
fn other_paths_reach_the_web_server() {
    let Some(gw) = Gateway::start() else { return };

    // /apiary only starts like /api: it is a web page, not an API call.
    for path in ["/", "/chat", "/apiary"] {
        let r = get(gw.port, path);
        assert_eq!(r.status, 200, "GET {path}: {r:?}");
        assert_eq!(
            r.text(),
            gw.web.body(),
            "GET {path} answered by the wrong server"
        );
        let requests = gw.web.requests();
        let last = requests.last().expect("web stand-in got nothing");
        assert_eq!(last.target, path, "GET {path} reached the web server as");
        assert_eq!(last.version, "HTTP/1.1");
    }
    assert!(
        gw.api.requests().is_empty(),
        "API got {:#?}",
        gw.api.requests()
    );
}

#[test]
fn api_gets_forwarding_headers_over_http_1_1() {
    let Some(gw) = Gateway::start() else { return };

    let headers = [("Host", "onyx.test"), ("X-Forwarded-For", "203.0.113.7")];
    let r = try_request(gw.port, "GET", "/api/me", &headers, &[]).expect("GET /api/me");
    assert_eq!(r.status, 200, "{r:?}");

    let seen = gw.api.only_request();
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.target, "/me");
    assert_eq!(
        seen.version, "HTTP/1.1",
        "upstream request must be HTTP/1.1"
    );
    assert_eq!(seen.header("X-Real-IP"), "127.0.0.1");
    // The client's chain, extended with the address nginx saw.
    assert_eq!(seen.header("X-Forwarded-For"), "203.0.113.7, 127.0.0.1");
    assert_eq!(seen.header("X-Forwarded-Proto"), "http");
    assert_eq!(seen.header("X-Forwarded-Host"), "onyx.test");
    assert_eq!(seen.header("Host"), "onyx.test");
    assert_eq!(seen.header("X-Forwarded-Port"), "80");
}

#[test]
fn forwarding_headers_keep_the_port_the_browser_used() {
    let Some(gw) = Gateway::start() else { return };

    // The browser talks to the host port onyx maps (3000), not to nginx's 8080 in the pod.
    let headers = [("Host", "localhost:3000")];
    let r = try_request(gw.port, "GET", "/api/me", &headers, &[]).expect("GET /api/me");
    assert_eq!(r.status, 200, "{r:?}");
    let seen = gw.api.only_request();
    assert_eq!(seen.header("Host"), "localhost:3000");
    assert_eq!(seen.header("X-Forwarded-Host"), "localhost:3000");
    assert_eq!(seen.header("X-Forwarded-Port"), "3000");
}

#[test]
fn a_tls_proxy_in_front_keeps_its_scheme_and_port() {
    let Some(gw) = Gateway::start() else { return };

    // An ingress terminating TLS talks plain HTTP to the gateway and says so in its headers; Onyx
    // rebuilds OAuth/OIDC callbacks from them, so they must still say https (443) upstream.
    let headers = [("Host", "onyx.example.com"), ("X-Forwarded-Proto", "https")];
    for path in ["/api/auth/oauth/callback", "/auth/login"] {
        let r = try_request(gw.port, "GET", path, &headers, &[]).expect("GET through nginx");
        assert_eq!(r.status, 200, "{r:?}");
    }
    for seen in [gw.api.only_request(), gw.web.only_request()] {
        assert_eq!(seen.header("X-Forwarded-Proto"), "https", "{seen:#?}");
        assert_eq!(seen.header("X-Forwarded-Port"), "443", "{seen:#?}");
        assert_eq!(seen.header("X-Forwarded-Host"), "onyx.example.com");
    }

    // A proxy on another port names it; that wins over the scheme's default.
    let headers = [
        ("Host", "onyx.example.com"),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Port", "8443"),
    ];
    let r = try_request(gw.port, "GET", "/api/me", &headers, &[]).expect("GET /api/me");
    assert_eq!(r.status, 200, "{r:?}");
    let requests = gw.api.requests();
    let seen = requests.last().expect("API stand-in got nothing");
    assert_eq!(seen.header("X-Forwarded-Proto"), "https");
    assert_eq!(seen.header("X-Forwarded-Port"), "8443");
}

/// GET `path` through nginx and check the first part of the stream arrives while the API
/// stand-in still holds the second back, then that the whole stream arrives once released.
fn assert_stream_passes_unbuffered(path: &str, upstream_path: &str) {
    let Some(gw) = Gateway::start() else { return };

    let mut stream = TcpStream::connect(("127.0.0.1", gw.port)).expect("connect to nginx");
    stream
        .write_all(&request_bytes("GET", path, &[], &[]))
        .expect("send request");

    // The stand-in has sent only the first part and waits for us: it must get here anyway.
    let deadline = Instant::now() + TIMEOUT;
    let mut raw = Vec::new();
    let mut buf = [0; 4096];
    while find(&raw, STREAM_FIRST.as_bytes()).is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        // A zero timeout would mean "block forever".
        let left = left.max(Duration::from_millis(1));
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => panic!(
                "GET {path}: nginx closed the connection before the first part: {:?}",
                String::from_utf8_lossy(&raw)
            ),
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                panic!(
                    "GET {path}: the first part did not arrive within {TIMEOUT:?} while the API \
                     held the second back, so nginx is buffering the stream. Received: {:?}",
                    String::from_utf8_lossy(&raw)
                )
            }
            Err(e) => panic!("GET {path}: reading from nginx: {e}"),
        }
    }
    assert!(
        find(&raw, STREAM_SECOND.as_bytes()).is_none(),
        "GET {path}: second part arrived before the stand-in was allowed to send it"
    );

    gw.api.release_stream();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream
        .read_to_end(&mut raw)
        .expect("read the rest of the stream");
    let r = parse_response(&raw);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.text(), format!("{STREAM_FIRST}{STREAM_SECOND}"));
    assert_eq!(gw.api.only_request().target, upstream_path);
}

#[test]
fn chunked_api_streams_are_not_buffered() {
    assert_stream_passes_unbuffered("/api/stream", "/stream");
}

/// nginx 1.22 forwards each upstream chunk even with `proxy_buffering on`, so only a stream
/// without chunks shows whether `proxy_buffering off` is in effect.
#[test]
fn unframed_api_streams_are_not_buffered() {
    assert_stream_passes_unbuffered("/api/stream-unframed", "/stream-unframed");
}

#[test]
fn health_check_is_answered_by_nginx_itself() {
    let Some(gw) = Gateway::start() else { return };

    let r = get(gw.port, "/nginx-health");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.text(), "ok\n");
    assert_eq!(r.header("content-type"), Some("text/plain"));
    // Readiness polling hit it too; none of it may reach an upstream.
    assert!(
        gw.api.requests().is_empty(),
        "API got {:#?}",
        gw.api.requests()
    );
    assert!(
        gw.web.requests().is_empty(),
        "web got {:#?}",
        gw.web.requests()
    );
}

#[test]
fn uploads_over_one_mib_reach_the_api_whole() {
    let Some(gw) = Gateway::start() else { return };

    // Above nginx's 1 MiB default cap, and patterned so truncation or reordering shows.
    let payload: Vec<u8> = (0..2 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let headers = [("Content-Type", "application/octet-stream")];
    let r = try_request(gw.port, "POST", "/api/upload", &headers, &payload).expect("POST upload");
    assert_eq!(r.status, 200, "{r:?}\n{}", gw.logs());
    assert_eq!(r.text(), gw.api.body());

    let seen = gw.api.only_request();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.target, "/upload");
    assert_eq!(seen.body.len(), payload.len(), "upload arrived truncated");
    assert!(seen.body == payload, "upload arrived corrupted");
}
