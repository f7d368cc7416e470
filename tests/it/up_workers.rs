//! `onyx up` with the indexing services (issue #12), as the real binary against the Kubernetes
//! API simulator: the background workers and the indexing model server come up with their own
//! progress lines, `status -o json` lists them, `--indexing off` removes them and stays off on a
//! re-run, `logs`/`restart background` reach them, and a crash-looping worker gets its diagnosis.
//! The simulator runs no image: it proves onyx deploys, waits for, lists and explains these
//! workloads, not that Celery starts (scripts/e2e-real.sh is that check).

use k8s_openapi::api::apps::v1::Deployment;
use k8s_sim::{Fault, Target};
use kube::api::Api;
use serde_json::Value;

use crate::support::{self, cmd::Run};

const NS: &str = "onyx-workers";

type Env = support::sim::SimEnv;

async fn env() -> Env {
    // Long enough that each service is seen before it is ready, even on a loaded 2-CPU machine
    // (150 ms let a fast watch see the indexing model server only once it was ready).
    Env::start(support::sim::timing(1500, Some(100))).await
}

async fn onyx(e: &Env, args: &[&str]) -> Run {
    e.onyx(NS, args).run().await
}

/// `up` with a profile named regardless of this machine (as tests/it/up/ does), plus `extra`.
async fn up(e: &Env, profile: &str, extra: &[&str]) -> Run {
    let mut args = vec![
        "up",
        "--profile",
        profile,
        "--force",
        "--no-browser",
        "--timeout",
        "60s",
    ];
    args.extend_from_slice(extra);
    onyx(e, &args).await
}

fn phases<'a>(stderr: &'a str, service: &str) -> Vec<&'a str> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("{service}: ")))
        .map(|rest| rest.rsplit_once(" (").map_or(rest, |(p, _)| p))
        .collect()
}

fn client(e: &Env) -> kube::Client {
    e.client()
}

async fn deployment_exists(e: &Env, name: &str) -> bool {
    let api: Api<Deployment> = Api::namespaced(client(e), NS);
    api.get_opt(name).await.unwrap().is_some()
}

async fn status_names(e: &Env) -> Vec<String> {
    let st = onyx(e, &["status", "-o", "json"]).await;
    let v: Value = serde_json::from_str(&st.stdout).unwrap_or_else(|_| panic!("{st:?}"));
    v["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn large_indexes_with_its_own_model_server_then_off_stays_off() {
    let e = env().await;
    let run = up(&e, "large", &[]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        run.stderr
            .contains("indexing: on: background workers and their own indexing model server"),
        "{run:?}"
    );
    // Their own progress lines: the workers wait for what they need, then start, then ready.
    for s in ["background", "indexing-model-server"] {
        let p = phases(&run.stderr, s);
        assert!(p.len() >= 2, "{s}: {p:?}\n{run:?}");
        assert_eq!(p.last(), Some(&"ready"), "{s}: {p:?}");
    }
    let bg = phases(&run.stderr, "background");
    assert!(
        bg.first().is_some_and(|p| p.starts_with("waiting for")),
        "background should first wait for its dependencies: {bg:?}"
    );
    assert!(run.stderr.contains("all 10 services ready"), "{run:?}");

    // status lists them, healthy.
    let st = onyx(&e, &["status", "-o", "json"]).await;
    assert_eq!(st.code, Some(0), "{st:?}");
    let v: Value = serde_json::from_str(&st.stdout).unwrap();
    for name in ["background", "indexing-model-server"] {
        let s = v["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("{name} not in status: {st:?}"));
        assert_eq!(s["healthy"], true, "{s}");
        assert!(s["image"].as_str().unwrap().contains("onyxdotapp/"), "{s}");
    }

    // Day 2 by name.
    // Logs first: right after a restart the old pod may be going and the new one not started.
    let l = onyx(&e, &["logs", "background", "--tail", "5"]).await;
    assert_eq!(l.code, Some(0), "{l:?}");
    let r = onyx(&e, &["restart", "background"]).await;
    assert_eq!(r.code, Some(0), "{r:?}");

    // Off: removed, and kept off on a re-run without the flag.
    let off = up(&e, "large", &["--indexing", "off"]).await;
    assert_eq!(off.code, Some(0), "{off:?}");
    assert!(off.stderr.contains("removed"), "{off:?}");
    assert!(!deployment_exists(&e, "background").await);
    assert!(!deployment_exists(&e, "indexing-model-server").await);
    assert!(off.stderr.contains("all 8 services ready"), "{off:?}");
    let names = status_names(&e).await;
    assert!(!names.iter().any(|n| n == "background"), "{names:?}");
    let again = up(&e, "large", &[]).await;
    assert_eq!(again.code, Some(0), "{again:?}");
    assert!(again.stderr.contains("indexing: off"), "{again:?}");
    assert!(!deployment_exists(&e, "background").await);
    // On again: back.
    let on = up(&e, "large", &["--indexing", "on"]).await;
    assert_eq!(on.code, Some(0), "{on:?}");
    assert!(deployment_exists(&e, "background").await);
    assert!(status_names(&e).await.iter().any(|n| n == "background"));
}

#[tokio::test(flavor = "multi_thread")]
async fn medium_indexes_through_the_inference_model_server() {
    let e = env().await;
    let run = up(&e, "medium", &[]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        run.stderr
            .contains("the inference model server also embeds for indexing"),
        "{run:?}"
    );
    assert!(deployment_exists(&e, "background").await);
    assert!(!deployment_exists(&e, "indexing-model-server").await);
    assert!(phases(&run.stderr, "indexing-model-server").is_empty());
    assert_eq!(phases(&run.stderr, "background").last(), Some(&"ready"));
    // small does not index unless asked.
    let e2 = env().await;
    let small = up(&e2, "small", &[]).await;
    assert_eq!(small.code, Some(0), "{small:?}");
    assert!(!deployment_exists(&e2, "background").await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_looping_worker_gets_its_diagnosis() {
    let e = env().await;
    e.sim.inject(
        Target::labels("app.kubernetes.io/name=background"),
        Fault::crash_loop(
            1,
            &[
                "Worker mode configuration:",
                "Error: Can't drop privilege as nonroot user",
            ],
        ),
    );
    let failed = up(&e, "medium", &[]).await;
    assert_eq!(failed.code, Some(1), "{failed:?}");
    for text in [
        "background did not become ready",
        "keeps crashing",
        "Can't drop privilege as nonroot user",
        "onyx logs background --previous",
    ] {
        assert!(failed.stderr.contains(text), "missing {text:?}: {failed:?}");
    }
    assert!(!failed.stderr.contains("panicked"), "{failed:?}");
    e.sim.clear_faults();
    let ok = up(&e, "medium", &[]).await;
    assert_eq!(ok.code, Some(0), "{ok:?}");
}
