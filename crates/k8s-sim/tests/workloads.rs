//! Simulated controllers through kube-rs: Deployments and StatefulSets reach kubectl's rollout
//! rule, pods look like the real controllers' pods, PVCs bind, Services get Endpoints, scaling
//! and deletion propagate.

mod common;

use common::{eventually, start, within};
use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Endpoints, Event, Node, PersistentVolumeClaim, Pod, Service};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, WatchEvent, WatchParams};
use kube::runtime::wait::{await_condition, conditions};
use serde_json::{Value, json};

/// kubectl's rule: the controller saw this generation and all replicas are updated and available.
fn deployment_rolled_out(d: Option<&Deployment>) -> bool {
    let Some(d) = d else { return false };
    let (Some(spec), Some(s)) = (&d.spec, &d.status) else {
        return false;
    };
    let desired = spec.replicas.unwrap_or(1);
    s.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0)
        && s.updated_replicas.unwrap_or(0) == desired
        && s.available_replicas.unwrap_or(0) == desired
        && s.replicas.unwrap_or(0) == desired
}

fn statefulset_rolled_out(s: Option<&StatefulSet>) -> bool {
    let Some(s) = s else { return false };
    let (Some(spec), Some(st)) = (&s.spec, &s.status) else {
        return false;
    };
    let desired = spec.replicas.unwrap_or(1);
    st.observed_generation.unwrap_or(0) >= s.metadata.generation.unwrap_or(0)
        && st.ready_replicas.unwrap_or(0) == desired
        && st.updated_replicas.unwrap_or(0) == desired
        && st.current_revision.is_some()
        && st.current_revision == st.update_revision
}

fn deployment(name: &str, replicas: i32, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name, "tier": "backend"}},
                "spec": {"containers": [{"name": "main", "image": image, "ports": [{"name": "http", "containerPort": 8080}]}]}
            }
        }
    })
}

fn ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

#[tokio::test]
async fn deployment_creates_pods_that_become_ready_and_rolls_out() {
    let (sim, client) = start().await;
    let deploys: Api<Deployment> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let rss: Api<ReplicaSet> = Api::default_namespaced(client.clone());
    let ssa = PatchParams::apply("onyx").force();
    deploys
        .patch(
            "api",
            &ssa,
            &Patch::Apply(deployment("api", 2, "onyx/api:1")),
        )
        .await
        .unwrap();
    within(
        15,
        "deployment rolls out",
        await_condition(deploys.clone(), "api", deployment_rolled_out),
    )
    .await
    .unwrap();
    within(
        5,
        "completed condition",
        await_condition(
            deploys.clone(),
            "api",
            conditions::is_deployment_completed(),
        ),
    )
    .await
    .unwrap();

    let d = deploys.get("api").await.unwrap();
    let conds = d.status.clone().unwrap().conditions.unwrap();
    assert!(conds.iter().any(|c| c.type_ == "Available"
        && c.status == "True"
        && c.reason.as_deref() == Some("MinimumReplicasAvailable")));
    assert_eq!(d.status.as_ref().unwrap().ready_replicas, Some(2));
    assert_eq!(d.metadata.generation, Some(1));

    // Pods as the real controllers name and label them, owned by a ReplicaSet owned by the Deployment.
    let list = pods
        .list(&ListParams::default().labels("app=api"))
        .await
        .unwrap();
    assert_eq!(list.items.len(), 2);
    let rs_list = rss
        .list(&ListParams::default().labels("app=api"))
        .await
        .unwrap();
    assert_eq!(rs_list.items.len(), 1);
    let rs = &rs_list.items[0];
    let hash = rs.metadata.labels.as_ref().unwrap()["pod-template-hash"].clone();
    assert_eq!(
        rs.metadata.name.as_deref(),
        Some(format!("api-{hash}").as_str())
    );
    assert_eq!(
        rs.metadata.owner_references.as_ref().unwrap()[0].uid,
        d.metadata.uid.clone().unwrap()
    );
    for p in &list.items {
        let name = p.metadata.name.clone().unwrap();
        assert!(
            name.starts_with(&format!("api-{hash}-"))
                && name.len() == format!("api-{hash}-").len() + 5,
            "{name}"
        );
        let labels = p.metadata.labels.as_ref().unwrap();
        assert_eq!(labels["tier"], "backend");
        assert_eq!(labels["pod-template-hash"], hash);
        let owner = &p.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.controller),
            ("ReplicaSet", Some(true))
        );
        assert!(ready(p));
        let st = p.status.as_ref().unwrap();
        assert_eq!(st.phase.as_deref(), Some("Running"));
        assert!(st.pod_ip.is_some());
        assert_eq!(
            p.spec.as_ref().unwrap().node_name.as_deref(),
            Some("sim-node")
        );
        let cs = &st.container_statuses.as_ref().unwrap()[0];
        assert!(cs.ready && cs.state.as_ref().unwrap().running.is_some());
    }
    // Events: scheduled, pulled, started.
    let events: Api<Event> = Api::default_namespaced(client.clone());
    let first = list.items[0].metadata.name.clone().unwrap();
    let evs = events
        .list(&ListParams::default().fields(&format!("involvedObject.name={first}")))
        .await
        .unwrap();
    let reasons: Vec<String> = evs.items.iter().filter_map(|e| e.reason.clone()).collect();
    for r in ["Scheduled", "Pulling", "Pulled", "Created", "Started"] {
        assert!(reasons.contains(&r.to_string()), "{r} in {reasons:?}");
    }

    // A template change: generation 2, a new ReplicaSet, old pods replaced, rule met again.
    deploys
        .patch(
            "api",
            &ssa,
            &Patch::Apply(deployment("api", 2, "onyx/api:2")),
        )
        .await
        .unwrap();
    let d2 = deploys.get("api").await.unwrap();
    assert_eq!(d2.metadata.generation, Some(2));
    within(
        15,
        "rollout of generation 2",
        await_condition(deploys.clone(), "api", deployment_rolled_out),
    )
    .await
    .unwrap();
    let images = eventually(10, "old pods gone", || async {
        let l = pods
            .list(&ListParams::default().labels("app=api"))
            .await
            .ok()?;
        let imgs: Vec<String> = l
            .items
            .iter()
            .map(|p| {
                p.spec.as_ref().unwrap().containers[0]
                    .image
                    .clone()
                    .unwrap()
            })
            .collect();
        (imgs.len() == 2 && imgs.iter().all(|i| i == "onyx/api:2")).then_some(imgs)
    })
    .await;
    assert_eq!(images.len(), 2);
    assert_eq!(
        deploys
            .get("api")
            .await
            .unwrap()
            .status
            .unwrap()
            .observed_generation,
        Some(2)
    );

    // Scale to zero through the scale subresource path kubectl uses: pods go away.
    deploys
        .patch(
            "api",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 0}})),
        )
        .await
        .unwrap();
    eventually(10, "pods removed", || async {
        pods.list(&ListParams::default().labels("app=api"))
            .await
            .ok()
            .filter(|l| l.items.is_empty())
    })
    .await;
    within(
        10,
        "scaled to zero",
        await_condition(deploys.clone(), "api", deployment_rolled_out),
    )
    .await
    .unwrap();

    // Deleting the Deployment removes its ReplicaSets (garbage collection).
    deploys
        .delete("api", &DeleteParams::default())
        .await
        .unwrap();
    eventually(10, "replicasets collected", || async {
        rss.list(&ListParams::default().labels("app=api"))
            .await
            .ok()
            .filter(|l| l.items.is_empty())
    })
    .await;
    drop(sim);
}

#[tokio::test]
async fn statefulset_creates_claims_and_pods_in_order() {
    let (_sim, client) = start().await;
    let sts: Api<StatefulSet> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let pvcs: Api<PersistentVolumeClaim> = Api::default_namespaced(client.clone());
    let from = pods
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut watch = pods
        .watch(
            &WatchParams::default().labels("app=vespa").timeout(20),
            &from,
        )
        .await
        .unwrap()
        .boxed();
    let body = json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "vespa"},
        "spec": {
            "replicas": 2, "serviceName": "vespa",
            "selector": {"matchLabels": {"app": "vespa"}},
            "template": {"metadata": {"labels": {"app": "vespa"}}, "spec": {"containers": [{"name": "vespa", "image": "vespa:8"}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "storage"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]
        }
    });
    sts.patch("vespa", &PatchParams::apply("onyx"), &Patch::Apply(body))
        .await
        .unwrap();
    within(
        20,
        "statefulset rolls out",
        await_condition(sts.clone(), "vespa", statefulset_rolled_out),
    )
    .await
    .unwrap();

    // Ordered: vespa-1 appears only after vespa-0 was ready.
    let order = within(10, "pod events", async {
        let mut order = Vec::new();
        while let Some(ev) = watch.try_next().await.unwrap() {
            match ev {
                WatchEvent::Added(p) => order.push(format!("added {}", p.metadata.name.unwrap())),
                WatchEvent::Modified(p) if ready(&p) => {
                    let s = format!("ready {}", p.metadata.name.unwrap());
                    if !order.contains(&s) {
                        order.push(s);
                    }
                }
                _ => {}
            }
            if order.len() == 4 {
                break;
            }
        }
        order
    })
    .await;
    assert_eq!(
        order,
        [
            "added vespa-0",
            "ready vespa-0",
            "added vespa-1",
            "ready vespa-1"
        ]
    );

    let s = sts.get("vespa").await.unwrap();
    let st = s.status.unwrap();
    assert_eq!(
        (
            st.replicas,
            st.ready_replicas,
            st.current_replicas,
            st.available_replicas
        ),
        (2, Some(2), Some(2), Some(2))
    );
    assert!(st.update_revision.unwrap().starts_with("vespa-"));
    // Claims named <claim>-<sts>-<ordinal>, bound, mounted by the pods.
    for i in 0..2 {
        let pvc = pvcs.get(&format!("storage-vespa-{i}")).await.unwrap();
        assert_eq!(pvc.status.unwrap().phase.as_deref(), Some("Bound"));
        assert!(pvc.spec.unwrap().volume_name.is_some());
        let pod = pods.get(&format!("vespa-{i}")).await.unwrap();
        let vols = pod.spec.unwrap().volumes.unwrap();
        assert!(vols.iter().any(|v| {
            v.persistent_volume_claim
                .as_ref()
                .is_some_and(|c| c.claim_name == format!("storage-vespa-{i}"))
        }));
        assert_eq!(
            pod.metadata.labels.unwrap()["statefulset.kubernetes.io/pod-name"],
            format!("vespa-{i}")
        );
    }
    // Scaling to zero removes pods and keeps claims.
    sts.patch(
        "vespa",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 0}})),
    )
    .await
    .unwrap();
    eventually(10, "sts pods removed", || async {
        pods.list(&ListParams::default().labels("app=vespa"))
            .await
            .ok()
            .filter(|l| l.items.is_empty())
    })
    .await;
    assert!(pvcs.get_opt("storage-vespa-0").await.unwrap().is_some());
}

#[tokio::test]
async fn services_get_endpoints_and_the_cluster_has_a_node_and_default_storage_class() {
    let (_sim, client) = start().await;
    let deploys: Api<Deployment> = Api::default_namespaced(client.clone());
    let svcs: Api<Service> = Api::default_namespaced(client.clone());
    let eps: Api<Endpoints> = Api::default_namespaced(client.clone());
    deploys
        .patch(
            "web",
            &PatchParams::apply("onyx"),
            &Patch::Apply(deployment("web", 2, "web:1")),
        )
        .await
        .unwrap();
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}});
    let created = svcs
        .patch("web", &PatchParams::apply("onyx"), &Patch::Apply(svc))
        .await
        .unwrap();
    assert!(created.spec.unwrap().cluster_ip.is_some());
    let ep = eventually(15, "two ready endpoints", || async {
        let ep = eps.get_opt("web").await.ok()??;
        let subset = ep.subsets.as_ref()?.first()?.clone();
        (subset.addresses.as_ref().map(Vec::len) == Some(2)).then_some(subset)
    })
    .await;
    assert_eq!(
        ep.ports.unwrap()[0].port,
        8080,
        "named targetPort resolved to the container port"
    );

    let node = Api::<Node>::all(client.clone())
        .get("sim-node")
        .await
        .unwrap();
    let conds = node.status.unwrap().conditions.unwrap();
    assert!(
        conds
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    );
    let sc = Api::<StorageClass>::all(client.clone())
        .list(&ListParams::default())
        .await
        .unwrap();
    assert!(sc.items.iter().any(|s| {
        s.metadata.annotations.as_ref().is_some_and(|a| {
            a.get("storageclass.kubernetes.io/is-default-class")
                .map(String::as_str)
                == Some("true")
        })
    }));
}

#[tokio::test]
async fn recreate_deployments_stop_old_pods_before_starting_new_ones() {
    let (_sim, client) = start().await;
    let deploys: Api<Deployment> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let mut body = deployment("pg", 1, "postgres:16");
    body["spec"]["strategy"] = json!({"type": "Recreate"});
    deploys
        .patch(
            "pg",
            &PatchParams::apply("onyx"),
            &Patch::Apply(body.clone()),
        )
        .await
        .unwrap();
    within(
        15,
        "first rollout",
        await_condition(deploys.clone(), "pg", deployment_rolled_out),
    )
    .await
    .unwrap();
    let from = pods
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut watch = pods
        .watch(&WatchParams::default().labels("app=pg").timeout(20), &from)
        .await
        .unwrap()
        .boxed();
    body["spec"]["template"]["spec"]["containers"][0]["image"] = json!("postgres:17");
    deploys
        .patch("pg", &PatchParams::apply("onyx"), &Patch::Apply(body))
        .await
        .unwrap();
    within(
        15,
        "second rollout",
        await_condition(deploys.clone(), "pg", deployment_rolled_out),
    )
    .await
    .unwrap();
    let order = within(10, "pod events", async {
        let mut order = Vec::new();
        while let Some(ev) = watch.try_next().await.unwrap() {
            match ev {
                WatchEvent::Added(p) => order.push(format!(
                    "added {}",
                    p.spec.unwrap().containers[0].image.clone().unwrap()
                )),
                WatchEvent::Deleted(p) => order.push(format!(
                    "deleted {}",
                    p.spec.unwrap().containers[0].image.clone().unwrap()
                )),
                _ => {}
            }
            if order.len() == 2 {
                break;
            }
        }
        order
    })
    .await;
    assert_eq!(order, ["deleted postgres:16", "added postgres:17"]);
}

#[tokio::test]
async fn init_containers_complete_before_the_main_containers_start() {
    let (_sim, client) = common::start_with(k8s_sim::SimConfig {
        ready_delay: std::time::Duration::from_millis(1200),
        ..Default::default()
    })
    .await;
    let deploys: Api<Deployment> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let mut body = deployment("api", 1, "onyx/api:1");
    body["spec"]["template"]["spec"]["initContainers"] =
        json!([{"name": "wait-for-db", "image": "busybox"}]);
    deploys
        .patch("api", &PatchParams::apply("onyx"), &Patch::Apply(body))
        .await
        .unwrap();
    let early = eventually(5, "scheduled pod", || async {
        let p = pods
            .list(&ListParams::default().labels("app=api"))
            .await
            .ok()?
            .items
            .into_iter()
            .next()?;
        p.status.as_ref()?.container_statuses.as_ref()?;
        Some(p)
    })
    .await;
    let st = early.status.unwrap();
    let waiting = st.container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .waiting
        .unwrap();
    assert_eq!(waiting.reason.as_deref(), Some("PodInitializing"));
    assert!(
        st.init_container_statuses.unwrap()[0]
            .state
            .clone()
            .unwrap()
            .running
            .is_some()
    );
    let init_cond = st
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Initialized")
        .unwrap();
    assert_eq!(
        (init_cond.status.as_str(), init_cond.reason.as_deref()),
        ("False", Some("ContainersNotInitialized"))
    );
    within(
        15,
        "rollout",
        await_condition(deploys.clone(), "api", deployment_rolled_out),
    )
    .await
    .unwrap();
    let p = pods
        .list(&ListParams::default().labels("app=api"))
        .await
        .unwrap()
        .items
        .remove(0);
    let init = p.status.unwrap().init_container_statuses.unwrap().remove(0);
    let term = init.state.unwrap().terminated.unwrap();
    assert_eq!(
        (term.exit_code, term.reason.as_deref(), init.ready),
        (0, Some("Completed"), true)
    );
}

#[tokio::test]
async fn a_pods_own_ready_delay_starts_once_its_dependencies_are_ready() {
    // db: Ready after 1.5 s; api: 0.3 s of its own, counted from db being Ready; web: the
    // default delay (0.1 s).
    let (_sim, client) = common::start_with(k8s_sim::SimConfig {
        ready_delay: std::time::Duration::from_millis(100),
        ready_delays: vec![
            k8s_sim::ReadyDelay {
                target: k8s_sim::Target::labels("app=db"),
                ms: 1500,
                after: vec![],
            },
            k8s_sim::ReadyDelay {
                target: k8s_sim::Target::labels("app=api"),
                ms: 300,
                after: vec!["app=db".into()],
            },
        ],
        ..Default::default()
    })
    .await;
    let deploys: Api<Deployment> = Api::default_namespaced(client.clone());
    let start = std::time::Instant::now();
    for name in ["db", "api", "web"] {
        deploys
            .patch(
                name,
                &PatchParams::apply("onyx"),
                &Patch::Apply(deployment(name, 1, "busybox")),
            )
            .await
            .unwrap();
    }
    let mut at = std::collections::HashMap::new();
    for name in ["web", "db", "api"] {
        within(
            15,
            name,
            await_condition(deploys.clone(), name, deployment_rolled_out),
        )
        .await
        .unwrap();
        at.insert(name, start.elapsed());
    }
    assert!(at["web"] < std::time::Duration::from_millis(1200), "{at:?}");
    assert!(at["db"] >= std::time::Duration::from_millis(1500), "{at:?}");
    // api's 0.3 s start only once db is Ready, not at its own scheduling.
    assert!(
        at["api"] >= std::time::Duration::from_millis(1800),
        "{at:?}"
    );
}

#[tokio::test]
async fn the_scheduler_counts_the_nodes_own_pods_and_what_already_runs() {
    // A 6-CPU node: its own pods request 950m (kubeadm's and kind's manifests), another tenant
    // 1000m; 4000m more fits, 4100m stays Pending with the scheduler's reason.
    let (_sim, client) = common::start_with(k8s_sim::SimConfig {
        node_cpu_m: 6000,
        node_memory_bytes: 8 << 30,
        extra_pods: vec![("tenant".into(), "busy".into(), 1000, 1 << 30)],
        ..Default::default()
    })
    .await;
    let own: u64 = k8s_sim::NODE_PODS
        .iter()
        .map(|&(_, n, cpu, _)| n as u64 * cpu)
        .sum();
    assert_eq!(own, 950);
    let all: Api<Pod> = Api::all(client.clone());
    let system = all.list(&ListParams::default()).await.unwrap();
    assert_eq!(
        system
            .items
            .iter()
            .filter(|p| p.metadata.namespace.as_deref() == Some("kube-system"))
            .count(),
        7
    );
    let deploys: Api<Deployment> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let sized = |name: &str, cpu: &str| {
        let mut body = deployment(name, 1, "onyx/api:1");
        body["spec"]["template"]["spec"]["containers"][0]["resources"] =
            json!({"requests": {"cpu": cpu, "memory": "1Gi"}});
        body
    };
    for (name, cpu) in [("fits", "4000m"), ("too-big", "100m")] {
        deploys
            .patch(
                name,
                &PatchParams::apply("t"),
                &Patch::Apply(sized(name, cpu)),
            )
            .await
            .unwrap();
        within(
            15,
            "rollout",
            await_condition(deploys.clone(), name, |d: Option<&Deployment>| {
                d.and_then(|d| d.status.as_ref())
                    .is_some_and(|s| s.ready_replicas == Some(1))
                    || name == "too-big"
            }),
        )
        .await
        .unwrap();
    }
    // 950 + 1000 + 4000 + 100 = 6050m > 6000m: the last one never gets the node.
    let msg = eventually(5, "unschedulable", || async {
        let p = pods
            .list(&ListParams::default().labels("app=too-big"))
            .await
            .ok()?
            .items
            .into_iter()
            .next()?;
        let c = p
            .status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "PodScheduled" && c.status == "False")?;
        c.message
    })
    .await;
    assert!(msg.contains("1 Insufficient cpu"), "{msg}");
    assert!(!msg.contains("memory"), "{msg}");
}
