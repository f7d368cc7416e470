//! `onyx plan`: the host facts, the profile chosen for them, and what each service would get.
//! It renders the stack and reads the numbers back from the objects, so it shows what is applied.
//!
//! When a Docker engine answers, the profile is sized to the engine's memory and CPUs (on macOS and
//! Windows those of its VM, which is what the stack's pods get), and both are shown; otherwise to
//! this host's, with a note. `--memory`/`--cpus` plan for another machine and skip the engine.

use std::process::ExitCode;

use crate::cli::{DataFormat, PlanArgs};
use crate::error::{Error, Result};
use crate::host::HostFacts;
use crate::runtime::Runtime;
use crate::settings::StackSettings;
use crate::stack::plan;
use crate::stack::profile;
use crate::stack::render::{self, RenderOptions};
use crate::ui::Printer;

pub fn run(
    settings: &StackSettings,
    printer: &Printer,
    runtime: &Runtime,
    args: &PlanArgs,
) -> Result<ExitCode> {
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
    let engine = if given {
        None
    } else {
        crate::sizing::engine_facts(runtime)
    };
    let sizing = crate::sizing::sizing_machine(&host, engine.as_ref());
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
        namespace: settings.cluster.namespace.as_deref(),
        web_url: format!("http://localhost:{}", settings.port),
        credentials: None,
        gateway_node_port: None,
        indexing,
        app: render::AppOptions {
            telemetry: settings.telemetry,
            hub_offline: false,
        },
    });
    let plan = plan::build(&host, engine.as_ref(), given, &choice, indexing, &objects);
    let text = match args.output {
        DataFormat::Json => serde_json::to_string_pretty(&plan).expect("json"),
        DataFormat::Text => plan::text(&plan),
    };
    printer.data(&text)?;
    Ok(ExitCode::SUCCESS)
}
