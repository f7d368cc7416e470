//! `onyx cluster`: onyx's own local cluster. `create` makes (or reuses, or restarts) the
//! kind-compatible node and merges its kubeconfig; `delete` removes it and our kubeconfig entries,
//! keeping the data directory unless `--purge`; `list` and `status` show what the engine has;
//! `load` puts the stack's images into the node.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use crate::cli::{
    ClusterCreateArgs, ClusterDeleteArgs, ClusterListArgs, ClusterLoadArgs, ClusterStatusArgs,
    ClusterTarget, DataFormat,
};
use crate::cluster::kind::{self, CreateOptions, Timeouts};
use crate::cluster::node::{NodeOptions, node_spec};
use crate::cluster::{self, kubeconfig, node_images};
use crate::docker::images::{self, PullOptions};
use crate::docker::{engine, reference};
use crate::error::{Error, Result};
use crate::settings::Settings;
use crate::stack::catalog;
use crate::ui::{ImageProgress, Printer, StepProgress};

/// The data root: the flag or ONYX_DATA_DIR, else the platform data directory + `onyx`.
fn data_root(target: &ClusterTarget) -> Result<PathBuf> {
    if let Some(d) = &target.data_dir {
        return Ok(d.clone());
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

/// The host directory at the node's storage root: `<root>/data` for the default cluster,
/// `<root>/clusters/<name>/data` for others.
pub fn data_dir(root: &Path, cluster: &str) -> PathBuf {
    if cluster == cluster::CLUSTER_NAME {
        root.join("data")
    } else {
        root.join("clusters").join(cluster).join("data")
    }
}

fn checked_name(target: &ClusterTarget) -> Result<&str> {
    cluster::validate_name(&target.name)
        .map_err(|e| Error::input(e, "leave --name out to use the default cluster, onyx"))?;
    Ok(&target.name)
}

fn home() -> PathBuf {
    directories::BaseDirs::new()
        .map(|d| d.home_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from("."))
}

fn kubeconfig_file(target: &ClusterTarget) -> PathBuf {
    kubeconfig::path_for_merge(
        target.kubeconfig.as_deref(),
        std::env::var_os("KUBECONFIG").as_deref(),
        &home(),
    )
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).expect("json")
}

/// Make (or reuse, or restart) the own cluster, as `cluster create` and `up` both need it; the
/// node image is pulled first when the engine lacks it. Returns the cluster and its data dir.
pub fn ensure(
    settings: &Settings,
    printer: &Printer,
    rt: &tokio::runtime::Runtime,
    args: &ClusterCreateArgs,
) -> Result<(kind::Created, std::path::PathBuf)> {
    let name = checked_name(&args.target)?.to_string();
    let root = data_root(&args.target)?;
    let data = data_dir(&root, &name);
    // What this run makes it removes again when it fails: no empty data directory is left.
    let made = missing_dirs(&root, &data);
    std::fs::create_dir_all(&data).map_err(|e| {
        Error::input(
            format!("cannot create the data directory {}: {e}", data.display()),
            format!(
                "choose another with --data-dir (or {})",
                crate::env_vars::ONYX_DATA_DIR
            ),
        )
    })?;
    let result = ensure_in(settings, printer, rt, args, name, &data);
    if result.is_err() && !args.retain {
        remove_empty(&made);
    }
    Ok((result?, data))
}

/// The directories from `root` (included) down to `data` that do not exist yet, deepest first.
fn missing_dirs(root: &Path, data: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dir = Some(data);
    while let Some(d) = dir {
        if d.exists() {
            break;
        }
        out.push(d.to_path_buf());
        if d == root {
            break;
        }
        dir = d.parent();
    }
    out
}

/// Remove these directories, deepest first, each only while empty.
fn remove_empty(dirs: &[PathBuf]) {
    for d in dirs {
        if std::fs::remove_dir(d).is_err() {
            break;
        }
    }
}

fn ensure_in(
    settings: &Settings,
    printer: &Printer,
    rt: &tokio::runtime::Runtime,
    args: &ClusterCreateArgs,
    name: String,
    data: &Path,
) -> Result<kind::Created> {
    let image = args
        .node_image
        .clone()
        .unwrap_or_else(|| catalog::node_image().reference.clone());
    let api_server_port = kind::free_port()?;
    let spec = node_spec(&NodeOptions {
        cluster: name.clone(),
        image,
        api_server_port,
        ui_port: settings.port,
        data_dir: data.to_path_buf(),
    });
    let options = CreateOptions {
        cluster: name,
        spec,
        kubeconfig: kubeconfig_file(&args.target),
        retain: args.retain,
        timeouts: Timeouts {
            ready: Duration::from_secs(args.wait.max(1)),
            ..Timeouts::default()
        },
    };
    let engine = super::until_interrupted(rt, async {
        let engine = engine::connect(&engine::EngineEnv::from_process()).await?;
        // The node image, pulled first when the engine lacks it (a node that exists already
        // needs none).
        let node = cluster::node_name(&options.cluster);
        let existed = kind::inspect(&engine.docker, &node).await?.is_some();
        if !existed {
            // A taken UI port is refused before anything else (not after a pull).
            kind::check_ports(&options.spec)?;
            let r = reference::Reference::parse(&options.spec.image)
                .map_err(|e| Error::input(e, "give a node image like kindest/node:v1.36.1"))?;
            if images::present(&engine.docker, &r).await?.is_none() {
                let pull = PullOptions {
                    mirror: args.registry_mirror.clone(),
                    ..PullOptions::default()
                };
                let progress = ImageProgress::new(printer, "pulled");
                let pulled =
                    images::pull_one(&engine.docker, &options.spec.image, &pull, &progress).await;
                progress.finish();
                pulled?;
            }
        }
        Ok((engine, existed))
    })?;
    let (engine, existed) = engine;
    let progress = StepProgress::new(printer);
    let created = super::until_interrupted(rt, async {
        Ok(kind::create(&engine.docker, &options, &progress).await?)
    });
    progress.finish();
    // Ctrl-C drops the create half-way: remove the node it was making, as a failure would.
    if let Err(Error::Docker(crate::docker::DockerError::Interrupted)) = &created
        && !existed
        && !args.retain
    {
        printer.info(&format!(
            "interrupted: removing the node {}",
            options.spec.name
        ));
        if let Err(e) = rt.block_on(kind::remove_node(&engine.docker, &options.spec.name)) {
            printer.warn(&format!("could not remove {}: {e}", options.spec.name));
        }
    }
    created
}

pub fn create(
    settings: &Settings,
    printer: &Printer,
    args: &ClusterCreateArgs,
) -> Result<ExitCode> {
    let rt = super::runtime()?;
    let (created, data) = ensure(settings, printer, &rt, args)?;
    match args.output {
        DataFormat::Json => printer.data(&json(&created))?,
        DataFormat::Text => {
            let what = match created.outcome {
                kind::Outcome::Created => "created",
                kind::Outcome::Reused => "already running",
                kind::Outcome::Restarted => "started again",
            };
            printer.info(&format!(
                "cluster {} {what}: API server {}, context {} in {}; data in {}",
                created.cluster,
                created.api_server,
                created.context,
                created.kubeconfig.display(),
                data.display()
            ));
            if let Some(p) = created.ui_port
                && p != settings.port
            {
                printer.warn(&format!(
                    "the existing node serves the UI on port {p}, not {}: delete and create the \
                     cluster to change it (the data stays)",
                    settings.port
                ));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn delete(printer: &Printer, args: &ClusterDeleteArgs) -> Result<ExitCode> {
    let name = checked_name(&args.target)?.to_string();
    let root = data_root(&args.target)?;
    let data = data_dir(&root, &name);
    let file = kubeconfig_file(&args.target);
    let rt = super::runtime()?;
    let deleted = super::until_interrupted(&rt, async {
        let engine = engine::connect(&engine::EngineEnv::from_process()).await?;
        Ok(kind::delete(
            &engine.docker,
            &name,
            &file,
            args.purge.then_some(data.as_path()),
        )
        .await?)
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

pub fn list(printer: &Printer, args: &ClusterListArgs) -> Result<ExitCode> {
    let rt = super::runtime()?;
    let clusters = super::until_interrupted(&rt, async {
        let engine = engine::connect(&engine::EngineEnv::from_process()).await?;
        Ok(kind::list(&engine.docker).await?)
    })?;
    match args.output {
        DataFormat::Json => printer.data(&json(&clusters))?,
        DataFormat::Text if clusters.is_empty() => printer.info("no clusters"),
        DataFormat::Text => {
            let port = |p: Option<u16>| p.map_or("-".to_string(), |p| p.to_string());
            let mut text = format!(
                "{:<24} {:<10} {:<9} {:<8} {:<6}\n",
                "NAME", "STATE", "API PORT", "UI PORT", "MADE BY"
            );
            for c in &clusters {
                text.push_str(&format!(
                    "{:<24} {:<10} {:<9} {:<8} {:<6}\n",
                    c.name,
                    c.state,
                    port(c.api_port),
                    port(c.ui_port),
                    if c.onyx { "onyx" } else { "kind" }
                ));
            }
            printer.data(&text)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn status(printer: &Printer, args: &ClusterStatusArgs) -> Result<ExitCode> {
    let name = checked_name(&args.target)?.to_string();
    let rt = super::runtime()?;
    let status = super::until_interrupted(&rt, async {
        let engine = engine::connect(&engine::EngineEnv::from_process()).await?;
        Ok(kind::status(&engine.docker, &name).await?)
    })
    .map_err(|e| no_cluster_yet(e, &name))?;
    match args.output {
        DataFormat::Json => printer.data(&json(&status))?,
        DataFormat::Text => {
            let or_dash = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".into());
            let ready = match status.ready {
                Some(true) => "yes",
                Some(false) => "no",
                None => "unknown",
            };
            printer.data(&format!(
                "cluster:    {}\nnode:       {} ({})\nimage:      {}\nAPI server: {}\ncontext:    {}\nUI:         {}\ndata:       {}\nready:      {ready}",
                status.cluster,
                status.node,
                status.state,
                status.image,
                or_dash(&status.api_server),
                status.context,
                or_dash(&status.ui_url),
                or_dash(&status.data_dir),
            ))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The own cluster not made yet is a state with a way out, said as such (exit 3, as the day-2
/// commands say it); a cluster named with `--name` that is not there stays "no cluster named".
fn no_cluster_yet(e: Error, name: &str) -> Error {
    match e {
        Error::Cluster(kind::ClusterError::NotFound(n)) if n == cluster::CLUSTER_NAME => {
            Error::environment(
                format!(
                    "no local cluster yet (no node {})",
                    cluster::node_name(name)
                ),
                "`onyx up` or `onyx cluster create` makes one",
            )
        }
        e => e,
    }
}

pub fn load(printer: &Printer, args: &ClusterLoadArgs) -> Result<ExitCode> {
    let name = checked_name(&args.target)?.to_string();
    let images: Vec<String> = if args.images.is_empty() {
        catalog::stack_images()
            .map(|i| i.reference.clone())
            .collect()
    } else {
        args.images.clone()
    };
    let rt = super::runtime()?;
    let progress = ImageProgress::new(printer, "loaded");
    let outcome = super::until_interrupted(&rt, async {
        let (engine, facts) = engine::detect().await?;
        let node = cluster::node_name(&name);
        let status = kind::status(&engine.docker, &name)
            .await
            .map_err(|e| no_cluster_yet(e.into(), &name))?;
        if status.state != "running" {
            return Err(Error::input(
                format!("the node {node} is {}, not running", status.state),
                "start it with `onyx cluster create`",
            ));
        }
        let options = node_images::ImportOptions {
            containerd_image_store: facts.containerd_image_store,
            ..Default::default()
        };
        Ok(node_images::load_all(&engine.docker, &node, &images, &options, &progress).await)
    });
    progress.finish();
    let (results, error) = outcome?;
    match args.output {
        DataFormat::Json => printer.data(&json(&results))?,
        DataFormat::Text => {
            use node_images::Outcome;
            let count = |o: Outcome| results.iter().filter(|r| r.outcome == o).count();
            printer.info(&format!(
                "{} imported, {} tagged, {} already present, {} failed",
                count(Outcome::Imported),
                count(Outcome::Retagged),
                count(Outcome::Present),
                count(Outcome::Failed)
            ));
        }
    }
    match error {
        Some(e) => Err(e.into()),
        None => Ok(ExitCode::SUCCESS),
    }
}
