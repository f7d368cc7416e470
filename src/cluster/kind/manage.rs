//! The clusters that exist: delete one (node, kubeconfig entries, data on `--purge`), list them
//! all (onyx's and kind's own), and one's status.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::ListContainersOptionsBuilder;
use serde::Serialize;

use super::boot::all_ready;
use super::container::{inspect, is_running, published_port, remove_node};
use super::exec::exec;
use super::volumes;
use super::{ClusterError, KUBECONFIG_FLAG};
use crate::cluster::{kubeconfig, node};
use crate::docker::DockerError;

/// What `delete` did.
#[derive(Debug, Clone, Serialize)]
pub struct Deleted {
    pub cluster: String,
    /// The node existed and was removed.
    pub node_removed: bool,
    /// Our entries were in the kubeconfig and were removed.
    pub kubeconfig_cleaned: bool,
    /// The data directory, when it was removed (`--purge`).
    pub data_removed: Option<PathBuf>,
    /// The named volumes removed: podman's node `/var` always, the data volume on `--purge`.
    pub volumes_removed: Vec<String>,
}

/// Remove the node (and its `/var` volume) and our kubeconfig entries; the data (the data
/// volume, and the host directory `purge_data` names) only when `purge_data` is given.
pub async fn delete(
    docker: &Docker,
    cluster: &str,
    kubeconfig_file: &Path,
    purge_data: Option<&Path>,
) -> Result<Deleted, ClusterError> {
    let name = crate::cluster::node_name(cluster);
    let node_removed = match inspect(docker, &name).await? {
        Some(i) => {
            let labels = i
                .config
                .as_ref()
                .and_then(|c| c.labels.clone())
                .unwrap_or_default();
            if labels.get(node::LABEL_CLUSTER).map(String::as_str) != Some(cluster) {
                return Err(ClusterError::Foreign {
                    name,
                    cluster: cluster.into(),
                });
            }
            // Files the pods wrote belong to their users (often root); the node, running as
            // root, can remove them where the host user may not.
            if purge_data.is_some() && is_running(&i) {
                let wipe = format!(
                    "rm -rf {root}/* {root}/.[!.]* 2>/dev/null; true",
                    root = node::STORAGE_ROOT
                );
                let _ = exec(docker, &name, &["sh", "-c", &wipe], None).await;
            }
            remove_node(docker, &name).await?;
            true
        }
        None => false,
    };
    // kind v0.32.0 podman/provider.go DeleteNodes removes the node's volumes with it.
    let mut volumes_removed = Vec::new();
    // Its `/var` by our labels, and any volume labelled `<node>=true` as kind's DeleteNodes
    // finds them (a node kind made, or a leftover of ours).
    let mut gone = volumes::of_cluster(docker, cluster, "var").await?;
    for v in volumes::of_node(docker, &name).await? {
        if !gone.contains(&v) {
            gone.push(v);
        }
    }
    if purge_data.is_some() {
        gone.extend(volumes::of_cluster(docker, cluster, "data").await?);
        let named = node::data_volume_name(cluster);
        if !gone.contains(&named) && volumes::exists(docker, &named).await? {
            gone.push(named);
        }
    }
    for v in gone {
        volumes::remove(docker, &v).await?;
        volumes_removed.push(v);
    }
    let file = kubeconfig_file.to_path_buf();
    let context = crate::cluster::context_name(cluster);
    let kubeconfig_cleaned =
        tokio::task::spawn_blocking(move || kubeconfig::remove(&file, &context))
            .await
            .map_err(|e| ClusterError::Docker(DockerError::Io(std::io::Error::other(e))))?
            .map_err(|e| ClusterError::Kubeconfig {
                message: e.to_string(),
                hint: e.hint(),
            })?;
    let mut data_removed = None;
    if let Some(dir) = purge_data
        && dir.exists()
    {
        std::fs::remove_dir_all(dir).map_err(|source| ClusterError::Purge {
            dir: dir.to_path_buf(),
            source,
        })?;
        data_removed = Some(dir.to_path_buf());
    }
    Ok(Deleted {
        cluster: cluster.into(),
        node_removed,
        kubeconfig_cleaned,
        data_removed,
        volumes_removed,
    })
}

/// How long a stopping node gets between SIGTERM and SIGKILL. Docker's default is 10 s; the
/// node's systemd then stops kubelet, the control plane's static pods and containerd in turn, and
/// etcd killed mid-write has to recover its WAL on the next start, so the node gets 30 s.
pub const STOP_GRACE_SECS: i32 = 30;

/// Stop the node, giving it [`STOP_GRACE_SECS`] to shut down cleanly. `Ok(false)`: it was not
/// running.
pub async fn stop_node(docker: &Docker, node: &str) -> Result<bool, DockerError> {
    let options = bollard::query_parameters::StopContainerOptionsBuilder::new()
        .t(STOP_GRACE_SECS)
        .build();
    match docker.stop_container(node, Some(options)).await {
        Ok(()) => Ok(true),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 304, ..
        }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// One cluster as the engine shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ClusterInfo {
    pub name: String,
    pub node: String,
    /// `running`, `exited`, `created`, …
    pub state: String,
    pub image: String,
    pub api_port: Option<u16>,
    pub ui_port: Option<u16>,
    /// Made by onyx (else by kind itself).
    pub onyx: bool,
}

/// Every kind-compatible cluster (onyx's and kind's own), by name.
pub async fn list(docker: &Docker) -> Result<Vec<ClusterInfo>, ClusterError> {
    let options = ListContainersOptionsBuilder::new()
        .all(true)
        .filters(&HashMap::from([("label", vec![node::LABEL_CLUSTER])]))
        .build();
    let containers = docker.list_containers(Some(options)).await?;
    let mut out = Vec::new();
    for c in containers {
        let labels = c.labels.unwrap_or_default();
        if labels.get(node::LABEL_ROLE).map(String::as_str) != Some("control-plane") {
            continue;
        }
        let Some(cluster) = labels.get(node::LABEL_CLUSTER) else {
            continue;
        };
        let port = |private: u16| {
            c.ports
                .iter()
                .flatten()
                .find(|p| p.private_port == private && p.public_port.is_some())
                .and_then(|p| p.public_port)
        };
        out.push(ClusterInfo {
            name: cluster.clone(),
            node: c
                .names
                .as_ref()
                .and_then(|n| n.first())
                .map(|n| n.trim_start_matches('/').to_string())
                .unwrap_or_default(),
            state: c.state.map(|s| s.to_string()).unwrap_or_default(),
            image: c.image.unwrap_or_default(),
            api_port: port(node::API_SERVER_PORT),
            ui_port: port(node::UI_NODE_PORT),
            onyx: labels
                .get("app.kubernetes.io/managed-by")
                .map(String::as_str)
                == Some("onyx"),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name).then(a.node.cmp(&b.node)));
    out.dedup_by(|a, b| a.name == b.name);
    Ok(out)
}

/// One cluster in detail.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub cluster: String,
    pub node: String,
    pub state: String,
    pub image: String,
    pub context: String,
    pub api_server: Option<String>,
    pub ui_url: Option<String>,
    /// The host directory at the node's storage root (the layout before the data volume).
    pub data_dir: Option<String>,
    /// The named volume at the node's storage root.
    pub data_volume: Option<String>,
    /// The node's Kubernetes Ready condition, when it runs and answers.
    pub ready: Option<bool>,
}

/// The cluster's node and whether Kubernetes in it is Ready.
pub async fn status(docker: &Docker, cluster: &str) -> Result<Status, ClusterError> {
    let name = crate::cluster::node_name(cluster);
    let i = inspect(docker, &name)
        .await?
        .ok_or_else(|| ClusterError::NotFound(cluster.into()))?;
    let running = is_running(&i);
    let ready = if running {
        match tokio::time::timeout(
            Duration::from_secs(10),
            exec(
                docker,
                &name,
                &[
                    "kubectl",
                    KUBECONFIG_FLAG,
                    "get",
                    "nodes",
                    "-o=jsonpath='{.items..status.conditions[-1:].status}'",
                ],
                None,
            ),
        )
        .await
        {
            Ok(Ok(out)) if out.ok() => Some(all_ready(&out.stdout_text())),
            _ => None,
        }
    } else {
        None
    };
    let data_source = i
        .host_config
        .as_ref()
        .and_then(|h| h.binds.as_ref())
        .and_then(|b| {
            b.iter().find_map(|b| {
                let (host, rest) = node::split_bind(b)?;
                (rest.split(':').next() == Some(node::STORAGE_ROOT)).then(|| host.to_string())
            })
        });
    // A volume name has no path separator; a host directory is absolute (`/…`, `C:\…`).
    let (data_dir, data_volume) = match data_source {
        Some(s) if s.contains(['/', '\\']) => (Some(s), None),
        Some(s) => (None, Some(s)),
        None => (None, None),
    };
    Ok(Status {
        cluster: cluster.into(),
        node: name,
        state: i
            .state
            .as_ref()
            .and_then(|s| s.status)
            .map(|s| s.to_string())
            .unwrap_or_default(),
        image: i
            .config
            .as_ref()
            .and_then(|c| c.image.clone())
            .unwrap_or_default(),
        context: crate::cluster::context_name(cluster),
        api_server: published_port(&i, node::API_SERVER_PORT)
            .map(|p| format!("https://127.0.0.1:{p}")),
        ui_url: published_port(&i, node::UI_NODE_PORT).map(|p| format!("http://localhost:{p}")),
        data_dir,
        data_volume,
        ready,
    })
}
