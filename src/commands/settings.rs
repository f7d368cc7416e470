//! Each command's settings, resolved once from its parsed flags (uv
//! `crates/uv/src/settings.rs`: `*Settings::resolve(args, config)`). The flag structs of
//! [`crate::cli`] go in, the library values of [`crate::settings`] come out: the layering
//! (flag > `ONYX_*` > config file > default) is [`GlobalSettings`]'s, the mapping of flags to
//! library choices (the LLM flags → [`LlmChoice`]) is here. Commands then take their
//! `*Settings`, never the flags those came from; only presentation flags (`-o`, `--yes`,
//! `--follow`) are read from the args where they are used.
//!
//! Not a command, so not held to the ~150 lines of the command files beside it: it is every
//! command's resolver in one place, which is what keeps each of those files thin.

use crate::cli::{
    ClusterArgs, ClusterCreateArgs, Command, DoctorArgs, GlobalArgs, LlmArgs, OpenArgs, PlanArgs,
    RenderArgs, StatusArgs, UpArgs,
};
use crate::deploy::UpOptions;
use crate::error::Result;
use crate::llm::LlmChoice;
use crate::settings::{
    ClusterSettings, CommandSettings, GlobalFlags, GlobalSettings, StackSettings, UpSettings,
};
use crate::stack::indexing::Switch;
use crate::ui::Invocation;

impl GlobalSettings {
    /// The global flags (`-v`, `-q`, `--no-color`, `--config`), with `NO_COLOR` and the config
    /// file ([`GlobalSettings::resolve`]).
    pub fn from_args(args: &GlobalArgs) -> Result<GlobalSettings> {
        GlobalSettings::resolve(&GlobalFlags {
            verbose: args.verbose,
            quiet: args.quiet,
            no_color: args.no_color,
            config: args.config.clone(),
        })
    }
}

/// The cluster flags a run's printer repeats in the onyx commands its hints name.
pub fn invocation(settings: &impl CommandSettings) -> Invocation {
    let c = settings.cluster();
    Invocation {
        context: c.context.clone(),
        kubeconfig: c.kubeconfig.clone(),
        namespace: c.namespace.clone(),
    }
}

impl UpSettings {
    pub fn resolve(args: &UpArgs, global: &GlobalSettings) -> Result<UpSettings> {
        let target = &args.cluster;
        Ok(UpSettings {
            deploy: UpOptions {
                profile: global.profile(args.stack.profile),
                force: args.stack.force,
                indexing: args.stack.indexing,
                telemetry: args.stack.onyx_telemetry.map(|s| s == Switch::On),
                hub_offline: args.hub_offline.map(|s| s == Switch::On),
                port: global.port(args.stack.port)?,
                // The flags, else the config file's; never the remembered one: where `up`
                // deploys is always said, not guessed from an earlier run.
                cluster: global
                    .cluster_for(
                        target.context.clone(),
                        target.kubeconfig.clone(),
                        target.namespace.clone(),
                        false,
                    )?
                    .0,
                timeout: args.timeout,
                bundle: args.bundle.clone(),
                registry_mirror: args.registry_mirror.clone(),
                forward: args.forward,
                no_backup: args.no_backup,
                yes: args.yes,
                data_dir: args.data_dir.clone(),
                llm: llm_choice(&args.llm),
            },
            no_browser: args.no_browser,
        })
    }
}

/// The choice the LLM flags make, if any (clap allows at most one of them).
fn llm_choice(args: &LlmArgs) -> Option<LlmChoice> {
    let model = args.llm_model.clone();
    if let Some(url) = &args.llm_url {
        Some(LlmChoice::OpenAiCompatible {
            url: url.clone(),
            model,
        })
    } else if args.llm.is_some() {
        Some(LlmChoice::Ollama { model })
    } else {
        args.openai_api_key_env
            .as_ref()
            .map(|key_env| LlmChoice::OpenAi {
                key_env: key_env.clone(),
                model,
            })
    }
}

impl StackSettings {
    pub fn for_render(args: &RenderArgs, global: &GlobalSettings) -> Result<StackSettings> {
        Self::resolve(&args.stack, args.namespace.clone(), global)
    }

    pub fn for_plan(args: &PlanArgs, global: &GlobalSettings) -> Result<StackSettings> {
        Self::resolve(&args.stack, None, global)
    }

    fn resolve(
        stack: &crate::cli::StackArgs,
        namespace: Option<String>,
        global: &GlobalSettings,
    ) -> Result<StackSettings> {
        Ok(StackSettings {
            profile: global.profile(stack.profile),
            force: stack.force,
            indexing: stack.indexing,
            telemetry: stack.onyx_telemetry == Some(Switch::On),
            port: global.port(stack.port)?,
            cluster: global.cluster(None, None, namespace)?,
        })
    }
}

impl ClusterSettings {
    /// A day-2 command's cluster flags (`logs`, `restart`, `down`, `destroy`, `backup`,
    /// `restore`); the port is the config file's or the default.
    pub fn resolve(args: &ClusterArgs, global: &GlobalSettings) -> Result<ClusterSettings> {
        Self::with_port(Some(args), None, global)
    }

    pub fn for_status(args: &StatusArgs, global: &GlobalSettings) -> Result<ClusterSettings> {
        Self::with_port(Some(&args.cluster), args.port, global)
    }

    pub fn for_doctor(args: &DoctorArgs, global: &GlobalSettings) -> Result<ClusterSettings> {
        Self::with_port(Some(&args.cluster), args.port, global)
    }

    /// `open` names no cluster: onyx's own, or the port given.
    pub fn for_open(args: &OpenArgs, global: &GlobalSettings) -> Result<ClusterSettings> {
        Self::with_port(None, args.port, global)
    }

    /// `cluster create`: the UI port its node maps.
    pub fn for_create(
        args: &ClusterCreateArgs,
        global: &GlobalSettings,
    ) -> Result<ClusterSettings> {
        Self::with_port(None, args.port, global)
    }

    fn with_port(
        cluster: Option<&ClusterArgs>,
        port: Option<u16>,
        global: &GlobalSettings,
    ) -> Result<ClusterSettings> {
        // The day-2 commands find the cluster the last `up` deployed to ([`GlobalSettings::
        // cluster_for`]); `open` and `cluster create` are about onyx's own.
        let (cluster, source) = match cluster {
            Some(c) => global.cluster_for(
                c.context.clone(),
                c.kubeconfig.clone(),
                c.namespace.clone(),
                true,
            )?,
            None => (
                crate::settings::NO_CLUSTER,
                crate::settings::ClusterSource::Own,
            ),
        };
        Ok(ClusterSettings {
            cluster,
            port: global.port(port)?,
            profile: global.profile(None),
            source,
        })
    }
}

/// The commands that start the daily update check beside their work (every one but those whose
/// output is a file for a tool, and `self update`, which checks by itself).
pub fn checks_for_updates(command: &Command) -> bool {
    match command {
        Command::Completions(_) | Command::Man => false,
        #[cfg(feature = "self-update")]
        Command::SelfCmd(_) => false,
        _ => true,
    }
}

/// A service of the stack by name, or a usage error listing them.
pub fn service_named(name: &str) -> Result<&'static crate::stack::catalog::Service> {
    crate::stack::catalog::service(name).ok_or_else(|| {
        let names: Vec<&str> = crate::stack::catalog::all_services()
            .map(|s| s.name)
            .collect();
        crate::error::Error::input(
            format!("there is no service {name:?}"),
            format!("the services are: {}", names.join(", ")),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn up(argv: &[&str]) -> UpSettings {
        let cli = crate::cli::Cli::try_parse_from(argv).unwrap();
        let crate::cli::Command::Up(args) = cli.command else {
            panic!("not up")
        };
        let global =
            GlobalSettings::resolve_with(&crate::settings::GlobalFlags::default(), false, None)
                .unwrap();
        UpSettings::resolve(&args, &global).unwrap()
    }

    #[test]
    fn up_settings_carry_every_choice_resolved() {
        let s = up(&[
            "onyx",
            "up",
            "--profile",
            "small",
            "--force",
            "--port",
            "4000",
            "--context",
            "c",
            "-n",
            "ns",
            "--timeout",
            "90s",
            "--registry-mirror",
            "m:5000",
            "--llm",
            "ollama",
            "--llm-model",
            "llama3",
            "--no-browser",
        ]);
        let d = &s.deploy;
        assert_eq!(d.profile, Some(crate::stack::profile::ProfileName::Small));
        assert!(d.force && s.no_browser);
        assert_eq!(d.port, 4000);
        assert_eq!(d.cluster.context.as_deref(), Some("c"));
        assert_eq!(d.cluster.namespace.as_deref(), Some("ns"));
        assert_eq!(d.timeout, std::time::Duration::from_secs(90));
        assert_eq!(d.registry_mirror.as_deref(), Some("m:5000"));
        assert_eq!(
            d.llm,
            Some(LlmChoice::Ollama {
                model: Some("llama3".into())
            })
        );
        let plain = up(&["onyx", "up"]);
        assert_eq!(plain.deploy.port, crate::settings::DEFAULT_PORT);
        assert_eq!(plain.deploy.llm, None);
        assert!(!plain.deploy.given_cluster());
    }
}
