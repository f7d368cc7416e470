//! `onyx logs SERVICE [-f] [--previous]`: a service's container logs, on stdout.

use std::process::ExitCode;

use crate::cli::LogsArgs;
use crate::error::Result;
use crate::kube::{KubeError, stack};
use crate::runtime::Runtime;
use crate::settings::ClusterSettings;
use crate::ui::Printer;

pub fn run(
    settings: &ClusterSettings,
    _printer: &Printer,
    runtime: &Runtime,
    args: &LogsArgs,
) -> Result<ExitCode> {
    let service = super::settings::service_named(&args.service)?;
    let work = async {
        let target = crate::cluster::own::target(&settings.cluster, false).await?;
        let mut out = std::io::stdout();
        stack::logs(
            &target,
            service,
            args.follow,
            args.previous,
            args.tail,
            &mut out,
        )
        .await?;
        Ok::<_, crate::Error>(())
    };
    // Following logs ends with Ctrl-C; that is the normal way out.
    runtime.until_ctrl_c(work).or_else(|e| match e {
        crate::Error::Kube(KubeError::Api { message, .. }) if message.contains("Broken pipe") => {
            Ok(())
        }
        e => Err(e),
    })?;
    Ok(ExitCode::SUCCESS)
}
