//! `onyx logs SERVICE [-c CONTAINER] [-f] [--previous]`: a service's container logs, on stdout.
//! Before the main container has started (the API's init container waits for its dependencies
//! and may run for minutes), the init container that holds the pod is shown, and stderr says so.

use std::process::ExitCode;

use crate::cli::LogsArgs;
use crate::error::Result;
use crate::kube::{KubeError, stack};
use crate::runtime::Runtime;
use crate::settings::ClusterSettings;
use crate::ui::Printer;

pub fn run(
    settings: &ClusterSettings,
    printer: &Printer,
    runtime: &Runtime,
    args: &LogsArgs,
) -> Result<ExitCode> {
    let service = super::settings::service_named(&args.service)?;
    let work = async {
        let target = crate::cluster::own::target(&settings.cluster, false).await?;
        let source =
            stack::log_source(&target, service, args.container.as_deref(), args.previous).await?;
        if let Some(note) = &source.note {
            printer.info(note);
        }
        let mut out = std::io::stdout();
        stack::logs(
            &target,
            &source,
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
