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

//!
//! The steps live in this folder: this file serves connections and routes (steps 1, 2 and the
//! route table), `paths.rs` parses (3), `verbs.rs` runs the verbs (4) on bodies `bodies.rs` reads
//! and checks, and `admin.rs` is the simulator's own `/_sim/faults`.

mod admin;
mod bodies;
mod immutable;
mod paths;
mod verbs;

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

use admin::admin_faults;
use bodies::body_json;
use paths::{parse_path, parse_query};
use verbs::{create, delete, delete_collection, get, list, patch, replace};

use crate::error::ApiError;
use crate::resources::{self, ResourceDef};
use crate::{Shared, openapi, streams, watch};

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

// Keeps the response type in one place for streaming handlers.
pub fn stream_body(rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>) -> Body {
    Body::from_stream(tokio_stream_from(rx))
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
