//! `onyx self update [--check]`: see [`crate::update`] for the steps and their guarantees.

use std::process::ExitCode;

use crate::cli::{DataFormat, SelfUpdateArgs};
use crate::error::Result;
use crate::ui::Printer;
use crate::update::{self, InstallKind, Outcome, UpdateSource};

pub fn run(printer: &Printer, args: &SelfUpdateArgs) -> Result<ExitCode> {
    let source = UpdateSource::from_env();
    if args.check {
        let check = update::check(&source, None)?;
        let text = match args.output {
            DataFormat::Json => serde_json::to_string_pretty(&check).expect("json"),
            DataFormat::Text if check.newer_available => format!(
                "onyx {} is available (you have {}): run `onyx self update`",
                check.latest, check.current
            ),
            DataFormat::Text => format!("onyx {} is the newest release", check.current),
        };
        printer.data(&text)?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(refusal) = InstallKind::current().refusal() {
        return Err(refusal);
    }
    printer.info("checking for a newer release...");
    match update::update(&source)? {
        Outcome::UpToDate(v) => printer.info(&format!("onyx {v} is the newest release")),
        Outcome::Updated { from, to } => {
            printer.info(&format!("updated onyx {from} → {to} (checksum verified)"))
        }
    }
    Ok(ExitCode::SUCCESS)
}
