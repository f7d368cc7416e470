//! The Docker engine, spoken to over its API with `bollard` (never the `docker` binary): finding
//! and connecting to whatever engine the user runs ([`engine`]), its facts, and moving the
//! stack's images in and out of it ([`images`], [`bundle`]).
//!
//! Long operations report progress through the [`Reporter`] trait; only the UI layer draws it.

pub mod bundle;
pub mod engine;
pub mod images;
pub mod reference;
pub mod transfer;

use std::path::PathBuf;

use futures_util::{StreamExt, stream};

/// Run `work` on every image, `parallel` at once, and give one result per image in the order
/// given: a failure becomes `failed(image, error)`, and the first error (in that order) is
/// returned once every image is done, so one bad image doesn't waste the others' work.
pub async fn each_image<'a, T, Fut>(
    images: &'a [String],
    parallel: usize,
    work: impl Fn(&'a String) -> Fut,
    failed: impl Fn(&String, &DockerError) -> T,
) -> (Vec<T>, Option<DockerError>)
where
    Fut: std::future::Future<Output = Result<T, DockerError>>,
{
    // Unordered, so a slow image doesn't hold back the start of the next ones; sorted after.
    let mut results: Vec<(usize, Result<T, DockerError>)> = stream::iter(images.iter().enumerate())
        .map(|(i, image)| {
            let job = work(image);
            async move { (i, job.await) }
        })
        .buffer_unordered(parallel.max(1))
        .collect()
        .await;
    results.sort_by_key(|(i, _)| *i);
    let mut first_error = None;
    let mut out = Vec::with_capacity(results.len());
    for (image, (_, r)) in images.iter().zip(results) {
        match r {
            Ok(r) => out.push(r),
            Err(e) => {
                out.push(failed(image, &e));
                first_error.get_or_insert(e);
            }
        }
    }
    (out, first_error)
}

/// What can go wrong with the engine or the images, each worth its own hint.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// No engine answered at any of the places we know.
    #[error("no Docker engine answered; tried:\n{}", .tried.iter().map(|t| format!("  - {t}")).collect::<Vec<_>>().join("\n"))]
    NoEngine { tried: Vec<String>, hint: String },

    /// The engine the user named (DOCKER_HOST, a Docker context) does not answer; no other is
    /// tried in its place.
    #[error("the Docker engine named by {named} does not answer: {error}")]
    NamedEngine {
        named: String,
        error: String,
        hint: String,
    },

    /// The registry (or mirror) says the image does not exist.
    #[error("image {image} was not found (pulled as {pulled_as}): {message}")]
    NotFound {
        image: String,
        pulled_as: String,
        message: String,
    },

    /// The registry's name does not resolve from here; not retried.
    #[error("the registry for {image} can't be reached (pulled as {pulled_as}): {message}")]
    RegistryUnreachable {
        image: String,
        pulled_as: String,
        message: String,
    },

    /// Nothing listens at the registry's (or mirror's) address; not retried.
    #[error("the registry for {image} refuses connections (pulled as {pulled_as}): {message}")]
    RegistryRefused {
        image: String,
        pulled_as: String,
        message: String,
    },

    /// The registry refused us.
    #[error("not allowed to pull {image} (pulled as {pulled_as}): {message}")]
    Unauthorized {
        image: String,
        pulled_as: String,
        message: String,
    },

    /// A pull that kept failing after all retries.
    #[error("pulling {image} failed after {attempts} attempts: {message}")]
    PullFailed {
        image: String,
        attempts: u32,
        message: String,
    },

    /// An image the bundle should hold is not in the engine.
    #[error("image {image} is not in the Docker engine")]
    ImageMissing { image: String },

    /// A bundle that can't be trusted; nothing was loaded from it.
    #[error("{path} is not a usable onyx bundle: {problem}")]
    BadBundle { path: PathBuf, problem: String },

    /// Reading or writing a local file.
    #[error(transparent)]
    Io(#[from] std::io::Error),

    /// Any other answer of the engine we didn't expect.
    #[error("Docker engine: {0}")]
    Engine(#[from] bollard::errors::Error),
}

/// How to go offline, every step runnable as printed by every command that can meet an
/// unreachable registry (`up`, `images pull`, `cluster create`): `save` writes only images the
/// engine holds, so they are pulled first; `images load` puts them (the node image too) into
/// this machine's engine, where `cluster create` and `up` find them (`up --bundle` does both).
pub const OFFLINE_HINT: &str = "this machine can't resolve the registry's name (offline or \
     air-gapped). Go offline: on a machine with registry access run `onyx images pull`, then \
     `onyx images save -o onyx-images.tar`; copy the file here and run `onyx images load \
     onyx-images.tar` (or `onyx up --bundle onyx-images.tar`); or pull through a registry you \
     reach with --registry-mirror HOST";

impl DockerError {
    /// The kind of failure (its exit code).
    pub fn class(&self) -> crate::exit::Class {
        use crate::exit::Class;
        match self {
            DockerError::BadBundle { .. } => Class::Usage,
            DockerError::Engine(_) | DockerError::Io(_) => Class::Internal,
            _ => Class::Refused,
        }
    }

    pub fn hint(&self) -> Option<String> {
        match self {
            DockerError::NoEngine { hint, .. } | DockerError::NamedEngine { hint, .. } => {
                Some(hint.clone())
            }
            DockerError::NotFound { .. } => Some(
                "check the name and tag; with --registry-mirror, check that the mirror carries it"
                    .into(),
            ),
            DockerError::RegistryUnreachable { .. } => Some(OFFLINE_HINT.into()),
            DockerError::RegistryRefused { pulled_as, .. } => Some(format!(
                "nothing listens at the address {} names: start the registry or mirror (or fix \
                 --registry-mirror HOST:PORT), then run the command again; images already \
                 pulled are skipped",
                pulled_as.split('/').next().unwrap_or(pulled_as)
            )),
            DockerError::Unauthorized { .. } => Some(
                "log in to the registry (`docker login`), or pull through a mirror you may use \
                 (--registry-mirror)"
                    .into(),
            ),
            DockerError::PullFailed { .. } => Some(
                "check the network or the registry mirror, then run the command again: images \
                 already pulled are skipped"
                    .into(),
            ),
            DockerError::ImageMissing { .. } => {
                Some("pull the images first: `onyx images pull`".into())
            }
            DockerError::BadBundle { .. } => Some(
                "make the bundle again with `onyx images save -o FILE` and copy it whole \
                 (compare its size with the original)"
                    .into(),
            ),
            DockerError::Io(_) | DockerError::Engine(_) => None,
        }
    }
}

/// What happened to one image, in order: `Start`, any `Progress`/`Retry`, then `Done`, `Skipped`
/// or `Failed`.
#[derive(Debug, Clone, PartialEq)]
pub enum ImageEvent {
    Start,
    /// Bytes moved so far out of the total known so far; layers finished out of layers seen.
    Progress {
        done: u64,
        total: u64,
        layers_done: u32,
        layers: u32,
    },
    /// A transient failure; the next attempt starts after `wait`.
    Retry {
        attempt: u32,
        wait: std::time::Duration,
        reason: String,
    },
    /// Already present: nothing to do.
    Skipped,
    Done,
    Failed(String),
}

/// Receives progress from library code; the UI draws it, tests record it.
pub trait Reporter: Send + Sync {
    fn image(&self, image: &str, event: ImageEvent);
    /// A one-off message for the user (e.g. "verifying bundle").
    fn message(&self, text: &str);
}

/// A reporter that drops everything.
pub struct Silent;

impl Reporter for Silent {
    fn image(&self, _: &str, _: ImageEvent) {}
    fn message(&self, _: &str) {}
}

#[cfg(test)]
mod offline_hint_tests {
    use clap::Parser;

    /// Every command the offline hint names parses as this binary's (no `--bundle` where the
    /// command has none), and the bundle is made from pulled images.
    #[test]
    fn offline_hint_commands_run_as_printed() {
        let commands: Vec<&str> = super::OFFLINE_HINT.split('`').skip(1).step_by(2).collect();
        assert!(commands.len() >= 4, "{commands:?}");
        for c in &commands {
            let words: Vec<&str> = c.split_whitespace().collect();
            assert_eq!(words[0], "onyx", "{c}");
            crate::cli::Cli::try_parse_from(&words).unwrap_or_else(|e| panic!("{c}: {e}"));
        }
        let pull = super::OFFLINE_HINT.find("onyx images pull").unwrap();
        let save = super::OFFLINE_HINT.find("onyx images save").unwrap();
        assert!(pull < save);
    }
}
