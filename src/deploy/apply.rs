//! Step 4 of `up`: keep the stack's credentials already in the cluster (on onyx's own, also
//! those kept with its data: [`crate::cluster::credentials`]), resolve the indexing
//! (the flag over the choice kept in the cluster over the profile's default), render, apply
//! layer by layer (server-side apply, field manager `onyx`) and prune what indexing no longer
//! runs.

use std::time::Instant;

use crate::docker::reference::Reference;
use crate::error::Result;
use crate::kube::{Target, apply as kube_apply};
use crate::sizing;
use crate::stack::indexing::Indexing;
use crate::stack::render::{self, Object, RenderOptions, Rendered};
use crate::ui::Printer;

use super::UpOptions;
use super::plan::Plan;

/// Render and apply the stack; returns the indexing it was rendered with.
pub async fn apply(
    opts: &UpOptions,
    printer: &Printer,
    plan: &mut Plan,
    target: &Target,
    ui_port: u16,
    own: bool,
    started: Instant,
) -> Result<Indexing> {
    let (objects, indexing) = render_stack(opts, printer, plan, target, ui_port, own).await?;
    let applied = kube_apply::apply_all(target, &objects).await?;
    after_apply(opts, printer, plan, target, indexing, applied, started).await?;
    Ok(indexing)
}

/// The stack as it is to be applied: the credentials kept in the cluster, the indexing
/// resolved, rendered (in layer order). The pipelined cold start applies it layer by layer
/// ([`crate::deploy::pipeline`]), the rest at once ([`apply`]).
pub async fn render_stack(
    opts: &UpOptions,
    printer: &Printer,
    plan: &Plan,
    target: &Target,
    ui_port: u16,
    own: bool,
) -> Result<(Vec<Rendered>, Indexing)> {
    let credentials = if own {
        own_credentials(printer, target).await?
    } else {
        kube_apply::existing_credentials(target).await?
    };
    let kept = crate::kube::workers::kept_indexing(target).await?;
    let indexing = sizing::resolve_indexing(
        opts.force,
        printer,
        &plan.choice,
        plan.sizing.as_ref(),
        opts.indexing,
        kept,
    )?;
    printer.info(&format!("indexing: {}", indexing.mode.describe()));
    let mut objects = render::render(&RenderOptions {
        profile: plan.choice.profile,
        namespace: Some(&target.namespace),
        web_url: crate::browser::ui_url(ui_port),
        credentials: Some(&credentials),
        // The own node maps the UI's host port to this node port.
        gateway_node_port: own.then_some(crate::cluster::node::UI_NODE_PORT),
        indexing,
        app: render::AppOptions {
            telemetry: opts.telemetry,
            // Images from a bundle: an offline install.
            hub_offline: opts.bundle.is_some(),
        },
    });
    // Another cluster pulls through the mirror by name; onyx's own node has the images under
    // their usual names already (and reaches the mirror through containerd's config).
    if let Some(mirror) = &opts.registry_mirror
        && !own
    {
        through_mirror(&mut objects, mirror);
    }
    Ok((objects, indexing))
}

/// The credentials on onyx's own cluster: the Secrets in the cluster, else the copy kept in the
/// node's data mount (a node made again after `cluster delete` finds the data's credentials
/// there), else fresh ones; the copy is then brought up to date before anything is applied, so
/// no Secret the stack runs with is missing from it.
async fn own_credentials(
    printer: &Printer,
    target: &Target,
) -> Result<crate::stack::secrets::Credentials> {
    use crate::cluster::credentials;
    let in_cluster = kube_apply::credentials_in_cluster(target).await?;
    let engine =
        crate::docker::engine::connect(&crate::docker::engine::EngineEnv::from_process()).await?;
    let node = crate::cluster::node_name(crate::cluster::CLUSTER_NAME);
    let saved = credentials::read(&engine.docker, &node, &target.namespace).await?;
    if let Some(saved) = &saved {
        let restored: Vec<&str> = saved
            .0
            .keys()
            .filter(|name| !in_cluster.0.contains_key(*name))
            .map(String::as_str)
            .collect();
        if !restored.is_empty() {
            printer.info(&format!(
                "the cluster lacked the stack's Secrets {}: their values kept with the data are used",
                restored.join(", ")
            ));
        }
    }
    let merged = credentials::merge(saved.as_ref(), &in_cluster);
    if saved.as_ref() != Some(&merged) {
        credentials::write(&engine.docker, &node, &target.namespace, &merged).await?;
    }
    Ok(merged)
}

/// After every object is applied: prune what indexing no longer runs, give the deferred size
/// warning, say how many objects went in.
pub async fn after_apply(
    opts: &UpOptions,
    printer: &Printer,
    plan: &mut Plan,
    target: &Target,
    indexing: Indexing,
    applied: usize,
    started: Instant,
) -> Result<()> {
    // Indexing turned off (or a profile without its own indexing model server): the
    // services the stack no longer runs go.
    let pruned = crate::kube::workers::prune(target, indexing.mode).await?;
    if pruned > 0 {
        printer.info(&format!(
            "removed {pruned} objects of services indexing {} no longer runs",
            indexing.mode.as_str()
        ));
    }
    if let Some(probe) = plan.deferred_sizing.take() {
        // Same profile as chosen above; this only warns when the machine looks too small.
        let sizing = sizing::sizing_machine(&plan.host, probe.await.ok().flatten().as_ref());
        sizing::choose_profile(opts.profile, opts.force, printer, &sizing)?;
    }
    printer.info(&format!(
        "applied {applied} objects ({} profile) in {:.1}s",
        plan.choice.profile.name,
        started.elapsed().as_secs_f32()
    ));
    Ok(())
}

/// Point Docker Hub images of every workload at a registry mirror.
fn through_mirror(objects: &mut [Rendered], mirror: &str) {
    for r in objects {
        let spec = match &mut r.object {
            Object::Deployment(d) => d.spec.as_mut().and_then(|s| s.template.spec.as_mut()),
            Object::StatefulSet(s) => s.spec.as_mut().and_then(|s| s.template.spec.as_mut()),
            _ => None,
        };
        let Some(spec) = spec else { continue };
        for c in spec
            .containers
            .iter_mut()
            .chain(spec.init_containers.iter_mut().flatten())
        {
            if let Some(image) = &c.image
                && let Ok(reference) = Reference::parse(image)
            {
                c.image = Some(reference.pull_reference(Some(mirror)));
            }
        }
    }
}
