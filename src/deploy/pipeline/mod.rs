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
//! The decisions are the pure [`Scheduler`] (this file), fed by events (what finished); the side
//! effects (engine pull or bundle load, node import, apply, node boot) sit behind [`Steps`], so
//! tests drive it with their own. [`drive`] (`drive.rs`) runs the two together and reports
//! progress; `own.rs` holds the real steps for onyx's own cluster ([`OwnSteps`], entry point
//! [`own_cluster`]). Every step is idempotent (a present image is skipped, apply is server-side
//! apply), so Ctrl-C at any point leaves a state that the next `up` completes.

mod drive;
mod own;

use std::collections::BTreeMap;

use crate::stack::catalog::Layer;
use crate::stack::render::{Object, Rendered};

pub use drive::{Reporter, Silent, Stage, Steps, Timeline, drive};
pub use own::{Booted, OwnSteps, Source, own_cluster};

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

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn job(layer: Layer, services: &[&str], images: &[&str]) -> LayerJob {
        LayerJob {
            layer,
            services: services.iter().map(|s| s.to_string()).collect(),
            images: images.iter().map(|s| s.to_string()).collect(),
        }
    }

    pub(super) fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// The stack's shape: config (no image), data (4 images), model, api, web, gateway.
    pub(super) fn stack() -> Vec<LayerJob> {
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

    pub(super) const ORDER: &[&str] = &[
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
}
