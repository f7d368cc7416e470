//! The rules of [`super::diagnose`], one function each, in the order of the table in `mod.rs`.
//!
//! A rule looks at the gathered [`Facts`] and either explains the failure (`Some`) or passes to
//! the next one (`None`). Each is pure and tested alone below; the table decides which wins when
//! several match, and `mod.rs`'s tests pin that order.

use k8s_openapi::api::core::v1::{ContainerStateTerminated, ContainerStatus, Event};
use kube::ResourceExt;

use super::{Diagnosis, Facts, LOG_LINES, WAIT_CONTAINER};
use crate::stack::profile::ProfileName;

/// A rule's answer for the service the facts are about.
fn says(
    f: &Facts,
    problem: impl Into<String>,
    detail: Vec<String>,
    hint: impl Into<String>,
) -> Diagnosis {
    Diagnosis {
        service: f.service.clone(),
        problem: problem.into(),
        detail,
        hint: hint.into(),
    }
}

/// 1. A claim stays Pending: no volume is provisioned for it.
pub(super) fn pending_claim(f: &Facts) -> Option<Diagnosis> {
    let c = f
        .claims
        .iter()
        .find(|c| c.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Pending"))?;
    let name = c.name_any();
    let msg = events_for(f, &name)
        .into_iter()
        .find(|e| {
            e.reason.as_deref() == Some("FailedBinding")
                || e.reason.as_deref() == Some("ProvisioningFailed")
        })
        .and_then(|e| e.message.clone());
    Some(says(
        f,
        format!("its storage claim {name} stays Pending: no volume is provisioned for it"),
        msg.into_iter().collect(),
        "the cluster has no default StorageClass (or it cannot provision): mark one default \
         (`kubectl get storageclass`; annotate it storageclass.kubernetes.io/is-default-class=true) \
         or install a provisioner, then run `onyx up` again",
    ))
}

/// 2. The pod cannot be scheduled: for lack of memory or CPU, or waiting for an unbound claim.
pub(super) fn unschedulable(f: &Facts) -> Option<Diagnosis> {
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
    if !unschedulable && scheduling.is_none() {
        return None;
    }
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
        return Some(says(
            f,
            "its pod waits for a storage claim that is not bound",
            vec![msg],
            "the cluster has no default StorageClass (or it cannot provision): mark one \
             default or install a provisioner, then run `onyx up` again",
        ));
    }
    let problem = if what.is_empty() {
        "its pod cannot be scheduled on any node".to_string()
    } else {
        format!("its pod cannot be scheduled: no node has enough free {what}")
    };
    Some(says(
        f,
        problem,
        vec![msg].into_iter().filter(|m| !m.is_empty()).collect(),
        "free room on the nodes, add a node, or use a smaller profile (`onyx plan` shows what \
         each needs; --profile small)",
    ))
}

/// 3. An image cannot be pulled (offline: the bundle that was loaded lacks it).
pub(super) fn image_pull(f: &Facts) -> Option<Diagnosis> {
    let cs = container_states(f).into_iter().find(|cs| {
        matches!(
            cs.state
                .as_ref()
                .and_then(|s| s.waiting.as_ref())
                .and_then(|w| w.reason.as_deref()),
            Some("ImagePullBackOff" | "ErrImagePull" | "InvalidImageName")
        )
    })?;
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
                "make the bundle again on a machine with registry access (`onyx images pull`, \
                 then `onyx images save -o onyx-images.tar`) so that it holds {image}, then run \
                 `onyx up --bundle onyx-images.tar` again"
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
    Some(says(f, problem, msg.into_iter().collect(), hint))
}

/// 4. Vespa dies with "Illegal instruction" (exit 132): the CPU lacks AVX2.
pub(super) fn vespa_without_avx2(f: &Facts) -> Option<Diagnosis> {
    let illegal = f
        .logs
        .values()
        .flatten()
        .any(|l| l.contains("Illegal instruction"))
        || container_states(f)
            .iter()
            .any(|cs| last_terminated(cs).is_some_and(|t| t.exit_code == 132));
    if !(illegal && f.service == "vespa") {
        return None;
    }
    Some(says(
        f,
        "Vespa stops with \"Illegal instruction\": this CPU lacks AVX2, which the standard Vespa image needs",
        tail(f, LOG_LINES.min(5)),
        "run on a machine (or VM type) whose CPU has AVX2, or use the image \
         vespaengine/vespa-generic-intel-x86_64 of the same version for the vespa StatefulSet",
    ))
}

/// Vespa v8.526.15 `client/go/internal/admin/vespa-wrapper/services/container.go`: the check's
/// threshold, 3 GiB (its message says 4GB).
const VESPA_MIN_MEMORY_MIB: u64 = 3 * 1024;

// 5. The images' own start rules, read from their messages (the log lines cite the same sources
// as `tests/it/contracts/` and k8s-sim's `images.rs`), and the cluster refusing the pods.

/// 5a. Vespa's memory check: its limit is too low (and who may have lowered it), or the node's
/// free memory is.
pub(super) fn vespa_memory_check(f: &Facts) -> Option<Diagnosis> {
    if f.service != "vespa" {
        return None;
    }
    let l = log_line(f, "requires at least 4GB available memory")?;
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
    Some(says(f, problem, vec![l], hint))
}

/// 5b. Vespa's config server refuses a host name that is not in VESPA_CONFIGSERVERS.
pub(super) fn vespa_config_server(f: &Facts) -> Option<Diagnosis> {
    if f.service != "vespa" {
        return None;
    }
    let l = log_line(f, "should not run a config server")?;
    let mut detail: Vec<String> = f
        .logs
        .values()
        .flatten()
        .filter(|x| x.contains("config server") && **x != l)
        .take(1)
        .cloned()
        .collect();
    detail.push(l);
    Some(says(
        f,
        "Vespa's config server refuses to start: the name it has is not the one in \
         VESPA_CONFIGSERVERS",
        detail,
        "VESPA_HOSTNAME and VESPA_CONFIGSERVERS must be the same name (onyx sets both to \
         vespa-0.vespa-service.<namespace>.svc); re-apply with `onyx up`, or fix an edited \
         StatefulSet",
    ))
}

/// 5c. The API's database pool is smaller than the connections its warm-up holds.
pub(super) fn api_pool_under_warm_up(f: &Facts) -> Option<Diagnosis> {
    if f.service != "api-server" {
        return None;
    }
    let l = log_line(f, "QueuePool limit of size")?;
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
    Some(says(
        f,
        problem,
        vec![l],
        "set POSTGRES_API_SERVER_POOL_SIZE + POSTGRES_API_SERVER_POOL_OVERFLOW to 20 or more \
         (onyx's profiles do: run `onyx up` again to re-apply them)",
    ))
}

/// 5d. The cluster refuses to create the pods, e.g. a LimitRange's maximum below onyx's limit.
pub(super) fn pods_refused(f: &Facts) -> Option<Diagnosis> {
    let e = f.events.iter().rev().find(|e| {
        e.reason.as_deref() == Some("FailedCreate")
            && e.message
                .as_deref()
                .is_some_and(|m| m.contains("forbidden"))
    })?;
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
    Some(says(
        f,
        "the cluster refuses to create its pod",
        vec![msg],
        hint,
    ))
}

/// 6. A container is OOM-killed: try the next profile.
pub(super) fn oom_killed(f: &Facts) -> Option<Diagnosis> {
    let cs = container_states(f)
        .into_iter()
        .find(|cs| last_terminated(cs).and_then(|t| t.reason.as_deref()) == Some("OOMKilled"))?;
    let hint = match next_profile(f.profile) {
        Some(next) => format!(
            "give it more memory: `onyx up --profile {}` (on a machine large enough; `onyx plan \
             --profile {}` shows what it needs)",
            profile_word(next),
            profile_word(next)
        ),
        None => "give the node more memory; this is already the largest profile".into(),
    };
    Some(says(
        f,
        format!(
            "container {} is killed for using more memory than its limit (OOMKilled, {} restarts)",
            cs.name, cs.restart_count
        ),
        Vec::new(),
        hint,
    ))
}

/// 7. A crash loop: its last [`LOG_LINES`] log lines.
pub(super) fn crash_loop(f: &Facts) -> Option<Diagnosis> {
    let cs = container_states(f).into_iter().find(|cs| {
        cs.state
            .as_ref()
            .and_then(|s| s.waiting.as_ref())
            .and_then(|w| w.reason.as_deref())
            == Some("CrashLoopBackOff")
            || cs.restart_count > 0
    })?;
    let code = last_terminated(cs).map(|t| t.exit_code);
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
    Some(says(f, problem, last(&lines, LOG_LINES), hint))
}

/// 8. The API (or a worker) waits in its init container for a dependency: which one.
pub(super) fn waiting_for_dependency(f: &Facts) -> Option<Diagnosis> {
    let line = f
        .logs
        .get(WAIT_CONTAINER)
        // The background workers' wait (embedded/manifests/35-background.yaml).
        .or_else(|| f.logs.get("wait-for-api-migrations"))
        .and_then(|l| {
            l.iter()
                .rev()
                .find(|l| l.starts_with("waiting for ") || l.contains(" is up at "))
        })
        .filter(|l| l.starts_with("waiting for "))?;
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
    Some(says(
        f,
        format!("it is still waiting for {dep} to answer"),
        vec![line.clone()],
        format!(
            "see why {dep} does not answer: `onyx status` and `onyx logs {svc}`; {} starts \
             by itself once it does (run `onyx up` again to keep waiting)",
            f.service
        ),
    ))
}

/// 9. It runs, but its readiness probe keeps failing.
pub(super) fn readiness_failing(f: &Facts) -> Option<Diagnosis> {
    let e = f
        .events
        .iter()
        .rev()
        .find(|e| e.reason.as_deref() == Some("Unhealthy"))?;
    Some(says(
        f,
        "it runs but its readiness check keeps failing",
        e.message.clone().into_iter().collect(),
        format!(
            "read its log with `onyx logs {}`; run `onyx up` again to keep waiting",
            f.service
        ),
    ))
}

/// 10. Otherwise: just slow, not ready in time.
pub(super) fn not_ready_in_time(f: &Facts) -> Diagnosis {
    says(
        f,
        "it did not become ready in time",
        tail(f, 5),
        "a first start can take long on a slow network or machine: run `onyx up` again (with a \
         larger --timeout) to keep waiting",
    )
}

/// Container states across the service's pods, init containers first.
fn container_states(f: &Facts) -> Vec<&ContainerStatus> {
    f.pods
        .iter()
        .filter_map(|p| p.status.as_ref())
        .flat_map(|s| {
            s.init_container_statuses
                .iter()
                .flatten()
                .chain(s.container_statuses.iter().flatten())
        })
        .collect()
}

/// How the container's previous run ended, if it ended.
fn last_terminated(cs: &ContainerStatus) -> Option<&ContainerStateTerminated> {
    cs.last_state.as_ref().and_then(|l| l.terminated.as_ref())
}

/// The first log line (of any container) holding `needle`.
fn log_line(f: &Facts, needle: &str) -> Option<String> {
    f.logs
        .values()
        .flatten()
        .find(|l| l.contains(needle))
        .cloned()
}

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

/// Each rule alone: it answers for the facts it is about and passes on the others (the table's
/// order is pinned by the tests in `mod.rs`).
#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;
    use k8s_openapi::api::core::v1::{
        PersistentVolumeClaim, PersistentVolumeClaimStatus, PodCondition,
    };

    fn crashing(service: &str, restarts: i32) -> Facts {
        let mut f = facts(service);
        f.pods = vec![pod(vec![waiting(service, "CrashLoopBackOff", restarts)])];
        f
    }

    fn claim(name: &str, phase: &str) -> PersistentVolumeClaim {
        let mut c = PersistentVolumeClaim::default();
        c.metadata.name = Some(name.into());
        c.status = Some(PersistentVolumeClaimStatus {
            phase: Some(phase.into()),
            ..Default::default()
        });
        c
    }

    #[test]
    fn pending_claim_quotes_its_provisioning_event() {
        let mut f = facts("postgresql");
        f.claims = vec![claim("postgresql-data", "Pending")];
        f.events = vec![
            event("Scheduled", "postgresql-data", "unrelated"),
            event(
                "ProvisioningFailed",
                "postgresql-data",
                "no provisioner for storage class",
            ),
        ];
        let d = pending_claim(&f).expect("a Pending claim is a diagnosis");
        assert_eq!(d.service, "postgresql");
        assert!(d.problem.contains("postgresql-data stays Pending"), "{d}");
        assert_eq!(d.detail, vec!["no provisioner for storage class"]);
        assert!(d.hint.contains("is-default-class=true"), "{d}");
        f.claims = vec![claim("postgresql-data", "Bound")];
        assert_eq!(pending_claim(&f), None);
    }

    #[test]
    fn unschedulable_names_what_is_short_or_the_unbound_claim() {
        let mut f = facts("vespa");
        assert_eq!(unschedulable(&f), None);
        f.events = vec![event(
            "FailedScheduling",
            "vespa-0",
            "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory.",
        )];
        let d = unschedulable(&f).unwrap();
        assert_eq!(
            d.problem,
            "its pod cannot be scheduled: no node has enough free memory and CPU"
        );
        assert!(d.hint.contains("--profile small"), "{d}");
        f.events = vec![event(
            "FailedScheduling",
            "vespa-0",
            "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims.",
        )];
        let d = unschedulable(&f).unwrap();
        assert_eq!(
            d.problem,
            "its pod waits for a storage claim that is not bound"
        );
        // A PodScheduled=False condition without an event still counts, with no detail.
        let mut p = pod(vec![]);
        p.status.as_mut().unwrap().conditions = Some(vec![PodCondition {
            type_: "PodScheduled".into(),
            status: "False".into(),
            ..Default::default()
        }]);
        f.events.clear();
        f.pods = vec![p];
        let d = unschedulable(&f).unwrap();
        assert_eq!(d.problem, "its pod cannot be scheduled on any node");
        assert!(d.detail.is_empty(), "{d}");
    }

    #[test]
    fn image_pull_falls_back_to_the_failed_event_for_its_message() {
        let mut f = facts("redis");
        f.pods = vec![pod(vec![waiting("redis", "ErrImagePull", 0)])];
        f.events = vec![event("Failed", "redis-0", "rpc error: not found")];
        let d = image_pull(&f).unwrap();
        assert_eq!(d.problem, "the cluster cannot pull image example/redis:1");
        assert_eq!(d.detail, vec!["rpc error: not found"]);
        f.offline = true;
        assert!(image_pull(&f).unwrap().hint.contains("onyx images save"));
        assert_eq!(image_pull(&crashing("redis", 1)), None);
    }

    #[test]
    fn avx2_is_only_vespas_and_shows_at_most_five_lines() {
        let mut f = facts("vespa");
        f.pods = vec![pod(vec![terminated_last(
            waiting("vespa", "CrashLoopBackOff", 1),
            "Error",
            132,
        )])];
        f.logs.insert(
            "vespa".into(),
            (1..=8).map(|i| format!("line {i}")).collect(),
        );
        let d = vespa_without_avx2(&f).expect("exit 132 alone is enough");
        assert_eq!(d.detail.len(), 5, "{d}");
        assert_eq!(d.detail[4], "line 8");
        f.service = "api-server".into();
        assert_eq!(vespa_without_avx2(&f), None);
    }

    #[test]
    fn vespa_memory_check_needs_vespa_and_its_message() {
        let line = "Running the Vespa container image requires at least 4GB available memory.";
        let mut f = crashing("vespa", 1);
        assert_eq!(vespa_memory_check(&f), None);
        f.logs.insert("vespa".into(), vec![line.into()]);
        // No limit known: the node's free memory is the short half.
        let d = vespa_memory_check(&f).unwrap();
        assert!(d.problem.contains("node has less than 3 GiB"), "{d}");
        assert_eq!(d.detail, vec![line]);
        f.pods = vec![with_limit(f.pods[0].clone(), "vespa", "3000Mi")];
        assert!(
            vespa_memory_check(&f)
                .unwrap()
                .problem
                .contains("memory limit is 3000Mi")
        );
        f.service = "web-server".into();
        assert_eq!(vespa_memory_check(&f), None);
    }

    #[test]
    fn vespa_config_server_quotes_both_lines() {
        let mut f = crashing("vespa", 1);
        assert_eq!(vespa_config_server(&f), None);
        f.logs.insert(
            "vespa".into(),
            vec!["this host [x] should not run a config server".into()],
        );
        let d = vespa_config_server(&f).unwrap();
        assert_eq!(
            d.detail,
            vec!["this host [x] should not run a config server"]
        );
        f.service = "api-server".into();
        assert_eq!(vespa_config_server(&f), None);
    }

    #[test]
    fn api_pool_without_numbers_still_says_what_to_set() {
        let mut f = crashing("api-server", 1);
        assert_eq!(api_pool_under_warm_up(&f), None);
        f.logs.insert(
            "api-server".into(),
            vec!["QueuePool limit of size reached".into()],
        );
        let d = api_pool_under_warm_up(&f).unwrap();
        assert!(d.problem.contains("its database pool is smaller"), "{d}");
        assert!(d.hint.contains("POSTGRES_API_SERVER_POOL_OVERFLOW"), "{d}");
        f.service = "vespa".into();
        assert_eq!(api_pool_under_warm_up(&f), None);
    }

    #[test]
    fn pods_refused_by_other_admission_rules() {
        let mut f = facts("redis");
        f.events = vec![event("FailedCreate", "redis", "exceeded quota")];
        assert_eq!(pods_refused(&f), None, "only a forbidden pod counts");
        f.events = vec![event(
            "FailedCreate",
            "redis",
            "pods \"redis-0\" is forbidden: violates PodSecurity",
        )];
        let d = pods_refused(&f).unwrap();
        assert_eq!(d.problem, "the cluster refuses to create its pod");
        assert!(d.hint.contains("admission rules"), "{d}");
    }

    #[test]
    fn oom_from_medium_suggests_large() {
        let mut f = facts("vespa");
        f.profile = Some(ProfileName::Medium);
        f.pods = vec![pod(vec![terminated_last(
            waiting("vespa", "CrashLoopBackOff", 5),
            "OOMKilled",
            137,
        )])];
        let d = oom_killed(&f).unwrap();
        assert!(d.problem.contains("OOMKilled, 5 restarts"), "{d}");
        assert!(d.hint.contains("--profile large"), "{d}");
        assert_eq!(oom_killed(&crashing("vespa", 5)), None);
    }

    #[test]
    fn crash_loop_of_the_api_on_vespa_points_at_vespa() {
        let mut f = crashing("api-server", 2);
        f.logs.insert(
            "api-server".into(),
            vec!["could not reach Vespa at vespa-0".into()],
        );
        let d = crash_loop(&f).unwrap();
        assert_eq!(
            d.problem,
            "container api-server keeps crashing (2 restarts); its last log lines:"
        );
        assert!(d.hint.contains("onyx logs vespa"), "{d}");
        // Restarts alone count, without a CrashLoopBackOff.
        let mut f = facts("redis");
        f.pods = vec![pod(vec![waiting("redis", "ContainerCreating", 1)])];
        assert!(
            crash_loop(&f)
                .unwrap()
                .hint
                .contains("onyx logs redis --previous")
        );
        f.pods = vec![pod(vec![waiting("redis", "ContainerCreating", 0)])];
        assert_eq!(crash_loop(&f), None);
    }

    #[test]
    fn waiting_for_dependency_reads_the_last_line_and_the_workers_wait() {
        let mut f = facts("background");
        f.logs.insert(
            "wait-for-api-migrations".into(),
            vec!["waiting for the API server at api-server:8080".into()],
        );
        let d = waiting_for_dependency(&f).unwrap();
        assert_eq!(
            d.problem,
            "it is still waiting for the API server to answer"
        );
        assert!(d.hint.contains("onyx logs api-server"), "{d}");
        // The dependency answered last: nothing to say.
        f.logs.insert(
            WAIT_CONTAINER.into(),
            vec![
                "waiting for Redis at redis:6379".into(),
                "Redis is up at redis:6379".into(),
            ],
        );
        assert_eq!(waiting_for_dependency(&f), None);
    }

    #[test]
    fn readiness_failing_quotes_the_last_unhealthy_event() {
        let mut f = facts("web-server");
        assert_eq!(readiness_failing(&f), None);
        f.events = vec![
            event("Unhealthy", "web-server-1", "first"),
            event("Unhealthy", "web-server-1", "Readiness probe failed: 503"),
        ];
        let d = readiness_failing(&f).unwrap();
        assert_eq!(d.detail, vec!["Readiness probe failed: 503"]);
        assert!(d.hint.contains("onyx logs web-server"), "{d}");
    }

    #[test]
    fn not_ready_in_time_shows_each_containers_last_five_lines() {
        let mut f = facts("nginx");
        f.logs
            .insert("a".into(), (1..=7).map(|i| format!("a{i}")).collect());
        f.logs.insert("b".into(), vec!["b1".into()]);
        let d = not_ready_in_time(&f);
        assert_eq!(d.detail, vec!["a3", "a4", "a5", "a6", "a7", "b1"]);
        assert!(d.hint.contains("--timeout"), "{d}");
    }
}
