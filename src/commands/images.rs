//! `onyx images`: the stack's images. `list` prints the pinned references; `pull` fetches them
//! into the Docker engine (in parallel, through a mirror if asked); `save` and `load` carry them to
//! machines without registry access as one verified bundle file. The steps are
//! [`crate::docker::transfer`]'s; this file runs them under Ctrl-C and prints.

use std::process::ExitCode;

use serde::Serialize;

use crate::cli::{DataFormat, ImagesListArgs, ImagesLoadArgs, ImagesPullArgs, ImagesSaveArgs};
use crate::docker::bundle;
use crate::docker::images::Outcome;
use crate::docker::transfer;
use crate::error::Result;
use crate::runtime::Runtime;
use crate::stack::catalog;
use crate::ui::{ImageProgress, Printer};

fn json<T: Serialize + ?Sized>(v: &T) -> Result<String> {
    Ok(serde_json::to_string_pretty(v).map_err(anyhow::Error::from)?)
}

pub fn list(printer: &Printer, args: &ImagesListArgs) -> Result<ExitCode> {
    let images = catalog::images();
    let text = match args.output {
        DataFormat::Text => images
            .iter()
            .map(|i| i.reference.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        DataFormat::Json => json(images)?,
    };
    printer.data(&text)?;
    Ok(ExitCode::SUCCESS)
}

pub fn pull(printer: &Printer, runtime: &Runtime, args: &ImagesPullArgs) -> Result<ExitCode> {
    let images = transfer::chosen(&args.images)?;
    transfer::check_mirror(args.registry_mirror.as_deref())?;
    let progress = ImageProgress::new(printer, "pulled");
    let outcome = runtime.interruptible(transfer::pull(
        &images,
        args.registry_mirror.clone(),
        &progress,
    ));
    progress.finish();
    let (results, error) = outcome?;
    match args.output {
        DataFormat::Json => printer.data(&json(&results)?)?,
        DataFormat::Text => {
            let count = |o: Outcome| results.iter().filter(|r| r.outcome == o).count();
            printer.info(&format!(
                "{} pulled, {} already present, {} failed",
                count(Outcome::Pulled),
                count(Outcome::Present),
                count(Outcome::Failed)
            ));
        }
    }
    match error {
        Some(e) => Err(e.into()),
        None => Ok(ExitCode::SUCCESS),
    }
}

pub fn save(printer: &Printer, runtime: &Runtime, args: &ImagesSaveArgs) -> Result<ExitCode> {
    let images = transfer::chosen(&args.images)?;
    transfer::check_output(&args.output)?;
    let progress = ImageProgress::new(printer, "saved");
    let manifest = runtime.interruptible(transfer::save(&images, &args.output, &progress));
    progress.finish();
    // Never leave a half-written bundle behind (it could be mistaken for a whole one).
    let manifest = manifest.inspect_err(|_| transfer::remove_partial(&args.output))?;
    let bytes: u64 = manifest.images.iter().map(|i| i.size).sum();
    printer.info(&format!(
        "saved {} image(s), {}, to {}",
        manifest.images.len(),
        transfer::human_bytes(bytes),
        args.output.display()
    ));
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct LoadOutput<'a> {
    bundle: String,
    images: &'a [bundle::Loaded],
}

pub fn load(printer: &Printer, runtime: &Runtime, args: &ImagesLoadArgs) -> Result<ExitCode> {
    transfer::check_bundle(&args.file)?;
    let progress = ImageProgress::new(printer, "loaded");
    let loaded = runtime.interruptible(transfer::load(&args.file, &progress));
    progress.finish();
    let loaded = loaded?;
    match args.output {
        DataFormat::Json => printer.data(&json(&LoadOutput {
            bundle: args.file.display().to_string(),
            images: &loaded,
        })?)?,
        DataFormat::Text => printer.info(&format!(
            "loaded {} image(s) from {}",
            loaded.len(),
            args.file.display()
        )),
    }
    Ok(ExitCode::SUCCESS)
}
