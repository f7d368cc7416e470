//! The simulated control plane and kubelet: what turns applied objects into a running stack.
//!
//! Every tick, under the one lock, in order:
//! 1. default objects (ServiceAccount `default` per namespace);
//! 2. Deployments → ReplicaSets (`<deploy>-<pod-template-hash>`; the old one is scaled down once
//!    the new one is available) → Pods (`<rs>-<5 chars>`), with owner references;
//! 3. StatefulSets → PVCs from `volumeClaimTemplates` (`<claim>-<sts>-<ordinal>`) and Pods
//!    (`<sts>-<ordinal>`, ordered: one at a time, each after the previous is ready; rolling
//!    updates from the highest ordinal down);
//! 4. PVCs → Bound (a PersistentVolume is provisioned) unless a fault holds them Pending or, for
//!    local-path's StorageClasses, its provisioner (v0.0.34) would refuse the path
//!    ([`crate::local_path`]);
//! 5. the kubelet: scheduling onto `sim-node`, container states, readiness after
//!    `ready_delay`, restarts, faults, events, logs;
//! 6. workload status as the real controllers write it (observedGeneration, replicas, updated,
//!    ready, available, conditions; StatefulSet revisions);
//! 7. Endpoints for Services with selectors;
//! 8. garbage collection of objects whose owners are gone.
//!
//! Writes that change nothing are no-ops in the store, so a steady state costs no versions.
//!
//! Each step is a file of this folder (`seed.rs` for step 1, then `deployments.rs`,
//! `statefulsets.rs`, `pvcs.rs`, `pods.rs`, `endpoints.rs`, `gc.rs`; step 6 sits with the
//! controller whose status it writes); `defaults.rs` holds the API's write-time defaults and
//! `events.rs` the event recorder. This file holds the tick and what the steps share.

mod defaults;
mod deployments;
mod endpoints;
mod events;
mod gc;
mod pods;
mod pvcs;
mod seed;
mod statefulsets;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};

use crate::resources::ResourceDef;
use crate::store::{Store, meta_str, now_rfc3339, res};
use crate::{LogMap, Shared, SimConfig, World};

pub use defaults::defaults;
pub(crate) use endpoints::target_port;
pub use gc::orphan_dependents;
use pods::PodRt;
pub use seed::{NODE_PODS, seed};

pub const NODE: &str = "sim-node";
pub const DEFAULT_STORAGE_CLASS: &str = "standard";

/// The kubelet's private memory of each pod (by uid), and container logs.
#[derive(Default)]
pub struct Kubelet {
    pods: HashMap<String, PodRt>,
    pub logs: LogMap,
    /// Last progress of each Deployment (uid → (counts, when)), for progressDeadlineSeconds.
    progress: HashMap<String, (Value, Instant)>,
}

pub async fn run(shared: Arc<Shared>) {
    let mut every = tokio::time::interval(shared.config.tick);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let mut w = shared.world();
        // A bug in one reconcile must not stop the simulated cluster for the rest of the test.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            tick(&mut w, &shared.config)
        }));
    }
}

pub(crate) fn tick(w: &mut World, cfg: &SimConfig) {
    let World {
        store,
        faults,
        kubelet,
        ..
    } = w;
    seed::service_accounts(store);
    deployments::deployments(store, kubelet);
    deployments::replicasets(store);
    statefulsets::statefulsets(store);
    pvcs::pvcs(store, faults, cfg);
    pods::pods(store, faults, kubelet, cfg);
    endpoints::endpoints(store);
    gc::garbage_collect(store, kubelet);
}

fn owner_ref(owner: &Value) -> Value {
    json!({
        "apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true,
    })
}

fn controlled_by(obj: &Value, uid: &str) -> bool {
    obj["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|refs| {
            refs.iter()
                .any(|r| r["uid"] == uid && r["controller"] == true)
        })
}

pub(crate) fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

fn replicas(obj: &Value) -> i64 {
    obj["spec"]["replicas"].as_i64().unwrap_or(1)
}

fn pods_of(store: &Store, ns: &str, uid: &str) -> Vec<Value> {
    store
        .list(res("", "pods"), Some(ns))
        .into_iter()
        .filter(|p| controlled_by(p, uid))
        .collect()
}

fn merged_labels(a: &Value, extra: &[(&str, String)]) -> Value {
    let mut m = a.as_object().cloned().unwrap_or_default();
    for (k, v) in extra {
        m.insert((*k).to_string(), json!(v));
    }
    Value::Object(m)
}

fn pod_from_template(
    template: &Value,
    ns: &str,
    name: &str,
    owner: &Value,
    extra: &[(&str, String)],
) -> Value {
    let mut spec = template["spec"].clone();
    if let Some(m) = spec.as_object_mut() {
        defaults::pod_spec_defaults(m);
        m.entry("serviceAccountName").or_insert(json!("default"));
    }
    let mut meta = json!({
        "name": name,
        "namespace": ns,
        "labels": merged_labels(&template["metadata"]["labels"], extra),
        "ownerReferences": [owner_ref(owner)],
    });
    if let Some(a) = template["metadata"].get("annotations") {
        meta["annotations"] = a.clone();
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": {"phase": "Pending", "qosClass": "BestEffort"}})
}

fn set_status(store: &mut Store, r: &'static ResourceDef, obj: &Value, status: Value) {
    if obj["status"] == status {
        return;
    }
    let mut new = obj.clone();
    new["status"] = status;
    if let Some(m) = new["metadata"].as_object_mut() {
        m.remove("resourceVersion");
    }
    let _ = store.update(r, meta_str(obj, "namespace"), meta_str(obj, "name"), new);
}

/// A condition keeping its old transition time when its status did not change.
fn condition(
    old: &Value,
    kind: &str,
    status: &str,
    reason: &str,
    message: &str,
    with_update_time: bool,
) -> Value {
    let prev = old
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == kind))
        .cloned()
        .unwrap_or(Value::Null);
    let same = prev["status"] == status;
    let transition = if same {
        prev["lastTransitionTime"].clone()
    } else {
        json!(now_rfc3339())
    };
    let mut c = json!({"type": kind, "status": status, "lastTransitionTime": transition});
    if !reason.is_empty() {
        c["reason"] = json!(reason);
    }
    if !message.is_empty() {
        c["message"] = json!(message);
    }
    if with_update_time {
        let unchanged = same && prev["reason"] == reason && prev["message"] == message;
        c["lastUpdateTime"] = if unchanged {
            prev["lastUpdateTime"].clone()
        } else {
            json!(now_rfc3339())
        };
    }
    c
}
