//! The simulator follows the same rules as the images (crates/k8s-sim/src/images.rs), so what
//! `onyx up` applies is held to them, and a spec that breaks one fails with the image's own
//! message, which the diagnosis `up` prints then names.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{EnvVar, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_sim::{Sim, SimConfig};
use kube::api::{Api, ListParams};
use onyx::kube::{ConnectOptions, Target, apply, connect, diagnose};
use onyx::stack::profile::{self, ProfileName};
use onyx::stack::render::{self, Object, RenderOptions, Rendered};
use onyx::stack::secrets::Credentials;

const NS: &str = "contracts";

async fn sim_target(cluster_domain: &str) -> (Sim, tempfile::TempDir, Target) {
    let crate::support::sim::SimEnv {
        sim,
        dir,
        kubeconfig,
    } = crate::support::sim::SimEnv::start(SimConfig {
        cluster_domain: cluster_domain.into(),
        // The scheduler counts requests: the cluster profile (two of each stateless tier, with
        // a rolling update's surge) needs a node this big besides the node's own pods.
        node_cpu_m: 16000,
        node_memory_bytes: 64 << 30,
        ..crate::support::sim::timing(100, Some(100))
    })
    .await;
    let target = connect(
        &ConnectOptions {
            kubeconfig: Some(kubeconfig),
            context: Some("sim".into()),
            namespace: Some(NS.into()),
        },
        true,
    )
    .await
    .expect("connect to the simulator");
    (sim, dir, target)
}

fn rendered(p: ProfileName) -> Vec<Rendered> {
    render::render(&RenderOptions {
        profile: profile::profile(p),
        namespace: Some(NS),
        web_url: "http://localhost:3000".into(),
        credentials: Some(&Credentials::generate()),
        gateway_node_port: None,
        indexing: onyx::stack::indexing::Indexing::default_for(p),
        app: Default::default(),
    })
}

fn main_container<'a>(
    objects: &'a mut [Rendered],
    service: &str,
) -> &'a mut k8s_openapi::api::core::v1::Container {
    let r = objects
        .iter_mut()
        .find(|r| r.service == Some(service) && r.object.pod_template().is_some())
        .unwrap();
    let template = match &mut r.object {
        Object::Deployment(d) => &mut d.spec.as_mut().unwrap().template,
        Object::StatefulSet(s) => &mut s.spec.as_mut().unwrap().template,
        _ => unreachable!(),
    };
    let spec = template.spec.as_mut().unwrap();
    spec.containers
        .iter_mut()
        .find(|c| c.name == service)
        .unwrap()
}

fn set_env(c: &mut k8s_openapi::api::core::v1::Container, name: &str, value: Option<&str>) {
    let env = c.env.get_or_insert_with(Vec::new);
    env.retain(|e| e.name != name);
    if let Some(v) = value {
        env.push(EnvVar {
            name: name.into(),
            value: Some(v.into()),
            value_from: None,
        });
    }
}

/// (service, ready, crash-looping) for every pod of the stack.
async fn states(target: &Target) -> Vec<(String, bool, bool)> {
    let pods: Api<Pod> = Api::namespaced(target.client.clone(), NS);
    let list = pods.list(&ListParams::default()).await.unwrap().items;
    list.iter()
        .map(|p| {
            let name = p
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("app.kubernetes.io/name"))
                .cloned()
                .unwrap_or_default();
            let st = p.status.as_ref();
            let statuses = st.and_then(|s| s.container_statuses.as_ref());
            let ready = statuses.is_some_and(|cs| !cs.is_empty() && cs.iter().all(|c| c.ready));
            let crashing = statuses.into_iter().flatten().any(|c| {
                c.state
                    .as_ref()
                    .and_then(|s| s.waiting.as_ref())
                    .and_then(|w| w.reason.as_deref())
                    == Some("CrashLoopBackOff")
            });
            (name, ready, crashing)
        })
        .collect()
}

async fn wait_for(target: &Target, what: &str, done: impl Fn(&[(String, bool, bool)]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = states(target).await;
        if done(&s) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {s:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every profile, on a cluster whose DNS domain is not cluster.local: every pod of the stack
/// becomes ready under the images' own rules.
#[tokio::test(flavor = "multi_thread")]
async fn every_profile_starts_under_the_images_rules_on_any_cluster_domain() {
    for p in [
        ProfileName::Small,
        ProfileName::Medium,
        ProfileName::Large,
        ProfileName::Cluster,
    ] {
        let (_sim, _dir, target) = sim_target("corp.internal").await;
        apply::apply_all(&target, &rendered(p))
            .await
            .expect("apply");
        wait_for(&target, &format!("{p}: every pod ready"), |s| {
            s.len() >= 8 && s.iter().all(|(_, ready, crash)| *ready && !crash)
        })
        .await;
    }
}

/// What users hit when a cluster lowers Vespa's limit (and its start check is on), or the API
/// runs with a pool under its warm-up: the image's own message, and the diagnosis names it.
#[tokio::test(flavor = "multi_thread")]
async fn broken_rules_crash_with_the_images_message_and_are_diagnosed() {
    let (_sim, _dir, target) = sim_target("cluster.local").await;
    let mut objects = rendered(ProfileName::Small);
    let vespa = main_container(&mut objects, "vespa");
    set_env(vespa, "VESPA_IGNORE_NOT_ENOUGH_MEMORY", None);
    vespa
        .resources
        .as_mut()
        .unwrap()
        .limits
        .as_mut()
        .unwrap()
        .insert("memory".into(), Quantity("2Gi".into()));
    let api = main_container(&mut objects, "api-server");
    set_env(api, "POSTGRES_API_SERVER_POOL_SIZE", Some("10"));
    set_env(api, "POSTGRES_API_SERVER_POOL_OVERFLOW", Some("5"));
    apply::apply_all(&target, &objects).await.expect("apply");
    wait_for(&target, "vespa and the API crash-loop", |s| {
        ["vespa", "api-server"]
            .iter()
            .all(|svc| s.iter().any(|(n, _, crash)| n == svc && *crash))
    })
    .await;

    let d = diagnose::diagnose(
        &diagnose::gather(&target, "vespa", false, Some(ProfileName::Small)).await,
    );
    assert!(d.problem.contains("its memory limit is 2Gi"), "{d}");
    assert!(
        d.detail[0].contains("requires at least 4GB available memory"),
        "{d}"
    );
    let d = diagnose::diagnose(
        &diagnose::gather(&target, "api-server", false, Some(ProfileName::Small)).await,
    );
    assert!(d.problem.contains("(10 + 5 overflow)"), "{d}");
    assert!(
        d.detail[0].contains("QueuePool limit of size 10 overflow 5"),
        "{d}"
    );

    // Vespa named for cluster.local on another domain: its config server refuses to start.
    let (_sim, _dir, target) = sim_target("corp.internal").await;
    let mut objects = rendered(ProfileName::Small);
    let vespa = main_container(&mut objects, "vespa");
    set_env(vespa, "VESPA_HOSTNAME", None);
    set_env(
        vespa,
        "VESPA_CONFIGSERVERS",
        Some("vespa-0.vespa-service.$(POD_NAMESPACE).svc.cluster.local"),
    );
    apply::apply_all(&target, &objects).await.expect("apply");
    wait_for(&target, "vespa crash-loops", |s| {
        s.iter().any(|(n, _, crash)| n == "vespa" && *crash)
    })
    .await;
    let d = diagnose::diagnose(
        &diagnose::gather(&target, "vespa", false, Some(ProfileName::Small)).await,
    );
    assert!(d.problem.contains("VESPA_CONFIGSERVERS"), "{d}");
    assert!(
        d.detail.iter().any(|l| l.contains(
            "this host [vespa-0.vespa-service.contracts.svc.corp.internal] should not run a config server"
        )),
        "{d}"
    );
}

/// Service links (issue #20 item 3): the large stack as rendered starts; the same stack with the
/// kubelet's default `enableServiceLinks` crash-loops both model servers on the
/// `indexing-model-server` Service's INDEXING_MODEL_SERVER_PORT=tcp://... (Onyx v2.3.0
/// shared_configs/configs.py int()s it), as on a real node, while the data services still start
/// (the API, which now sets INDEXING_MODEL_SERVER_PORT itself, no longer depends on the flag).
#[tokio::test(flavor = "multi_thread")]
async fn without_enable_service_links_false_the_onyx_pods_crash_on_the_link_variable() {
    let (_sim, _dir, target) = sim_target("cluster.local").await;
    let mut objects = rendered(ProfileName::Large);
    for r in &mut objects {
        if let Some(spec) = r.object.pod_template_mut().and_then(|t| t.spec.as_mut()) {
            spec.enable_service_links = None;
        }
    }
    apply::apply_all(&target, &objects).await.expect("apply");
    wait_for(&target, "the Onyx pods crash-loop on the link", |s| {
        ["inference-model-server", "indexing-model-server"]
            .iter()
            .all(|svc| s.iter().any(|(n, _, crash)| n == svc && *crash))
    })
    .await;
    let s = states(&target).await;
    for data in ["postgresql", "redis", "minio", "api-server"] {
        assert!(
            s.iter().any(|(n, _, crash)| n == data && !crash),
            "{data}: {s:?}"
        );
    }
    let pods: Api<Pod> = Api::namespaced(target.client.clone(), NS);
    let model = pods
        .list(&ListParams::default().labels("app.kubernetes.io/name=inference-model-server"))
        .await
        .unwrap()
        .items;
    let logs = pods
        .logs(
            model[0].metadata.name.as_deref().unwrap(),
            &kube::api::LogParams {
                previous: true,
                ..Default::default()
            },
        )
        .await
        .unwrap_or_default();
    let current = pods
        .logs(
            model[0].metadata.name.as_deref().unwrap(),
            &Default::default(),
        )
        .await
        .unwrap_or_default();
    assert!(
        format!("{logs}{current}")
            .contains("ValueError: invalid literal for int() with base 10: 'tcp://"),
        "{logs}{current}"
    );
}
