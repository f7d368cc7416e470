//! The stack's images into the node's containerd, so pods start without any registry (as
//! `kind load docker-image`, through the Docker API).
//!
//! Once: read the node's snapshotter from `containerd config dump`. Then for each image, several
//! at once, each reported through the [`Reporter`]:
//! 1. the engine's image ID (the image must be in the engine: `onyx images pull` or `load`);
//! 2. the node's view of that ID (`crictl inspecti <id>`): present under the image's name → skip;
//!    present under other names only → tag it (`ctr images tag`), no copy;
//! 3. else the target digest containerd records for the image's name (`ctr images ls
//!    name==<name>`): equal to the engine's ID → skip. The engine's ID is the image config's
//!    digest with the classic image store but the target's (manifest or index) with the
//!    containerd image store, and CRI only ever reports the config's, so step 2 alone would
//!    re-import every image on every run there. That is what kind v0.32.0 itself does: its
//!    `pkg/cmd/kind/load/docker-image/docker-image.go` `runE` compares only CRI's ID
//!    (`pkg/cluster/nodeutils/util.go` `ImageID`, `crictl inspecti`) with `docker image inspect`'s
//!    `.Id`, so on the containerd image store it loads every image again (kind#4236). Step 3 is
//!    onyx's own, the check kind PR #4238 proposes (merged in no kind release); what it relies on
//!    (containerd's `ctr images ls` columns and which digest it records as the target) is pinned
//!    against a real containerd 1.6.20 in `tests/it/node_images.rs`, not taken from kind;
//! 4. else stream the engine's `docker save` of the image into
//!    `ctr --namespace=k8s.io images import --all-platforms --digests --snapshotter=<s> -` through
//!    exec stdin, never held in memory or written to disk; with the engine's containerd image
//!    store the save holds only the local platform, so `--all-platforms` is left out.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bollard::Docker;
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};

use super::kind::{self, Stdin};
use crate::docker::reference::Reference;
use crate::docker::{DockerError, ImageEvent, Reporter};

/// How often byte progress is reported while streaming.
const TICK: Duration = Duration::from_millis(200);

/// How to import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Images handled at once.
    pub parallel: usize,
    /// The engine keeps images in containerd's store (`EngineFacts::containerd_image_store`).
    pub containerd_image_store: bool,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            parallel: 3,
            containerd_image_store: false,
        }
    }
}

/// What happened to one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// In the node already, under its name.
    Present,
    /// In the node under another name; tagged.
    Retagged,
    /// Streamed into the node.
    Imported,
    Failed,
}

/// One image's result, for `-o json`.
#[derive(Debug, Clone, Serialize)]
pub struct ImportResult {
    pub image: String,
    /// The engine's image ID.
    pub id: Option<String>,
    pub outcome: Outcome,
    /// Bytes streamed into the node.
    pub bytes: u64,
    pub error: Option<String>,
}

/// The snapshotter containerd in the node uses, from `containerd config dump` (config version 2:
/// the CRI plugin's `containerd.snapshotter`; 3 and 4: `io.containerd.cri.v1.images`), as kind
/// reads it.
pub fn parse_snapshotter(config: &str) -> Result<String, String> {
    let v: toml::Value =
        toml::from_str(config).map_err(|e| format!("containerd's config is not TOML: {e}"))?;
    let version = v
        .get("version")
        .and_then(toml::Value::as_integer)
        .ok_or("containerd's config has no version")?;
    let path: &[&str] = match version {
        2 => &[
            "plugins",
            "io.containerd.grpc.v1.cri",
            "containerd",
            "snapshotter",
        ],
        3 | 4 => &["plugins", "io.containerd.cri.v1.images", "snapshotter"],
        other => {
            return Err(format!(
                "containerd config version {other} is not known (2, 3, 4 are)"
            ));
        }
    };
    let mut cur = &v;
    for key in path {
        cur = cur.get(key).ok_or_else(|| {
            format!("containerd's config (version {version}) names no snapshotter")
        })?;
    }
    cur.as_str()
        .map(str::to_string)
        .ok_or_else(|| "containerd's snapshotter is not a string".into())
}

/// The import command run in the node.
pub fn import_command(snapshotter: &str, containerd_image_store: bool) -> Vec<String> {
    let mut cmd: Vec<String> = ["ctr", "--namespace=k8s.io", "images", "import"]
        .map(String::from)
        .to_vec();
    if !containerd_image_store {
        cmd.push("--all-platforms".into());
    }
    cmd.push("--digests".into());
    cmd.push(format!("--snapshotter={snapshotter}"));
    cmd.push("-".into());
    cmd
}

/// The name containerd's CRI knows an image by (`nginx:1.2` → `docker.io/library/nginx:1.2`).
pub fn cri_name(r: &Reference) -> String {
    let mut s = format!("{}/{}", r.registry, r.remote_path());
    match (&r.tag, &r.digest) {
        (Some(t), _) => {
            s.push(':');
            s.push_str(t);
        }
        (None, Some(d)) => {
            s.push('@');
            s.push_str(d);
        }
        (None, None) => s.push_str(":latest"),
    }
    s
}

#[derive(Deserialize)]
struct CrictlInspect {
    status: CrictlStatus,
}

#[derive(Deserialize)]
struct CrictlStatus {
    id: String,
    #[serde(rename = "repoTags", default)]
    repo_tags: Vec<String>,
}

/// The digest of the target (manifest or index) containerd records for `name`, from the output
/// of `ctr --namespace=k8s.io images ls name==<name>`: a header row, then `REF TYPE DIGEST SIZE
/// PLATFORMS LABELS` per image (containerd 1.6.20's `ctr images ls`, checked against a real one
/// in `tests/it/node_images.rs`; kind v0.32.0 never reads it, kind PR #4238 — in no release —
/// would).
pub fn target_digest(ctr_ls: &str, name: &str) -> Option<String> {
    ctr_ls.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields.len() >= 3 && fields[0] == name).then(|| fields[2].to_string())
    })
}

/// Whether the node holds the engine's image `engine_id` under its name: CRI's ID for the name is
/// the engine's (classic image store: both are the config digest), or containerd's target digest
/// for the name is (containerd image store: both are the manifest's or index's digest). kind
/// v0.32.0 checks only the first (`docker-image.go` `runE`); the second is onyx's own, as
/// proposed in kind PR #4238 (`imagePresentOnNode`, in no kind release).
pub fn present_on_node(engine_id: &str, cri_id: Option<&str>, target: Option<&str>) -> bool {
    cri_id == Some(engine_id) || target == Some(engine_id)
}

/// containerd's target digest for an image name in the node, if it has the name.
pub async fn node_target_digest(
    docker: &Docker,
    node: &str,
    name: &str,
) -> Result<Option<String>, DockerError> {
    let filter = format!("name=={name}");
    let out = kind::exec(
        docker,
        node,
        &["ctr", "--namespace=k8s.io", "images", "ls", &filter],
        None,
    )
    .await?;
    if !out.ok() {
        return Ok(None);
    }
    Ok(target_digest(&out.stdout_text(), name))
}

/// The node's ID and names for an image (by name or ID), if it has it.
pub async fn node_image(
    docker: &Docker,
    node: &str,
    image: &str,
) -> Result<Option<(String, Vec<String>)>, DockerError> {
    let out = kind::exec(docker, node, &["crictl", "inspecti", image], None).await?;
    if !out.ok() {
        return Ok(None);
    }
    match serde_json::from_slice::<CrictlInspect>(&out.stdout) {
        Ok(i) => Ok(Some((i.status.id, i.status.repo_tags))),
        Err(_) => Ok(None),
    }
}

/// The node's snapshotter.
pub async fn snapshotter(docker: &Docker, node: &str) -> Result<String, String> {
    let out = kind::exec(docker, node, &["containerd", "config", "dump"], None)
        .await
        .map_err(|e| e.to_string())?;
    if !out.ok() {
        return Err(format!(
            "`containerd config dump` failed, {}",
            out.error_text()
        ));
    }
    parse_snapshotter(&out.stdout_text())
}

/// Put one image into the node (`snapshotter`: [`snapshotter`]'s answer, read once).
pub async fn load_one(
    docker: &Docker,
    node: &str,
    image: &str,
    snapshotter: &str,
    options: &ImportOptions,
    reporter: &dyn Reporter,
) -> Result<ImportResult, DockerError> {
    reporter.image(image, ImageEvent::Start);
    let (r, inspect) = crate::docker::images::inspect_local(docker, image).await?;
    let id = inspect.id.clone().unwrap_or_default();
    let name = cri_name(&r);
    let result = |outcome, bytes| ImportResult {
        image: image.into(),
        id: Some(id.clone()),
        outcome,
        bytes,
        error: None,
    };

    let by_id = node_image(docker, node, &id).await?;
    if let Some((node_id, tags)) = &by_id
        && *node_id == id
    {
        if tags.contains(&name) {
            reporter.image(image, ImageEvent::Skipped);
            return Ok(result(Outcome::Present, 0));
        }
        let tag = kind::exec(
            docker,
            node,
            &[
                "ctr",
                "--namespace=k8s.io",
                "images",
                "tag",
                "--force",
                &id,
                name.as_str(),
            ],
            None,
        )
        .await?;
        if tag.ok() {
            reporter.message(&format!("{image}: in the node under another name; tagged"));
            reporter.image(image, ImageEvent::Done);
            return Ok(result(Outcome::Retagged, 0));
        }
        tracing::debug!(
            "{image}: tagging in the node failed ({}); importing",
            tag.error_text()
        );
    } else {
        // Not found by its ID: the containerd image store's ID is the target digest, which CRI
        // does not know; containerd does, under the image's name.
        let cri_id = node_image(docker, node, &name).await?.map(|(i, _)| i);
        let target = node_target_digest(docker, node, &name).await?;
        if present_on_node(&id, cri_id.as_deref(), target.as_deref()) {
            reporter.image(image, ImageEvent::Skipped);
            return Ok(result(Outcome::Present, 0));
        }
    }

    let total = inspect.size.unwrap_or(0).max(0) as u64;
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    let export: Stdin = Box::pin(
        docker
            .export_image(&r.local_name())
            .map_err(|e| std::io::Error::other(e.to_string()))
            .inspect_ok(move |chunk| {
                counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }),
    );
    let cmd = import_command(snapshotter, options.containerd_image_store);
    let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
    let import = kind::exec(docker, node, &cmd, Some(export));
    tokio::pin!(import);
    let mut tick = tokio::time::interval(TICK);
    let out = loop {
        tokio::select! {
            out = &mut import => break out?,
            _ = tick.tick() => {
                let done = sent.load(Ordering::Relaxed);
                reporter.image(image, ImageEvent::Progress { done, total: total.max(done), layers_done: 0, layers: 0 });
            }
        }
    };
    let bytes = sent.load(Ordering::Relaxed);
    if !out.ok() {
        let message = format!("importing into the node failed, {}", out.error_text());
        reporter.image(image, ImageEvent::Failed(message.clone()));
        return Err(DockerError::Io(std::io::Error::other(message)));
    }
    reporter.image(
        image,
        ImageEvent::Progress {
            done: bytes,
            total: bytes,
            layers_done: 0,
            layers: 0,
        },
    );
    reporter.image(image, ImageEvent::Done);
    Ok(result(Outcome::Imported, bytes))
}

/// Put every image into the node, `options.parallel` at once. Every image gets a result; the
/// first error (in the order given) is returned after the others finished.
pub async fn load_all(
    docker: &Docker,
    node: &str,
    images: &[String],
    options: &ImportOptions,
    reporter: &dyn Reporter,
) -> (Vec<ImportResult>, Option<DockerError>) {
    let snap = match snapshotter(docker, node).await {
        Ok(s) => s,
        Err(e) => {
            let err = DockerError::Io(std::io::Error::other(format!(
                "cannot read the node's containerd snapshotter: {e}"
            )));
            let results = images
                .iter()
                .map(|i| ImportResult {
                    image: i.clone(),
                    id: None,
                    outcome: Outcome::Failed,
                    bytes: 0,
                    error: Some(err.to_string()),
                })
                .collect();
            return (results, Some(err));
        }
    };
    let snap = &snap;
    crate::docker::each_image(
        images,
        options.parallel,
        |image| async move {
            let r = load_one(docker, node, image, snap, options, reporter).await;
            if let Err(e) = &r {
                reporter.image(image, ImageEvent::Failed(e.to_string()));
            }
            r
        },
        |image, e| ImportResult {
            image: image.clone(),
            id: None,
            outcome: Outcome::Failed,
            bytes: 0,
            error: Some(e.to_string()),
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshotter_from_each_config_version() {
        let v2 = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n  snapshotter = \"overlayfs\"\n";
        assert_eq!(parse_snapshotter(v2).unwrap(), "overlayfs");
        let v3 = "version = 3\n[plugins.'io.containerd.cri.v1.images']\n  snapshotter = 'native'\n";
        assert_eq!(parse_snapshotter(v3).unwrap(), "native");
        assert!(parse_snapshotter("version = 9\n").is_err());
        assert!(parse_snapshotter("version = 2\n").is_err());
        assert!(parse_snapshotter("not toml [").is_err());
    }

    #[test]
    fn import_command_follows_the_engine_store() {
        assert_eq!(
            import_command("overlayfs", false).join(" "),
            "ctr --namespace=k8s.io images import --all-platforms --digests --snapshotter=overlayfs -"
        );
        assert_eq!(
            import_command("overlayfs", true).join(" "),
            "ctr --namespace=k8s.io images import --digests --snapshotter=overlayfs -"
        );
    }

    /// `ctr -n k8s.io images ls name==…` as containerd 1.6.20 printed it here for an image imported
    /// from a classic `docker save` (its target is the manifest containerd made from it).
    const CTR_LS: &str = "REF                               TYPE                                                 DIGEST                                                                  SIZE    PLATFORMS   LABELS                          
docker.io/library/onyx-kr-probe:1 application/vnd.docker.distribution.manifest.v2+json sha256:a80107c0932ac286586c37480a830d16b4e9a0c819b9b7c3cbf0ae11e433b50a 1.9 MiB linux/amd64 io.cri-containerd.image=managed 
";

    #[test]
    fn the_target_digest_is_read_from_ctr_images_ls() {
        assert_eq!(
            target_digest(CTR_LS, "docker.io/library/onyx-kr-probe:1").as_deref(),
            Some("sha256:a80107c0932ac286586c37480a830d16b4e9a0c819b9b7c3cbf0ae11e433b50a")
        );
        // Another name, the header only, or nothing: not there.
        assert_eq!(target_digest(CTR_LS, "docker.io/library/other:1"), None);
        assert_eq!(target_digest(CTR_LS.lines().next().unwrap(), "REF"), None);
        assert_eq!(target_digest("", "x"), None);
    }

    /// The cases of kind PR #4238's `Test_imagePresentOnNode` (in no kind release; kind v0.32.0
    /// has only the first check).
    #[test]
    fn present_by_config_digest_or_by_target_digest() {
        let config = "sha256:5a13d892fcdce272129e6e395d8fe5baa9532e61569c5a150e600589e81fd0a8";
        let target = "sha256:b8d31d6ecf8e6a63a9cfa29c13e45e3c00a0d7fef86f59457aa8d76a812a461f";
        let stale = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
        // Classic image store: the engine's ID is the config digest, as CRI's.
        assert!(present_on_node(config, Some(config), Some(target)));
        // containerd image store: the engine's ID is the target digest.
        assert!(present_on_node(target, Some(config), Some(target)));
        // The name holds other content.
        assert!(!present_on_node(stale, Some(config), Some(target)));
        assert!(!present_on_node(target, None, None));
        // CRI can't resolve it, containerd's record still can.
        assert!(present_on_node(target, None, Some(target)));
    }

    #[test]
    fn cri_names_are_fully_qualified() {
        let n = |s: &str| cri_name(&Reference::parse(s).unwrap());
        assert_eq!(
            n("nginx:1.23.4-alpine"),
            "docker.io/library/nginx:1.23.4-alpine"
        );
        assert_eq!(
            n("onyxdotapp/onyx-backend:v2.3.0"),
            "docker.io/onyxdotapp/onyx-backend:v2.3.0"
        );
        assert_eq!(n("quay.io/x/y"), "quay.io/x/y:latest");
        assert_eq!(n("127.0.0.1:5000/a/b:1"), "127.0.0.1:5000/a/b:1");
    }
}
