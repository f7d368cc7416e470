//! Step 3 of `up`: the stack's images. onyx's own node gets them from the engine before anything
//! talks to Kubernetes: a bundle is checked whole and loaded before the node is made
//! ([`preload_bundle`], so making the cluster needs no registry), else every image is pulled;
//! then each goes into the node's containerd ([`into_own_node`]). Another cluster's nodes pull
//! them themselves ([`other_cluster`] says so).

use crate::cluster::kind::Created;
use crate::docker::{bundle, engine, images};
use crate::error::Result;
use crate::kube::Target;
use crate::runtime::until_interrupted;
use crate::ui::Printer;

use super::UpOptions;

/// An air-gapped start: the bundle is checked whole before anything is made or pulled (a
/// garbage or truncated file fails here, at once), then every image in it — the node image
/// included — goes into the engine. Returns the node image the bundle brought, if it did.
pub fn preload_bundle(
    opts: &UpOptions,
    printer: &Printer,
    rt: &tokio::runtime::Runtime,
) -> Result<Option<String>> {
    let Some(path) = &opts.bundle else {
        return Ok(None);
    };
    let verified = bundle::verify(path)?;
    let loaded = until_interrupted(rt, async {
        let engine = engine::connect(&engine::EngineEnv::from_process()).await?;
        let progress = crate::ui::ImageProgress::new(printer, "ready in the engine");
        let loaded = bundle::load_verified(&engine.docker, path, &verified, &progress).await;
        progress.finish();
        let loaded = loaded?;
        let pinned = &crate::stack::catalog::node_image().reference;
        let tag = crate::docker::reference::Reference::parse(pinned)
            .ok()
            .and_then(|r| r.tag.as_ref().map(|t| format!("{}:{t}", r.repository())));
        let engine_id = match tag {
            Some(t) => engine
                .docker
                .inspect_image(&t)
                .await
                .ok()
                .and_then(|i| i.id),
            None => None,
        };
        Ok((
            loaded,
            bundle::node_image_from_bundle(&verified.manifest, pinned, engine_id.as_deref()),
        ))
    })?;
    Ok(loaded.1)
}

/// Every stack image pulled into the engine (unless the bundle loaded them already) and put
/// into the own node's containerd.
pub fn into_own_node(
    opts: &UpOptions,
    printer: &Printer,
    rt: &tokio::runtime::Runtime,
    created: &Created,
) -> Result<()> {
    let stack: Vec<String> = crate::stack::catalog::stack_images()
        .map(|i| i.reference.clone())
        .collect();
    until_interrupted(rt, async {
        let engine = engine::connect(&engine::EngineEnv::from_process()).await?;
        let fetched = crate::ui::ImageProgress::new(printer, "ready in the engine");
        let outcome = match &opts.bundle {
            // Loaded by `preload_bundle`, before the cluster was made.
            Some(_) => Ok(()),
            None => {
                let options = images::PullOptions {
                    mirror: opts.registry_mirror.clone(),
                    ..images::PullOptions::default()
                };
                match images::pull_all(&engine.docker, &stack, &options, &fetched).await {
                    (_, Some(e)) => Err(e),
                    _ => Ok(()),
                }
            }
        };
        fetched.finish();
        outcome?;
        let facts = engine.facts().await?;
        let loaded = crate::ui::ImageProgress::new(printer, "in the node");
        let (_, err) = crate::cluster::node_images::load_all(
            &engine.docker,
            &created.node,
            &stack,
            &crate::cluster::node_images::ImportOptions {
                containerd_image_store: facts.containerd_image_store,
                ..Default::default()
            },
            &loaded,
        )
        .await;
        loaded.finish();
        match err {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    })
}

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
