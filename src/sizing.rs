//! Which machine a profile is sized for, and the profile and indexing chosen for it: the Docker
//! engine's memory and CPUs when one answers (on macOS/Windows that is Docker's VM, which is what
//! pods get), else this host's. `up` refuses a machine too small (with the numbers and the fix);
//! `plan` and `render` only size with it.

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
