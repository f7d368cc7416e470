//! Step 3 of `up`: the stack's images. onyx's own node gets them pipelined with its boot and
//! the apply ([`own_pipelined`], through [`crate::deploy::pipeline`]): a bundle is checked whole
//! first and only the node image is loaded before the node is made (when it must be); the
//! stack's images then download (or load) while the node boots, each goes into the node as soon
//! as it is in the engine, and each layer is applied once its images are there. Another
//! cluster's nodes pull them themselves ([`other_cluster`] says so).

use crate::cluster::kind::Created;
use crate::docker::{bundle, engine, images};
use crate::error::Result;
use crate::kube::Target;
use crate::ui::Printer;

use super::UpOptions;

/// Another cluster pulls the images itself: say so, and that a bundle can't preload it.
pub fn other_cluster(
    opts: &UpOptions,
    printer: &Printer,
    target: &Target,
    own: bool,
) -> Result<()> {
    if own {
    } else if let Some(bundle) = &opts.bundle {
        bundle::verify(bundle)?;
        printer.warn(&format!(
            "--bundle preloads only onyx's own cluster; context {} pulls the images itself. \
             If it has no registry access, push the bundle's images to a registry it reaches \
             and pass --registry-mirror",
            target.context
        ));
    } else if opts.registry_mirror.is_none() {
        printer.info(&format!(
            "images: context {} pulls them itself (an air-gapped cluster needs a registry: \
             --registry-mirror HOST)",
            target.context
        ));
    }
    Ok(())
}

/// onyx's own cluster from cold, pipelined ([`crate::deploy::pipeline`]): the node made,
/// reused or started (on a thread of its own, as `cluster create` makes it) while the stack's
/// images download (or load from the bundle) and the engine checks what it has; each image
/// into the node as soon as it is in the engine; the release guard, the credentials and the
/// render once the node answers; each layer applied as soon as its images are in the node.
/// Returns the node, the connected cluster, the indexing rendered and the UI port.
pub fn own_pipelined(
    opts: &UpOptions,
    printer: &Printer,
    rt: &crate::runtime::Runtime,
    plan: &mut super::plan::Plan,
    started: std::time::Instant,
) -> Result<(Created, Target, crate::stack::indexing::Indexing, u16)> {
    use crate::deploy::pipeline::{self, Booted, Limits, Source};
    let stack: Vec<String> = crate::stack::catalog::stack_images()
        .map(|i| i.reference.clone())
        .collect();
    let verified = match &opts.bundle {
        Some(path) => Some(bundle::verify(path)?),
        None => None,
    };
    let (engine, facts, node_exists) = rt.interruptible(async {
        let engine = engine::connect(&engine::EngineEnv::from_process()).await?;
        let facts = engine.facts().await?;
        let node = crate::cluster::node_name(crate::cluster::CLUSTER_NAME);
        let exists = crate::cluster::kind::inspect(&engine.docker, &node)
            .await?
            .is_some();
        Ok((engine, facts, exists))
    })?;
    // A taken UI port is refused before any work for a new node (as `ensure` refuses it before
    // the node image is pulled): the stack's pulls would otherwise start first.
    if !node_exists && !crate::cluster::kind::port_is_free(opts.port) {
        return Err(crate::cluster::kind::port_taken(
            opts.port,
            crate::cluster::node::UI_NODE_PORT,
        )
        .into());
    }
    // A node to make from a bundle needs its image in the engine first; the stack's images
    // then load while it boots.
    let node_image = match (&opts.bundle, &verified) {
        (Some(path), Some(v)) if !node_exists => {
            rt.interruptible(bundle_node_image(&engine.docker, path, v, printer))?
        }
        _ => None,
    };
    let source = match (&opts.bundle, verified) {
        (Some(path), Some(verified)) => Source::Bundle {
            path: path.clone(),
            verified,
        },
        _ => Source::Registry(images::PullOptions {
            mirror: opts.registry_mirror.clone(),
            ..images::PullOptions::default()
        }),
    };
    let import = crate::cluster::node_images::ImportOptions {
        containerd_image_store: facts.containerd_image_store,
        ..Default::default()
    };
    let progress = crate::ui::PipelineProgress::new(printer);
    let extra = std::cell::RefCell::new(None);
    let outcome = std::thread::scope(|scope| {
        let (tx, rx) = tokio::sync::oneshot::channel();
        // `ensure` drives the runtime itself (block_on); the pipeline awaits its answer.
        scope.spawn(move || {
            let _ = tx.send(super::target::ensure_own(opts, printer, rt, node_image));
        });
        let plan = &*plan;
        let extra = &extra;
        let boot = async move {
            let created = rx.await.map_err(|_| {
                crate::error::Error::Internal(anyhow::anyhow!("the node's boot ended early"))
            })??;
            let ui_port = super::target::ui_port(opts, printer, Some(&created));
            let target = super::target::connect(opts, printer, Some(&created)).await?;
            // The release already deployed: a newer one is refused, an older one backed up
            // first (crate::upgrade), before anything of the stack is applied.
            let guard = crate::upgrade::GuardOptions {
                no_backup: opts.no_backup,
                data_root: crate::upgrade::data_root(opts.data_dir.as_deref())?,
            };
            crate::upgrade::before_apply(&target, &guard, printer).await?;
            let (objects, indexing, choice) =
                super::apply::render_stack(opts, printer, plan, &target, ui_port, true).await?;
            let node = created.node.clone();
            *extra.borrow_mut() = Some((created, indexing, ui_port, choice));
            Ok(Booted {
                node,
                target,
                objects,
            })
        };
        let limits = Limits::for_source(&source);
        rt.interruptible(pipeline::own_cluster(
            &engine.docker,
            &stack,
            source,
            import,
            boot,
            limits,
            &progress,
        ))
    });
    let (booted, timeline) = outcome?;
    let (created, indexing, ui_port, choice) = extra.into_inner().ok_or_else(|| {
        crate::error::Error::Internal(anyhow::anyhow!("the pipeline ended without a node"))
    })?;
    // The profile rendered (kept from the install, or named): what the rest of `up` reports.
    plan.choice = choice;
    printer.info(&format!(
        "[{}] every image in the node and the stack applied (node up after {})",
        crate::ui::pipeline::human(started.elapsed()),
        crate::ui::pipeline::human(timeline.booted.unwrap_or_default()),
    ));
    rt.block_on(super::apply::after_apply(
        opts,
        printer,
        plan,
        &booted.target,
        indexing,
        booted.objects.len(),
        started,
    ))?;
    Ok((created, booted.target, indexing, ui_port))
}

/// The node image from a bundle, loaded into the engine alone (the stack's images follow while
/// the node boots): the name to make the node from, when the bundle brought the pinned one.
async fn bundle_node_image(
    docker: &bollard::Docker,
    path: &std::path::Path,
    verified: &bundle::Verified,
    printer: &Printer,
) -> Result<Option<String>> {
    let pinned = &crate::stack::catalog::node_image().reference;
    let Some(index) = verified
        .manifest
        .images
        .iter()
        .position(|i| &i.reference == pinned)
    else {
        return Ok(None);
    };
    let progress = crate::ui::ImageProgress::new(printer, "ready in the engine");
    let loaded = bundle::load_part(docker, path, verified, index, &progress).await;
    progress.finish();
    loaded?;
    let tag = crate::docker::reference::Reference::parse(pinned)
        .ok()
        .and_then(|r| r.tag.as_ref().map(|t| format!("{}:{t}", r.repository())));
    let engine_id = match tag {
        Some(t) => docker.inspect_image(&t).await.ok().and_then(|i| i.id),
        None => None,
    };
    Ok(bundle::node_image_from_bundle(
        &verified.manifest,
        pinned,
        engine_id.as_deref(),
    ))
}
