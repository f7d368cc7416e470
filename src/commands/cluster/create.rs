//! `onyx cluster create` (and `--dry-run`).

use std::process::ExitCode;
use std::time::Duration;

use super::json;
use crate::cli::{ClusterCreateArgs, DataFormat};
use crate::cluster::{self, dry_run, kind, own};
use crate::error::Result;
use crate::runtime::Runtime;
use crate::settings::ClusterSettings;
use crate::stack::catalog;
use crate::ui::Printer;

/// What `cluster create`'s flags ask [`own::ensure`] for.
fn ensure_options(settings: &ClusterSettings, args: &ClusterCreateArgs) -> own::EnsureOptions {
    own::EnsureOptions {
        name: args.target.name.clone(),
        kubeconfig: args.target.kubeconfig.clone(),
        data_dir: args.target.data_dir.clone(),
        port: settings.port,
        retain: args.retain,
        wait: Duration::from_secs(args.wait),
        node_image: args.node_image.clone(),
        registry_mirror: args.registry_mirror.clone(),
    }
}

/// `cluster create --dry-run`: read the engine's facts and print [`dry_run::plan_create`]; make nothing.
fn dry_run(
    settings: &ClusterSettings,
    printer: &Printer,
    runtime: &Runtime,
    args: &ClusterCreateArgs,
) -> Result<ExitCode> {
    let name = own::checked_name(&args.target.name)?.to_string();
    let data = own::data_mount(args.target.data_dir.as_deref(), &name);
    let image = args
        .node_image
        .clone()
        .unwrap_or_else(|| catalog::node_image().reference.clone());
    let node = cluster::node_name(&name);
    let (host, exists, subnets) = runtime.interruptible(dry_run::gather(&node))?;
    // What create would refuse, the dry run refuses the same way.
    if !exists {
        own::check_host(&host)?;
    }
    let plan = dry_run::plan_create(
        &name,
        &image,
        settings.port,
        &data,
        &host,
        subnets.as_deref(),
        exists,
    );
    match args.output {
        DataFormat::Json => printer.data(&json(&plan))?,
        DataFormat::Text => {
            for w in plan["warnings"].as_array().into_iter().flatten() {
                printer.warn(w.as_str().unwrap_or_default());
            }
            let mut text = String::new();
            if exists {
                text.push_str(&format!(
                    "# the node {node} exists: `cluster create` would reuse it, not make this\n"
                ));
            }
            text.push_str(&format!(
                "# engine facts\n{}\n# network (POST /networks/create, when missing)\n{}\n\
                 # volumes (POST /volumes/create, when missing)\n{}\n\
                 # node container (POST /containers/create?name={node})\n{}\n\
                 # kubeadm config ({}; {}; then `{}`)\n{}",
                json(&plan["engine"]),
                json(&plan["network"]),
                json(&plan["volumes"]),
                json(&plan["node"]["body"]),
                kind::KUBEADM_CONF,
                plan["kubeadm"]["node_address"].as_str().unwrap_or_default(),
                plan["kubeadm"]["init"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                plan["kubeadm"]["config"].as_str().unwrap_or_default(),
            ));
            printer.data(&text)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn create(
    settings: &ClusterSettings,
    printer: &Printer,
    runtime: &Runtime,
    args: &ClusterCreateArgs,
) -> Result<ExitCode> {
    if args.dry_run {
        return dry_run(settings, printer, runtime, args);
    }
    let (created, data) = own::ensure(&ensure_options(settings, args), printer, runtime)?;
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
                own::describe(&data)
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
