//! `onyx down`: stop the stack by scaling every service to zero. Volumes, Secrets and config
//! stay, so `onyx up` brings the same data back. For onyx's own cluster the node would stop
//! too ([`stop_own_node`], a call point).

use std::process::ExitCode;

use crate::cli::DownArgs;
use crate::error::Result;
use crate::kube::stack;
use crate::settings::Settings;
use crate::ui::Printer;

pub fn run(settings: &Settings, printer: &Printer, _args: &DownArgs) -> Result<ExitCode> {
    let runtime = super::runtime()?;
    let n = runtime.block_on(async {
        let target = super::up::target(settings, false).await?;
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
    if settings.context.is_none() && settings.kubeconfig.is_none() {
        stop_own_node(settings)?;
    }
    printer.info(&format!(
        "stopped {n} services; data and passwords are kept (`onyx up` starts them again)"
    ));
    Ok(ExitCode::SUCCESS)
}

/// Call point: stop onyx's own cluster node (the `cluster` work). Not reached in this build:
/// without --context, [`super::up::own_cluster_target`] already refused.
fn stop_own_node(_settings: &Settings) -> Result<()> {
    Ok(())
}
