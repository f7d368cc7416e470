//! The simulated control plane and kubelet: what turns applied objects into a running stack.
//!
//! Every tick, under the one lock, in order:
//! 1. default objects (ServiceAccount `default` per namespace);
//! 2. Deployments → ReplicaSets (`<deploy>-<pod-template-hash>`; the old one is scaled down once
//!    the new one is available) → Pods (`<rs>-<5 chars>`), with owner references;
//! 3. StatefulSets → PVCs from `volumeClaimTemplates` (`<claim>-<sts>-<ordinal>`) and Pods
//!    (`<sts>-<ordinal>`, ordered: one at a time, each after the previous is ready; rolling
//!    updates from the highest ordinal down);
//! 4. PVCs → Bound (a PersistentVolume is provisioned) unless a fault holds them Pending;
//! 5. the kubelet: scheduling onto `sim-node`, container states, readiness after
//!    `ready_delay` (or a pod's own `ReadyDelay`, whose clock may wait for its dependencies),
//!    restarts, faults, events, logs;
//! 6. workload status as the real controllers write it (observedGeneration, replicas, updated,
//!    ready, available, conditions; StatefulSet revisions);
//! 7. Endpoints for Services with selectors;
//! 8. garbage collection of objects whose owners are gone.
//!
//! Writes that change nothing are no-ops in the store, so a steady state costs no versions.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::faults::{Fault, Target};
use crate::resources::ResourceDef;
use crate::select::Selector;
use crate::store::{Store, meta_str, now_rfc3339, random_suffix, random_u64, res, stable_hash};
use crate::{LogMap, Shared, SimConfig, World};

pub const NODE: &str = "sim-node";
pub const DEFAULT_STORAGE_CLASS: &str = "standard";

static NEXT_POD_IP: AtomicU32 = AtomicU32::new(10);
static NEXT_CLUSTER_IP: AtomicU32 = AtomicU32::new(10);

/// The kubelet's private memory of each pod (by uid), and container logs.
#[derive(Default)]
pub struct Kubelet {
    pods: HashMap<String, PodRt>,
    pub logs: LogMap,
    /// Last progress of each Deployment (uid → (counts, when)), for progressDeadlineSeconds.
    progress: HashMap<String, (Value, Instant)>,
}

struct PodRt {
    /// When the containers began a clean start (scheduling, or a fault being lifted).
    healthy_since: Option<Instant>,
    started_at: String,
    ip: String,
    /// Per container: when the current fault began, restarts, last termination.
    fault_since: HashMap<String, Instant>,
    restarts: HashMap<String, i64>,
    last_state: HashMap<String, Value>,
    events: HashSet<String>,
}

/// The objects a fresh cluster has.
pub fn seed(store: &mut Store) {
    let ns = res("", "namespaces");
    for n in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        let _ = store.create(ns, json!({"metadata": {"name": n, "labels": {"kubernetes.io/metadata.name": n}}, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}));
    }
    let _ = store.create(
        res("", "nodes"),
        json!({
            "metadata": {"name": NODE, "labels": {
                "kubernetes.io/hostname": NODE, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                "node-role.kubernetes.io/control-plane": ""}},
            "spec": {"podCIDR": "10.244.0.0/24"},
            "status": {
                "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"},
                "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"},
                "conditions": [
                    {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory", "message": "kubelet has sufficient memory available", "lastHeartbeatTime": now_rfc3339(), "lastTransitionTime": now_rfc3339()},
                    {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure", "message": "kubelet has no disk pressure", "lastHeartbeatTime": now_rfc3339(), "lastTransitionTime": now_rfc3339()},
                    {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID", "message": "kubelet has sufficient PID available", "lastHeartbeatTime": now_rfc3339(), "lastTransitionTime": now_rfc3339()},
                    {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status", "lastHeartbeatTime": now_rfc3339(), "lastTransitionTime": now_rfc3339()}
                ],
                "addresses": [{"type": "InternalIP", "address": "172.18.0.2"}, {"type": "Hostname", "address": NODE}],
                "nodeInfo": {"kubeletVersion": "v1.33.0-sim", "kubeProxyVersion": "v1.33.0-sim", "containerRuntimeVersion": "sim://1.0", "osImage": "k8s-sim", "operatingSystem": "linux", "architecture": "amd64", "kernelVersion": "sim", "machineID": "sim", "systemUUID": "sim", "bootID": "sim"}
            }
        }),
    );
    let _ = store.create(
        res("storage.k8s.io", "storageclasses"),
        json!({
            "metadata": {"name": DEFAULT_STORAGE_CLASS, "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "k8s-sim/local", "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"
        }),
    );
    let _ = store.create(
        res("", "services"),
        json!({"metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver", "provider": "kubernetes"}},
               "spec": {"ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}], "type": "ClusterIP", "clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.1"]}}),
    );
}

/// Server-side defaults the real API applies on write (the subset clients look at).
pub fn defaults(r: &ResourceDef, obj: &mut Value, store: &Store) {
    match (r.group, r.plural) {
        ("apps", "deployments") => {
            let spec = ensure(obj, "spec");
            spec.entry("replicas").or_insert(json!(1));
            spec.entry("revisionHistoryLimit").or_insert(json!(10));
            spec.entry("progressDeadlineSeconds").or_insert(json!(600));
            spec.entry("strategy")
                .or_insert(json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}));
            template_defaults(obj);
        }
        ("apps", "statefulsets") => {
            let spec = ensure(obj, "spec");
            spec.entry("replicas").or_insert(json!(1));
            spec.entry("revisionHistoryLimit").or_insert(json!(10));
            spec.entry("podManagementPolicy")
                .or_insert(json!("OrderedReady"));
            spec.entry("updateStrategy")
                .or_insert(json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}));
            spec.entry("persistentVolumeClaimRetentionPolicy")
                .or_insert(json!({"whenDeleted": "Retain", "whenScaled": "Retain"}));
            template_defaults(obj);
        }
        ("", "services") => {
            let spec = ensure(obj, "spec");
            spec.entry("type").or_insert(json!("ClusterIP"));
            spec.entry("sessionAffinity").or_insert(json!("None"));
            if !spec.contains_key("clusterIP") {
                let n = NEXT_CLUSTER_IP.fetch_add(1, Ordering::SeqCst);
                let ip = format!("10.96.{}.{}", n / 250, n % 250 + 2);
                spec.insert("clusterIP".into(), json!(ip));
                spec.insert("clusterIPs".into(), json!([ip]));
            }
            spec.entry("ipFamilies").or_insert(json!(["IPv4"]));
            spec.entry("ipFamilyPolicy").or_insert(json!("SingleStack"));
            spec.entry("internalTrafficPolicy")
                .or_insert(json!("Cluster"));
            if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
                for p in ports {
                    if p.get("protocol").is_none() {
                        p["protocol"] = json!("TCP");
                    }
                    if p.get("targetPort").is_none() {
                        p["targetPort"] = p["port"].clone();
                    }
                }
            }
        }
        ("", "persistentvolumeclaims") => {
            let has_default = store
                .get(
                    res("storage.k8s.io", "storageclasses"),
                    "",
                    DEFAULT_STORAGE_CLASS,
                )
                .is_some();
            let spec = ensure(obj, "spec");
            if !spec.contains_key("storageClassName") && has_default {
                spec.insert("storageClassName".into(), json!(DEFAULT_STORAGE_CLASS));
            }
            spec.entry("volumeMode").or_insert(json!("Filesystem"));
            if obj.get("status").is_none() {
                obj["status"] = json!({"phase": "Pending"});
            }
        }
        ("", "pods") => {
            let spec = ensure(obj, "spec");
            pod_spec_defaults(spec);
            if obj.get("status").is_none() {
                obj["status"] = json!({"phase": "Pending", "qosClass": "BestEffort"});
            }
        }
        ("", "namespaces") if obj.get("status").is_none() => {
            obj["status"] = json!({"phase": "Active"});
        }
        _ => {}
    }
}

fn ensure<'a>(obj: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    crate::store::ensure_object(obj, key)
}

fn template_defaults(obj: &mut Value) {
    if let Some(spec) = obj["spec"]["template"]
        .get_mut("spec")
        .and_then(Value::as_object_mut)
    {
        pod_spec_defaults(spec);
    }
}

fn pod_spec_defaults(spec: &mut Map<String, Value>) {
    spec.entry("restartPolicy").or_insert(json!("Always"));
    spec.entry("terminationGracePeriodSeconds")
        .or_insert(json!(30));
    spec.entry("dnsPolicy").or_insert(json!("ClusterFirst"));
    spec.entry("schedulerName")
        .or_insert(json!("default-scheduler"));
    spec.entry("securityContext").or_insert(json!({}));
    for key in ["containers", "initContainers"] {
        if let Some(cs) = spec.get_mut(key).and_then(Value::as_array_mut) {
            for c in cs {
                if c.get("imagePullPolicy").is_none() {
                    let latest = c["image"]
                        .as_str()
                        .is_none_or(|i| i.ends_with(":latest") || !i.contains(':'));
                    c["imagePullPolicy"] = json!(if latest { "Always" } else { "IfNotPresent" });
                }
                if c.get("terminationMessagePath").is_none() {
                    c["terminationMessagePath"] = json!("/dev/termination-log");
                    c["terminationMessagePolicy"] = json!("File");
                }
                if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
                    for p in ports {
                        if p.get("protocol").is_none() {
                            p["protocol"] = json!("TCP");
                        }
                    }
                }
            }
        }
    }
}

/// Drops owner references to `uid` (deletion with `propagationPolicy=Orphan`).
pub fn orphan_dependents(store: &mut Store, uid: &str) {
    for (r, o) in store.all() {
        let refs = o["metadata"]["ownerReferences"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if refs.iter().any(|r| r["uid"] == uid) {
            let mut new = o.clone();
            let kept: Vec<Value> = refs.into_iter().filter(|r| r["uid"] != uid).collect();
            new["metadata"]["ownerReferences"] = json!(kept);
            let _ = store.update(r, meta_str(&o, "namespace"), meta_str(&o, "name"), new);
        }
    }
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
    service_accounts(store);
    deployments(store, kubelet);
    replicasets(store);
    statefulsets(store);
    pvcs(store, faults);
    pods(store, faults, kubelet, cfg);
    endpoints(store);
    garbage_collect(store, kubelet);
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
        pod_spec_defaults(m);
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

fn service_accounts(store: &mut Store) {
    let sa = res("", "serviceaccounts");
    for ns in store.list(res("", "namespaces"), None) {
        let n = meta_str(&ns, "name").to_string();
        if store.get(sa, &n, "default").is_none() {
            let _ = store.create(sa, json!({"metadata": {"name": "default", "namespace": n}}));
        }
    }
}

fn deployments(store: &mut Store, kubelet: &mut Kubelet) {
    let rs_res = res("apps", "replicasets");
    for d in store.list(res("apps", "deployments"), None) {
        let ns = meta_str(&d, "namespace").to_string();
        let name = meta_str(&d, "name").to_string();
        let uid = meta_str(&d, "uid").to_string();
        let desired = replicas(&d);
        let template = d["spec"]["template"].clone();
        let hash = stable_hash(&template);
        let new_name = format!("{name}-{hash}");
        let owned: Vec<Value> = store
            .list(rs_res, Some(&ns))
            .into_iter()
            .filter(|r| controlled_by(r, &uid))
            .collect();
        let revision = owned
            .iter()
            .filter_map(|r| {
                r["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                    .as_str()?
                    .parse::<i64>()
                    .ok()
            })
            .max()
            .unwrap_or(0);
        // Recreate: the new pods start only once every old pod is gone.
        let recreate = d["spec"]["strategy"]["type"] == "Recreate";
        let old_running = owned
            .iter()
            .filter(|r| meta_str(r, "name") != new_name)
            .any(|r| replicas(r) > 0 || r["status"]["replicas"].as_i64().unwrap_or(0) > 0);
        let new_target = if recreate && old_running { 0 } else { desired };
        let new_rs = match owned.iter().find(|r| meta_str(r, "name") == new_name) {
            Some(r) => {
                if replicas(r) != new_target {
                    let mut n = r.clone();
                    n["spec"]["replicas"] = json!(new_target);
                    n["metadata"]
                        .as_object_mut()
                        .map(|m| m.remove("resourceVersion"));
                    store
                        .update(rs_res, &ns, &new_name, n)
                        .unwrap_or_else(|_| r.clone())
                } else {
                    r.clone()
                }
            }
            None => {
                let hash_label = [("pod-template-hash", hash.clone())];
                let mut tpl = template.clone();
                tpl["metadata"]["labels"] =
                    merged_labels(&template["metadata"]["labels"], &hash_label);
                let mut selector = d["spec"]["selector"].clone();
                selector["matchLabels"] = merged_labels(&selector["matchLabels"], &hash_label);
                let rs = json!({
                    "metadata": {
                        "name": new_name, "namespace": ns,
                        "labels": tpl["metadata"]["labels"],
                        "annotations": {"deployment.kubernetes.io/revision": (revision + 1).to_string(),
                                        "deployment.kubernetes.io/desired-replicas": desired.to_string()},
                        "ownerReferences": [owner_ref(&d)],
                    },
                    "spec": {"replicas": new_target, "selector": selector, "template": tpl},
                    "status": {"replicas": 0},
                });
                match store.create(rs_res, rs) {
                    Ok(r) => r,
                    Err(_) => continue,
                }
            }
        };
        // Old ReplicaSets go to zero at once (Recreate) or once the new one is fully available
        // (a rolling update without the surge arithmetic).
        let new_available = new_rs["status"]["availableReplicas"].as_i64().unwrap_or(0);
        for r in owned.iter().filter(|r| meta_str(r, "name") != new_name) {
            if (recreate || new_available >= desired) && replicas(r) != 0 {
                let mut n = r.clone();
                n["spec"]["replicas"] = json!(0);
                n["metadata"]
                    .as_object_mut()
                    .map(|m| m.remove("resourceVersion"));
                let _ = store.update(rs_res, &ns, meta_str(r, "name"), n);
            }
        }
        // Status, from the ReplicaSets' own status.
        let all: Vec<Value> = store
            .list(rs_res, Some(&ns))
            .into_iter()
            .filter(|r| controlled_by(r, &uid))
            .collect();
        let sum = |k: &str| {
            all.iter()
                .map(|r| r["status"][k].as_i64().unwrap_or(0))
                .sum::<i64>()
        };
        let total = sum("replicas");
        let ready = sum("readyReplicas");
        let available = sum("availableReplicas");
        let updated = all
            .iter()
            .find(|r| meta_str(r, "name") == new_name)
            .map(|r| r["status"]["replicas"].as_i64().unwrap_or(0))
            .unwrap_or(0);
        let counts = json!([
            total,
            ready,
            available,
            updated,
            d["metadata"]["generation"]
        ]);
        let now = Instant::now();
        let entry = kubelet
            .progress
            .entry(uid.clone())
            .or_insert((counts.clone(), now));
        if entry.0 != counts {
            *entry = (counts, now);
        }
        let stalled_for = now.duration_since(entry.1).as_secs();
        let deadline = d["spec"]["progressDeadlineSeconds"].as_u64().unwrap_or(600);
        let max_unavailable = desired / 4;
        let complete = updated == desired && available >= desired && total == desired;
        let old_conds = &d["status"]["conditions"];
        let available_cond = if available >= desired - max_unavailable {
            condition(
                old_conds,
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
                true,
            )
        } else {
            condition(
                old_conds,
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
                true,
            )
        };
        let progressing = if complete {
            condition(
                old_conds,
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                &format!("ReplicaSet \"{new_name}\" has successfully progressed."),
                true,
            )
        } else if stalled_for >= deadline {
            condition(
                old_conds,
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                &format!("ReplicaSet \"{new_name}\" has timed out progressing."),
                true,
            )
        } else {
            condition(
                old_conds,
                "Progressing",
                "True",
                "ReplicaSetUpdated",
                &format!("ReplicaSet \"{new_name}\" is progressing."),
                true,
            )
        };
        let mut status = json!({
            "observedGeneration": d["metadata"]["generation"],
            "replicas": total,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": available,
            "conditions": [available_cond, progressing],
        });
        if total - available > 0 {
            status["unavailableReplicas"] = json!(total - available);
        }
        for k in [
            "replicas",
            "updatedReplicas",
            "readyReplicas",
            "availableReplicas",
        ] {
            if status[k] == 0 {
                status.as_object_mut().map(|m| m.remove(k));
            }
        }
        set_status(store, res("apps", "deployments"), &d, status);
    }
}

fn replicasets(store: &mut Store) {
    let pods_res = res("", "pods");
    for rs in store.list(res("apps", "replicasets"), None) {
        let ns = meta_str(&rs, "namespace").to_string();
        let name = meta_str(&rs, "name").to_string();
        let uid = meta_str(&rs, "uid").to_string();
        let desired = replicas(&rs);
        let mut pods = pods_of(store, &ns, &uid);
        while (pods.len() as i64) < desired {
            let pod_name = format!("{name}-{}", random_suffix(5));
            let pod = pod_from_template(&rs["spec"]["template"], &ns, &pod_name, &rs, &[]);
            match store.create(pods_res, pod) {
                Ok(p) => pods.push(p),
                Err(_) => break,
            }
        }
        if (pods.len() as i64) > desired {
            // Not-ready pods go first, then the newest.
            pods.sort_by_key(|p| {
                (
                    is_ready(p),
                    std::cmp::Reverse(meta_str(p, "creationTimestamp").to_string()),
                )
            });
            let extra = pods.len() - desired.max(0) as usize;
            for p in pods.drain(..extra) {
                let _ = store.delete(pods_res, &ns, meta_str(&p, "name"));
            }
        }
        let ready = pods.iter().filter(|p| is_ready(p)).count() as i64;
        let mut status = json!({
            "replicas": pods.len(),
            "fullyLabeledReplicas": pods.len(),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "observedGeneration": rs["metadata"]["generation"],
        });
        for k in ["fullyLabeledReplicas", "readyReplicas", "availableReplicas"] {
            if status[k] == 0 {
                status.as_object_mut().map(|m| m.remove(k));
            }
        }
        set_status(store, res("apps", "replicasets"), &rs, status);
    }
}

fn ordinal(pod: &Value, sts: &str) -> Option<i64> {
    meta_str(pod, "name")
        .strip_prefix(sts)?
        .strip_prefix('-')?
        .parse()
        .ok()
}

fn statefulsets(store: &mut Store) {
    let pods_res = res("", "pods");
    let pvc_res = res("", "persistentvolumeclaims");
    for s in store.list(res("apps", "statefulsets"), None) {
        let ns = meta_str(&s, "namespace").to_string();
        let name = meta_str(&s, "name").to_string();
        let uid = meta_str(&s, "uid").to_string();
        let desired = replicas(&s);
        let template = s["spec"]["template"].clone();
        let update_rev = format!("{name}-{}", stable_hash(&template));
        let parallel = s["spec"]["podManagementPolicy"] == "Parallel";
        let claims = s["spec"]["volumeClaimTemplates"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut pods = pods_of(store, &ns, &uid);
        pods.sort_by_key(|p| ordinal(p, &name).unwrap_or(i64::MAX));

        // Claims first: a pod never starts without its volumes.
        for i in 0..desired {
            for c in &claims {
                let claim = meta_str(c, "name");
                let pvc_name = format!("{claim}-{name}-{i}");
                if store.get(pvc_res, &ns, &pvc_name).is_none() {
                    let mut pvc = json!({
                        "metadata": {"name": pvc_name, "namespace": ns,
                            "labels": merged_labels(&c["metadata"]["labels"], &[]),
                        },
                        "spec": c["spec"].clone(),
                    });
                    if let Some(sel) = s["spec"]["selector"]["matchLabels"].as_object() {
                        for (k, v) in sel {
                            pvc["metadata"]["labels"][k] = v.clone();
                        }
                    }
                    defaults(pvc_res, &mut pvc, store);
                    let _ = store.create(pvc_res, pvc);
                }
            }
        }
        let all_ready = |pods: &[Value]| pods.iter().all(is_ready);
        // Scale down: highest ordinal first.
        let mut changed = false;
        let excess: Vec<Value> = pods
            .iter()
            .filter(|p| ordinal(p, &name).is_none_or(|o| o >= desired))
            .cloned()
            .collect();
        for p in excess.iter().rev() {
            let _ = store.delete(pods_res, &ns, meta_str(p, "name"));
            changed = true;
            if !parallel {
                break;
            }
        }
        // Scale up: missing ordinals in order; one at a time after the previous is ready.
        if !changed {
            for i in 0..desired {
                let pod_name = format!("{name}-{i}");
                if pods.iter().any(|p| meta_str(p, "name") == pod_name) {
                    continue;
                }
                let lower: Vec<Value> = pods
                    .iter()
                    .filter(|p| ordinal(p, &name).is_some_and(|o| o < i))
                    .cloned()
                    .collect();
                if !parallel && ((lower.len() as i64) < i || !all_ready(&lower)) {
                    break;
                }
                let mut pod = pod_from_template(
                    &template,
                    &ns,
                    &pod_name,
                    &s,
                    &[
                        ("controller-revision-hash", update_rev.clone()),
                        ("statefulset.kubernetes.io/pod-name", pod_name.clone()),
                        ("apps.kubernetes.io/pod-index", i.to_string()),
                    ],
                );
                pod["spec"]["hostname"] = json!(pod_name);
                if let Some(svc) = s["spec"]["serviceName"].as_str() {
                    pod["spec"]["subdomain"] = json!(svc);
                }
                for c in &claims {
                    let claim = meta_str(c, "name");
                    let vol = json!({"name": claim, "persistentVolumeClaim": {"claimName": format!("{claim}-{name}-{i}")}});
                    match pod["spec"]["volumes"].as_array_mut() {
                        Some(v) => {
                            v.retain(|x| x["name"] != claim);
                            v.push(vol);
                        }
                        None => pod["spec"]["volumes"] = json!([vol]),
                    }
                }
                if let Ok(p) = store.create(pods_res, pod) {
                    pods.push(p);
                    changed = true;
                }
                if !parallel {
                    break;
                }
            }
        }
        // Rolling update: once everything is ready, replace the highest outdated pod.
        if !changed && all_ready(&pods) && (pods.len() as i64) == desired {
            let partition = s["spec"]["updateStrategy"]["rollingUpdate"]["partition"]
                .as_i64()
                .unwrap_or(0);
            if let Some(p) = pods.iter().rev().find(|p| {
                p["metadata"]["labels"]["controller-revision-hash"] != update_rev.as_str()
                    && ordinal(p, &name).unwrap_or(0) >= partition
            }) && s["spec"]["updateStrategy"]["type"] != "OnDelete"
            {
                let _ = store.delete(pods_res, &ns, meta_str(p, "name"));
            }
        }
        let pods = pods_of(store, &ns, &uid);
        let rev_of = |p: &Value| {
            p["metadata"]["labels"]["controller-revision-hash"]
                .as_str()
                .unwrap_or("")
                .to_string()
        };
        let ready = pods.iter().filter(|p| is_ready(p)).count() as i64;
        let updated = pods.iter().filter(|p| rev_of(p) == update_rev).count() as i64;
        let mut current_rev = s["status"]["currentRevision"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if current_rev.is_empty() || (updated == desired && ready == desired) {
            current_rev = update_rev.clone();
        }
        let current = pods.iter().filter(|p| rev_of(p) == current_rev).count() as i64;
        let status = json!({
            "observedGeneration": s["metadata"]["generation"],
            "replicas": pods.len(),
            "readyReplicas": ready,
            "currentReplicas": current,
            "updatedReplicas": updated,
            "availableReplicas": ready,
            "currentRevision": current_rev,
            "updateRevision": update_rev,
            "collisionCount": 0,
        });
        set_status(store, res("apps", "statefulsets"), &s, status);
    }
}

/// Records an event about `obj`, or bumps the count of the same one.
pub fn event(
    store: &mut Store,
    obj: &Value,
    kind: &str,
    reason: &str,
    message: &str,
    component: &str,
) {
    let ev_res = res("", "events");
    let ns = meta_str(obj, "namespace").to_string();
    let ns = if ns.is_empty() {
        "default".to_string()
    } else {
        ns
    };
    let uid = meta_str(obj, "uid");
    let now = now_rfc3339();
    if let Some(existing) = store.list(ev_res, Some(&ns)).into_iter().find(|e| {
        e["involvedObject"]["uid"] == uid && e["reason"] == reason && e["message"] == message
    }) {
        let mut n = existing.clone();
        n["count"] = json!(existing["count"].as_i64().unwrap_or(1) + 1);
        n["lastTimestamp"] = json!(now);
        n["metadata"]
            .as_object_mut()
            .map(|m| m.remove("resourceVersion"));
        let _ = store.update(ev_res, &ns, meta_str(&existing, "name"), n);
        return;
    }
    let name = format!("{}.{:016x}", meta_str(obj, "name"), random_u64());
    let involved = json!({
        "kind": obj["kind"], "namespace": obj["metadata"]["namespace"], "name": obj["metadata"]["name"],
        "uid": uid, "apiVersion": obj["apiVersion"], "resourceVersion": obj["metadata"]["resourceVersion"],
    });
    let _ = store.create(
        ev_res,
        json!({
            "metadata": {"name": name, "namespace": ns},
            "involvedObject": involved,
            "reason": reason, "message": message, "type": kind, "count": 1,
            "firstTimestamp": now, "lastTimestamp": now,
            "source": {"component": component, "host": if component == "kubelet" { NODE } else { "" }},
            "reportingComponent": component, "reportingInstance": NODE,
        }),
    );
}

fn fault_for<'a>(
    faults: &'a [(u64, Target, Fault)],
    obj: &Value,
    container: Option<&str>,
) -> Option<&'a Fault> {
    faults
        .iter()
        .filter(|(_, t, f)| !matches!(f, Fault::PvcPending) && t.matches(obj))
        .filter(|(_, t, _)| container.is_none_or(|c| t.matches_container(c)))
        .map(|(_, _, f)| f)
        .next()
}

fn pvcs(store: &mut Store, faults: &[(u64, Target, Fault)]) {
    let pvc_res = res("", "persistentvolumeclaims");
    let pv_res = res("", "persistentvolumes");
    for pvc in store.list(pvc_res, None) {
        if pvc["status"]["phase"] == "Bound" {
            continue;
        }
        let held = faults
            .iter()
            .any(|(_, t, f)| matches!(f, Fault::PvcPending) && t.matches(&pvc));
        let class = pvc["spec"]["storageClassName"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let class_ok = !class.is_empty()
            && store
                .get(res("storage.k8s.io", "storageclasses"), "", &class)
                .is_some();
        if held || !class_ok {
            let msg = if held || class.is_empty() {
                "no persistent volumes available for this claim and no storage class is set"
                    .to_string()
            } else {
                format!("storageclass.storage.k8s.io \"{class}\" not found")
            };
            if pvc["status"]["phase"] != "Pending" {
                set_status(store, pvc_res, &pvc, json!({"phase": "Pending"}));
            }
            event(
                store,
                &pvc,
                "Warning",
                if held || class.is_empty() {
                    "FailedBinding"
                } else {
                    "ProvisioningFailed"
                },
                &msg,
                "persistentvolume-controller",
            );
            continue;
        }
        let pv_name = format!("pvc-{}", meta_str(&pvc, "uid"));
        let size = pvc["spec"]["resources"]["requests"]["storage"].clone();
        let access = pvc["spec"]["accessModes"].clone();
        if store.get(pv_res, "", &pv_name).is_none() {
            let _ = store.create(
                pv_res,
                json!({
                    "metadata": {"name": pv_name, "annotations": {"pv.kubernetes.io/provisioned-by": "k8s-sim/local"}},
                    "spec": {
                        "capacity": {"storage": size}, "accessModes": access, "persistentVolumeReclaimPolicy": "Delete",
                        "storageClassName": class, "volumeMode": "Filesystem", "hostPath": {"path": format!("/var/sim/{pv_name}")},
                        "claimRef": {"kind": "PersistentVolumeClaim", "namespace": pvc["metadata"]["namespace"], "name": pvc["metadata"]["name"], "uid": pvc["metadata"]["uid"], "apiVersion": "v1"},
                    },
                    "status": {"phase": "Bound"},
                }),
            );
        }
        let mut n = pvc.clone();
        n["spec"]["volumeName"] = json!(pv_name);
        n["metadata"]["annotations"]["pv.kubernetes.io/bind-completed"] = json!("yes");
        n["metadata"]
            .as_object_mut()
            .map(|m| m.remove("resourceVersion"));
        if let Ok(n) = store.update(
            pvc_res,
            meta_str(&pvc, "namespace"),
            meta_str(&pvc, "name"),
            n,
        ) {
            set_status(
                store,
                pvc_res,
                &n,
                json!({"phase": "Bound", "accessModes": access, "capacity": {"storage": size}}),
            );
            event(
                store,
                &n,
                "Normal",
                "ProvisioningSucceeded",
                &format!("Successfully provisioned volume {pv_name}"),
                "persistentvolume-controller",
            );
        }
    }
}

fn pods(
    store: &mut Store,
    faults: &[(u64, Target, Fault)],
    kubelet: &mut Kubelet,
    cfg: &SimConfig,
) {
    let pod_res = res("", "pods");
    let pvc_res = res("", "persistentvolumeclaims");
    let now = Instant::now();
    for pod in store.list(pod_res, None) {
        let ns = meta_str(&pod, "namespace").to_string();
        let name = meta_str(&pod, "name").to_string();
        let uid = meta_str(&pod, "uid").to_string();
        let containers = pod["spec"]["containers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let init = pod["spec"]["initContainers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let old_conds = pod["status"]["conditions"].clone();

        // Scheduling: an unschedulable fault, or a claim that is not bound, keeps it Pending.
        let unbound = pod["spec"]["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|v| {
                let claim = v["persistentVolumeClaim"]["claimName"].as_str()?;
                let bound = store
                    .get(pvc_res, &ns, claim)
                    .is_some_and(|c| c["status"]["phase"] == "Bound");
                (!bound).then(|| claim.to_string())
            });
        let unsched = match fault_for(faults, &pod, None) {
            Some(Fault::Unschedulable { message }) => Some(
                message
                    .clone()
                    .unwrap_or_else(|| "0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.".into()),
            ),
            _ => unbound.map(|c| {
                format!("0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims ({c}). preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.")
            }),
        };
        let node = pod["spec"]["nodeName"].as_str().unwrap_or("");
        if !node.is_empty() && node != NODE {
            // Bound to a node that does not exist: no kubelet will ever run it.
            continue;
        }
        if node.is_empty() {
            if let Some(msg) = unsched {
                let status = json!({
                    "phase": "Pending",
                    "qosClass": pod["status"]["qosClass"].as_str().unwrap_or("BestEffort"),
                    "conditions": [condition(&old_conds, "PodScheduled", "False", "Unschedulable", &msg, false)],
                });
                set_status(store, pod_res, &pod, status);
                if let Some(p) = store.get(pod_res, &ns, &name).cloned() {
                    let rt = kubelet.pods.entry(uid.clone()).or_insert_with(PodRt::new);
                    if rt.events.insert(format!("FailedScheduling:{msg}")) {
                        event(
                            store,
                            &p,
                            "Warning",
                            "FailedScheduling",
                            &msg,
                            "default-scheduler",
                        );
                    }
                }
                continue;
            }
            let mut n = pod.clone();
            n["spec"]["nodeName"] = json!(NODE);
            n["metadata"]
                .as_object_mut()
                .map(|m| m.remove("resourceVersion"));
            let Ok(n) = store.update(pod_res, &ns, &name, n) else {
                continue;
            };
            event(
                store,
                &n,
                "Normal",
                "Scheduled",
                &format!("Successfully assigned {ns}/{name} to {NODE}"),
                "default-scheduler",
            );
            let rt = kubelet.pods.entry(uid.clone()).or_insert_with(PodRt::new);
            rt.healthy_since = Some(now);
            rt.started_at = now_rfc3339();
            continue;
        }
        let pod = pod.clone();
        let own_delay = cfg.ready_delays.iter().find(|d| d.target.matches(&pod));
        let ready_delay = own_delay.map_or(cfg.ready_delay, |d| Duration::from_millis(d.ms));
        let dependencies_ready = own_delay.is_none_or(|d| {
            d.after.iter().all(|selector| {
                let wanted = Target::labels(selector).in_namespace(&ns);
                store
                    .list(pod_res, Some(&ns))
                    .iter()
                    .any(|p| wanted.matches(p) && is_ready(p))
            })
        });
        let rt = kubelet.pods.entry(uid.clone()).or_insert_with(|| {
            let mut r = PodRt::new();
            r.healthy_since = Some(now);
            r.started_at = now_rfc3339();
            r
        });
        // Held by its dependencies: the clock starts only when they are all Ready, once.
        if !rt.events.contains("dependencies-ready") {
            if dependencies_ready {
                rt.events.insert("dependencies-ready".into());
            } else {
                rt.healthy_since = Some(now);
            }
        }
        let mut statuses = Vec::new();
        let mut all_ready = true;
        let mut any_started = false;
        let mut pending_events: Vec<(&str, String, String)> = Vec::new();
        for c in &containers {
            let cname = c["name"].as_str().unwrap_or("").to_string();
            let image = c["image"].as_str().unwrap_or("").to_string();
            let mut st = json!({
                "name": cname, "image": image, "imageID": "", "containerID": "",
                "started": false, "ready": false, "restartCount": *rt.restarts.get(&cname).unwrap_or(&0),
            });
            // An injected fault first; else what the image itself does with this spec.
            let own = crate::images::start_failure(&pod, c, &cfg.cluster_domain);
            let fault = fault_for(faults, &pod, Some(&cname)).or(own.as_ref());
            match fault {
                Some(Fault::ImagePull { message }) => {
                    let since = *rt.fault_since.entry(cname.clone()).or_insert(now);
                    let msg = message.clone().unwrap_or_else(|| {
                        format!("failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": dial tcp: lookup registry: no such host")
                    });
                    let backoff = now.duration_since(since) >= cfg.crash_interval;
                    let reason = if backoff {
                        "ImagePullBackOff"
                    } else {
                        "ErrImagePull"
                    };
                    let wmsg = if backoff {
                        format!("Back-off pulling image \"{image}\": ErrImagePull: {msg}")
                    } else {
                        msg.clone()
                    };
                    st["state"] = json!({"waiting": {"reason": reason, "message": wmsg}});
                    if rt.events.insert(format!("pull-fail:{cname}")) {
                        pending_events.push((
                            "Normal",
                            "Pulling".into(),
                            format!("Pulling image \"{image}\""),
                        ));
                        pending_events.push((
                            "Warning",
                            "Failed".into(),
                            format!("Failed to pull image \"{image}\": {msg}"),
                        ));
                        pending_events.push((
                            "Warning",
                            "Failed".into(),
                            "Error: ErrImagePull".into(),
                        ));
                    }
                    if backoff && rt.events.insert(format!("pull-backoff:{cname}")) {
                        pending_events.push((
                            "Normal",
                            "BackOff".into(),
                            format!("Back-off pulling image \"{image}\""),
                        ));
                        pending_events.push((
                            "Warning",
                            "Failed".into(),
                            "Error: ImagePullBackOff".into(),
                        ));
                    }
                    all_ready = false;
                }
                Some(Fault::CrashLoop { .. }) | Some(Fault::OomKilled) => {
                    let since = *rt.fault_since.entry(cname.clone()).or_insert(now);
                    let (code, reason, lines) = match fault {
                        Some(Fault::CrashLoop { exit_code, logs }) => {
                            (*exit_code, "Error", logs.clone())
                        }
                        _ => (137, "OOMKilled", vec![]),
                    };
                    let crashes = (now.duration_since(since).as_millis()
                        / cfg.crash_interval.as_millis().max(1))
                        as i64
                        + 1;
                    let base = rt
                        .restarts
                        .get(&format!("{cname}#base"))
                        .copied()
                        .unwrap_or_else(|| *rt.restarts.get(&cname).unwrap_or(&0));
                    rt.restarts.insert(format!("{cname}#base"), base);
                    let restarts = base + crashes;
                    if rt.restarts.get(&cname) != Some(&restarts) {
                        rt.restarts.insert(cname.clone(), restarts);
                        let t = now_rfc3339();
                        rt.last_state.insert(
                            cname.clone(),
                            json!({"terminated": {"exitCode": code, "reason": reason, "startedAt": t, "finishedAt": t, "containerID": format!("sim://{uid}-{cname}-{restarts}")}}),
                        );
                        let logs = kubelet
                            .logs
                            .entry((uid.clone(), cname.clone()))
                            .or_default();
                        logs.previous = Some(lines.clone());
                        logs.current = lines.clone();
                        pending_events.push(("Warning", "BackOff".into(), format!("Back-off restarting failed container {cname} in pod {name}_{ns}({uid})")));
                    }
                    st["restartCount"] = json!(restarts);
                    st["state"] = json!({"waiting": {"reason": "CrashLoopBackOff", "message": format!("back-off 10s restarting failed container={cname} pod={name}_{ns}({uid})")}});
                    if let Some(ls) = rt.last_state.get(&cname) {
                        st["lastState"] = ls.clone();
                    }
                    if rt.events.insert(format!("started-once:{cname}")) {
                        pending_events.push((
                            "Normal",
                            "Pulled".into(),
                            format!("Container image \"{image}\" already present on machine"),
                        ));
                        pending_events.push((
                            "Normal",
                            "Created".into(),
                            format!("Created container: {cname}"),
                        ));
                        pending_events.push((
                            "Normal",
                            "Started".into(),
                            format!("Started container {cname}"),
                        ));
                    }
                    all_ready = false;
                    any_started = true;
                }
                _ => {
                    if rt.fault_since.remove(&cname).is_some() {
                        rt.healthy_since = Some(now);
                        rt.restarts.remove(&format!("{cname}#base"));
                    }
                    let since = now.duration_since(rt.healthy_since.unwrap_or(now));
                    if let Some(ls) = rt.last_state.get(&cname) {
                        st["lastState"] = ls.clone();
                    }
                    if since >= ready_delay / 2 {
                        any_started = true;
                        st["state"] = json!({"running": {"startedAt": rt.started_at}});
                        st["started"] = json!(true);
                        st["containerID"] = json!(format!("sim://{uid}-{cname}"));
                        st["imageID"] = json!(format!("{image}@sha256:{}", "0".repeat(64)));
                        if rt.events.insert(format!("started:{cname}")) {
                            pending_events.push((
                                "Normal",
                                "Pulling".into(),
                                format!("Pulling image \"{image}\""),
                            ));
                            pending_events.push((
                                "Normal",
                                "Pulled".into(),
                                format!("Successfully pulled image \"{image}\""),
                            ));
                            pending_events.push((
                                "Normal",
                                "Created".into(),
                                format!("Created container: {cname}"),
                            ));
                            pending_events.push((
                                "Normal",
                                "Started".into(),
                                format!("Started container {cname}"),
                            ));
                            let logs = kubelet
                                .logs
                                .entry((uid.clone(), cname.clone()))
                                .or_default();
                            logs.current.push(format!(
                                "k8s-sim: container {cname} started (image {image})"
                            ));
                        }
                        if let Some(Fault::NotReady { message }) = fault {
                            // Running, never ready: a readiness probe that keeps failing.
                            all_ready = false;
                            let msg = message.clone().unwrap_or_else(|| {
                                "Readiness probe failed: HTTP probe failed with statuscode: 503"
                                    .into()
                            });
                            if rt.events.insert(format!("unhealthy:{cname}:{msg}")) {
                                pending_events.push(("Warning", "Unhealthy".into(), msg));
                            }
                        } else if since >= ready_delay {
                            st["ready"] = json!(true);
                        } else {
                            all_ready = false;
                        }
                    } else {
                        let reason = if init.is_empty() {
                            "ContainerCreating"
                        } else {
                            "PodInitializing"
                        };
                        st["state"] = json!({"waiting": {"reason": reason}});
                        all_ready = false;
                    }
                }
            }
            statuses.push(st);
        }
        // Init containers run to completion before the main containers start.
        let init_statuses: Vec<Value> = init
            .iter()
            .map(|c| {
                let mut st = json!({
                    "name": c["name"], "image": c["image"], "imageID": "", "restartCount": 0,
                    "ready": any_started, "started": !any_started,
                });
                st["state"] = if any_started {
                    json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": rt.started_at, "finishedAt": rt.started_at}})
                } else {
                    json!({"running": {"startedAt": rt.started_at}})
                };
                st
            })
            .collect();
        let initialized = if init.is_empty() || any_started {
            condition(&old_conds, "Initialized", "True", "", "", false)
        } else {
            let names: Vec<&str> = init.iter().filter_map(|c| c["name"].as_str()).collect();
            let msg = format!("containers with incomplete status: [{}]", names.join(" "));
            condition(
                &old_conds,
                "Initialized",
                "False",
                "ContainersNotInitialized",
                &msg,
                false,
            )
        };
        let phase = if any_started { "Running" } else { "Pending" };
        let ready = if all_ready && !containers.is_empty() {
            "True"
        } else {
            "False"
        };
        let not_ready_msg = if ready == "True" {
            String::new()
        } else {
            let names: Vec<&str> = statuses
                .iter()
                .filter(|s| s["ready"] != true)
                .filter_map(|s| s["name"].as_str())
                .collect();
            format!("containers with unready status: [{}]", names.join(" "))
        };
        let reason = if ready == "True" {
            ""
        } else {
            "ContainersNotReady"
        };
        let ip = rt.ip.clone();
        let mut status = json!({
            "phase": phase,
            "conditions": [
                condition(&old_conds, "PodReadyToStartContainers", "True", "", "", false),
                initialized,
                condition(&old_conds, "Ready", ready, reason, &not_ready_msg, false),
                condition(&old_conds, "ContainersReady", ready, reason, &not_ready_msg, false),
                condition(&old_conds, "PodScheduled", "True", "", "", false),
            ],
            "hostIP": "172.18.0.2",
            "hostIPs": [{"ip": "172.18.0.2"}],
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "startTime": rt.started_at,
            "containerStatuses": statuses,
            "qosClass": pod["status"]["qosClass"].as_str().unwrap_or("BestEffort"),
        });
        if !init_statuses.is_empty() {
            status["initContainerStatuses"] = json!(init_statuses);
        }
        set_status(store, pod_res, &pod, status);
        if !pending_events.is_empty()
            && let Some(p) = store.get(pod_res, &ns, &name).cloned()
        {
            for (kind, reason, msg) in pending_events {
                event(store, &p, kind, &reason, &msg, "kubelet");
            }
        }
    }
}

impl PodRt {
    fn new() -> Self {
        let n = NEXT_POD_IP.fetch_add(1, Ordering::SeqCst);
        PodRt {
            healthy_since: None,
            started_at: String::new(),
            ip: format!("10.244.{}.{}", n / 250, n % 250 + 2),
            fault_since: HashMap::new(),
            restarts: HashMap::new(),
            last_state: HashMap::new(),
            events: HashSet::new(),
        }
    }
}

/// A Service port's target on the pods: a number as is, a name resolved through the pods'
/// container ports (the port itself when none has that name), the port itself when unset.
pub(crate) fn target_port(port: &Value, pods: &[Value]) -> Value {
    match &port["targetPort"] {
        Value::String(named) => pods
            .iter()
            .flat_map(|pod| {
                pod["spec"]["containers"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
            .find(|cp| cp["name"] == named.as_str())
            .map(|cp| cp["containerPort"].clone())
            .unwrap_or(port["port"].clone()),
        Value::Null => port["port"].clone(),
        other => other.clone(),
    }
}

fn endpoints(store: &mut Store) {
    let ep_res = res("", "endpoints");
    for svc in store.list(res("", "services"), None) {
        let Some(sel) = svc["spec"]["selector"]
            .as_object()
            .filter(|m| !m.is_empty())
        else {
            continue;
        };
        let ns = meta_str(&svc, "namespace").to_string();
        let name = meta_str(&svc, "name").to_string();
        let selector = Selector::from_labels(&Value::Object(sel.clone()));
        let pods: Vec<Value> = store
            .list(res("", "pods"), Some(&ns))
            .into_iter()
            .filter(|p| selector.matches_labels(&p["metadata"]["labels"]))
            .filter(|p| {
                p["status"]["podIP"]
                    .as_str()
                    .is_some_and(|ip| !ip.is_empty())
            })
            .collect();
        let addr = |p: &Value| {
            json!({"ip": p["status"]["podIP"], "nodeName": NODE,
                   "targetRef": {"kind": "Pod", "namespace": ns, "name": p["metadata"]["name"], "uid": p["metadata"]["uid"]}})
        };
        let ready: Vec<Value> = pods.iter().filter(|p| is_ready(p)).map(addr).collect();
        let not_ready: Vec<Value> = pods.iter().filter(|p| !is_ready(p)).map(addr).collect();
        let ports: Vec<Value> = svc["spec"]["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                let target = target_port(p, &pods);
                let mut e =
                    json!({"port": target, "protocol": p["protocol"].as_str().unwrap_or("TCP")});
                if let Some(n) = p.get("name") {
                    e["name"] = n.clone();
                }
                e
            })
            .collect();
        let mut subset = json!({"ports": ports});
        if !ready.is_empty() {
            subset["addresses"] = json!(ready);
        }
        if !not_ready.is_empty() {
            subset["notReadyAddresses"] = json!(not_ready);
        }
        let subsets = if ready.is_empty() && not_ready.is_empty() {
            json!([])
        } else {
            json!([subset])
        };
        match store.get(ep_res, &ns, &name).cloned() {
            Some(ep) => {
                if ep["subsets"] != subsets {
                    let mut n = ep.clone();
                    n["subsets"] = subsets;
                    n["metadata"]
                        .as_object_mut()
                        .map(|m| m.remove("resourceVersion"));
                    let _ = store.update(ep_res, &ns, &name, n);
                }
            }
            None => {
                let _ = store.create(
                    ep_res,
                    json!({"metadata": {"name": name, "namespace": ns, "labels": svc["metadata"]["labels"].clone()}, "subsets": subsets}),
                );
            }
        }
    }
}

fn garbage_collect(store: &mut Store, kubelet: &mut Kubelet) {
    let all = store.all();
    let uids: HashSet<String> = all
        .iter()
        .map(|(_, o)| meta_str(o, "uid").to_string())
        .collect();
    for (r, o) in &all {
        let refs = o["metadata"]["ownerReferences"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if !refs.is_empty()
            && refs
                .iter()
                .all(|x| !uids.contains(x["uid"].as_str().unwrap_or("")))
        {
            let _ = store.delete(r, meta_str(o, "namespace"), meta_str(o, "name"));
        }
        if r.plural == "persistentvolumes"
            && let Some(claim_uid) = o["spec"]["claimRef"]["uid"].as_str()
            && !uids.contains(claim_uid)
            && o["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
        {
            let _ = store.delete(r, "", meta_str(o, "name"));
        }
    }
    kubelet.pods.retain(|uid, _| uids.contains(uid));
    kubelet.logs.retain(|(uid, _), _| uids.contains(uid));
    kubelet.progress.retain(|uid, _| uids.contains(uid));
}
