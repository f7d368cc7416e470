//! Step 2 of `up`: the cluster the stack goes to. The one given (--context/--kubeconfig), else
//! onyx's own, made or reused ([`ensure_own`], through [`crate::cluster::own::ensure`] as
//! `cluster create` makes it); then connected ([`connect`], the namespace created if missing).

use crate::cluster::kind::Created;
use crate::cluster::own::{self, EnsureOptions};
use crate::error::Result;
use crate::kube::{ConnectOptions, Target};
use crate::stack::profile;
use crate::ui::Printer;

use super::UpOptions;

/// Say which local clusters the user's kubeconfig has besides onyx's own, and how to use one
/// instead (onyx never picks another cluster by itself).
pub fn mention_local_clusters(printer: &Printer) {
    let Ok(kubeconfig) = kube::config::Kubeconfig::read() else {
        return;
    };
    let others = crate::cluster::detect::local_alternatives(&kubeconfig);
    if let Some(first) = others.first() {
        let names: Vec<String> = others
            .iter()
            .map(|c| format!("{} ({})", c.name, c.kind.label()))
            .collect();
        printer.info(&format!(
            "using onyx's own cluster; your kubeconfig also has {}: `onyx up --context {}` \
             would use that instead",
            names.join(", "),
            first.name
        ));
    }
}

/// What the user sees first on the own cluster, before any pull: the engine, the profile and
/// why, the cluster ([`first_line`]); nothing when no engine answers (the next step says so).
pub fn announce_own(printer: &Printer, rt: &crate::runtime::Runtime, choice: &profile::Choice) {
    if let Ok(line) = rt.interruptible(async {
        let (engine, facts) = crate::docker::engine::detect().await?;
        let node = crate::cluster::node_name(crate::cluster::CLUSTER_NAME);
        let state = crate::cluster::kind::inspect(&engine.docker, &node).await?;
        Ok(first_line(&facts, choice, state.as_ref()))
    }) {
        printer.info(&line);
    }
}

/// `up`'s first line on the own cluster: the engine found (its memory and CPUs), the profile and
/// why, and whether the cluster is new, reused or stopped.
pub fn first_line(
    facts: &crate::docker::engine::EngineFacts,
    choice: &profile::Choice,
    node: Option<&bollard::models::ContainerInspectResponse>,
) -> String {
    let why = if choice.forced {
        "named with --force"
    } else if choice.automatic {
        "the largest that fits the engine"
    } else {
        "named"
    };
    let cluster = match node {
        None => "new (made now)",
        Some(i) if i.state.as_ref().and_then(|s| s.running).unwrap_or(false) => "reused (running)",
        Some(_) => "stopped (started again)",
    };
    format!(
        "engine {} ({}, {} CPUs); profile {} ({why}); cluster {}: {cluster}",
        facts.endpoint,
        profile::gib(facts.memory_bytes),
        facts.cpus,
        choice.profile.name,
        crate::cluster::CLUSTER_NAME,
    )
}

/// onyx's own cluster, made or reused; `node_image` is the one a bundle brought (else the
/// pinned one).
pub fn ensure_own(
    opts: &UpOptions,
    printer: &Printer,
    rt: &crate::runtime::Runtime,
    node_image: Option<String>,
) -> Result<Created> {
    let ensure = EnsureOptions {
        name: crate::cluster::CLUSTER_NAME.into(),
        kubeconfig: opts.cluster.kubeconfig.clone(),
        data_dir: opts.data_dir.clone(),
        port: opts.port,
        retain: false,
        wait: std::time::Duration::from_secs(300),
        node_image,
        registry_mirror: opts.registry_mirror.clone(),
    };
    let (created, _data) = own::ensure(&ensure, printer, rt)?;
    Ok(created)
}

/// The UI port: a reused own node keeps the one mapped when it was made (a warning says so when
/// that is not the one asked for).
pub fn ui_port(opts: &UpOptions, printer: &Printer, own: Option<&Created>) -> u16 {
    let ui_port = own.and_then(|c| c.ui_port).unwrap_or(opts.port);
    if own.is_some() && ui_port != opts.port {
        printer.warn(&format!(
            "onyx's cluster serves the UI on port {ui_port}, not {}: the port is fixed when the \
             node is made (`onyx cluster delete` then `onyx up --port {}` changes it; the data stays)",
            opts.port, opts.port
        ));
    }
    ui_port
}

/// Connect to the own cluster just made, or to the one given (said on a line of its own).
pub async fn connect(opts: &UpOptions, printer: &Printer, own: Option<&Created>) -> Result<Target> {
    if let Some(created) = own {
        return Ok(crate::kube::connect(
            &ConnectOptions {
                kubeconfig: Some(created.kubeconfig.clone()),
                context: Some(created.context.clone()),
                namespace: opts.cluster.namespace.clone(),
            },
            true,
        )
        .await?);
    }
    // Where it goes is said on the first line with the size ([`super::plan::size_given_cluster`]).
    let _ = printer;
    crate::kube::connect(&opts.cluster, true)
        .await
        .map_err(Into::into)
}
