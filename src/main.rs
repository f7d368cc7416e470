//! The `onyx` binary: parse flags, set up logging, run the command, map errors to exit codes.
//! Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;

use onyx::cli::Cli;
use onyx::env_vars;
use onyx::ui::Printer;

fn main() -> ExitCode {
    onyx::init_tls();
    let cli = Cli::parse();
    init_logging(cli.global.verbose, cli.global.quiet);
    let color_allowed =
        !cli.global.no_color && std::env::var_os(env_vars::NO_COLOR).is_none_or(|v| v.is_empty());
    match onyx::commands::run(cli) {
        Ok(code) => code,
        // `onyx render | head`: the reader went away; not a failure.
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            Printer::plain(color_allowed).error(&e.to_string(), e.hint().as_deref());
            e.exit_code()
        }
    }
}

fn init_logging(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "onyx=debug,warn",
        (false, _) => "onyx=trace,debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env(env_vars::ONYX_LOG)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .init();
}
