//! `onyx open`: print the UI's URL, then open it in the browser ([`crate::browser`]) unless
//! `--print`.

use std::process::ExitCode;

use crate::browser::{Opened, open_browser, ui_url};
use crate::cli::OpenArgs;
use crate::error::Result;
use crate::runtime::Runtime;
use crate::settings::ClusterSettings;
use crate::ui::Printer;

pub fn run(
    settings: &ClusterSettings,
    printer: &Printer,
    runtime: &Runtime,
    args: &OpenArgs,
) -> Result<ExitCode> {
    let port = runtime.block_on(async {
        Ok(crate::cluster::own::ui_port(&settings.cluster, settings.port).await)
    })?;
    let url = ui_url(port);
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
