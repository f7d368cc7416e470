//! The simulator's own endpoint, `/_sim/faults`: tests inject and clear faults, restart pods and
//! set port-forward and exec rules through it.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::Request;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::bodies::body_json;
use super::json_response;
use crate::Shared;
use crate::error::ApiError;
use crate::store::res;

/// `POST /_sim/faults` with `{"inject": {"target": ..., "fault": ...}}`, `{"clear": true}`,
/// `{"clearId": N}`, `{"failNextRequests": N}`, `{"cutNextRequests": N}` (both with an optional
/// `"requestFilter": {"method": "PATCH", "pathContains": "/deployments/"}`),
/// `{"dropNextConnections": N}`,
/// `{"restartPod": {"namespace": "..", "name": ".."}}`, `{"forward": ForwardRule}`,
/// `{"exec": ExecRule}`. `DELETE /_sim/faults` clears all.
pub(super) async fn admin_faults(shared: &Arc<Shared>, req: Request) -> Response {
    if req.method() == Method::DELETE {
        shared.clear_all();
        return json_response(200, &crate::faults_json(shared));
    }
    if req.method() != Method::POST {
        return ApiError::method_not_allowed("use GET, POST or DELETE on /_sim/faults")
            .into_response();
    }
    let body = match body_json(req).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let mut answer = json!({});
    if let Some(inj) = body.get("inject") {
        let target: crate::Target =
            match serde_json::from_value(inj.get("target").cloned().unwrap_or(json!({}))) {
                Ok(t) => t,
                Err(e) => return ApiError::bad_request(format!("target: {e}")).into_response(),
            };
        let fault: crate::Fault =
            match serde_json::from_value(inj.get("fault").cloned().unwrap_or(Value::Null)) {
                Ok(f) => f,
                Err(e) => return ApiError::bad_request(format!("fault: {e}")).into_response(),
            };
        let mut w = shared.world();
        let id = w.next_fault;
        w.next_fault += 1;
        w.faults.push((id, target, fault));
        answer["id"] = json!(id);
    }
    if body.get("clear").and_then(Value::as_bool) == Some(true) {
        shared.clear_all();
    }
    if let Some(id) = body.get("clearId").and_then(Value::as_u64) {
        shared.world().faults.retain(|(i, _, _)| *i != id);
    }
    let filter = body.get("requestFilter").cloned().unwrap_or(json!({}));
    let filter = match serde_json::from_value::<crate::RequestFilter>(filter) {
        Ok(f) => f,
        Err(e) => return ApiError::bad_request(format!("requestFilter: {e}")).into_response(),
    };
    if let Some(n) = body.get("failNextRequests").and_then(Value::as_u64) {
        let mut r = shared.requests();
        r.fail = n as u32;
        r.fail_filter = filter.clone();
    }
    if let Some(n) = body.get("cutNextRequests").and_then(Value::as_u64) {
        let mut r = shared.requests();
        r.cut = n as u32;
        r.cut_filter = filter;
    }
    if let Some(n) = body.get("dropNextConnections").and_then(Value::as_u64) {
        shared.drop_next.store(n as u32, Ordering::SeqCst);
    }
    if let Some(p) = body.get("restartPod") {
        let ns = p["namespace"].as_str().unwrap_or("default");
        let name = p["name"].as_str().unwrap_or_default();
        answer["restarted"] = json!(
            shared
                .world()
                .store
                .delete(res("", "pods"), ns, name)
                .is_ok()
        );
    }
    if let Some(f) = body.get("forward") {
        match serde_json::from_value(f.clone()) {
            Ok(rule) => shared.world().forwards.push(rule),
            Err(e) => return ApiError::bad_request(format!("forward: {e}")).into_response(),
        }
    }
    if let Some(f) = body.get("exec") {
        match serde_json::from_value(f.clone()) {
            Ok(rule) => shared.world().execs.push(rule),
            Err(e) => return ApiError::bad_request(format!("exec: {e}")).into_response(),
        }
    }
    let mut state = crate::faults_json(shared);
    if let Some(m) = answer.as_object() {
        for (k, v) in m {
            state[k] = v.clone();
        }
    }
    json_response(200, &state)
}
