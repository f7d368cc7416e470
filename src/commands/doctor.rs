//! `onyx doctor`: run every check ([`crate::doctor_run`]) and print ok / warn / fail with a fix
//! each; `-o json` for scripts. The exit code is 1 when any check fails.

use std::process::ExitCode;

use crate::cli::{DataFormat, DoctorArgs};
use crate::doctor_run;
use crate::error::Result;
use crate::runtime::Runtime;
use crate::settings::ClusterSettings;
use crate::ui::Printer;

pub fn run(
    settings: &ClusterSettings,
    printer: &Printer,
    runtime: &Runtime,
    args: &DoctorArgs,
) -> Result<ExitCode> {
    let report = runtime.block_on(async { Ok(doctor_run::run(settings).await) })?;
    let text = match args.output {
        DataFormat::Json => serde_json::to_string_pretty(&report).map_err(anyhow::Error::from)?,
        // The fixes name onyx commands: they repeat the user's --context/--kubeconfig/-n.
        DataFormat::Text => printer.runnable(&doctor_run::text(&report.findings)),
    };
    printer.data(&text)?;
    Ok(if report.healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
