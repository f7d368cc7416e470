//! Server-side defaults the real API server applies on write (the subset clients look at):
//! workloads' replicas and strategies, pod specs, Services' cluster IPs, claims' StorageClass.
//! Not a step of the tick: the API calls it on every create, update and apply, and the
//! StatefulSet controller on the claims it makes.

use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{Map, Value, json};

use super::DEFAULT_STORAGE_CLASS;
use crate::resources::ResourceDef;
use crate::store::{Store, res};

static NEXT_CLUSTER_IP: AtomicU32 = AtomicU32::new(10);

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

pub(super) fn ensure<'a>(obj: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    crate::store::ensure_object(obj, key)
}

pub(super) fn template_defaults(obj: &mut Value) {
    if let Some(spec) = obj["spec"]["template"]
        .get_mut("spec")
        .and_then(Value::as_object_mut)
    {
        pod_spec_defaults(spec);
    }
}

pub(super) fn pod_spec_defaults(spec: &mut Map<String, Value>) {
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
