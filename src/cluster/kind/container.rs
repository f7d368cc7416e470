//! The node container: its create body (pure, from the [`NodeSpec`]), inspect, the host ports it
//! publishes, and its removal.

use std::collections::HashMap;

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, DeviceMapping, HostConfig,
    HostConfigCgroupnsModeEnum, PortBinding, RestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    ContainerArchiveInfoOptionsBuilder, RemoveContainerOptionsBuilder,
};

use super::ClusterError;
use crate::cluster::node::{self, NodeSpec};
use crate::docker::DockerError;

/// The reference the engine creates the node from: `image` as written when the engine resolves
/// it, else the engine's ID of the image `image` names, when it holds that image by its name with
/// the pinned digest among its RepoDigests ([`crate::docker::images::present`]).
///
/// kind creates by `name:tag@digest`. Docker's classic image store resolves a reference that
/// carries a digest by `name@digest` alone (the tag dropped) in its reference store (moby
/// v20.10.24 `reference/store.go` `Get`, called from `daemon/images/image.go` `GetImage`; later
/// `daemon/internal/refstore/store.go`). An image pulled through `--registry-mirror` is known as
/// `<mirror>/name@digest` and tagged `name:tag`, never as `name@digest` (the tag API takes no
/// digest), so the create would fail with "No such image" though the very image is there.
pub async fn image_for_create(docker: &Docker, image: &str) -> Result<String, DockerError> {
    match docker.inspect_image(image).await {
        Ok(_) => return Ok(image.to_string()),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => {}
        Err(e) => return Err(e.into()),
    }
    let Ok(r) = crate::docker::reference::Reference::parse(image) else {
        return Ok(image.to_string());
    };
    if r.digest.is_none() {
        return Ok(image.to_string());
    }
    Ok(crate::docker::images::present(docker, &r)
        .await?
        .unwrap_or_else(|| image.to_string()))
}

/// The engine's create body for a spec (pure: the spec decides everything).
pub fn create_body(spec: &NodeSpec) -> ContainerCreateBody {
    let mut port_bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    let mut exposed = Vec::new();
    for p in &spec.ports {
        let key = format!("{}/{}", p.container_port, p.protocol);
        exposed.push(key.clone());
        port_bindings
            .entry(key)
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: Some(p.host_ip.clone()),
                host_port: Some(p.host_port.to_string()),
            });
    }
    let restart = match spec.restart.name.as_str() {
        "always" => RestartPolicyNameEnum::ALWAYS,
        "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
        "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
        _ => RestartPolicyNameEnum::NO,
    };
    let host_config = HostConfig {
        privileged: Some(spec.privileged),
        security_opt: Some(spec.security_opt.clone()),
        tmpfs: Some(spec.tmpfs.clone().into_iter().collect()),
        binds: Some(spec.binds.clone()),
        cgroupns_mode: Some(if spec.cgroupns_private {
            HostConfigCgroupnsModeEnum::PRIVATE
        } else {
            HostConfigCgroupnsModeEnum::HOST
        }),
        restart_policy: Some(RestartPolicy {
            name: Some(restart),
            maximum_retry_count: Some(spec.restart.maximum_retry_count),
        }),
        init: Some(spec.init),
        cap_add: (!spec.cap_add.is_empty()).then(|| spec.cap_add.clone()),
        cap_drop: (!spec.cap_drop.is_empty()).then(|| spec.cap_drop.clone()),
        network_mode: Some(spec.network.clone()),
        port_bindings: Some(port_bindings),
        devices: (!spec.devices.is_empty()).then(|| {
            spec.devices
                .iter()
                .map(|d| DeviceMapping {
                    path_on_host: Some(d.clone()),
                    path_in_container: Some(d.clone()),
                    cgroup_permissions: Some("rwm".into()),
                })
                .collect()
        }),
        userns_mode: spec.userns_mode.clone(),
        ..Default::default()
    };
    ContainerCreateBody {
        hostname: Some(spec.hostname.clone()),
        image: Some(spec.image.clone()),
        labels: Some(spec.labels.clone().into_iter().collect()),
        tty: Some(spec.tty),
        env: Some(spec.env.clone()),
        volumes: (!spec.volumes.is_empty()).then(|| spec.volumes.clone()),
        exposed_ports: Some(exposed),
        host_config: Some(host_config),
        ..Default::default()
    }
}

/// The container, if it exists.
pub async fn inspect(
    docker: &Docker,
    name: &str,
) -> Result<Option<ContainerInspectResponse>, DockerError> {
    match docker.inspect_container(name, None).await {
        Ok(i) => Ok(Some(i)),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The host port published for `container_port/tcp`, from an inspect.
pub fn published_port(i: &ContainerInspectResponse, container_port: u16) -> Option<u16> {
    let key = format!("{container_port}/tcp");
    let from = |map: Option<&HashMap<String, Option<Vec<PortBinding>>>>| {
        map.and_then(|m| m.get(&key))
            .and_then(|b| b.as_ref())
            .and_then(|b| b.first())
            .and_then(|b| b.host_port.as_deref())
            .and_then(|p| p.parse().ok())
            .filter(|p: &u16| *p != 0)
    };
    from(i.network_settings.as_ref().and_then(|n| n.ports.as_ref())).or_else(|| {
        from(
            i.host_config
                .as_ref()
                .and_then(|h| h.port_bindings.as_ref()),
        )
    })
}

/// The node's address on `network`.
pub(crate) fn node_address(i: &ContainerInspectResponse, network: &str) -> Option<String> {
    i.network_settings
        .as_ref()?
        .networks
        .as_ref()?
        .get(network)?
        .ip_address
        .clone()
        .filter(|a| !a.is_empty())
}

pub(crate) fn is_running(i: &ContainerInspectResponse) -> bool {
    i.state.as_ref().and_then(|s| s.running).unwrap_or(false)
}

/// A free port on 127.0.0.1 (the API server's host port).
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port())
}

/// Whether a port on 127.0.0.1 can be bound now.
pub fn port_is_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

pub fn port_taken(port: u16, container_port: u16) -> ClusterError {
    if container_port == node::API_SERVER_PORT {
        ClusterError::PortTaken {
            port,
            what: "the API server's host port",
            hint: "onyx picks this port free just before creating the node; something took it \
                   meanwhile: run the command again"
                .into(),
        }
    } else {
        ClusterError::PortTaken {
            port,
            what: "the UI port",
            hint: format!(
                "stop what listens there, or choose another UI port with --port (or {})",
                crate::env_vars::ONYX_PORT
            ),
        }
    }
}

/// Whether the node has `/etc/kubernetes/admin.conf`, which `kubeadm init` writes: a node without
/// it never finished booting. Read through the engine's archive API, which answers for a stopped
/// container too.
pub async fn has_admin_conf(docker: &Docker, node: &str) -> Result<bool, DockerError> {
    let options = ContainerArchiveInfoOptionsBuilder::new()
        .path(super::ADMIN_CONF)
        .build();
    match docker.get_container_archive_info(node, Some(options)).await {
        Ok(_) => Ok(true),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The engine's words when a host port can't be bound, if that is what they say: the port.
pub fn port_in_error(text: &str, ports: &[u16]) -> Option<u16> {
    if !(text.contains("port is already allocated") || text.contains("address already in use")) {
        return None;
    }
    ports
        .iter()
        .copied()
        .find(|p| text.contains(&format!(":{p}:")) || text.contains(&format!(":{p} ")))
        .or_else(|| ports.iter().copied().find(|p| !port_is_free(*p)))
}

/// Start an existing (stopped) node. A host port it maps that something took meanwhile is the
/// port-in-use error, not the engine's raw words; its ports are the node's own (fixed when it was
/// made), so the hint is to free the port or make the cluster again.
pub(crate) async fn start_existing(
    docker: &Docker,
    existing: &ContainerInspectResponse,
) -> Result<(), ClusterError> {
    let name = existing
        .name
        .as_deref()
        .unwrap_or_default()
        .trim_start_matches('/');
    match docker.start_container(name, None).await {
        Ok(()) => Ok(()),
        Err(e) => {
            let text = crate::docker::engine::with_causes(&e);
            let mapped: Vec<(u16, u16)> = [node::API_SERVER_PORT, node::UI_NODE_PORT]
                .into_iter()
                .filter_map(|c| published_port(existing, c).map(|h| (h, c)))
                .collect();
            let hosts: Vec<u16> = mapped.iter().map(|(h, _)| *h).collect();
            match port_in_error(&text, &hosts) {
                Some(port) => {
                    let container_port = mapped
                        .iter()
                        .find(|(h, _)| *h == port)
                        .map_or(node::UI_NODE_PORT, |(_, c)| *c);
                    Err(ClusterError::PortTaken {
                        port,
                        what: if container_port == node::API_SERVER_PORT {
                            "the API server's host port of the stopped node"
                        } else {
                            "the UI port of the stopped node"
                        },
                        hint: format!(
                            "something took the port while the node {name} was stopped: stop \
                             it, then run the command again (the node's ports are fixed when it \
                             is made; `onyx cluster delete` then `onyx up --port P` makes it \
                             with another, keeping the data)"
                        ),
                    })
                }
                None => Err(ClusterError::Docker(DockerError::Engine(e))),
            }
        }
    }
}

/// The first host port of the spec that can't be bound, as an error.
pub fn check_ports(spec: &NodeSpec) -> Result<(), ClusterError> {
    for p in &spec.ports {
        if !port_is_free(p.host_port) {
            return Err(port_taken(p.host_port, p.container_port));
        }
    }
    Ok(())
}

/// Remove a node container with its anonymous volume (`/var`); a missing one is no error.
pub async fn remove_node(docker: &Docker, node: &str) -> Result<(), DockerError> {
    let options = RemoveContainerOptionsBuilder::new()
        .force(true)
        .v(true)
        .build();
    match docker.remove_container(node, Some(options)).await {
        Ok(())
        | Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_body_carries_the_spec() {
        let spec = node::node_spec(&node::NodeOptions {
            cluster: "c".into(),
            image: "img:1".into(),
            api_server_port: 40000,
            ui_port: 3000,
            data: node::DataMount::HostDir("/data".into()),
            host: Default::default(),
        });
        let body = create_body(&spec);
        let h = body.host_config.as_ref().unwrap();
        assert_eq!(h.privileged, Some(true));
        assert_eq!(h.init, Some(false));
        assert_eq!(h.cgroupns_mode, Some(HostConfigCgroupnsModeEnum::PRIVATE));
        assert_eq!(h.network_mode.as_deref(), Some("kind"));
        assert_eq!(
            h.restart_policy,
            Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::ON_FAILURE),
                maximum_retry_count: Some(1)
            })
        );
        assert_eq!(h.cap_add, None);
        let ports = h.port_bindings.as_ref().unwrap();
        assert_eq!(
            ports["6443/tcp"],
            Some(vec![PortBinding {
                host_ip: Some("127.0.0.1".into()),
                host_port: Some("40000".into())
            }])
        );
        assert_eq!(
            ports["30080/tcp"].as_ref().unwrap()[0].host_port.as_deref(),
            Some("3000")
        );
        assert_eq!(body.volumes, Some(vec!["/var".to_string()]));
        assert_eq!(body.hostname.as_deref(), Some("c-control-plane"));
        assert_eq!(body.tty, Some(true));
        assert_eq!(h.devices, None);
        assert_eq!(h.userns_mode, None);
    }

    #[test]
    fn create_body_passes_devices_and_userns() {
        // kind v0.32.0 docker/provision.go: `--device /dev/fuse` (rootless), `--userns=host`
        // (userns-remap).
        let spec = node::node_spec(&node::NodeOptions {
            cluster: "c".into(),
            image: "img:1".into(),
            api_server_port: 40000,
            ui_port: 3000,
            data: node::DataMount::Volume("c-data".into()),
            host: crate::cluster::host::NodeHost {
                rootless: true,
                userns_remap: true,
                ..Default::default()
            },
        });
        let body = create_body(&spec);
        let h = body.host_config.as_ref().unwrap();
        assert_eq!(
            h.devices,
            Some(vec![DeviceMapping {
                path_on_host: Some("/dev/fuse".into()),
                path_in_container: Some("/dev/fuse".into()),
                cgroup_permissions: Some("rwm".into()),
            }])
        );
        assert_eq!(h.userns_mode.as_deref(), Some("host"));
    }
}
