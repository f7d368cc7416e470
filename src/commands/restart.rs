//! `onyx restart SERVICE`: new pods for one service (the `kubectl rollout restart` annotation);
//! data and configuration stay.

use std::process::ExitCode;

use crate::cli::RestartArgs;
use crate::error::Result;
use crate::kube::stack;
use crate::runtime::Runtime;
use crate::settings::ClusterSettings;
use crate::ui::Printer;

pub fn run(
    settings: &ClusterSettings,
    printer: &Printer,
    runtime: &Runtime,
    args: &RestartArgs,
) -> Result<ExitCode> {
    let service = super::settings::service_named(&args.service)?;
    runtime.block_on(async {
        let target = crate::cluster::own::target(&settings.cluster, false).await?;
        stack::restart(&target, service).await?;
        Ok::<_, crate::Error>(())
    })?;
    printer.info(&format!(
        "{} is restarting (`onyx status` shows when it is ready again)",
        service.name
    ));
    Ok(ExitCode::SUCCESS)
}
