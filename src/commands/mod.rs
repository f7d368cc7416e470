//! One module per subcommand. Each takes its resolved settings ([`settings`]: `UpSettings`,
//! `ClusterSettings`, ...), the run's [`Printer`] and [`Runtime`] and returns an exit status;
//! none of them reads the environment or layers flags itself.

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
pub mod settings;
pub mod status;
pub mod up;
pub mod version;

use std::io::IsTerminal;
use std::process::ExitCode;

#[cfg(feature = "self-update")]
use crate::cli::SelfCommand;
use crate::cli::{Cli, ClusterCommand, Command, ImagesCommand};
use crate::error::Result;
use crate::runtime::Runtime;
use crate::settings::{
    ClusterSettings, CommandSettings, GlobalFlags, GlobalSettings, NoSettings, StackSettings,
    UpSettings, Verbosity,
};
use crate::ui::{Invocation, Printer};
use crate::update::{self, Notice};

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

/// Resolve the global settings, then the command's own, and run it on the run's one
/// [`Runtime`] (built only if the command needs it); the printer is `None` when the global
/// settings could not be resolved.
pub fn run(cli: Cli) -> (Result<ExitCode>, Option<Printer>) {
    let flags = GlobalFlags {
        verbose: cli.global.verbose,
        quiet: cli.global.quiet,
        no_color: cli.global.no_color,
        config: cli.global.config.clone(),
    };
    let g = match GlobalSettings::resolve(&flags) {
        Ok(g) => g,
        Err(e) => return (Err(e), None),
    };
    // The daily "new version" notice: checked in the background beside the command, shown at the
    // end when the answer is in by then (never waited for).
    let notice = if checks_for_updates(&cli.command) {
        let allowed =
            update::notice_allowed(|k| std::env::var(k).ok(), std::io::stderr().is_terminal())
                && g.verbosity > Verbosity::Quiet;
        Notice::start(allowed)
    } else {
        Notice::none()
    };
    let rt = Runtime::new(cli.command.name());
    let rt = &rt;
    let (result, printer) = match cli.command {
        Command::Up(a) => go(&g, UpSettings::resolve(&a, &g), |s, p| up::run(s, p, rt)),
        Command::Status(a) => go(&g, ClusterSettings::for_status(&a, &g), |s, p| {
            status::run(s, p, rt, &a)
        }),
        Command::Logs(a) => go(&g, ClusterSettings::resolve(&a.cluster, &g), |s, p| {
            logs::run(s, p, rt, &a)
        }),
        Command::Restart(a) => go(&g, ClusterSettings::resolve(&a.cluster, &g), |s, p| {
            restart::run(s, p, rt, &a)
        }),
        Command::Down(a) => go(&g, ClusterSettings::resolve(&a.cluster, &g), |s, p| {
            down::run(s, p, rt)
        }),
        Command::Destroy(a) => go(&g, ClusterSettings::resolve(&a.cluster, &g), |s, p| {
            destroy::run(s, p, rt, &a)
        }),
        Command::Render(a) => go(&g, StackSettings::for_render(&a, &g), |s, p| {
            render::run(s, p, rt, &a)
        }),
        Command::Plan(a) => go(&g, StackSettings::for_plan(&a, &g), |s, p| {
            plan::run(s, p, rt, &a)
        }),
        Command::Doctor(a) => go(&g, ClusterSettings::for_doctor(&a, &g), |s, p| {
            doctor::run(s, p, rt, &a)
        }),
        Command::Backup(a) => go(&g, ClusterSettings::resolve(&a.cluster, &g), |s, p| {
            backup::backup(s, p, rt, &a)
        }),
        Command::Restore(a) => go(&g, ClusterSettings::resolve(&a.cluster, &g), |s, p| {
            backup::restore(s, p, rt, &a)
        }),
        Command::Open(a) => go(&g, ClusterSettings::for_open(&a, &g), |s, p| {
            open::run(s, p, rt, &a)
        }),
        Command::Cluster(ClusterCommand::Create(a)) => {
            go(&g, ClusterSettings::for_create(&a, &g), |s, p| {
                cluster::create(s, p, rt, &a)
            })
        }
        Command::Images(ImagesCommand::List(a)) => plain(&g, |p| images::list(p, &a)),
        Command::Images(ImagesCommand::Pull(a)) => plain(&g, |p| images::pull(p, rt, &a)),
        Command::Images(ImagesCommand::Save(a)) => plain(&g, |p| images::save(p, rt, &a)),
        Command::Images(ImagesCommand::Load(a)) => plain(&g, |p| images::load(p, rt, &a)),
        Command::Cluster(ClusterCommand::Delete(a)) => plain(&g, |p| cluster::delete(p, rt, &a)),
        Command::Cluster(ClusterCommand::List(a)) => plain(&g, |p| cluster::list(p, rt, &a)),
        Command::Cluster(ClusterCommand::Status(a)) => plain(&g, |p| cluster::status(p, rt, &a)),
        Command::Cluster(ClusterCommand::Load(a)) => plain(&g, |p| cluster::load(p, rt, &a)),
        Command::Completions(a) => plain(&g, |p| completions::run(p, &a)),
        Command::Version(a) => plain(&g, |p| version::run(p, &a)),
        Command::Man => plain(&g, man::run),
        #[cfg(feature = "self-update")]
        Command::SelfCmd(SelfCommand::Update(a)) => plain(&g, |p| self_update::run(p, &a)),
    };
    if let Some(line) = notice.finish() {
        printer.info(&line);
    }
    (result, Some(printer))
}

/// Run a command on its resolved settings, with a printer that repeats its cluster flags.
fn go<S: CommandSettings + std::fmt::Debug>(
    g: &GlobalSettings,
    settings: Result<S>,
    run: impl FnOnce(&S, &Printer) -> Result<ExitCode>,
) -> (Result<ExitCode>, Printer) {
    match settings {
        Ok(s) => {
            tracing::debug!(?g, settings = ?s, "resolved settings");
            let c = s.cluster();
            let invocation = Invocation {
                context: c.context.clone(),
                kubeconfig: c.kubeconfig.clone(),
                namespace: c.namespace.clone(),
            };
            let printer = Printer::new(g.verbosity, g.color, invocation);
            (run(&s, &printer), printer)
        }
        Err(e) => (
            Err(e),
            Printer::new(g.verbosity, g.color, Invocation::default()),
        ),
    }
}

/// A command with nothing to resolve beyond its own flags (they name no cluster).
fn plain(
    g: &GlobalSettings,
    run: impl FnOnce(&Printer) -> Result<ExitCode>,
) -> (Result<ExitCode>, Printer) {
    go(g, Ok(NoSettings), |_, p| run(p))
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
