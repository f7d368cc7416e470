//! Why a service did not become ready, in plain words.
//!
//! [`diagnose`] is pure: it reads the facts [`gather`] fetched (the service's pods with their
//! container states, the namespace's events about them, its claims, the last log lines) and
//! answers with the first rule that matches, most specific first:
//!
//! 1. a claim stays Pending (no default StorageClass);
//! 2. the pod cannot be scheduled for lack of memory or CPU;
//! 3. an image cannot be pulled (offline: which image the bundle lacks);
//! 4. Vespa dies with "Illegal instruction" (no AVX2: the generic image);
//! 5. the images' own start rules, read from their messages: Vespa's memory check (its limit, and
//!    who may have lowered it), Vespa's config-server name, the API's connection pool under its
//!    warm-up; and the cluster refusing the pods (a LimitRange's maximum);
//! 6. a container is OOM-killed (the next profile);
//! 7. a crash loop (its last 20 log lines);
//! 8. the API waits in its init container for a dependency (which one);
//! 9. a readiness probe keeps failing;
//! 10. otherwise: not ready in time.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Event, PersistentVolumeClaim, Pod};
use kube::ResourceExt;
use kube::api::{Api, ListParams, LogParams};

use super::Target;
use crate::stack::profile::ProfileName;
use crate::stack::render::LABEL_NAME;

/// Lines of log shown for a crash loop.
pub const LOG_LINES: usize = 20;
/// The API's init container that waits for its dependencies.
pub const WAIT_CONTAINER: &str = "wait-for-dependencies";

/// Everything the rules look at for one service.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub service: String,
    pub pods: Vec<Pod>,
    /// Events whose involved object is one of the pods or claims.
    pub events: Vec<Event>,
    pub claims: Vec<PersistentVolumeClaim>,
    /// Last log lines per container (the previous run's for a restarting container).
    pub logs: BTreeMap<String, Vec<String>>,
    /// Images were loaded from a bundle (offline install).
    pub offline: bool,
    /// The profile in use, for "try the next profile".
    pub profile: Option<ProfileName>,
}

/// What went wrong and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    pub service: String,
    /// One line: what is wrong.
    pub problem: String,
    /// Further lines (log tail, event message).
    pub detail: Vec<String>,
    /// What to do next.
    pub hint: String,
}

impl std::fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.service, self.problem)?;
        for line in &self.detail {
            write!(f, "\n    {line}")?;
        }
        write!(f, "\n  → {}", self.hint)
    }
}

fn next_profile(p: Option<ProfileName>) -> Option<ProfileName> {
    match p? {
        ProfileName::Small => Some(ProfileName::Medium),
        ProfileName::Medium => Some(ProfileName::Large),
        _ => None,
    }
}

fn profile_word(p: ProfileName) -> String {
    format!("{p:?}").to_lowercase()
}

/// The most specific explanation for a service that is not ready.
pub fn diagnose(f: &Facts) -> Diagnosis {
    let d = |problem: String, detail: Vec<String>, hint: String| Diagnosis {
        service: f.service.clone(),
        problem,
        detail,
        hint,
    };

    // 1. Claims that stay Pending.
    if let Some(c) = f
        .claims
        .iter()
        .find(|c| c.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Pending"))
    {
        let name = c.name_any();
        let msg = events_for(f, &name)
            .into_iter()
            .find(|e| {
                e.reason.as_deref() == Some("FailedBinding")
                    || e.reason.as_deref() == Some("ProvisioningFailed")
            })
            .and_then(|e| e.message.clone());
        return d(
            format!("its storage claim {name} stays Pending: no volume is provisioned for it"),
            msg.into_iter().collect(),
            "the cluster has no default StorageClass (or it cannot provision): mark one default \
             (`kubectl get storageclass`; annotate it storageclass.kubernetes.io/is-default-class=true) \
             or install a provisioner, then run `onyx up` again"
                .into(),
        );
    }

    // 2. Scheduling.
    let scheduling = f
        .events
        .iter()
        .rev()
        .find(|e| e.reason.as_deref() == Some("FailedScheduling"));
    let unschedulable = f.pods.iter().any(|p| {
        p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c.type_ == "PodScheduled" && c.status == "False")
            })
    });
    if unschedulable || scheduling.is_some() {
        let msg = scheduling
            .and_then(|e| e.message.clone())
            .unwrap_or_default();
        let lower = msg.to_lowercase();
        let what = match (lower.contains("memory"), lower.contains("cpu")) {
            (true, true) => "memory and CPU",
            (true, false) => "memory",
            (false, true) => "CPU",
            _ => "",
        };
        if lower.contains("persistentvolumeclaim") {
            return d(
                "its pod waits for a storage claim that is not bound".into(),
                vec![msg],
                "the cluster has no default StorageClass (or it cannot provision): mark one \
                 default or install a provisioner, then run `onyx up` again"
                    .into(),
            );
        }
        let problem = if what.is_empty() {
            "its pod cannot be scheduled on any node".to_string()
        } else {
            format!("its pod cannot be scheduled: no node has enough free {what}")
        };
        return d(
            problem,
            vec![msg].into_iter().filter(|m| !m.is_empty()).collect(),
            "free room on the nodes, add a node, or use a smaller profile (`onyx plan` shows what \
             each needs; --profile small)"
                .into(),
        );
    }

    // Container states across the service's pods (init containers included).
    let states: Vec<_> = f
        .pods
        .iter()
        .filter_map(|p| p.status.as_ref())
        .flat_map(|s| {
            s.init_container_statuses
                .iter()
                .flatten()
                .chain(s.container_statuses.iter().flatten())
        })
        .collect();

    // 3. Images.
    if let Some(cs) = states.iter().find(|cs| {
        matches!(
            cs.state
                .as_ref()
                .and_then(|s| s.waiting.as_ref())
                .and_then(|w| w.reason.as_deref()),
            Some("ImagePullBackOff" | "ErrImagePull" | "InvalidImageName")
        )
    }) {
        let image = cs.image.clone();
        let msg = cs
            .state
            .as_ref()
            .and_then(|s| s.waiting.as_ref())
            .and_then(|w| w.message.clone())
            .or_else(|| {
                f.events
                    .iter()
                    .rev()
                    .find(|e| e.reason.as_deref() == Some("Failed"))
                    .and_then(|e| e.message.clone())
            });
        let (problem, hint) = if f.offline {
            (
                format!(
                    "the cluster cannot get image {image}: it is not in the bundle that was loaded"
                ),
                format!(
                    "make the bundle on a machine with registry access (`onyx images save`) so that it \
                     holds {image}, load it with --bundle, then run `onyx up` again"
                ),
            )
        } else {
            (
                format!("the cluster cannot pull image {image}"),
                "check that the nodes reach the registry (an air-gapped cluster needs a registry \
                 mirror, --registry-mirror, or images preloaded on its nodes), then run `onyx up` again"
                    .into(),
            )
        };
        return d(problem, msg.into_iter().collect(), hint);
    }

    let terminated = |cs: &&&k8s_openapi::api::core::v1::ContainerStatus| {
        cs.last_state
            .as_ref()
            .and_then(|l| l.terminated.as_ref())
            .cloned()
    };

    // 4. Vespa without AVX2.
    let illegal = f
        .logs
        .values()
        .flatten()
        .any(|l| l.contains("Illegal instruction"))
        || states
            .iter()
            .any(|cs| terminated(&cs).is_some_and(|t| t.exit_code == 132));
    if illegal && f.service == "vespa" {
        return d(
            "Vespa stops with \"Illegal instruction\": this CPU lacks AVX2, which the standard Vespa image needs"
                .into(),
            tail(f, LOG_LINES.min(5)),
            "run on a machine (or VM type) whose CPU has AVX2, or use the image \
             vespaengine/vespa-generic-intel-x86_64 of the same version for the vespa StatefulSet"
                .into(),
        );
    }

    // 5. The images' own start rules.
    if let Some(found) = image_rules(f, &d) {
        return found;
    }

    // 6. Memory.
    if let Some(cs) = states
        .iter()
        .find(|cs| terminated(cs).and_then(|t| t.reason).as_deref() == Some("OOMKilled"))
    {
        let hint = match next_profile(f.profile) {
            Some(next) => format!(
                "give it more memory: `onyx up --profile {}` (on a machine large enough; `onyx plan \
                 --profile {}` shows what it needs)",
                profile_word(next),
                profile_word(next)
            ),
            None => "give the node more memory; this is already the largest profile".into(),
        };
        return d(
            format!(
                "container {} is killed for using more memory than its limit (OOMKilled, {} restarts)",
                cs.name, cs.restart_count
            ),
            Vec::new(),
            hint,
        );
    }

    // 7. Crash loops.
    if let Some(cs) = states.iter().find(|cs| {
        cs.state
            .as_ref()
            .and_then(|s| s.waiting.as_ref())
            .and_then(|w| w.reason.as_deref())
            == Some("CrashLoopBackOff")
            || cs.restart_count > 0
    }) {
        let code = terminated(&cs).map(|t| t.exit_code);
        let lines = f.logs.get(&cs.name).cloned().unwrap_or_default();
        let problem = format!(
            "container {} keeps crashing ({} restarts{}){}",
            cs.name,
            cs.restart_count,
            code.map(|c| format!(", last exit code {c}"))
                .unwrap_or_default(),
            if lines.is_empty() {
                ""
            } else {
                "; its last log lines:"
            }
        );
        let hint = if f.service == "api-server" && lines.iter().any(|l| l.contains("Vespa")) {
            "the API cannot reach Vespa: check `onyx status` and `onyx logs vespa`, then run `onyx up` again".into()
        } else {
            format!(
                "read its whole log with `onyx logs {} --previous`; fix the cause, then run `onyx up` again",
                f.service
            )
        };
        return d(problem, last(&lines, LOG_LINES), hint);
    }

    // 8. The API waiting for a dependency.
    if let Some(line) = f
        .logs
        .get(WAIT_CONTAINER)
        // The background workers' wait (embedded/manifests/35-background.yaml).
        .or_else(|| f.logs.get("wait-for-api-migrations"))
        .and_then(|l| {
            l.iter()
                .rev()
                .find(|l| l.starts_with("waiting for ") || l.contains(" is up at "))
        })
        .filter(|l| l.starts_with("waiting for "))
    {
        let rest = line.trim_start_matches("waiting for ");
        let dep = rest
            .split(" at ")
            .next()
            .unwrap_or(rest)
            .trim_end_matches(':')
            .to_string();
        let svc = match dep.as_str() {
            "PostgreSQL" => "postgresql",
            "Redis" => "redis",
            "MinIO" => "minio",
            "Vespa" => "vespa",
            d if d.starts_with("Vespa") => "vespa",
            d if d.starts_with("the API server") => "api-server",
            _ => "inference-model-server",
        };
        return d(
            format!("it is still waiting for {dep} to answer"),
            vec![line.clone()],
            format!(
                "see why {dep} does not answer: `onyx status` and `onyx logs {svc}`; {} starts \
                 by itself once it does (run `onyx up` again to keep waiting)",
                f.service
            ),
        );
    }

    // 9. Readiness probe.
    if let Some(e) = f
        .events
        .iter()
        .rev()
        .find(|e| e.reason.as_deref() == Some("Unhealthy"))
    {
        return d(
            "it runs but its readiness check keeps failing".into(),
            e.message.clone().into_iter().collect(),
            format!(
                "read its log with `onyx logs {}`; run `onyx up` again to keep waiting",
                f.service
            ),
        );
    }

    // 10. Just slow.
    d(
        "it did not become ready in time".into(),
        tail(f, 5),
        "a first start can take long on a slow network or machine: run `onyx up` again (with a \
         larger --timeout) to keep waiting"
            .into(),
    )
}

/// Vespa v8.526.15 `client/go/internal/admin/vespa-wrapper/services/container.go`: the check's
/// threshold, 3 GiB (its message says 4GB).
const VESPA_MIN_MEMORY_MIB: u64 = 3 * 1024;

/// The memory limit of a service's main container in its (first) pod, as the cluster has it.
fn pod_memory_limit(f: &Facts) -> Option<String> {
    f.pods
        .iter()
        .filter_map(|p| p.spec.as_ref())
        .flat_map(|s| &s.containers)
        .find(|c| c.name == f.service)
        .and_then(|c| c.resources.as_ref()?.limits.as_ref()?.get("memory"))
        .map(|q| q.0.clone())
}

/// Failures the images themselves announce (their log lines cite the same sources as
/// `tests/contracts.rs` and k8s-sim's `images.rs`), and pods the cluster refuses to create.
fn image_rules(
    f: &Facts,
    d: &dyn Fn(String, Vec<String>, String) -> Diagnosis,
) -> Option<Diagnosis> {
    let line = |needle: &str| {
        f.logs
            .values()
            .flatten()
            .find(|l| l.contains(needle))
            .cloned()
    };
    if f.service == "vespa"
        && let Some(l) = line("requires at least 4GB available memory")
    {
        let limit = pod_memory_limit(f);
        let low = limit
            .as_deref()
            .and_then(crate::stack::summary::parse_quantity)
            .is_some_and(|(mib, _)| mib < VESPA_MIN_MEMORY_MIB);
        let problem = match (&limit, low) {
            (Some(l), true) => format!(
                "Vespa refuses to start: its memory limit is {l}, and Vespa 8.526.15 exits at start \
                 with less than 3 GiB"
            ),
            _ => "Vespa refuses to start: the node has less than 3 GiB of memory available \
                  (Vespa 8.526.15 checks the smaller of its limit and the node's free memory)"
                .into(),
        };
        let hint = if low {
            "onyx gives Vespa at least 4 GiB: something in the cluster lowered it (a LimitRange \
             or a policy that rewrites limits; see `kubectl get limitrange -o yaml` and \
             `kubectl get statefulset vespa -o yaml`): lift it, then run `onyx up` again"
        } else {
            "free memory on the node (or give Docker more), or set \
             VESPA_IGNORE_NOT_ENOUGH_MEMORY=true on the vespa StatefulSet (onyx's manifests do); \
             then run `onyx up` again"
        };
        return Some(d(problem, vec![l], hint.into()));
    }
    if f.service == "vespa"
        && let Some(l) = line("should not run a config server")
    {
        let mut detail: Vec<String> = f
            .logs
            .values()
            .flatten()
            .filter(|x| x.contains("config server") && **x != l)
            .take(1)
            .cloned()
            .collect();
        detail.push(l);
        return Some(d(
            "Vespa's config server refuses to start: the name it has is not the one in \
             VESPA_CONFIGSERVERS"
                .into(),
            detail,
            "VESPA_HOSTNAME and VESPA_CONFIGSERVERS must be the same name (onyx sets both to \
             vespa-0.vespa-service.<namespace>.svc); re-apply with `onyx up`, or fix an edited \
             StatefulSet"
                .into(),
        ));
    }
    if f.service == "api-server"
        && let Some(l) = line("QueuePool limit of size")
    {
        let pool: Vec<u64> = l
            .split_whitespace()
            .filter_map(|w| w.trim_end_matches(',').parse().ok())
            .take(2)
            .collect();
        let problem = match pool.as_slice() {
            [size, overflow] => format!(
                "the API exits at start: its database pool ({size} + {overflow} overflow) is smaller \
                 than the 20 connections Onyx holds at once while warming up"
            ),
            _ => "the API exits at start: its database pool is smaller than the 20 connections \
                  Onyx holds at once while warming up"
                .into(),
        };
        return Some(d(
            problem,
            vec![l],
            "set POSTGRES_API_SERVER_POOL_SIZE + POSTGRES_API_SERVER_POOL_OVERFLOW to 20 or more \
             (onyx's profiles do: run `onyx up` again to re-apply them)"
                .into(),
        ));
    }
    // The cluster refuses to create the pods, e.g. a LimitRange's maximum below onyx's limit.
    if let Some(e) = f.events.iter().rev().find(|e| {
        e.reason.as_deref() == Some("FailedCreate")
            && e.message
                .as_deref()
                .is_some_and(|m| m.contains("forbidden"))
    }) {
        let msg = e.message.clone().unwrap_or_default();
        let hint = if msg.contains("maximum memory usage") || msg.contains("maximum cpu usage") {
            format!(
                "a LimitRange in the namespace caps containers below what {} needs (`kubectl get \
                 limitrange -o yaml`): raise its maximum, or install into another namespace with -n",
                f.service
            )
        } else {
            "the cluster's admission rules refuse the pod: see the message, fix the policy or quota, \
             then run `onyx up` again"
                .into()
        };
        return Some(d(
            "the cluster refuses to create its pod".into(),
            vec![msg],
            hint,
        ));
    }
    None
}

fn events_for<'a>(f: &'a Facts, name: &str) -> Vec<&'a Event> {
    f.events
        .iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(name))
        .collect()
}

fn last(lines: &[String], n: usize) -> Vec<String> {
    lines[lines.len().saturating_sub(n)..].to_vec()
}

fn tail(f: &Facts, n: usize) -> Vec<String> {
    f.logs.values().flat_map(|l| last(l, n)).collect::<Vec<_>>()
}

/// Fetch the facts about one service: pods, events about them and its claims, log tails.
pub async fn gather(
    target: &Target,
    service: &str,
    offline: bool,
    profile: Option<ProfileName>,
) -> Facts {
    let c = &target.client;
    let ns = &target.namespace;
    let pods_api: Api<Pod> = Api::namespaced(c.clone(), ns);
    let selector = format!("{LABEL_NAME}={service}");
    let pods = pods_api
        .list(&ListParams::default().labels(&selector))
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    let claim_names: Vec<String> = pods
        .iter()
        .filter_map(|p| p.spec.as_ref())
        .flat_map(|s| s.volumes.iter().flatten())
        .filter_map(|v| {
            v.persistent_volume_claim
                .as_ref()
                .map(|c| c.claim_name.clone())
        })
        .collect();
    let claims_api: Api<PersistentVolumeClaim> = Api::namespaced(c.clone(), ns);
    let claims = claims_api
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .filter(|pvc| {
            let n = pvc.name_any();
            claim_names.contains(&n)
                || pvc.labels().get(LABEL_NAME).map(String::as_str) == Some(service)
        })
        .collect::<Vec<_>>();
    let mut involved: Vec<String> = pods.iter().map(|p| p.name_any()).collect();
    involved.extend(claims.iter().map(|c| c.name_any()));
    let events_api: Api<Event> = Api::namespaced(c.clone(), ns);
    let mut events: Vec<Event> = events_api
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| {
            let o = &e.involved_object;
            let workload = matches!(
                o.kind.as_deref(),
                Some("StatefulSet" | "ReplicaSet" | "Deployment")
            );
            o.name.as_ref().is_some_and(|n| {
                involved.contains(n)
                    // The controllers' FailedCreate when admission refuses the pods.
                    || (workload && (n == service || n.starts_with(&format!("{service}-"))))
            })
        })
        .collect();
    events.sort_by_key(|e| {
        e.metadata
            .resource_version
            .as_ref()
            .and_then(|v| v.parse::<u64>().ok())
    });

    let mut logs = BTreeMap::new();
    if let Some(pod) = pods.first() {
        let status = pod.status.clone().unwrap_or_default();
        let containers = status
            .init_container_statuses
            .iter()
            .flatten()
            .chain(status.container_statuses.iter().flatten());
        for cs in containers {
            let started = cs.restart_count > 0
                || cs
                    .state
                    .as_ref()
                    .is_some_and(|s| s.running.is_some() || s.terminated.is_some());
            if !started {
                continue;
            }
            let params = LogParams {
                container: Some(cs.name.clone()),
                previous: cs.restart_count > 0,
                tail_lines: Some(LOG_LINES as i64),
                ..Default::default()
            };
            if let Ok(text) = pods_api.logs(&pod.name_any(), &params).await {
                logs.insert(cs.name.clone(), text.lines().map(str::to_string).collect());
            }
        }
    }
    Facts {
        service: service.to_string(),
        pods,
        events,
        claims,
        logs,
        offline,
        profile,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus,
        ObjectReference, PersistentVolumeClaimStatus, PodCondition, PodStatus,
    };

    fn pod(statuses: Vec<ContainerStatus>) -> Pod {
        Pod {
            status: Some(PodStatus {
                container_statuses: Some(statuses),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn waiting(name: &str, reason: &str, restarts: i32) -> ContainerStatus {
        ContainerStatus {
            name: name.into(),
            image: format!("example/{name}:1"),
            restart_count: restarts,
            state: Some(ContainerState {
                waiting: Some(ContainerStateWaiting {
                    reason: Some(reason.into()),
                    message: None,
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn terminated_last(mut cs: ContainerStatus, reason: &str, code: i32) -> ContainerStatus {
        cs.last_state = Some(ContainerState {
            terminated: Some(ContainerStateTerminated {
                reason: Some(reason.into()),
                exit_code: code,
                ..Default::default()
            }),
            ..Default::default()
        });
        cs
    }

    fn event(reason: &str, object: &str, message: &str) -> Event {
        Event {
            reason: Some(reason.into()),
            message: Some(message.into()),
            involved_object: ObjectReference {
                name: Some(object.into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn facts(service: &str) -> Facts {
        Facts {
            service: service.into(),
            profile: Some(ProfileName::Small),
            ..Default::default()
        }
    }

    #[test]
    fn image_pull_names_the_image_and_the_bundle_when_offline() {
        let mut f = facts("redis");
        f.pods = vec![pod(vec![waiting("redis", "ImagePullBackOff", 0)])];
        let online = diagnose(&f);
        assert!(
            online.problem.contains("cannot pull image example/redis:1"),
            "{online}"
        );
        assert!(online.hint.contains("air-gapped"), "{online}");
        f.offline = true;
        let offline = diagnose(&f);
        assert!(offline.problem.contains("not in the bundle"), "{offline}");
    }

    #[test]
    fn crash_loop_shows_the_last_20_lines() {
        let mut f = facts("web-server");
        f.pods = vec![pod(vec![terminated_last(
            waiting("web-server", "CrashLoopBackOff", 4),
            "Error",
            1,
        )])];
        let lines: Vec<String> = (1..=30).map(|i| format!("line {i}")).collect();
        f.logs.insert("web-server".into(), lines);
        let d = diagnose(&f);
        assert!(
            d.problem
                .contains("keeps crashing (4 restarts, last exit code 1)"),
            "{d}"
        );
        assert_eq!(d.detail.len(), 20);
        assert_eq!(d.detail[0], "line 11");
        assert_eq!(d.detail[19], "line 30");
    }

    fn with_limit(mut p: Pod, container: &str, limit: &str) -> Pod {
        use k8s_openapi::api::core::v1::{Container, PodSpec, ResourceRequirements};
        use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
        p.spec = Some(PodSpec {
            containers: vec![Container {
                name: container.into(),
                resources: Some(ResourceRequirements {
                    limits: Some(BTreeMap::from([("memory".into(), Quantity(limit.into()))])),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        });
        p
    }

    // The log lines are the images' own, as k8s-sim's images.rs reproduces them.
    #[test]
    fn vespa_refusing_a_lowered_memory_limit_is_named_with_the_limit() {
        let mut f = facts("vespa");
        let crashing = terminated_last(waiting("vespa", "CrashLoopBackOff", 3), "Error", 1);
        f.pods = vec![with_limit(pod(vec![crashing]), "vespa", "2Gi")];
        f.logs.insert(
            "vespa".into(),
            vec!["Running the Vespa container image requires at least 4GB available memory. See the relevant docs (https://docs.vespa.ai/en/operations-selfhosted/docker-containers.html#memory)  or set VESPA_IGNORE_NOT_ENOUGH_MEMORY=true".into()],
        );
        let d = diagnose(&f);
        assert!(d.problem.contains("memory limit is 2Gi"), "{d}");
        assert!(d.problem.contains("less than 3 GiB"), "{d}");
        assert!(d.hint.contains("LimitRange"), "{d}");
        // With a limit that passes, the node's free memory was the short half of the check.
        f.pods = vec![with_limit(f.pods[0].clone(), "vespa", "4096Mi")];
        let d = diagnose(&f);
        assert!(d.problem.contains("node has less than 3 GiB"), "{d}");
        assert!(d.hint.contains("VESPA_IGNORE_NOT_ENOUGH_MEMORY"), "{d}");
    }

    #[test]
    fn vespa_config_server_name_mismatch() {
        let mut f = facts("vespa");
        f.pods = vec![pod(vec![waiting("vespa", "CrashLoopBackOff", 1)])];
        f.logs.insert(
            "vespa".into(),
            vec![
                "WARNING only these hosts should run a config server: [vespa-0.vespa-service.a.svc.cluster.local]".into(),
                "this host [vespa-0.vespa-service.a.svc.corp] should not run a config server".into(),
            ],
        );
        let d = diagnose(&f);
        assert!(d.problem.contains("VESPA_CONFIGSERVERS"), "{d}");
        assert_eq!(d.detail.len(), 2, "{d}");
        assert!(d.hint.contains("VESPA_HOSTNAME"), "{d}");
    }

    #[test]
    fn api_pool_under_the_warm_up_is_named_with_its_numbers() {
        let mut f = facts("api-server");
        f.pods = vec![pod(vec![waiting("api-server", "CrashLoopBackOff", 2)])];
        f.logs.insert(
            "api-server".into(),
            vec![
                "sqlalchemy.exc.TimeoutError: QueuePool limit of size 10 overflow 5 reached, connection timed out, timeout 30.00 (Background on this error at: https://sqlalche.me/e/20/3o7r)".into(),
                "ERROR:    Application startup failed. Exiting.".into(),
            ],
        );
        let d = diagnose(&f);
        assert!(d.problem.contains("(10 + 5 overflow)"), "{d}");
        assert!(d.hint.contains("POSTGRES_API_SERVER_POOL_SIZE"), "{d}");
    }

    #[test]
    fn a_limit_range_refusing_the_pod_is_named() {
        let mut f = facts("vespa");
        let mut e = event(
            "FailedCreate",
            "vespa",
            "create Pod vespa-0 in StatefulSet vespa failed error: pods \"vespa-0\" is forbidden: maximum memory usage per Container is 2Gi, but limit is 4Gi",
        );
        e.involved_object.kind = Some("StatefulSet".into());
        f.events = vec![e];
        let d = diagnose(&f);
        assert_eq!(d.problem, "the cluster refuses to create its pod");
        assert!(d.hint.contains("LimitRange"), "{d}");
        assert!(d.detail[0].contains("maximum memory usage per Container is 2Gi"));
    }

    #[test]
    fn oom_suggests_the_next_profile() {
        let mut f = facts("vespa");
        f.pods = vec![pod(vec![terminated_last(
            waiting("vespa", "CrashLoopBackOff", 2),
            "OOMKilled",
            137,
        )])];
        let d = diagnose(&f);
        assert!(d.problem.contains("OOMKilled"), "{d}");
        assert!(d.hint.contains("--profile medium"), "{d}");
        f.profile = Some(ProfileName::Large);
        assert!(diagnose(&f).hint.contains("largest profile"));
    }

    #[test]
    fn vespa_illegal_instruction_means_no_avx2() {
        let mut f = facts("vespa");
        f.pods = vec![pod(vec![terminated_last(
            waiting("vespa", "CrashLoopBackOff", 3),
            "Error",
            132,
        )])];
        f.logs
            .insert("vespa".into(), vec!["Illegal instruction".into()]);
        let d = diagnose(&f);
        assert!(d.problem.contains("AVX2"), "{d}");
        assert!(d.hint.contains("vespa-generic-intel-x86_64"), "{d}");
    }

    #[test]
    fn unschedulable_for_memory() {
        let mut f = facts("vespa");
        let mut p = pod(vec![]);
        p.metadata.name = Some("vespa-0".into());
        p.status.as_mut().unwrap().conditions = Some(vec![PodCondition {
            type_: "PodScheduled".into(),
            status: "False".into(),
            reason: Some("Unschedulable".into()),
            ..Default::default()
        }]);
        f.pods = vec![p];
        f.events = vec![event(
            "FailedScheduling",
            "vespa-0",
            "0/1 nodes are available: 1 Insufficient memory.",
        )];
        let d = diagnose(&f);
        assert!(d.problem.contains("enough free memory"), "{d}");
        assert!(d.detail[0].contains("Insufficient memory"));
    }

    #[test]
    fn pending_claim_means_no_default_storage_class() {
        let mut f = facts("postgresql");
        let mut c = PersistentVolumeClaim::default();
        c.metadata.name = Some("postgresql-data".into());
        c.status = Some(PersistentVolumeClaimStatus {
            phase: Some("Pending".into()),
            ..Default::default()
        });
        f.claims = vec![c];
        let d = diagnose(&f);
        assert!(d.problem.contains("postgresql-data stays Pending"), "{d}");
        assert!(d.hint.contains("default StorageClass"), "{d}");
    }

    #[test]
    fn api_waiting_names_the_dependency() {
        let mut f = facts("api-server");
        f.pods = vec![pod(vec![])];
        f.logs.insert(
            WAIT_CONTAINER.into(),
            vec![
                "PostgreSQL is up at postgresql:5432".into(),
                "waiting for Vespa at vespa-0.vespa-service:19071: timed out".into(),
            ],
        );
        let d = diagnose(&f);
        assert_eq!(d.problem, "it is still waiting for Vespa to answer");
        assert!(d.hint.contains("onyx logs vespa"), "{d}");
    }

    #[test]
    fn nothing_known_is_a_timeout() {
        let d = diagnose(&facts("nginx"));
        assert!(d.problem.contains("in time"), "{d}");
    }
}
