//! `onyx backup -o FILE` and `onyx restore FILE`: see [`crate::backup`] for the file and the
//! guarantees. The file is written mode 0600 and records the deployed Onyx release; restore warns
//! when a file is readable by others, asks before replacing the database unless `--yes`, and then
//! records the backup's release as the deployed one ([`crate::upgrade::record_restored`]), which is
//! how a stack refused as a downgrade gets back to this onyx's release.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use crate::backup;
use crate::cli::{BackupArgs, RestoreArgs};
use crate::error::{Error, Result};
use crate::runtime::Runtime;
use crate::settings::ClusterSettings;
use crate::ui::Printer;

pub fn backup(
    settings: &ClusterSettings,
    printer: &Printer,
    runtime: &Runtime,
    args: &BackupArgs,
) -> Result<ExitCode> {
    let header = runtime.block_on(async {
        let target = crate::cluster::own::target(&settings.cluster, false).await?;
        let (client, ns) = (&target.client, &target.namespace);
        // The header names the release whose database this is: the deployed one.
        let (_, recorded) = crate::upgrade::deployed(&target).await?;
        let release =
            recorded.map_or_else(|| crate::stack::ONYX_VERSION.to_string(), |r| r.release);
        printer.info(&format!(
            "dumping the Onyx database (Onyx {release}) in namespace {ns}..."
        ));
        backup::backup(client, ns, &args.output, &release).await
    })?;
    printer.info(&format!(
        "wrote {} ({} bytes of SQL, sha256 {}, mode 0600: it holds every user's chats)",
        args.output.display(),
        header.size,
        &header.sha256[..12]
    ));
    Ok(ExitCode::SUCCESS)
}

pub fn restore(
    settings: &ClusterSettings,
    printer: &Printer,
    runtime: &Runtime,
    args: &RestoreArgs,
) -> Result<ExitCode> {
    // Checked before anything else: a bad file never gets as far as the cluster.
    let header = backup::verify(&args.file)?;
    if let Some(mode) = backup::readable_by_others(&args.file) {
        printer.warn(&format!(
            "{} is readable by other users (mode {mode:04o}) and holds every user's chats and \
             accounts: `chmod 600 {}`",
            args.file.display(),
            args.file.display()
        ));
    }
    if !args.yes {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return Err(Error::input(
                "restore replaces the Onyx database's contents and needs a confirmation",
                "re-run with --yes to confirm without a terminal",
            ));
        }
        let _ = printer.prompt(&format!(
            "Replace the Onyx database with the backup of {} (Onyx {})? [y/N] ",
            header.created_at, header.stack_version
        ));
        let mut answer = String::new();
        stdin.lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            printer.info("nothing was changed");
            return Ok(ExitCode::from(1));
        }
    }
    let recorded = runtime.block_on(async {
        let target = crate::cluster::own::target(&settings.cluster, false).await?;
        printer.info(&format!("restoring into namespace {}...", target.namespace));
        backup::restore(&target.client, &target.namespace, &args.file).await?;
        crate::upgrade::record_restored(&target, &header.stack_version).await
    })?;
    printer.info(&if recorded {
        format!(
            "restored; the database is Onyx {}'s again (recorded on the stack): `onyx up` applies \
             that release",
            header.stack_version
        )
    } else {
        "restored".to_string()
    });
    Ok(ExitCode::SUCCESS)
}
