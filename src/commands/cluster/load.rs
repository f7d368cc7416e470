//! `onyx cluster load`: the stack's images (or the ones named) into the node's containerd.

use std::process::ExitCode;

use super::{json, no_cluster_yet};
use crate::cli::{ClusterLoadArgs, DataFormat};
use crate::cluster::{self, kind, node_images, own};
use crate::docker::engine;
use crate::error::{Error, Result};
use crate::runtime::Runtime;
use crate::stack::catalog;
use crate::ui::{ImageProgress, Printer};

pub fn load(printer: &Printer, runtime: &Runtime, args: &ClusterLoadArgs) -> Result<ExitCode> {
    let name = own::checked_name(&args.target.name)?.to_string();
    let images: Vec<String> = if args.images.is_empty() {
        catalog::stack_images()
            .map(|i| i.reference.clone())
            .collect()
    } else {
        args.images.clone()
    };
    let progress = ImageProgress::new(printer, "loaded");
    let outcome = runtime.interruptible(async {
        let (engine, facts) = engine::detect().await?;
        let node = cluster::node_name(&name);
        let status = kind::status(&engine.docker, &name)
            .await
            .map_err(|e| no_cluster_yet(e.into(), &name))?;
        if status.state != "running" {
            return Err(Error::input(
                format!("the node {node} is {}, not running", status.state),
                "start it with `onyx cluster create`",
            ));
        }
        let options = node_images::ImportOptions {
            containerd_image_store: facts.containerd_image_store,
            ..Default::default()
        };
        Ok(node_images::load_all(&engine.docker, &node, &images, &options, &progress).await)
    });
    progress.finish();
    let (results, error) = outcome?;
    match args.output {
        DataFormat::Json => printer.data(&json(&results))?,
        DataFormat::Text => {
            use node_images::Outcome;
            let count = |o: Outcome| results.iter().filter(|r| r.outcome == o).count();
            printer.info(&format!(
                "{} imported, {} tagged, {} already present, {} failed",
                count(Outcome::Imported),
                count(Outcome::Retagged),
                count(Outcome::Present),
                count(Outcome::Failed)
            ));
        }
    }
    match error {
        Some(e) => Err(e.into()),
        None => Ok(ExitCode::SUCCESS),
    }
}
