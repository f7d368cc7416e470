//! The `onyx` binary: parse flags, set up logging, run the command, map errors to exit codes.
//! Everything else lives in the library.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use onyx::cli::Cli;
use onyx::env_vars;

fn main() -> ExitCode {
    onyx::init_tls();
    let cli = Cli::parse();
    let color_allowed =
        !cli.global.no_color && std::env::var_os(env_vars::NO_COLOR).is_none_or(|v| v.is_empty());
    init_logging(cli.global.verbose, cli.global.quiet, color_allowed);
    onyx::commands::main(cli, color_allowed)
}

/// Log lines (`tracing`) on stderr. Without `-v` only onyx's own warnings show: a library's
/// ERROR line about a refused connection says what onyx's one error message says better. `-v` adds
/// onyx's debug lines and every library's warnings, `-vv` traces everything; `ONYX_LOG` overrides.
/// Colour only on a terminal and never with `--no-color`/`NO_COLOR`; a closed stderr drops lines.
fn init_logging(verbose: u8, quiet: bool, color_allowed: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "off",
        (false, 0) => "off,onyx=warn",
        (false, 1) => "warn,onyx=debug",
        (false, _) => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env(env_vars::ONYX_LOG)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color_allowed && std::io::stderr().is_terminal())
        // Its own complaint about a failed write would go to the same closed stderr.
        .log_internal_errors(false)
        .with_target(verbose >= 2)
        .without_time()
        .init();
}
