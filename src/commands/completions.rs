//! `onyx completions SHELL`: completion scripts generated from the clap definitions.

use std::process::ExitCode;

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::error::Result;
use crate::ui::Printer;

pub fn run(printer: &Printer, args: &CompletionsArgs) -> Result<ExitCode> {
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "onyx", &mut buf);
    printer.data(&String::from_utf8_lossy(&buf))?;
    Ok(ExitCode::SUCCESS)
}
