//! `onyx version`: this binary's version and the Onyx release it deploys.

use std::process::ExitCode;

use crate::cli::{DataFormat, VersionArgs};
use crate::error::Result;
use crate::stack::ONYX_VERSION;
use crate::ui::Printer;

pub fn run(printer: &Printer, args: &VersionArgs) -> Result<ExitCode> {
    let version = env!("CARGO_PKG_VERSION");
    let text = match args.output {
        DataFormat::Text => format!("onyx {version} (deploys Onyx {ONYX_VERSION})"),
        DataFormat::Json => serde_json::to_string_pretty(&serde_json::json!({
            "version": version,
            "onyx_stack": ONYX_VERSION,
            "os": std::env::consts::OS,
            "arch": std::env::consts::ARCH,
            "target": crate::update::TARGET,
        }))
        .expect("json"),
    };
    printer.data(&text)?;
    Ok(ExitCode::SUCCESS)
}
