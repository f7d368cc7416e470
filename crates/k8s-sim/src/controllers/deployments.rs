//! Step 2 of the tick: Deployments → ReplicaSets (`<deploy>-<pod-template-hash>`; the old one is
//! scaled down once the new one is available) → Pods (`<rs>-<5 chars>`), with owner references,
//! and both kinds' status as their real controllers write it (step 6 for them).

use std::time::Instant;

use serde_json::{Value, json};

use super::{
    Kubelet, condition, controlled_by, is_ready, merged_labels, owner_ref, pod_from_template,
    pods_of, replicas, set_status,
};
use crate::store::{Store, meta_str, random_suffix, res, stable_hash};

pub(super) fn deployments(store: &mut Store, kubelet: &mut Kubelet) {
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

pub(super) fn replicasets(store: &mut Store) {
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
