//! `onyx down`: stop the stack by scaling every service to zero. Volumes, Secrets and config
//! stay, so `onyx up` brings the same data back. For onyx's own cluster the node container stops
//! too ([`stop_own_node`]); `onyx up` starts it again.

use std::process::ExitCode;

use crate::error::Result;
use crate::kube::stack;
use crate::runtime::Runtime;
use crate::settings::ClusterSettings;
use crate::ui::Printer;

pub fn run(settings: &ClusterSettings, printer: &Printer, runtime: &Runtime) -> Result<ExitCode> {
    let n = runtime.block_on(async {
        let target = crate::cluster::own::target(&settings.cluster, false).await?;
        let n = stack::scale_down(&target).await?;
        if n == 0 {
            return Err(crate::kube::KubeError::NotInstalled {
                namespace: target.namespace.clone(),
                context: target.context.clone(),
            }
            .into());
        }
        Ok::<_, crate::Error>(n)
    })?;
    if !settings.given_cluster() {
        runtime.block_on(stop_own_node(printer))?;
    }
    printer.info(&format!(
        "stopped {n} services; data and passwords are kept (`onyx up` starts them again)"
    ));
    Ok(ExitCode::SUCCESS)
}

/// Stop onyx's own cluster node (its volumes and the data directory stay).
async fn stop_own_node(printer: &Printer) -> Result<()> {
    let engine =
        crate::docker::engine::connect(&crate::docker::engine::EngineEnv::from_process()).await?;
    let node = crate::cluster::node_name(crate::cluster::CLUSTER_NAME);
    // A 30 s grace for etcd and containerd to stop cleanly (see `kind::STOP_GRACE_SECS`).
    match crate::cluster::kind::stop_node(&engine.docker, &node).await {
        Ok(_) => printer.info(&format!("stopped the node {node}")),
        Err(e) => printer.warn(&format!("could not stop the node {node}: {e}")),
    }
    Ok(())
}
