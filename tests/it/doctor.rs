//! `onyx doctor` end to end: the real binary against a real Docker engine and the Kubernetes API
//! simulator, with each service check run through the simulator's exec. PostgreSQL's `SELECT 1`
//! runs for real against the test PostgreSQL (scripts/test.sh); the other services' in-pod
//! commands can't run here (their images don't), so the simulator answers them as the real
//! services do — what this proves is that doctor asks every service, reads the answers right,
//! and reports a failing one with its fix and a non-zero exit.

use crate::support::bounded::{BOUND, Bounded};

use crate::support;
use crate::support::docker as docker_support;

use std::time::Duration;

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::Api;
use kube::api::PostParams;

const SERVICES: &[&str] = &[
    "postgresql",
    "vespa",
    "redis",
    "minio",
    "api-server",
    "nginx",
    "web-server",
];

fn selector(service: &str) -> String {
    format!("app.kubernetes.io/name={service},app.kubernetes.io/part-of=onyx")
}

async fn sim_with(services: &[&str], vespa_answer: &str) -> (k8s_sim::Sim, tempfile::TempDir) {
    let support::sim::SimEnv { sim, dir, .. } =
        support::sim::SimEnv::start(support::sim::timing(100, None)).await;
    // PostgreSQL's check runs here against the test PostgreSQL (the gate passed: it is set), with
    // what the PostgreSQL pod's environment gives it.
    let port = std::env::var("ONYX_TEST_PG_PORT").expect("the test PostgreSQL");
    sim.on_exec_with_env(
        k8s_sim::Target::labels(&selector("postgresql")),
        None,
        &support::postgres_pod_env(&port, "postgres"),
    );
    let answer = |words: &[&str]| Some(words.iter().map(|w| w.to_string()).collect());
    sim.on_exec(
        k8s_sim::Target::labels(&selector("vespa")),
        answer(&["echo", vespa_answer]),
    );
    sim.on_exec(
        k8s_sim::Target::labels(&selector("redis")),
        answer(&["echo", "PONG"]),
    );
    sim.on_exec(
        k8s_sim::Target::labels(&selector("minio")),
        answer(&["true"]),
    );
    sim.on_exec(
        k8s_sim::Target::labels(&selector("api-server")),
        answer(&["echo", "200"]),
    );
    sim.on_exec(
        k8s_sim::Target::labels(&selector("nginx")),
        answer(&["echo", "200"]),
    );
    let client = k8s_sim::client::client_for(&sim);
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for s in services {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("{s}-0"), "labels": {
                "app.kubernetes.io/name": s, "app.kubernetes.io/part-of": "onyx"}},
            "spec": {"containers": [{"name": s, "image": "stand-in"}]}
        }))
        .unwrap();
        pods.create(&PostParams::default(), &pod).await.unwrap();
    }
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client, "default");
    let pvc: PersistentVolumeClaim = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "postgresql-data", "labels": {"app.kubernetes.io/part-of": "onyx"}},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}}
    }))
    .unwrap();
    pvcs.create(&PostParams::default(), &pvc).await.unwrap();
    // Every pod Ready (and the claim Bound) before doctor looks: polled, bounded.
    let pods: Api<Pod> = Api::namespaced(k8s_sim::client::client_for(&sim), "default");
    let all_ready = async {
        loop {
            let list = pods.list(&Default::default()).await.unwrap();
            let ready = list
                .items
                .iter()
                .filter(|p| {
                    p.status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
                })
                .count();
            if ready == services.len() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), all_ready)
        .await
        .expect("every stand-in pod Ready within 30 s");
    (sim, dir)
}

async fn doctor(dir: &std::path::Path) -> (i32, serde_json::Value, String) {
    let kubeconfig = dir.join("kubeconfig");
    let port = support::free_port().to_string();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_onyx"))
            .args([
                "doctor",
                "-o",
                "json",
                "-n",
                "default",
                "--port",
                &port,
                "--kubeconfig",
            ])
            .arg(&kubeconfig)
            .env("ONYX_NO_UPDATE_CHECK", "1")
            .output_within(BOUND)
            .unwrap()
    })
    .await
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!err.contains("panicked"), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    (out.status.code().unwrap(), v, err)
}

fn finding<'a>(v: &'a serde_json::Value, check: &str) -> &'a serde_json::Value {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == check)
        .unwrap_or_else(|| panic!("no {check} finding in {v:#}"))
}

/// The gate for the test PostgreSQL that doctor's `SELECT 1` runs against.
fn have_pg() -> bool {
    support::test_postgres().is_some()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_healthy_stack_passes_every_check() {
    if docker_support::engine("doctor").await.is_none() || !have_pg() {
        return;
    }
    let (_sim, dir) = sim_with(SERVICES, r#"{"status":{"code":"up"}}"#).await;
    let (code, v, err) = doctor(dir.path()).await;
    assert_eq!(code, 0, "{v:#}\n{err}");
    assert_eq!(v["healthy"], true);
    for check in [
        "docker",
        "disk",
        "memory and CPUs",
        "AVX2",
        "UI port",
        "kubeconfig",
        "cluster reachable",
        "node ready",
        "default StorageClass",
        "volumes bound",
        "postgresql",
        "vespa",
        "redis",
        "minio",
        "api-server /health",
        "nginx → api (/api/health)",
        "nginx → web (/)",
    ] {
        let f = finding(&v, check);
        assert_ne!(f["status"], "fail", "{f:#}");
    }
    // The engine here reports cgroup v1: kind's deprecation warning, not a failure.
    let info = docker_support::engine("doctor")
        .await
        .unwrap()
        .info()
        .await
        .unwrap();
    let cgroup = finding(&v, "cgroup");
    if info.cgroup_version.map(|c| c.to_string()).as_deref() == Some("1") {
        assert_eq!(cgroup["status"], "warn", "{cgroup:#}");
        assert!(
            cgroup["detail"].as_str().unwrap().contains("deprecated"),
            "{cgroup:#}"
        );
    } else {
        assert_eq!(cgroup["status"], "ok", "{cgroup:#}");
    }
    assert_eq!(finding(&v, "postgresql")["detail"], "SELECT 1 answered");
    assert_eq!(finding(&v, "redis")["status"], "ok");
    assert_eq!(finding(&v, "vespa")["detail"], "config server health is up");
}

#[tokio::test(flavor = "multi_thread")]
async fn failing_services_are_named_with_a_fix_and_a_non_zero_exit() {
    if docker_support::engine("doctor").await.is_none() || !have_pg() {
        return;
    }
    let without_redis: Vec<&str> = SERVICES.iter().copied().filter(|s| *s != "redis").collect();
    let (_sim, dir) = sim_with(&without_redis, r#"{"status":{"code":"initializing"}}"#).await;
    let (code, v, _) = doctor(dir.path()).await;
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(v["healthy"], false);
    let vespa = finding(&v, "vespa");
    assert_eq!(vespa["status"], "fail");
    assert_eq!(vespa["detail"], "config server health is \"initializing\"");
    assert!(vespa["fix"].as_str().unwrap().contains("AVX2"));
    let redis = finding(&v, "redis");
    assert_eq!(redis["status"], "fail");
    assert_eq!(redis["detail"], "no ready redis pod");
    assert_eq!(finding(&v, "postgresql")["status"], "ok");
}
