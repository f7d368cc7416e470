//! `onyx images list`: the pinned image references, the stack's and the local cluster's node image.

use std::process::ExitCode;

use crate::cli::{DataFormat, ImagesListArgs};
use crate::error::Result;
use crate::stack::catalog;
use crate::ui::Printer;

pub fn list(printer: &Printer, args: &ImagesListArgs) -> Result<ExitCode> {
    let images = catalog::images();
    let text = match args.output {
        DataFormat::Text => images
            .iter()
            .map(|i| i.reference.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        DataFormat::Json => serde_json::to_string_pretty(images).expect("json"),
    };
    printer.data(&text)?;
    Ok(ExitCode::SUCCESS)
}
