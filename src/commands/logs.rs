//! `onyx logs SERVICE [-f] [--previous]`: a service's container logs, on stdout.

use std::process::ExitCode;

use crate::cli::LogsArgs;
use crate::error::Result;
use crate::kube::{KubeError, stack};
use crate::settings::Settings;
use crate::ui::Printer;

pub fn run(settings: &Settings, _printer: &Printer, args: &LogsArgs) -> Result<ExitCode> {
    let service = super::service_named(&args.service)?;
    let runtime = super::runtime()?;
    let work = async {
        let target = crate::cluster::own::target(&settings.connect_options(), false).await?;
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
    runtime
        .block_on(async {
            tokio::select! {
                r = work => r,
                // Following logs ends with Ctrl-C; that is the normal way out.
                _ = tokio::signal::ctrl_c() => Ok(()),
            }
        })
        .or_else(|e| match e {
            crate::Error::Kube(KubeError::Api { message, .. })
                if message.contains("Broken pipe") =>
            {
                Ok(())
            }
            e => Err(e),
        })?;
    Ok(ExitCode::SUCCESS)
}
