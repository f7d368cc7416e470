//! `onyx plan`: the host facts, the profile chosen for them, and what each service would get.
//! It renders the stack and reads the numbers back from the objects, so it shows what is applied.
//!
//! When a Docker engine answers, the profile is sized to the engine's memory and CPUs (on macOS and
//! Windows those of its VM, which is what the stack's pods get), and both are shown; otherwise to
//! this host's, with a note. `--memory`/`--cpus` plan for another machine and skip the engine.

use std::fmt::Write as _;
use std::process::ExitCode;

use serde::Serialize;

use crate::cli::{DataFormat, PlanArgs};
use crate::docker::engine::EngineFacts;
use crate::error::{Error, Result};
use crate::host::HostFacts;
use crate::settings::Settings;
use crate::stack::profile::{self, Choice, Profile};
use crate::stack::render::{self, RenderOptions};
use crate::stack::summary::{self, ServiceSummary, Totals};
use crate::ui::Printer;

#[derive(Serialize)]
struct Needs {
    memory_bytes: u64,
    /// The services' requests, plus `reserve_bytes` for Kubernetes itself, rounded up to half a
    /// GiB, make `memory_bytes`.
    requests_bytes: u64,
    reserve_bytes: u64,
    cpus: u32,
}

#[derive(Serialize)]
struct Plan<'a> {
    host: &'a HostFacts,
    #[serde(skip_serializing_if = "Option::is_none")]
    engine: Option<&'a EngineFacts>,
    /// What the profile was sized to: `host`, `engine` or `given`.
    #[serde(skip_serializing_if = "Option::is_none")]
    sized_for: Option<&'static str>,
    profile: &'a str,
    reason: String,
    /// What the profile asks of the machine.
    needs: Needs,
    /// off | shared | dedicated, and what it means.
    indexing: IndexingPlan,
    services: Vec<ServiceSummary>,
    totals: Totals,
}

pub fn run(settings: &Settings, printer: &Printer, args: &PlanArgs) -> Result<ExitCode> {
    let mut host = HostFacts::detect();
    if let Some(m) = &args.memory {
        host.memory_bytes = profile::parse_size(m).ok_or_else(|| {
            Error::input(
                format!("--memory {m:?} is not a size"),
                "write it like 8GiB, 16G or 6144MiB",
            )
        })?;
        host.source = "the given machine".into();
    }
    if let Some(c) = args.cpus {
        if c == 0 {
            return Err(Error::input("--cpus 0 is not a machine", "give 1 or more"));
        }
        host.cpus = c;
        host.source = "the given machine".into();
    }
    let given = args.memory.is_some() || args.cpus.is_some();
    let engine = if given { None } else { super::engine_facts() };
    let sizing = super::sizing_machine(&host, engine.as_ref());
    // The text output says it itself; JSON readers get `sized_for` and this note on stderr.
    if !given && engine.is_none() && args.output == DataFormat::Json {
        printer.info("no Docker engine answered: sized for this host's memory and CPUs");
    }
    // Never refused for this machine's size: plan may be for another one (only `up` refuses).
    let (choice, refusal) = profile::choose_for_output(sizing.capacity(), settings.profile);
    if let Some(r) = &refusal {
        printer.warn(&format!(
            "{} has {}; the {} profile needs {}: `onyx up` would refuse it here (--force tries anyway)",
            sizing.source, r.have, choice.profile.name, r.need
        ));
    }
    // Like the profile, indexing asked for here is never refused for this machine: warned.
    let capacity = (choice.profile.name != profile::ProfileName::Cluster && !settings.force)
        .then(|| sizing.capacity());
    let indexing = match crate::stack::indexing::resolve(
        choice.profile,
        capacity,
        args.stack.indexing,
        None,
        true,
    ) {
        Ok(r) => {
            if let Some(w) = &r.warning {
                printer.warn(w);
            }
            r.indexing
        }
        Err(_) => unreachable!("forced resolution never refuses"),
    };
    let objects = render::render(&RenderOptions {
        profile: choice.profile,
        namespace: settings.namespace.as_deref(),
        web_url: format!("http://localhost:{}", settings.port),
        credentials: None,
        gateway_node_port: None,
        indexing,
    });
    let (services, totals) = summary::summarize(&objects);
    let plan = Plan {
        host: &host,
        engine: engine.as_ref(),
        sized_for: (!given).then_some(if engine.is_some() { "engine" } else { "host" }),
        profile: choice.profile.name.as_str(),
        reason: reason(&choice),
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
            detail: indexing_detail(&choice, indexing.mode),
        },
        services,
        totals,
    };
    let text = match args.output {
        DataFormat::Json => serde_json::to_string_pretty(&plan).expect("json"),
        DataFormat::Text => text(&plan),
    };
    printer.data(&text)?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct IndexingPlan {
    mode: crate::stack::indexing::Mode,
    /// The memory the machine needs for this profile with this indexing.
    floor_bytes: u64,
    detail: String,
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

fn text(plan: &Plan) -> String {
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
