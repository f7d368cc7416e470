//! `onyx cluster delete`: the node and our kubeconfig entries; the data only with `--purge`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::json;
use crate::cli::{ClusterDeleteArgs, DataFormat};
use crate::cluster::{self, kind, node, own};
use crate::docker::engine;
use crate::error::Result;
use crate::runtime::Runtime;
use crate::ui::Printer;

/// Remove these directories, deepest first, each only while empty.
fn remove_empty(dirs: &[PathBuf]) {
    for d in dirs {
        if std::fs::remove_dir(d).is_err() {
            break;
        }
    }
}

pub fn delete(printer: &Printer, runtime: &Runtime, args: &ClusterDeleteArgs) -> Result<ExitCode> {
    let name = own::checked_name(&args.target.name)?.to_string();
    let root = own::data_root(args.target.data_dir.as_deref())?;
    let data = own::data_dir(&root, &name);
    let file = own::kubeconfig_file(args.target.kubeconfig.as_deref());
    let (deleted, data_volume_exists) = runtime.interruptible(async {
        let engine = engine::connect(&engine::EngineEnv::from_process()).await?;
        let deleted = kind::delete(
            &engine.docker,
            &name,
            &file,
            args.purge.then_some(data.as_path()),
        )
        .await?;
        let volume = node::data_volume_name(&name);
        let exists = kind::volumes::exists(&engine.docker, &volume).await?;
        Ok((deleted, exists))
    })?;
    if deleted.data_removed.is_some() {
        // --purge: the folders above the data that are left empty go too (onyx's data folder
        // itself included), never one that still holds something.
        let mut above: Vec<PathBuf> = data
            .ancestors()
            .skip(1)
            .take_while(|d| d.starts_with(&root))
            .map(Path::to_path_buf)
            .collect();
        above.retain(|d| d.exists());
        remove_empty(&above);
    }
    match args.output {
        DataFormat::Json => printer.data(&json(&deleted))?,
        DataFormat::Text => {
            if deleted.node_removed {
                printer.info(&format!("deleted cluster {name}"));
            } else {
                printer.info(&format!("there was no cluster {name} (nothing to remove)"));
            }
            if deleted.kubeconfig_cleaned {
                printer.info(&format!(
                    "removed context {} from {}",
                    cluster::context_name(&name),
                    file.display()
                ));
            }
            let volume = node::data_volume_name(&name);
            if deleted.volumes_removed.contains(&volume) {
                printer.info(&format!("removed the data volume {volume}"));
            } else if !args.purge && data_volume_exists {
                printer.info(&format!(
                    "kept the data volume {volume} (--purge removes it)"
                ));
            }
            match &deleted.data_removed {
                Some(d) => printer.info(&format!("removed the data directory {}", d.display())),
                None if data.exists() => printer.info(&format!(
                    "kept the data directory {} (--purge removes it)",
                    data.display()
                )),
                None => {}
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
