//! HTTP front: connection handling, request routing and the REST verbs.
//!
//! Steps for one request:
//! 1. the accept loop may drop the connection (fault) or serve it with hyper (HTTP/1.1 with
//!    upgrades for WebSocket, HTTP/2);
//! 2. a pending HTTP fault answers 500 (unprocessed) or cuts the connection after processing;
//! 3. the path is parsed into (resource, namespace, name, subresource) the way the real server
//!    does: `/api/v1/...` for the core group, `/apis/<group>/<version>/...` for the others;
//! 4. the verb runs against the store under the one lock and answers JSON (objects, lists,
//!    `Status` errors), or hands over to watch, logs, port-forward or exec.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::apply::{
    field_set, merge_patch, record_update, server_side_apply, strategic_merge_patch,
};
use crate::error::ApiError;
use crate::resources::{self, ResourceDef};
use crate::select::Selector;
use crate::store::{Store, meta_str, namespaces, res};
use crate::{Shared, World, controllers, openapi, streams, watch};

const MAX_BODY: usize = 64 * 1024 * 1024;

pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(shared.clone());
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        if shared
            .drop_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            drop(stream);
            continue;
        }
        let svc = TowerToHyperService::new(app.clone());
        let stopped = shared.stopped();
        let tls = shared.tls.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            match tls {
                None => serve_connection(stream, svc, stopped).await,
                Some(config) => {
                    if let Ok(stream) = tokio_rustls::TlsAcceptor::from(config).accept(stream).await
                    {
                        serve_connection(stream, svc, stopped).await;
                    }
                }
            }
        });
    }
}

/// One client connection (plain or TLS), HTTP/1 or 2 with upgrades. A stopped simulator closes
/// kept-alive connections too, so a client sees it gone.
async fn serve_connection<S>(
    stream: S,
    svc: TowerToHyperService<axum::Router>,
    stopped: impl std::future::Future<Output = ()>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let builder = auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
    tokio::select! {
        _ = conn => {}
        _ = stopped => {}
    }
}

pub fn json_response(code: u16, v: &Value) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(self.code, &self.status())
    }
}

type Query = Vec<(String, String)>;

pub fn q<'a>(query: &'a [(String, String)], key: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn q_bool(query: &[(String, String)], key: &str) -> bool {
    matches!(q(query, key), Some("1" | "true" | "True"))
}

/// A parsed resource path.
pub struct Target {
    pub res: &'static ResourceDef,
    pub ns: String,
    pub name: Option<String>,
    pub sub: Option<String>,
}

async fn handle(
    axum::extract::State(shared): axum::extract::State<Arc<Shared>>,
    req: Request,
) -> Response {
    let path = req.uri().path().to_string();
    let method_name = req.method().as_str().to_string();
    let admin = path.starts_with("/_sim/");
    let (fail, cut) = {
        let mut r = shared.requests();
        let fail = !admin && r.fail > 0 && r.fail_filter.matches(&method_name, &path);
        if fail {
            r.fail -= 1;
        }
        let cut = !admin && !fail && r.cut > 0 && r.cut_filter.matches(&method_name, &path);
        if cut {
            r.cut -= 1;
        }
        (fail, cut)
    };
    if fail {
        return ApiError::internal("injected fault: the server failed this request")
            .into_response();
    }
    // A simulator bug must not look like a network failure to the client under test.
    let response = match std::panic::AssertUnwindSafe(route(shared, req, path))
        .catch_unwind()
        .await
    {
        Ok(r) => r,
        Err(_) => {
            return ApiError::internal("k8s-sim bug: the request handler panicked").into_response();
        }
    };
    if cut {
        // The work is done; the answer is lost: a body that fails makes hyper drop the connection.
        let broken = futures_util::stream::once(async {
            Err::<Bytes, _>(std::io::Error::other("injected fault: connection cut"))
        });
        return Response::builder()
            .status(200)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from_stream(broken))
            .unwrap_or(response);
    }
    response
}

/// One request: refuse bodies in encodings the simulator does not read, answer the
/// non-resource paths, then a resource path's verb.
async fn route(shared: Arc<Shared>, req: Request, path: String) -> Response {
    let query: Query = req.uri().query().map(parse_query).unwrap_or_default();
    let segs: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    if let Some(refused) = refuse_binary_body(&req) {
        return refused;
    }
    if let Some(answer) = non_resource(&shared, req.method(), &segs, &path) {
        return answer;
    }
    if segs == ["_sim", "faults"] {
        return admin_faults(&shared, req).await;
    }
    let target = match parse_path(&segs) {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    resource(shared, req, &path, target, &query).await
}

/// Only JSON (and YAML for apply) bodies are understood; binary encodings (kubectl's typed
/// `create` commands send protobuf) get a clear 415 rather than a parse error.
fn refuse_binary_body(req: &Request) -> Option<Response> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let has_body = matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH);
    (has_body && (ct.contains("protobuf") || ct.contains("cbor")))
        .then(|| ApiError::unsupported_media(ct).into_response())
}

/// Non-resource paths: version, health, discovery, OpenAPI, the simulator's fault list.
fn non_resource(shared: &Shared, method: &Method, segs: &[&str], path: &str) -> Option<Response> {
    let answer = match (method.clone(), segs) {
        (Method::GET, ["version"]) => json_response(200, &version()),
        (Method::GET, ["healthz" | "livez" | "readyz"]) => (StatusCode::OK, "ok").into_response(),
        (Method::GET, ["api"]) => {
            json_response(200, &resources::core_versions(&shared.addr.to_string()))
        }
        (Method::GET, ["apis"]) => json_response(200, &resources::group_list()),
        (Method::GET, ["api", "v1"]) => {
            json_response(200, &resources::resource_list("", "v1").expect("core"))
        }
        (Method::GET, ["apis", g]) if resources::groups().contains(g) => {
            json_response(200, &resources::group_doc(g))
        }
        (Method::GET, ["apis", g, v]) => match resources::resource_list(g, v) {
            Some(l) => json_response(200, &l),
            None => ApiError::path_not_found(path).into_response(),
        },
        (Method::GET, ["openapi", "v3"]) => json_response(200, &openapi::root()),
        (Method::GET, ["openapi", "v3", rest @ ..]) => {
            match openapi::group_version(&rest.join("/")) {
                Some(doc) => json_response(200, &doc),
                None => ApiError::path_not_found(path).into_response(),
            }
        }
        (Method::GET, ["_sim", "faults"]) => json_response(200, &crate::faults_json(shared)),
        _ => return None,
    };
    Some(answer)
}

/// A resource path: one arm per verb, and per subresource that is served apart (logs,
/// port-forward, exec); the rest reach the verbs with `target.sub` set.
async fn resource(
    shared: Arc<Shared>,
    req: Request,
    path: &str,
    target: Target,
    query: &Query,
) -> Response {
    let method = req.method().clone();
    match (method, target.name.is_some(), target.sub.as_deref()) {
        (Method::GET, false, _) if q_bool(query, "watch") => {
            let table = req
                .headers()
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|a| a.contains("as=Table"));
            watch::serve(shared, target, query, table)
        }
        (Method::GET, false, _) => {
            list(&shared, &target, query, req.headers()).unwrap_or_else(IntoResponse::into_response)
        }
        (Method::POST, false, _) => {
            let body = match body_json(req).await {
                Ok(b) => b,
                Err(e) => return e.into_response(),
            };
            create(&shared, &target, body, query).unwrap_or_else(IntoResponse::into_response)
        }
        (Method::DELETE, false, _) => {
            delete_collection(&shared, &target, query).unwrap_or_else(IntoResponse::into_response)
        }
        (Method::GET, true, Some("log")) if target.res.plural == "pods" => {
            streams::logs(shared, target, query)
        }
        (_, true, Some("portforward")) if target.res.plural == "pods" => {
            streams::portforward(shared, target, query, req).await
        }
        (_, true, Some("exec")) if target.res.plural == "pods" => {
            streams::exec(shared, target, query, req).await
        }
        (Method::GET, true, _) => {
            get(&shared, &target, req.headers()).unwrap_or_else(IntoResponse::into_response)
        }
        (Method::PUT, true, _) => {
            let ua = user_agent(req.headers());
            let body = match body_json(req).await {
                Ok(b) => b,
                Err(e) => return e.into_response(),
            };
            replace(&shared, &target, body, query, &ua).unwrap_or_else(IntoResponse::into_response)
        }
        (Method::PATCH, true, _) => {
            let ua = user_agent(req.headers());
            let ct = req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let bytes = match axum::body::to_bytes(req.into_body(), MAX_BODY).await {
                Ok(b) => b,
                Err(e) => {
                    return ApiError::bad_request(format!("reading the body: {e}")).into_response();
                }
            };
            patch(&shared, &target, &ct, &bytes, query, &ua)
                .unwrap_or_else(IntoResponse::into_response)
        }
        (Method::DELETE, true, None) => {
            let body = axum::body::to_bytes(req.into_body(), MAX_BODY)
                .await
                .unwrap_or_default();
            delete(&shared, &target, query, &body).unwrap_or_else(IntoResponse::into_response)
        }
        (m, _, _) => ApiError::method_not_allowed(&format!("{m} {path}")).into_response(),
    }
}

fn parse_query(s: &str) -> Query {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(
                    std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                    16,
                ) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_path(segs: &[&str]) -> Result<Target, ApiError> {
    let not_found = || ApiError::path_not_found(&format!("/{}", segs.join("/")));
    let (group, version, rest) = match segs {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(not_found()),
    };
    let find = |plural: &str| resources::find(group, version, plural).ok_or_else(not_found);
    let t = |res, ns: &str, name: Option<&str>, sub: Option<&str>| Target {
        res,
        ns: ns.to_string(),
        name: name.map(String::from),
        sub: sub.map(String::from),
    };
    match rest {
        // /api/v1/namespaces/{name}[/status|finalize] is the Namespace itself.
        ["namespaces"] if group.is_empty() => Ok(t(namespaces(), "", None, None)),
        ["namespaces", name] if group.is_empty() => Ok(t(namespaces(), "", Some(name), None)),
        ["namespaces", name, sub @ ("status" | "finalize")] if group.is_empty() => {
            Ok(t(namespaces(), "", Some(name), Some(sub)))
        }
        ["namespaces", ns, plural, tail @ ..] => {
            let r = find(plural)?;
            if !r.namespaced {
                return Err(not_found());
            }
            match tail {
                [] => Ok(t(r, ns, None, None)),
                [name] => Ok(t(r, ns, Some(name), None)),
                [name, sub] => Ok(t(r, ns, Some(name), Some(sub))),
                _ => Err(not_found()),
            }
        }
        [plural, tail @ ..] => {
            let r = find(plural)?;
            match tail {
                [] => Ok(t(r, "", None, None)),
                [name] if !r.namespaced => Ok(t(r, "", Some(name), None)),
                [name, sub] if !r.namespaced => Ok(t(r, "", Some(name), Some(sub))),
                _ => Err(not_found()),
            }
        }
        _ => Err(not_found()),
    }
}

fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": "v1.33.0-sim",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

fn user_agent(h: &HeaderMap) -> String {
    let ua = h
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown");
    ua.split('/').next().unwrap_or("unknown").to_string()
}

async fn body_json(req: Request) -> Result<Value, ApiError> {
    let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY)
        .await
        .map_err(|e| ApiError::bad_request(format!("reading the body: {e}")))?;
    parse_body(&bytes)
}

/// JSON, or YAML (kubectl and kube-rs send JSON; people with curl send either).
fn parse_body(bytes: &Bytes) -> Result<Value, ApiError> {
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
fn check_shape(r: &ResourceDef, body: &Value) -> Result<(), ApiError> {
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

fn check_body(t: &Target, body: &mut Value, name: Option<&str>) -> Result<(), ApiError> {
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

fn list(
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

fn get(shared: &Shared, t: &Target, headers: &HeaderMap) -> Result<Response, ApiError> {
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

fn scale_of(obj: &Value) -> Value {
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

fn manager(query: &Query, ua: &str) -> String {
    q(query, "fieldManager")
        .map(String::from)
        .unwrap_or_else(|| ua.to_string())
}

fn create(
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
fn scope_write(t: &Target, old: &Value, mut new: Value) -> Value {
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

fn replace(
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

fn strip_directives(v: &mut Value) {
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
fn patch(
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
fn apply_patch(
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
fn patched(
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
fn delete(shared: &Shared, t: &Target, query: &Query, body: &Bytes) -> Result<Response, ApiError> {
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

fn delete_collection(shared: &Shared, t: &Target, query: &Query) -> Result<Response, ApiError> {
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

/// `POST /_sim/faults` with `{"inject": {"target": ..., "fault": ...}}`, `{"clear": true}`,
/// `{"clearId": N}`, `{"failNextRequests": N}`, `{"cutNextRequests": N}` (both with an optional
/// `"requestFilter": {"method": "PATCH", "pathContains": "/deployments/"}`),
/// `{"dropNextConnections": N}`,
/// `{"restartPod": {"namespace": "..", "name": ".."}}`, `{"forward": ForwardRule}`,
/// `{"exec": ExecRule}`. `DELETE /_sim/faults` clears all.
async fn admin_faults(shared: &Arc<Shared>, req: Request) -> Response {
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

// Keeps the response type in one place for streaming handlers.
pub fn stream_body(rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>) -> Body {
    Body::from_stream(tokio_stream_from(rx))
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let t = parse_path(&[
            "apis",
            "apps",
            "v1",
            "namespaces",
            "x",
            "deployments",
            "d",
            "status",
        ])
        .unwrap();
        assert_eq!(
            (
                t.res.kind,
                t.ns.as_str(),
                t.name.as_deref(),
                t.sub.as_deref()
            ),
            ("Deployment", "x", Some("d"), Some("status"))
        );
        let t = parse_path(&["api", "v1", "namespaces", "x"]).unwrap();
        assert_eq!((t.res.kind, t.name.as_deref()), ("Namespace", Some("x")));
        let t = parse_path(&["api", "v1", "pods"]).unwrap();
        assert_eq!((t.res.kind, t.ns.as_str()), ("Pod", ""));
        assert!(parse_path(&["api", "v1", "nothings"]).is_err());
        assert!(parse_path(&["api", "v1", "namespaces", "x", "nodes"]).is_err());
        assert_eq!(decode("a%2Cb+c"), "a,b c");
        assert_eq!(decode("100%"), "100%");
    }
}
