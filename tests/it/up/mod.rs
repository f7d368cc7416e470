//! `onyx up` and the day-2 commands, driven as the real binary against the Kubernetes API
//! simulator (one simulator per test, in-process, short readiness delays, every run time-bound).
//!
//! Shown here: from nothing to all services ready with per-service progress in dependency
//! order; each fault → its diagnosis and a non-zero exit, then the fault lifted → a re-run
//! converges; transient API errors during apply are absorbed; `down` → `up` keeps claims and
//! Secrets; `destroy` keeps claims unless `--data`; `status -o json` and its exit codes; Ctrl-C
//! during the wait leaves a state the next `up` completes; the idempotent re-run.
//!
//! This file: the harness (one simulator per test, the binary time-bound, what the cluster holds)
//! and `up` itself (from nothing, absorbed API errors, Ctrl-C); `faults` (each fault diagnosed,
//! then recovered), `day2` (down, destroy, status, logs, restart) and `forward` (`up --forward`).

use std::process::Stdio;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Secret};
use k8s_sim::{Fault, RequestFilter, Target};
use kube::api::{Api, ListParams};
use serde_json::Value;

use crate::support::cmd::{Run, isolate};
use crate::support::{self, stand_in_nginx};

mod claims;
mod day2;
mod faults;
mod forward;
mod screen;
mod sizing;

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

/// The pods of one service, by its name label.
fn svc(name: &str) -> Target {
    Target::labels(&format!("app.kubernetes.io/name={name}"))
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

/// The namespace `up` creates is labelled with the stack's Pod Security level (enforce, warn,
/// audit); one that exists already is the user's and is never relabelled.
#[tokio::test(flavor = "multi_thread")]
async fn a_namespace_onyx_creates_gets_the_pod_security_level_a_users_keeps_its_labels() {
    use k8s_openapi::api::core::v1::Namespace;
    let e = env().await;
    let labels = |name: &'static str| {
        let api: Api<Namespace> = Api::all(client(&e));
        async move {
            api.get(name)
                .await
                .unwrap()
                .metadata
                .labels
                .unwrap_or_default()
                .into_iter()
                .filter(|(k, _)| k.starts_with("pod-security.kubernetes.io/"))
                .collect::<std::collections::BTreeMap<_, _>>()
        }
    };
    let connect = |ns: &str| onyx::kube::ConnectOptions {
        kubeconfig: Some(e.kubeconfig.clone()),
        context: Some("sim".into()),
        namespace: Some(ns.into()),
    };
    let made = onyx::kube::connect(&connect("made-by-onyx"), true)
        .await
        .unwrap();
    assert!(made.created_namespace);
    assert_eq!(
        labels("made-by-onyx").await,
        onyx::kube::pod_security_labels()
    );
    let api: Api<Namespace> = Api::all(client(&e));
    let mine = Namespace {
        metadata: kube::api::ObjectMeta {
            name: Some("the-users".into()),
            labels: Some([("team".to_string(), "a".to_string())].into()),
            ..Default::default()
        },
        ..Default::default()
    };
    api.create(&Default::default(), &mine).await.unwrap();
    let found = onyx::kube::connect(&connect("the-users"), true)
        .await
        .unwrap();
    assert!(!found.created_namespace);
    assert!(labels("the-users").await.is_empty());
    let got = api.get("the-users").await.unwrap().metadata.labels.unwrap();
    assert_eq!(got.get("team").map(String::as_str), Some("a"), "{got:?}");
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
