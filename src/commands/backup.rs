//! `onyx backup -o FILE` and `onyx restore FILE`: see [`crate::backup`] for the file and the
//! guarantees. Restore asks before replacing the database unless `--yes`.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use crate::backup;
use crate::cli::{BackupArgs, RestoreArgs};
use crate::error::{Error, Result};
use crate::settings::Settings;
use crate::ui::Printer;

pub fn backup(settings: &Settings, printer: &Printer, args: &BackupArgs) -> Result<ExitCode> {
    let rt = super::runtime()?;
    let header = rt.block_on(async {
        let target = super::up::target(settings, false).await?;
        let (client, ns) = (target.client, target.namespace);
        printer.info(&format!("dumping the Onyx database in namespace {ns}..."));
        backup::backup(&client, &ns, &args.output).await
    })?;
    printer.info(&format!(
        "wrote {} ({} bytes of SQL, sha256 {})",
        args.output.display(),
        header.size,
        &header.sha256[..12]
    ));
    Ok(ExitCode::SUCCESS)
}

pub fn restore(settings: &Settings, printer: &Printer, args: &RestoreArgs) -> Result<ExitCode> {
    // Checked before anything else: a bad file never gets as far as the cluster.
    let header = backup::verify(&args.file)?;
    if !args.yes {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return Err(Error::input(
                "restore replaces the Onyx database's contents and needs a confirmation",
                "re-run with --yes to confirm without a terminal",
            ));
        }
        eprint!(
            "Replace the Onyx database with the backup of {} (Onyx {})? [y/N] ",
            header.created_at, header.stack_version
        );
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        stdin.lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            printer.info("nothing was changed");
            return Ok(ExitCode::from(1));
        }
    }
    let rt = super::runtime()?;
    rt.block_on(async {
        let target = super::up::target(settings, false).await?;
        let (client, ns) = (target.client, target.namespace);
        printer.info(&format!("restoring into namespace {ns}..."));
        backup::restore(&client, &ns, &args.file).await
    })?;
    printer.info("restored");
    Ok(ExitCode::SUCCESS)
}
