//! Events as the real components record them: one per (object, reason, message), its count bumped
//! when it happens again. Shared by the steps that report (claims, the kubelet).

use serde_json::{Value, json};

use super::NODE;
use crate::store::{Store, meta_str, now_rfc3339, random_u64, res};

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
