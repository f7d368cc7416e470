//! What the real images do at start with the pod spec they are given, for the images the onyx
//! stack runs: a container whose spec breaks one of its image's own start rules crash-loops with
//! that image's own message, as on a real cluster, so a client's diagnosis can be tested against
//! the failure the user would see. Each rule cites the source it follows.
//!
//! Rules (each checked on the container spec as the kubelet would start it, `$(VAR)` expanded):
//!
//! 1. Vespa (`vespaengine/vespa*`): the entrypoint's `verify-container-env` exits when
//!    min(cgroup memory limit, MemAvailable) < 3 GiB, unless VESPA_IGNORE_NOT_ENOUGH_MEMORY is set
//!    (vespa v8.526.15 `client/go/internal/admin/vespa-wrapper/services/container.go`, called by
//!    vespa-engine/docker-image `include/start-container.sh`). The simulated node's MemAvailable is
//!    plenty, so the limit decides; no limit passes.
//! 2. Vespa's config server exits when its own name (VESPA_HOSTNAME, else `hostname -f`: for a pod
//!    with a subdomain `<hostname>.<subdomain>.<namespace>.svc.<cluster domain>`) is not in
//!    VESPA_CONFIGSERVERS (v8.526.15 `client/go/internal/vespa/detect_hostname.go`,
//!    `vespa-wrapper/configserver/check.go`; the docker-image entrypoint sets VESPA_CONFIGSERVERS
//!    to `hostname` when unset).
//! 3. Onyx's API server (`onyxdotapp/onyx-backend` running `uvicorn onyx.main:app`): its start-up
//!    holds 20 sync connections at once (Onyx v2.3.0 `backend/onyx/db/engine/
//!    connection_warmup.py`); a pool of POSTGRES_API_SERVER_POOL_SIZE (default 40) +
//!    POSTGRES_API_SERVER_POOL_OVERFLOW (default 10, `backend/onyx/configs/app_configs.py`) below
//!    20 times out after SQLAlchemy 2.0's 30 s and uvicorn exits.
//! 4. Every Onyx process (`onyxdotapp/onyx-backend`, `onyxdotapp/onyx-model-server`, whatever it
//!    runs) imports `shared_configs/configs.py`, which int()s MODEL_SERVER_PORT and
//!    INDEXING_MODEL_SERVER_PORT at import (`int(os.environ.get(X) or default)`: empty means the
//!    default); the backend also imports `onyx/configs/app_configs.py` (REDIS_PORT
//!    `int(os.environ.get("REDIS_PORT", 6379))`, SMTP_PORT `int(... or "587")`), Onyx v2.3.0. A
//!    value that is not an integer — a service link's `tcp://IP:PORT`, see
//!    [`crate::service_links`] — raises ValueError and the process exits 1.

use serde_json::Value;

use crate::faults::Fault;

/// Vespa v8.526.15 container.go `minRequiredMemoryInBytes`.
pub const VESPA_MIN_MEMORY_BYTES: u64 = 3 * 1024 * 1024 * 1024;
/// connection_warmup.py `sync_connections_to_warm_up`.
pub const ONYX_WARM_UP_CONNECTIONS: u64 = 20;

/// Onyx v2.3.0 `backend/shared_configs/configs.py`: int()ed at import by every Onyx process,
/// each with whether an empty value falls back to the default (`or`) rather than failing.
pub const ONYX_SHARED_INT_VARS: &[(&str, bool)] = &[
    ("MODEL_SERVER_PORT", true),
    ("INDEXING_MODEL_SERVER_PORT", true),
];
/// Onyx v2.3.0 `backend/onyx/configs/app_configs.py`: int()ed at import by the backend.
pub const ONYX_BACKEND_INT_VARS: &[(&str, bool)] = &[("REDIS_PORT", false), ("SMTP_PORT", true)];

/// The crash a container's own image would have with this pod spec, if any. `links`: the
/// service-link variables the kubelet adds to its environment ([`crate::service_links`]).
pub fn start_failure(
    pod: &Value,
    container: &Value,
    cluster_domain: &str,
    links: &[(String, String)],
) -> Option<Fault> {
    let image = container["image"].as_str().unwrap_or("");
    let env = Env::of(pod, container, links);
    let repo = image.split(':').next().unwrap_or("");
    if repo == "vespaengine/vespa" || repo.starts_with("vespaengine/vespa-") {
        return vespa(pod, container, &env, cluster_domain);
    }
    if repo == "onyxdotapp/onyx-backend" || repo == "onyxdotapp/onyx-model-server" {
        let backend = repo == "onyxdotapp/onyx-backend";
        if let Some(f) = onyx_import(&env, backend) {
            return Some(f);
        }
    }
    if repo == "onyxdotapp/onyx-backend" && runs(container, "onyx.main:app") {
        return onyx_api(&env);
    }
    None
}

/// Rule 4: a variable Onyx int()s at import that is not an integer.
fn onyx_import(env: &Env, backend: bool) -> Option<Fault> {
    let vars = ONYX_SHARED_INT_VARS.iter().chain(
        backend
            .then_some(ONYX_BACKEND_INT_VARS)
            .into_iter()
            .flatten(),
    );
    for (name, empty_is_default) in vars {
        let Some(v) = env.get(name) else { continue };
        if v.is_empty() && *empty_is_default {
            continue;
        }
        if v.trim().parse::<i64>().is_err() {
            let file = if ONYX_SHARED_INT_VARS.iter().any(|(n, _)| n == name) {
                "/app/shared_configs/configs.py"
            } else {
                "/app/onyx/configs/app_configs.py"
            };
            return Some(Fault::CrashLoop {
                exit_code: 1,
                logs: vec![
                    "Traceback (most recent call last):".into(),
                    format!("  File \"{file}\", in <module>"),
                    format!("ValueError: invalid literal for int() with base 10: '{v}'"),
                ],
            });
        }
    }
    None
}

fn vespa(pod: &Value, container: &Value, env: &Env, cluster_domain: &str) -> Option<Fault> {
    if env
        .get("VESPA_IGNORE_NOT_ENOUGH_MEMORY")
        .is_none_or(str::is_empty)
        && let Some(limit) = memory_bytes(&container["resources"]["limits"]["memory"])
        && limit < VESPA_MIN_MEMORY_BYTES
    {
        // osutil.ExitMsg, printed by vespa-wrapper's handleSimplePanic; exit 1.
        return Some(Fault::CrashLoop {
            exit_code: 1,
            logs: vec![
                "Running the Vespa container image requires at least 4GB available memory. See \
                 the relevant docs (https://docs.vespa.ai/en/operations-selfhosted/docker-containers.html#memory)  \
                 or set VESPA_IGNORE_NOT_ENOUGH_MEMORY=true"
                    .into(),
            ],
        });
    }
    let spec = &pod["spec"];
    let name = match env.get("VESPA_HOSTNAME").filter(|h| !h.is_empty()) {
        Some(h) => h.to_string(),
        None => {
            let host = spec["hostname"]
                .as_str()
                .unwrap_or_else(|| pod["metadata"]["name"].as_str().unwrap_or(""));
            let ns = pod["metadata"]["namespace"].as_str().unwrap_or("default");
            match spec["subdomain"].as_str() {
                Some(sub) => format!("{host}.{sub}.{ns}.svc.{cluster_domain}"),
                None => host.to_string(),
            }
        }
    };
    let servers = env
        .get("VESPA_CONFIGSERVERS")
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| name.clone());
    let ok = servers
        .split([',', ' '])
        .any(|s| s == "localhost" || s == name);
    (!ok).then(|| Fault::CrashLoop {
        exit_code: 1,
        logs: vec![
            format!("WARNING only these hosts should run a config server: [{servers}]"),
            format!("this host [{name}] should not run a config server"),
        ],
    })
}

fn onyx_api(env: &Env) -> Option<Fault> {
    let n = |name: &str, default: u64| {
        env.get(name)
            .filter(|v| !v.is_empty())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(default)
    };
    let (size, overflow) = (
        n("POSTGRES_API_SERVER_POOL_SIZE", 40),
        n("POSTGRES_API_SERVER_POOL_OVERFLOW", 10),
    );
    (size + overflow < ONYX_WARM_UP_CONNECTIONS).then(|| Fault::CrashLoop {
        exit_code: 3,
        logs: vec![
            "INFO:     Waiting for application startup.".into(),
            format!(
                "sqlalchemy.exc.TimeoutError: QueuePool limit of size {size} overflow {overflow} \
                 reached, connection timed out, timeout 30.00 (Background on this error at: \
                 https://sqlalche.me/e/20/3o7r)"
            ),
            "ERROR:    Application startup failed. Exiting.".into(),
        ],
    })
}

fn runs(container: &Value, what: &str) -> bool {
    ["command", "args"].iter().any(|k| {
        container[*k]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| a.as_str().is_some_and(|s| s.contains(what)))
    })
}

/// A Kubernetes memory quantity in bytes (`4096Mi`, `4Gi`, `3G`, `2147483648`).
pub fn memory_bytes(q: &Value) -> Option<u64> {
    let s = q
        .as_str()
        .map(str::to_string)
        .or_else(|| q.as_u64().map(|n| n.to_string()))?;
    let units: [(&str, u64); 8] = [
        ("Ki", 1 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
        ("k", 1000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
        ("T", 1_000_000_000_000),
    ];
    for (suffix, factor) in units {
        if let Some(n) = s.strip_suffix(suffix) {
            return n.parse::<f64>().ok().map(|v| (v * factor as f64) as u64);
        }
    }
    s.parse::<f64>().ok().map(|v| v as u64)
}

/// A container's environment as its process sees it: `value`s with `$(VAR)` expanded from the
/// variables before them, and the pod fields a `fieldRef` names (Secret and ConfigMap references
/// are not resolved: none of the rules reads one).
struct Env(Vec<(String, String)>);

impl Env {
    fn of(pod: &Value, container: &Value, links: &[(String, String)]) -> Env {
        // The service links first: the container's own variables win over them.
        let mut vars: Vec<(String, String)> = links.to_vec();
        for e in container["env"].as_array().into_iter().flatten() {
            let name = e["name"].as_str().unwrap_or("").to_string();
            let value = if let Some(v) = e["value"].as_str() {
                expand(v, &vars)
            } else if let Some(path) = e["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
                match path {
                    "metadata.namespace" => pod["metadata"]["namespace"].as_str(),
                    "metadata.name" => pod["metadata"]["name"].as_str(),
                    _ => None,
                }
                .unwrap_or("")
                .to_string()
            } else {
                continue;
            };
            vars.retain(|(n, _)| *n != name);
            vars.push((name, value));
        }
        Env(vars)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Kubernetes' `$(VAR)` expansion: defined variables are replaced, `$$` escapes, the rest stays.
fn expand(v: &str, vars: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = v;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(a) = after.strip_prefix('$') {
            out.push('$');
            rest = a;
        } else if let Some(inner) = after.strip_prefix('(')
            && let Some(end) = inner.find(')')
            && let Some((_, val)) = vars.iter().find(|(n, _)| *n == inner[..end])
        {
            out.push_str(val);
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(ns: &str, container: Value) -> Value {
        json!({"metadata": {"name": "vespa-0", "namespace": ns},
               "spec": {"hostname": "vespa-0", "subdomain": "vespa-service", "containers": [container]}})
    }

    fn logs(f: Option<Fault>) -> Vec<String> {
        match f {
            Some(Fault::CrashLoop { logs, .. }) => logs,
            other => panic!("expected a crash loop, got {other:?}"),
        }
    }

    #[test]
    fn vespa_under_3_gib_without_the_override_exits_with_its_message() {
        let c = json!({"image": "vespaengine/vespa:8.526.15",
                       "resources": {"limits": {"memory": "2048Mi"}},
                       "env": [{"name": "VESPA_CONFIGSERVERS", "value": "localhost"}]});
        let l = logs(start_failure(
            &pod("a", c.clone()),
            &c,
            "cluster.local",
            &[],
        ));
        assert!(
            l[0].contains("requires at least 4GB available memory"),
            "{l:?}"
        );
        let mut ok = c.clone();
        ok["resources"]["limits"]["memory"] = json!("3Gi");
        assert!(start_failure(&pod("a", ok.clone()), &ok, "cluster.local", &[]).is_none());
        let mut ignored = c.clone();
        ignored["env"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "VESPA_IGNORE_NOT_ENOUGH_MEMORY", "value": "true"}));
        assert!(
            start_failure(&pod("a", ignored.clone()), &ignored, "cluster.local", &[]).is_none()
        );
    }

    #[test]
    fn vespa_config_server_must_be_named_as_it_names_itself() {
        let env = |servers: &str, hostname: Option<&str>| {
            let mut e = vec![
                json!({"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}),
                json!({"name": "VESPA_CONFIGSERVERS", "value": servers}),
            ];
            if let Some(h) = hostname {
                e.push(json!({"name": "VESPA_HOSTNAME", "value": h}));
            }
            json!({"image": "vespaengine/vespa:8.526.15", "env": e})
        };
        let old = env(
            "vespa-0.vespa-service.$(POD_NAMESPACE).svc.cluster.local",
            None,
        );
        assert!(start_failure(&pod("team", old.clone()), &old, "cluster.local", &[]).is_none());
        // Another cluster domain: `hostname -f` no longer matches.
        let l = logs(start_failure(
            &pod("team", old.clone()),
            &old,
            "corp.internal",
            &[],
        ));
        assert_eq!(
            l[1],
            "this host [vespa-0.vespa-service.team.svc.corp.internal] should not run a config server"
        );
        let new = env(
            "vespa-0.vespa-service.$(POD_NAMESPACE).svc",
            Some("vespa-0.vespa-service.$(POD_NAMESPACE).svc"),
        );
        assert!(start_failure(&pod("team", new.clone()), &new, "corp.internal", &[]).is_none());
    }

    #[test]
    fn onyx_api_with_a_pool_under_the_warm_up_times_out() {
        let c = |size: &str, overflow: &str| {
            json!({"image": "onyxdotapp/onyx-backend:v2.3.0",
                   "command": ["uvicorn", "onyx.main:app", "--port", "8080"],
                   "env": [{"name": "POSTGRES_API_SERVER_POOL_SIZE", "value": size},
                           {"name": "POSTGRES_API_SERVER_POOL_OVERFLOW", "value": overflow}]})
        };
        let small = c("10", "5");
        let l = logs(start_failure(&json!({}), &small, "cluster.local", &[]));
        assert!(
            l[1].contains("QueuePool limit of size 10 overflow 5 reached"),
            "{l:?}"
        );
        assert!(l[2].contains("Application startup failed"));
        for ok in [c("15", "5"), c("", "")] {
            assert!(start_failure(&json!({}), &ok, "cluster.local", &[]).is_none());
        }
        // The same image running something else (a migration, a worker) is not the API.
        let mut migrate = small.clone();
        migrate["command"] = json!(["alembic", "upgrade", "head"]);
        assert!(start_failure(&json!({}), &migrate, "cluster.local", &[]).is_none());
    }

    #[test]
    fn quantities_and_expansion() {
        assert_eq!(memory_bytes(&json!("4Gi")), Some(4 << 30));
        assert_eq!(memory_bytes(&json!("2048Mi")), Some(2 << 30));
        assert_eq!(memory_bytes(&json!("3G")), Some(3_000_000_000));
        let vars = vec![("NS".to_string(), "a".to_string())];
        assert_eq!(
            expand("x.$(NS).svc $(OTHER) $$(NS)", &vars),
            "x.a.svc $(OTHER) $(NS)"
        );
    }

    #[test]
    fn an_onyx_process_exits_on_a_service_link_where_it_int_s_a_port() {
        let link = vec![(
            "INDEXING_MODEL_SERVER_PORT".to_string(),
            "tcp://10.96.0.9:9000".to_string(),
        )];
        for image in [
            "onyxdotapp/onyx-model-server:v2.3.0",
            "onyxdotapp/onyx-backend:v2.3.0",
        ] {
            let c = json!({"image": image, "command": ["uvicorn", "x:app"]});
            let l = logs(start_failure(&json!({}), &c, "cluster.local", &link));
            assert_eq!(
                l.last().unwrap(),
                "ValueError: invalid literal for int() with base 10: 'tcp://10.96.0.9:9000'"
            );
            // The container's own value wins over the link; empty falls back to the default.
            let own = json!({"image": image, "command": ["uvicorn", "x:app"],
                             "env": [{"name": "INDEXING_MODEL_SERVER_PORT", "value": ""}]});
            assert!(start_failure(&json!({}), &own, "cluster.local", &link).is_none());
        }
        // REDIS_PORT has no `or`: empty fails too, and only the backend reads it.
        let redis = vec![("REDIS_PORT".to_string(), String::new())];
        let backend = json!({"image": "onyxdotapp/onyx-backend:v2.3.0", "command": ["celery"]});
        assert!(start_failure(&json!({}), &backend, "cluster.local", &redis).is_some());
        let model = json!({"image": "onyxdotapp/onyx-model-server:v2.3.0"});
        assert!(start_failure(&json!({}), &model, "cluster.local", &redis).is_none());
    }
}
