//! `onyx doctor`'s whole run, in the order [`crate::doctor`]'s header lists the checks: the
//! machine (step 1, here: the engine, kind's host rules for onyx's own cluster, disk, memory and
//! CPUs against the profile, AVX2, the UI port — none of which is about a cluster named with
//! `--context`: there the room its nodes have left is checked instead, [`cluster_room`]), then
//! the cluster and each service
//! ([`crate::doctor`]), then the workers where the stack runs them ([`crate::doctor_workers`]);
//! and the text report. The command (`commands/doctor.rs`) only prints it.

use std::fmt::Write as _;

use serde::Serialize;

use crate::docker::engine;
use crate::doctor::{self, Finding, Status};
use crate::host::{self, HostFacts};
use crate::settings::ClusterSettings;
use crate::stack::profile::{self, gib};

/// The JSON report (`-o json`).
#[derive(Debug, Serialize)]
pub struct Report {
    pub healthy: bool,
    pub findings: Vec<Finding>,
}

/// Every check, in order. Healthy when none failed.
pub async fn run(settings: &ClusterSettings) -> Report {
    let findings = async {
        // This machine's engine, disk and UI port say nothing about a cluster named with --context.
        let other_cluster = settings.cluster.context.is_some();
        let mut f = if other_cluster {
            Vec::new()
        } else {
            machine_checks(settings, false).await
        };
        match crate::cluster::own::target(&settings.cluster, false).await {
            Ok(target) => {
                if other_cluster {
                    f.push(cluster_room(settings, &target).await);
                }
                // Whether the installed stack runs the workers (doctor then checks them too).
                let workers = crate::kube::workers::installed_mode(&target)
                    .await
                    .is_ok_and(|m| m.runs("background"));
                let (client, ns) = (target.client, target.namespace);
                f.push(Finding::ok(
                    "kubeconfig",
                    format!("context {}, namespace {ns}", target.context),
                ));
                let cluster = doctor::cluster_checks(&client, &ns).await;
                let reachable = cluster.first().is_some_and(|c| c.status == Status::Ok);
                f.extend(cluster);
                if reachable {
                    for p in doctor::SERVICE_PROBES {
                        f.push(doctor::probe(&client, &ns, p).await);
                    }
                    // The workers, where the installed stack runs them.
                    if workers {
                        f.extend(crate::doctor_workers::checks(&client, &ns).await);
                    }
                }
            }
            Err(e) => f.push(Finding::fail(
                "kubeconfig",
                e.to_string(),
                e.hint().unwrap_or_else(|| "check your kubeconfig".into()),
            )),
        }
        f
    }
    .await;
    Report {
        healthy: findings.iter().all(|f| f.status != Status::Fail),
        findings,
    }
}

/// The room a named cluster's nodes have left against the profile (as `up` sizes it,
/// [`crate::sizing::cluster_room`]); a shortfall is a warning: `up` deploys a named profile there
/// all the same.
async fn cluster_room(settings: &ClusterSettings, target: &crate::kube::Target) -> Finding {
    const CHECK: &str = "room on the cluster";
    let room = match crate::sizing::cluster_room(&target.client, &target.context, &target.namespace)
        .await
    {
        Ok(room) => room,
        Err(e) => {
            return Finding::warn(CHECK, e.to_string(), e.hint().unwrap_or_default());
        }
    };
    let r = room.room.expect("a cluster's room");
    let free = format!(
        "{} and {}m of CPU free to schedule",
        gib(r.memory_bytes),
        r.cpu_m
    );
    match profile::choose(room.capacity(), settings.profile, false) {
        Ok(c) => Finding::ok(
            CHECK,
            format!("{free}: the {} profile fits", c.profile.name),
        ),
        Err(r) => Finding::warn(
            CHECK,
            format!("{free}; the {} profile needs {}", r.profile, r.need),
            "free room on its nodes or add one; `onyx up` deploys a named profile anyway and \
             its pods wait Pending until there is room",
        ),
    }
}

/// What kind would refuse or warn about on this engine for onyx's own cluster (kind v0.32.0
/// pkg/cluster/internal/create/create.go validateProvider): rootless without cgroup v2 or the
/// delegated controllers; cgroup v1, deprecated.
async fn own_cluster_host(engine: &engine::Engine, other_cluster: bool) -> Vec<Finding> {
    let host = match crate::cluster::host::gather(&engine.docker).await {
        Ok(h) => h,
        Err(_) => return Vec::new(),
    };
    match host.check() {
        Err(r) if other_cluster => vec![Finding::warn(
            "cgroup",
            r.message,
            format!("only needed for onyx's own cluster: {}", r.hint),
        )],
        Err(r) => vec![Finding::fail("cgroup", r.message, r.hint)],
        Ok(w) if w.is_empty() => vec![Finding::ok(
            "cgroup",
            if host.cgroup_version.is_empty() {
                "the engine doesn't say which cgroup version".to_string()
            } else {
                format!("cgroup v{}", host.cgroup_version)
            },
        )],
        Ok(w) => w
            .into_iter()
            .map(|w| {
                Finding::warn(
                    "cgroup",
                    w,
                    "boot the host with cgroup v2 (systemd.unified_cgroup_hierarchy=1)",
                )
            })
            .collect(),
    }
}

async fn machine_checks(settings: &ClusterSettings, other_cluster: bool) -> Vec<Finding> {
    let mut f = Vec::new();
    let host = HostFacts::detect();
    let engine = engine::detect().await;
    let sizing = match &engine {
        Ok((engine, facts)) => {
            f.push(Finding::ok(
                "docker",
                format!("Docker {} at {}", facts.server_version, facts.endpoint),
            ));
            f.extend(own_cluster_host(engine, other_cluster).await);
            let local = cfg!(target_os = "linux") && facts.endpoint.starts_with("unix://");
            f.push(match host::check_engine_disk(&facts.root_dir, local, 0) {
                Ok(host::Check::Ok) => {
                    Finding::ok("disk", format!("enough free space at {}", facts.root_dir))
                }
                Ok(host::Check::Warn(w)) => Finding::warn(
                    "disk",
                    w,
                    "free disk space (the images take ~15 GiB, Vespa blocks writes at ~85% full)",
                ),
                Err(e) => Finding::fail("disk", e.to_string(), e.hint().unwrap_or_default()),
            });
            crate::sizing::sizing_machine(&host, Some(facts))
        }
        Err(e) => {
            let fix = e.hint().unwrap_or_else(|| "start Docker".into());
            f.push(if other_cluster {
                Finding::warn(
                    "docker",
                    format!("no engine: {e}"),
                    "only needed for onyx's own cluster",
                )
            } else {
                Finding::fail("docker", "no Docker engine answers", fix)
            });
            host.clone()
        }
    };
    f.push(
        match profile::choose(sizing.capacity(), settings.profile, false) {
            Ok(c) => Finding::ok(
                "memory and CPUs",
                format!(
                    "{}: {} and {} fit the {} profile",
                    sizing.source,
                    gib(sizing.memory_bytes),
                    crate::ui::plural(sizing.cpus, "CPU", "CPUs"),
                    c.profile.name
                ),
            ),
            Err(r) => Finding::fail(
                "memory and CPUs",
                format!(
                    "{} has {}, the {} profile needs {}",
                    sizing.source, r.have, r.profile, r.need
                ),
                r.hint,
            ),
        },
    );
    f.push(match host::check_avx2(host.avx2) {
        host::Check::Ok => Finding::ok(
            "AVX2",
            if host.avx2.is_some() {
                "present"
            } else {
                "not needed on this CPU"
            },
        ),
        host::Check::Warn(w) => Finding::warn("AVX2", w, "use Vespa's generic image"),
    });
    f.push(match host::check_port_free(settings.port) {
        Ok(()) => Finding::ok("UI port", format!("127.0.0.1:{} is free", settings.port)),
        Err(_) => Finding::warn(
            "UI port",
            format!("127.0.0.1:{} is in use", settings.port),
            "fine if onyx's own cluster serves the UI there; else pick another with --port",
        ),
    });
    f
}

/// The human report: one line per check, its fix below, then the counts.
pub fn text(findings: &[Finding]) -> String {
    let mut s = String::new();
    for f in findings {
        let mark = match f.status {
            Status::Ok => "ok  ",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        };
        let _ = writeln!(s, "{mark}  {:<28} {}", f.check, f.detail);
        if let Some(fix) = &f.fix {
            let _ = writeln!(s, "      {:<28} fix: {fix}", "");
        }
    }
    let fails = findings.iter().filter(|f| f.status == Status::Fail).count();
    let warns = findings.iter().filter(|f| f.status == Status::Warn).count();
    let _ = write!(
        s,
        "{fails} failed, {}, {}",
        crate::ui::plural(warns as u64, "warning", "warnings"),
        crate::ui::plural(findings.len() as u64, "check", "checks")
    );
    s
}
