//! `onyx doctor`: the checks a person would otherwise run by hand from a troubleshooting guide,
//! in one go, each answered ok / warn / fail with a one-line fix:
//!
//! 1. the machine: Docker reachable, its memory/CPUs against the smallest profile, free disk where
//!    it keeps images, AVX2, the UI port;
//! 2. the cluster: kubeconfig and context, API reachable, a Ready node, a default StorageClass, the
//!    stack's PVCs Bound; the images' own start rules against what the cluster really runs (Vespa's
//!    memory limit, the API's pool) and LimitRanges that would refuse the stack's pods;
//! 3. each service from inside its pod: PostgreSQL `SELECT 1`, Vespa's health, Redis `PING` with
//!    the generated password, MinIO ready (`mc ready`), the API's `/health`, and nginx routing `/api/health` to
//!    the API and `/` to the web server.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{LimitRange, Node, PersistentVolumeClaim, Pod, PodSpec};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::ListParams;
use kube::{Api, Client};
use serde::Serialize;

use crate::kube::exec;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub check: String,
    pub status: Status,
    pub detail: String,
    /// What to do, when not ok.
    pub fix: Option<String>,
}

impl Finding {
    pub fn ok(check: &str, detail: impl Into<String>) -> Finding {
        Finding {
            check: check.into(),
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
        }
    }
    pub fn warn(check: &str, detail: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding {
            check: check.into(),
            status: Status::Warn,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
    pub fn fail(check: &str, detail: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding {
            check: check.into(),
            status: Status::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// A check run inside a service's pod: the command and how to read its output.
pub struct ServiceProbe {
    pub check: &'static str,
    pub service: &'static str,
    pub container: &'static str,
    pub command: &'static [&'static str],
    /// Reads (success, stdout) into a verdict detail, or `Err(detail)` for a failure.
    pub judge: fn(bool, &str) -> Result<String, String>,
    pub fix: &'static str,
}

fn exit_ok(ok: bool, _: &str) -> Result<String, String> {
    if ok {
        Ok("answers".into())
    } else {
        Err("does not answer".into())
    }
}

fn select_one(ok: bool, out: &str) -> Result<String, String> {
    if ok && out.trim() == "1" {
        Ok("SELECT 1 answered".into())
    } else {
        Err(format!("SELECT 1 did not answer (got {:?})", out.trim()))
    }
}

fn pong(ok: bool, out: &str) -> Result<String, String> {
    if ok && out.trim() == "PONG" {
        Ok("PING answered PONG (authenticated)".into())
    } else {
        Err(format!("PING answered {:?}", out.trim()))
    }
}

fn vespa_up(ok: bool, out: &str) -> Result<String, String> {
    let code = serde_json::from_str::<serde_json::Value>(out)
        .ok()
        .and_then(|v| v["status"]["code"].as_str().map(str::to_string));
    match (ok, code.as_deref()) {
        (true, Some("up")) => Ok("config server health is up".into()),
        (_, Some(other)) => Err(format!("config server health is {other:?}")),
        _ => Err("no health answer on 19071".into()),
    }
}

fn http_200(ok: bool, out: &str) -> Result<String, String> {
    if ok && out.trim() == "200" {
        Ok("HTTP 200".into())
    } else {
        Err(format!("answered {:?}", out.trim()))
    }
}

fn below_500(ok: bool, out: &str) -> Result<String, String> {
    match out.trim().parse::<u16>() {
        Ok(code) if ok && code < 500 => Ok(format!("HTTP {code}")),
        _ => Err(format!("answered {:?}", out.trim())),
    }
}

/// Python one-liner printing the HTTP status of a GET (the API and model images have Python).
const PY_STATUS: &str = "import sys,urllib.request as u\ntry:\n print(u.urlopen(sys.argv[1],timeout=10).status)\nexcept Exception as e:\n print(getattr(e,'code',e))";

pub const SERVICE_PROBES: &[ServiceProbe] = &[
    ServiceProbe {
        check: "postgresql",
        service: "postgresql",
        container: "postgresql",
        command: &[
            "sh",
            "-c",
            "psql -U \"$POSTGRES_USER\" -d \"$POSTGRES_DB\" -tAc 'SELECT 1'",
        ],
        judge: select_one,
        fix: "see `onyx logs postgresql`; a full volume or a changed password stops it",
    },
    ServiceProbe {
        check: "vespa",
        service: "vespa",
        container: "vespa",
        command: &[
            "curl",
            "-s",
            "--max-time",
            "10",
            "http://127.0.0.1:19071/state/v1/health",
        ],
        judge: vespa_up,
        fix: "Vespa takes minutes on first start; else see `onyx logs vespa` (\"Illegal instruction\" means no AVX2)",
    },
    ServiceProbe {
        check: "redis",
        service: "redis",
        container: "redis",
        // REDISCLI_AUTH (the generated password) is in the container's environment.
        command: &["redis-cli", "ping"],
        judge: pong,
        fix: "see `onyx logs redis`",
    },
    ServiceProbe {
        check: "minio",
        service: "minio",
        container: "minio",
        // Not curl: the pinned `-cpuv1` image (minio/minio RELEASE.2025-07-23T15-54-02Z
        // Dockerfile.release.old_cpu) carries curl on amd64 only, and mc on every architecture.
        // `mc ready local`: mc's default alias `local` is http://localhost:9000 (minio/mc
        // cmd/config-v10.go loadDefaults); it asks the cluster health API anonymously and exits
        // 0 once healthy (cmd/ready.go), retrying every 5 s otherwise, which the exec's timeout
        // bounds. Its config goes to MC_CONFIG_DIR=/tmp/.mc (the image's ENV), an emptyDir here.
        command: &["mc", "ready", "local"],
        judge: exit_ok,
        fix: "see `onyx logs minio`; the API server can't start without it",
    },
    ServiceProbe {
        check: "api-server /health",
        service: "api-server",
        container: "api-server",
        command: &["python3", "-c", PY_STATUS, "http://127.0.0.1:8080/health"],
        judge: http_200,
        fix: "the first start migrates the database for minutes; else see `onyx logs api-server`",
    },
    ServiceProbe {
        check: "nginx → api (/api/health)",
        service: "nginx",
        container: "nginx",
        command: &[
            "sh",
            "-c",
            "wget -q -O /dev/null -S http://127.0.0.1:8080/api/health 2>&1 | awk '/HTTP\\//{c=$2} END{print c}'",
        ],
        judge: http_200,
        fix: "the gateway can't reach the API: check `onyx status` and `onyx logs nginx`",
    },
    ServiceProbe {
        check: "nginx → web (/)",
        service: "nginx",
        container: "nginx",
        command: &[
            "sh",
            "-c",
            "wget -q -O /dev/null -S http://127.0.0.1:8080/ 2>&1 | awk '/HTTP\\//{c=$2} END{print c}'",
        ],
        judge: below_500,
        fix: "the gateway can't reach the web server: check `onyx status` and `onyx logs web-server`",
    },
];

/// Run one probe in its service's pod.
pub async fn probe(client: &Client, namespace: &str, p: &ServiceProbe) -> Finding {
    let pod = match exec::ready_pod(client, namespace, p.service).await {
        Ok(Some(pod)) => pod,
        Ok(None) => {
            return Finding::fail(
                p.check,
                format!("no ready {} pod", p.service),
                "run `onyx status` to see why, or `onyx up` to start the stack",
            );
        }
        Err(e) => return Finding::fail(p.check, format!("cannot list pods: {e}"), p.fix),
    };
    match exec::run(
        client,
        namespace,
        &pod,
        p.container,
        p.command,
        Duration::from_secs(20),
    )
    .await
    {
        Ok(out) => match (p.judge)(out.success, &out.stdout) {
            Ok(detail) => Finding::ok(p.check, detail),
            Err(detail) => Finding::fail(p.check, detail, p.fix),
        },
        Err(e) => Finding::fail(
            p.check,
            format!("could not run the check in {pod}: {e}"),
            p.fix,
        ),
    }
}

/// The cluster-level checks: a Ready node, a default StorageClass, the stack's claims Bound.
pub async fn cluster_checks(client: &Client, namespace: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    match client.apiserver_version().await {
        Ok(v) => out.push(Finding::ok(
            "cluster reachable",
            format!("Kubernetes {}", v.git_version),
        )),
        Err(e) => {
            out.push(Finding::fail(
                "cluster reachable",
                e.to_string(),
                "check the context (`kubectl config current-context`) and that the cluster runs",
            ));
            return out;
        }
    }
    let nodes: Api<Node> = Api::all(client.clone());
    match nodes.list(&ListParams::default()).await {
        Ok(list) => {
            let ready = list
                .items
                .iter()
                .filter(|n| {
                    n.status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
                })
                .count();
            out.push(if ready > 0 {
                Finding::ok(
                    "node ready",
                    format!("{ready} of {} nodes Ready", list.items.len()),
                )
            } else {
                Finding::fail(
                    "node ready",
                    format!("none of {} nodes is Ready", list.items.len()),
                    "see `kubectl describe nodes`; for onyx's own cluster, `onyx cluster status`",
                )
            });
        }
        Err(e) => out.push(Finding::warn(
            "node ready",
            format!("cannot list nodes: {e}"),
            "needs permission to list nodes; ask the cluster admin, or ignore",
        )),
    }
    let classes: Api<StorageClass> = Api::all(client.clone());
    match classes.list(&ListParams::default()).await {
        Ok(list) => {
            let default = list.items.iter().find(|c| {
                c.metadata.annotations.as_ref().is_some_and(|a| {
                    a.get("storageclass.kubernetes.io/is-default-class")
                        .is_some_and(|v| v == "true")
                })
            });
            out.push(match default {
                Some(c) => Finding::ok(
                    "default StorageClass",
                    c.metadata.name.clone().unwrap_or_default(),
                ),
                None => Finding::fail(
                    "default StorageClass",
                    "none: the stack's volumes would stay Pending",
                    "mark one as default (storageclass.kubernetes.io/is-default-class=true) or install a provisioner",
                ),
            });
        }
        Err(e) => out.push(Finding::warn(
            "default StorageClass",
            format!("cannot list StorageClasses: {e}"),
            "needs permission to list StorageClasses; ask the cluster admin, or ignore",
        )),
    }
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), namespace);
    match pvcs
        .list(&ListParams::default().labels("app.kubernetes.io/part-of=onyx"))
        .await
    {
        Ok(list) if list.items.is_empty() => out.push(Finding::warn(
            "volumes bound",
            format!("no Onyx volumes in namespace {namespace}"),
            "run `onyx up` (or pass -n with the stack's namespace)",
        )),
        Ok(list) => {
            let pending: Vec<String> = list
                .items
                .iter()
                .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Bound"))
                .filter_map(|p| p.metadata.name.clone())
                .collect();
            out.push(if pending.is_empty() {
                Finding::ok(
                    "volumes bound",
                    format!("{} claims Bound", list.items.len()),
                )
            } else {
                Finding::fail(
                    "volumes bound",
                    format!("not Bound: {}", pending.join(", ")),
                    "see `kubectl describe pvc`; usually no default StorageClass or a full disk",
                )
            });
        }
        Err(e) => out.push(Finding::fail(
            "volumes bound",
            e.to_string(),
            "check the namespace (-n) and your permissions",
        )),
    }
    out.extend(stack_rule_checks(client, namespace).await);
    out
}

/// The stack's pod specs as the cluster has them (templates and running pods: a webhook or a
/// LimitRange default may have changed the pods) and the namespace's LimitRanges, judged by
/// [`judge_stack_rules`]. Nothing to judge (no stack, no permission) gives no finding.
async fn stack_rule_checks(client: &Client, namespace: &str) -> Vec<Finding> {
    let selector = ListParams::default().labels("app.kubernetes.io/part-of=onyx");
    let name_of = |labels: Option<&std::collections::BTreeMap<String, String>>| {
        labels
            .and_then(|l| l.get("app.kubernetes.io/name"))
            .cloned()
            .unwrap_or_default()
    };
    let mut specs: Vec<(String, PodSpec)> = Vec::new();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    for d in deployments
        .list(&selector)
        .await
        .map(|l| l.items)
        .unwrap_or_default()
    {
        if let Some(t) = d.spec.map(|s| s.template) {
            let name = name_of(t.metadata.as_ref().and_then(|m| m.labels.as_ref()));
            specs.extend(t.spec.map(|s| (name, s)));
        }
    }
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), namespace);
    for d in sets
        .list(&selector)
        .await
        .map(|l| l.items)
        .unwrap_or_default()
    {
        if let Some(t) = d.spec.map(|s| s.template) {
            let name = name_of(t.metadata.as_ref().and_then(|m| m.labels.as_ref()));
            specs.extend(t.spec.map(|s| (name, s)));
        }
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    for p in pods
        .list(&selector)
        .await
        .map(|l| l.items)
        .unwrap_or_default()
    {
        let name = name_of(p.metadata.labels.as_ref());
        specs.extend(p.spec.map(|s| (name, s)));
    }
    let ranges: Api<LimitRange> = Api::namespaced(client.clone(), namespace);
    let ranges = ranges
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    judge_stack_rules(&specs, &ranges)
}

const GIB_MIB: u64 = 1024;

fn memory_mib(
    map: Option<
        &std::collections::BTreeMap<
            String,
            k8s_openapi::apimachinery::pkg::api::resource::Quantity,
        >,
    >,
) -> Option<u64> {
    map.and_then(|m| m.get("memory"))
        .and_then(|q| crate::stack::summary::parse_quantity(&q.0))
        .map(|(mib, _)| mib)
}

fn mib_text(mib: u64) -> String {
    if mib.is_multiple_of(GIB_MIB) {
        format!("{} GiB", mib / GIB_MIB)
    } else {
        format!("{mib} MiB")
    }
}

/// The images' start rules over the stack's pod specs (`(service, spec)`), and LimitRanges that
/// would refuse its containers:
/// - Vespa v8.526.15 (`vespa-wrapper/services/container.go`) exits under 3 GiB unless
///   VESPA_IGNORE_NOT_ENOUGH_MEMORY is set; with it set, its JVMs alone take about 2.3 GiB;
/// - Onyx v2.3.0's API (`backend/onyx/db/engine/connection_warmup.py`) needs pool + overflow ≥ 20;
/// - a LimitRange `max` below a container's limit makes the cluster refuse the pod.
pub fn judge_stack_rules(specs: &[(String, PodSpec)], ranges: &[LimitRange]) -> Vec<Finding> {
    let mut out = Vec::new();
    let main_of = |service: &str| {
        specs
            .iter()
            .filter(|(s, _)| s == service)
            .flat_map(|(_, spec)| spec.containers.iter().filter(move |c| c.name == service))
            .collect::<Vec<_>>()
    };
    let env = |c: &k8s_openapi::api::core::v1::Container, name: &str| {
        c.env
            .iter()
            .flatten()
            .find(|e| e.name == name)
            .and_then(|e| e.value.clone())
    };
    let vespa = main_of("vespa");
    if let Some((c, limit)) = vespa
        .iter()
        .filter_map(|c| Some((*c, memory_mib(c.resources.as_ref()?.limits.as_ref())?)))
        .min_by_key(|(_, l)| *l)
    {
        let ignored = env(c, "VESPA_IGNORE_NOT_ENOUGH_MEMORY").is_some_and(|v| !v.is_empty());
        out.push(if limit >= 3 * GIB_MIB {
            Finding::ok(
                "vespa memory",
                format!("limit {} (Vespa's start check needs 3 GiB)", mib_text(limit)),
            )
        } else if !ignored {
            Finding::fail(
                "vespa memory",
                format!(
                    "limit {}: Vespa 8.526.15 exits at start with less than 3 GiB (\"requires at \
                     least 4GB available memory\")",
                    mib_text(limit)
                ),
                "give it at least 4 GiB: `onyx up` re-applies onyx's sizes; if the limit comes back \
                 lower, a LimitRange or policy in the cluster changes it (`kubectl get limitrange -o yaml`)",
            )
        } else {
            Finding::warn(
                "vespa memory",
                format!(
                    "limit {}: the start check is off, but Vespa's JVMs alone take about 2.3 GiB",
                    mib_text(limit)
                ),
                "expect Vespa to be OOM-killed: give it at least 4 GiB (`onyx up` re-applies onyx's sizes)",
            )
        });
    }
    if let Some(c) = main_of("api-server").first() {
        let n = |name: &str, default: u64| {
            env(c, name)
                .filter(|v| !v.is_empty())
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        let (size, overflow) = (
            n("POSTGRES_API_SERVER_POOL_SIZE", 40),
            n("POSTGRES_API_SERVER_POOL_OVERFLOW", 10),
        );
        out.push(if size + overflow >= 20 {
            Finding::ok(
                "api database pool",
                format!("{size} + {overflow} overflow (its warm-up holds 20)"),
            )
        } else {
            Finding::fail(
                "api database pool",
                format!(
                    "{size} + {overflow} overflow: the API holds 20 connections at once while \
                     warming up, times out after 30 s and exits"
                ),
                "set POSTGRES_API_SERVER_POOL_SIZE + POSTGRES_API_SERVER_POOL_OVERFLOW to 20 or \
                 more (`onyx up` re-applies onyx's profile)",
            )
        });
    }
    let mut refused = Vec::new();
    for r in ranges {
        let name = r.metadata.name.clone().unwrap_or_default();
        for item in r
            .spec
            .as_ref()
            .map(|s| s.limits.as_slice())
            .unwrap_or_default()
        {
            if item.type_ != "Container" {
                continue;
            }
            let Some(max) = memory_mib(item.max.as_ref()) else {
                continue;
            };
            for (service, spec) in specs {
                for c in spec
                    .init_containers
                    .iter()
                    .flatten()
                    .chain(&spec.containers)
                {
                    if let Some(limit) =
                        memory_mib(c.resources.as_ref().and_then(|r| r.limits.as_ref()))
                        && limit > max
                    {
                        let line = format!(
                            "LimitRange {name} allows {} per container, {service}/{} asks {}",
                            mib_text(max),
                            c.name,
                            mib_text(limit)
                        );
                        if !refused.contains(&line) {
                            refused.push(line);
                        }
                    }
                }
            }
        }
    }
    if !ranges.is_empty() {
        out.push(if refused.is_empty() {
            Finding::ok("limit ranges", "none below the stack's limits")
        } else {
            Finding::fail(
                "limit ranges",
                format!("the cluster refuses these pods: {}", refused.join("; ")),
                "raise the LimitRange's max (`kubectl edit limitrange`) or install into another \
                 namespace with -n",
            )
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(profile: crate::stack::profile::ProfileName) -> Vec<(String, PodSpec)> {
        use crate::stack::render::{RenderOptions, render};
        render(&RenderOptions {
            profile: crate::stack::profile::profile(profile),
            namespace: None,
            web_url: "http://localhost:3000".into(),
            credentials: None,
            gateway_node_port: None,
            indexing: crate::stack::indexing::Indexing::default_for(profile),
            app: Default::default(),
        })
        .into_iter()
        .filter_map(|r| {
            let spec = r.object.pod_template()?.spec.clone()?;
            Some((r.service?.to_string(), spec))
        })
        .collect()
    }

    fn set(
        specs: &mut [(String, PodSpec)],
        service: &str,
        f: impl Fn(&mut k8s_openapi::api::core::v1::Container),
    ) {
        for (s, spec) in specs.iter_mut() {
            if s == service {
                spec.containers
                    .iter_mut()
                    .filter(|c| c.name == service)
                    .for_each(&f);
            }
        }
    }

    #[test]
    fn the_rendered_stack_passes_its_images_rules() {
        for p in [
            crate::stack::profile::ProfileName::Small,
            crate::stack::profile::ProfileName::Large,
        ] {
            let found = judge_stack_rules(&rendered(p), &[]);
            assert_eq!(found.len(), 2, "{found:?}");
            assert!(found.iter().all(|f| f.status == Status::Ok), "{found:?}");
        }
    }

    #[test]
    fn a_lowered_vespa_limit_and_a_small_pool_are_named() {
        use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
        let mut specs = rendered(crate::stack::profile::ProfileName::Small);
        set(&mut specs, "vespa", |c| {
            c.resources
                .as_mut()
                .unwrap()
                .limits
                .as_mut()
                .unwrap()
                .insert("memory".into(), Quantity("2Gi".into()));
        });
        let found = judge_stack_rules(&specs, &[]);
        let vespa = found.iter().find(|f| f.check == "vespa memory").unwrap();
        // onyx sets VESPA_IGNORE_NOT_ENOUGH_MEMORY: no start failure, but too little for its JVMs.
        assert_eq!(vespa.status, Status::Warn, "{vespa:?}");
        set(&mut specs, "vespa", |c| {
            c.env
                .as_mut()
                .unwrap()
                .retain(|e| e.name != "VESPA_IGNORE_NOT_ENOUGH_MEMORY");
        });
        set(&mut specs, "api-server", |c| {
            for e in c.env.as_mut().unwrap() {
                if e.name == "POSTGRES_API_SERVER_POOL_SIZE" {
                    e.value = Some("10".into());
                }
            }
        });
        let found = judge_stack_rules(&specs, &[]);
        let vespa = found.iter().find(|f| f.check == "vespa memory").unwrap();
        assert_eq!(vespa.status, Status::Fail);
        assert!(vespa.detail.contains("limit 2 GiB"), "{vespa:?}");
        let pool = found
            .iter()
            .find(|f| f.check == "api database pool")
            .unwrap();
        assert_eq!(pool.status, Status::Fail);
        assert!(pool.detail.starts_with("10 + 5 overflow"), "{pool:?}");
    }

    #[test]
    fn a_limit_range_below_vespas_limit_is_named() {
        use k8s_openapi::api::core::v1::{LimitRangeItem, LimitRangeSpec};
        use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
        let range = LimitRange {
            metadata: kube::api::ObjectMeta {
                name: Some("team-caps".into()),
                ..Default::default()
            },
            spec: Some(LimitRangeSpec {
                limits: vec![LimitRangeItem {
                    type_: "Container".into(),
                    max: Some(std::collections::BTreeMap::from([(
                        "memory".into(),
                        Quantity("3Gi".into()),
                    )])),
                    ..Default::default()
                }],
            }),
        };
        let found = judge_stack_rules(
            &rendered(crate::stack::profile::ProfileName::Small),
            &[range],
        );
        let f = found.iter().find(|f| f.check == "limit ranges").unwrap();
        assert_eq!(f.status, Status::Fail);
        assert!(
            f.detail.contains(
                "LimitRange team-caps allows 3 GiB per container, vespa/vespa asks 4 GiB"
            ),
            "{f:?}"
        );
    }

    #[test]
    fn verdicts_read_the_real_answers() {
        assert!(select_one(true, "1\n").is_ok());
        assert!(select_one(true, "").is_err());
        assert!(pong(true, "PONG\n").is_ok());
        assert!(pong(true, "NOAUTH Authentication required.").is_err());
        assert!(vespa_up(true, r#"{"status":{"code":"up"}}"#).is_ok());
        assert_eq!(
            vespa_up(true, r#"{"status":{"code":"initializing"}}"#).unwrap_err(),
            "config server health is \"initializing\""
        );
        assert!(vespa_up(false, "").is_err());
        assert!(http_200(true, "200\n").is_ok());
        assert!(http_200(true, "502").is_err());
        assert!(below_500(true, "307").is_ok());
        assert!(below_500(true, "502").is_err());
        assert!(exit_ok(true, "").is_ok() && exit_ok(false, "").is_err());
    }
}
