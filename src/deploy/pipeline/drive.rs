//! Runs the pipeline: asks the [`Scheduler`] what to start, starts it through [`Steps`] (the
//! side effects, the real ones in `own.rs` or a test's), feeds back what finished, and tells a
//! [`Reporter`] where each image and service is. Apart from the pure decisions in `mod.rs` so
//! each can be read (and tested) alone.

use std::time::{Duration, Instant};

use futures_util::future::LocalBoxFuture;
use futures_util::stream::{FuturesUnordered, StreamExt};

use super::{Action, Event, LayerJob, Limits, Scheduler};
use crate::error::Result;
use crate::stack::catalog::Layer;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::pipeline::tests::{ORDER, job, stack, strings};

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
