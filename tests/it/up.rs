//! `onyx up` and the day-2 commands, driven as the real binary against the Kubernetes API
//! simulator (one simulator per test, in-process, short readiness delays, every run time-bound).
//!
//! Shown here: from nothing to all services ready with per-service progress in dependency
//! order; each fault → its diagnosis and a non-zero exit, then the fault lifted → a re-run
//! converges; transient API errors during apply are absorbed; `down` → `up` keeps claims and
//! Secrets; `destroy` keeps claims unless `--data`; `status -o json` and its exit codes; Ctrl-C
//! during the wait leaves a state the next `up` completes; the idempotent re-run.

use std::process::Stdio;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Secret};
use k8s_sim::{Fault, RequestFilter, Target};
use kube::api::{Api, ListParams};
use serde_json::Value;

use crate::support::cmd::{Run, isolate};
use crate::support::{self, stand_in_nginx};

const NS: &str = "onyx-test";

type Env = support::sim::SimEnv;

async fn env_with(ready_ms: u64) -> Env {
    Env::start(support::sim::timing(ready_ms, Some(100))).await
}

async fn env() -> Env {
    env_with(150).await
}

fn command(e: &Env, args: &[&str]) -> tokio::process::Command {
    e.onyx(NS, args).into_command()
}

async fn finish(child: tokio::process::Child, started: Instant, bound: u64) -> Run {
    support::cmd::finish(child, started, Duration::from_secs(bound)).await
}

async fn onyx(e: &Env, args: &[&str]) -> Run {
    e.onyx(NS, args).run().await
}

/// `onyx up` sized to the small profile whatever this machine is.
async fn up(e: &Env, timeout: &str) -> Run {
    onyx(
        e,
        &[
            "up",
            "--profile",
            "small",
            "--force",
            "--no-browser",
            "--timeout",
            timeout,
        ],
    )
    .await
}

fn client(e: &Env) -> kube::Client {
    e.client()
}

async fn secrets(e: &Env) -> Vec<(String, Value)> {
    let api: Api<Secret> = Api::namespaced(client(e), NS);
    let mut out: Vec<(String, Value)> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|s| {
            (
                s.metadata.name.clone().unwrap(),
                serde_json::to_value(&s.data).unwrap(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Each workload's generation and resourceVersion, and each pod's uid: what a re-run that
/// changes nothing leaves as it was (a no-op apply is not a write; no pod is replaced).
async fn workloads(e: &Env) -> Vec<String> {
    use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
    use k8s_openapi::api::core::v1::Pod;
    let c = client(e);
    let lp = ListParams::default();
    let meta = |kind: &str, m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
        format!(
            "{kind}/{} generation={:?} rv={:?} uid={:?}",
            m.name.clone().unwrap_or_default(),
            m.generation,
            m.resource_version,
            m.uid
        )
    };
    let mut out = Vec::new();
    for d in Api::<Deployment>::namespaced(c.clone(), NS)
        .list(&lp)
        .await
        .unwrap()
    {
        out.push(meta("Deployment", &d.metadata));
    }
    for s in Api::<StatefulSet>::namespaced(c.clone(), NS)
        .list(&lp)
        .await
        .unwrap()
    {
        out.push(meta("StatefulSet", &s.metadata));
    }
    for p in Api::<Pod>::namespaced(c, NS).list(&lp).await.unwrap() {
        out.push(format!(
            "Pod/{} uid={:?}",
            p.metadata.name.clone().unwrap_or_default(),
            p.metadata.uid
        ));
    }
    out.sort();
    out
}

async fn claims(e: &Env) -> Vec<(String, String)> {
    let api: Api<PersistentVolumeClaim> = Api::namespaced(client(e), NS);
    let mut out: Vec<(String, String)> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|c| (c.metadata.name.unwrap(), c.metadata.uid.unwrap()))
        .collect();
    out.sort();
    out
}

/// `onyx SUB` as a hint must print it for this environment: with the cluster flags the test gave.
fn runnable(e: &Env, sub: &str) -> String {
    format!(
        "`onyx {sub} --context sim --kubeconfig {} -n {NS}`",
        e.kubeconfig.display()
    )
}

/// Every `onyx up|logs|status ...` a message names carries the test's cluster flags, and there is
/// at least one.
fn assert_runnable(e: &Env, stderr: &str) {
    let flags = format!(
        " --context sim --kubeconfig {} -n {NS}`",
        e.kubeconfig.display()
    );
    let mut seen = 0;
    for (i, _) in stderr.match_indices("`onyx ") {
        let span = &stderr[i..];
        let end = span[1..].find('`').map_or(span.len(), |n| n + 2);
        let span = &span[..end];
        if ["`onyx up", "`onyx logs", "`onyx status"]
            .iter()
            .any(|p| span.starts_with(p))
        {
            assert!(span.ends_with(&flags), "not runnable: {span} in\n{stderr}");
            seen += 1;
        }
    }
    assert!(seen > 0, "no onyx command named:\n{stderr}");
}

fn position(stderr: &str, line: &str) -> usize {
    stderr
        .lines()
        .position(|l| l.starts_with(line))
        .unwrap_or_else(|| panic!("no line starting {line:?} in:\n{stderr}"))
}

const SERVICES: &[&str] = &[
    "postgresql",
    "redis",
    "minio",
    "vespa",
    "inference-model-server",
    "api-server",
    "web-server",
    "nginx",
];

#[tokio::test(flavor = "multi_thread")]
async fn up_from_nothing_to_ready_then_an_idempotent_rerun() {
    // Pods take long enough to get ready that the first watch sees them on their way.
    let e = env_with(3_000).await;
    let run = up(&e, "60s").await;
    assert_eq!(run.code, Some(0), "{run:?}");
    // Nothing is exposed without --forward on a cluster onyx did not make: no URL on stdout, and
    // the message says how to reach the stack.
    assert_eq!(run.stdout.trim(), "", "{run:?}");
    // The way to reach it names this cluster, not onyx's own: runnable as printed.
    assert!(
        run.stderr.contains(&runnable(&e, "up --forward")),
        "{run:?}"
    );
    assert!(
        run.stderr.contains(&format!(
            "`kubectl --kubeconfig {} --context sim port-forward -n {NS} svc/nginx 3000:80`",
            e.kubeconfig.display()
        )),
        "{run:?}"
    );
    assert!(
        run.stderr.contains("first account becomes the admin"),
        "{run:?}"
    );
    assert!(run.stderr.contains("LLM provider"), "{run:?}");
    assert!(run.stderr.contains(&format!("namespace {NS}")), "{run:?}");

    // Per-service progress: every service moves forward (pulling or waiting for its
    // dependencies → starting → ready) and ends ready; the API first waits for its dependencies.
    // (The simulator does not run the API's init container, so the order in which services turn
    // ready across services is not asserted: that gate is the init container's, not onyx's.)
    let rank = |phase: &str| match phase {
        p if p.starts_with("waiting for") => 0,
        "pulling" => 0,
        "starting" => 1,
        "ready" => 2,
        other => panic!("unexpected phase {other:?}"),
    };
    for s in SERVICES {
        let phases: Vec<&str> = run
            .stderr
            .lines()
            .filter_map(|l| l.strip_prefix(&format!("{s}: ")))
            .map(|rest| rest.rsplit_once(" (").map_or(rest, |(p, _)| p))
            .collect();
        assert!(phases.len() >= 2, "{s}: {phases:?}");
        assert_eq!(phases.last(), Some(&"ready"), "{s}: {phases:?}");
        let ranks: Vec<i32> = phases.iter().map(|p| rank(p)).collect();
        assert!(
            ranks.windows(2).all(|w| w[0] <= w[1]),
            "{s} went backwards: {phases:?}"
        );
    }
    let api_waits = position(
        &run.stderr,
        "api-server: waiting for postgresql, redis, minio, vespa, inference-model-server",
    );
    assert!(
        api_waits < position(&run.stderr, "api-server: ready"),
        "{run:?}"
    );
    assert!(run.stderr.contains("all 8 services ready"), "{run:?}");

    // Applied with field manager onyx, into the namespace it created.
    let d = e
        .sim
        .object("apps/v1", "Deployment", NS, "api-server")
        .expect("api-server applied");
    assert!(
        d["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["manager"] == "onyx" && m["operation"] == "Apply"),
        "{d}"
    );

    // The re-run verifies and returns: nothing written, no pod replaced, passwords unchanged.
    // (How fast it returns is scripts/bench-up.sh's to measure, not a test's.)
    let before = secrets(&e).await;
    let workloads_before = workloads(&e).await;
    assert!(
        workloads_before.len() >= 2 * SERVICES.len(),
        "{workloads_before:?}"
    );
    let again = up(&e, "60s").await;
    assert_eq!(again.code, Some(0), "{again:?}");
    assert_eq!(before, secrets(&e).await, "a re-run changed the Secrets");
    assert_eq!(
        workloads_before,
        workloads(&e).await,
        "a re-run wrote to a workload"
    );
    // Pods ready for a while are not shown as pulling or waiting again: each service's one line
    // says it is ready.
    for s in SERVICES {
        let phases: Vec<&str> = again
            .stderr
            .lines()
            .filter_map(|l| l.strip_prefix(&format!("{s}: ")))
            .collect();
        assert_eq!(phases.len(), 1, "{s}: {again:?}");
        assert!(phases[0].starts_with("ready"), "{s}: {again:?}");
    }
    eprintln!("re-run took {:?}", again.took);
}

/// Inject `fault` on `target`, run up (short timeout) and expect a non-zero exit whose stderr
/// holds every one of `expect`; then lift the fault and expect a re-run to converge.
async fn fault_then_recover(target: Target, fault: Fault, timeout: &str, expect: &[&str]) {
    let e = env().await;
    e.sim.inject(target, fault);
    let failed = up(&e, timeout).await;
    assert_eq!(failed.code, Some(1), "{failed:?}");
    for text in expect {
        assert!(failed.stderr.contains(text), "missing {text:?}: {failed:?}");
    }
    // The advice is given once, and every onyx command in it is runnable as printed (this
    // cluster's flags).
    let again = format!("{} again", runnable(&e, "up"));
    assert!(failed.stderr.matches(&again).count() <= 1, "{failed:?}");
    assert_eq!(failed.stderr.matches("\n  →").count(), 0, "{failed:?}");
    assert_runnable(&e, &failed.stderr);
    assert!(!failed.stderr.contains("panicked"), "{failed:?}");
    e.sim.clear_faults();
    let ok = up(&e, "60s").await;
    assert_eq!(ok.code, Some(0), "{ok:?}");
}

fn svc(name: &str) -> Target {
    Target::labels(&format!("app.kubernetes.io/name={name}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn crash_loop_shows_its_last_log_lines() {
    fault_then_recover(
        svc("web-server"),
        Fault::crash_loop(1, &["starting web", "Error: cannot find module 'next'"]),
        "30s",
        &[
            "web-server did not become ready",
            "keeps crashing",
            "Error: cannot find module 'next'",
            "onyx logs web-server --previous",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn image_pull_error_names_the_image() {
    fault_then_recover(
        svc("redis"),
        Fault::ImagePull { message: None },
        "30s",
        &["cannot pull image redis:7.4-alpine", "air-gapped"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn oom_killed_suggests_the_next_profile() {
    fault_then_recover(
        svc("vespa"),
        Fault::OomKilled,
        "30s",
        &["OOMKilled", "--profile medium"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pending_claim_means_no_default_storage_class() {
    fault_then_recover(
        svc("postgresql"),
        Fault::PvcPending,
        "5s",
        &["postgresql-data stays Pending", "default StorageClass"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unschedulable_for_memory() {
    fault_then_recover(
        svc("minio"),
        Fault::Unschedulable {
            message: Some("0/1 nodes are available: 1 Insufficient memory.".into()),
        },
        "5s",
        &[
            "cannot be scheduled",
            "enough free memory",
            "Insufficient memory",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn vespa_illegal_instruction_means_no_avx2() {
    fault_then_recover(
        svc("vespa"),
        Fault::crash_loop(132, &["Illegal instruction"]),
        "30s",
        &["AVX2", "vespa-generic-intel-x86_64"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn api_stuck_waiting_for_a_dependency_names_it() {
    let e = env().await;
    // The API's container runs but never gets ready; its init container's log says what it
    // waits for (as the real `wait-for-dependencies` prints it).
    let fault = e.sim.inject(
        svc("api-server").container("api-server"),
        Fault::NotReady { message: None },
    );
    let child = command(
        &e,
        &[
            "up",
            "--profile",
            "small",
            "--force",
            "--no-browser",
            "--timeout",
            "6s",
        ],
    )
    .spawn()
    .unwrap();
    let started = Instant::now();
    let client = client(&e);
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client, NS);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let list = pods
            .list(&ListParams::default().labels("app.kubernetes.io/name=api-server"))
            .await
            .unwrap();
        if let Some(p) = list.items.first() {
            let name = p.metadata.name.clone().unwrap();
            assert!(e.sim.append_log(
                NS,
                &name,
                "wait-for-dependencies",
                "PostgreSQL is up at postgresql:5432"
            ));
            assert!(e.sim.append_log(
                NS,
                &name,
                "wait-for-dependencies",
                "waiting for Vespa at vespa-0.vespa-service:19071: timed out"
            ));
            break;
        }
        assert!(Instant::now() < deadline, "no api-server pod");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let failed = finish(child, started, 60).await;
    assert_eq!(failed.code, Some(1), "{failed:?}");
    assert!(
        failed.stderr.contains("still waiting for Vespa"),
        "{failed:?}"
    );
    assert!(failed.stderr.contains("onyx logs vespa"), "{failed:?}");
    e.sim.clear_fault(fault);
    let ok = up(&e, "60s").await;
    assert_eq!(ok.code, Some(0), "{ok:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn server_errors_and_dropped_connections_during_apply_are_retried() {
    let e = env().await;
    e.sim.fail_next_matching(6, RequestFilter::method("PATCH"));
    e.sim.cut_next_matching(3, RequestFilter::method("PATCH"));
    e.sim.drop_next_connections(2);
    let run = up(&e, "60s").await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let faults = e.sim.faults_json();
    assert_eq!(faults["failNextRequests"], 0, "{faults}");
    for s in SERVICES {
        position(&run.stderr, &format!("{s}: ready"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn down_then_up_keeps_claims_and_secrets() {
    let e = env().await;
    assert_eq!(up(&e, "60s").await.code, Some(0));
    let (secrets_before, claims_before) = (secrets(&e).await, claims(&e).await);
    assert_eq!(secrets_before.len(), 3, "{secrets_before:?}");
    assert!(claims_before.len() >= 3, "{claims_before:?}");

    // A container that never restarted has no previous run: said so, with what to run instead.
    let prev = onyx(&e, &["logs", "--previous", "api-server"]).await;
    assert_eq!(prev.code, Some(3), "{prev:?}");
    assert!(
        prev.stderr.contains("api-server has not restarted")
            && prev.stderr.contains("there is no previous run")
            && prev.stderr.contains(&runnable(&e, "logs api-server")),
        "{prev:?}"
    );

    let down = onyx(&e, &["down"]).await;
    assert_eq!(down.code, Some(0), "{down:?}");
    // A stopped service is not restarted: said so, and how to start it.
    let restart = onyx(&e, &["restart", "web-server"]).await;
    assert_eq!(restart.code, Some(3), "{restart:?}");
    assert!(
        restart.stderr.contains("web-server is stopped")
            && restart.stderr.contains(&runnable(&e, "up")),
        "{restart:?}"
    );
    let status = onyx(&e, &["status", "-o", "json"]).await;
    assert_eq!(status.code, Some(1), "{status:?}");
    let json: Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(json["stopped"], true, "{json}");
    assert!(
        json["services"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["desired"] == 0)
    );

    let again = up(&e, "60s").await;
    assert_eq!(again.code, Some(0), "{again:?}");
    assert_eq!(
        secrets_before,
        secrets(&e).await,
        "Secrets changed across down/up"
    );
    assert_eq!(
        claims_before,
        claims(&e).await,
        "claims changed across down/up"
    );
    assert_eq!(onyx(&e, &["status"]).await.code, Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn destroy_keeps_claims_unless_data() {
    let e = env().await;
    assert_eq!(up(&e, "60s").await.code, Some(0));
    let claims_before = claims(&e).await;

    // No terminal and no --yes: refuse, remove nothing.
    let refused = onyx(&e, &["destroy"]).await;
    assert_eq!(refused.code, Some(2), "{refused:?}");
    assert!(refused.stderr.contains("--yes"), "{refused:?}");
    assert!(e.sim.object("apps/v1", "Deployment", NS, "nginx").is_some());

    let kept = onyx(&e, &["destroy", "--yes"]).await;
    assert_eq!(kept.code, Some(0), "{kept:?}");
    assert!(e.sim.object("apps/v1", "Deployment", NS, "nginx").is_none());
    assert!(
        e.sim
            .object("apps/v1", "StatefulSet", NS, "vespa")
            .is_none()
    );
    assert_eq!(
        claims_before,
        claims(&e).await,
        "claims went without --data"
    );
    assert_eq!(secrets(&e).await.len(), 3, "Secrets went without --data");
    let gone = onyx(&e, &["status"]).await;
    assert_eq!(gone.code, Some(1), "{gone:?}");
    assert!(gone.stderr.contains("no Onyx stack"), "{gone:?}");

    // Up again on the kept data; then remove everything.
    assert_eq!(up(&e, "60s").await.code, Some(0));
    assert_eq!(claims_before, claims(&e).await);
    let all = onyx(&e, &["destroy", "--yes", "--data"]).await;
    assert_eq!(all.code, Some(0), "{all:?}");
    assert!(claims(&e).await.is_empty(), "claims kept with --data");
    assert!(secrets(&e).await.is_empty(), "Secrets kept with --data");
}

#[tokio::test(flavor = "multi_thread")]
async fn status_json_schema_and_exit_codes() {
    let e = env().await;
    let none = onyx(&e, &["status", "-o", "json"]).await;
    assert_eq!(none.code, Some(1), "{none:?}");
    assert!(
        none.stderr.contains("no Onyx stack in namespace"),
        "{none:?}"
    );

    assert_eq!(up(&e, "60s").await.code, Some(0));
    // Nothing serves the UI here (no --forward running): no URL.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let run = onyx(&e, &["status", "-o", "json", "--port", &free]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let json: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["url"], Value::Null, "{json}");
    // A gateway answering on the port (as a port-forward would give it): the URL.
    let nginx = stand_in_nginx::StandIn::nginx().await;
    let served = nginx.addr.port().to_string();
    let run = onyx(&e, &["status", "-o", "json", "--port", &served]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let json: Value = serde_json::from_str(&run.stdout).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "context",
            "healthy",
            "namespace",
            "release",
            "services",
            "stopped",
            "url"
        ],
        "{json}"
    );
    assert_eq!(json["healthy"], true);
    assert_eq!(json["url"], format!("http://localhost:{served}"));
    assert_eq!(json["namespace"], NS);
    let services = json["services"].as_array().unwrap();
    let names: Vec<&str> = services
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, SERVICES);
    for s in services {
        let keys: Vec<&str> = s.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "age_seconds",
                "desired",
                "healthy",
                "image",
                "kind",
                "missing",
                "name",
                "ready",
                "restarts",
                "state"
            ],
            "{s}"
        );
        assert_eq!(s["state"], "ready", "{s}");
        assert!(s["age_seconds"].as_i64().is_some_and(|a| a < 60), "{s}");
        assert_eq!(s["ready"], 1, "{s}");
        assert_eq!(s["desired"], 1, "{s}");
        assert!(s["image"].as_str().unwrap().contains(':'), "{s}");
    }
    let vespa = services.iter().find(|s| s["name"] == "vespa").unwrap();
    assert_eq!(vespa["kind"], "StatefulSet");

    let text = onyx(&e, &["status", "--port", &free]).await;
    assert_eq!(text.code, Some(0), "{text:?}");
    assert!(text.stdout.contains("SERVICE"), "{text:?}");
    assert!(
        text.stdout.contains(&format!(
            "healthy; nothing serves the UI on this machine ({} does)",
            runnable(&e, "up --forward")
        )),
        "{text:?}"
    );
    let text = onyx(&e, &["status", "--port", &served]).await;
    assert!(
        text.stdout
            .contains(&format!("healthy: http://localhost:{served}")),
        "{text:?}"
    );

    // A crash-looping service makes it unhealthy.
    e.sim.inject(svc("redis"), Fault::crash_loop(1, &["boom"]));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = onyx(&e, &["status", "-o", "json"]).await;
        if r.code == Some(1) {
            let json: Value = serde_json::from_str(&r.stdout).unwrap();
            assert_eq!(json["healthy"], false);
            let redis = &json["services"][1];
            assert_eq!(
                (redis["name"].as_str(), redis["state"].as_str()),
                (Some("redis"), Some("not ready")),
                "{json}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "status stayed healthy: {r:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_and_restart() {
    let e = env().await;
    assert_eq!(up(&e, "60s").await.code, Some(0));
    let logs = onyx(&e, &["logs", "api-server"]).await;
    assert_eq!(logs.code, Some(0), "{logs:?}");
    assert!(
        logs.stdout.contains("container api-server started"),
        "{logs:?}"
    );

    let bad = onyx(&e, &["logs", "apiserver"]).await;
    assert_eq!(bad.code, Some(2), "{bad:?}");
    assert!(
        bad.stderr.contains("the services are: postgresql"),
        "{bad:?}"
    );

    let before = e
        .sim
        .object("apps/v1", "Deployment", NS, "web-server")
        .unwrap();
    let restart = onyx(&e, &["restart", "web-server"]).await;
    assert_eq!(restart.code, Some(0), "{restart:?}");
    let after = e
        .sim
        .object("apps/v1", "Deployment", NS, "web-server")
        .unwrap();
    assert!(
        after["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
            .is_string(),
        "{after}"
    );
    assert!(after["metadata"]["generation"].as_i64() > before["metadata"]["generation"].as_i64());
    // up after a restart still converges (and keeps the restart's annotation owner apart).
    assert_eq!(up(&e, "60s").await.code, Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_mid_up_then_up_completes() {
    let e = env_with(2_000).await;
    let mut child = command(
        &e,
        &[
            "up",
            "--profile",
            "small",
            "--force",
            "--no-browser",
            "--timeout",
            "60s",
        ],
    )
    .spawn()
    .unwrap();
    let started = Instant::now();
    // Wait until it applied and is waiting.
    let deadline = Instant::now() + Duration::from_secs(20);
    while e.sim.object("apps/v1", "Deployment", NS, "nginx").is_none() {
        assert!(Instant::now() < deadline, "nothing applied");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = child.id().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    let _ = &mut child;
    let interrupted = finish(child, started, 30).await;
    assert_eq!(interrupted.code, Some(130), "{interrupted:?}");
    assert!(
        interrupted
            .stderr
            .contains(&format!("run {} again", runnable(&e, "up"))),
        "{interrupted:?}"
    );

    let ok = up(&e, "60s").await;
    assert_eq!(ok.code, Some(0), "{ok:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_follow_prints_new_lines_as_they_come_and_ends_with_ctrl_c() {
    use tokio::io::AsyncBufReadExt;
    let e = env().await;
    assert_eq!(up(&e, "60s").await.code, Some(0));
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client(&e), NS);
    let pod = pods
        .list(&ListParams::default().labels("app.kubernetes.io/name=api-server"))
        .await
        .unwrap()
        .items
        .remove(0);
    let pod = pod.metadata.name.unwrap();

    let mut child = command(&e, &["logs", "-f", "api-server"]).spawn().unwrap();
    let started = Instant::now();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next_line = async || {
        tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("a line within 20s")
            .unwrap()
            .expect("the stream goes on")
    };
    // What was logged so far comes first...
    assert!(
        next_line().await.contains("container api-server started"),
        "the log so far"
    );
    // ...then each line the container writes later, while onyx keeps following.
    for i in 0..3 {
        let line = format!("later line {i}");
        assert!(e.sim.append_log(NS, &pod, "api-server", &line));
        loop {
            let got = next_line().await;
            if got == line {
                break;
            }
        }
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "logs -f must keep following"
    );
    // Ctrl-C is the normal way out of following: exit 0.
    let pid = child.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let done = finish(child, started, 30).await;
    assert_eq!(done.code, Some(0), "{done:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_cluster_names_context_and_server() {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        k8s_sim::kubeconfig_yaml(&format!("http://127.0.0.1:{port}")),
    )
    .unwrap();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_onyx"));
    cmd.args(["up", "--profile", "small", "--force", "--kubeconfig"])
        .arg(&kubeconfig)
        .args(["--context", "sim"]);
    isolate(&mut cmd, dir.path());
    let run = finish(cmd.spawn().unwrap(), Instant::now(), 60).await;
    assert_eq!(run.code, Some(3), "{run:?}");
    assert!(run.stderr.contains("context \"sim\""), "{run:?}");
    assert!(run.stderr.contains(&format!("127.0.0.1:{port}")), "{run:?}");
    assert!(!run.stderr.contains("panicked"), "{run:?}");

    // A context the kubeconfig lacks is a usage error listing the ones it has.
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_onyx"));
    cmd.args(["status", "--kubeconfig"])
        .arg(&kubeconfig)
        .args(["--context", "nope"]);
    isolate(&mut cmd, dir.path());
    let run = finish(cmd.spawn().unwrap(), Instant::now(), 60).await;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(
        run.stderr.contains("no context \"nope\" (it has: sim)"),
        "{run:?}"
    );

    // No cluster named: day-2 commands use onyx's own cluster's context, which this kubeconfig
    // lacks (`up` would make the cluster; it is not run here, as that pulls the node image).
    // Where a Docker engine answers (with no DOCKER_HOST the child searches the usual sockets; a
    // named engine that is dead would be the error instead), onyx looks for its node and says the
    // cluster is not there; else, that the context is missing. No test makes the own cluster
    // meanwhile.
    let _own = support::own_cluster_lock().await;
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_onyx"));
    cmd.args(["status"]).env("KUBECONFIG", &kubeconfig);
    isolate(&mut cmd, dir.path());
    cmd.env_remove("DOCKER_HOST");
    let run = finish(cmd.spawn().unwrap(), Instant::now(), 60).await;
    let engine = std::os::unix::net::UnixStream::connect("/var/run/docker.sock").is_ok();
    if engine {
        assert_eq!(run.code, Some(3), "{run:?}");
        assert!(
            run.stderr
                .contains("onyx's own cluster is not there (node onyx-control-plane)")
                && run.stderr.contains("`onyx up` makes one"),
            "{run:?}"
        );
    } else {
        assert_eq!(run.code, Some(2), "{run:?}");
        assert!(
            run.stderr
                .contains("no context \"kind-onyx\" (it has: sim)"),
            "{run:?}"
        );
    }
}

/// On a cluster onyx did not make, `--forward` exposes the gateway on 127.0.0.1:--port through a
/// port-forward, checks that nginx answers there before saying the URL, and keeps forwarding
/// until Ctrl-C.
#[tokio::test(flavor = "multi_thread")]
async fn forward_exposes_the_gateway_checks_it_and_serves_until_ctrl_c() {
    let e = env().await;
    let nginx = stand_in_nginx::StandIn::nginx().await;
    e.sim.forward_port(
        Target::labels("app.kubernetes.io/name=nginx"),
        8080,
        nginx.addr,
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let mut cmd = command(
        &e,
        &[
            "up",
            "--profile",
            "small",
            "--force",
            "--no-browser",
            "--timeout",
            "60s",
            "--forward",
            "--port",
            &port,
        ],
    );
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("onyx starts");
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    tokio::time::timeout(
        Duration::from_secs(60),
        tokio::io::AsyncBufReadExt::read_line(&mut stdout, &mut line),
    )
    .await
    .expect("a URL within 60 s")
    .unwrap();
    assert_eq!(line.trim(), format!("http://localhost:{port}"));
    // The gateway check went through the forward to nginx, and a new request does too.
    let seen = nginx.requests();
    assert!(seen >= 1, "the gateway check did not reach nginx");
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap()))
        .await
        .unwrap();
    tokio::io::AsyncWriteExt::write_all(
        &mut s,
        b"GET /nginx-health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let mut answer = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        tokio::io::AsyncReadExt::read_to_string(&mut s, &mut answer),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(nginx.requests() > seen);
    // Ctrl-C ends it cleanly.
    let pid = child.id().unwrap() as i32;
    std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("onyx stops on Ctrl-C")
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

/// Two services failing for different reasons: each gets its own diagnosis, not only the first.
#[tokio::test(flavor = "multi_thread")]
async fn every_failing_service_gets_its_own_diagnosis() {
    let e = env().await;
    e.sim
        .inject(svc("redis"), Fault::ImagePull { message: None });
    e.sim.inject(
        svc("vespa"),
        Fault::crash_loop(1, &["vespa: config server failed"]),
    );
    let failed = up(&e, "30s").await;
    assert_eq!(failed.code, Some(1), "{failed:?}");
    assert!(
        failed.stderr.contains("services did not become ready"),
        "{failed:?}"
    );
    assert!(
        failed.stderr.contains("cannot pull image redis:7.4-alpine"),
        "{failed:?}"
    );
    assert!(failed.stderr.contains("keeps crashing"), "{failed:?}");
    assert!(
        failed.stderr.contains("vespa: config server failed"),
        "{failed:?}"
    );
    // Two distinct pieces of advice, one each.
    assert_eq!(failed.stderr.matches("\n  →").count(), 2, "{failed:?}");
    assert_runnable(&e, &failed.stderr);
    e.sim.clear_faults();
    assert_eq!(up(&e, "60s").await.code, Some(0));
}

/// `--forward` on a taken port is refused before anything is applied.
#[tokio::test(flavor = "multi_thread")]
async fn forward_on_a_taken_port_is_refused_at_once() {
    let e = env().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let run = onyx(
        &e,
        &[
            "up",
            "--profile",
            "small",
            "--force",
            "--no-browser",
            "--forward",
            "--port",
            &port,
        ],
    )
    .await;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(
        run.stderr
            .contains(&format!("port {port} on 127.0.0.1 is already in use")),
        "{run:?}"
    );
    // At once: before anything was written, not even the namespace.
    assert!(
        e.sim.object("v1", "Namespace", "", NS).is_none(),
        "the namespace was made before the port was checked"
    );
    assert!(
        e.sim.object("apps/v1", "Deployment", NS, "nginx").is_none(),
        "applied before the port was checked"
    );
}
