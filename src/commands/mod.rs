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

use std::process::ExitCode;

#[cfg(feature = "self-update")]
use crate::cli::SelfCommand;
use crate::cli::{Cli, ClusterCommand, Command, ImagesCommand};
use crate::error::Result;
use crate::runtime::Runtime;
use crate::settings::{
    ClusterSettings, CommandSettings, GlobalSettings, NoSettings, StackSettings, UpSettings,
    Verbosity,
};
use crate::ui::{Invocation, Printer};
use crate::update::Notice;

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

/// Resolve the global settings, then the command's own, and run it on the run's one
/// [`Runtime`] (built only if the command needs it); the printer is `None` when the global
/// settings could not be resolved.
pub fn run(cli: Cli) -> (Result<ExitCode>, Option<Printer>) {
    let g = match GlobalSettings::from_args(&cli.global) {
        Ok(g) => g,
        Err(e) => return (Err(e), None),
    };
    // The daily "new version" notice: checked in the background beside the command, shown at the
    // end when the answer is in by then (never waited for).
    let notice = Notice::for_run(
        settings::checks_for_updates(&cli.command) && g.verbosity > Verbosity::Quiet,
    );
    let rt = Runtime::new(cli.command.name());
    let rt = &rt;
    let (result, printer) = match cli.command {
        Command::Up(a) => go(&g, rt, UpSettings::resolve(&a, &g), &(), |s, p, rt, _| {
            up::run(s, p, rt)
        }),
        Command::Status(a) => go(&g, rt, ClusterSettings::for_status(&a, &g), &a, status::run),
        Command::Logs(a) => day2(&g, rt, &a.cluster, &a, logs::run),
        Command::Restart(a) => day2(&g, rt, &a.cluster, &a, restart::run),
        Command::Down(a) => day2(&g, rt, &a.cluster, &(), |s, p, rt, _| down::run(s, p, rt)),
        Command::Destroy(a) => day2(&g, rt, &a.cluster, &a, destroy::run),
        Command::Backup(a) => day2(&g, rt, &a.cluster, &a, backup::backup),
        Command::Restore(a) => day2(&g, rt, &a.cluster, &a, backup::restore),
        Command::Render(a) => go(&g, rt, StackSettings::for_render(&a, &g), &a, render::run),
        Command::Plan(a) => go(&g, rt, StackSettings::for_plan(&a, &g), &a, plan::run),
        Command::Doctor(a) => go(&g, rt, ClusterSettings::for_doctor(&a, &g), &a, doctor::run),
        Command::Open(a) => go(&g, rt, ClusterSettings::for_open(&a, &g), &a, open::run),
        Command::Cluster(ClusterCommand::Create(a)) => go(
            &g,
            rt,
            ClusterSettings::for_create(&a, &g),
            &a,
            cluster::create,
        ),
        Command::Images(ImagesCommand::List(a)) => plain(&g, rt, |p| images::list(p, &a)),
        Command::Images(ImagesCommand::Pull(a)) => plain(&g, rt, |p| images::pull(p, rt, &a)),
        Command::Images(ImagesCommand::Save(a)) => plain(&g, rt, |p| images::save(p, rt, &a)),
        Command::Images(ImagesCommand::Load(a)) => plain(&g, rt, |p| images::load(p, rt, &a)),
        Command::Cluster(ClusterCommand::Delete(a)) => {
            plain(&g, rt, |p| cluster::delete(p, rt, &a))
        }
        Command::Cluster(ClusterCommand::List(a)) => plain(&g, rt, |p| cluster::list(p, rt, &a)),
        Command::Cluster(ClusterCommand::Status(a)) => {
            plain(&g, rt, |p| cluster::status(p, rt, &a))
        }
        Command::Cluster(ClusterCommand::Load(a)) => plain(&g, rt, |p| cluster::load(p, rt, &a)),
        Command::Completions(a) => plain(&g, rt, |p| completions::run(p, &a)),
        Command::Version(a) => plain(&g, rt, |p| version::run(p, &a)),
        Command::Man => plain(&g, rt, man::run),
        #[cfg(feature = "self-update")]
        Command::SelfCmd(SelfCommand::Update(a)) => plain(&g, rt, |p| self_update::run(p, &a)),
    };
    if let Some(line) = notice.finish() {
        printer.info(&line);
    }
    (result, Some(printer))
}

/// Run a command on its resolved settings, with a printer that repeats its cluster flags.
fn go<S: CommandSettings + std::fmt::Debug, A: ?Sized>(
    g: &GlobalSettings,
    rt: &Runtime,
    settings: Result<S>,
    args: &A,
    run: impl FnOnce(&S, &Printer, &Runtime, &A) -> Result<ExitCode>,
) -> (Result<ExitCode>, Printer) {
    match settings {
        Ok(s) => {
            tracing::debug!(?g, settings = ?s, "resolved settings");
            let printer = Printer::new(g.verbosity, g.color, settings::invocation(&s));
            if let Some(line) = s.talking_to() {
                printer.info(&line);
            }
            (run(&s, &printer, rt, args), printer)
        }
        Err(e) => {
            let printer = Printer::new(g.verbosity, g.color, Invocation::default());
            (Err(e), printer)
        }
    }
}

/// A day-2 command: its settings are its cluster flags ([`ClusterSettings::resolve`]).
fn day2<A: ?Sized>(
    g: &GlobalSettings,
    rt: &Runtime,
    cluster: &crate::cli::ClusterArgs,
    args: &A,
    run: impl FnOnce(&ClusterSettings, &Printer, &Runtime, &A) -> Result<ExitCode>,
) -> (Result<ExitCode>, Printer) {
    go(g, rt, ClusterSettings::resolve(cluster, g), args, run)
}

/// A command with nothing to resolve beyond its own flags (they name no cluster).
fn plain(
    g: &GlobalSettings,
    rt: &Runtime,
    run: impl FnOnce(&Printer) -> Result<ExitCode>,
) -> (Result<ExitCode>, Printer) {
    go(g, rt, Ok(NoSettings), &(), |_, p, _, _| run(p))
}
