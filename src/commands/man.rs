//! `onyx man`: the man page, generated from the clap definitions (installed by the packages).

use std::process::ExitCode;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::Result;
use crate::ui::Printer;

pub fn run(printer: &Printer) -> Result<ExitCode> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut buf)?;
    printer.data(&String::from_utf8_lossy(&buf))?;
    Ok(ExitCode::SUCCESS)
}
