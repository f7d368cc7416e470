//! The cold start as a pipeline (issue #13): instead of node → pull all → import all → apply all,
//! every step starts as soon as what it needs is there.
//!
//! 1. The node boots while the stack's images download: the node needs only its own image.
//! 2. Each image, in the stack's dependency order ([`fetch_order`]), goes from the registry (or
//!    the bundle) into the engine, then into the node as soon as it is in the engine and the
//!    node is up. From a registry one image downloads at a time ([`Limits`]), and the next
//!    starts as soon as the previous one's bytes are all in, while the engine still unpacks it
//!    ([`Event::Downloaded`]): the link stays busy and is never shared.
//! 3. A layer is applied as soon as every image its pods run is in the node and the layers
//!    before it are applied, so PostgreSQL, Redis, MinIO and Vespa boot while the API and web
//!    images still download.
//!
//! Why a layer waits for its images: the manifests say `imagePullPolicy: IfNotPresent`, and the
//! kubelet pulls such an image only when the runtime does not have it (kubernetes
//! `pkg/kubelet/images/image_manager.go` `shouldPullImage`); an image put into containerd by
//! something else than the kubelet is used without a pull under the default credential policy
//! `NeverVerifyPreloadedImages` (`pkg/kubelet/images/pullmanager/image_pull_manager_test.go`,
//! "image exists and there are no records of it with NeverVerifyPreloadedImages pull policy").
//! A pod created before its image is in the node would therefore download that image a second
//! time, from the registry, while onyx is still importing it; applying a layer only after its
//! images are in the node rules that out.
//!
//! The decisions are the pure [`Scheduler`], fed by events (what finished); the side effects
//! (engine pull or bundle load, node import, apply, node boot) sit behind [`Steps`], so tests
//! drive it with their own. [`drive`] runs the two together; [`crate::deploy::pipeline`]'s
//! callers give it real steps ([`OwnSteps`]). Every step is idempotent (a present image is
//! skipped, apply is server-side apply), so Ctrl-C at any point leaves a state that the next
//! `up` completes.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_util::future::LocalBoxFuture;
use futures_util::stream::{FuturesUnordered, StreamExt};

use crate::error::Result;
use crate::stack::catalog::Layer;
use crate::stack::render::{Object, Rendered};

/// One layer to apply: the services it starts and the images their pods run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerJob {
    pub layer: Layer,
    pub services: Vec<String>,
    pub images: Vec<String>,
}

/// The rendered objects grouped by layer (in apply order), each with the images its pod
/// templates run (containers and init containers).
pub fn layer_jobs(objects: &[Rendered]) -> Vec<LayerJob> {
    let mut by_layer: BTreeMap<Layer, LayerJob> = BTreeMap::new();
    for r in objects {
        let job = by_layer.entry(r.layer).or_insert_with(|| LayerJob {
            layer: r.layer,
            services: Vec::new(),
            images: Vec::new(),
        });
        if let Some(s) = r.service
            && !job.services.iter().any(|x| x == s)
        {
            job.services.push(s.to_string());
        }
        for image in pod_images(&r.object) {
            if !job.images.contains(&image) {
                job.images.push(image);
            }
        }
    }
    by_layer.into_values().collect()
}

fn pod_images(object: &Object) -> Vec<String> {
    let spec = match object {
        Object::Deployment(d) => d.spec.as_ref().and_then(|s| s.template.spec.as_ref()),
        Object::StatefulSet(s) => s.spec.as_ref().and_then(|s| s.template.spec.as_ref()),
        _ => None,
    };
    let Some(spec) = spec else { return Vec::new() };
    spec.init_containers
        .iter()
        .flatten()
        .chain(&spec.containers)
        .filter_map(|c| c.image.clone())
        .collect()
}

/// The order to fetch images in: by the first layer that runs each (the stack's dependency
/// order: the data services, then the model server, the API, the web server, the gateway),
/// keeping the given order within a layer. Images no layer runs come last.
///
/// The model server comes before the API's image, not after it: the API's pod waits in its
/// `wait-for-dependencies` init container for the model server's `/api/health`
/// (`embedded/manifests/30-api-server.yaml`), so the model server booting while the API's image
/// downloads takes its boot off the critical path, while fetching it last would put it there.
pub fn fetch_order(images: &[String], layers: &[LayerJob]) -> Vec<String> {
    let rank = |image: &String| {
        layers
            .iter()
            .position(|l| l.images.contains(image))
            .unwrap_or(usize::MAX)
    };
    let mut ordered: Vec<(usize, usize, &String)> = images
        .iter()
        .enumerate()
        .map(|(i, image)| (rank(image), i, image))
        .collect();
    ordered.sort();
    ordered.into_iter().map(|(_, _, i)| i.clone()).collect()
}

/// How many of each step run at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Images downloading (or loading from a bundle) at once. An image whose bytes have all
    /// arrived ([`Event::Downloaded`]: the engine only unpacks it now) no longer counts, so the
    /// next one downloads while the engine unpacks.
    ///
    /// One by default: the link is the shared resource, and images come in the order their
    /// services start, so sharing it between two images delays the first without making any
    /// later one arrive sooner (the benchmark's timeline, docs/benchmarks.md: with two at once
    /// the model server's image shared the link with the API's and arrived seconds later, on
    /// the critical path). The engine still downloads up to three layers of that one image at
    /// once (moby v20.10.24 `daemon/config/config.go` `DefaultMaxConcurrentDownloads = 3`, one
    /// download manager per daemon, `daemon/images/service.go`), which covers the pauses
    /// between one image's layers.
    pub fetch: usize,
    /// Images streaming into the node at once.
    pub import: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fetch: 1,
            import: 2,
        }
    }
}

impl Limits {
    /// For `source`: from a registry the default (the link decides); from a bundle two loads
    /// at once, as before the link was measured (no link: the engine's loads share the CPUs,
    /// and nothing shows one at a time is better there).
    pub fn for_source(source: &Source) -> Limits {
        match source {
            Source::Registry(_) => Limits::default(),
            Source::Bundle { .. } => Limits {
                fetch: 2,
                ..Limits::default()
            },
        }
    }
}

/// What the scheduler asks for next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Boot the node (and connect to its API, render the stack); answered by [`Event::Booted`].
    Boot,
    /// Put image `i` into the engine (answered by [`Event::Downloaded`], when the step can
    /// tell, then [`Event::Fetched`]).
    Fetch(usize),
    /// Put image `i` (in the engine) into the node.
    Import(usize),
    /// Apply layer `k`.
    Apply(usize),
}

/// What finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The node is up and the stack rendered: these layers are to be applied, in order.
    Booted(Vec<LayerJob>),
    /// Every byte of image `i` has crossed the link; the engine still unpacks it (moby
    /// v20.10.24 `distribution/xfer/download.go` `makeDownloadFunc`: a layer is downloaded to a
    /// file, its download slot freed (`close(inactive)`), and only then registered, i.e.
    /// decompressed and unpacked, in layer order). A hint for the link: the next image may
    /// start downloading. Ignored unless `i` is downloading.
    Downloaded(usize),
    Fetched(usize),
    InNode(usize),
    Applied(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ImageState {
    Waiting,
    Fetching,
    /// Downloaded; the engine unpacks it.
    Unpacking,
    InEngine,
    Importing,
    InNode,
}

/// The pipeline's decisions: given what finished, what to start. Pure: no clock, no I/O.
#[derive(Debug)]
pub struct Scheduler {
    images: Vec<String>,
    state: Vec<ImageState>,
    limits: Limits,
    booting: bool,
    layers: Option<Vec<LayerJob>>,
    applied: usize,
    applying: bool,
}

impl Scheduler {
    /// `images` in the order to fetch them ([`fetch_order`]).
    pub fn new(images: Vec<String>, limits: Limits) -> Scheduler {
        let state = vec![ImageState::Waiting; images.len()];
        Scheduler {
            images,
            state,
            limits: Limits {
                fetch: limits.fetch.max(1),
                import: limits.import.max(1),
            },
            booting: false,
            layers: None,
            applied: 0,
            applying: false,
        }
    }

    pub fn images(&self) -> &[String] {
        &self.images
    }

    /// The layers, once booted.
    pub fn layers(&self) -> Option<&[LayerJob]> {
        self.layers.as_deref()
    }

    /// Whether image `i` is in the node.
    pub fn in_node(&self, i: usize) -> bool {
        self.state[i] == ImageState::InNode
    }

    /// Whether image `i` is downloading (asked for, its bytes not all in yet).
    pub fn downloading(&self, i: usize) -> bool {
        self.state[i] == ImageState::Fetching
    }

    /// The images layer `k` still waits for (not in the node yet). An image onyx does not move
    /// (not in `images`) is the cluster's own business and never waited for.
    pub fn missing(&self, k: usize) -> Vec<&str> {
        let Some(layers) = &self.layers else {
            return Vec::new();
        };
        layers[k]
            .images
            .iter()
            .filter(|image| {
                self.images
                    .iter()
                    .position(|i| i == *image)
                    .is_some_and(|i| self.state[i] != ImageState::InNode)
            })
            .map(String::as_str)
            .collect()
    }

    /// The first actions: the boot and the first fetches.
    pub fn start(&mut self) -> Vec<Action> {
        self.booting = true;
        let mut out = vec![Action::Boot];
        out.extend(self.next());
        out
    }

    /// Take in one finished step; return what to start now.
    pub fn on(&mut self, event: Event) -> Vec<Action> {
        match event {
            Event::Booted(layers) => {
                self.booting = false;
                self.layers = Some(layers);
            }
            Event::Downloaded(i) => {
                if self.state[i] == ImageState::Fetching {
                    self.state[i] = ImageState::Unpacking;
                }
            }
            Event::Fetched(i) => self.state[i] = ImageState::InEngine,
            Event::InNode(i) => self.state[i] = ImageState::InNode,
            Event::Applied(k) => {
                debug_assert_eq!(k, self.applied);
                self.applying = false;
                self.applied = k + 1;
            }
        }
        self.next()
    }

    /// Every image in the node and every layer applied.
    pub fn done(&self) -> bool {
        self.state.iter().all(|s| *s == ImageState::InNode)
            && self
                .layers
                .as_ref()
                .is_some_and(|l| self.applied == l.len())
    }

    fn count(&self, s: ImageState) -> usize {
        self.state.iter().filter(|x| **x == s).count()
    }

    fn next(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        // Fetch in order, `fetch` downloading at once (the ones the engine unpacks don't count).
        let mut fetching = self.count(ImageState::Fetching);
        for i in 0..self.images.len() {
            if fetching >= self.limits.fetch {
                break;
            }
            if self.state[i] == ImageState::Waiting {
                self.state[i] = ImageState::Fetching;
                fetching += 1;
                out.push(Action::Fetch(i));
            }
        }
        // Into the node once it is up, in order, `import` at once.
        if self.layers.is_some() {
            let mut importing = self.count(ImageState::Importing);
            for i in 0..self.images.len() {
                if importing >= self.limits.import {
                    break;
                }
                if self.state[i] == ImageState::InEngine {
                    self.state[i] = ImageState::Importing;
                    importing += 1;
                    out.push(Action::Import(i));
                }
            }
        }
        // The next layer, once the ones before are applied and its images are in the node.
        if let Some(layers) = &self.layers
            && !self.applying
            && self.applied < layers.len()
            && self.missing(self.applied).is_empty()
        {
            self.applying = true;
            out.push(Action::Apply(self.applied));
        }
        out
    }
}

/// Where an image or a service is, for the progress display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    /// Image: downloading (or loading from the bundle) into the engine.
    Fetching,
    /// Image: downloaded, the engine unpacks it (the next image downloads meanwhile).
    Unpacking,
    /// Image: in the engine, waiting for the node.
    InEngine,
    /// Image: streaming into the node.
    Importing,
    /// Image: in the node.
    InNode,
    /// Service: its objects wait for these images to be in the node.
    WaitingForImages(Vec<String>),
    /// Service: waits for the layers before its own to be applied.
    WaitingForLayer,
    /// Service: applied; its pods start (the rollout's watch takes over from here).
    Starting,
}

/// Receives the pipeline's progress; the UI draws it ([`crate::ui::PipelineProgress`]), tests
/// record it.
pub trait Reporter: Send + Sync {
    fn image(&self, image: &str, stage: &Stage, elapsed: Duration);
    fn service(&self, service: &str, stage: &Stage, elapsed: Duration);
    fn node(&self, booted: bool, elapsed: Duration);
}

/// A reporter that says nothing.
pub struct Silent;
impl Reporter for Silent {
    fn image(&self, _: &str, _: &Stage, _: Duration) {}
    fn service(&self, _: &str, _: &Stage, _: Duration) {}
    fn node(&self, _: bool, _: Duration) {}
}

/// The side effects, each idempotent (a re-run after Ctrl-C does again only what was not
/// finished).
pub trait Steps {
    /// Boot (or reuse, or start) the node, connect, render: the layers to apply, in order.
    fn boot(&self) -> LocalBoxFuture<'_, Result<Vec<LayerJob>>>;
    /// Put `image` into the engine (pull, or load from the bundle; skip when present). Send on
    /// `downloaded` once every byte has arrived while the engine still unpacks it, if the step
    /// can tell ([`Event::Downloaded`]); dropping it unsent is fine.
    fn fetch<'a>(
        &'a self,
        image: &'a str,
        downloaded: tokio::sync::oneshot::Sender<()>,
    ) -> LocalBoxFuture<'a, Result<()>>;
    /// Put `image`, in the engine, into the node (skip when present).
    fn import<'a>(&'a self, image: &'a str) -> LocalBoxFuture<'a, Result<()>>;
    /// Apply layer `k` of the layers [`Steps::boot`] gave.
    fn apply(&self, k: usize) -> LocalBoxFuture<'_, Result<()>>;
}

/// When each step finished, relative to the start (for tests, the benchmark and `-v` logs).
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    pub booted: Option<Duration>,
    /// Every byte in, the engine unpacking (when the fetch could tell).
    pub downloaded: Vec<(String, Duration)>,
    pub fetched: Vec<(String, Duration)>,
    pub in_node: Vec<(String, Duration)>,
    pub applied: Vec<(Layer, Duration)>,
}

/// Run the pipeline to the end: every image in the node, every layer applied. The first error
/// stops it (the steps still running are dropped, which cancels them).
pub async fn drive(
    steps: &dyn Steps,
    images: Vec<String>,
    limits: Limits,
    reporter: &dyn Reporter,
) -> Result<Timeline> {
    let started = Instant::now();
    let mut scheduler = Scheduler::new(images, limits);
    let mut timeline = Timeline::default();
    // `None`: a fetch's `downloaded` dropped unsent (nothing to take in).
    let mut running: FuturesUnordered<LocalBoxFuture<'_, Result<Option<Event>>>> =
        FuturesUnordered::new();
    let mut actions = scheduler.start();
    loop {
        for action in actions.drain(..) {
            let elapsed = started.elapsed();
            let step: LocalBoxFuture<'_, Result<Option<Event>>> = match action {
                Action::Boot => {
                    reporter.node(false, elapsed);
                    Box::pin(async move { steps.boot().await.map(|l| Some(Event::Booted(l))) })
                }
                Action::Fetch(i) => {
                    let image = scheduler.images()[i].clone();
                    reporter.image(&image, &Stage::Fetching, elapsed);
                    let (tell, told) = tokio::sync::oneshot::channel();
                    running.push(Box::pin(async move {
                        Ok(told.await.ok().map(|()| Event::Downloaded(i)))
                    }));
                    Box::pin(async move {
                        steps
                            .fetch(&image, tell)
                            .await
                            .map(|_| Some(Event::Fetched(i)))
                    })
                }
                Action::Import(i) => {
                    let image = scheduler.images()[i].clone();
                    reporter.image(&image, &Stage::Importing, elapsed);
                    Box::pin(
                        async move { steps.import(&image).await.map(|_| Some(Event::InNode(i))) },
                    )
                }
                Action::Apply(k) => {
                    Box::pin(async move { steps.apply(k).await.map(|_| Some(Event::Applied(k))) })
                }
            };
            running.push(step);
        }
        if scheduler.done() {
            return Ok(timeline);
        }
        let Some(finished) = running.next().await else {
            // Nothing runs and nothing is left to start: a layer waits for an image no step
            // brings (cannot happen with the images of the layers fetched; guarded anyway).
            return Err(crate::error::Error::Internal(anyhow::anyhow!(
                "the pipeline stalled with nothing running"
            )));
        };
        let Some(event) = finished? else { continue };
        let elapsed = started.elapsed();
        match &event {
            Event::Downloaded(i) => {
                if !scheduler.downloading(*i) {
                    // Told after it was in the engine already: nothing changes.
                    continue;
                }
                let image = &scheduler.images()[*i];
                timeline.downloaded.push((image.clone(), elapsed));
                reporter.image(image, &Stage::Unpacking, elapsed);
            }
            Event::Booted(_) => {
                timeline.booted = Some(elapsed);
                reporter.node(true, elapsed);
            }
            Event::Fetched(i) => {
                let image = &scheduler.images()[*i];
                timeline.fetched.push((image.clone(), elapsed));
                reporter.image(image, &Stage::InEngine, elapsed);
            }
            Event::InNode(i) => {
                let image = &scheduler.images()[*i];
                timeline.in_node.push((image.clone(), elapsed));
                reporter.image(image, &Stage::InNode, elapsed);
            }
            Event::Applied(k) => {
                if let Some(layer) = scheduler.layers().map(|l| &l[*k]) {
                    timeline.applied.push((layer.layer, elapsed));
                    for s in &layer.services {
                        reporter.service(s, &Stage::Starting, elapsed);
                    }
                }
            }
        }
        let booted_now = matches!(event, Event::Booted(_));
        let image_moved = matches!(event, Event::InNode(_));
        actions = scheduler.on(event);
        if booted_now || image_moved {
            report_waiting(&scheduler, &actions, reporter, elapsed);
        }
    }
}

/// Each service not applied yet (nor being applied now): what it waits for.
fn report_waiting(
    scheduler: &Scheduler,
    starting: &[Action],
    reporter: &dyn Reporter,
    elapsed: Duration,
) {
    let Some(layers) = scheduler.layers() else {
        return;
    };
    for (k, layer) in layers.iter().enumerate() {
        if k < scheduler.applied || starting.contains(&Action::Apply(k)) {
            continue;
        }
        let missing = scheduler.missing(k);
        let stage = if missing.is_empty() {
            Stage::WaitingForLayer
        } else {
            Stage::WaitingForImages(missing.iter().map(|s| s.to_string()).collect())
        };
        for s in &layer.services {
            reporter.service(s, &stage, elapsed);
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn job(layer: Layer, services: &[&str], images: &[&str]) -> LayerJob {
        LayerJob {
            layer,
            services: services.iter().map(|s| s.to_string()).collect(),
            images: images.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// The stack's shape: config (no image), data (4 images), model, api, web, gateway.
    fn stack() -> Vec<LayerJob> {
        vec![
            job(Layer::Config, &[], &[]),
            job(
                Layer::Data,
                &["postgresql", "redis", "minio", "vespa"],
                &["pg", "redis", "minio", "vespa"],
            ),
            job(Layer::Model, &["inference-model-server"], &["model"]),
            job(Layer::Api, &["api-server"], &["backend"]),
            job(Layer::Web, &["web-server"], &["web"]),
            job(Layer::Gateway, &["nginx"], &["nginx"]),
        ]
    }

    #[test]
    fn the_catalog_order_becomes_the_dependency_order() {
        // embedded/images.toml lists nginx and the web server first.
        let listed = strings(&[
            "nginx", "web", "backend", "model", "pg", "vespa", "redis", "minio",
        ]);
        assert_eq!(
            fetch_order(&listed, &stack()),
            strings(&[
                "pg", "vespa", "redis", "minio", "model", "backend", "web", "nginx"
            ])
        );
        // An image no layer runs goes last.
        let extra = strings(&["other", "nginx", "pg"]);
        assert_eq!(
            fetch_order(&extra, &stack()),
            strings(&["pg", "nginx", "other"])
        );
    }

    #[test]
    fn the_real_stack_orders_data_images_first_and_groups_layers_with_their_images() {
        let objects = crate::stack::render::embedded_objects();
        let layers = layer_jobs(&objects);
        assert_eq!(layers[0].layer, Layer::Config);
        assert!(layers[0].images.is_empty());
        let data = layers.iter().find(|l| l.layer == Layer::Data).unwrap();
        assert!(data.images.contains(&"postgres:15.2-alpine".to_string()));
        assert!(
            data.images
                .contains(&"vespaengine/vespa:8.526.15".to_string())
        );
        let api = layers.iter().find(|l| l.layer == Layer::Api).unwrap();
        assert_eq!(api.images, strings(&["onyxdotapp/onyx-backend:v2.3.0"]));
        let images: Vec<String> = crate::stack::catalog::stack_images()
            .map(|i| i.reference.clone())
            .collect();
        let order = fetch_order(&images, &layers);
        let at = |s: &str| order.iter().position(|i| i == s).unwrap();
        for data_image in &data.images {
            assert!(at(data_image) < at("onyxdotapp/onyx-model-server:v2.3.0"));
        }
        assert!(at("onyxdotapp/onyx-model-server:v2.3.0") < at("onyxdotapp/onyx-backend:v2.3.0"));
        assert!(at("onyxdotapp/onyx-backend:v2.3.0") < at("onyxdotapp/onyx-web-server:v2.3.0"));
        assert_eq!(order.last().unwrap(), "nginx:1.23.4-alpine");
    }

    /// Play events through the scheduler; return every action in the order asked.
    struct Play {
        s: Scheduler,
        log: Vec<Action>,
    }

    impl Play {
        fn new(images: &[&str], limits: Limits) -> Play {
            let mut s = Scheduler::new(strings(images), limits);
            let log = s.start();
            Play { s, log }
        }
        fn on(&mut self, e: Event) -> Vec<Action> {
            let a = self.s.on(e);
            self.log.extend(a.clone());
            a
        }
    }

    const ORDER: &[&str] = &[
        "pg", "vespa", "redis", "minio", "model", "backend", "web", "nginx",
    ];

    /// Two downloads at once (the default before the link was measured; still a valid setting).
    const TWO: Limits = Limits {
        fetch: 2,
        import: 2,
    };

    #[test]
    fn boot_and_the_first_fetches_start_together() {
        let p = Play::new(ORDER, TWO);
        assert_eq!(
            p.log,
            vec![Action::Boot, Action::Fetch(0), Action::Fetch(1)]
        );
        // By default one image downloads at a time, in order.
        let p = Play::new(ORDER, Limits::default());
        assert_eq!(p.log, vec![Action::Boot, Action::Fetch(0)]);
    }

    #[test]
    fn the_next_image_downloads_while_the_engine_unpacks_the_one_before() {
        let mut p = Play::new(ORDER, Limits::default());
        // Image 0's bytes are in: the link is free for image 1, not for image 2.
        assert_eq!(p.on(Event::Downloaded(0)), vec![Action::Fetch(1)]);
        // Told twice, or after it was in the engine: nothing more starts.
        assert_eq!(p.on(Event::Downloaded(0)), vec![]);
        assert_eq!(p.on(Event::Fetched(1)), vec![Action::Fetch(2)]);
        assert_eq!(p.on(Event::Downloaded(1)), vec![]);
        // Image 0 done unpacking frees nothing: it no longer held the link.
        assert_eq!(p.on(Event::Fetched(0)), vec![]);
        // Downloaded and unpacking, not in the engine: not imported yet, even with the node up.
        assert_eq!(p.on(Event::Downloaded(2)), vec![Action::Fetch(3)]);
        let a = p.on(Event::Booted(stack()));
        assert_eq!(
            a,
            vec![Action::Import(0), Action::Import(1), Action::Apply(0)]
        );
        assert!(!p.log.contains(&Action::Import(2)));
        p.on(Event::InNode(0));
        assert!(!p.log.contains(&Action::Import(2)));
        assert_eq!(p.on(Event::Fetched(2)), vec![Action::Import(2)]);
        // Every image asked for once.
        for i in 0..4 {
            assert_eq!(p.log.iter().filter(|a| **a == Action::Fetch(i)).count(), 1);
        }
    }

    #[test]
    fn nothing_enters_the_node_before_it_is_up_then_in_order() {
        let mut p = Play::new(ORDER, TWO);
        assert_eq!(p.on(Event::Fetched(1)), vec![Action::Fetch(2)]);
        assert_eq!(p.on(Event::Fetched(0)), vec![Action::Fetch(3)]);
        // Booted: the config layer (no image) goes at once, and the two fetched images go in,
        // the first in order first.
        assert_eq!(
            p.on(Event::Booted(stack())),
            vec![Action::Import(0), Action::Import(1), Action::Apply(0)]
        );
    }

    #[test]
    fn a_layer_goes_as_soon_as_its_images_are_in_the_node_not_before() {
        let mut p = Play::new(ORDER, Limits::default());
        p.on(Event::Booted(stack()));
        assert!(p.log.contains(&Action::Apply(0)));
        p.on(Event::Applied(0));
        for i in 0..4 {
            p.on(Event::Fetched(i));
            p.on(Event::InNode(i));
            if i < 3 {
                assert!(!p.log.contains(&Action::Apply(1)), "data layer before {i}");
            }
        }
        // The data layer is applied with the model, API, web and gateway images still to come.
        assert!(p.log.contains(&Action::Apply(1)));
        assert!((4..8).all(|i| !p.s.in_node(i)));
        assert!(!p.s.done());
        assert_eq!(p.s.missing(2), vec!["model"]);
    }

    #[test]
    fn layers_keep_their_order_even_when_a_later_one_has_its_images_first() {
        let mut p = Play::new(&["pg", "model"], Limits::default());
        let layers = vec![
            job(Layer::Data, &["postgresql"], &["pg"]),
            job(Layer::Model, &["inference-model-server"], &["model"]),
        ];
        p.on(Event::Booted(layers));
        p.on(Event::Fetched(1));
        let a = p.on(Event::InNode(1));
        assert!(!a.contains(&Action::Apply(1)));
        p.on(Event::Fetched(0));
        assert_eq!(p.on(Event::InNode(0)), vec![Action::Apply(0)]);
        assert_eq!(p.on(Event::Applied(0)), vec![Action::Apply(1)]);
        p.on(Event::Applied(1));
        assert!(p.s.done());
    }

    #[test]
    fn every_image_is_fetched_and_imported_exactly_once_whatever_the_timing() {
        // Events come back in many different orders; each image is asked for once per step.
        for seed in 0..50u64 {
            let mut p = Play::new(
                ORDER,
                Limits {
                    fetch: 3,
                    import: 2,
                },
            );
            let mut pending: Vec<Action> = p.log.clone();
            let mut rng = seed;
            while !pending.is_empty() {
                rng = rng
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let pick = (rng >> 33) as usize % pending.len();
                let event = match pending.remove(pick) {
                    Action::Boot => Event::Booted(stack()),
                    Action::Fetch(i) => Event::Fetched(i),
                    Action::Import(i) => Event::InNode(i),
                    Action::Apply(k) => Event::Applied(k),
                };
                pending.extend(p.on(event));
            }
            assert!(p.s.done(), "seed {seed}");
            for i in 0..ORDER.len() {
                assert_eq!(p.log.iter().filter(|a| **a == Action::Fetch(i)).count(), 1);
                assert_eq!(p.log.iter().filter(|a| **a == Action::Import(i)).count(), 1);
                // Imported only after fetched.
                let f = p.log.iter().position(|a| *a == Action::Fetch(i)).unwrap();
                let m = p.log.iter().position(|a| *a == Action::Import(i)).unwrap();
                assert!(f < m);
            }
            for k in 0..stack().len() {
                assert_eq!(p.log.iter().filter(|a| **a == Action::Apply(k)).count(), 1);
            }
        }
    }

    #[test]
    fn downloaded_hints_in_any_order_still_fetch_and_import_each_image_once_in_order() {
        // As above, with a fetch's "downloaded" told before, after or never relative to its
        // "fetched"; the download limit of one holds throughout.
        for seed in 0..50u64 {
            let mut p = Play::new(ORDER, Limits::default());
            let mut pending: Vec<Event> = Vec::new();
            let mut rng = seed;
            let queue = |actions: Vec<Action>, pending: &mut Vec<Event>, rng: u64| {
                for a in actions {
                    match a {
                        Action::Boot => pending.push(Event::Booted(stack())),
                        Action::Fetch(i) => {
                            if rng & 4 == 0 {
                                pending.push(Event::Downloaded(i));
                            }
                            pending.push(Event::Fetched(i));
                        }
                        Action::Import(i) => pending.push(Event::InNode(i)),
                        Action::Apply(k) => pending.push(Event::Applied(k)),
                    }
                }
            };
            queue(p.log.clone(), &mut pending, rng);
            while !pending.is_empty() {
                rng = rng
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let pick = (rng >> 33) as usize % pending.len();
                let event = pending.remove(pick);
                let actions = p.on(event);
                queue(actions, &mut pending, rng >> 20);
                let downloading = (0..ORDER.len()).filter(|i| p.s.downloading(*i)).count();
                assert!(downloading <= 1, "seed {seed}: {downloading} downloading");
            }
            assert!(p.s.done(), "seed {seed}");
            let fetches: Vec<usize> = p
                .log
                .iter()
                .filter_map(|a| match a {
                    Action::Fetch(i) => Some(*i),
                    _ => None,
                })
                .collect();
            assert_eq!(fetches, (0..ORDER.len()).collect::<Vec<_>>(), "seed {seed}");
            for i in 0..ORDER.len() {
                assert_eq!(p.log.iter().filter(|a| **a == Action::Import(i)).count(), 1);
            }
        }
    }

    #[test]
    fn one_download_at_a_time_from_a_registry_two_loads_from_a_bundle() {
        let registry = Source::Registry(crate::docker::images::PullOptions::default());
        assert_eq!(Limits::for_source(&registry).fetch, 1);
        let bundle = Source::Bundle {
            path: "b.tar".into(),
            verified: crate::docker::bundle::Verified {
                manifest: crate::docker::bundle::Manifest {
                    format: String::new(),
                    schema: 1,
                    onyx_version: String::new(),
                    onyx_stack: String::new(),
                    images: Vec::new(),
                },
                places: Vec::new(),
            },
        };
        assert_eq!(Limits::for_source(&bundle).fetch, 2);
        assert_eq!(
            Limits::for_source(&bundle).import,
            Limits::for_source(&registry).import
        );
    }

    #[test]
    fn the_limits_hold() {
        let mut p = Play::new(
            ORDER,
            Limits {
                fetch: 1,
                import: 1,
            },
        );
        assert_eq!(p.log, vec![Action::Boot, Action::Fetch(0)]);
        p.on(Event::Booted(stack()));
        assert_eq!(
            p.on(Event::Fetched(0)),
            vec![Action::Fetch(1), Action::Import(0)]
        );
        // Image 1 is in the engine while 0 still streams into the node: it waits.
        assert_eq!(p.on(Event::Fetched(1)), vec![Action::Fetch(2)]);
        assert_eq!(p.on(Event::InNode(0)), vec![Action::Import(1)]);
    }

    #[test]
    fn images_already_everywhere_and_nothing_to_fetch() {
        let mut p = Play::new(&[], Limits::default());
        assert_eq!(p.log, vec![Action::Boot]);
        assert_eq!(
            p.on(Event::Booted(vec![job(Layer::Config, &[], &[])])),
            vec![Action::Apply(0)]
        );
        p.on(Event::Applied(0));
        assert!(p.s.done());
    }

    /// Steps that record what they were asked, in order; the last image's fetch holds until the
    /// data layer has been applied, and the boot until two fetches have started.
    struct Fake {
        log: std::sync::Mutex<Vec<String>>,
        data_applied: tokio::sync::Notify,
        fetch_started: tokio::sync::Semaphore,
    }

    impl Fake {
        fn note(&self, s: String) {
            self.log.lock().unwrap().push(s);
        }
    }

    impl Steps for Fake {
        fn boot(&self) -> LocalBoxFuture<'_, Result<Vec<LayerJob>>> {
            Box::pin(async move {
                self.note("boot start".into());
                // The boot overlaps with the pulls: it finishes only once two have started.
                let _ = self.fetch_started.acquire_many(2).await;
                self.note("boot done".into());
                Ok(stack())
            })
        }
        fn fetch<'a>(
            &'a self,
            image: &'a str,
            _: tokio::sync::oneshot::Sender<()>,
        ) -> LocalBoxFuture<'a, Result<()>> {
            Box::pin(async move {
                self.note(format!("fetch {image}"));
                self.fetch_started.add_permits(1);
                if image == "nginx" {
                    self.data_applied.notified().await;
                }
                tokio::task::yield_now().await;
                self.note(format!("fetched {image}"));
                Ok(())
            })
        }
        fn import<'a>(&'a self, image: &'a str) -> LocalBoxFuture<'a, Result<()>> {
            Box::pin(async move {
                tokio::task::yield_now().await;
                self.note(format!("in node {image}"));
                Ok(())
            })
        }
        fn apply(&self, k: usize) -> LocalBoxFuture<'_, Result<()>> {
            Box::pin(async move {
                self.note(format!("apply {k}"));
                if k == 1 {
                    self.data_applied.notify_one();
                }
                Ok(())
            })
        }
    }

    #[derive(Default)]
    struct Seen(std::sync::Mutex<Vec<String>>);
    impl Reporter for Seen {
        fn image(&self, image: &str, stage: &Stage, _: Duration) {
            self.0.lock().unwrap().push(format!("{image}: {stage:?}"));
        }
        fn service(&self, service: &str, stage: &Stage, _: Duration) {
            self.0.lock().unwrap().push(format!("{service}: {stage:?}"));
        }
        fn node(&self, booted: bool, _: Duration) {
            self.0.lock().unwrap().push(format!("node: {booted}"));
        }
    }

    #[tokio::test]
    async fn the_driver_overlaps_boot_and_pulls_and_applies_before_the_last_image() {
        let fake = Fake {
            log: Default::default(),
            data_applied: tokio::sync::Notify::new(),
            fetch_started: tokio::sync::Semaphore::new(0),
        };
        let seen = Seen::default();
        let timeline = drive(&fake, strings(ORDER), Limits::default(), &seen)
            .await
            .unwrap();
        let log = fake.log.lock().unwrap().clone();
        let at = |s: &str| {
            log.iter()
                .position(|l| l == s)
                .unwrap_or_else(|| panic!("{s} not in {log:?}"))
        };
        // Pulls started while the node booted.
        assert!(at("fetch pg") < at("boot done"));
        assert!(at("boot start") < at("fetched pg"));
        // The data layer went in while the gateway's image was still downloading.
        assert!(at("apply 1") < at("fetched nginx"));
        // Images enter the node in the dependency order.
        let imports: Vec<&String> = log.iter().filter(|l| l.starts_with("in node")).collect();
        let data: Vec<String> = ["pg", "vespa", "redis", "minio"]
            .iter()
            .map(|i| format!("in node {i}"))
            .collect();
        for d in &data {
            assert!(at(d) < at("in node model"));
        }
        assert_eq!(imports.len(), ORDER.len());
        // Each image fetched once, each layer applied once, in order.
        for i in ORDER {
            assert_eq!(
                log.iter().filter(|l| **l == format!("fetch {i}")).count(),
                1
            );
        }
        let applies: Vec<&String> = log.iter().filter(|l| l.starts_with("apply")).collect();
        assert_eq!(
            applies,
            [
                "apply 0", "apply 1", "apply 2", "apply 3", "apply 4", "apply 5"
            ]
        );
        assert_eq!(timeline.in_node.len(), ORDER.len());
        assert_eq!(timeline.applied.len(), 6);
        // Progress: a service first waits for its image, then starts.
        let seen = seen.0.lock().unwrap().clone();
        let wait = seen
            .iter()
            .position(|l| l == "nginx: WaitingForImages([\"nginx\"])")
            .unwrap_or_else(|| panic!("{seen:?}"));
        let start = seen.iter().position(|l| l == "nginx: Starting").unwrap();
        assert!(wait < start);
        assert!(seen.contains(&"pg: InNode".to_string()));
    }

    /// Steps whose first image's fetch tells "downloaded", then finishes only once the second
    /// image's fetch has started (as the engine unpacking while the next image downloads).
    #[derive(Default)]
    struct Unpacks {
        started: std::sync::Mutex<Vec<String>>,
        second: tokio::sync::Notify,
    }

    impl Steps for Unpacks {
        fn boot(&self) -> LocalBoxFuture<'_, Result<Vec<LayerJob>>> {
            Box::pin(async { Ok(vec![job(Layer::Data, &["postgresql"], &["a", "b"])]) })
        }
        fn fetch<'a>(
            &'a self,
            image: &'a str,
            downloaded: tokio::sync::oneshot::Sender<()>,
        ) -> LocalBoxFuture<'a, Result<()>> {
            Box::pin(async move {
                self.started.lock().unwrap().push(image.to_string());
                if image == "a" {
                    let _ = downloaded.send(());
                    self.second.notified().await;
                } else {
                    self.second.notify_one();
                }
                Ok(())
            })
        }
        fn import<'a>(&'a self, _: &'a str) -> LocalBoxFuture<'a, Result<()>> {
            Box::pin(async { Ok(()) })
        }
        fn apply(&self, _: usize) -> LocalBoxFuture<'_, Result<()>> {
            Box::pin(async { Ok(()) })
        }
    }

    #[tokio::test]
    async fn the_driver_starts_the_next_download_when_the_engine_only_unpacks() {
        let steps = Unpacks::default();
        let seen = Seen::default();
        // One download at a time: "b" can start only on "a"'s downloaded hint, and "a" finishes
        // only after "b" started, so without the hint this never ends.
        let run = drive(&steps, strings(&["a", "b"]), Limits::default(), &seen);
        let timeline = tokio::time::timeout(Duration::from_secs(10), run)
            .await
            .expect("the second download waited for the first to unpack")
            .unwrap();
        assert_eq!(*steps.started.lock().unwrap(), ["a", "b"]);
        assert_eq!(timeline.downloaded.len(), 1);
        assert_eq!(timeline.downloaded[0].0, "a");
        let seen = seen.0.lock().unwrap().clone();
        let unpacking = seen.iter().position(|l| l == "a: Unpacking").unwrap();
        let b = seen.iter().position(|l| l == "b: Fetching").unwrap();
        assert!(unpacking < b, "{seen:?}");
        assert_eq!(timeline.in_node.len(), 2);
    }

    struct Failing;
    impl Steps for Failing {
        fn boot(&self) -> LocalBoxFuture<'_, Result<Vec<LayerJob>>> {
            Box::pin(async { Ok(stack()) })
        }
        fn fetch<'a>(
            &'a self,
            image: &'a str,
            _: tokio::sync::oneshot::Sender<()>,
        ) -> LocalBoxFuture<'a, Result<()>> {
            Box::pin(async move {
                if image == "model" {
                    return Err(crate::docker::DockerError::ImageMissing {
                        image: image.into(),
                    }
                    .into());
                }
                Ok(())
            })
        }
        fn import<'a>(&'a self, _: &'a str) -> LocalBoxFuture<'a, Result<()>> {
            Box::pin(async { Ok(()) })
        }
        fn apply(&self, _: usize) -> LocalBoxFuture<'_, Result<()>> {
            Box::pin(async { Ok(()) })
        }
    }

    #[tokio::test]
    async fn the_first_failure_ends_the_pipeline_with_its_error() {
        let e = drive(&Failing, strings(ORDER), Limits::default(), &Silent)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("model"), "{e}");
    }
}
