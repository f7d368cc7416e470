//! What the integration tests share: the `onyx` command with an isolated home ([`cmd`]), the
//! simulator with its kubeconfig ([`sim`]), image archives built here ([`image_tar`]), the real
//! Docker parts ([`docker`]) and the fake kind node ([`fake_node`]), stand-ins ([`http`],
//! [`stand_in_nginx`]), and the one rule for skipping when a real part is missing (never under
//! CI, where scripts/test.sh installs them).
#![allow(dead_code)]
use bounded::{BOUND, Bounded};

pub mod bounded;
pub mod cmd;
pub mod docker;
pub mod fake_node;
pub mod gate;
pub mod http;
pub mod image_tar;
pub mod sim;
pub mod stand_in_nginx;

use std::path::PathBuf;

pub use gate::{Part, required, skip_or_fail, skip_or_fail_part, skipped};

/// The kubernetes-validate CLI: $ONYX_KUBERNETES_VALIDATE, or on PATH.
pub fn kubernetes_validate() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ONYX_KUBERNETES_VALIDATE") {
        let p = PathBuf::from(p);
        if p.exists() {
            return Some(p);
        }
    }
    which("kubernetes-validate")
}

/// A program on PATH (or in /usr/sbin, where Debian puts nginx).
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A free port on 127.0.0.1 (closed again: the caller binds it, or hands it to onyx).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The test PostgreSQL's port (ONYX_TEST_PG_PORT, started by scripts/test.sh), or `None` after
/// the skip gate.
pub fn test_postgres() -> Option<String> {
    let port = std::env::var("ONYX_TEST_PG_PORT").ok();
    if port.is_none() {
        skip_or_fail("a test PostgreSQL (ONYX_TEST_PG_PORT, started by scripts/test.sh)");
    }
    port
}

/// What the PostgreSQL pod's environment gives the commands onyx execs in it, for the simulator to
/// run them against the test PostgreSQL (`Sim::on_exec_with_env`: per simulator, never set on this
/// process, which every test shares).
pub fn postgres_pod_env<'a>(port: &'a str, db: &'a str) -> [(&'static str, &'a str); 4] {
    [
        ("POSTGRES_USER", "postgres"),
        ("POSTGRES_DB", db),
        ("PGHOST", "127.0.0.1"),
        ("PGPORT", port),
    ]
}

/// Held by a test for as long as it makes onyx's own cluster (fixed name `onyx`, node
/// `onyx-control-plane`) or asserts that there is none: one process runs all tests, and these
/// would otherwise see each other's node.
pub async fn own_cluster_lock() -> tokio::sync::MutexGuard<'static, ()> {
    OWN_CLUSTER.lock().await
}

/// [`own_cluster_lock`] for a test that is not async.
pub fn own_cluster_lock_blocking() -> tokio::sync::MutexGuard<'static, ()> {
    OWN_CLUSTER.blocking_lock()
}

/// A tokio lock: held across awaits, and never poisoned by a failed test.
static OWN_CLUSTER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `psql` against the test PostgreSQL on 127.0.0.1:`port` as `postgres`, one statement list in
/// `db`, unaligned tuples only; fails the test when psql does.
pub fn psql(port: &str, db: &str, sql: &str) -> String {
    let out = std::process::Command::new("psql")
        .args(["-h", "127.0.0.1", "-p", port, "-U", "postgres", "-d", db])
        .args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output_within(BOUND)
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
