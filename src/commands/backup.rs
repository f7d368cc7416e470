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
    // Before the cluster is asked for anything: a dump that can't be written is not taken.
    check_output(&args.output)?;
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

/// The backup file can be written where `-o` says: not a directory, in a directory that exists
/// and that onyx may create files in (tried with a probe file, removed again). A bad path is the
/// user's to fix (exit 2), named in the message.
fn check_output(path: &std::path::Path) -> Result<()> {
    let shown = path.display();
    if path.is_dir() {
        return Err(Error::input(
            format!("cannot write the backup to {shown}: it is a directory"),
            format!(
                "name a file in it, e.g. `-o {}`",
                path.join("onyx.backup").display()
            ),
        ));
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    if !dir.is_dir() {
        return Err(Error::input(
            format!(
                "cannot write the backup to {shown}: the directory {} does not exist",
                dir.display()
            ),
            format!(
                "create it first (`mkdir -p {}`) or give another path with -o",
                crate::ui::shell_quote(&dir.display().to_string())
            ),
        ));
    }
    let probe = dir.join(format!(".onyx-backup-probe-{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => Err(Error::input(
            format!(
                "cannot write the backup to {shown}: cannot create files in {} ({})",
                dir.display(),
                e.kind()
            ),
            "give a path in a directory you may write to with -o",
        )),
    }
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
