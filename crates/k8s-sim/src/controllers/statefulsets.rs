//! Step 3 of the tick: StatefulSets → PVCs from `volumeClaimTemplates` (`<claim>-<sts>-<ordinal>`)
//! and Pods (`<sts>-<ordinal>`, ordered: one at a time, each after the previous is ready; rolling
//! updates from the highest ordinal down), and their status with revisions (step 6 for them).

use serde_json::{Value, json};

use super::defaults::defaults;
use super::{is_ready, merged_labels, pod_from_template, pods_of, replicas, set_status};
use crate::store::{Store, meta_str, res, stable_hash};

pub(super) fn ordinal(pod: &Value, sts: &str) -> Option<i64> {
    meta_str(pod, "name")
        .strip_prefix(sts)?
        .strip_prefix('-')?
        .parse()
        .ok()
}

pub(super) fn statefulsets(store: &mut Store) {
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
