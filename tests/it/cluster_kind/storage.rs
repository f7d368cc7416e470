//! The storage onyx installs on its own cluster, held to the rules of the provisioner the node
//! image runs: rancher local-path-provisioner v0.0.34 (kind v0.32.0
//! `images/local-path-provisioner/Makefile`), as the simulator follows them
//! (`crates/k8s-sim/src/local_path.rs`, v0.0.34 `provisioner.go` `pathFromPattern` /
//! `provisionFor`). Every claim of the stack is provisioned at
//! `<storage root>/<namespace>/<claim>` — the directories existing installs' data is in — and the
//! pattern onyx used before issue #20 leaves every claim Pending with the provisioner's error, as
//! the real one did. No engine needed: the simulator runs in-process.

use super::*;

use k8s_sim::client::{client_for, eventually};
use onyx::stack::profile::{self, ProfileName};
use onyx::stack::render::{self, Object, RenderOptions};

fn rendered(ns: &str, name: ProfileName) -> Vec<render::Rendered> {
    let creds = onyx::stack::secrets::Credentials::generate();
    render::render(&RenderOptions {
        profile: profile::profile(name),
        namespace: Some(ns),
        web_url: "http://localhost:3000".into(),
        credentials: Some(&creds),
        gateway_node_port: None,
        indexing: onyx::stack::indexing::Indexing::default_for(name),
        app: Default::default(),
    })
}

/// Every claim of the stack as rendered for a profile (`<template>-<sts>-<ordinal>` for a
/// StatefulSet's, as its controller names them).
pub(super) fn stack_claims(name: ProfileName) -> Vec<String> {
    let objects = rendered("default", name);
    let sim_less = |_: &Object| ();
    claims_of(&objects, sim_less)
}

fn claims_of(objects: &[render::Rendered], mut each: impl FnMut(&Object)) -> Vec<String> {
    let mut claims = Vec::new();
    for r in objects {
        match &r.object {
            Object::PersistentVolumeClaim(pvc) => {
                claims.push(pvc.metadata.name.clone().unwrap());
            }
            Object::StatefulSet(sts) => {
                let spec = sts.spec.as_ref().unwrap();
                for i in 0..spec.replicas.unwrap_or(1) {
                    for t in spec.volume_claim_templates.iter().flatten() {
                        claims.push(format!(
                            "{}-{}-{i}",
                            t.metadata.name.as_deref().unwrap(),
                            sts.metadata.name.as_deref().unwrap()
                        ));
                    }
                }
            }
            _ => continue,
        }
        each(&r.object);
    }
    assert!(!claims.is_empty(), "the stack has no claims?");
    claims
}

/// The StatefulSets and PVCs of the stack as rendered for `ns`, put into `sim`; returns every
/// claim they make.
fn put_stack(sim: &k8s_sim::Sim, ns: &str, name: ProfileName) -> Vec<String> {
    let objects = rendered(ns, name);
    sim.put_object(
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
    )
    .unwrap();
    claims_of(&objects, |o| {
        let mut v = serde_json::to_value(o).unwrap();
        v["metadata"]["namespace"] = ns.into();
        sim.put_object(v).unwrap();
    })
}

/// kind's storage manifest (the stand-in's) as onyx changes it, into the simulator in place of
/// its own default StorageClass.
fn put_storage(sim: &k8s_sim::Sim, manifest: &str) {
    for doc in serde_saphyr::from_multiple::<Value>(manifest).unwrap() {
        sim.put_object(doc).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_claim_of_the_stack_lands_in_its_namespace_and_claim_directory() {
    // kind's local-path-config nodePathMap is onyx's storage root (the data volume's mount).
    assert_eq!(node::STORAGE_ROOT, k8s_sim::local_path::KIND_ROOT);
    for name in [ProfileName::Small, ProfileName::Cluster] {
        let sim = k8s_sim::Sim::start(k8s_sim::SimConfig::default())
            .await
            .unwrap();
        put_storage(&sim, &kind::storage_manifest(fake_node::STORAGE).unwrap());
        let ns = "onyx";
        for claim in put_stack(&sim, ns, name) {
            let pv = eventually(10, &format!("{claim} Bound"), || async {
                let pvc = sim.object("v1", "PersistentVolumeClaim", ns, &claim)?;
                (pvc["status"]["phase"] == "Bound")
                    .then(|| pvc["spec"]["volumeName"].as_str().unwrap().to_string())
            })
            .await;
            let pv = sim.object("v1", "PersistentVolume", "", &pv).unwrap();
            assert_eq!(
                pv["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"],
                "rancher.io/local-path"
            );
            assert_eq!(
                pv["spec"]["hostPath"]["path"],
                format!("{}/{ns}/{claim}", node::STORAGE_ROOT),
                "{name:?}: {claim}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pattern_without_its_trailing_slash_leaves_every_claim_pending() {
    let sim = k8s_sim::Sim::start(k8s_sim::SimConfig::default())
        .await
        .unwrap();
    let ours = kind::storage_manifest(fake_node::STORAGE).unwrap();
    let old = ours.replace(
        &serde_json::to_string(kind::STABLE_PATH_PATTERN).unwrap(),
        "\"{{ .PVC.Namespace }}/{{ .PVC.Name }}\"",
    );
    assert_ne!(old, ours, "the pattern was not found in the manifest");
    put_storage(&sim, &old);
    let ns = "onyx";
    let claims = put_stack(&sim, ns, ProfileName::Small);
    let client = client_for(&sim);
    let events: kube::Api<k8s_openapi::api::core::v1::Event> = kube::Api::namespaced(client, ns);
    let claim = claims[0].clone();
    let event = eventually(10, "the provisioner's refusal", || {
        let events = events.clone();
        let claim = claim.clone();
        async move {
            events
                .list(&Default::default())
                .await
                .ok()?
                .items
                .into_iter()
                .find(|e| {
                    e.involved_object.name.as_deref() == Some(claim.as_str())
                        && e.reason.as_deref() == Some("ProvisioningFailed")
                })
        }
    })
    .await;
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    assert_eq!(
        event.message.as_deref(),
        Some(
            format!(
                "failed to provision volume with StorageClass \"standard\": failed to create \
                 path from pattern {{{{ .PVC.Namespace }}}}/{{{{ .PVC.Name }}}}: pathPattern must \
                 start with {{{{ .PVC.Namespace }}}}/{{{{ .PVC.Name }}}}/: {ns}/{claim}"
            )
            .as_str()
        )
    );
    for claim in &claims {
        let pvc = sim
            .object("v1", "PersistentVolumeClaim", ns, claim)
            .unwrap();
        assert_ne!(pvc["status"]["phase"], "Bound", "{claim}");
        assert!(pvc["spec"]["volumeName"].is_null(), "{claim}");
    }
}
