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
//!
//! The list is the table `RULES`; each rule is a function in `rules.rs`, tested alone there,
//! and `gather.rs` is the only part that talks to the cluster.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Event, PersistentVolumeClaim, Pod};

use crate::stack::profile::ProfileName;

#[cfg(test)]
mod fixtures;
mod gather;
mod rules;

pub use gather::gather;

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

/// A rule: explains the failure from the facts, or passes (`None`) to the next one.
type Rule = fn(&Facts) -> Option<Diagnosis>;

/// The rules in the order of the header's list (the first that matches wins); rule 10, the
/// fallback, is [`rules::not_ready_in_time`].
const RULES: &[Rule] = &[
    rules::pending_claim,          // 1
    rules::unschedulable,          // 2
    rules::image_pull,             // 3
    rules::vespa_without_avx2,     // 4
    rules::vespa_memory_check,     // 5
    rules::vespa_config_server,    // 5
    rules::api_pool_under_warm_up, // 5
    rules::pods_refused,           // 5
    rules::oom_killed,             // 6
    rules::crash_loop,             // 7
    rules::waiting_for_dependency, // 8
    rules::readiness_failing,      // 9
];

/// The most specific explanation for a service that is not ready.
pub fn diagnose(f: &Facts) -> Diagnosis {
    RULES
        .iter()
        .find_map(|rule| rule(f))
        .unwrap_or_else(|| rules::not_ready_in_time(f))
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;
    use k8s_openapi::api::core::v1::{PersistentVolumeClaimStatus, PodCondition};

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
