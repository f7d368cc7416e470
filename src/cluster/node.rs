//! The node container's spec, as kind makes one: a pure function of a few inputs with a typed
//! result. The Docker-facing code only translates it into the engine's create call, so what the
//! node looks like is decided (and tested) here.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

/// kind's labels: which cluster a container belongs to, and its role in it.
pub const LABEL_CLUSTER: &str = "io.x-k8s.kind.cluster";
pub const LABEL_ROLE: &str = "io.x-k8s.kind.role";
/// The node's container name and hostname.
pub const NODE_NAME: &str = "onyx-control-plane";
/// The Docker network kind uses for its nodes.
pub const NETWORK: &str = "kind";
/// The API server's port inside the node.
pub const API_SERVER_PORT: u16 = 6443;
/// The node port of the nginx Service; the UI's host port is mapped to it.
pub const UI_NODE_PORT: u16 = 30080;
/// Where the local-path provisioner keeps volumes inside the node.
pub const STORAGE_ROOT: &str = "/var/local-path-provisioner";

/// A host port published on 127.0.0.1 only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortMapping {
    pub host_ip: String,
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: String,
}

/// Docker's restart policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestartPolicy {
    pub name: String,
    pub maximum_retry_count: i64,
}

/// Everything the engine needs to create the node container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeSpec {
    pub name: String,
    pub hostname: String,
    pub image: String,
    pub labels: BTreeMap<String, String>,
    pub network: String,
    /// Running containers in a container needs a privileged node, as kind's.
    pub privileged: bool,
    pub security_opt: Vec<String>,
    /// Path → mount options.
    pub tmpfs: BTreeMap<String, String>,
    /// Anonymous volumes (removed with the container).
    pub volumes: Vec<String>,
    /// `host:container[:options]`.
    pub binds: Vec<String>,
    pub cgroupns_private: bool,
    pub restart: RestartPolicy,
    /// Our entrypoint (systemd) must be PID 1, not docker-init.
    pub init: bool,
    /// Capabilities added and dropped on top of `privileged` (kind sets none; empty here).
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub tty: bool,
    pub env: Vec<String>,
    pub ports: Vec<PortMapping>,
}

/// What varies between nodes: the cluster's name, the image, the host ports and where data lives
/// on the host.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// The cluster's name (`onyx` unless several clusters live side by side, as in tests); the
    /// node is `<cluster>-control-plane`.
    pub cluster: String,
    pub image: String,
    /// Host port (on 127.0.0.1) of the API server, chosen free by onyx.
    pub api_server_port: u16,
    /// Host port (on 127.0.0.1) of the UI.
    pub ui_port: u16,
    /// Host directory that holds the volumes' data, so it survives the node's re-creation.
    pub data_dir: PathBuf,
}

fn localhost(host_port: u16, container_port: u16) -> PortMapping {
    PortMapping {
        host_ip: "127.0.0.1".into(),
        host_port,
        container_port,
        protocol: "tcp".into(),
    }
}

/// The node container's spec.
pub fn node_spec(opts: &NodeOptions) -> NodeSpec {
    let name = super::node_name(&opts.cluster);
    NodeSpec {
        name: name.clone(),
        hostname: name,
        image: opts.image.clone(),
        labels: BTreeMap::from([
            (LABEL_CLUSTER.into(), opts.cluster.clone()),
            (LABEL_ROLE.into(), "control-plane".into()),
            ("app.kubernetes.io/managed-by".into(), "onyx".into()),
        ]),
        network: NETWORK.into(),
        privileged: true,
        security_opt: vec!["seccomp=unconfined".into(), "apparmor=unconfined".into()],
        tmpfs: BTreeMap::from([
            ("/tmp".into(), String::new()),
            ("/run".into(), String::new()),
        ]),
        volumes: vec!["/var".into()],
        binds: vec![
            "/lib/modules:/lib/modules:ro".into(),
            format!("{}:{STORAGE_ROOT}", opts.data_dir.display()),
        ],
        cgroupns_private: true,
        // kind's choice: restart once on failure, i.e. after a host or engine reboot.
        restart: RestartPolicy {
            name: "on-failure".into(),
            maximum_retry_count: 1,
        },
        init: false,
        cap_add: Vec::new(),
        cap_drop: Vec::new(),
        tty: true,
        env: vec!["KUBECONFIG=/etc/kubernetes/admin.conf".into()],
        ports: vec![
            localhost(opts.api_server_port, API_SERVER_PORT),
            localhost(opts.ui_port, UI_NODE_PORT),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::CLUSTER_NAME;

    #[test]
    fn spec_is_kinds_with_ports_on_localhost_only() {
        let spec = node_spec(&NodeOptions {
            cluster: CLUSTER_NAME.into(),
            image: "kindest/node:v1.36.1@sha256:abc".into(),
            api_server_port: 41234,
            ui_port: 3000,
            data_dir: "/home/u/.local/share/onyx/data".into(),
        });
        assert_eq!(spec.name, "onyx-control-plane");
        assert_eq!(spec.hostname, spec.name);
        assert_eq!(spec.labels[LABEL_CLUSTER], "onyx");
        assert_eq!(spec.labels[LABEL_ROLE], "control-plane");
        assert_eq!(spec.network, "kind");
        assert!(spec.privileged && spec.cgroupns_private && spec.tty && !spec.init);
        assert!(spec.cap_add.is_empty() && spec.cap_drop.is_empty());
        assert_eq!(spec.env, ["KUBECONFIG=/etc/kubernetes/admin.conf"]);
        assert_eq!(spec.image, "kindest/node:v1.36.1@sha256:abc");
        assert_eq!(spec.labels.len(), 3);
        assert_eq!(
            spec.security_opt,
            ["seccomp=unconfined", "apparmor=unconfined"]
        );
        assert_eq!(spec.tmpfs.keys().collect::<Vec<_>>(), ["/run", "/tmp"]);
        assert_eq!(spec.volumes, ["/var"]);
        assert!(
            spec.binds
                .contains(&"/lib/modules:/lib/modules:ro".to_string())
        );
        assert!(
            spec.binds.contains(
                &"/home/u/.local/share/onyx/data:/var/local-path-provisioner".to_string()
            )
        );
        assert_eq!(spec.restart.name, "on-failure");
        assert_eq!(spec.restart.maximum_retry_count, 1);
        assert_eq!(
            spec.ports,
            [localhost(41234, 6443), localhost(3000, UI_NODE_PORT)]
        );
        assert!(spec.ports.iter().all(|p| p.host_ip == "127.0.0.1"));
    }

    #[test]
    fn another_cluster_gets_its_own_names() {
        let spec = node_spec(&NodeOptions {
            cluster: "t-42".into(),
            image: "x:1".into(),
            api_server_port: 1,
            ui_port: 2,
            data_dir: "/d".into(),
        });
        assert_eq!(spec.name, "t-42-control-plane");
        assert_eq!(spec.hostname, "t-42-control-plane");
        assert_eq!(spec.labels[LABEL_CLUSTER], "t-42");
        assert_eq!(spec.network, NETWORK);
    }
}
