//! `?watch=1`: a chunked stream of `{"type": ..., "object": ...}` lines.
//!
//! Semantics kube-runtime's watcher and kubectl's `rollout status` rely on:
//! - `resourceVersion=N`: every change after N, in order, then live changes; N older than the
//!   retained log gives an `ERROR` event with a `410 Expired` Status (clients re-list);
//! - no `resourceVersion` (or `0`): synthetic `ADDED` events for the current state first;
//! - `sendInitialEvents=true`: the same, closed by a `BOOKMARK` annotated
//!   `k8s.io/initial-events-end` (streaming lists);
//! - label and field selectors filter; an object that stops matching is sent as `DELETED`, one that
//!   starts matching as `ADDED`, as the real server does;
//! - `timeoutSeconds` ends the stream; so does the client going away.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use crate::Shared;
use crate::api::{Target, q, stream_body};
use crate::error::ApiError;
use crate::select::Selector;
use crate::store::{Change, EventType, meta_str};

struct Filter {
    res: &'static crate::resources::ResourceDef,
    ns: Option<String>,
    labels: Selector,
    fields: Selector,
    /// `kubectl get -w` asks for Table rows instead of objects.
    table: bool,
}

impl Filter {
    fn matches(&self, obj: &Value) -> bool {
        self.ns
            .as_deref()
            .is_none_or(|ns| meta_str(obj, "namespace") == ns)
            && self.labels.matches_labels(&obj["metadata"]["labels"])
            && self.fields.matches_fields(obj)
    }

    fn wrap(&self, obj: &Value) -> Value {
        if self.table {
            let rv = meta_str(obj, "resourceVersion").to_string();
            crate::openapi::table(self.res, std::slice::from_ref(obj), &rv)
        } else {
            obj.clone()
        }
    }

    /// The event a filtered watch delivers for a change, if any.
    fn event(&self, c: &Change) -> Option<Value> {
        if c.res != self.res {
            return None;
        }
        let now = self.matches(&c.object);
        let before = c.old.as_ref().map(|o| self.matches(o));
        let kind = match (c.kind, before, now) {
            (EventType::Modified, Some(false), true) => EventType::Added,
            (EventType::Modified, Some(true), false) => EventType::Deleted,
            (_, _, false) => return None,
            (k, _, true) => k,
        };
        Some(json!({"type": kind.as_str(), "object": self.wrap(&c.object)}))
    }
}

fn line(v: &Value) -> Bytes {
    let mut s = v.to_string();
    s.push('\n');
    Bytes::from(s)
}

pub fn serve(shared: Arc<Shared>, t: Target, query: &[(String, String)], table: bool) -> Response {
    let labels = match Selector::parse(q(query, "labelSelector").unwrap_or("")) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let fields = match Selector::parse(q(query, "fieldSelector").unwrap_or("")) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let filter = Filter {
        res: t.res,
        ns: if t.res.namespaced && !t.ns.is_empty() {
            Some(t.ns.clone())
        } else {
            None
        },
        labels,
        fields,
        table,
    };
    let rv_param = q(query, "resourceVersion").unwrap_or("").to_string();
    let initial = q(query, "sendInitialEvents") == Some("true");
    let bookmarks = q(query, "allowWatchBookmarks") == Some("true");
    let timeout = q(query, "timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(1800);

    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(1024);
    // Snapshot (or replay) and subscribe under the lock, so nothing falls between the two.
    let (mut sub, first, start_rv) = {
        let w = shared.world();
        let sub = w.store.subscribe();
        let mut first = Vec::new();
        let current = w.store.resource_version();
        if rv_param.is_empty() || rv_param == "0" || initial {
            let ns = filter.ns.as_deref();
            for o in w.store.list(t.res, ns) {
                if filter.matches(&o) {
                    first.push(json!({"type": "ADDED", "object": filter.wrap(&o)}));
                }
            }
            if initial && bookmarks {
                first.push(json!({"type": "BOOKMARK", "object": {
                    "kind": t.res.kind, "apiVersion": t.res.api_version(),
                    "metadata": {"resourceVersion": current.to_string(), "annotations": {"k8s.io/initial-events-end": "true"}}
                }}));
            }
        } else {
            let Ok(rv) = rv_param.parse::<u64>() else {
                return ApiError::bad_request(format!("invalid resourceVersion {rv_param:?}"))
                    .into_response();
            };
            match w.store.changes_since(rv) {
                Some(changes) => first.extend(changes.iter().filter_map(|c| filter.event(c))),
                None => first.push(json!({"type": "ERROR", "object": ApiError::gone(format!("too old resource version: {rv} ({current})")).status()})),
            }
        }
        (sub, first, current)
    };
    let stopped = shared.stopped();
    tokio::spawn(async move {
        tokio::pin!(stopped);
        for ev in &first {
            if tx.send(Ok(line(ev))).await.is_err() {
                return;
            }
            if ev["type"] == "ERROR" {
                return;
            }
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
        loop {
            tokio::select! {
                r = sub.recv() => match r {
                    Ok(c) => {
                        if c.rv <= start_rv {
                            continue;
                        }
                        if let Some(ev) = filter.event(&c)
                            && tx.send(Ok(line(&ev))).await.is_err()
                        {
                            return;
                        }
                    }
                    Err(RecvError::Lagged(_)) => {
                        let _ = tx.send(Ok(line(&json!({"type": "ERROR", "object": ApiError::gone("watch fell behind; re-list").status()})))).await;
                        return;
                    }
                    Err(RecvError::Closed) => return,
                },
                _ = tokio::time::sleep_until(deadline) => return,
                _ = &mut stopped => return,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {
                    if tx.is_closed() {
                        return;
                    }
                }
            }
        }
    });
    Response::builder()
        .status(200)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(stream_body(rx))
        .unwrap_or_else(|_| ApiError::internal("building the watch response").into_response())
}
