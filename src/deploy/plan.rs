//! Step 1 of `up`: the machine to size for, the profile chosen for it, and every check of the
//! input, before anything is made. When the size cannot change the choice (`--profile cluster`,
//! or a profile named with `--force`), the engine is asked in the background and only its
//! warning waits (until after the apply, [`super::apply`]). On a cluster given with `--context`
//! the engine is not asked at all: the cluster is sized once it answers ([`size_given_cluster`],
//! by what its nodes can still schedule).

use crate::docker::engine::EngineFacts;
use crate::docker::reference::validate_mirror;
use crate::error::{Error, Result};
use crate::host::HostFacts;
use crate::llm::ProviderRequest;
use crate::sizing;
use crate::stack::profile::{self, Choice, ProfileName};
use crate::ui::Printer;

use super::UpOptions;

/// What the later steps are given: the profile, the machine it was sized for, and the LLM
/// provider to configure.
pub struct Plan {
    pub host: HostFacts,
    pub choice: Choice,
    /// The engine's answer when it was not waited for (only decides a warning).
    pub deferred_sizing: Option<tokio::task::JoinHandle<Option<EngineFacts>>>,
    /// The machine the profile was sized for, when it was waited for.
    pub sizing: Option<HostFacts>,
    /// The provider `up` configures once the stack serves.
    pub llm: Option<ProviderRequest>,
}

pub fn plan(
    opts: &UpOptions,
    printer: &Printer,
    runtime: &crate::runtime::Runtime,
) -> Result<Plan> {
    // Sized exactly as `onyx render` and `onyx plan` size it. Asking the engine its size takes
    // a tenth of a second or more; when the size cannot change the choice (`--profile cluster`,
    // or a profile named with --force) that answer only decides a warning, so it is awaited
    // after the apply instead of before it (and not at all for `cluster`).
    let host = HostFacts::detect();
    let (choice, deferred_sizing, sizing) = if opts.given_cluster() {
        // A placeholder until the cluster answers: [`size_given_cluster`] chooses.
        let name = opts.profile.unwrap_or(ProfileName::Small);
        let choice = Choice {
            profile: profile::profile(name),
            automatic: opts.profile.is_none(),
            forced: false,
        };
        (choice, None, None)
    } else {
        match profile::regardless_of_size(opts.profile, opts.force) {
            Some(choice) => {
                let probe = (choice.profile.name != ProfileName::Cluster)
                    .then(|| runtime.tokio().map(|rt| rt.spawn(sizing::probe_engine())))
                    .transpose()?;
                (choice, probe, None)
            }
            None => {
                let engine = sizing::engine_facts(runtime);
                let sizing = sizing::sizing_machine(&host, engine.as_ref());
                (
                    sizing::choose_profile(opts.profile, opts.force, printer, &sizing)?,
                    None,
                    Some(sizing),
                )
            }
        }
    };
    // Indexing asked for on a machine too small for it is refused here, before anything is made;
    // the choice kept in the cluster is read once it is reachable (in the apply step).
    if opts.indexing.is_some() && !opts.force && !opts.given_cluster() {
        crate::stack::indexing::resolve(
            choice.profile,
            sizing.as_ref().map(|h| h.capacity()),
            opts.indexing,
            None,
            false,
        )?;
    }
    if let Some(m) = &opts.registry_mirror {
        validate_mirror(m).map_err(|e| {
            Error::input(
                format!("--registry-mirror {m:?}: {e}"),
                "give HOST[:PORT][/PATH], e.g. --registry-mirror mirror.example.com:5000",
            )
        })?;
    }
    if let Some(bundle) = &opts.bundle
        && !bundle.is_file()
    {
        return Err(Error::input(
            format!("bundle {} does not exist", bundle.display()),
            "write one on a machine with registry access: `onyx images pull`, then \
             `onyx images save -o FILE`",
        ));
    }

    // The LLM provider is checked before anything is applied: a missing key fails fast.
    let llm = match &opts.llm {
        Some(choice) => Some(crate::llm::provider_request(
            choice,
            &crate::llm::ollama_url(false, None),
            |k| std::env::var(k).ok(),
        )?),
        None => None,
    };
    let given_cluster = opts.given_cluster();
    if llm.is_some() && given_cluster && !opts.forward {
        return Err(Error::input(
            "configuring an LLM provider needs the UI reachable from here",
            "add --forward (a port-forward to the gateway while onyx runs)",
        ));
    }
    // The port --forward will listen on is checked before any work that needs it (the own
    // cluster's is checked before its node is made, in `cluster::own::ensure`).
    if given_cluster && opts.forward {
        crate::kube::forward::check_port(opts.port)?;
    }
    Ok(Plan {
        host,
        choice,
        deferred_sizing,
        sizing,
        llm,
    })
}

/// On a cluster given with `--context`, once it answers: what its nodes can still schedule
/// ([`sizing::cluster_room`]) is the machine the profile is sized for, said on `up`'s first line
/// with the cluster. A profile named with `--profile` is kept, with a warning when the room looks
/// too small (the cluster may autoscale, or be freed), never refused; with none named, the
/// largest that fits, or a refusal with the numbers.
pub async fn size_given_cluster(
    opts: &UpOptions,
    printer: &Printer,
    target: &crate::kube::Target,
    plan: &mut Plan,
) -> Result<()> {
    let place = format!(
        "cluster: context {} ({}) at {}, namespace {}",
        target.context,
        target.kind.label(),
        target.server,
        target.namespace
    );
    if opts.profile == Some(ProfileName::Cluster) {
        printer.info(&format!("{place}; profile cluster (named; not sized)"));
        return Ok(());
    }
    let room = match sizing::cluster_room(&target.client, &target.context, &target.namespace).await
    {
        Ok(room) => room,
        // A named profile needs no sizing: go on, saying the size was not checked.
        Err(e) if opts.profile.is_some() => {
            printer.info(&format!(
                "{place}; profile {} (named; the cluster's room was not checked: {e})",
                plan.choice.profile.name
            ));
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let r = room.room.expect("a cluster's room");
    let sized = format!(
        "sized by its free room: {} and {}m of CPU to schedule (the roomiest node {} and {}m)",
        profile::gib(r.memory_bytes),
        r.cpu_m,
        profile::gib(r.node_memory_bytes),
        r.node_cpu_m
    );
    // A named profile is the user's call on a cluster onyx can't see all of: warned, not refused.
    let force = opts.force || opts.profile.is_some();
    let choice = match profile::choose(room.capacity(), opts.profile, force) {
        Ok(c) => c,
        Err(r) => {
            return Err(Error::TooSmall {
                machine: room.source.clone(),
                profile: r.profile.to_string(),
                have: r.have,
                need: r.need,
                hint: "free room on its nodes or add one, or name a profile to deploy anyway \
                       (e.g. --profile small: its pods wait Pending until there is room)"
                    .into(),
            });
        }
    };
    let why = if choice.forced {
        "named; it looks too big for the room"
    } else if choice.automatic {
        "the largest that fits"
    } else {
        "named"
    };
    printer.info(&format!(
        "{place}; {sized}; profile {} ({why})",
        choice.profile.name
    ));
    if choice.forced
        && let Some((have, need)) = profile::shortfall_with(choice.profile, &[], room.capacity())
    {
        printer.warn(&format!(
            "{} has {have}; the {} profile asks {need}: some of its pods may stay Pending until \
             there is room",
            room.source, choice.profile.name
        ));
    }
    // Indexing asked for where it can't fit is refused here, before anything is applied (a
    // profile that looks too big for the room is not checked, as with --force).
    if opts.indexing.is_some() && !opts.force && !choice.forced {
        crate::stack::indexing::resolve(
            choice.profile,
            Some(room.capacity()),
            opts.indexing,
            None,
            false,
        )?;
    }
    plan.choice = choice;
    plan.sizing = (!choice.forced).then_some(room);
    Ok(())
}
