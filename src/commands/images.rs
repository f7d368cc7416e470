//! `onyx images`: the stack's images. `list` prints the pinned references; `pull` fetches them
//! into the Docker engine (in parallel, through a mirror if asked); `save` and `load` carry them to
//! machines without registry access as one verified bundle file.

use std::process::ExitCode;

use serde::Serialize;

use crate::cli::{DataFormat, ImagesListArgs, ImagesLoadArgs, ImagesPullArgs, ImagesSaveArgs};
use crate::docker::images::{Outcome, PullOptions};
use crate::docker::{bundle, engine, images, reference};
use crate::error::{Error, Result};
use crate::runtime::Runtime;
use crate::stack::catalog;
use crate::ui::{ImageProgress, Printer};

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

/// The images to work on: those given (hidden `--image`), else the stack's and the node image.
fn chosen(given: &[String]) -> Result<Vec<String>> {
    let list: Vec<String> = if given.is_empty() {
        catalog::images()
            .iter()
            .map(|i| i.reference.clone())
            .collect()
    } else {
        given.to_vec()
    };
    for image in &list {
        reference::Reference::parse(image)
            .map_err(|e| Error::input(e, "give references like nginx:1.23.4-alpine"))?;
    }
    Ok(list)
}

pub fn pull(printer: &Printer, runtime: &Runtime, args: &ImagesPullArgs) -> Result<ExitCode> {
    let images = chosen(&args.images)?;
    if let Some(m) = &args.registry_mirror {
        reference::validate_mirror(m).map_err(|e| {
            Error::input(
                e,
                format!(
                    "e.g. --registry-mirror mirror.example.com:5000 (or {})",
                    crate::env_vars::ONYX_REGISTRY_MIRROR
                ),
            )
        })?;
    }
    let options = PullOptions {
        mirror: args.registry_mirror.clone(),
        ..PullOptions::default()
    };
    let progress = ImageProgress::new(printer, "pulled");
    let outcome = runtime.interruptible(async {
        let engine = engine::connect(&engine::EngineEnv::from_process()).await?;
        Ok(images::pull_all(&engine.docker, &images, &options, &progress).await)
    });
    progress.finish();
    let (results, error) = outcome?;
    match args.output {
        DataFormat::Json => printer.data(&serde_json::to_string_pretty(&results).expect("json"))?,
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
    let images = chosen(&args.images)?;
    let dir = args
        .output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    if !dir.is_dir() {
        return Err(Error::input(
            format!(
                "cannot write {}: {} is not a directory",
                args.output.display(),
                dir.display()
            ),
            "create the directory first, or give another path with -o",
        ));
    }
    let progress = ImageProgress::new(printer, "saved");
    let manifest = runtime.interruptible(async {
        let engine = engine::connect(&engine::EngineEnv::from_process()).await?;
        Ok(bundle::save(&engine.docker, &images, &args.output, &progress).await?)
    });
    progress.finish();
    let manifest = match manifest {
        Ok(m) => m,
        Err(e) => {
            // Never leave a half-written bundle behind (it could be mistaken for a whole one).
            let _ = std::fs::remove_file(format!("{}.partial", args.output.display()));
            return Err(e);
        }
    };
    let bytes: u64 = manifest.images.iter().map(|i| i.size).sum();
    printer.info(&format!(
        "saved {} image(s), {}, to {}",
        manifest.images.len(),
        human_bytes(bytes),
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
    if !args.file.is_file() {
        return Err(Error::input(
            format!("{} does not exist or is not a file", args.file.display()),
            "give the path of a bundle written by `onyx images save -o FILE`",
        ));
    }
    let progress = ImageProgress::new(printer, "loaded");
    let loaded = runtime.interruptible(async {
        let engine = engine::connect(&engine::EngineEnv::from_process()).await?;
        Ok(bundle::load(&engine.docker, &args.file, &progress).await?)
    });
    progress.finish();
    let loaded = loaded?;
    match args.output {
        DataFormat::Json => printer.data(
            &serde_json::to_string_pretty(&LoadOutput {
                bundle: args.file.display().to_string(),
                images: &loaded,
            })
            .expect("json"),
        )?,
        DataFormat::Text => printer.info(&format!(
            "loaded {} image(s) from {}",
            loaded.len(),
            args.file.display()
        )),
    }
    Ok(ExitCode::SUCCESS)
}

/// `1.5 GiB`, `230.0 MiB`.
fn human_bytes(bytes: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    let b = bytes as f64;
    if b >= 1024.0 * MIB {
        format!("{:.1} GiB", b / (1024.0 * MIB))
    } else {
        format!("{:.1} MiB", b / MIB)
    }
}
