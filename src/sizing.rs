//! Which machine a profile is sized for, and the profile and indexing chosen for it. On onyx's
//! own cluster: the Docker engine's memory and CPUs when one answers (on macOS/Windows that is
//! Docker's VM, which is what pods get), else this host's. On a cluster given with `--context`:
//! what its nodes can still schedule ([`cluster_room`]: allocatable minus the requests of the
//! pods already there, the roomiest node for the biggest pod), never the laptop's engine.
//! `up` refuses a machine too small (with the numbers and the fix) but on a given cluster a
//! named `--profile` is only warned about (the cluster may autoscale or be freed); `plan` and
//! `render` only size with it.

use crate::error::Result;
use crate::host::HostFacts;
use crate::stack::profile::{self, Choice, ProfileName};
use crate::ui::Printer;

/// The engine's facts, if one answers (quietly `None` otherwise: sizing works without Docker).
pub fn engine_facts(
    runtime: &crate::runtime::Runtime,
) -> Option<crate::docker::engine::EngineFacts> {
    runtime
        .block_on(async { Ok(probe_engine().await) })
        .ok()
        .flatten()
}

/// [`engine_facts`] on a runtime the caller already has (so it can run beside other work).
pub async fn probe_engine() -> Option<crate::docker::engine::EngineFacts> {
    match crate::docker::engine::detect().await {
        Ok((_, facts)) => Some(facts),
        Err(e) => {
            tracing::debug!("{e}");
            None
        }
    }
}

/// The machine a profile is sized for: the Docker engine's memory and CPUs when one answers (on
/// macOS/Windows that is Docker's VM, which is what pods get), else this host's.
pub fn sizing_machine(
    host: &HostFacts,
    engine: Option<&crate::docker::engine::EngineFacts>,
) -> HostFacts {
    match engine {
        Some(e) if e.memory_bytes > 0 && e.cpus > 0 => HostFacts {
            memory_bytes: e.memory_bytes,
            cpus: e.cpus,
            source: "the Docker engine".into(),
            ..host.clone()
        },
        _ => host.clone(),
    }
}

/// What a given cluster can still schedule, as the machine to size for: per schedulable node
/// (not cordoned, no `NoSchedule`/`NoExecute` taint the stack would have to tolerate), its
/// allocatable minus the requests of the pods bound to it that have not finished — except the
/// stack's own pods in `namespace`, which a re-run replaces. The scheduler's `NodeResourcesFit`
/// counts the same (a pod's request: the larger of its containers' sum and its biggest init
/// container's).
pub async fn cluster_room(
    client: &kube::Client,
    context: &str,
    namespace: &str,
) -> Result<HostFacts> {
    use k8s_openapi::api::core::v1::{Node, Pod};
    use kube::api::{Api, ListParams};
    let nodes = Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map_err(|e| {
            crate::Error::input(
                format!("cannot list the nodes of context {context} to size the stack: {e}"),
                "give --profile to choose the profile yourself (needs no node list), or ask the \
             cluster admin for permission to list nodes and pods",
            )
        })?;
    let pods = Api::<Pod>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map_err(|e| {
            crate::Error::input(
                format!("cannot list the pods of context {context} to size the stack: {e}"),
                "give --profile to choose the profile yourself, or ask the cluster admin for \
             permission to list pods",
            )
        })?;
    let mut free: Vec<(String, i64, i64)> = Vec::new();
    let mut arch = String::new();
    for n in &nodes.items {
        let spec = n.spec.as_ref();
        let cordoned = spec.and_then(|s| s.unschedulable).unwrap_or(false);
        let tainted = spec.and_then(|s| s.taints.as_ref()).is_some_and(|t| {
            t.iter()
                .any(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        });
        if cordoned || tainted {
            continue;
        }
        let status = n.status.as_ref();
        let alloc = status.and_then(|s| s.allocatable.as_ref());
        let q = |k: &str| {
            alloc
                .and_then(|a| a.get(k))
                .map(|q| q.0.clone())
                .unwrap_or_default()
        };
        if arch.is_empty() {
            arch = status
                .and_then(|s| s.node_info.as_ref())
                .map(|i| i.architecture.clone())
                .unwrap_or_default();
        }
        free.push((
            n.metadata.name.clone().unwrap_or_default(),
            cpu_m(&q("cpu")),
            bytes(&q("memory")),
        ));
    }
    for p in &pods.items {
        let Some(node) = p.spec.as_ref().and_then(|s| s.node_name.as_deref()) else {
            continue;
        };
        let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
        if matches!(phase, Some("Succeeded" | "Failed")) {
            continue;
        }
        let ours = p.metadata.namespace.as_deref() == Some(namespace)
            && p.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("app.kubernetes.io/part-of"))
                .is_some_and(|v| v == "onyx");
        if ours {
            continue;
        }
        let (c, m) = pod_requests(p);
        if let Some(f) = free.iter_mut().find(|f| f.0 == node) {
            f.1 -= c;
            f.2 -= m;
        }
    }
    let room = crate::stack::profile::Room {
        cpu_m: free.iter().map(|f| f.1.max(0) as u64).sum(),
        memory_bytes: free.iter().map(|f| f.2.max(0) as u64).sum(),
        node_cpu_m: free.iter().map(|f| f.1.max(0) as u64).max().unwrap_or(0),
        node_memory_bytes: free.iter().map(|f| f.2.max(0) as u64).max().unwrap_or(0),
    };
    Ok(HostFacts {
        os: "linux".into(),
        arch,
        memory_bytes: room.memory_bytes,
        cpus: (room.cpu_m / 1000) as u32,
        avx2: None,
        source: format!("the cluster of context {context}"),
        room: Some(room),
    })
}

/// A pod's requests (CPU millicores, memory bytes) as the scheduler counts them.
fn pod_requests(p: &k8s_openapi::api::core::v1::Pod) -> (i64, i64) {
    let Some(spec) = p.spec.as_ref() else {
        return (0, 0);
    };
    let req = |c: &k8s_openapi::api::core::v1::Container| {
        let r = c.resources.as_ref().and_then(|r| r.requests.as_ref());
        let q = |k: &str| {
            r.and_then(|r| r.get(k))
                .map(|q| q.0.clone())
                .unwrap_or_default()
        };
        (cpu_m(&q("cpu")), bytes(&q("memory")))
    };
    let main = spec
        .containers
        .iter()
        .map(req)
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    let init = spec
        .init_containers
        .iter()
        .flatten()
        .map(req)
        .fold((0, 0), |a, b| (a.0.max(b.0), a.1.max(b.1)));
    (main.0.max(init.0), main.1.max(init.1))
}

/// A CPU quantity in millicores ("250m", "2", "1.5"); 0 when absent or unreadable.
fn cpu_m(q: &str) -> i64 {
    match q.strip_suffix('m') {
        Some(m) => m.parse().unwrap_or(0),
        None => q
            .parse::<f64>()
            .map(|c| (c * 1000.0).round() as i64)
            .unwrap_or(0),
    }
}

/// A memory quantity in bytes ("4Gi", "512Mi", "1G", "1073741824"); 0 when absent or unreadable.
pub fn bytes(q: &str) -> i64 {
    const UNITS: [(&str, f64); 8] = [
        ("Ki", 1024.0),
        ("Mi", 1048576.0),
        ("Gi", 1073741824.0),
        ("Ti", 1099511627776.0),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
    ];
    let (num, factor) = UNITS
        .iter()
        .find_map(|(u, f)| q.strip_suffix(u).map(|n| (n, *f)))
        .unwrap_or((q, 1.0));
    num.parse::<f64>().map(|n| (n * factor) as i64).unwrap_or(0)
}

/// The profile for this machine, per the settings; warns when forced. A refusal names the
/// machine it is about (this one, the Docker engine's VM, or the one given to `plan`) and what is
/// short (memory, CPUs or both), with the fix for that.
pub fn choose_profile(
    requested: Option<ProfileName>,
    force: bool,
    printer: &Printer,
    host: &HostFacts,
) -> Result<Choice> {
    let choice = profile::choose(host.capacity(), requested, force)
        .map_err(|r| refusal(host, requested, r))?;
    if choice.forced {
        printer.warn(&format!(
            "{} has {} and {}; the {} profile wants at least {} and {}: \
             services may be slow or killed for lack of memory",
            host.source,
            profile::gib(host.memory_bytes),
            crate::ui::plural(host.cpus, "CPU", "CPUs"),
            choice.profile.name,
            profile::gib(choice.profile.min_memory_bytes),
            crate::ui::plural(choice.profile.min_cpus, "CPU", "CPUs"),
        ));
    }
    Ok(choice)
}

/// The indexing for a chosen profile ([`crate::stack::indexing::resolve`]): the flag over the
/// choice kept in the cluster over the profile's default, checked against the machine unless the
/// profile was chosen regardless of its size (`cluster`, or `--force`). Warns when the default
/// can't be had here.
pub fn resolve_indexing(
    force: bool,
    printer: &Printer,
    choice: &Choice,
    sizing: Option<&HostFacts>,
    asked: Option<crate::stack::indexing::Switch>,
    kept: Option<crate::stack::indexing::Switch>,
) -> Result<crate::stack::indexing::Indexing> {
    let regardless = choice.profile.name == ProfileName::Cluster || force;
    let capacity = sizing.filter(|_| !regardless).map(|h| h.capacity());
    let resolved = crate::stack::indexing::resolve(choice.profile, capacity, asked, kept, force)?;
    if let Some(w) = &resolved.warning {
        printer.warn(w);
    }
    Ok(resolved.indexing)
}

fn refusal(host: &HostFacts, requested: Option<ProfileName>, r: profile::Refusal) -> crate::Error {
    let given = host.source == "the given machine";
    let machine = match host.source.as_str() {
        "this host" => "this machine".to_string(),
        other => other.to_string(),
    };
    let p = profile::profile(r.profile);
    let memory_short = host.memory_bytes < p.min_memory_bytes;
    let cpus_short = host.cpus < p.min_cpus;
    let what = match (memory_short, cpus_short) {
        (true, true) => "memory and CPUs",
        (false, true) => "CPUs",
        _ => "memory",
    };
    let hint = match requested {
        // A smaller profile fits: the hint says which (rewritten for the machine meant).
        Some(_) if r.hint.starts_with("use --profile") => r.hint.replace("this machine", &machine),
        _ => {
            let then = match requested {
                Some(name) => format!("or --force to try {name} anyway"),
                None => "or pass --force to try the small profile anyway".into(),
            };
            if given {
                format!(
                    "plan for a machine with at least {} and {}, {then}",
                    profile::gib(p.min_memory_bytes),
                    crate::ui::plural(p.min_cpus, "CPU", "CPUs"),
                )
            } else if memory_short {
                format!(
                    "close other programs or give Docker's VM more {what} (Docker Desktop: \
                     Settings > Resources), {then}"
                )
            } else {
                format!("give Docker's VM more CPUs (Docker Desktop: Settings > Resources), {then}")
            }
        }
    };
    crate::Error::TooSmall {
        machine,
        profile: r.profile.to_string(),
        have: r.have,
        need: r.need,
        hint,
    }
}
