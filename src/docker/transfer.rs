//! `onyx images pull|save|load` as library steps: each checks its input first (references, the
//! mirror, the output directory, the bundle file), then connects to the engine and moves the
//! images, reporting progress through a [`Reporter`]. The command (`commands/images.rs`) runs
//! them under Ctrl-C and prints the outcome.

use std::path::Path;

use super::images::{PullOptions, PullResult};
use super::{Reporter, bundle, engine, images, reference};
use crate::error::{Error, Result};
use crate::stack::catalog;

/// The images to work on: those given (hidden `--image`), else the stack's and the node image.
pub fn chosen(given: &[String]) -> Result<Vec<String>> {
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

/// A `--registry-mirror` that can be used (a host, with an optional port).
pub fn check_mirror(mirror: Option<&str>) -> Result<()> {
    if let Some(m) = mirror {
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
    Ok(())
}

/// Pull `images` into the engine (in parallel, through the mirror when given): one result per
/// image, and the first failure after all were tried.
pub async fn pull(
    images: &[String],
    mirror: Option<String>,
    reporter: &dyn Reporter,
) -> Result<(Vec<PullResult>, Option<super::DockerError>)> {
    let options = PullOptions {
        mirror,
        ..PullOptions::default()
    };
    let engine = engine::connect(&engine::EngineEnv::from_process()).await?;
    Ok(images::pull_all(&engine.docker, images, &options, reporter).await)
}

/// The directory `out` is written in must exist (checked before any engine work).
pub fn check_output(out: &Path) -> Result<()> {
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if dir.is_dir() {
        return Ok(());
    }
    Err(Error::input(
        format!(
            "cannot write {}: {} is not a directory",
            out.display(),
            dir.display()
        ),
        "create the directory first, or give another path with -o",
    ))
}

/// Save `images` from the engine into one bundle at `out` (written as `out.partial`, renamed
/// when whole). A save that fails or is interrupted leaves the partial file for the caller's
/// [`remove_partial`].
pub async fn save(
    images: &[String],
    out: &Path,
    reporter: &dyn Reporter,
) -> Result<bundle::Manifest> {
    let engine = engine::connect(&engine::EngineEnv::from_process()).await?;
    Ok(bundle::save(&engine.docker, images, out, reporter).await?)
}

/// Remove the half-written bundle of a save to `out` that did not finish, if any.
pub fn remove_partial(out: &Path) {
    let _ = std::fs::remove_file(format!("{}.partial", out.display()));
}

/// The bundle file to load must exist (checked before any engine work).
pub fn check_bundle(file: &Path) -> Result<()> {
    if file.is_file() {
        return Ok(());
    }
    Err(Error::input(
        format!("{} does not exist or is not a file", file.display()),
        "give the path of a bundle written by `onyx images save -o FILE`",
    ))
}

/// Verify the bundle at `file`, then load its images into the engine.
pub async fn load(file: &Path, reporter: &dyn Reporter) -> Result<Vec<bundle::Loaded>> {
    let engine = engine::connect(&engine::EngineEnv::from_process()).await?;
    Ok(bundle::load(&engine.docker, file, reporter).await?)
}

/// `1.5 GiB`, `230.0 MiB`.
pub fn human_bytes(bytes: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    let b = bytes as f64;
    if b >= 1024.0 * MIB {
        format!("{:.1} GiB", b / (1024.0 * MIB))
    } else {
        format!("{:.1} MiB", b / MIB)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_checked_before_any_engine_work() {
        assert!(chosen(&["not a ref!".into()]).is_err());
        assert_eq!(chosen(&[]).unwrap().len(), catalog::images().len());
        assert!(check_mirror(Some("mirror.example.com:5000")).is_ok());
        assert!(check_mirror(Some("http://x/y")).is_err());
        assert!(check_output(Path::new("/nonexistent-dir/b.tar")).is_err());
        assert!(check_output(Path::new("b.tar")).is_ok());
        assert!(check_bundle(Path::new("/nonexistent/b.tar")).is_err());
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024 / 2), "1.5 GiB");
        assert_eq!(human_bytes(230 * 1024 * 1024), "230.0 MiB");
    }
}
