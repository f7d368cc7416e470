//! The Onyx backend image's stand-in and the peers its wait scripts poll, on the test's own Docker
//! engine and network. The Onyx images themselves can't be pulled here, so the stand-in is built
//! from what they are built from: Onyx v2.3.0 backend/Dockerfile is `FROM
//! python:3.11.7-slim-bookworm`, so a Debian bookworm rootfs (debootstrap minbase, with python3
//! and python3-psycopg2 — scripts/test.sh makes it under ~/.cache/onyx/envelope-rootfs) gives
//! the same GNU coreutils (9.1), dash as /bin/sh, and a Python 3.11. Differences, known: Debian's
//! Python is 3.11.2 (the image's 3.11.7), psycopg2 is Debian's 2.9.5 (the image pip-installs
//! psycopg2-binary from backend/requirements/default.txt), and the stand-in has none of Onyx's
//! own code or Python packages (alembic, uvicorn, supervisor): a command that imports them fails
//! here, which is the point for the wait scripts (they must not).
//!
//! Layout, each from backend/Dockerfile at v2.3.0 (only where the commands touch it):
//! - `groupadd -g 1001 onyx && useradd -u 1001 -g onyx -m -s /bin/bash onyx && mkdir -p
//!   /var/log/onyx && chmod 755 /var/log/onyx && chown onyx:onyx /var/log/onyx` — run verbatim;
//! - no USER: the NLTK data (`nltk.download('stopwords')`, `nltk.download('punkt_tab')`, root's
//!   default ~/nltk_data) and the nomic-embed-text-v1 tokenizer
//!   (`Tokenizer.from_pretrained`, the hub cache ~/.cache/huggingface/hub with its
//!   snapshots → blobs symlinks) are written by root under /root, which the Debian base leaves
//!   0700;
//! - `COPY --chown=onyx:onyx ./alembic.ini /app/alembic.ini`, `WORKDIR /app`;
//! - `ENV DANSWER_RUNNING_IN_DOCKER="true"`, `PYTHONPATH=/app`.
//!
//! The PostgreSQL server binaries (for the peer) are removed from the backend stand-in: the real
//! image has only postgresql-client.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::support::bounded::{BOUND, Bounded, BoundedChild};

/// Importing the ~700 MB rootfs or building on it: a minute or two on these machines.
const IMAGE_BOUND: Duration = Duration::from_secs(900);

/// The layout version: bump when the Dockerfile below changes, so a cached image is rebuilt.
const LAYOUT: &str = "1";

/// The debootstrapped rootfs scripts/test.sh makes (or ONYX_ENVELOPE_ROOTFS).
pub fn rootfs() -> Option<PathBuf> {
    let dir = std::env::var_os("ONYX_ENVELOPE_ROOTFS")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/onyx/envelope-rootfs"))
        })?;
    let complete = dir.join("usr/bin/python3").exists()
        && dir.join("usr/lib/python3/dist-packages/psycopg2").is_dir()
        && dir.join("usr/lib/postgresql").is_dir();
    complete.then_some(dir)
}

pub fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker")
        .args(args)
        .output_within(BOUND)
        .expect("the docker CLI runs")
}

pub fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(
        out.status.success(),
        "docker {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Whether the docker CLI reaches an engine.
pub fn engine_answers() -> bool {
    Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output_within(Duration::from_secs(30))
        .is_ok_and(|o| o.status.success())
}

fn image_exists(tag: &str) -> bool {
    docker(&["image", "inspect", tag]).status.success()
}

/// The two images: `base` (the whole rootfs, PostgreSQL server included, for the peers) and
/// `backend` (the stand-in). Built once per rootfs and layout, and kept: importing the rootfs
/// takes a minute on these machines.
pub struct Images {
    pub base: String,
    pub backend: String,
}

static BUILT: Mutex<Option<(String, String)>> = Mutex::new(None);

pub fn images(rootfs: &std::path::Path) -> Images {
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((base, backend)) = built.as_ref() {
        return Images {
            base: base.clone(),
            backend: backend.clone(),
        };
    }
    let stamp = std::fs::metadata(rootfs.join("usr/bin/python3"))
        .and_then(|m| m.modified())
        .map(|t| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs())
        .unwrap_or(0);
    let base = format!("onyx-test-envelope/bookworm:{stamp:x}");
    let backend = format!("onyx-test-envelope/backend:{stamp:x}-{LAYOUT}");
    if !image_exists(&base) {
        let mut tar = Command::new("tar")
            .arg("-C")
            .arg(rootfs)
            .args(["--numeric-owner", "-c", "."])
            .stdout(Stdio::piped())
            .spawn()
            .expect("tar runs");
        let out = Command::new("docker")
            .args(["import", "-", &base])
            .stdin(tar.stdout.take().expect("tar's stdout"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("docker import runs")
            .wait_with_output_within(IMAGE_BOUND)
            .unwrap();
        assert!(
            tar.wait_within(BOUND).unwrap().success(),
            "tar of {}",
            rootfs.display()
        );
        assert!(
            out.status.success(),
            "docker import: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    if !image_exists(&backend) {
        build_backend(&base, &backend);
    }
    *built = Some((base.clone(), backend.clone()));
    Images { base, backend }
}

/// The backend stand-in's Dockerfile: the real one's lines where the commands touch the layout.
fn dockerfile(base: &str) -> String {
    let snapshot = "/root/.cache/huggingface/hub/models--nomic-ai--nomic-embed-text-v1";
    format!(
        r#"FROM {base}
ENV DANSWER_RUNNING_IN_DOCKER="true" DO_NOT_TRACK="true"
RUN rm -f /usr/lib/postgresql/15/bin/postgres /usr/lib/postgresql/15/bin/postmaster /usr/lib/postgresql/15/bin/initdb /usr/lib/postgresql/15/bin/pg_ctl \
 && chmod 0700 /root \
 && mkdir -p /root/nltk_data/corpora/stopwords /root/nltk_data/tokenizers/punkt_tab/english \
 && echo "a about above" > /root/nltk_data/corpora/stopwords/english \
 && echo "stand-in" > /root/nltk_data/tokenizers/punkt_tab/english/collocations.tab \
 && mkdir -p {snapshot}/blobs {snapshot}/refs {snapshot}/snapshots/0000000000000000000000000000000000000000 \
 && echo '{{"version": "1.0"}}' > {snapshot}/blobs/b1 \
 && echo 0000000000000000000000000000000000000000 > {snapshot}/refs/main \
 && ln -s ../../blobs/b1 {snapshot}/snapshots/0000000000000000000000000000000000000000/tokenizer.json
WORKDIR /app
RUN groupadd -g 1001 onyx && \
    useradd -u 1001 -g onyx -m -s /bin/bash onyx && \
    mkdir -p /var/log/onyx && \
    chmod 755 /var/log/onyx && \
    chown onyx:onyx /var/log/onyx
COPY --chown=onyx:onyx alembic.ini /app/alembic.ini
ENV PYTHONPATH=/app
"#
    )
}

fn build_backend(base: &str, tag: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Dockerfile"), dockerfile(base)).unwrap();
    // Onyx's alembic.ini names its script location; the stand-in has no migrations behind it.
    std::fs::write(
        dir.path().join("alembic.ini"),
        "[alembic]\nscript_location = alembic\n",
    )
    .unwrap();
    let out = Command::new("docker")
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "-q", "-t", tag])
        .arg(dir.path())
        .output_within(IMAGE_BOUND)
        .expect("docker build runs");
    assert!(
        out.status.success(),
        "docker build of the backend stand-in: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network of the test's own, with one peers container answering as every Service of the
/// stack: a real PostgreSQL 15 (Debian's) with the rendered user — a superuser, as the postgres
/// image's entrypoint makes POSTGRES_USER (`initdb --username="$POSTGRES_USER"`,
/// docker-library/postgres ef45b99086 15/alpine/docker-entrypoint.sh) —, password and database, a TCP
/// listener on Redis' port, and HTTP 200 on MinIO's, Vespa's, the model servers' and the API's
/// ports. Removed on drop.
pub struct Peers {
    pub network: String,
    pub container: String,
}

/// The peers' HTTP/TCP stand-in: answers 200 to any GET on the HTTP ports, accepts on Redis'.
const PEERS_PY: &str = r#"
import http.server, socket, socketserver, sys, threading
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *a): pass
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
for p in [int(x) for x in sys.argv[1].split(",")]:
    threading.Thread(target=S(("0.0.0.0", p), H).serve_forever, daemon=True).start()
def tcp(p):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", p)); s.listen(16)
    while True:
        c, _ = s.accept(); c.close()
for p in [int(x) for x in sys.argv[2].split(",")]:
    threading.Thread(target=tcp, args=(p,), daemon=True).start()
print("peers up", flush=True)
threading.Event().wait()
"#;

const PEERS_SH: &str = r#"set -e
PG=/usr/lib/postgresql/15/bin
$PG/initdb -D /tmp/pg -U postgres -A trust >/dev/null
echo "host all all 0.0.0.0/0 md5" >> /tmp/pg/pg_hba.conf
$PG/pg_ctl -D /tmp/pg -o "-c listen_addresses=* -k /tmp -p $PGPORT_PEER" -l /tmp/pg.log -w start >/dev/null
q() { psql -h /tmp -p $PGPORT_PEER -U postgres -v ON_ERROR_STOP=1 -qtA "$@"; }
if [ "$(q -c "SELECT 1 FROM pg_roles WHERE rolname = '$PEER_USER'")" = 1 ]; then
  q -c "ALTER ROLE \"$PEER_USER\" SUPERUSER LOGIN PASSWORD '$PEER_PASSWORD'"
else
  q -c "CREATE ROLE \"$PEER_USER\" SUPERUSER LOGIN PASSWORD '$PEER_PASSWORD'"
fi
if [ "$(q -c "SELECT 1 FROM pg_database WHERE datname = '$PEER_DB'")" != 1 ]; then
  q -c "CREATE DATABASE \"$PEER_DB\" OWNER \"$PEER_USER\""
fi
echo "postgresql up"
exec python3 -c "$PEERS_PY" "$HTTP_PORTS" "$TCP_PORTS"
"#;

impl Peers {
    /// Start them; `services` are the Service names (network aliases), `env` the rendered values
    /// the peers must match.
    pub fn start(
        base: &str,
        unique: &str,
        services: &BTreeSet<String>,
        user: &str,
        password: &str,
        db: &str,
        pg_port: &str,
    ) -> Peers {
        let network = format!("{unique}-net");
        let container = format!("{unique}-peers");
        docker_ok(&["network", "create", &network]);
        let peers = Peers {
            network: network.clone(),
            container: container.clone(),
        };
        let mut args: Vec<String> = vec![
            "run".into(),
            "-d".into(),
            "--name".into(),
            container.clone(),
            "--network".into(),
            network.clone(),
            "--user".into(),
            "postgres".into(),
            "--tmpfs".into(),
            "/tmp:rw,exec,mode=1777".into(),
        ];
        for s in services {
            args.extend(["--network-alias".into(), s.clone()]);
        }
        for (k, v) in [
            ("PGPORT_PEER", pg_port),
            ("PEER_USER", user),
            ("PEER_PASSWORD", password),
            ("PEER_DB", db),
            ("PEERS_PY", PEERS_PY),
            // MinIO and the model servers 9000, Vespa 8081 and 19071, the API 8080.
            ("HTTP_PORTS", "9000,8081,19071,8080"),
            ("TCP_PORTS", "6379"),
        ] {
            args.extend(["-e".into(), format!("{k}={v}")]);
        }
        args.extend([base.into(), "sh".into(), "-c".into(), PEERS_SH.into()]);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        docker_ok(&refs);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let logs = docker(&["logs", &container]);
            let text = String::from_utf8_lossy(&logs.stdout).to_string()
                + &String::from_utf8_lossy(&logs.stderr);
            if text.contains("peers up") {
                break;
            }
            let running = docker_ok(&["inspect", "-f", "{{.State.Running}}", &container]);
            assert!(
                running == "true" && Instant::now() < deadline,
                "the peers did not start: {text}"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        peers
    }

    /// Run SQL in the peer PostgreSQL's database as its superuser.
    pub fn sql(&self, db: &str, pg_port: &str, sql: &str) {
        docker_ok(&[
            "exec",
            &self.container,
            "psql",
            "-h",
            "/tmp",
            "-p",
            pg_port,
            "-U",
            "postgres",
            "-d",
            db,
            "-v",
            "ON_ERROR_STOP=1",
            "-q",
            "-c",
            sql,
        ]);
    }
}

impl Drop for Peers {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.container]);
        let _ = docker(&["network", "rm", &self.network]);
    }
}
