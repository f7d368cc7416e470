//! Step 7 of the tick: Endpoints for Services with selectors (ready and not-ready addresses, target
//! ports resolved through the pods' named container ports).

use serde_json::{Value, json};

use super::{NODE, is_ready};
use crate::select::Selector;
use crate::store::{Store, meta_str, res};

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

pub(super) fn endpoints(store: &mut Store) {
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
