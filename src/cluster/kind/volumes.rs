//! The named volumes a node uses: the stack's data volume (`onyx-data`, kept across `cluster
//! delete` until `--purge`) and, on podman, the node's `/var` (kind v0.32.0
//! pkg/cluster/internal/providers/podman/provision.go pre-creates it to mount it
//! `suid,exec,dev`; made new for every node and removed with it). Each carries our labels, so
//! `delete` finds them; the `/var` volume also kind's `<node>=true`.

use std::collections::HashMap;

use bollard::Docker;
use bollard::models::VolumeCreateRequest;
use bollard::query_parameters::{ListVolumesOptionsBuilder, RemoveVolumeOptionsBuilder};

use crate::cluster::node::{LABEL_VOLUME, NamedVolume};
use crate::docker::DockerError;

/// Whether a volume exists.
pub async fn exists(docker: &Docker, name: &str) -> Result<bool, DockerError> {
    match docker.inspect_volume(name).await {
        Ok(_) => Ok(true),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Make the volumes that are missing, and the [`fresh`](NamedVolume::fresh) ones anew (a leftover
/// of that name is removed first; if the engine refuses, because a container still uses it, the
/// create stops rather than mount an old `/var`); returns the names made now (a failed create
/// removes only those).
pub async fn ensure(docker: &Docker, wanted: &[NamedVolume]) -> Result<Vec<String>, DockerError> {
    let mut made = Vec::new();
    for v in wanted {
        if exists(docker, &v.name).await? {
            if !v.fresh {
                continue;
            }
            tracing::info!("removing the leftover volume {} of an earlier node", v.name);
            remove(docker, &v.name).await?;
        }
        docker
            .create_volume(VolumeCreateRequest {
                name: Some(v.name.clone()),
                labels: Some(v.labels.clone().into_iter().collect()),
                ..Default::default()
            })
            .await?;
        made.push(v.name.clone());
    }
    Ok(made)
}

/// Remove a volume; a missing one is no error.
pub async fn remove(docker: &Docker, name: &str) -> Result<(), DockerError> {
    match docker
        .remove_volume(name, Some(RemoveVolumeOptionsBuilder::new().build()))
        .await
    {
        Ok(())
        | Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The names of the volumes kind's podman provider ties to a node: label key `<node>` (kind
/// v0.32.0 podman/util.go getVolumes, `--filter label=<node>`).
pub async fn of_node(docker: &Docker, node: &str) -> Result<Vec<String>, DockerError> {
    labelled(docker, &[node]).await
}

/// The names of a cluster's volumes that hold `what` (`data` or `var`).
pub async fn of_cluster(
    docker: &Docker,
    cluster: &str,
    what: &str,
) -> Result<Vec<String>, DockerError> {
    let cluster_label = format!("{}={cluster}", crate::cluster::node::LABEL_CLUSTER);
    let what_label = format!("{LABEL_VOLUME}={what}");
    labelled(docker, &[cluster_label.as_str(), what_label.as_str()]).await
}

/// The names of the volumes carrying every one of `labels` (`key` or `key=value`), sorted.
async fn labelled(docker: &Docker, labels: &[&str]) -> Result<Vec<String>, DockerError> {
    let options = ListVolumesOptionsBuilder::new()
        .filters(&HashMap::from([("label", labels.to_vec())]))
        .build();
    let list = docker.list_volumes(Some(options)).await?;
    let mut names: Vec<String> = list
        .volumes
        .unwrap_or_default()
        .into_iter()
        .map(|v| v.name)
        .collect();
    names.sort();
    Ok(names)
}
