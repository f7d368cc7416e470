//! The real steps of the pipeline for onyx's own cluster: the engine pulls (or loads from the
//! bundle), the node's containerd imports, server-side apply; and [`own_cluster`], the entry
//! point `onyx up` (and the tests and the benchmark, with a boot of their own) calls. Apart from
//! the scheduler and the driver, which know nothing of Docker or Kubernetes.

use futures_util::future::LocalBoxFuture;

use super::{LayerJob, Limits, Reporter, Steps, Timeline, drive, fetch_order, layer_jobs};
use crate::error::Result;
use crate::stack::render::Rendered;

/// Where the stack's images come from.
pub enum Source {
    /// A registry (through the mirror, when the options name one).
    Registry(crate::docker::images::PullOptions),
    /// A bundle [`crate::docker::bundle::verify`] passed.
    Bundle {
        path: std::path::PathBuf,
        verified: crate::docker::bundle::Verified,
    },
}

/// What the boot step gives: the node to import into and the cluster to apply to, with the
/// rendered stack (in layer order).
pub struct Booted {
    pub node: String,
    pub target: crate::kube::Target,
    pub objects: Vec<Rendered>,
}

/// The real steps for onyx's own cluster: the engine pulls (or loads from the bundle), the
/// node's containerd imports, server-side apply; the boot is the caller's (`onyx up` makes,
/// reuses or starts the node; a test or the benchmark makes one that runs on its machine).
pub struct OwnSteps<'a, B> {
    docker: &'a bollard::Docker,
    source: Source,
    import: crate::cluster::node_images::ImportOptions,
    boot: std::cell::RefCell<Option<B>>,
    booted: std::cell::OnceCell<(Booted, String)>,
    /// Byte progress of pulls, loads and imports.
    bytes: &'a dyn crate::docker::Reporter,
}

impl<'a, B> OwnSteps<'a, B>
where
    B: std::future::Future<Output = Result<Booted>> + 'a,
{
    pub fn new(
        docker: &'a bollard::Docker,
        source: Source,
        import: crate::cluster::node_images::ImportOptions,
        boot: B,
        bytes: &'a dyn crate::docker::Reporter,
    ) -> Self {
        OwnSteps {
            docker,
            source,
            import,
            boot: std::cell::RefCell::new(Some(boot)),
            booted: std::cell::OnceCell::new(),
            bytes,
        }
    }

    /// The node and the cluster, once the pipeline has run.
    pub fn into_booted(self) -> Option<Booted> {
        self.booted.into_inner().map(|(b, _)| b)
    }

    fn booted(&self) -> Result<&(Booted, String)> {
        self.booted.get().ok_or_else(|| {
            crate::error::Error::Internal(anyhow::anyhow!("a pipeline step ran before the boot"))
        })
    }
}

impl<'a, B> Steps for OwnSteps<'a, B>
where
    B: std::future::Future<Output = Result<Booted>> + 'a,
{
    fn boot(&self) -> LocalBoxFuture<'_, Result<Vec<LayerJob>>> {
        Box::pin(async move {
            let boot = self.boot.borrow_mut().take().ok_or_else(|| {
                crate::error::Error::Internal(anyhow::anyhow!("the node was booted twice"))
            })?;
            let booted = boot.await?;
            // Read once: every import needs it.
            let snapshotter = crate::cluster::node_images::snapshotter(self.docker, &booted.node)
                .await
                .map_err(|e| {
                    crate::docker::DockerError::Io(std::io::Error::other(format!(
                        "cannot read the node's containerd snapshotter: {e}"
                    )))
                })?;
            let layers = layer_jobs(&booted.objects);
            let _ = self.booted.set((booted, snapshotter));
            Ok(layers)
        })
    }

    fn fetch<'s>(
        &'s self,
        image: &'s str,
        downloaded: tokio::sync::oneshot::Sender<()>,
    ) -> LocalBoxFuture<'s, Result<()>> {
        Box::pin(async move {
            match &self.source {
                Source::Registry(options) => {
                    crate::docker::images::pull_one_telling(
                        self.docker,
                        image,
                        options,
                        self.bytes,
                        Some(downloaded),
                    )
                    .await?;
                }
                Source::Bundle { path, verified } => {
                    let Some(index) = verified
                        .manifest
                        .images
                        .iter()
                        .position(|i| i.reference == image)
                    else {
                        return Err(crate::docker::DockerError::BadBundle {
                            path: path.clone(),
                            problem: format!("it does not hold {image}"),
                        }
                        .into());
                    };
                    crate::docker::bundle::load_part(
                        self.docker,
                        path,
                        verified,
                        index,
                        self.bytes,
                    )
                    .await?;
                }
            }
            Ok(())
        })
    }

    fn import<'s>(&'s self, image: &'s str) -> LocalBoxFuture<'s, Result<()>> {
        Box::pin(async move {
            let (booted, snapshotter) = self.booted()?;
            let r = crate::cluster::node_images::load_one(
                self.docker,
                &booted.node,
                image,
                snapshotter,
                &self.import,
                self.bytes,
            )
            .await;
            if let Err(e) = &r {
                self.bytes
                    .image(image, crate::docker::ImageEvent::Failed(e.to_string()));
            }
            r?;
            Ok(())
        })
    }

    fn apply(&self, k: usize) -> LocalBoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let (booted, _) = self.booted()?;
            let layers = layer_jobs(&booted.objects);
            let Some(layer) = layers.get(k).map(|l| l.layer) else {
                return Ok(());
            };
            let objects: Vec<Rendered> = booted
                .objects
                .iter()
                .filter(|r| r.layer == layer)
                .cloned()
                .collect();
            crate::kube::apply::apply_all(&booted.target, &objects).await?;
            Ok(())
        })
    }
}

/// onyx's own cluster from cold: `boot` (the node, the connection, the rendered stack) runs
/// while `images` download, each image goes into the node as soon as it is in the engine, each
/// layer is applied as soon as its images are in the node. Returns the node and the cluster
/// (for the wait that follows) and when each step finished.
///
/// This is the entry point `onyx up` uses, and the one a test or the benchmark calls with a
/// `boot` of its own (e.g. a node made to run where a privileged container can't).
pub async fn own_cluster<'a, B>(
    docker: &'a bollard::Docker,
    images: &[String],
    source: Source,
    import: crate::cluster::node_images::ImportOptions,
    boot: B,
    limits: Limits,
    progress: &'a (impl Reporter + crate::docker::Reporter),
) -> Result<(Booted, Timeline)>
where
    B: std::future::Future<Output = Result<Booted>> + 'a,
{
    // The order needs the layers' images before anything is rendered against the cluster: the
    // embedded objects run the same images as the rendered ones (render patches sizes and
    // settings, never an image).
    let order = fetch_order(
        images,
        &layer_jobs(&crate::stack::render::embedded_objects()),
    );
    let steps = OwnSteps::new(docker, source, import, boot, progress);
    let timeline = drive(&steps, order, limits, progress).await?;
    let booted = steps.into_booted().ok_or_else(|| {
        crate::error::Error::Internal(anyhow::anyhow!("the pipeline ended without a node"))
    })?;
    Ok((booted, timeline))
}
