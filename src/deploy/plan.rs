//! Step 1 of `up`: the machine to size for, the profile chosen for it, and every check of the
//! input, before anything is made. When the size cannot change the choice (`--profile cluster`,
//! or a profile named with `--force`), the engine is asked in the background and only its
//! warning waits (until after the apply, [`super::apply`]).

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
    let (choice, deferred_sizing, sizing) =
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
        };
    // Indexing asked for on a machine too small for it is refused here, before anything is made;
    // the choice kept in the cluster is read once it is reachable (in the apply step).
    if opts.indexing.is_some() && !opts.force {
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
