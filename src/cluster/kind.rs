//! A kind-compatible cluster made and booted straight through the Docker API (no `docker` or
//! `kind` binary), following kind's own provisioning (`pkg/cluster/internal/providers/docker`,
//! `pkg/cluster/internal/create/actions/*`).
//!
//! [`create`] runs these steps in order, each reported through a [`StepReporter`]:
//! 1. network: the Docker network `kind`, created if missing (IPv6 ULA subnet as kind, IPv4 only
//!    when the engine can't do IPv6);
//! 2. create the node container from its [`NodeSpec`] (host ports checked free first);
//! 3. start it;
//! 4. wait for systemd ("Reached target … Multi-User System" in its logs);
//! 5. write the kubeadm config to `/kind/kubeadm.conf` through exec stdin;
//! 6. `kubeadm init`;
//! 7. remove the control-plane taint (one node runs everything);
//! 8. install the CNI from `/kind/manifests/default-cni.yaml`, templated as kind does;
//! 9. install storage from `/kind/manifests/default-storage.yaml`, with a stable path pattern so
//!    volumes land on the same host directories after the cluster is made again;
//! 10. wait for the node to be Ready (kubectl inside the node, as kind), under a timeout;
//! 11. merge `/etc/kubernetes/admin.conf`, pointed at 127.0.0.1, into the user's kubeconfig.
//!
//! A node that exists already is reused (started and waited for when stopped). A fresh create that
//! fails removes what it made (container with its volume, and the network if it made it) unless
//! asked to keep it, and says which step failed with the node's last log lines.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::Duration;

use bollard::Docker;
use bollard::exec::StartExecResults;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ExecConfig, HostConfig,
    HostConfigCgroupnsModeEnum, NetworkCreateRequest, PortBinding, RestartPolicy,
    RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, ListNetworksOptionsBuilder,
    LogsOptionsBuilder, RemoveContainerOptionsBuilder,
};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::kubeadm::{self, KubeadmApi, KubeadmParams};
use super::node::{self, NodeSpec};
use super::{Step, StepEvent, StepReporter, kubeconfig};
use crate::docker::DockerError;

/// Where kind's node images keep what the boot reads and writes.
pub const KUBEADM_CONF: &str = "/kind/kubeadm.conf";
pub const KIND_VERSION: &str = "/kind/version";
pub const CNI_MANIFEST: &str = "/kind/manifests/default-cni.yaml";
pub const STORAGE_MANIFEST: &str = "/kind/manifests/default-storage.yaml";
pub const ADMIN_CONF: &str = "/etc/kubernetes/admin.conf";
const KUBECONFIG_FLAG: &str = "--kubeconfig=/etc/kubernetes/admin.conf";
/// local-path's `pathPattern`: a claim's directory named by namespace and name, not by the PVC's
/// UID, so a claim made again after the cluster was re-created finds its old data.
pub const STABLE_PATH_PATTERN: &str = "{{ .PVC.Namespace }}/{{ .PVC.Name }}";
/// Lines of the node's log shown when a step fails.
const LOG_LINES: usize = 20;

/// Everything that goes wrong with the own cluster, each with a hint.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A host port the node needs is taken.
    #[error("port {port} on 127.0.0.1 is already in use ({what})")]
    PortTaken {
        port: u16,
        what: &'static str,
        hint: String,
    },

    /// A boot step failed.
    #[error(
        "creating cluster {cluster} failed at step \"{step}\": {message}{}",
        log_tail(.logs)
    )]
    StepFailed {
        cluster: String,
        step: Step,
        message: String,
        logs: Vec<String>,
        /// The node was kept for debugging (or it existed before and is not ours to remove).
        kept: Option<String>,
    },

    /// A container has the node's name but isn't this cluster's node.
    #[error("a container named {name} exists but is not the node of cluster {cluster}")]
    Foreign { name: String, cluster: String },

    #[error("there is no cluster named {0}")]
    NotFound(String),

    /// The data directory could not be removed (`--purge`).
    #[error("cannot remove the data directory {dir}: {source}")]
    Purge {
        dir: PathBuf,
        source: std::io::Error,
    },

    #[error(transparent)]
    Docker(#[from] DockerError),

    /// The kubeconfig (lock held, broken file).
    #[error(transparent)]
    Kubeconfig(Box<crate::error::Error>),
}

fn log_tail(logs: &[String]) -> String {
    if logs.is_empty() {
        return String::new();
    }
    let mut s = String::from("\nlast lines of the node's log:");
    for l in logs {
        s.push_str("\n  | ");
        s.push_str(l);
    }
    s
}

impl From<bollard::errors::Error> for ClusterError {
    fn from(e: bollard::errors::Error) -> Self {
        ClusterError::Docker(DockerError::Engine(e))
    }
}

impl ClusterError {
    pub fn hint(&self) -> Option<String> {
        match self {
            ClusterError::PortTaken { hint, .. } => Some(hint.clone()),
            ClusterError::StepFailed {
                kept: Some(node), ..
            } => Some(format!(
                "the node {node} is kept: look inside with `docker exec -it {node} bash` or \
                 `docker logs {node}`; remove it with `onyx cluster delete`"
            )),
            ClusterError::StepFailed {
                step: Step::StartNode,
                message,
                kept: None,
                ..
            } if message.contains("apply caps") => Some(
                "this Docker engine can't start privileged containers, which a Kubernetes node \
                 needs (a restricted VM or container, or rootless Docker without cgroup \
                 delegation); use an engine that can (Docker Desktop, colima, Docker on a \
                 machine of your own), or deploy to an existing cluster with `onyx render | \
                 kubectl apply --server-side -f -`"
                    .into(),
            ),
            ClusterError::StepFailed { kept: None, .. } => Some(
                "everything this run made was removed; run again with --retain to keep the node \
                 for debugging"
                    .into(),
            ),
            ClusterError::Foreign { name, .. } => Some(format!(
                "remove or rename that container (`docker rm -f {name}`), or choose another \
                 cluster name"
            )),
            ClusterError::NotFound(_) => Some("`onyx cluster list` shows the clusters".into()),
            ClusterError::Purge { dir, .. } => Some(format!(
                "files in it may belong to the users the pods ran as: remove it with `sudo rm -rf \
                 {}`",
                dir.display()
            )),
            ClusterError::Docker(e) => e.hint(),
            ClusterError::Kubeconfig(e) => e.hint(),
        }
    }
}

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

/// What [`create`] needs.
#[derive(Debug, Clone)]
pub struct CreateOptions {
    /// The cluster's name (the node's `io.x-k8s.kind.cluster` label).
    pub cluster: String,
    /// The node container, from [`node::node_spec`].
    pub spec: NodeSpec,
    /// The kubeconfig file to merge into (see [`kubeconfig::path_for_merge`]).
    pub kubeconfig: PathBuf,
    /// Keep the node after a failed create, for debugging.
    pub retain: bool,
    pub timeouts: Timeouts,
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

// ---- exec -----------------------------------------------------------------------------------

/// What a command run inside the node printed, and its exit code.
#[derive(Debug, Clone, Default)]
pub struct ExecOutput {
    pub code: i64,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl ExecOutput {
    pub fn ok(&self) -> bool {
        self.code == 0
    }

    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// stderr (or stdout when stderr is empty), last lines, for messages.
    pub fn error_text(&self) -> String {
        let text = if self.stderr.iter().all(u8::is_ascii_whitespace) {
            String::from_utf8_lossy(&self.stdout)
        } else {
            String::from_utf8_lossy(&self.stderr)
        };
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let tail = lines[lines.len().saturating_sub(8)..].join("\n");
        format!(
            "exit code {}{}",
            self.code,
            if tail.is_empty() {
                String::new()
            } else {
                format!(": {tail}")
            }
        )
    }
}

/// Bytes streamed into a command's stdin.
pub type Stdin = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// Stdin from bytes held in memory.
pub fn stdin_bytes(data: impl Into<Bytes>) -> Stdin {
    let data = data.into();
    Box::pin(futures_util::stream::once(async move { Ok(data) }))
}

/// Run `cmd` inside `container` (as `docker exec -i`), streaming `stdin` into it while its output
/// is collected, and wait for its exit code.
pub async fn exec(
    docker: &Docker,
    container: &str,
    cmd: &[&str],
    stdin: Option<Stdin>,
) -> Result<ExecOutput, DockerError> {
    let config = ExecConfig {
        attach_stdin: Some(stdin.is_some()),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
        ..Default::default()
    };
    let created = docker.create_exec(container, config).await?;
    let mut out = ExecOutput::default();
    let mut write_error = None;
    match docker.start_exec(&created.id, None).await? {
        StartExecResults::Attached {
            mut output,
            mut input,
        } => {
            let has_stdin = stdin.is_some();
            let writer = async move {
                if let Some(mut s) = stdin {
                    while let Some(chunk) = s.next().await {
                        input.write_all(&chunk?).await?;
                    }
                }
                if has_stdin {
                    input.flush().await?;
                    // EOF for the command's stdin.
                    input.shutdown().await?;
                }
                Ok::<_, std::io::Error>(input)
            };
            let reader = async {
                while let Some(item) = output.next().await {
                    match item? {
                        bollard::container::LogOutput::StdErr { message } => {
                            out.stderr.extend_from_slice(&message)
                        }
                        other => out.stdout.extend_from_slice(&other.into_bytes()),
                    }
                }
                Ok::<_, bollard::errors::Error>(())
            };
            let (written, read) = tokio::join!(writer, reader);
            read?;
            match written {
                Ok(input) => drop(input),
                Err(e) => write_error = Some(e),
            }
        }
        StartExecResults::Detached => {}
    }
    // The stream can end a moment before the engine records the exit code.
    let mut tries = 0;
    loop {
        let inspect = docker.inspect_exec(&created.id).await?;
        if inspect.running != Some(true) {
            out.code = inspect.exit_code.unwrap_or(-1);
            break;
        }
        tries += 1;
        if tries > 200 {
            out.code = -1;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // A command that fails early stops reading; its exit code says more than the broken pipe.
    if let Some(e) = write_error
        && out.ok()
    {
        return Err(DockerError::Io(e));
    }
    Ok(out)
}

/// Run a command that must succeed; its failure becomes the message.
async fn run(
    docker: &Docker,
    node: &str,
    cmd: &[&str],
    stdin: Option<Stdin>,
) -> Result<ExecOutput, String> {
    let out = exec(docker, node, cmd, stdin)
        .await
        .map_err(|e| e.to_string())?;
    if out.ok() {
        Ok(out)
    } else {
        Err(format!("`{}` failed, {}", cmd.join(" "), out.error_text()))
    }
}

// ---- the node container ---------------------------------------------------------------------

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
        ..Default::default()
    };
    ContainerCreateBody {
        hostname: Some(spec.hostname.clone()),
        image: Some(spec.image.clone()),
        labels: Some(spec.labels.clone().into_iter().collect()),
        tty: Some(spec.tty),
        env: Some(spec.env.clone()),
        volumes: Some(spec.volumes.clone()),
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
fn node_address(i: &ContainerInspectResponse, network: &str) -> Option<String> {
    i.network_settings
        .as_ref()?
        .networks
        .as_ref()?
        .get(network)?
        .ip_address
        .clone()
        .filter(|a| !a.is_empty())
}

fn is_running(i: &ContainerInspectResponse) -> bool {
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

fn port_taken(port: u16, container_port: u16) -> ClusterError {
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

/// The first host port of the spec that can't be bound, as an error.
pub fn check_ports(spec: &NodeSpec) -> Result<(), ClusterError> {
    for p in &spec.ports {
        if !port_is_free(p.host_port) {
            return Err(port_taken(p.host_port, p.container_port));
        }
    }
    Ok(())
}

/// The node's last log lines.
pub async fn last_log_lines(docker: &Docker, name: &str, n: usize) -> Vec<String> {
    let options = LogsOptionsBuilder::new()
        .stdout(true)
        .stderr(true)
        .tail(&n.to_string())
        .build();
    let mut stream = docker.logs(name, Some(options));
    let mut text = Vec::new();
    while let Some(Ok(chunk)) = stream.next().await {
        text.extend_from_slice(&chunk.into_bytes());
    }
    String::from_utf8_lossy(&text)
        .lines()
        .map(|l| l.trim_end_matches('\r').to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// kind's readiness line: systemd reached the multi-user target (or the entrypoint's cgroup v1
/// note, after which exec is safe too).
pub fn is_systemd_ready_line(line: &str) -> bool {
    if line.contains("detected cgroup v1") {
        return true;
    }
    match line.find("Reached target") {
        Some(i) => line[i..].contains("Multi-User System"),
        None => false,
    }
}

/// Follow the node's log from `since` (unix seconds) until systemd is ready.
async fn wait_systemd(
    docker: &Docker,
    name: &str,
    since: i64,
    timeout: Duration,
) -> Result<(), String> {
    let options = LogsOptionsBuilder::new()
        .follow(true)
        .stdout(true)
        .stderr(true)
        .since(since.clamp(0, i32::MAX as i64) as i32)
        .build();
    let mut stream = docker.logs(name, Some(options));
    let watch = async {
        let mut pending = String::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| e.to_string())?;
            pending.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
            while let Some(nl) = pending.find('\n') {
                let line: String = pending.drain(..=nl).collect();
                if is_systemd_ready_line(&line) {
                    return Ok(());
                }
            }
            if is_systemd_ready_line(&pending) {
                return Ok(());
            }
        }
        Err("the node stopped before systemd was up".to_string())
    };
    match tokio::time::timeout(timeout, watch).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "systemd did not reach the multi-user target within {}s",
            timeout.as_secs()
        )),
    }
}

// ---- the network ----------------------------------------------------------------------------

/// kind's IPv6 ULA subnet for a network name (kind hashes with sha1; any stable hash does).
pub fn ula_subnet(name: &str, attempt: u32) -> String {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(attempt.to_le_bytes());
    let b = h.finalize();
    format!(
        "fc00:{:02x}{:02x}:{:02x}{:02x}:{:02x}{:02x}::/64",
        b[2], b[3], b[4], b[5], b[6], b[7]
    )
}

async fn network_exists(docker: &Docker, name: &str) -> Result<bool, DockerError> {
    let options = ListNetworksOptionsBuilder::new()
        .filters(&HashMap::from([("name", vec![name])]))
        .build();
    let list = docker.list_networks(Some(options)).await?;
    // The filter matches substrings.
    Ok(list.iter().any(|n| n.name.as_deref() == Some(name)))
}

/// Make the bridge network if missing, as kind: IPv6 enabled on a ULA subnet derived from the
/// name, IPv4 only when the engine can't do IPv6. Returns whether it was made now.
pub async fn ensure_network(docker: &Docker, name: &str) -> Result<bool, DockerError> {
    if network_exists(docker, name).await? {
        return Ok(false);
    }
    let request = |ipv6: Option<String>| NetworkCreateRequest {
        name: name.to_string(),
        driver: Some("bridge".into()),
        enable_ipv6: Some(ipv6.is_some()),
        ipam: ipv6.map(|subnet| bollard::models::Ipam {
            config: Some(vec![bollard::models::IpamConfig {
                subnet: Some(subnet),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        options: Some(HashMap::from([(
            "com.docker.network.bridge.enable_ip_masquerade".to_string(),
            "true".to_string(),
        )])),
        // kind doesn't label its network; ours says who made it (kind uses it all the same).
        labels: Some(HashMap::from([(
            "app.kubernetes.io/managed-by".to_string(),
            "onyx".to_string(),
        )])),
        ..Default::default()
    };
    let mut last = None;
    for attempt in 0..5 {
        match docker
            .create_network(request(Some(ula_subnet(name, attempt))))
            .await
        {
            Ok(_) => return Ok(true),
            Err(e) => {
                let text = e.to_string().to_ascii_lowercase();
                if text.contains("already exists") || network_exists(docker, name).await? {
                    return Ok(false);
                }
                if text.contains("overlap") {
                    last = Some(e);
                    continue;
                }
                // IPv6 unavailable (or refused): IPv4 only, the engine picks the subnet.
                tracing::debug!("IPv6 network refused ({e}); making {name} IPv4 only");
                return match docker.create_network(request(None)).await {
                    Ok(_) => Ok(true),
                    Err(_) if network_exists(docker, name).await? => Ok(false),
                    Err(e) => Err(e.into()),
                };
            }
        }
    }
    Err(last.map_or_else(
        || DockerError::Io(std::io::Error::other("no free subnet for the kind network")),
        DockerError::Engine,
    ))
}

/// Remove the network if nothing is attached to it (the engine refuses otherwise).
async fn remove_network_if_unused(docker: &Docker, name: &str) {
    if let Ok(n) = docker
        .inspect_network(
            name,
            None::<bollard::query_parameters::InspectNetworkOptions>,
        )
        .await
        && n.containers.as_ref().is_none_or(|c| c.is_empty())
    {
        let _ = docker.remove_network(name).await;
    }
}

// ---- manifests ------------------------------------------------------------------------------

fn yaml_docs(text: &str) -> Result<Vec<Value>, String> {
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(text).map_err(|e| format!("not valid YAML: {e}"))?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// Documents back to one stream (JSON is YAML; kubectl reads both).
fn join_docs(docs: &[Value]) -> String {
    docs.iter()
        .map(|d| serde_json::to_string(d).expect("JSON values serialise"))
        .collect::<Vec<_>>()
        .join("\n---\n")
        + "\n"
}

/// The node's CNI manifest, as kind's installcni action makes it: the pod subnet templated in
/// when the file asks for it ("would you kindly template this file"), and the API server's
/// in-network address added to the DaemonSet when it asks for that ("… patch this file"), so
/// kindnet doesn't wait for kube-proxy. Other manifests pass through unchanged.
pub fn cni_manifest(
    raw: &str,
    pod_subnet: &str,
    control_plane_endpoint: &str,
) -> Result<String, String> {
    let mut manifest = raw.to_string();
    if manifest.contains("would you kindly template this file") {
        manifest = manifest
            .replace("{{ .PodSubnet }}", pod_subnet)
            .replace("{{.PodSubnet}}", pod_subnet);
        if manifest.contains("{{") {
            return Err("the CNI manifest has template fields onyx doesn't know".into());
        }
    }
    if manifest.contains("would you kindly patch this file") {
        let mut docs = yaml_docs(&manifest)?;
        for d in docs.iter_mut().filter(|d| d["kind"] == "DaemonSet") {
            let Some(container) = d
                .pointer_mut("/spec/template/spec/containers/0")
                .and_then(Value::as_object_mut)
            else {
                continue;
            };
            let env = container.entry("env").or_insert_with(|| json!([]));
            if let Some(list) = env.as_array_mut() {
                list.push(
                    json!({"name": "CONTROL_PLANE_ENDPOINT", "value": control_plane_endpoint}),
                );
            }
        }
        manifest = join_docs(&docs);
    }
    Ok(manifest)
}

/// The node's storage manifest with local-path's StorageClass told to name volume directories by
/// claim (`<namespace>/<name>`) instead of by the claim's UID: the node's storage root is a host
/// directory, and a claim made again after `cluster delete` + `create` then finds its old data.
pub fn storage_manifest(raw: &str) -> Result<String, String> {
    let mut docs = yaml_docs(raw)?;
    let mut found = false;
    for d in docs
        .iter_mut()
        .filter(|d| d["kind"] == "StorageClass" && d["provisioner"] == "rancher.io/local-path")
    {
        let obj = d.as_object_mut().expect("a StorageClass is a mapping");
        let params = obj.entry("parameters").or_insert_with(|| json!({}));
        if !params.is_object() {
            *params = json!({});
        }
        params["pathPattern"] = json!(STABLE_PATH_PATTERN);
        found = true;
    }
    if !found {
        return Err("the storage manifest has no local-path StorageClass".into());
    }
    Ok(join_docs(&docs))
}

/// kubectl's readiness output (`'True'`, `'True False'`, …): every node Ready.
pub fn all_ready(jsonpath_output: &str) -> bool {
    let fields: Vec<&str> = jsonpath_output
        .split_whitespace()
        .map(|f| f.trim_matches('\''))
        .filter(|f| !f.is_empty())
        .collect();
    !fields.is_empty() && fields.iter().all(|f| *f == "True")
}

// ---- the steps ------------------------------------------------------------------------------

/// No step may take longer than this (kubeadm init on a slow laptop takes a few minutes); the
/// Ready wait has its own timeout.
const STEP_TIMEOUT: Duration = Duration::from_secs(20 * 60);

/// Run one step, reporting its start and end.
async fn step<T>(
    reporter: &dyn StepReporter,
    s: Step,
    work: impl Future<Output = Result<T, String>>,
) -> Result<T, (Step, String)> {
    reporter.step(s, StepEvent::Start);
    // The Ready wait runs under its own timeout (`--wait`), which may be longer.
    let limit = if s == Step::WaitReady {
        Duration::MAX
    } else {
        STEP_TIMEOUT
    };
    let result = match tokio::time::timeout(limit, work).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "no answer within {} minutes",
            STEP_TIMEOUT.as_secs() / 60
        )),
    };
    match result {
        Ok(v) => {
            reporter.step(s, StepEvent::Done);
            Ok(v)
        }
        Err(e) => {
            reporter.step(s, StepEvent::Failed(e.clone()));
            Err((s, e))
        }
    }
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

async fn start(docker: &Docker, spec: &NodeSpec) -> Result<(), ClusterError> {
    match docker.start_container(&spec.name, None).await {
        Ok(()) => Ok(()),
        Err(e) => {
            let text = e.to_string();
            if text.contains("port is already allocated") || text.contains("address already in use")
            {
                for p in &spec.ports {
                    if text.contains(&format!(":{}", p.host_port)) || !port_is_free(p.host_port) {
                        return Err(port_taken(p.host_port, p.container_port));
                    }
                }
            }
            Err(e.into())
        }
    }
}

/// The boot after systemd is up: config, init, taint, CNI, storage, Ready, kubeconfig.
async fn boot(
    docker: &Docker,
    opts: &CreateOptions,
    reporter: &dyn StepReporter,
) -> Result<u16, (Step, String)> {
    let name = &opts.spec.name;
    let params = step(reporter, Step::WriteKubeadmConfig, async {
        let i = inspect(docker, name)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the node disappeared")?;
        let address = node_address(&i, &opts.spec.network)
            .ok_or_else(|| format!("the node has no address on network {}", opts.spec.network))?;
        let version = run(docker, name, &["cat", KIND_VERSION], None)
            .await?
            .stdout_text();
        let version = version.trim();
        let api = KubeadmApi::for_version(version).ok_or_else(|| {
            format!("cannot read the Kubernetes version {version:?} in {KIND_VERSION}")
        })?;
        let params = KubeadmParams::single_node(&opts.cluster, version, &address, "systemd");
        let config = kubeadm::render(&params, api);
        run(docker, name, &["mkdir", "-p", "/kind"], None).await?;
        run(
            docker,
            name,
            &["cp", "/dev/stdin", KUBEADM_CONF],
            Some(stdin_bytes(config.into_bytes())),
        )
        .await?;
        Ok(params)
    })
    .await?;
    step(reporter, Step::KubeadmInit, async {
        run(
            docker,
            name,
            &[
                "kubeadm",
                "init",
                "--config=/kind/kubeadm.conf",
                "--skip-token-print",
                "--v=6",
            ],
            None,
        )
        .await
        .map(drop)
    })
    .await?;
    step(reporter, Step::RemoveTaint, async {
        run(
            docker,
            name,
            &[
                "kubectl",
                KUBECONFIG_FLAG,
                "taint",
                "nodes",
                "--all",
                "node-role.kubernetes.io/control-plane-",
            ],
            None,
        )
        .await?;
        // One node: let load balancers (and the UI's node port) use it, as kind does.
        run(
            docker,
            name,
            &[
                "kubectl",
                KUBECONFIG_FLAG,
                "label",
                "nodes",
                "--all",
                "node.kubernetes.io/exclude-from-external-load-balancers-",
            ],
            None,
        )
        .await
        .map(drop)
    })
    .await?;
    step(reporter, Step::InstallCni, async {
        let raw = run(docker, name, &["cat", CNI_MANIFEST], None)
            .await?
            .stdout_text();
        let endpoint = format!("{}:{}", params.node_name, params.api_bind_port);
        let manifest = cni_manifest(&raw, &params.pod_subnet, &endpoint)?;
        run(
            docker,
            name,
            &["kubectl", "create", KUBECONFIG_FLAG, "-f", "-"],
            Some(stdin_bytes(manifest.into_bytes())),
        )
        .await
        .map(drop)
    })
    .await?;
    step(reporter, Step::InstallStorage, async {
        let raw = run(docker, name, &["cat", STORAGE_MANIFEST], None)
            .await?
            .stdout_text();
        let manifest = storage_manifest(&raw)?;
        run(
            docker,
            name,
            &["kubectl", KUBECONFIG_FLAG, "apply", "-f", "-"],
            Some(stdin_bytes(manifest.into_bytes())),
        )
        .await
        .map(drop)
    })
    .await?;
    step(
        reporter,
        Step::WaitReady,
        wait_ready(docker, name, opts.timeouts.ready),
    )
    .await?;
    let port = step(reporter, Step::Kubeconfig, merge_kubeconfig(docker, opts)).await?;
    Ok(port)
}

/// Poll the node's readiness with kubectl inside it, as kind's waitforready action.
async fn wait_ready(docker: &Docker, name: &str, timeout: Duration) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let last = match exec(
            docker,
            name,
            &[
                "kubectl",
                KUBECONFIG_FLAG,
                "get",
                "nodes",
                "--selector=node-role.kubernetes.io/control-plane",
                "-o=jsonpath='{.items..status.conditions[-1:].status}'",
            ],
            None,
        )
        .await
        {
            Ok(out) if out.ok() && all_ready(&out.stdout_text()) => return Ok(()),
            Ok(out) if out.ok() => format!("the node reports {}", out.stdout_text().trim()),
            Ok(out) => out.error_text(),
            Err(e) => e.to_string(),
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "the node was not Ready within {}s (last: {last})",
                timeout.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Read admin.conf, point it at the published API port, merge it as `kind-<cluster>`.
async fn merge_kubeconfig(docker: &Docker, opts: &CreateOptions) -> Result<u16, String> {
    let name = &opts.spec.name;
    let i = inspect(docker, name)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the node disappeared")?;
    let port =
        published_port(&i, node::API_SERVER_PORT).ok_or("the node publishes no API server port")?;
    let admin = run(docker, name, &["cat", ADMIN_CONF], None)
        .await?
        .stdout_text();
    let ours = kubeconfig::from_admin_conf(&admin, port, &super::context_name(&opts.cluster))
        .map_err(|e| e.to_string())?;
    let file = opts.kubeconfig.clone();
    tokio::task::spawn_blocking(move || kubeconfig::merge(&file, &ours))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| match e.hint() {
            Some(h) => format!("{e} ({h})"),
            None => e.to_string(),
        })?;
    Ok(port)
}

/// Make (or reuse, or restart) the cluster's node and boot it; see the module docs.
pub async fn create(
    docker: &Docker,
    opts: &CreateOptions,
    reporter: &dyn StepReporter,
) -> Result<Created, ClusterError> {
    let spec = &opts.spec;
    let name = spec.name.clone();
    let done = |outcome, api_port: u16, i: Option<&ContainerInspectResponse>| Created {
        cluster: opts.cluster.clone(),
        node: name.clone(),
        context: super::context_name(&opts.cluster),
        outcome,
        api_server: format!("https://127.0.0.1:{api_port}"),
        ui_port: i
            .and_then(|i| published_port(i, node::UI_NODE_PORT))
            .or_else(|| {
                spec.ports
                    .iter()
                    .find(|p| p.container_port == node::UI_NODE_PORT)
                    .map(|p| p.host_port)
            }),
        kubeconfig: opts.kubeconfig.clone(),
    };

    if let Some(existing) = inspect(docker, &name).await? {
        let labels = existing
            .config
            .as_ref()
            .and_then(|c| c.labels.clone())
            .unwrap_or_default();
        if labels.get(node::LABEL_CLUSTER) != Some(&opts.cluster) {
            return Err(ClusterError::Foreign {
                name,
                cluster: opts.cluster.clone(),
            });
        }
        reporter.step(Step::Network, StepEvent::Skipped("the node exists".into()));
        reporter.step(
            Step::CreateNode,
            StepEvent::Skipped("the node exists".into()),
        );
        let outcome = if is_running(&existing) {
            reporter.message(&format!("reusing the running node {name}"));
            reporter.step(Step::StartNode, StepEvent::Skipped("running".into()));
            reporter.step(Step::WaitSystemd, StepEvent::Skipped("running".into()));
            Outcome::Reused
        } else {
            reporter.message(&format!("starting the stopped node {name}"));
            let since = now_unix();
            let started = async {
                step(reporter, Step::StartNode, async {
                    docker
                        .start_container(&name, None)
                        .await
                        .map_err(|e| e.to_string())
                })
                .await?;
                step(
                    reporter,
                    Step::WaitSystemd,
                    wait_systemd(docker, &name, since - 1, opts.timeouts.systemd),
                )
                .await
            };
            if let Err((s, message)) = started.await {
                return Err(failed(docker, opts, s, message, Some(name.clone())).await);
            }
            Outcome::Restarted
        };
        let rest = async {
            step(
                reporter,
                Step::WaitReady,
                wait_ready(docker, &name, opts.timeouts.ready),
            )
            .await?;
            step(reporter, Step::Kubeconfig, merge_kubeconfig(docker, opts)).await
        };
        return match rest.await {
            Ok(port) => {
                let i = inspect(docker, &name).await?;
                Ok(done(outcome, port, i.as_ref()))
            }
            // A node that was there before is not ours to remove.
            Err((s, message)) => Err(failed(docker, opts, s, message, Some(name.clone())).await),
        };
    }

    // A fresh node.
    check_ports(spec)?;
    let made_network = match step(reporter, Step::Network, async {
        ensure_network(docker, &spec.network)
            .await
            .map_err(|e| e.to_string())
    })
    .await
    {
        Ok(made) => made,
        Err((s, message)) => {
            return Err(ClusterError::StepFailed {
                cluster: opts.cluster.clone(),
                step: s,
                message,
                logs: Vec::new(),
                kept: None,
            });
        }
    };
    for bind in &spec.binds {
        // The data directory must exist as the user's, not be made by the engine as root.
        if let Some((host, _)) = bind.split_once(':')
            && !host.starts_with("/lib/modules")
        {
            let _ = std::fs::create_dir_all(host);
        }
    }
    reporter.step(Step::CreateNode, StepEvent::Start);
    let options = CreateContainerOptionsBuilder::new().name(&name).build();
    if let Err(e) = docker
        .create_container(Some(options), create_body(spec))
        .await
    {
        reporter.step(Step::CreateNode, StepEvent::Failed(e.to_string()));
        if made_network {
            remove_network_if_unused(docker, &spec.network).await;
        }
        return Err(ClusterError::StepFailed {
            cluster: opts.cluster.clone(),
            step: Step::CreateNode,
            message: crate::docker::engine::with_causes(&e),
            logs: Vec::new(),
            kept: None,
        });
    }
    reporter.step(Step::CreateNode, StepEvent::Done);

    let since = now_unix();
    reporter.step(Step::StartNode, StepEvent::Start);
    let result = match start(docker, spec).await {
        Err(ClusterError::PortTaken { port, what, hint }) => {
            reporter.step(
                Step::StartNode,
                StepEvent::Failed(format!("port {port} is in use")),
            );
            rollback(docker, opts, made_network).await;
            return Err(ClusterError::PortTaken { port, what, hint });
        }
        Err(e) => {
            reporter.step(Step::StartNode, StepEvent::Failed(e.to_string()));
            Err((Step::StartNode, e.to_string()))
        }
        Ok(()) => {
            reporter.step(Step::StartNode, StepEvent::Done);
            match step(
                reporter,
                Step::WaitSystemd,
                wait_systemd(docker, &name, since - 1, opts.timeouts.systemd),
            )
            .await
            {
                Ok(()) => boot(docker, opts, reporter).await,
                Err(e) => Err(e),
            }
        }
    };
    match result {
        Ok(port) => {
            let i = inspect(docker, &name).await?;
            Ok(done(Outcome::Created, port, i.as_ref()))
        }
        Err((s, message)) => {
            let kept = opts.retain.then(|| name.clone());
            let err = failed(docker, opts, s, message, kept).await;
            if !opts.retain {
                rollback(docker, opts, made_network).await;
            }
            Err(err)
        }
    }
}

/// The error for a failed step, with the node's last log lines.
async fn failed(
    docker: &Docker,
    opts: &CreateOptions,
    step: Step,
    message: String,
    kept: Option<String>,
) -> ClusterError {
    ClusterError::StepFailed {
        cluster: opts.cluster.clone(),
        step,
        message,
        logs: last_log_lines(docker, &opts.spec.name, LOG_LINES).await,
        kept,
    }
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

/// Remove what a failed create made: the container with its anonymous volume, the network if it
/// was made by this run and nothing else uses it.
async fn rollback(docker: &Docker, opts: &CreateOptions, made_network: bool) {
    if let Err(e) = remove_node(docker, &opts.spec.name).await {
        tracing::warn!("could not remove {} after the failure: {e}", opts.spec.name);
    }
    if made_network {
        remove_network_if_unused(docker, &opts.spec.network).await;
    }
}

// ---- delete, list, status -------------------------------------------------------------------

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
}

/// Remove the node (and its anonymous volume) and our kubeconfig entries; the data directory
/// only when `purge_data` names it.
pub async fn delete(
    docker: &Docker,
    cluster: &str,
    kubeconfig_file: &Path,
    purge_data: Option<&Path>,
) -> Result<Deleted, ClusterError> {
    let name = super::node_name(cluster);
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
    let file = kubeconfig_file.to_path_buf();
    let context = super::context_name(cluster);
    let kubeconfig_cleaned =
        tokio::task::spawn_blocking(move || kubeconfig::remove(&file, &context))
            .await
            .map_err(|e| ClusterError::Docker(DockerError::Io(std::io::Error::other(e))))?
            .map_err(|e| ClusterError::Kubeconfig(Box::new(e)))?;
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
    })
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
    /// The host directory at the node's storage root.
    pub data_dir: Option<String>,
    /// The node's Kubernetes Ready condition, when it runs and answers.
    pub ready: Option<bool>,
}

/// The cluster's node and whether Kubernetes in it is Ready.
pub async fn status(docker: &Docker, cluster: &str) -> Result<Status, ClusterError> {
    let name = super::node_name(cluster);
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
    let data_dir = i
        .host_config
        .as_ref()
        .and_then(|h| h.binds.as_ref())
        .and_then(|b| {
            b.iter()
                .find(|b| b.contains(&format!(":{}", node::STORAGE_ROOT)))
                .and_then(|b| b.split(':').next().map(str::to_string))
        });
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
        context: super::context_name(cluster),
        api_server: published_port(&i, node::API_SERVER_PORT)
            .map(|p| format!("https://127.0.0.1:{p}")),
        ui_url: published_port(&i, node::UI_NODE_PORT).map(|p| format!("http://localhost:{p}")),
        data_dir,
        ready,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KINDNET: &str = "# kindnetd networking manifest
# would you kindly template this file
# would you kindly patch this file
---
kind: ServiceAccount
apiVersion: v1
metadata:
  name: kindnet
  namespace: kube-system
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: kindnet
  namespace: kube-system
spec:
  template:
    spec:
      containers:
      - name: kindnet-cni
        image: docker.io/kindest/kindnetd:v20260820-69b56db7
        env:
        - name: POD_SUBNET
          value: {{ .PodSubnet }}
---
";

    #[test]
    fn cni_is_templated_and_patched_as_kind_does() {
        let out = cni_manifest(KINDNET, "10.244.0.0/16", "c-control-plane:6443").unwrap();
        let docs = yaml_docs(&out).unwrap();
        assert_eq!(docs.len(), 2);
        let env = &docs[1]["spec"]["template"]["spec"]["containers"][0]["env"];
        assert_eq!(
            env[0],
            json!({"name": "POD_SUBNET", "value": "10.244.0.0/16"})
        );
        assert_eq!(
            env[1],
            json!({"name": "CONTROL_PLANE_ENDPOINT", "value": "c-control-plane:6443"})
        );
        // A manifest that asks for neither is passed through byte for byte.
        let plain = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n";
        assert_eq!(cni_manifest(plain, "a", "b").unwrap(), plain);
        // An unknown template field is refused rather than sent half-filled.
        assert!(
            cni_manifest(
                "# would you kindly template this file\nx: {{ .Other }}\n",
                "a",
                "b"
            )
            .is_err()
        );
    }

    #[test]
    fn storage_class_gets_a_stable_path_pattern() {
        let raw = "apiVersion: v1
kind: Namespace
metadata:
  name: local-path-storage
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations:
    storageclass.kubernetes.io/is-default-class: \"true\"
provisioner: rancher.io/local-path
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Delete
---
kind: ConfigMap
apiVersion: v1
metadata:
  name: local-path-config
  namespace: local-path-storage
data:
  setup: |-
    #!/bin/sh
    set -eu
    mkdir -m 0777 -p \"$VOL_DIR\"
";
        let out = storage_manifest(raw).unwrap();
        let docs = yaml_docs(&out).unwrap();
        assert_eq!(docs.len(), 3);
        assert_eq!(
            docs[1]["parameters"]["pathPattern"],
            "{{ .PVC.Namespace }}/{{ .PVC.Name }}"
        );
        assert_eq!(docs[1]["reclaimPolicy"], "Delete");
        assert_eq!(
            docs[2]["data"]["setup"],
            "#!/bin/sh\nset -eu\nmkdir -m 0777 -p \"$VOL_DIR\""
        );
        assert!(storage_manifest("kind: Namespace\n").is_err());
        assert!(storage_manifest("a: [").is_err());
    }

    #[test]
    fn readiness_and_systemd_lines() {
        assert!(all_ready("'True'"));
        assert!(all_ready("'True True'"));
        assert!(!all_ready("'True False'"));
        assert!(!all_ready("''"));
        assert!(!all_ready(""));
        assert!(is_systemd_ready_line(
            "[  OK  ] Reached target \x1b[0;1;39mMulti-User System\x1b[0m."
        ));
        assert!(is_systemd_ready_line(
            "Reached target multi-user.target - Multi-User System."
        ));
        assert!(is_systemd_ready_line("INFO: detected cgroup v1"));
        assert!(!is_systemd_ready_line("Reached target Basic System."));
    }

    #[test]
    fn ula_subnets_are_stable_and_differ_per_attempt() {
        let a = ula_subnet("kind", 0);
        assert_eq!(a, ula_subnet("kind", 0));
        assert_ne!(a, ula_subnet("kind", 1));
        assert!(a.starts_with("fc00:") && a.ends_with("::/64"), "{a}");
        assert!(a.parse::<std::net::Ipv6Addr>().is_err());
        assert!(
            a.trim_end_matches("/64")
                .parse::<std::net::Ipv6Addr>()
                .is_ok()
        );
    }

    #[test]
    fn create_body_carries_the_spec() {
        let spec = node::node_spec(&node::NodeOptions {
            cluster: "c".into(),
            image: "img:1".into(),
            api_server_port: 40000,
            ui_port: 3000,
            data_dir: "/data".into(),
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
    }
}
