//! The OpenAPI v3 documents kubectl asks for, and server-side Tables for plain `kubectl get`.
//!
//! kubectl validates what it sends (`--validate=strict` by default). It first asks, through
//! `/openapi/v3` and one document per group/version, whether the server supports the
//! `fieldValidation` query parameter on PATCH for the object's kind; when it does, kubectl leaves
//! validation to the server and needs no schemas. So each document lists, per kind, the item
//! path with a PATCH operation tagged `x-kubernetes-group-version-kind` that declares
//! `fieldValidation`. The simulator accepts the parameter but does not reject unknown fields
//! (README says so).
//!
//! `kubectl get` without `-o` asks for `as=Table`; [`table`] answers with NAME and AGE columns
//! plus a few per kind (READY and STATUS for pods and workloads).

use serde_json::{Value, json};

use crate::resources::{RESOURCES, ResourceDef};

fn gv_path(r: &ResourceDef) -> String {
    if r.group.is_empty() {
        format!("api/{}", r.version)
    } else {
        format!("apis/{}/{}", r.group, r.version)
    }
}

pub fn root() -> Value {
    let mut paths = serde_json::Map::new();
    for r in RESOURCES {
        let p = gv_path(r);
        paths.insert(
            p.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash=sim")}),
        );
    }
    json!({"paths": paths})
}

pub fn group_version(gv: &str) -> Option<Value> {
    let defs: Vec<&ResourceDef> = RESOURCES.iter().filter(|r| gv_path(r) == gv).collect();
    if defs.is_empty() {
        return None;
    }
    let mut paths = serde_json::Map::new();
    let param = |name: &str| json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}});
    for r in defs {
        let base = if r.namespaced {
            format!("/{}/namespaces/{{namespace}}/{}", gv_path(r), r.plural)
        } else {
            format!("/{}/{}", gv_path(r), r.plural)
        };
        let gvk = json!({"group": r.group, "version": r.version, "kind": r.kind});
        let op = |action: &str, verb: &str| {
            json!({
                "operationId": format!("{verb}{}", r.kind),
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk,
                "parameters": [param("dryRun"), param("fieldManager"), param("fieldValidation"), param("force")],
                "responses": {"200": {"description": "OK"}},
            })
        };
        paths.insert(
            format!("{base}/{{name}}"),
            json!({"get": op("get", "read"), "put": op("put", "replace"), "patch": op("patch", "patch"), "delete": op("delete", "delete")}),
        );
        paths.insert(
            base,
            json!({"get": op("list", "list"), "post": op("post", "create")}),
        );
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (k8s-sim)", "version": "v1.33.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}

/// kubectl's short age: `42s`, `5m`, `3h`, `2d`.
fn age(created: &str) -> String {
    let Some(t) = crate::store::parse_rfc3339(created) else {
        return "<unknown>".into();
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let s = (now - t).max(0);
    match s {
        0..120 => format!("{s}s"),
        120..7200 => format!("{}m", s / 60),
        7200..172_800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// Computes one table cell from an object.
type Cell = fn(&Value) -> Value;

fn col(name: &str, ty: &str) -> Value {
    json!({"name": name, "type": ty, "format": if name == "Name" { "name" } else { "" }, "description": name, "priority": 0})
}

/// A `meta.k8s.io/v1` Table for `kubectl get`.
pub fn table(r: &ResourceDef, items: &[Value], rv: &str) -> Value {
    let mut columns = vec![col("Name", "string")];
    let extra: Vec<(&str, Cell)> = match r.plural {
        "pods" => vec![
            ("Ready", |o| {
                let cs = o["status"]["containerStatuses"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let total = o["spec"]["containers"]
                    .as_array()
                    .map(Vec::len)
                    .unwrap_or(0);
                json!(format!(
                    "{}/{}",
                    cs.iter().filter(|c| c["ready"] == true).count(),
                    total
                ))
            }),
            ("Status", |o| {
                let waiting = o["status"]["containerStatuses"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find_map(|c| c["state"]["waiting"]["reason"].as_str().map(String::from));
                json!(waiting.unwrap_or_else(|| {
                    o["status"]["phase"]
                        .as_str()
                        .unwrap_or("Unknown")
                        .to_string()
                }))
            }),
            ("Restarts", |o| {
                json!(
                    o["status"]["containerStatuses"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|c| c["restartCount"].as_i64().unwrap_or(0))
                        .sum::<i64>()
                )
            }),
        ],
        "deployments" | "statefulsets" | "replicasets" => vec![
            ("Ready", |o| {
                json!(format!(
                    "{}/{}",
                    o["status"]["readyReplicas"].as_i64().unwrap_or(0),
                    o["spec"]["replicas"].as_i64().unwrap_or(1)
                ))
            }),
            ("Up-to-date", |o| {
                json!(o["status"]["updatedReplicas"].as_i64().unwrap_or(0))
            }),
        ],
        "persistentvolumeclaims" => vec![
            ("Status", |o| o["status"]["phase"].clone()),
            ("Volume", |o| o["spec"]["volumeName"].clone()),
        ],
        "services" => vec![
            ("Type", |o| o["spec"]["type"].clone()),
            ("Cluster-IP", |o| o["spec"]["clusterIP"].clone()),
        ],
        _ => vec![],
    };
    for (name, _) in &extra {
        columns.push(col(name, "string"));
    }
    columns.push(col("Age", "string"));
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let mut cells = vec![o["metadata"]["name"].clone()];
            cells.extend(extra.iter().map(|(_, f)| f(o)));
            cells.push(json!(age(o["metadata"]["creationTimestamp"].as_str().unwrap_or(""))));
            json!({"cells": cells, "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}})
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": rv}, "columnDefinitions": columns, "rows": rows})
}
