//! `onyx open`: check that something serves the UI at its URL (nginx's health answer), print
//! the URL, then open it in the browser ([`crate::browser`]) unless `--print`. A URL nothing
//! serves is an error (exit 3) with what to run instead, not a dead link with exit 0.

use std::process::ExitCode;

use crate::browser::{Opened, open_browser, ui_url};
use crate::cli::OpenArgs;
use crate::error::{Error, Result};

/// How long the UI may take to answer its health check: it answers at once when it is there.
const CHECK: std::time::Duration = std::time::Duration::from_millis(1500);
use crate::runtime::Runtime;
use crate::settings::ClusterSettings;
use crate::ui::Printer;

pub fn run(
    settings: &ClusterSettings,
    printer: &Printer,
    runtime: &Runtime,
    args: &OpenArgs,
) -> Result<ExitCode> {
    let (url, served) = runtime.block_on(async {
        let url = ui_url(crate::cluster::own::ui_port(&settings.cluster, settings.port).await);
        let served = crate::kube::forward::check_gateway(&url, CHECK).await;
        Ok::<_, crate::Error>((url, served))
    })?;
    if let Err(e) = served {
        tracing::debug!("gateway check: {e}");
        let hint = if settings.given_cluster() {
            "`onyx up --forward` serves the UI on this machine (or pass the --port your own \
             port-forward uses); `onyx status` shows the stack"
        } else {
            "`onyx status` shows whether the stack runs; `onyx up` starts it (or pass the --port \
             it was started with)"
        };
        return Err(Error::environment(
            format!("nothing serves the Onyx UI at {url}"),
            hint,
        ));
    }
    printer.data(&url)?;
    if args.print {
        return Ok(ExitCode::SUCCESS);
    }
    match open_browser(&url, &|k| std::env::var(k).ok()) {
        Opened::Browser(how) => printer.info(&format!("opened {url} in {how}")),
        Opened::Headless(why) => printer.info(&format!("{why}: open {url} in a browser yourself")),
        Opened::Failed(e) => printer.warn(&format!(
            "could not start a browser ({e}); open {url} yourself"
        )),
    }
    Ok(ExitCode::SUCCESS)
}
