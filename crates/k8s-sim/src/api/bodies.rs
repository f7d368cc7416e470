//! Request bodies: read as JSON or YAML, and checked against the URL and the shapes the
//! controllers rely on, as the real server validates them.

use axum::body::Bytes;
use axum::extract::Request;
use serde_json::{Value, json};

use super::{MAX_BODY, Target};
use crate::error::ApiError;
use crate::resources::ResourceDef;

pub(super) async fn body_json(req: Request) -> Result<Value, ApiError> {
    let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY)
        .await
        .map_err(|e| ApiError::bad_request(format!("reading the body: {e}")))?;
    parse_body(&bytes)
}

/// JSON, or YAML (kubectl and kube-rs send JSON; people with curl send either).
pub(super) fn parse_body(bytes: &Bytes) -> Result<Value, ApiError> {
    let v: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(json_err) => {
            let text = std::str::from_utf8(bytes)
                .map_err(|_| ApiError::bad_request("the body is not UTF-8"))?;
            serde_saphyr::from_str(text).map_err(|e| {
                ApiError::bad_request(format!(
                    "the body is neither JSON ({json_err}) nor YAML ({e})"
                ))
            })?
        }
    };
    if !v.is_object() {
        return Err(ApiError::bad_request("the body must be an object"));
    }
    Ok(v)
}

/// The body names the same kind, namespace and name as the URL, as the real server requires.
/// The shapes the simulator's controllers rely on; the real server's schema validation rejects
/// these too (422).
pub(super) fn check_shape(r: &ResourceDef, body: &Value) -> Result<(), ApiError> {
    let name = body["metadata"]["name"].as_str().unwrap_or("");
    let bad = |what: &str| Err(ApiError::invalid(r, name, what));
    if !body["metadata"].is_object() && !body["metadata"].is_null() {
        return bad("metadata: Invalid value: must be an object");
    }
    for key in ["labels", "annotations"] {
        let v = &body["metadata"][key];
        if !v.is_null()
            && !v
                .as_object()
                .is_some_and(|m| m.values().all(Value::is_string))
        {
            return bad(&format!(
                "metadata.{key}: Invalid value: must be a map of strings"
            ));
        }
    }
    for key in ["spec", "status", "data"] {
        let v = &body[key];
        if !v.is_null() && !v.is_object() {
            return bad(&format!("{key}: Invalid value: must be an object"));
        }
    }
    let pod_specs = [&body["spec"], &body["spec"]["template"]["spec"]];
    if !body["spec"]["template"].is_null() && !body["spec"]["template"].is_object() {
        return bad("spec.template: Invalid value: must be an object");
    }
    for (i, spec) in pod_specs.iter().enumerate() {
        if i == 0 && r.kind != "Pod" {
            continue;
        }
        if !spec.is_null() && !spec.is_object() {
            return bad("spec.template.spec: Invalid value: must be an object");
        }
        for key in ["containers", "initContainers", "volumes"] {
            let list = &spec[key];
            let ok = list.is_null()
                || list
                    .as_array()
                    .is_some_and(|a| a.iter().all(|c| c.is_object() && c["name"].is_string()));
            if !ok {
                return bad(&format!(
                    "{key}: Invalid value: must be a list of objects with a name"
                ));
            }
        }
    }
    if r.kind == "StatefulSet" {
        let claims = &body["spec"]["volumeClaimTemplates"];
        let ok = claims.is_null()
            || claims
                .as_array()
                .is_some_and(|a| a.iter().all(|c| c["metadata"]["name"].is_string()));
        if !ok {
            return bad("spec.volumeClaimTemplates: Invalid value: each needs metadata.name");
        }
    }
    Ok(())
}

pub(super) fn check_body(t: &Target, body: &mut Value, name: Option<&str>) -> Result<(), ApiError> {
    let r = t.res;
    check_shape(r, body)?;
    if let Some(av) = body.get("apiVersion").and_then(Value::as_str)
        && av != r.api_version()
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({av}) does not match the expected API version ({})",
            r.api_version()
        )));
    }
    if let Some(k) = body.get("kind").and_then(Value::as_str)
        && k != r.kind
    {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({k}) does not match the expected kind ({})",
            r.kind
        )));
    }
    let meta = crate::store::ensure_object(body, "metadata");
    if r.namespaced {
        match meta.get("namespace").and_then(Value::as_str) {
            Some(ns) if ns != t.ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            _ => {
                meta.insert("namespace".into(), json!(t.ns));
            }
        }
    }
    if let Some(name) = name {
        match meta.get("name").and_then(Value::as_str) {
            Some(n) if n != name => {
                return Err(ApiError::bad_request(
                    "the name of the object does not match the name on the URL",
                ));
            }
            _ => {
                meta.insert("name".into(), json!(name));
            }
        }
    }
    Ok(())
}
