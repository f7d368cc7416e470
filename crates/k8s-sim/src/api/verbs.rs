//! Step 4 of a request: the REST verbs (list, get, create, replace, patch, delete) run against the
//! store under the one lock, answering objects, lists or `Status` errors.

use std::collections::BTreeSet;

use axum::body::Bytes;
use axum::http::{HeaderMap, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::bodies::{check_body, check_shape, parse_body};
use super::immutable::check_update;
use super::{Query, Target, json_response, q, q_bool};
use crate::apply::{
    field_set, merge_patch, record_update, server_side_apply, strategic_merge_patch,
};
use crate::error::ApiError;
use crate::resources::ResourceDef;
use crate::select::Selector;
use crate::store::{Store, meta_str, res};
use crate::{Shared, World, controllers};

pub(super) fn list(
    shared: &Shared,
    t: &Target,
    query: &Query,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let labels = Selector::parse(q(query, "labelSelector").unwrap_or(""))?;
    let fields = Selector::parse(q(query, "fieldSelector").unwrap_or(""))?;
    let w = shared.world();
    let ns = if t.res.namespaced && !t.ns.is_empty() {
        Some(t.ns.as_str())
    } else {
        None
    };
    let items: Vec<Value> = w
        .store
        .list(t.res, ns)
        .into_iter()
        .filter(|o| labels.matches_labels(&o["metadata"]["labels"]) && fields.matches_fields(o))
        .collect();
    let rv = w.store.resource_version().to_string();
    drop(w);
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if accept.contains("as=Table") {
        return Ok(json_response(
            200,
            &crate::openapi::table(t.res, &items, &rv),
        ));
    }
    Ok(json_response(
        200,
        &json!({
            "kind": format!("{}List", t.res.kind),
            "apiVersion": t.res.api_version(),
            "metadata": {"resourceVersion": rv},
            "items": items,
        }),
    ))
}

pub(super) fn get(shared: &Shared, t: &Target, headers: &HeaderMap) -> Result<Response, ApiError> {
    let name = t.name.as_deref().unwrap_or_default();
    let w = shared.world();
    let obj = w
        .store
        .get(t.res, &t.ns, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(t.res, name))?;
    drop(w);
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match t.sub.as_deref() {
        None if accept.contains("as=Table") => {
            let rv = meta_str(&obj, "resourceVersion").to_string();
            Ok(json_response(
                200,
                &crate::openapi::table(t.res, std::slice::from_ref(&obj), &rv),
            ))
        }
        None | Some("status") => Ok(json_response(200, &obj)),
        Some("scale") if t.res.scale => Ok(json_response(200, &scale_of(&obj))),
        Some(other) => Err(ApiError::path_not_found(other)),
    }
}

pub(super) fn scale_of(obj: &Value) -> Value {
    let selector: Vec<String> = obj["spec"]["selector"]["matchLabels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": obj["metadata"]["name"],
            "namespace": obj["metadata"]["namespace"],
            "uid": obj["metadata"]["uid"],
            "resourceVersion": obj["metadata"]["resourceVersion"],
            "creationTimestamp": obj["metadata"]["creationTimestamp"],
        },
        "spec": {"replicas": obj["spec"]["replicas"].as_i64().unwrap_or(1)},
        "status": {"replicas": obj["status"]["replicas"].as_i64().unwrap_or(0), "selector": selector.join(",")},
    })
}

pub(super) fn manager(query: &Query, ua: &str) -> String {
    q(query, "fieldManager")
        .map(String::from)
        .unwrap_or_else(|| ua.to_string())
}

pub(super) fn create(
    shared: &Shared,
    t: &Target,
    mut body: Value,
    query: &Query,
) -> Result<Response, ApiError> {
    check_body(t, &mut body, None)?;
    // As the real registries do: a kind with a status subresource starts with the server's status.
    if t.res.status
        && let Some(m) = body.as_object_mut()
    {
        m.remove("status");
    }
    let mut w = shared.world();
    controllers::defaults(t.res, &mut body, &w.store);
    let fields = field_set(&body);
    record_update(t.res, &mut body, fields, &manager(query, "unknown"), "");
    if q(query, "dryRun").is_some() {
        return Ok(json_response(201, &body));
    }
    let obj = w.store.create(t.res, body)?;
    Ok(json_response(201, &obj))
}

/// Splits a write between the main resource and its status subresource, as the real server
/// does for kinds with a status subresource: each endpoint only changes its own part.
pub(super) fn scope_write(t: &Target, old: &Value, mut new: Value) -> Value {
    if !t.res.status {
        return new;
    }
    if t.sub.as_deref() == Some("status") {
        let mut out = old.clone();
        out["status"] = new.get("status").cloned().unwrap_or(Value::Null);
        if let Some(rv) = new["metadata"].get("resourceVersion") {
            out["metadata"]["resourceVersion"] = rv.clone();
        }
        out
    } else {
        match old.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                if let Some(m) = new.as_object_mut() {
                    m.remove("status");
                }
            }
        }
        new
    }
}

pub(super) fn replace(
    shared: &Shared,
    t: &Target,
    mut body: Value,
    query: &Query,
    ua: &str,
) -> Result<Response, ApiError> {
    let name = t.name.clone().unwrap_or_default();
    let mut w = shared.world();
    let old = w
        .store
        .get(t.res, &t.ns, &name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(t.res, &name))?;
    if t.sub.as_deref() == Some("scale") {
        if !t.res.scale {
            return Err(ApiError::path_not_found("scale"));
        }
        let replicas = body["spec"]["replicas"]
            .as_i64()
            .ok_or_else(|| ApiError::bad_request("spec.replicas is required"))?;
        let mut new = old.clone();
        new["spec"]["replicas"] = json!(replicas);
        let obj = w.store.update(t.res, &t.ns, &name, new)?;
        return Ok(json_response(200, &scale_of(&obj)));
    }
    check_body(t, &mut body, Some(&name))?;
    let mut new = scope_write(t, &old, body);
    new["metadata"]["managedFields"] = old["metadata"]["managedFields"].clone();
    controllers::defaults(t.res, &mut new, &w.store);
    if t.sub.is_none() {
        check_update(t.res, &old, &new, &w.store)?;
    }
    let fields = field_set(&new);
    record_update(
        t.res,
        &mut new,
        fields,
        &manager(query, ua),
        t.sub.as_deref().unwrap_or(""),
    );
    if q(query, "dryRun").is_some() {
        return Ok(json_response(200, &new));
    }
    let obj = w.store.update(t.res, &t.ns, &name, new)?;
    Ok(json_response(200, &obj))
}

pub(super) fn strip_directives(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| !k.starts_with('$'));
            m.values_mut().for_each(strip_directives);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_directives),
        _ => {}
    }
}

/// PATCH in its four media types: server-side apply, or a merge, strategic-merge or JSON patch
/// of the object (or its `scale`), recorded in managedFields like an update.
pub(super) fn patch(
    shared: &Shared,
    t: &Target,
    ct: &str,
    bytes: &Bytes,
    query: &Query,
    ua: &str,
) -> Result<Response, ApiError> {
    let name = t.name.clone().unwrap_or_default();
    let media = ct.split(';').next().unwrap_or("").trim();
    let mut w = shared.world();
    let existing = w.store.get(t.res, &t.ns, &name).cloned();

    if media == "application/apply-patch+yaml" || media == "application/apply-patch+json" {
        return apply_patch(&mut w, t, &name, existing, bytes, query);
    }

    let Some(old) = existing else {
        return Err(ApiError::not_found(t.res, &name));
    };
    let is_scale = t.sub.as_deref() == Some("scale");
    if is_scale && !t.res.scale {
        return Err(ApiError::path_not_found("scale"));
    }
    let base = if is_scale {
        scale_of(&old)
    } else {
        old.clone()
    };
    let (patched, body_fields) = patched(t, &name, media, ct, bytes, &base)?;
    if is_scale {
        let mut new = old.clone();
        new["spec"]["replicas"] = patched["spec"]["replicas"].clone();
        let obj = w.store.update(t.res, &t.ns, &name, new)?;
        return Ok(json_response(200, &scale_of(&obj)));
    }
    check_shape(t.res, &patched)?;
    if meta_str(&patched, "name") != name {
        return Err(ApiError::bad_request("a patch cannot change the name"));
    }
    let mut new = scope_write(t, &old, patched);
    controllers::defaults(t.res, &mut new, &w.store);
    if t.sub.is_none() {
        check_update(t.res, &old, &new, &w.store)?;
    }
    record_update(
        t.res,
        &mut new,
        body_fields,
        &manager(query, ua),
        t.sub.as_deref().unwrap_or(""),
    );
    // A patch carrying a resourceVersion is a precondition, like an update's.
    if q(query, "dryRun").is_some() {
        return Ok(json_response(200, &new));
    }
    let obj = w.store.update(t.res, &t.ns, &name, new)?;
    Ok(json_response(200, &obj))
}

/// Server-side apply (`application/apply-patch+yaml`): a field manager is required; the status
/// subresource merges the applied status; otherwise the object is created or updated with the
/// fields this manager owns.
pub(super) fn apply_patch(
    w: &mut World,
    t: &Target,
    name: &str,
    existing: Option<Value>,
    bytes: &Bytes,
    query: &Query,
) -> Result<Response, ApiError> {
    let Some(fm) = q(query, "fieldManager").filter(|m| !m.is_empty()) else {
        return Err(ApiError::bad_request(
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
        ));
    };
    let mut config = parse_body(bytes)?;
    check_body(t, &mut config, Some(name))?;
    if config.get("apiVersion").is_none() || config.get("kind").is_none() {
        return Err(ApiError::bad_request(
            "apiVersion and kind must be set in an apply patch",
        ));
    }
    let force = q_bool(query, "force");
    if t.sub.as_deref() == Some("status") {
        let Some(old) = existing else {
            return Err(ApiError::not_found(t.res, name));
        };
        let mut new = old.clone();
        merge_patch(&mut new["status"], &config["status"]);
        let obj = w.store.update(t.res, &t.ns, name, new)?;
        return Ok(json_response(200, &obj));
    }
    if t.res.status
        && let Some(m) = config.as_object_mut()
    {
        m.remove("status");
    }
    let mut new = server_side_apply(t.res, existing.as_ref(), &config, fm, force)?;
    controllers::defaults(t.res, &mut new, &w.store);
    if let Some(old) = existing.as_ref().filter(|_| t.sub.is_none()) {
        // The check sees the stored status (the phase), as an update does.
        check_update(t.res, old, &scope_write(t, old, new.clone()), &w.store)?;
    }
    if q(query, "dryRun").is_some() {
        return Ok(json_response(
            if existing.is_some() { 200 } else { 201 },
            &new,
        ));
    }
    match existing {
        None => Ok(json_response(201, &w.store.create(t.res, new)?)),
        Some(old) => {
            let new = scope_write(t, &old, new);
            Ok(json_response(
                200,
                &w.store.update(t.res, &t.ns, name, new)?,
            ))
        }
    }
}

/// `base` with a merge, strategic-merge or JSON patch applied, and the fields the patch sets
/// (for managedFields).
pub(super) fn patched(
    t: &Target,
    name: &str,
    media: &str,
    ct: &str,
    bytes: &Bytes,
    base: &Value,
) -> Result<(Value, BTreeSet<Vec<String>>), ApiError> {
    let mut patched = base.clone();
    let body_fields = match media {
        "application/merge-patch+json" => {
            let p = parse_body(bytes)?;
            merge_patch(&mut patched, &p);
            field_set(&p)
        }
        "application/strategic-merge-patch+json" => {
            let p = parse_body(bytes)?;
            strategic_merge_patch(&mut patched, &p);
            let mut clean = p;
            strip_directives(&mut clean);
            field_set(&clean)
        }
        "application/json-patch+json" => {
            let ops: json_patch::Patch = serde_json::from_slice(bytes)
                .map_err(|e| ApiError::bad_request(format!("the body is not a JSON patch: {e}")))?;
            json_patch::patch(&mut patched, &ops).map_err(|e| {
                ApiError::invalid(
                    t.res,
                    name,
                    &format!("the JSON patch could not be applied: {e}"),
                )
            })?;
            field_set(&patched)
                .difference(&field_set(base))
                .cloned()
                .collect()
        }
        _ => return Err(ApiError::unsupported_media(ct)),
    };
    Ok((patched, body_fields))
}

/// Deletes one object; dependents follow through garbage collection (the controllers), or are
/// orphaned when asked.
pub(super) fn delete(
    shared: &Shared,
    t: &Target,
    query: &Query,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let name = t.name.clone().unwrap_or_default();
    let opts: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let policy = q(query, "propagationPolicy")
        .map(String::from)
        .or_else(|| opts["propagationPolicy"].as_str().map(String::from))
        .or_else(|| match opts["orphanDependents"].as_bool() {
            Some(true) => Some("Orphan".into()),
            _ => None,
        })
        .unwrap_or_else(|| "Background".into());
    let mut w = shared.world();
    let obj = w
        .store
        .get(t.res, &t.ns, &name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(t.res, &name))?;
    if q(query, "dryRun").is_some() {
        return Ok(json_response(200, &obj));
    }
    if policy == "Orphan" {
        controllers::orphan_dependents(&mut w.store, meta_str(&obj, "uid"));
    }
    let deleted = delete_one(&mut w.store, t.res, &t.ns, &name)?;
    Ok(json_response(200, &deleted))
}

/// Deletes an object and what the real server deletes with it at once (a namespace's contents).
pub fn delete_one(
    store: &mut Store,
    r: &'static ResourceDef,
    ns: &str,
    name: &str,
) -> Result<Value, ApiError> {
    if r.plural == "namespaces" {
        for (rr, o) in store.all() {
            if rr.namespaced && meta_str(&o, "namespace") == name {
                let _ = store.delete(rr, name, meta_str(&o, "name"));
            }
        }
    }
    if r.plural == "services" {
        let _ = store.delete(res("", "endpoints"), ns, name);
    }
    store.delete(r, ns, name)
}

pub(super) fn delete_collection(
    shared: &Shared,
    t: &Target,
    query: &Query,
) -> Result<Response, ApiError> {
    let labels = Selector::parse(q(query, "labelSelector").unwrap_or(""))?;
    let fields = Selector::parse(q(query, "fieldSelector").unwrap_or(""))?;
    let mut w = shared.world();
    let ns = if t.res.namespaced && !t.ns.is_empty() {
        Some(t.ns.as_str())
    } else {
        None
    };
    let mut deleted = Vec::new();
    for o in w.store.list(t.res, ns) {
        if labels.matches_labels(&o["metadata"]["labels"]) && fields.matches_fields(&o) {
            let ons = meta_str(&o, "namespace").to_string();
            if let Ok(d) = delete_one(&mut w.store, t.res, &ons, meta_str(&o, "name")) {
                deleted.push(d);
            }
        }
    }
    let rv = w.store.resource_version().to_string();
    Ok(json_response(
        200,
        &json!({"kind": format!("{}List", t.res.kind), "apiVersion": t.res.api_version(), "metadata": {"resourceVersion": rv}, "items": deleted}),
    ))
}
