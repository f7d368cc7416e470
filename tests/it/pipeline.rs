//! The pipelined cold start (`onyx::deploy::pipeline`) against a real Docker engine, a real
//! registry (the images pulled through it as a mirror) and the stand-in node of
//! `support/fake_node.rs` (its scripted `ctr` records every import): images enter the node in
//! the dependency order, a layer is applied while a later image is still on its way, no image is
//! pulled or imported twice, and a run stopped half-way (as Ctrl-C drops it) is completed by the
//! next one without moving again what was done. Without an engine or docker-registry these say
//! SKIPPED, except under CI / ONYX_REQUIRE_DOCKER=1 / ONYX_REQUIRE_REAL=1.

use crate::support::docker as support;

use crate::support::fake_node;

use std::cell::OnceCell;
use std::sync::Mutex;

use bollard::Docker;
use futures_util::future::LocalBoxFuture;
use onyx::cluster::kind;
use onyx::cluster::node_images::{self, ImportOptions, Outcome};
use onyx::deploy::pipeline::{self, LayerJob, Limits, Steps};
use onyx::docker::images::{self, PullOptions};
use onyx::stack::catalog::Layer;

/// Two pulls and two imports at once.
const TWO: Limits = Limits {
    fetch: 2,
    import: 2,
};

/// Real pulls (through the registry as a mirror) and real imports into the stand-in node; the
/// boot starts the node; apply is recorded. The last image's pull holds until the data layer is
/// applied (so "applied before the last image arrived" is a fact of the run, not of timing).
///
/// The harness delivers the images in the *wrong* order, so that the order they go into the node
/// in is onyx's decision and not the harness's: each pull tells "downloaded" as soon as its bytes
/// are in (freeing its slot of [`TWO`], so every pull but the held last one starts), then the
/// others (all but the last) report fetched in the reverse of the dependency order, once all of
/// them are pulled; and the boot answers only once the driver has taken in every one of those
/// (its reporter saw them in the engine). The scheduler then has them all in the engine at once
/// with two import slots, and must choose: the dependency order, or the order they arrived in
/// (reversed), or any other, would each show in the order imports start.
struct Real<'a> {
    docker: &'a Docker,
    image: String,
    test: &'static str,
    node: OnceCell<(support::Node, String)>,
    layers: Vec<LayerJob>,
    mirror: String,
    log: Mutex<Vec<String>>,
    pulls: Mutex<Vec<(String, images::Outcome)>>,
    imports: Mutex<Vec<(String, Outcome)>>,
    data_applied: tokio::sync::Notify,
    last: String,
    order: Vec<String>,
    /// How many of the reversed-order images have reported fetched, and how many are pulled.
    fetched: tokio::sync::watch::Sender<usize>,
    pulled: tokio::sync::watch::Sender<usize>,
    /// How many images the driver has taken in as fetched (from [`InEngine`], the run's reporter).
    in_engine: tokio::sync::watch::Sender<usize>,
}

/// The run's reporter: counts the images the driver has taken in as fetched (it reports
/// [`Stage::InEngine`] and feeds the scheduler in the same step, before it polls the boot again).
struct InEngine<'a>(&'a tokio::sync::watch::Sender<usize>);

impl pipeline::Reporter for InEngine<'_> {
    fn image(&self, _: &str, stage: &pipeline::Stage, _: std::time::Duration) {
        if *stage == pipeline::Stage::InEngine {
            self.0.send_modify(|n| *n += 1);
        }
    }
    fn service(&self, _: &str, _: &pipeline::Stage, _: std::time::Duration) {}
    fn node(&self, _: bool, _: std::time::Duration) {}
}

impl Real<'_> {
    fn note(&self, s: String) {
        self.log.lock().unwrap().push(s);
    }
}

impl Steps for Real<'_> {
    fn boot(&self) -> LocalBoxFuture<'_, onyx::error::Result<Vec<LayerJob>>> {
        Box::pin(async move {
            if self.node.get().is_none() {
                let node = support::start_node(self.docker, &self.image, self.test).await;
                let ready = "i=0; until [ -f /fake/images ]; do i=$((i+1)); [ $i -gt 100 ] && exit 1; sleep 0.1; done";
                let out = kind::exec(self.docker, &node.name, &["sh", "-c", ready], None)
                    .await
                    .unwrap();
                assert!(out.ok());
                let snap = node_images::snapshotter(self.docker, &node.name)
                    .await
                    .unwrap();
                let _ = self.node.set((node, snap));
            }
            // Booted only once every image but the held last one is in the engine, as the
            // driver sees it (see the struct's header).
            let mut seen = self.in_engine.subscribe();
            seen.wait_for(|n| *n >= self.order.len() - 1).await.unwrap();
            self.note("booted".into());
            Ok(self.layers.clone())
        })
    }
    fn fetch<'a>(
        &'a self,
        image: &'a str,
        downloaded: tokio::sync::oneshot::Sender<()>,
    ) -> LocalBoxFuture<'a, onyx::error::Result<()>> {
        Box::pin(async move {
            if image == self.last {
                self.data_applied.notified().await;
            }
            let options = PullOptions {
                mirror: Some(self.mirror.clone()),
                ..PullOptions::default()
            };
            let r =
                images::pull_one_telling(self.docker, image, &options, &onyx::docker::Silent, None)
                    .await?;
            self.pulls
                .lock()
                .unwrap()
                .push((image.to_string(), r.outcome));
            // Every byte is in: the slot goes to the next pull.
            let _ = downloaded.send(());
            if image != self.last {
                // Reported fetched in the reverse order, once all of these are pulled.
                let held = self.order.len() - 1;
                let i = self.order.iter().position(|o| o == image).unwrap();
                self.pulled.send_modify(|n| *n += 1);
                let mut pulled = self.pulled.subscribe();
                pulled.wait_for(|n| *n >= held).await.unwrap();
                let mut reported = self.fetched.subscribe();
                reported.wait_for(|n| *n >= held - 1 - i).await.unwrap();
                self.note(format!("fetched {image}"));
                self.fetched.send_modify(|n| *n += 1);
            } else {
                self.note(format!("fetched {image}"));
            }
            Ok(())
        })
    }
    fn import<'a>(&'a self, image: &'a str) -> LocalBoxFuture<'a, onyx::error::Result<()>> {
        Box::pin(async move {
            self.note(format!("importing {image}"));
            let (node, snap) = self.node.get().unwrap();
            let r = node_images::load_one(
                self.docker,
                &node.name,
                image,
                snap,
                &ImportOptions::default(),
                &onyx::docker::Silent,
            )
            .await?;
            self.imports
                .lock()
                .unwrap()
                .push((image.to_string(), r.outcome));
            self.note(format!("in node {image}"));
            Ok(())
        })
    }
    fn apply(&self, k: usize) -> LocalBoxFuture<'_, onyx::error::Result<()>> {
        Box::pin(async move {
            self.note(format!("apply {:?}", self.layers[k].layer));
            if self.layers[k].layer == Layer::Data {
                // notify_one keeps a permit when nobody waits yet.
                self.data_applied.notify_one();
            }
            Ok(())
        })
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn images_go_in_dependency_order_layers_early_nothing_twice_and_a_stopped_run_completes() {
    let Some(docker) = support::engine("pipeline").await else {
        return;
    };
    if !fake_node::available("pipeline") {
        return;
    }
    let Some(registry) = support::Registry::start("pipeline") else {
        return;
    };
    let cleanup = support::Cleanup::new(&docker);
    let node_image =
        fake_node::build(&docker, &cleanup, &support::unique("pipeline-node"), false).await;
    let base = support::unique("pipeline");
    let name = |s: &str| format!("{base}/{s}:1");
    // Listed as embedded/images.toml lists the stack: the gateway and web first.
    let listed: Vec<String> = ["nginx", "web", "backend", "model", "pg", "redis"]
        .iter()
        .map(|s| name(s))
        .collect();
    for (i, r) in listed.iter().enumerate() {
        support::build_image(&docker, &cleanup, r, (64 << 10) * (i + 1)).await;
        support::push_and_remove(&docker, r, &registry.addr).await;
    }
    let job = |layer, images: &[&str]| LayerJob {
        layer,
        services: images.iter().map(|s| s.to_string()).collect(),
        images: images.iter().map(|s| name(s)).collect(),
    };
    let layers = vec![
        job(Layer::Config, &[]),
        job(Layer::Data, &["pg", "redis"]),
        job(Layer::Model, &["model"]),
        job(Layer::Api, &["backend"]),
        job(Layer::Web, &["web"]),
        job(Layer::Gateway, &["nginx"]),
    ];
    let order = pipeline::fetch_order(&listed, &layers);
    assert_eq!(
        order,
        ["pg", "redis", "model", "backend", "web", "nginx"].map(name)
    );
    let steps = Real {
        docker: &docker,
        image: node_image.clone(),
        test: "pipeline-node",
        node: OnceCell::new(),
        layers: layers.clone(),
        mirror: registry.addr.clone(),
        log: Mutex::default(),
        pulls: Mutex::default(),
        imports: Mutex::default(),
        data_applied: tokio::sync::Notify::new(),
        last: name("nginx"),
        order: order.clone(),
        fetched: tokio::sync::watch::channel(0).0,
        pulled: tokio::sync::watch::channel(0).0,
        in_engine: tokio::sync::watch::channel(0).0,
    };
    // Every wait below is bounded: a regression fails with what happened so far, not a hang.
    let bound = std::time::Duration::from_secs(180);

    // 1. Stopped half-way: the future dropped (as Ctrl-C drops it) once two images are in.
    let reporter = InEngine(&steps.in_engine);
    let mut run = Box::pin(pipeline::drive(&steps, order.clone(), TWO, &reporter));
    let deadline = tokio::time::Instant::now() + bound;
    loop {
        tokio::select! {
            r = &mut run => panic!("the run ended before it was stopped: {:?}", r.map(|_| ())),
            _ = tokio::time::sleep(std::time::Duration::from_millis(20)) => {}
        }
        if steps.imports.lock().unwrap().len() >= 2 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "two images were not in the node after {bound:?}: {:?}",
            steps.log.lock().unwrap()
        );
    }
    drop(run);
    let first_imports = steps.imports.lock().unwrap().clone();
    assert!(first_imports.iter().all(|(_, o)| *o == Outcome::Imported));

    // 2. The next run completes.
    steps.log.lock().unwrap().clear();
    steps.fetched.send_replace(0);
    steps.pulled.send_replace(0);
    steps.in_engine.send_replace(0);
    let timeline = tokio::time::timeout(
        bound,
        pipeline::drive(&steps, order.clone(), TWO, &reporter),
    )
    .await
    .unwrap_or_else(|_| {
        panic!(
            "the resumed run did not finish in {bound:?}: {:?}",
            steps.log.lock().unwrap()
        )
    })
    .unwrap();
    assert_eq!(timeline.in_node.len(), order.len());
    let log = steps.log.lock().unwrap().clone();
    let at = |s: &str| {
        log.iter()
            .position(|l| l == s)
            .unwrap_or_else(|| panic!("{s}: {log:?}"))
    };
    // The data layer went in while the gateway's image was still on its way.
    assert!(
        at("apply Data") < at(&format!("fetched {}", name("nginx"))),
        "{log:?}"
    );
    // The harness delivered the images out of order: all but the last in reverse, before the
    // boot answered.
    let starts = |prefix: &str| -> Vec<String> {
        log.iter()
            .filter_map(|l| l.strip_prefix(prefix))
            .map(str::to_string)
            .collect()
    };
    let mut delivered: Vec<String> = order[..order.len() - 1].iter().rev().cloned().collect();
    delivered.push(name("nginx"));
    assert_eq!(starts("fetched "), delivered, "the harness's own delivery");
    assert!(
        at("booted") > at(&format!("fetched {}", order[0])),
        "{log:?}"
    );
    // Onyx's decision: with them all in the engine at once, images were sent into the node in
    // the dependency order (the second run's, resumed), not in the order they arrived. The
    // order they *finish* in is not the pipeline's to decide: two imports run at once and a
    // smaller image may finish first.
    assert_eq!(starts("importing "), order, "{log:?}");
    let applies: Vec<&String> = log.iter().filter(|l| l.starts_with("apply")).collect();
    assert_eq!(
        applies,
        [
            "apply Config",
            "apply Data",
            "apply Model",
            "apply Api",
            "apply Web",
            "apply Gateway"
        ]
    );

    // Nothing twice: each image pulled from the registry once over both runs (then present),
    // and streamed into the node once (then present).
    let pulls = steps.pulls.lock().unwrap().clone();
    for image in &order {
        let pulled = pulls
            .iter()
            .filter(|(i, o)| i == image && *o == images::Outcome::Pulled)
            .count();
        assert_eq!(pulled, 1, "{image}: {pulls:?}");
    }
    // Every image the stopped run had put into the node is found there by the next one, not
    // streamed again; the only repeated streams are those the stop cut off mid-way (at most
    // one per import slot).
    let imports = steps.imports.lock().unwrap().clone();
    let second = &imports[first_imports.len()..];
    for (image, _) in &first_imports {
        assert!(
            second.contains(&(image.clone(), Outcome::Present)),
            "{image}: {second:?}"
        );
    }
    let (node, _) = steps.node.get().unwrap();
    let calls = kind::exec(&docker, &node.name, &["cat", "/records/calls"], None)
        .await
        .unwrap()
        .stdout_text();
    let streamed = calls
        .matches("ctr --namespace=k8s.io images import")
        .count();
    assert!(
        streamed >= order.len() && streamed <= order.len() + TWO.import,
        "{streamed} imports for {} images:\n{calls}",
        order.len()
    );
    drop(registry);
}
