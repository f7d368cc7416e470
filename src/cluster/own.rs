//! onyx's own cluster as the commands use it: which cluster a command runs against ([`target`]:
//! the one given, else onyx's own, with the own node's state in the error when it can't be
//! reached), the UI's port on it ([`ui_port`]), where its data and kubeconfig live, and making
//! (or reusing, or restarting) it ([`ensure`]), which `onyx cluster create` and `onyx up` share.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cluster::host::{self, NodeHost};
use crate::cluster::kind::{self, CreateOptions, Timeouts};
use crate::cluster::node::{self, DataMount, NodeOptions, node_spec};
use crate::cluster::{self, kubeconfig};
use crate::docker::images::{self, PullOptions};
use crate::docker::{engine, reference};
use crate::error::{Error, Result};
use crate::kube::{ConnectOptions, KubeError, Target};
use crate::stack::catalog;
use crate::ui::{ImageProgress, Printer, StepProgress};

/// What [`ensure`] makes: the flags of `cluster create`, or what `up` passes for its own cluster.
#[derive(Debug, Clone)]
pub struct EnsureOptions {
    /// The cluster's name ([`cluster::CLUSTER_NAME`] unless tests run several).
    pub name: String,
    /// The kubeconfig file to merge into (`None`: by kubectl's rules).
    pub kubeconfig: Option<PathBuf>,
    /// The data root given (`None`: the platform data directory + `onyx`).
    pub data_dir: Option<PathBuf>,
    /// The host port mapped to the gateway's node port when the node is made.
    pub port: u16,
    /// Keep the node after a failed create, to look inside it.
    pub retain: bool,
    /// How long to wait for the node to be Ready.
    pub wait: Duration,
    /// The node image (`None`: the pinned kindest/node).
    pub node_image: Option<String>,
    /// Pull the node image through this registry mirror when the engine lacks it.
    pub registry_mirror: Option<String>,
}

/// The data root: the flag or ONYX_DATA_DIR, else the platform data directory + `onyx`.
pub fn data_root(data_dir: Option<&Path>) -> Result<PathBuf> {
    if let Some(d) = data_dir {
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

/// The host directory at the node's storage root: `<root>/data` for the default cluster,
/// `<root>/clusters/<name>/data` for others.
pub fn data_dir(root: &Path, cluster: &str) -> PathBuf {
    if cluster == cluster::CLUSTER_NAME {
        root.join("data")
    } else {
        root.join("clusters").join(cluster).join("data")
    }
}

/// Where a cluster's data lives: the host directory of the layout before the data volume while
/// it holds anything (kept and read as before, so nothing is lost), else the named volume
/// `onyx-data`.
pub fn data_mount(given: Option<&Path>, cluster: &str) -> DataMount {
    if let Ok(root) = data_root(given) {
        let dir = data_dir(&root, cluster);
        let holds_data = std::fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_some());
        if holds_data {
            return DataMount::HostDir(dir);
        }
    }
    DataMount::Volume(node::data_volume_name(cluster))
}

/// How a data mount reads in messages.
pub fn describe(data: &DataMount) -> String {
    match data {
        DataMount::Volume(v) => format!("the Docker volume {v}"),
        DataMount::HostDir(d) => format!("{} (kept from an older onyx)", d.display()),
    }
}

pub fn checked_name(name: &str) -> Result<&str> {
    cluster::validate_name(name)
        .map_err(|e| Error::input(e, "leave --name out to use the default cluster, onyx"))?;
    Ok(name)
}

fn home() -> PathBuf {
    directories::BaseDirs::new()
        .map(|d| d.home_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from("."))
}

pub fn kubeconfig_file(kubeconfig: Option<&Path>) -> PathBuf {
    kubeconfig::path_for_merge(
        kubeconfig,
        std::env::var_os("KUBECONFIG").as_deref(),
        &home(),
    )
}

/// Refuse what kind refuses on this host (rootless without cgroup v2 or delegated controllers);
/// its warnings (cgroup v1) otherwise.
pub fn check_host(host: &NodeHost) -> Result<Vec<String>> {
    host.check().map_err(|r| Error::input(r.message, r.hint))
}

/// Make (or reuse, or restart) the own cluster, as `cluster create` and `up` both need it; the
/// engine's facts are read once and shape the node; the node image is pulled first when the
/// engine lacks it. Returns the cluster and where its data lives.
pub fn ensure(
    args: &EnsureOptions,
    printer: &Printer,
    rt: &crate::runtime::Runtime,
) -> Result<(kind::Created, DataMount)> {
    let name = checked_name(&args.name)?.to_string();
    let data = data_mount(args.data_dir.as_deref(), &name);
    let image = args
        .node_image
        .clone()
        .unwrap_or_else(|| catalog::node_image().reference.clone());
    let node = cluster::node_name(&name);
    let (engine, host, existed) = rt.interruptible(async {
        let engine = engine::connect(&engine::EngineEnv::from_process()).await?;
        let host = host::gather(&engine.docker).await?;
        let existed = kind::inspect(&engine.docker, &node).await?.is_some();
        Ok((engine, host, existed))
    })?;
    if !existed {
        // kind v0.32.0 pkg/cluster/internal/create/create.go validateProvider, before anything
        // is pulled or made.
        for w in check_host(&host)? {
            printer.warn(&w);
        }
    }
    if let DataMount::HostDir(dir) = &data {
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::input(
                format!("cannot create the data directory {}: {e}", dir.display()),
                format!(
                    "choose another with --data-dir (or {})",
                    crate::env_vars::ONYX_DATA_DIR
                ),
            )
        })?;
    }
    let api_server_port = kind::free_port()?;
    let spec = node_spec(&NodeOptions {
        cluster: name.clone(),
        image,
        api_server_port,
        ui_port: args.port,
        data: data.clone(),
        host: host.clone(),
    });
    let options = CreateOptions {
        cluster: name,
        spec,
        kubeconfig: kubeconfig_file(args.kubeconfig.as_deref()),
        retain: args.retain,
        timeouts: Timeouts {
            ready: args.wait.max(Duration::from_secs(1)),
            ..Timeouts::default()
        },
        host,
    };
    if !existed {
        rt.interruptible(async {
            // The node image, pulled first when the engine lacks it (a node that exists
            // already needs none).
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
            Ok(())
        })?;
    }
    let progress = StepProgress::new(printer);
    let created =
        rt.interruptible(async { Ok(kind::create(&engine.docker, &options, &progress).await?) });
    progress.finish();
    // Ctrl-C drops the create half-way: remove the node it was making, as a failure would.
    if let Err(Error::Interrupted { .. }) = &created
        && !existed
        && !args.retain
    {
        printer.info(&format!(
            "interrupted: removing the node {}",
            options.spec.name
        ));
        if let Err(e) =
            rt.block_on(async { Ok(kind::remove_node(&engine.docker, &options.spec.name).await?) })
        {
            printer.warn(&format!("could not remove {}: {e}", options.spec.name));
        }
    }
    Ok((created?, data))
}

/// The cluster commands run against: the one given, else onyx's own (context `kind-onyx`, made
/// by `onyx up` or `onyx cluster create`).
/// When onyx's own cluster can't be reached because its node is stopped or gone, that is what
/// the error says.
pub async fn target(cluster: &ConnectOptions, create_namespace: bool) -> Result<Target> {
    let mut options = cluster.clone();
    let own = options.context.is_none() && options.kubeconfig.is_none();
    if own {
        options.context = Some(crate::cluster::CONTEXT_NAME.to_string());
    }
    match crate::kube::connect(&options, create_namespace).await {
        Ok(target) => Ok(target),
        // onyx's own cluster lives in the Docker engine: when no engine answers, that is what to
        // say (and fix), not the kubeconfig's missing context (issue #21).
        Err(e) if own => Err(
            match crate::docker::engine::connect(&crate::docker::engine::EngineEnv::from_process())
                .await
            {
                Err(engine) => engine.into(),
                Ok(_) => own_node_state()
                    .await
                    .map_or(e, |state| KubeError::OwnCluster {
                        node: crate::cluster::node_name(crate::cluster::CLUSTER_NAME),
                        state,
                    })
                    .into(),
            },
        ),
        Err(e) => Err(e.into()),
    }
}

/// The UI's port: for onyx's own cluster, the host port its node maps to the gateway (when the
/// engine can tell); else `port` (`--port`).
pub async fn ui_port(cluster: &ConnectOptions, port: u16) -> u16 {
    if cluster.context.is_some() || cluster.kubeconfig.is_some() {
        return port;
    }
    inspect_own_node()
        .await
        .flatten()
        .and_then(|i| crate::cluster::kind::published_port(&i, crate::cluster::node::UI_NODE_PORT))
        .unwrap_or(port)
}

/// Whether onyx's own node is stopped or missing, when the engine can tell (`None`: it runs, or
/// no engine answers).
async fn own_node_state() -> Option<crate::kube::OwnClusterState> {
    use crate::kube::OwnClusterState;
    match inspect_own_node().await? {
        None => Some(OwnClusterState::Missing),
        Some(i) if !i.state.as_ref().and_then(|s| s.running).unwrap_or(false) => {
            Some(OwnClusterState::Stopped)
        }
        Some(_) => None,
    }
}

/// onyx's own node as the engine sees it: `None` when no engine answers, `Some(None)` when there
/// is no such container.
pub async fn inspect_own_node() -> Option<Option<bollard::models::ContainerInspectResponse>> {
    let engine = crate::docker::engine::connect(&crate::docker::engine::EngineEnv::from_process())
        .await
        .ok()?;
    let node = crate::cluster::node_name(crate::cluster::CLUSTER_NAME);
    crate::cluster::kind::inspect(&engine.docker, &node)
        .await
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_of_the_older_host_directory_layout_is_kept_else_the_volume() {
        let dir = tempfile::tempdir().unwrap();
        let t = Some(dir.path());
        // Nothing there, or an empty directory: the named volume.
        assert_eq!(data_mount(t, "onyx"), DataMount::Volume("onyx-data".into()));
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        assert_eq!(data_mount(t, "onyx"), DataMount::Volume("onyx-data".into()));
        // Data made by an older onyx: that directory stays the data's home.
        std::fs::create_dir_all(dir.path().join("data/onyx/postgresql")).unwrap();
        assert_eq!(
            data_mount(t, "onyx"),
            DataMount::HostDir(dir.path().join("data"))
        );
        // Other clusters look in their own directory.
        assert_eq!(data_mount(t, "t-1"), DataMount::Volume("t-1-data".into()));
    }
}
