//! Data safety across Onyx releases: what `up` does, before it applies anything, about the release
//! already deployed ([`crate::stack::release`] decides; this module reads the cluster and backs up).
//!
//! [`before_apply`], in order:
//! 1. read the release recorded on the live API Deployment ([`deployed`]);
//! 2. nothing there, or the same release: go on;
//! 3. a newer release: refuse (the database can't migrate back), listing the backups of this
//!    onyx's release that could be restored instead;
//! 4. an older (or unreadable) release: back the database up into
//!    `<data dir>/backups/<context>/<namespace>/<UTC time>-onyx-<release>.onyx-backup` (mode 0600,
//!    in directories mode 0700), keep the newest [`KEEP`] there, say where it is; a failed backup
//!    stops the upgrade. `--no-backup` skips the backup.
//!
//! [`record_restored`] is the other half of the way back: after `restore`, the API Deployment
//! records the backup's release, since that is now the database's.

use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};

use crate::error::{Error, Result};
use crate::kube::{Target, retry};
use crate::stack::ONYX_VERSION;
use crate::stack::release::{self, ANNOTATION_RELEASE, AUTHORITATIVE, Plan, Recorded};
use crate::ui::Printer;

/// Backups `up` keeps per namespace (older ones it made are removed after a new one is written).
pub const KEEP: usize = 3;
/// The file name's ending.
pub const EXTENSION: &str = "onyx-backup";
const TRIES: u32 = 6;

/// The live API Deployment's record: `(exists, recorded)`.
pub async fn deployed(target: &Target) -> Result<(bool, Option<Recorded>)> {
    let api: Api<Deployment> = Api::namespaced(target.client.clone(), &target.namespace);
    let d = retry(TRIES, || api.get_opt(AUTHORITATIVE))
        .await
        .map_err(|e| target.classify(&format!("read Deployment {AUTHORITATIVE}"), e))?;
    Ok(match d {
        Some(d) => (true, release::recorded(&d)),
        None => (false, None),
    })
}

/// After a restore: record `release` on the API Deployment (a merge patch of one annotation, so
/// onyx's own server-side apply still owns everything else). `false` when there is no API
/// Deployment to record it on.
pub async fn record_restored(target: &Target, release: &str) -> Result<bool> {
    let api: Api<Deployment> = Api::namespaced(target.client.clone(), &target.namespace);
    let body = serde_json::json!({"metadata": {"annotations": {ANNOTATION_RELEASE: release}}});
    match api
        .patch(AUTHORITATIVE, &PatchParams::default(), &Patch::Merge(&body))
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
        Err(e) => Err(target
            .classify(&format!("record the release on {AUTHORITATIVE}"), e)
            .into()),
    }
}

/// onyx's data directory: the given one (`--data-dir` / `ONYX_DATA_DIR`), else the platform data
/// directory + `onyx` (the same rule as `onyx cluster`).
pub fn data_root(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(d) = given {
        return Ok(d.to_path_buf());
    }
    directories::BaseDirs::new()
        .map(|d| d.data_dir().join("onyx"))
        .ok_or_else(|| {
            Error::input(
                "cannot find a data directory for onyx (no home directory)",
                format!("set {} to a directory", crate::env_vars::ONYX_DATA_DIR),
            )
        })
}

/// `<root>/backups/<context>/<namespace>`; the context's name made safe as one path segment.
pub fn backups_dir(root: &Path, context: &str, namespace: &str) -> PathBuf {
    let safe: String = context
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let safe = if safe.trim_matches('.').is_empty() {
        "_".to_string()
    } else {
        safe
    };
    root.join("backups").join(safe).join(namespace)
}

/// `<UTC time, ms>-onyx-<release>.onyx-backup`: sorts by time, names the release.
pub fn file_name(release: &str, now: k8s_openapi::jiff::Timestamp) -> String {
    format!(
        "{}-onyx-{release}.{EXTENSION}",
        now.strftime("%Y%m%dT%H%M%S%.3fZ")
    )
}

/// The backups `up` made in `dir`, oldest first (only names it writes; other files are left be).
pub fn list(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.starts_with(|c: char| c.is_ascii_digit())
                    && n.contains("-onyx-")
                    && n.ends_with(&format!(".{EXTENSION}"))
            })
        })
        .collect();
    files.sort();
    files
}

/// Remove all but the newest `keep` of [`list`]; returns what was removed.
pub fn prune(dir: &Path, keep: usize) -> Vec<PathBuf> {
    let files = list(dir);
    let excess = files.len().saturating_sub(keep);
    files
        .into_iter()
        .take(excess)
        .filter(|p| std::fs::remove_file(p).is_ok())
        .collect()
}

/// The backups in `dir` whose header says they hold `release`'s database, newest first.
pub fn backups_of(dir: &Path, release: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = list(dir)
        .into_iter()
        .filter(|p| crate::backup::read_header(p).is_ok_and(|h| h.stack_version == release))
        .collect();
    found.reverse();
    found
}

fn make_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// What [`before_apply`] needs besides the target.
#[derive(Debug, Clone)]
pub struct GuardOptions {
    /// `--no-backup`.
    pub no_backup: bool,
    /// onyx's data directory ([`data_root`]).
    pub data_root: PathBuf,
}

/// Refuse a downgrade, back up before an upgrade; see the module's steps. Returns the plan it
/// acted on and the backup written, if any.
pub async fn before_apply(
    target: &Target,
    opts: &GuardOptions,
    printer: &Printer,
) -> Result<(Plan, Option<PathBuf>)> {
    // A namespace made by this run holds nothing yet.
    let (exists, recorded) = if target.created_namespace {
        (false, None)
    } else {
        deployed(target).await?
    };
    let plan = release::plan(recorded.as_ref(), exists, ONYX_VERSION);
    let dir = backups_dir(&opts.data_root, &target.context, &target.namespace);
    let from = match &plan {
        Plan::Install | Plan::Same => return Ok((plan, None)),
        Plan::Downgrade { from } => {
            return Err(release::downgrade_refusal(
                from,
                &target.namespace,
                &target.context,
                &backups_of(&dir, ONYX_VERSION),
            ));
        }
        Plan::Upgrade { from } => from.clone(),
        Plan::Unknown { from } => from.clone().unwrap_or_else(|| "unknown".into()),
    };
    if opts.no_backup {
        printer.warn(&format!(
            "upgrading Onyx {from} to {ONYX_VERSION} without a backup (--no-backup): the API \
             migrates the database when it starts, and it can't be migrated back"
        ));
        return Ok((plan, None));
    }
    printer.info(&format!(
        "Onyx {from} is deployed; this onyx deploys {ONYX_VERSION}, whose API migrates the \
         database when it starts. Backing it up first..."
    ));
    let failed = |e: Error| {
        let hint = e.hint();
        Error::Refused {
            message: format!(
                "the backup before the upgrade failed, so nothing was applied (Onyx {from} still \
                 runs): {e}"
            ),
            hint: format!(
                "{}then run `onyx up` again; or `onyx up --no-backup` to upgrade without a backup",
                hint.map(|h| format!("{h}; ")).unwrap_or_default()
            ),
        }
    };
    make_private_dir(&dir).map_err(|e| {
        failed(Error::input(
            format!("cannot make {}: {e}", dir.display()),
            format!(
                "choose another data directory with --data-dir or {}",
                crate::env_vars::ONYX_DATA_DIR
            ),
        ))
    })?;
    let name = file_name(&from, k8s_openapi::jiff::Timestamp::now());
    let mut path = dir.join(&name);
    for n in 2.. {
        if !path.exists() {
            break;
        }
        let stem = name.trim_end_matches(&format!(".{EXTENSION}"));
        path = dir.join(format!("{stem}-{n}.{EXTENSION}"));
    }
    let header = crate::backup::backup(&target.client, &target.namespace, &path, &from)
        .await
        .map_err(failed)?;
    let removed = prune(&dir, KEEP);
    printer.info(&format!(
        "backed up the database of Onyx {from} to {} ({} bytes of SQL, mode 0600){}",
        path.display(),
        header.size,
        if removed.is_empty() {
            String::new()
        } else {
            format!(
                "; removed {} older backup(s), keeping the newest {KEEP}",
                removed.len()
            )
        }
    ));
    Ok((plan, Some(path)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_time_and_carry_the_release() {
        let t = |s: &str| s.parse::<k8s_openapi::jiff::Timestamp>().unwrap();
        let a = file_name("v2.2.0", t("2026-12-01T10:25:00.5Z"));
        assert_eq!(a, "20261201T102500.500Z-onyx-v2.2.0.onyx-backup");
        let b = file_name("v2.10.0", t("2026-12-01T10:25:01Z"));
        assert!(a < b);
        assert_eq!(
            backups_dir(Path::new("/d"), "arn:aws:eks:eu/x", "onyx"),
            Path::new("/d/backups/arn_aws_eks_eu_x/onyx")
        );
        assert_eq!(
            backups_dir(Path::new("/d"), "..", "n"),
            Path::new("/d/backups/_/n")
        );
    }

    #[test]
    fn prune_keeps_the_newest_and_leaves_other_files() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..5 {
            std::fs::write(
                dir.path()
                    .join(format!("2026120{i}T000000.000Z-onyx-v2.2.0.onyx-backup")),
                b"x",
            )
            .unwrap();
        }
        std::fs::write(dir.path().join("mine.onyx-backup"), b"x").unwrap();
        let removed = prune(dir.path(), 3);
        assert_eq!(removed.len(), 2);
        let left: Vec<String> = list(dir.path())
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            left,
            [
                "20261202T000000.000Z-onyx-v2.2.0.onyx-backup",
                "20261203T000000.000Z-onyx-v2.2.0.onyx-backup",
                "20261204T000000.000Z-onyx-v2.2.0.onyx-backup"
            ]
        );
        assert!(dir.path().join("mine.onyx-backup").exists());
    }
}
