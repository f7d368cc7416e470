//! One module per subcommand. Each takes the resolved [`Settings`] and its own arguments and
//! returns an exit status; none of them parses flags or reads the environment itself.

pub mod backup;
pub mod cluster;
pub mod completions;
pub mod destroy;
pub mod doctor;
pub mod down;
pub mod images;
pub mod logs;
pub mod man;
pub mod open;
pub mod plan;
pub mod render;
pub mod restart;
#[cfg(feature = "self-update")]
pub mod self_update;
pub mod status;
pub mod up;
pub mod version;

use std::io::IsTerminal;
use std::process::ExitCode;

#[cfg(feature = "self-update")]
use crate::cli::SelfCommand;
use crate::cli::{Cli, ClusterArgs, ClusterCommand, Command, ImagesCommand, StackArgs, TargetArgs};
use crate::error::Result;
use crate::settings::{Given, Settings, Verbosity};
use crate::ui::Printer;
use crate::update::{self, Notice};

pub use crate::runtime::{runtime, until_interrupted};
pub use crate::sizing::{engine_facts, probe_engine, sizing_machine};

/// Run the command and turn the outcome into the exit status, printing an error with its hint
/// (through the run's [`Printer`], so the hint's commands carry the user's cluster flags). A
/// closed stdout (`onyx render | head`) is not a failure.
pub fn main(cli: Cli, color_allowed: bool) -> ExitCode {
    let (result, printer) = run(cli);
    match result {
        Ok(code) => code,
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            let printer = printer.unwrap_or_else(|| Printer::plain(color_allowed));
            printer.error(&e.to_string(), e.hint().as_deref());
            e.exit_code()
        }
    }
}

/// The commands that start the daily update check beside their work (every one but those whose
/// output is a file for a tool, and `self update`, which checks by itself).
fn checks_for_updates(command: &Command) -> bool {
    match command {
        Command::Completions(_) | Command::Man => false,
        #[cfg(feature = "self-update")]
        Command::SelfCmd(_) => false,
        _ => true,
    }
}

/// Resolve settings and run the command; the printer is `None` when the settings could not be
/// resolved.
pub fn run(cli: Cli) -> (Result<ExitCode>, Option<Printer>) {
    let given = match &cli.command {
        Command::Render(a) => given(&a.stack, a.namespace.clone()),
        Command::Plan(a) => given(&a.stack, None),
        Command::Doctor(a) => with_cluster(
            Given {
                port: a.port,
                ..Given::default()
            },
            &a.cluster,
        ),
        Command::Backup(a) => with_cluster(Given::default(), &a.cluster),
        Command::Restore(a) => with_cluster(Given::default(), &a.cluster),
        Command::Open(a) => Given {
            port: a.port,
            ..Given::default()
        },
        Command::Cluster(ClusterCommand::Create(a)) => Given {
            port: a.port,
            ..Given::default()
        },
        Command::Up(a) => with_target(given(&a.stack, None), &a.cluster),
        Command::Status(a) => with_cluster(
            Given {
                port: a.port,
                ..Given::default()
            },
            &a.cluster,
        ),
        Command::Logs(a) => with_cluster(Given::default(), &a.cluster),
        Command::Restart(a) => with_cluster(Given::default(), &a.cluster),
        Command::Down(a) => with_cluster(Given::default(), &a.cluster),
        Command::Destroy(a) => with_cluster(Given::default(), &a.cluster),
        _ => Given::default(),
    };
    let settings = match Settings::resolve(&cli.global, given) {
        Ok(s) => s,
        Err(e) => return (Err(e), None),
    };
    let printer = Printer::new(&settings);
    tracing::debug!(?settings, "resolved settings");
    // The daily "new version" notice: checked in the background beside the command, shown at the
    // end when the answer is in by then (never waited for).
    let notice = if checks_for_updates(&cli.command) {
        let allowed =
            update::notice_allowed(|k| std::env::var(k).ok(), std::io::stderr().is_terminal())
                && settings.verbosity > Verbosity::Quiet;
        Notice::start(allowed)
    } else {
        Notice::none()
    };
    let result = match cli.command {
        Command::Up(args) => up::run(&settings, &printer, &args),
        Command::Status(args) => status::run(&settings, &printer, &args),
        Command::Logs(args) => logs::run(&settings, &printer, &args),
        Command::Restart(args) => restart::run(&settings, &printer, &args),
        Command::Down(args) => down::run(&settings, &printer, &args),
        Command::Destroy(args) => destroy::run(&settings, &printer, &args),
        Command::Render(args) => render::run(&settings, &printer, &args),
        Command::Plan(args) => plan::run(&settings, &printer, &args),
        Command::Images(ImagesCommand::List(args)) => images::list(&printer, &args),
        Command::Images(ImagesCommand::Pull(args)) => images::pull(&printer, &args),
        Command::Images(ImagesCommand::Save(args)) => images::save(&printer, &args),
        Command::Images(ImagesCommand::Load(args)) => images::load(&printer, &args),
        Command::Cluster(ClusterCommand::Create(args)) => {
            cluster::create(&settings, &printer, &args)
        }
        Command::Cluster(ClusterCommand::Delete(args)) => cluster::delete(&printer, &args),
        Command::Cluster(ClusterCommand::List(args)) => cluster::list(&printer, &args),
        Command::Cluster(ClusterCommand::Status(args)) => cluster::status(&printer, &args),
        Command::Cluster(ClusterCommand::Load(args)) => cluster::load(&printer, &args),
        Command::Open(args) => open::run(&settings, &printer, &args),
        Command::Completions(args) => completions::run(&printer, &args),
        Command::Version(args) => version::run(&printer, &args),
        Command::Man => man::run(&printer),
        Command::Doctor(args) => doctor::run(&settings, &printer, &args),
        Command::Backup(args) => backup::backup(&settings, &printer, &args),
        Command::Restore(args) => backup::restore(&settings, &printer, &args),
        #[cfg(feature = "self-update")]
        Command::SelfCmd(SelfCommand::Update(args)) => self_update::run(&printer, &args),
    };
    if let Some(line) = notice.finish() {
        printer.info(&line);
    }
    (result, Some(printer))
}

fn given(stack: &StackArgs, namespace: Option<String>) -> Given {
    Given {
        profile: stack.profile,
        force: stack.force,
        namespace,
        port: stack.port,
        ..Given::default()
    }
}

fn with_cluster(given: Given, cluster: &ClusterArgs) -> Given {
    Given {
        namespace: cluster.namespace.clone().or(given.namespace),
        context: cluster.context.clone(),
        kubeconfig: cluster.kubeconfig.clone(),
        ..given
    }
}

fn with_target(given: Given, target: &TargetArgs) -> Given {
    Given {
        namespace: target.namespace.clone().or(given.namespace),
        context: target.context.clone(),
        kubeconfig: target.kubeconfig.clone(),
        ..given
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
