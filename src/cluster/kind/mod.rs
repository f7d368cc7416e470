//! A kind-compatible cluster made and booted straight through the Docker API (no `docker` or
//! `kind` binary), following kind's own provisioning (`pkg/cluster/internal/providers/docker`,
//! `pkg/cluster/internal/create/actions/*`).
//!
//! [`create()`] runs these steps in order, each reported through a [`StepReporter`](crate::cluster::StepReporter):
//! 1. network: the Docker network `kind`, created if missing (IPv6 ULA subnet as kind, IPv4 only
//!    when the engine can't do IPv6, the default bridge's MTU);
//! 2. create the node container from its [`NodeSpec`] (host ports checked free first; the proxy
//!    variables completed with the network's subnets; its named volumes made if missing);
//! 3. start it;
//! 4. wait for systemd ("Reached target … Multi-User System" in its logs);
//! 5. write the kubeadm config to `/kind/kubeadm.conf` through exec stdin;
//! 6. `kubeadm init`;
//! 7. remove the control-plane taint (one node runs everything);
//! 8. install the CNI from `/kind/manifests/default-cni.yaml`, templated as kind does;
//! 9. install storage from `/kind/manifests/default-storage.yaml`, with a stable path pattern so
//!    volumes land on the same directories of the data volume after the cluster is made again;
//! 10. wait for the node to be Ready (kubectl inside the node, as kind), under a timeout;
//! 11. merge `/etc/kubernetes/admin.conf`, pointed at 127.0.0.1, into the user's kubeconfig.
//!
//! A node that exists already is reused (started and waited for when stopped). A fresh create that
//! fails removes what it made (container with its volume, and the network if it made it) unless
//! asked to keep it, and says which step failed with the node's last log lines.
//!
//! The parts, by what they hold: [`error`] (what goes wrong, with hints), [`mod@exec`] (commands run
//! inside the node), [`container`] (the node container's create body, inspect, ports, removal),
//! [`network`] (the `kind` network), [`manifests`] (the CNI and storage manifests as kind
//! templates them), [`boot`] (the steps after the container starts), [`mod@create`] (the create /
//! reuse / restart flow and its rollback), [`volumes`] (the named data and podman `/var`
//! volumes) and [`manage`] (delete, list, status).

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::node::NodeSpec;

pub mod boot;
pub mod container;
pub mod create;
pub mod error;
pub mod exec;
pub mod manage;
pub mod manifests;
pub mod network;
pub mod volumes;

pub use boot::{all_ready, is_systemd_ready_line, last_log_lines};
pub use container::{
    check_ports, create_body, free_port, inspect, port_is_free, port_taken, published_port,
    remove_node,
};
pub use create::create;
pub use error::ClusterError;
pub use exec::{ExecOutput, Stdin, exec, stdin_bytes};
pub use manage::{ClusterInfo, Deleted, STOP_GRACE_SECS, Status, delete, list, status, stop_node};
pub use manifests::{cni_manifest, storage_manifest};
pub use network::{ensure_network, ensure_network_mtu, network_request, ula_subnet};

/// Where kind's node images keep what the boot reads and writes.
pub const KUBEADM_CONF: &str = "/kind/kubeadm.conf";
pub const KIND_VERSION: &str = "/kind/version";
pub const CNI_MANIFEST: &str = "/kind/manifests/default-cni.yaml";
pub const STORAGE_MANIFEST: &str = "/kind/manifests/default-storage.yaml";
pub const ADMIN_CONF: &str = "/etc/kubernetes/admin.conf";
pub(crate) const KUBECONFIG_FLAG: &str = "--kubeconfig=/etc/kubernetes/admin.conf";
/// local-path's `pathPattern`: a claim's directory named by namespace and name, not by the PVC's
/// UID, so a claim made again after the cluster was re-created finds its old data.
///
/// The trailing `/` is required: the node image kind v0.32.0 pins runs
/// `kindest/local-path-provisioner` built from rancher local-path-provisioner v0.0.34 (kind
/// v0.32.0 `images/local-path-provisioner/Makefile` `VERSION=v0.0.34`,
/// `pkg/build/nodeimage/const_storage.go`), whose `provisioner.go` `pathFromPattern` refuses a
/// rendered path that does not start with `filepath.Join(namespace, name) + "/"` (every claim
/// would stay Pending). The directory is the same as without the `/`: `provisionFor` builds the
/// volume's path with `filepath.Join(basePath, folderName)`, which cleans the trailing separator,
/// and the helper pod gets `filepath.Clean`ed paths (`createHelperPod`), so data made under
/// `<root>/<namespace>/<name>` is found again.
pub const STABLE_PATH_PATTERN: &str = "{{ .PVC.Namespace }}/{{ .PVC.Name }}/";
/// Lines of the node's log shown when a step fails.
pub(crate) const LOG_LINES: usize = 20;

/// How long the slow steps may take.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Until systemd reaches the multi-user target (kind: 30 s).
    pub systemd: Duration,
    /// Until the node is Ready after `kubeadm init` or a restart.
    pub ready: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            systemd: Duration::from_secs(30),
            ready: Duration::from_secs(300),
        }
    }
}

/// What [`create()`] needs.
#[derive(Debug, Clone)]
pub struct CreateOptions {
    /// The cluster's name (the node's `io.x-k8s.kind.cluster` label).
    pub cluster: String,
    /// The node container, from [`node_spec`](crate::cluster::node::node_spec).
    pub spec: NodeSpec,
    /// The kubeconfig file to merge into (see [`path_for_merge`](crate::cluster::kubeconfig::path_for_merge)).
    pub kubeconfig: PathBuf,
    /// Keep the node after a failed create, for debugging.
    pub retain: bool,
    pub timeouts: Timeouts,
    /// What the engine says about the host (the kubeadm config, the network's MTU and the
    /// proxy variables follow it).
    pub host: crate::cluster::host::NodeHost,
}

/// How the create went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Created,
    /// The node was running already.
    Reused,
    /// The node existed, stopped; it was started.
    Restarted,
}

/// A ready cluster.
#[derive(Debug, Clone, Serialize)]
pub struct Created {
    pub cluster: String,
    pub node: String,
    pub context: String,
    pub outcome: Outcome,
    pub api_server: String,
    pub ui_port: Option<u16>,
    pub kubeconfig: PathBuf,
}
