//! `onyx backup` / `onyx restore` round trip through a **real PostgreSQL** (Debian's, started by
//! scripts/test.sh on 127.0.0.1): the Kubernetes API simulator stands in for the cluster, and its
//! exec runs the commands onyx sends to the PostgreSQL pod (pg_dump, psql) against that server.
//! Shows: identical data after restore; a corrupted, truncated or foreign file is rejected with
//! the database untouched; restore without a terminal needs --yes.

use crate::support::bounded::{BOUND, Bounded};

use crate::support;
use crate::support::cmd::OnyxCommand;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::PostParams;

const SELECTOR: &str = "app.kubernetes.io/name=postgresql,app.kubernetes.io/part-of=onyx";

fn psql(port: &str, sql: &str) -> String {
    support::psql(port, "onyxtest", sql)
}

fn onyx(kubeconfig: &Path, args: &[&str]) -> (i32, String) {
    let home = kubeconfig.parent().unwrap();
    let run = OnyxCommand::new(home)
        .args(args)
        .arg_path("--kubeconfig", kubeconfig)
        .run_blocking();
    (run.code.unwrap_or(-1), run.stderr)
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_and_restore_round_trip_through_real_postgres() {
    let Some(port) = support::test_postgres() else {
        return;
    };
    let admin = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-q",
        ])
        .args([
            "-c",
            "DROP DATABASE IF EXISTS onyxtest",
            "-c",
            "CREATE DATABASE onyxtest",
        ])
        .output_within(BOUND)
        .unwrap();
    assert!(
        admin.status.success(),
        "{}",
        String::from_utf8_lossy(&admin.stderr)
    );
    psql(
        &port,
        "CREATE TABLE chat (id int PRIMARY KEY, body text); \
         INSERT INTO chat VALUES (1, 'hello'), (2, 'wie geht''s? ✓'), (3, repeat('x', 100000));",
    );
    let original = psql(&port, "SELECT id, md5(body) FROM chat ORDER BY id");

    let support::sim::SimEnv {
        sim,
        dir,
        kubeconfig,
    } = support::sim::SimEnv::start(support::sim::timing(100, None)).await;
    // The commands onyx execs in the PostgreSQL pod run here, with what that pod's environment gives.
    sim.on_exec_with_env(
        k8s_sim::Target::labels(SELECTOR),
        None,
        &support::postgres_pod_env(&port, "onyxtest"),
    );
    let pods: Api<Pod> = Api::namespaced(k8s_sim::client::client_for(&sim), "default");
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "postgresql-0", "labels": {
            "app.kubernetes.io/name": "postgresql", "app.kubernetes.io/part-of": "onyx"}},
        "spec": {"containers": [{"name": "postgresql", "image": "postgres:15.2-alpine"}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let ready = async {
        loop {
            let p = pods.get("postgresql-0").await.unwrap();
            let ok = p
                .status
                .and_then(|s| s.conditions)
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
            if ok {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), ready)
        .await
        .expect("pod ready");

    let file = dir.path().join("onyx.backup");
    let file_s = file.to_str().unwrap().to_string();
    let kc = kubeconfig.clone();
    let (code, err) = tokio::task::spawn_blocking(move || onyx(&kc, &["backup", "-o", &file_s]))
        .await
        .unwrap();
    assert_eq!(code, 0, "{err}");
    let header = onyx::backup::verify(&file).unwrap();
    assert_eq!(header.stack_version, onyx::stack::ONYX_VERSION);
    assert!(header.size > 100_000);
    assert!(!dir.path().join("onyx.backup.partial").exists());

    // Change the data, then restore: the original comes back.
    psql(
        &port,
        "DELETE FROM chat WHERE id = 2; UPDATE chat SET body = 'changed' WHERE id = 1; INSERT INTO chat VALUES (4, 'new');",
    );
    assert_ne!(
        psql(&port, "SELECT id, md5(body) FROM chat ORDER BY id"),
        original
    );
    let run = |args: Vec<String>| {
        let kc = kubeconfig.clone();
        tokio::task::spawn_blocking(move || {
            let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
            onyx(&kc, &a)
        })
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let f = file.to_str().unwrap();

    // Without a terminal and without --yes: refused, nothing touched.
    let (code, err) = run(s(&["restore", f])).await.unwrap();
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--yes"), "{err}");
    let changed = psql(&port, "SELECT id, md5(body) FROM chat ORDER BY id");

    // Damaged files: refused before the database is touched.
    let bytes = std::fs::read(&file).unwrap();
    let corrupted = dir.path().join("corrupted.backup");
    let mut c = bytes.clone();
    let last = c.len() - 10;
    c[last] ^= 0x55;
    std::fs::write(&corrupted, &c).unwrap();
    let truncated = dir.path().join("truncated.backup");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let foreign = dir.path().join("foreign.backup");
    std::fs::write(
        &foreign,
        b"-- PostgreSQL database dump\nCREATE TABLE x();\n",
    )
    .unwrap();
    for (path, word) in [
        (&corrupted, "corrupted"),
        (&truncated, "truncated"),
        (&foreign, "shorter"),
    ] {
        let (code, err) = run(s(&["restore", "--yes", path.to_str().unwrap()]))
            .await
            .unwrap();
        assert_eq!(code, 2, "{err}");
        assert!(err.contains(word), "{word}: {err}");
        assert_eq!(
            psql(&port, "SELECT id, md5(body) FROM chat ORDER BY id"),
            changed
        );
    }

    let (code, err) = run(s(&["restore", "--yes", f])).await.unwrap();
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        psql(&port, "SELECT id, md5(body) FROM chat ORDER BY id"),
        original
    );

    // No PostgreSQL pod in the namespace: a clear error, no file left behind.
    let other = dir.path().join("other.backup");
    let (code, err) = run(s(&[
        "backup",
        "-n",
        "kube-system",
        "-o",
        other.to_str().unwrap(),
    ]))
    .await
    .unwrap();
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no ready PostgreSQL pod"), "{err}");
    assert!(!other.exists());
}

/// Where `-o` can't be written is said first, with the path, as a usage error (exit 2): before
/// the cluster is asked for anything, so no dump runs for nothing (the kubeconfig here points at a
/// server that isn't there: reaching for it would be exit 3).
#[test]
fn backup_checks_the_output_path_first() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, k8s_sim::kubeconfig_yaml("http://127.0.0.1:9")).unwrap();
    let missing = dir.path().join("no/such/dir/f");
    let (code, err) = onyx(&kubeconfig, &["backup", "-o", missing.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!(
            "cannot write the backup to {}: the directory {} does not exist",
            missing.display(),
            missing.parent().unwrap().display()
        )) && err.contains("mkdir -p"),
        "{err}"
    );
    let (code, err) = onyx(&kubeconfig, &["backup", "-o", dir.path().to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("it is a directory"), "{err}");
    assert!(!err.contains("does not answer"), "{err}");
}
