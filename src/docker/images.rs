//! Pull the stack's images into the engine, in parallel, with per-image progress.
//!
//! For each image (at most [`PullOptions::parallel`] at once):
//! 1. present already (same digest when pinned by digest)? report `Skipped`, done;
//! 2. pull, through the mirror when one is set, turning the engine's per-layer messages into
//!    byte and layer counts for the [`Reporter`];
//! 3. on a transient failure (timeouts, a dropped connection, 5xx, registry 429) wait and retry
//!    with a doubling backoff; not-found, unauthorised, a name that does not resolve and a refused
//!    connection (nothing listens there: a mirror that is not running) fail at once, naming the
//!    image;
//! 4. pulled through a mirror: tag it with its original reference so the manifests find it.
//!
//! The caller decides which images: the command passes the catalog's; tests pass their own.

use std::collections::HashMap;
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::{CreateImageOptionsBuilder, TagImageOptionsBuilder};
use futures_util::TryStreamExt;
use serde::Serialize;

use super::reference::{self, Reference};
use super::{DockerError, ImageEvent, Reporter};

/// How to pull.
#[derive(Debug, Clone)]
pub struct PullOptions {
    /// Pull Docker Hub images through this registry (`HOST[:PORT][/PATH]`).
    pub mirror: Option<String>,
    /// Images pulled at once.
    pub parallel: usize,
    /// Attempts per image, the first included.
    pub attempts: u32,
    /// Wait before the first retry; doubled for each next one, up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            mirror: None,
            parallel: 4,
            attempts: 6,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// What happened to one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pulled,
    Present,
    Failed,
}

/// One image's result, for `-o json`.
#[derive(Debug, Clone, Serialize)]
pub struct PullResult {
    pub image: String,
    /// Where it was pulled from (differs from `image` with a mirror).
    pub pulled_as: String,
    pub outcome: Outcome,
    /// The engine's image ID, when the image is there.
    pub id: Option<String>,
    /// Pull attempts made (0: present already, or never tried).
    pub attempts: u32,
    pub error: Option<String>,
}

/// Is the image in the engine? For a reference pinned by digest, only with that digest.
pub async fn present(docker: &Docker, r: &Reference) -> Result<Option<String>, DockerError> {
    match docker.inspect_image(&r.local_name()).await {
        Ok(inspect) => {
            if let Some(digest) = &r.digest {
                let digests = inspect.repo_digests.unwrap_or_default();
                if !digests.iter().any(|d| d.ends_with(&format!("@{digest}"))) {
                    return Ok(None);
                }
            }
            Ok(inspect.id)
        }
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// An image the engine must already have: its parsed reference and the engine's inspect of it,
/// or [`DockerError::ImageMissing`] naming it.
pub async fn inspect_local(
    docker: &Docker,
    image: &str,
) -> Result<(Reference, bollard::models::ImageInspect), DockerError> {
    let missing = || DockerError::ImageMissing {
        image: image.into(),
    };
    let r = Reference::parse(image).map_err(|_| missing())?;
    match docker.inspect_image(&r.local_name()).await {
        Ok(i) => Ok((r, i)),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Err(missing()),
        Err(e) => Err(e.into()),
    }
}

/// Whether an error from a pull is worth another attempt.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// The registry's name does not resolve: no retry can help (DNS offline, air-gapped).
    Unreachable,
    /// Nothing listens at the registry's address (`connect: connection refused`): a mirror or
    /// registry that is not running, or a wrong port. Waiting does not start it.
    Refused,
    NotFound,
    Unauthorized,
    Transient,
}

/// Sort an engine's pull error message. The engine passes the registry's words on, so this reads
/// them; anything unknown counts as transient (bounded by the attempts).
pub fn classify(status: Option<u16>, message: &str) -> Failure {
    let m = message.to_ascii_lowercase();
    // Go's resolver words (the engine is written in Go): "dial tcp: lookup registry-1.docker.io
    // on 10.0.0.2:53: no such host", "…: server misbehaving", or glibc's "Temporary failure in
    // name resolution".
    if m.contains("no such host")
        || (m.contains("lookup ") && m.contains("server misbehaving"))
        || m.contains("temporary failure in name resolution")
    {
        return Failure::Unreachable;
    }
    // Go's dialer: "dial tcp 127.0.0.1:5000: connect: connection refused".
    if m.contains("connection refused") {
        return Failure::Refused;
    }
    if m.contains("toomanyrequests") || m.contains("too many requests") || status == Some(429) {
        return Failure::Transient;
    }
    if m.contains("unauthorized")
        || m.contains("authentication required")
        || m.contains("denied")
        || status == Some(401)
        || status == Some(403)
    {
        // Docker Hub answers "pull access denied ... repository does not exist" for both.
        if m.contains("does not exist") || m.contains("not found") {
            return Failure::NotFound;
        }
        return Failure::Unauthorized;
    }
    if m.contains("manifest unknown")
        || m.contains("not found")
        || m.contains("name unknown")
        || m.contains("does not exist")
        || status == Some(404)
    {
        return Failure::NotFound;
    }
    Failure::Transient
}

/// Byte and layer counts for one image, from the engine's per-layer messages.
#[derive(Default)]
struct LayerProgress {
    /// layer id → (downloaded, total, finished)
    layers: HashMap<String, (u64, u64, bool)>,
    order: Vec<String>,
    /// Layers whose bytes have all arrived (the engine may still unpack them).
    arrived: std::collections::HashSet<String>,
}

impl LayerProgress {
    /// Feed one message; `true` when the counts changed.
    fn update(&mut self, info: &bollard::models::CreateImageInfo) -> bool {
        let (Some(id), Some(status)) = (&info.id, &info.status) else {
            return false;
        };
        // Messages about the image as a whole ("Pulling from library/x") have the tag as id.
        let layer_status = [
            "Pulling fs layer",
            "Waiting",
            "Downloading",
            "Verifying Checksum",
            "Download complete",
            "Extracting",
            "Pull complete",
            "Already exists",
        ];
        if !layer_status.iter().any(|s| status.starts_with(s)) {
            return false;
        }
        if !self.layers.contains_key(id) {
            self.order.push(id.clone());
        }
        if [
            "Verifying Checksum",
            "Download complete",
            "Extracting",
            "Pull complete",
            "Already exists",
        ]
        .iter()
        .any(|s| status.starts_with(s))
        {
            self.arrived.insert(id.clone());
        }
        let entry = self.layers.entry(id.clone()).or_insert((0, 0, false));
        match status.as_str() {
            s if s.starts_with("Downloading") => {
                if let Some(d) = &info.progress_detail {
                    entry.0 = d.current.unwrap_or(0).max(0) as u64;
                    entry.1 = d.total.unwrap_or(0).max(0) as u64;
                }
            }
            "Download complete" | "Verifying Checksum" => entry.0 = entry.1,
            "Pull complete" | "Already exists" => {
                entry.0 = entry.1;
                entry.2 = true;
            }
            _ => {}
        }
        true
    }

    /// Every layer seen has all its bytes (what is left is the engine's unpacking). The engine
    /// names every layer of the image ("Pulling fs layer" or "Already exists") before it starts
    /// downloading any (moby v20.10.24 `distribution/xfer/download.go` `Download`, one loop
    /// over the layers), so "every layer seen" is every layer.
    fn downloaded(&self) -> bool {
        !self.order.is_empty() && self.order.iter().all(|id| self.arrived.contains(id))
    }

    fn event(&self) -> ImageEvent {
        let (mut done, mut total, mut layers_done) = (0, 0, 0);
        for (d, t, finished) in self.layers.values() {
            done += d;
            total += t;
            layers_done += u32::from(*finished);
        }
        ImageEvent::Progress {
            done,
            total,
            layers_done,
            layers: self.order.len() as u32,
        }
    }
}

/// One pull attempt, progress included; `downloaded` is told once every byte has arrived.
async fn pull_once(
    docker: &Docker,
    image: &str,
    from: &str,
    reporter: &dyn Reporter,
    downloaded: &mut Option<tokio::sync::oneshot::Sender<()>>,
) -> Result<(), bollard::errors::Error> {
    let options = CreateImageOptionsBuilder::new().from_image(from).build();
    let mut stream = docker.create_image(Some(options), None, None);
    let mut progress = LayerProgress::default();
    while let Some(info) = stream.try_next().await? {
        if progress.update(&info) {
            reporter.image(image, progress.event());
            if progress.downloaded()
                && let Some(tell) = downloaded.take()
            {
                let _ = tell.send(());
            }
        }
    }
    Ok(())
}

fn error_parts(e: &bollard::errors::Error) -> (Option<u16>, String) {
    match e {
        bollard::errors::Error::DockerResponseServerError {
            status_code,
            message,
        } => (Some(*status_code), message.clone()),
        bollard::errors::Error::DockerStreamError { error } => (None, error.clone()),
        other => (None, other.to_string()),
    }
}

/// Pull one image: skip when present, retry transient failures, tag after a mirror.
pub async fn pull_one(
    docker: &Docker,
    image: &str,
    options: &PullOptions,
    reporter: &dyn Reporter,
) -> Result<PullResult, DockerError> {
    pull_one_telling(docker, image, options, reporter, None).await
}

/// [`pull_one`], telling `downloaded` as soon as every byte of the image has arrived, while the
/// engine still unpacks it (the pipeline then starts the next download; [`Reporter`] events
/// are the same as [`pull_one`]'s). Not told when the image was present, nor when the engine
/// sent no layer progress.
pub async fn pull_one_telling(
    docker: &Docker,
    image: &str,
    options: &PullOptions,
    reporter: &dyn Reporter,
    mut downloaded: Option<tokio::sync::oneshot::Sender<()>>,
) -> Result<PullResult, DockerError> {
    let r = Reference::parse(image).map_err(|message| DockerError::NotFound {
        image: image.into(),
        pulled_as: image.into(),
        message,
    })?;
    let from = r.pull_reference(options.mirror.as_deref());
    reporter.image(image, ImageEvent::Start);
    if let Some(id) = present(docker, &r).await? {
        reporter.image(image, ImageEvent::Skipped);
        return Ok(PullResult {
            image: image.into(),
            pulled_as: from,
            outcome: Outcome::Present,
            id: Some(id),
            attempts: 0,
            error: None,
        });
    }
    let mut wait = options.backoff;
    let mut attempt = 1;
    loop {
        let err = match pull_once(docker, image, &from, reporter, &mut downloaded).await {
            Ok(()) => break,
            Err(e) => e,
        };
        let (status, message) = error_parts(&err);
        let failure = classify(status, &message);
        let fatal = match failure {
            Failure::Unreachable => Some(DockerError::RegistryUnreachable {
                image: image.into(),
                pulled_as: from.clone(),
                message: message.clone(),
            }),
            Failure::Refused => Some(DockerError::RegistryRefused {
                image: image.into(),
                pulled_as: from.clone(),
                message: message.clone(),
            }),
            Failure::NotFound => Some(DockerError::NotFound {
                image: image.into(),
                pulled_as: from.clone(),
                message: message.clone(),
            }),
            Failure::Unauthorized => Some(DockerError::Unauthorized {
                image: image.into(),
                pulled_as: from.clone(),
                message: message.clone(),
            }),
            Failure::Transient if attempt >= options.attempts => Some(DockerError::PullFailed {
                image: image.into(),
                attempts: attempt,
                message: message.clone(),
            }),
            Failure::Transient => None,
        };
        if let Some(e) = fatal {
            reporter.image(image, ImageEvent::Failed(e.to_string()));
            return Err(e);
        }
        tracing::debug!(image, attempt, "pull failed, retrying: {message}");
        reporter.image(
            image,
            ImageEvent::Retry {
                attempt,
                wait,
                reason: message,
            },
        );
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(options.max_backoff);
        attempt += 1;
    }
    // Tag with the original reference when pulled through a mirror, or by digest (the engine
    // then knows it only as name@digest).
    if (from != r.original || r.digest.is_some())
        && let Some((repo, tag)) = r.tag_target()
    {
        let source = match (&r.digest, options.mirror.as_deref()) {
            (Some(_), Some(mirror)) if r.registry == reference::DOCKER_HUB => Reference {
                tag: None,
                ..r.clone()
            }
            .pull_reference(Some(mirror)),
            (Some(digest), _) => format!("{}@{digest}", r.repository()),
            (None, _) => from.clone(),
        };
        let options = TagImageOptionsBuilder::new().repo(&repo).tag(&tag).build();
        docker.tag_image(&source, Some(options)).await?;
    }
    let id = docker.inspect_image(&r.local_name()).await?.id;
    reporter.image(image, ImageEvent::Done);
    Ok(PullResult {
        image: image.into(),
        pulled_as: from,
        outcome: Outcome::Pulled,
        id,
        attempts: attempt,
        error: None,
    })
}

/// Pull every image, `options.parallel` at once. Every image gets a result; the error of the first
/// failure (in the order given) is returned after the others finished, so one missing image
/// doesn't waste the others' downloads. Not-found images fail fast: they are not retried.
pub async fn pull_all(
    docker: &Docker,
    images: &[String],
    options: &PullOptions,
    reporter: &dyn Reporter,
) -> (Vec<PullResult>, Option<DockerError>) {
    super::each_image(
        images,
        options.parallel,
        |image| pull_one(docker, image, options, reporter),
        |image, e| PullResult {
            image: image.clone(),
            pulled_as: Reference::parse(image)
                .map(|r| r.pull_reference(options.mirror.as_deref()))
                .unwrap_or_else(|_| image.clone()),
            outcome: Outcome::Failed,
            id: None,
            // As many as the error says were made: retried transient failures, or the one
            // attempt a missing or forbidden image, or a registry not there, gets.
            attempts: match e {
                DockerError::PullFailed { attempts, .. } => *attempts,
                DockerError::NotFound { .. }
                | DockerError::Unauthorized { .. }
                | DockerError::RegistryUnreachable { .. }
                | DockerError::RegistryRefused { .. } => 1,
                _ => 0,
            },
            error: Some(e.to_string()),
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_sorted_into_retry_or_fail() {
        use Failure::*;
        let cases = [
            (
                Some(404),
                "manifest for x:1 not found: manifest unknown",
                NotFound,
            ),
            (
                Some(404),
                "pull access denied for nope, repository does not exist or may require 'docker login'",
                NotFound,
            ),
            (
                Some(500),
                "Head https://r/v2/x/manifests/1: unauthorized: authentication required",
                Unauthorized,
            ),
            (
                Some(500),
                "toomanyrequests: You have reached your pull rate limit",
                Transient,
            ),
            (
                Some(500),
                "Get \"http://127.0.0.1:5000/v2/\": dial tcp 127.0.0.1:5000: connect: connection refused",
                Refused,
            ),
            (None, "unexpected EOF", Transient),
            (Some(429), "slow down", Transient),
            (
                Some(500),
                "Get \"https://registry-1.docker.io/v2/\": dial tcp: lookup registry-1.docker.io on 10.0.2.3:53: no such host",
                Unreachable,
            ),
            (
                Some(500),
                "Get \"https://registry-1.docker.io/v2/\": dial tcp: lookup registry-1.docker.io: Temporary failure in name resolution",
                Unreachable,
            ),
        ];
        for (status, msg, want) in cases {
            assert_eq!(classify(status, msg), want, "{msg}");
        }
    }

    fn info(id: &str, status: &str, current: i64, total: i64) -> bollard::models::CreateImageInfo {
        bollard::models::CreateImageInfo {
            id: Some(id.into()),
            status: Some(status.into()),
            progress_detail: Some(bollard::models::ProgressDetail {
                current: Some(current),
                total: Some(total),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn layer_messages_become_counts() {
        let mut p = LayerProgress::default();
        assert!(!p.update(&info("1.0", "Pulling from library/x", 0, 0)));
        assert!(p.update(&info("a", "Pulling fs layer", 0, 0)));
        assert!(p.update(&info("b", "Already exists", 0, 0)));
        assert!(p.update(&info("a", "Downloading", 50, 200)));
        assert_eq!(
            p.event(),
            ImageEvent::Progress {
                done: 50,
                total: 200,
                layers_done: 1,
                layers: 2
            }
        );
        p.update(&info("a", "Download complete", 0, 0));
        p.update(&info("a", "Pull complete", 0, 0));
        assert_eq!(
            p.event(),
            ImageEvent::Progress {
                done: 200,
                total: 200,
                layers_done: 2,
                layers: 2
            }
        );
    }

    #[test]
    fn an_image_is_downloaded_once_every_layer_has_its_bytes_even_while_it_unpacks() {
        let mut p = LayerProgress::default();
        assert!(!p.downloaded(), "nothing seen yet");
        p.update(&info("a", "Pulling fs layer", 0, 0));
        p.update(&info("b", "Pulling fs layer", 0, 0));
        p.update(&info("c", "Already exists", 0, 0));
        p.update(&info("a", "Downloading", 100, 100));
        p.update(&info("a", "Download complete", 0, 0));
        // b has not arrived: a's bytes alone are not the image's.
        assert!(!p.downloaded());
        p.update(&info("a", "Extracting", 10, 100));
        p.update(&info("b", "Downloading", 50, 100));
        assert!(!p.downloaded());
        p.update(&info("b", "Verifying Checksum", 0, 0));
        // Every byte is in; a is still being unpacked and b waits for it.
        assert!(p.downloaded());
        assert_eq!(
            p.event(),
            ImageEvent::Progress {
                done: 200,
                total: 200,
                layers_done: 1,
                layers: 3
            }
        );
    }
}
