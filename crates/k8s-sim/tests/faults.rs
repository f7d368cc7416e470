//! Each fault is visible through the API the way a real cluster shows it, and lifting it lets the
//! stack converge.

mod common;

use std::time::Duration;

use common::{client_for, eventually, start, start_with, within};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, ContainerStatus, Event, PersistentVolumeClaim, Pod};
use k8s_sim::{Fault, SimConfig, Target};
use kube::api::{Api, ListParams, LogParams, Patch, PatchParams};
use kube::runtime::wait::await_condition;
use serde_json::{Value, json};

fn deployment(name: &str, claim: Option<&str>) -> Value {
    let mut d = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": format!("onyx/{name}:1")}]}}
        }
    });
    if let Some(c) = claim {
        d["spec"]["template"]["spec"]["volumes"] =
            json!([{"name": "data", "persistentVolumeClaim": {"claimName": c}}]);
    }
    d
}

fn rolled_out(d: Option<&Deployment>) -> bool {
    let Some(d) = d else { return false };
    let s = d.status.clone().unwrap_or_default();
    let desired = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    s.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0)
        && s.updated_replicas.unwrap_or(0) == desired
        && s.available_replicas.unwrap_or(0) == desired
}

async fn pod_of(pods: &Api<Pod>, app: &str) -> Option<Pod> {
    pods.list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .ok()?
        .items
        .into_iter()
        .next()
}

fn container(p: &Pod) -> Option<ContainerStatus> {
    p.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .first()
        .cloned()
}

async fn event_reasons(client: &kube::Client, name: &str) -> Vec<(String, String)> {
    let events: Api<Event> = Api::default_namespaced(client.clone());
    events
        .list(&ListParams::default().fields(&format!("involvedObject.name={name}")))
        .await
        .map(|l| {
            l.items
                .into_iter()
                .map(|e| (e.reason.unwrap_or_default(), e.message.unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn crash_loop_shows_backoff_restarts_logs_and_recovers_when_lifted() {
    let (sim, client) = start_with(SimConfig {
        crash_interval: Duration::from_millis(150),
        ..Default::default()
    })
    .await;
    let fault = sim.inject(
        Target::labels("app=api"),
        Fault::crash_loop(1, &["connecting to vespa", "error: vespa unreachable"]),
    );
    let deploys: Api<Deployment> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    deploys
        .patch(
            "api",
            &PatchParams::apply("onyx"),
            &Patch::Apply(deployment("api", None)),
        )
        .await
        .unwrap();
    let (pod, cs) = eventually(10, "crash loop visible", || async {
        let p = pod_of(&pods, "api").await?;
        let cs = container(&p)?;
        (cs.restart_count >= 2).then_some((p, cs))
    })
    .await;
    let waiting = cs.state.unwrap().waiting.unwrap();
    assert_eq!(waiting.reason.as_deref(), Some("CrashLoopBackOff"));
    let term = cs.last_state.unwrap().terminated.unwrap();
    assert_eq!((term.exit_code, term.reason.as_deref()), (1, Some("Error")));
    assert!(!cs.ready);
    let name = pod.metadata.name.unwrap();
    // The restart count keeps growing.
    let later = eventually(5, "more restarts", || async {
        let c = container(&pods.get(&name).await.ok()?)?;
        (c.restart_count > cs.restart_count).then_some(c.restart_count)
    })
    .await;
    assert!(later > cs.restart_count);
    let prev = pods
        .logs(
            &name,
            &LogParams {
                previous: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(prev, "connecting to vespa\nerror: vespa unreachable\n");
    let tail = pods
        .logs(
            &name,
            &LogParams {
                tail_lines: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(tail, "error: vespa unreachable\n");
    assert!(
        event_reasons(&client, &name)
            .await
            .iter()
            .any(|(r, m)| r == "BackOff" && m.contains("restarting failed container main"))
    );
    assert!(!rolled_out(deploys.get("api").await.ok().as_ref()));

    sim.clear_fault(fault);
    within(
        10,
        "converges after the fault is lifted",
        await_condition(deploys.clone(), "api", rolled_out),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn image_pull_error_then_backoff_with_events() {
    let (sim, client) = start().await;
    sim.inject(
        Target::labels("app=web"),
        Fault::ImagePull { message: None },
    );
    let deploys: Api<Deployment> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    deploys
        .patch(
            "web",
            &PatchParams::apply("onyx"),
            &Patch::Apply(deployment("web", None)),
        )
        .await
        .unwrap();
    let first = eventually(10, "ErrImagePull", || async {
        let p = pod_of(&pods, "web").await?;
        let r = container(&p)?.state?.waiting?.reason?;
        (r == "ErrImagePull" || r == "ImagePullBackOff").then_some(p)
    })
    .await;
    let name = first.metadata.name.clone().unwrap();
    eventually(10, "ImagePullBackOff", || async {
        let r = container(&pods.get(&name).await.ok()?)?
            .state?
            .waiting?
            .reason?;
        (r == "ImagePullBackOff").then_some(())
    })
    .await;
    let p = pods.get(&name).await.unwrap();
    assert_eq!(p.status.unwrap().phase.as_deref(), Some("Pending"));
    let reasons = event_reasons(&client, &name).await;
    assert!(
        reasons
            .iter()
            .any(|(r, m)| r == "Failed" && m.contains("Failed to pull image \"onyx/web:1\"")),
        "{reasons:?}"
    );
    // Logs of a container that never started are a 400, as on a real cluster.
    match pods.logs(&name, &LogParams::default()).await {
        Err(kube::Error::Api(s)) => assert!(
            s.code == 400 && s.message.contains("waiting to start"),
            "{s:?}"
        ),
        other => panic!("expected a 400, got {other:?}"),
    }
    sim.clear_faults();
    within(
        10,
        "converges",
        await_condition(deploys.clone(), "web", rolled_out),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn oom_killed_is_the_last_termination_reason() {
    let (sim, client) = start().await;
    sim.inject(Target::labels("app=model"), Fault::OomKilled);
    let deploys: Api<Deployment> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    deploys
        .patch(
            "model",
            &PatchParams::apply("onyx"),
            &Patch::Apply(deployment("model", None)),
        )
        .await
        .unwrap();
    let term = eventually(10, "OOMKilled", || async {
        container(&pod_of(&pods, "model").await?)?
            .last_state?
            .terminated
    })
    .await;
    assert_eq!(
        (term.reason.as_deref(), term.exit_code),
        (Some("OOMKilled"), 137)
    );
}

#[tokio::test]
async fn unschedulable_pod_stays_pending_with_failed_scheduling() {
    let (sim, client) = start().await;
    // Through the admin endpoint, as the standalone binary is driven.
    let req = http::Request::post("/_sim/faults")
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&json!({"inject": {"target": {"labels": "app=vespa"}, "fault": {"type": "unschedulable"}}})).unwrap())
        .unwrap();
    let answer: Value = client.request(req).await.unwrap();
    assert_eq!(answer["faults"].as_array().unwrap().len(), 1);
    let deploys: Api<Deployment> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    deploys
        .patch(
            "vespa",
            &PatchParams::apply("onyx"),
            &Patch::Apply(deployment("vespa", None)),
        )
        .await
        .unwrap();
    let pod = eventually(10, "unschedulable", || async {
        let p = pod_of(&pods, "vespa").await?;
        let c = p
            .status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_ == "PodScheduled")?
            .clone();
        (c.status == "False" && c.reason.as_deref() == Some("Unschedulable")).then_some(p)
    })
    .await;
    assert_eq!(
        pod.status.as_ref().unwrap().phase.as_deref(),
        Some("Pending")
    );
    assert!(pod.spec.as_ref().unwrap().node_name.is_none());
    let name = pod.metadata.name.unwrap();
    let reasons = eventually(5, "FailedScheduling", || async {
        let r = event_reasons(&client, &name).await;
        r.iter().any(|(r, _)| r == "FailedScheduling").then_some(r)
    })
    .await;
    assert!(
        reasons
            .iter()
            .any(|(r, m)| r == "FailedScheduling" && m.contains("Insufficient memory"))
    );
    sim.clear_faults();
    within(
        10,
        "converges",
        await_condition(deploys.clone(), "vespa", rolled_out),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn pending_claim_blocks_its_pod_until_lifted() {
    let (sim, client) = start().await;
    sim.inject(Target::name_prefix("postgresql-data"), Fault::PvcPending);
    let pvcs: Api<PersistentVolumeClaim> = Api::default_namespaced(client.clone());
    let deploys: Api<Deployment> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let pvc = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "postgresql-data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}});
    pvcs.patch(
        "postgresql-data",
        &PatchParams::apply("onyx"),
        &Patch::Apply(pvc),
    )
    .await
    .unwrap();
    deploys
        .patch(
            "postgresql",
            &PatchParams::apply("onyx"),
            &Patch::Apply(deployment("postgresql", Some("postgresql-data"))),
        )
        .await
        .unwrap();
    let pod = eventually(10, "pod blocked on the claim", || async {
        let p = pod_of(&pods, "postgresql").await?;
        let c = p
            .status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_ == "PodScheduled")?
            .clone();
        c.message
            .as_deref()
            .is_some_and(|m| m.contains("unbound immediate PersistentVolumeClaims"))
            .then_some(p)
    })
    .await;
    assert_eq!(pod.status.unwrap().phase.as_deref(), Some("Pending"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        pvcs.get("postgresql-data")
            .await
            .unwrap()
            .status
            .unwrap()
            .phase
            .as_deref(),
        Some("Pending")
    );
    let reasons = event_reasons(&client, "postgresql-data").await;
    assert!(
        reasons.iter().any(|(r, _)| r == "FailedBinding"),
        "{reasons:?}"
    );
    sim.clear_faults();
    within(
        10,
        "converges",
        await_condition(deploys.clone(), "postgresql", rolled_out),
    )
    .await
    .unwrap();
    assert_eq!(
        pvcs.get("postgresql-data")
            .await
            .unwrap()
            .status
            .unwrap()
            .phase
            .as_deref(),
        Some("Bound")
    );
}

#[tokio::test]
async fn http_500s_and_dropped_connections_then_recovery() {
    let (sim, client) = start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    within(20, "500s", async {
        sim.fail_next_requests(2);
        for _ in 0..2 {
            match api.list(&ListParams::default()).await {
                Err(kube::Error::Api(s)) => {
                    assert_eq!((s.code, s.reason.as_str()), (500, "InternalError"))
                }
                other => panic!("expected a 500, got {other:?}"),
            }
        }
        assert!(api.list(&ListParams::default()).await.is_ok());
    })
    .await;
    within(20, "dropped connections", async {
        sim.drop_next_connections(2);
        let mut failures = 0;
        let mut ok = false;
        for _ in 0..5 {
            // A fresh client opens a fresh connection each time, like a retrying CLI.
            let fresh: Api<ConfigMap> = Api::default_namespaced(client_for(&sim));
            match fresh.list(&ListParams::default()).await {
                Ok(_) => {
                    ok = true;
                    break;
                }
                Err(kube::Error::Api(s)) => {
                    panic!("a dropped connection is not an API error: {s:?}")
                }
                Err(_) => failures += 1,
            }
        }
        assert!(ok, "recovered after the drops");
        assert!(failures >= 1, "drops were observed");
        assert_eq!(sim.faults_json()["dropNextConnections"], 0);
    })
    .await;
}

#[tokio::test]
async fn restarting_a_pod_replaces_it() {
    let (sim, client) = start().await;
    let deploys: Api<Deployment> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    deploys
        .patch(
            "nginx",
            &PatchParams::apply("onyx"),
            &Patch::Apply(deployment("nginx", None)),
        )
        .await
        .unwrap();
    within(
        10,
        "ready",
        await_condition(deploys.clone(), "nginx", rolled_out),
    )
    .await
    .unwrap();
    let old = pod_of(&pods, "nginx").await.unwrap();
    let old_name = old.metadata.name.clone().unwrap();
    assert!(sim.restart_pod("default", &old_name));
    assert!(!sim.restart_pod("default", "no-such-pod"));
    let new = eventually(10, "replacement ready", || async {
        let p = pod_of(&pods, "nginx").await?;
        let ready = container(&p)?.ready;
        (p.metadata.uid != old.metadata.uid && ready).then_some(p)
    })
    .await;
    assert_ne!(new.metadata.name.unwrap(), old_name);
}

#[tokio::test]
async fn request_faults_can_target_writes_and_cut_answers_after_the_change() {
    let (sim, client) = start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let cm = |v: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"v": v}});
    within(20, "filtered faults", async {
        // Only PATCHes fail; reads keep working.
        sim.fail_next_matching(1, k8s_sim::RequestFilter::method("PATCH"));
        assert!(api.list(&ListParams::default()).await.is_ok());
        match api
            .patch("c", &PatchParams::apply("onyx"), &Patch::Apply(cm("1")))
            .await
        {
            Err(kube::Error::Api(s)) => assert_eq!(s.code, 500),
            other => panic!("expected a 500, got {other:?}"),
        }
        assert!(
            api.get_opt("c").await.unwrap().is_none(),
            "a failed request changed nothing"
        );
        // A cut answer: the change happened, the client only sees a broken connection.
        sim.cut_next_matching(1, k8s_sim::RequestFilter::method("PATCH"));
        match api
            .patch("c", &PatchParams::apply("onyx"), &Patch::Apply(cm("2")))
            .await
        {
            Err(kube::Error::Api(s)) => panic!("a cut is not an API answer: {s:?}"),
            Err(_) => {}
            Ok(_) => panic!("the answer should have been cut"),
        }
        let stored = api.get("c").await.unwrap();
        assert_eq!(stored.data.unwrap()["v"], "2");
        // The retry (server-side apply is idempotent) succeeds.
        api.patch("c", &PatchParams::apply("onyx"), &Patch::Apply(cm("2")))
            .await
            .unwrap();
        let state = sim.faults_json();
        assert_eq!(
            (
                state["failNextRequests"].as_u64(),
                state["cutNextRequests"].as_u64()
            ),
            (Some(0), Some(0))
        );
    })
    .await;
}

#[tokio::test]
async fn not_ready_runs_without_becoming_ready() {
    let (sim, client) = start().await;
    let msg = "Readiness probe failed: Get \"http://10.244.0.5:8080/health\": waiting for vespa";
    let id = sim.inject(
        Target::labels("app=api"),
        Fault::NotReady {
            message: Some(msg.into()),
        },
    );
    let deploys: Api<Deployment> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    deploys
        .patch(
            "api",
            &PatchParams::apply("onyx"),
            &Patch::Apply(deployment("api", None)),
        )
        .await
        .unwrap();
    let name = eventually(10, "unhealthy event", || async {
        let p = pod_of(&pods, "api").await?;
        let name = p.metadata.name.clone()?;
        event_reasons(&client, &name)
            .await
            .iter()
            .any(|(r, m)| r == "Unhealthy" && m == msg)
            .then_some(name)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let p = pods.get(&name).await.unwrap();
    let cs = container(&p).unwrap();
    assert!(cs.state.unwrap().running.is_some() && !cs.ready);
    assert_eq!(p.status.unwrap().phase.as_deref(), Some("Running"));
    assert!(!rolled_out(deploys.get("api").await.ok().as_ref()));
    sim.clear_fault(id);
    within(
        10,
        "converges",
        await_condition(deploys.clone(), "api", rolled_out),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_stuck_rollout_exceeds_its_progress_deadline() {
    let (sim, client) = start().await;
    sim.inject(Target::labels("app=api"), Fault::crash_loop(1, &["boom"]));
    let deploys: Api<Deployment> = Api::default_namespaced(client.clone());
    let mut body = deployment("api", None);
    body["spec"]["progressDeadlineSeconds"] = json!(1);
    deploys
        .patch("api", &PatchParams::apply("onyx"), &Patch::Apply(body))
        .await
        .unwrap();
    let cond = eventually(10, "ProgressDeadlineExceeded", || async {
        let d = deploys.get("api").await.ok()?;
        let c = d
            .status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "Progressing")?;
        (c.reason.as_deref() == Some("ProgressDeadlineExceeded")).then_some(c)
    })
    .await;
    assert_eq!(cond.status, "False");
}
