//! What `onyx plan` shows: the machine's facts, the profile chosen for them and why, what it asks
//! of the machine, and what each service would get, read back from the rendered objects (so it
//! shows what is applied).

use std::fmt::Write as _;

use serde::Serialize;

use crate::docker::engine::EngineFacts;
use crate::host::HostFacts;
use crate::stack::profile::{self, Choice, Profile};
use crate::stack::summary::{self, ServiceSummary, Totals};

#[derive(Serialize)]
pub struct Needs {
    pub memory_bytes: u64,
    /// The services' requests, plus `reserve_bytes` for Kubernetes itself, rounded up to half a
    /// GiB, make `memory_bytes`.
    pub requests_bytes: u64,
    pub reserve_bytes: u64,
    pub cpus: u32,
}

#[derive(Serialize)]
pub struct Plan<'a> {
    pub host: &'a HostFacts,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<&'a EngineFacts>,
    /// What the profile was sized to: `host`, `engine` or `given`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sized_for: Option<&'static str>,
    pub profile: &'a str,
    pub reason: String,
    /// What the profile asks of the machine.
    pub needs: Needs,
    /// off | shared | dedicated, and what it means.
    pub indexing: IndexingPlan,
    pub services: Vec<ServiceSummary>,
    pub totals: Totals,
}

/// The plan of a rendered stack for a machine: the facts, the profile and why, what it needs,
/// and each service's share read back from the objects.
pub fn build<'a>(
    host: &'a HostFacts,
    engine: Option<&'a EngineFacts>,
    given: bool,
    choice: &Choice,
    indexing: crate::stack::indexing::Indexing,
    objects: &[crate::stack::render::Rendered],
) -> Plan<'a> {
    let (services, totals) = summary::summarize(objects);
    Plan {
        host,
        engine,
        sized_for: (!given).then_some(if engine.is_some() { "engine" } else { "host" }),
        profile: choice.profile.name.as_str(),
        reason: reason(choice),
        needs: Needs {
            memory_bytes: choice.profile.min_memory_bytes,
            requests_bytes: profile::mib_to_bytes(
                profile::totals(choice.profile).memory_request_mib,
            ),
            reserve_bytes: profile::mib_to_bytes(profile::CLUSTER_RESERVE_MIB),
            cpus: choice.profile.min_cpus,
        },
        indexing: IndexingPlan {
            mode: indexing.mode,
            floor_bytes: crate::stack::indexing::floor_bytes(choice.profile, indexing.mode),
            detail: indexing_detail(choice, indexing.mode),
        },
        services,
        totals,
    }
}

#[derive(Serialize)]
pub struct IndexingPlan {
    pub mode: crate::stack::indexing::Mode,
    /// The memory the machine needs for this profile with this indexing.
    pub floor_bytes: u64,
    pub detail: String,
}

fn indexing_detail(choice: &Choice, mode: crate::stack::indexing::Mode) -> String {
    use crate::stack::indexing::{self, Mode};
    let mut d = mode.describe().to_string();
    if mode == Mode::Off && choice.profile.name == profile::ProfileName::Small {
        d = format!("{d}. {}", indexing::small_note());
    }
    d
}

fn reason(choice: &Choice) -> String {
    if choice.forced {
        return "the machine looks too small for it: `onyx up` would refuse it without --force"
            .into();
    }
    if !choice.automatic {
        return "as asked".into();
    }
    let next = Profile::host_profiles()
        .into_iter()
        .find(|p| p.name > choice.profile.name);
    match next {
        Some(p) => format!(
            "the largest that fits; {} needs {} and {}",
            p.name,
            profile::gib(p.min_memory_bytes),
            crate::ui::plural(p.min_cpus, "CPU", "CPUs")
        ),
        None => "the largest profile".into(),
    }
}

/// The plan as `onyx plan` prints it.
pub fn text(plan: &Plan) -> String {
    let h = plan.host;
    let avx2 = match h.avx2 {
        Some(true) => ", AVX2",
        Some(false) => ", no AVX2 (Vespa needs the generic image)",
        None => "",
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Host ({}): {} memory, {}, {}/{}{avx2}",
        h.source,
        profile::gib(h.memory_bytes),
        crate::ui::plural(h.cpus, "CPU", "CPUs"),
        h.os,
        h.arch
    );
    if let Some(e) = plan.engine {
        let cgroup = if e.cgroup_version.is_empty() {
            String::new()
        } else {
            format!(", cgroup v{}", e.cgroup_version)
        };
        let rootless = if e.rootless { ", rootless" } else { "" };
        let store = if e.containerd_image_store {
            ", containerd image store"
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "Docker engine ({}, {} API {}): {} memory, {}{cgroup}, {}{rootless}{store}",
            e.endpoint,
            e.server_version,
            e.api_version,
            profile::gib(e.memory_bytes),
            crate::ui::plural(e.cpus as u64, "CPU", "CPUs"),
            e.storage_driver,
        );
        if e.cgroup_version == "1" {
            let _ = writeln!(s, "  note: {}", crate::cluster::host::CGROUP_V1_DEPRECATED);
        }
    }
    match plan.sized_for {
        Some("engine") => {
            let _ = writeln!(
                s,
                "Sized for: the Docker engine (what the stack's pods get)"
            );
        }
        Some(_) => {
            let _ = writeln!(s, "Sized for: this host (no Docker engine answered)");
        }
        None => {}
    }
    let _ = writeln!(s, "Profile: {} ({})", plan.profile, plan.reason);
    let n = &plan.needs;
    let _ = writeln!(
        s,
        "Needs: {} of memory ({} requested by the services + {} for Kubernetes itself, rounded \
         up to half a GiB), {} CPUs",
        profile::gib(n.memory_bytes),
        profile::gib(n.requests_bytes),
        profile::gib(n.reserve_bytes),
        n.cpus
    );
    let _ = writeln!(
        s,
        "Indexing: {} (machine needs {})",
        plan.indexing.detail,
        profile::gib(plan.indexing.floor_bytes)
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "{:<24} {:<12} {:>8}  {:<15} {:<17} STORAGE",
        "SERVICE", "KIND", "REPLICAS", "CPU REQ/LIMIT", "MEMORY REQ/LIMIT"
    );
    for r in &plan.services {
        let storage = if r.storage.is_empty() {
            "-".to_string()
        } else {
            r.storage.join(", ")
        };
        let _ = writeln!(
            s,
            "{:<24} {:<12} {:>8}  {:<15} {:<17} {}",
            r.service,
            r.kind,
            r.replicas,
            format!("{}m/{}m", r.cpu_request_m, r.cpu_limit_m),
            format!("{}Mi/{}Mi", r.memory_request_mib, r.memory_limit_mib),
            storage
        );
    }
    let t = &plan.totals;
    let _ = writeln!(
        s,
        "{:<24} {:<12} {:>8}  {:<15} {:<17} {}Gi",
        "TOTAL",
        "",
        "",
        format!("{}m/{}m", t.cpu_request_m, t.cpu_limit_m),
        format!("{}Mi/{}Mi", t.memory_request_mib, t.memory_limit_mib),
        t.storage_gib
    );
    let _ = write!(
        s,
        "Memory: {:.1} GiB requested, {:.1} GiB at most (limits).",
        t.memory_request_mib as f64 / 1024.0,
        t.memory_limit_mib as f64 / 1024.0
    );
    s
}
