//! Faults a test can switch on, and the rules that route port-forwards and execs to local stand-ins.
//!
//! Each fault reproduces what a real cluster shows for that failure, through the same API fields
//! a diagnosis reads: container states and reasons, restart counts, `lastState`, pod conditions,
//! PVC phase, events and logs. The same JSON shapes are accepted by the standalone binary's
//! `POST /_sim/faults` endpoint.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::select::Selector;
use crate::store::meta_str;

/// Which objects a fault or rule applies to: all conditions given must hold.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Target {
    /// Only objects in this namespace.
    pub namespace: Option<String>,
    /// A label selector (`app=api,tier!=x`).
    pub labels: Option<String>,
    /// Objects whose name starts with this.
    pub name_prefix: Option<String>,
    /// Only this container (faults on containers); all containers when unset.
    pub container: Option<String>,
}

impl Target {
    pub fn labels(selector: &str) -> Self {
        Target {
            labels: Some(selector.to_string()),
            ..Default::default()
        }
    }

    pub fn name_prefix(prefix: &str) -> Self {
        Target {
            name_prefix: Some(prefix.to_string()),
            ..Default::default()
        }
    }

    pub fn in_namespace(mut self, ns: &str) -> Self {
        self.namespace = Some(ns.to_string());
        self
    }

    pub fn container(mut self, name: &str) -> Self {
        self.container = Some(name.to_string());
        self
    }

    pub fn matches(&self, obj: &Value) -> bool {
        if let Some(ns) = &self.namespace
            && meta_str(obj, "namespace") != ns
        {
            return false;
        }
        if let Some(p) = &self.name_prefix
            && !meta_str(obj, "name").starts_with(p.as_str())
        {
            return false;
        }
        if let Some(l) = &self.labels {
            match Selector::parse(l) {
                Ok(s) => {
                    if !s.matches_labels(&obj["metadata"]["labels"]) {
                        return false;
                    }
                }
                Err(_) => return false,
            }
        }
        true
    }

    pub fn matches_container(&self, name: &str) -> bool {
        self.container.as_deref().is_none_or(|c| c == name)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Fault {
    /// The container exits with `exit_code` after printing `logs`, again and again:
    /// `waiting: CrashLoopBackOff`, a growing `restartCount`, `lastState.terminated`.
    #[serde(rename_all = "camelCase")]
    CrashLoop { exit_code: i32, logs: Vec<String> },
    /// The image cannot be pulled: `ErrImagePull`, then `ImagePullBackOff`, with `Failed` events.
    #[serde(rename_all = "camelCase")]
    ImagePull { message: Option<String> },
    /// The container is killed for memory: `lastState.terminated.reason: OOMKilled`, exit 137.
    OomKilled,
    /// The pod cannot be placed: Pending, `PodScheduled=False/Unschedulable`, `FailedScheduling`.
    #[serde(rename_all = "camelCase")]
    Unschedulable { message: Option<String> },
    /// The PersistentVolumeClaims the target selects stay Pending (target matches PVCs).
    PvcPending,
    /// The container runs but never becomes ready (a failing readiness probe, e.g. the API
    /// waiting on Vespa): `Unhealthy` events, `Ready=False`.
    #[serde(rename_all = "camelCase")]
    NotReady { message: Option<String> },
}

impl Fault {
    pub fn crash_loop(exit_code: i32, logs: &[&str]) -> Self {
        Fault::CrashLoop {
            exit_code,
            logs: logs.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// A readiness delay of their own for the pods a target selects, standing in for a slow start
/// (Vespa's first boot, the API's migrations) where the simulator's one `ready_delay` would make
/// every pod equally quick. The clock starts when the pod is scheduled and, with `after`, only once
/// every selector there has a Ready pod in the pod's namespace: as the API server's init container
/// `wait-for-dependencies` (embedded/manifests/30-api-server.yaml) holds its pod until its
/// dependencies answer. Once the clock has started, a dependency going away does not stop it
/// again (init containers run once per pod).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReadyDelay {
    pub target: Target,
    /// Milliseconds from the start of the clock to Ready (Running after half, as `ready_delay`).
    pub ms: u64,
    /// Label selectors that must each have a Ready pod before the clock starts.
    #[serde(default)]
    pub after: Vec<String>,
}

/// Port-forwards to `container_port` of matching pods reach `local`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForwardRule {
    pub target: Target,
    pub container_port: u16,
    pub local: SocketAddr,
}

/// Execs into matching pods run a local process.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecRule {
    pub target: Target,
    /// Run this instead of the requested command; `None` runs the requested command.
    pub command: Option<Vec<String>>,
    /// Variables added to the process's environment (the container's, in a real pod).
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
}

/// Which API requests an HTTP fault applies to: all conditions given must hold.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct RequestFilter {
    /// HTTP method, e.g. `PATCH` (any when unset).
    pub method: Option<String>,
    /// A substring of the request path, e.g. `/deployments/` (any when unset).
    pub path_contains: Option<String>,
}

impl RequestFilter {
    pub fn method(m: &str) -> Self {
        RequestFilter {
            method: Some(m.to_string()),
            path_contains: None,
        }
    }

    pub fn matches(&self, method: &str, path: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self
                .path_contains
                .as_deref()
                .is_none_or(|p| path.contains(p))
    }
}

/// Pending HTTP-level faults.
#[derive(Debug, Clone, Default)]
pub(crate) struct RequestFaults {
    /// Answer this many matching requests with `500 InternalError` (not processed).
    pub fail: u32,
    pub fail_filter: RequestFilter,
    /// Process this many matching requests, then cut the connection instead of answering.
    pub cut: u32,
    pub cut_filter: RequestFilter,
}
