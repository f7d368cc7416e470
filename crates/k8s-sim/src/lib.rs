//! `k8s-sim`: a Kubernetes API simulator for onyx's tests.
//!
//! No real kube-apiserver can run on the machines that test onyx, so this crate serves the real
//! Kubernetes HTTP API (the same paths, verbs, content types and `Status` errors that kube-rs and
//! kubectl use) from one in-process server on 127.0.0.1, with simulated controllers behind it and
//! faults a test can switch on. Start one per test:
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let sim = k8s_sim::Sim::start(k8s_sim::SimConfig::default()).await?;
//! sim.write_kubeconfig(std::path::Path::new("/tmp/kubeconfig"))?;
//! // point kube::Client or kubectl at sim.url() / the kubeconfig
//! # Ok(()) }
//! ```
//!
//! Module map: [`resources`] (kinds and discovery), [`store`] (objects, versions, change log),
//! [`apply`] (patches and server-side apply), [`select`] (selectors), `api` (HTTP routing and
//! verbs), `watch`, `controllers` (workloads, pods, PVCs, endpoints, garbage collection),
//! `streams` (logs, port-forward, exec), `openapi`, [`faults`].

mod api;
pub mod apply;
pub mod client;
mod controllers;
pub mod error;
pub mod faults;
pub mod images;
pub mod local_path;
mod nodeports;
mod openapi;
pub mod resources;
pub mod select;
pub mod service_links;
pub mod spdy;
mod spdy_forward;
pub mod store;
mod streams;
pub mod tls;
mod watch;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::task::JoinHandle;

pub use controllers::NODE_PODS;
pub use faults::{ExecRule, Fault, ForwardRule, ReadyDelay, RequestFilter, Target};
use store::Store;

/// Timing of the simulated cluster.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// From a pod being scheduled (or a fault on it being lifted) to its containers being ready.
    /// Containers report Running (not ready) after half of it.
    pub ready_delay: Duration,
    /// Delays of their own for some pods (the first rule that matches a pod wins), see
    /// [`ReadyDelay`].
    pub ready_delays: Vec<ReadyDelay>,
    /// Time between two crashes of a crash-looping (or OOM-killed) container.
    pub crash_interval: Duration,
    /// How often the simulated controllers run.
    pub tick: Duration,
    /// How many changes watches can replay; a watch from an older version gets `410 Gone`.
    pub watch_history: usize,
    /// The cluster's DNS domain: the end of `hostname -f` in a pod with a subdomain, which
    /// Vespa's start rules read ([`images`]).
    pub cluster_domain: String,
    /// Make each local-path volume's directory on this machine, as the provisioner's helper pod
    /// does on the node (`mkdir -m 0777 -p`): only where the simulator runs as a node's API
    /// server (the stand-in kind node), never in-process in a test.
    pub make_volume_dirs: bool,
    /// The node's allocatable CPU (millicores) and memory (bytes): what the scheduler places
    /// pods' requests against, the node's own pods' first ([`controllers::NODE_PODS`]).
    pub node_cpu_m: u64,
    pub node_memory_bytes: u64,
    /// Pods already on the node besides its own (namespace, name, CPU millicores, memory
    /// bytes of requests): what a cluster onyx is given already runs.
    pub extra_pods: Vec<(String, String, u64, u64)>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            ready_delay: Duration::from_millis(300),
            ready_delays: Vec::new(),
            crash_interval: Duration::from_millis(300),
            tick: Duration::from_millis(20),
            watch_history: store::DEFAULT_HISTORY,
            cluster_domain: "cluster.local".into(),
            make_volume_dirs: false,
            node_cpu_m: 8000,
            node_memory_bytes: 32 << 30,
            extra_pods: Vec::new(),
        }
    }
}

/// Where and how a simulator serves. The default is what in-process tests use: plain HTTP on
/// 127.0.0.1, an OS-chosen port, nothing kept, no node ports.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub addr: SocketAddr,
    /// Serve HTTPS with these certificates (the CA goes into the kubeconfig).
    pub tls: Option<tls::TlsFiles>,
    /// Keep the objects in this file: read at start, written as they change, so a restarted
    /// simulator finds them again (as an API server finds etcd's data).
    pub state_file: Option<PathBuf>,
    /// Serve NodePort Services on this address, as kube-proxy does on a node.
    pub node_ports: Option<IpAddr>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            tls: None,
            state_file: None,
            node_ports: None,
        }
    }
}

/// Everything behind the one lock: objects and the simulator's private state.
pub(crate) struct World {
    pub store: Store,
    pub faults: Vec<(u64, Target, Fault)>,
    pub next_fault: u64,
    pub kubelet: controllers::Kubelet,
    pub forwards: Vec<ForwardRule>,
    pub execs: Vec<ExecRule>,
}

pub(crate) struct Shared {
    world: Mutex<World>,
    pub config: SimConfig,
    pub requests: Mutex<faults::RequestFaults>,
    pub drop_next: AtomicU32,
    pub addr: SocketAddr,
    /// HTTPS when set.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Live port-forward and exec WebSockets.
    pub open_streams: std::sync::atomic::AtomicUsize,
    /// Set when the simulator stops: connections, watches and streams end.
    stop: tokio::sync::watch::Sender<bool>,
}

impl Shared {
    pub fn requests(&self) -> MutexGuard<'_, faults::RequestFaults> {
        self.requests.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Lifts every fault, including pending HTTP failures and dropped connections.
    pub fn clear_all(&self) {
        self.world().faults.clear();
        *self.requests() = faults::RequestFaults::default();
        self.drop_next.store(0, Ordering::SeqCst);
    }

    /// Resolves once the simulator is stopping.
    pub fn stopped(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.stop.subscribe();
        async move {
            let _ = rx.wait_for(|stopped| *stopped).await;
        }
    }

    pub fn is_stopped(&self) -> bool {
        *self.stop.borrow()
    }

    pub fn world(&self) -> MutexGuard<'_, World> {
        // A panic while holding the lock would be a simulator bug; keep serving rather than
        // poisoning every later request.
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running simulator. Dropping it stops the server and its controllers.
pub struct Sim {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
    tls: Option<tls::TlsFiles>,
    state_file: Option<PathBuf>,
}

impl Sim {
    /// Starts a simulator on 127.0.0.1 with an OS-chosen port, on the current tokio runtime.
    pub async fn start(config: SimConfig) -> std::io::Result<Sim> {
        Self::start_on(config, 0).await
    }

    /// Starts on a given port (0: any free port).
    pub async fn start_on(config: SimConfig, port: u16) -> std::io::Result<Sim> {
        let mut serve = ServeOptions::default();
        serve.addr.set_port(port);
        Self::start_with(config, serve).await
    }

    /// Starts with the given address, TLS, state file and node ports.
    pub async fn start_with(config: SimConfig, serve: ServeOptions) -> std::io::Result<Sim> {
        let invalid = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        let tls = match &serve.tls {
            Some(files) => Some(files.server_config().map_err(invalid)?),
            None => None,
        };
        let kept = match &serve.state_file {
            Some(path) if path.exists() => {
                let text = std::fs::read_to_string(path)?;
                let v: Value = serde_json::from_str(&text)
                    .map_err(|e| invalid(format!("{}: {e}", path.display())))?;
                Some(
                    Store::restore(config.watch_history, &v)
                        .map_err(|e| invalid(format!("{}: {e}", path.display())))?,
                )
            }
            _ => None,
        };
        let listener = tokio::net::TcpListener::bind(serve.addr).await?;
        let addr = listener.local_addr()?;
        let store = kept.unwrap_or_else(|| {
            let mut store = Store::with_history(config.watch_history);
            controllers::seed(&mut store, &config);
            store
        });
        let shared = Arc::new(Shared {
            world: Mutex::new(World {
                store,
                faults: Vec::new(),
                next_fault: 1,
                kubelet: controllers::Kubelet::default(),
                forwards: Vec::new(),
                execs: Vec::new(),
            }),
            config,
            requests: Mutex::new(faults::RequestFaults::default()),
            drop_next: AtomicU32::new(0),
            addr,
            tls,
            open_streams: std::sync::atomic::AtomicUsize::new(0),
            stop: tokio::sync::watch::channel(false).0,
        });
        let mut tasks = vec![
            tokio::spawn(api::serve(listener, shared.clone())),
            tokio::spawn(controllers::run(shared.clone())),
        ];
        if let Some(ip) = serve.node_ports {
            tasks.push(tokio::spawn(nodeports::run(shared.clone(), ip)));
        }
        if let Some(path) = serve.state_file.clone() {
            tasks.push(tokio::spawn(keep_state(shared.clone(), path)));
        }
        Ok(Sim {
            shared,
            tasks,
            tls: serve.tls,
            state_file: serve.state_file,
        })
    }

    /// Writes the objects to the state file now (also done within half a second of a change).
    pub fn save_state(&self) -> std::io::Result<()> {
        match &self.state_file {
            Some(path) => write_state(&self.shared, path).map(|_| ()),
            None => Ok(()),
        }
    }

    /// `http://127.0.0.1:PORT` (`https://` when serving TLS).
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.shared.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// A kubeconfig with one cluster, user and context, all named `sim`, namespace `default`.
    pub fn kubeconfig_yaml(&self) -> String {
        self.kubeconfig_yaml_for(&self.url())
    }

    /// [`Sim::kubeconfig_yaml`] with another server address (e.g. the name clients reach a
    /// simulator listening on 0.0.0.0 by), and the CA when serving TLS.
    pub fn kubeconfig_yaml_for(&self, server: &str) -> String {
        kubeconfig_yaml_with(server, self.tls.as_ref().map(|t| t.ca_pem.as_str()))
    }

    /// Writes [`Sim::kubeconfig_yaml`] to `path`.
    pub fn write_kubeconfig(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.kubeconfig_yaml())
    }

    /// Switches a fault on for the pods (or PVCs) `target` selects; returns its id.
    pub fn inject(&self, target: Target, fault: Fault) -> u64 {
        let mut w = self.shared.world();
        let id = w.next_fault;
        w.next_fault += 1;
        w.faults.push((id, target, fault));
        id
    }

    /// Lifts one fault.
    pub fn clear_fault(&self, id: u64) {
        self.shared.world().faults.retain(|(i, _, _)| *i != id);
    }

    /// Lifts every fault, including pending HTTP failures and dropped connections.
    pub fn clear_faults(&self) {
        self.shared.clear_all();
    }

    /// The next `n` API requests get `500 InternalError` (a `Status` body).
    pub fn fail_next_requests(&self, n: u32) {
        self.fail_next_matching(n, RequestFilter::default());
    }

    /// The next `n` requests that `filter` matches get `500 InternalError` and are not processed.
    pub fn fail_next_matching(&self, n: u32, filter: RequestFilter) {
        let mut r = self.shared.requests();
        r.fail = n;
        r.fail_filter = filter;
    }

    /// The next `n` requests that `filter` matches are processed, then their connection is cut
    /// instead of answered (the change happened; the client cannot know).
    pub fn cut_next_matching(&self, n: u32, filter: RequestFilter) {
        let mut r = self.shared.requests();
        r.cut = n;
        r.cut_filter = filter;
    }

    /// The next `n` TCP connections are closed as soon as they are accepted.
    pub fn drop_next_connections(&self, n: u32) {
        self.shared.drop_next.store(n, Ordering::SeqCst);
    }

    /// Deletes a pod as a node restart would; its controller recreates it, and port-forwards
    /// and execs into it are closed. Returns false if there is no such pod.
    pub fn restart_pod(&self, namespace: &str, name: &str) -> bool {
        let mut w = self.shared.world();
        w.store
            .delete(store::res("", "pods"), namespace, name)
            .is_ok()
    }

    /// Connections forwarded to `container_port` of the pods `target` selects go to `local`.
    pub fn forward_port(&self, target: Target, container_port: u16, local: SocketAddr) {
        self.shared.world().forwards.push(ForwardRule {
            target,
            container_port,
            local,
        });
    }

    /// `exec` into the pods `target` selects runs a local process: `command` if given, else the
    /// command the client asked for, as is.
    pub fn on_exec(&self, target: Target, command: Option<Vec<String>>) {
        self.on_exec_with_env(target, command, &[]);
    }

    /// As [`Sim::on_exec`], with these variables added to the process's environment: what the
    /// container's environment would give the command in a real pod (a runtime execs in the
    /// container's environment), without setting them on the whole test process.
    pub fn on_exec_with_env(
        &self,
        target: Target,
        command: Option<Vec<String>>,
        env: &[(&str, &str)],
    ) {
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.shared.world().execs.push(ExecRule {
            target,
            command,
            env,
        });
    }

    /// Appends a line to a container's current log.
    pub fn append_log(&self, namespace: &str, pod: &str, container: &str, line: &str) -> bool {
        let mut w = self.shared.world();
        let Some(uid) = w
            .store
            .get(store::res("", "pods"), namespace, pod)
            .map(|p| store::meta_str(p, "uid").to_string())
        else {
            return false;
        };
        w.kubelet
            .logs
            .entry((uid, container.to_string()))
            .or_default()
            .current
            .push(line.to_string());
        true
    }

    /// Create an object, or replace the one of the same kind and name (what a stand-in node's
    /// `kubectl apply` of a manifest comes to here; `--apply-dir`). Errors name the object.
    pub fn put_object(&self, obj: Value) -> Result<(), String> {
        let api_version = obj["apiVersion"].as_str().unwrap_or("").to_string();
        let kind = obj["kind"].as_str().unwrap_or("").to_string();
        let r = resources::find_kind(&api_version, &kind)
            .ok_or_else(|| format!("{api_version} {kind}: not served by the simulator"))?;
        let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
        let mut obj = obj;
        let ns = if r.namespaced {
            let ns = obj["metadata"]["namespace"]
                .as_str()
                .unwrap_or("default")
                .to_string();
            obj["metadata"]["namespace"] = Value::String(ns.clone());
            ns
        } else {
            if let Some(m) = obj["metadata"].as_object_mut() {
                m.remove("namespace");
            }
            String::new()
        };
        let mut w = self.shared.world();
        // The API server's write-time defaults (the default StorageClass for a claim, …).
        controllers::defaults(r, &mut obj, &w.store);
        if w.store.get(r, &ns, &name).is_some() {
            let _ = w.store.delete(r, &ns, &name);
        }
        w.store
            .create(r, obj)
            .map(|_| ())
            .map_err(|e| format!("{kind} {name}: {e:?}"))
    }

    /// A stored object, for assertions that should not go through a client.
    pub fn object(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Option<Value> {
        let r = resources::find_kind(api_version, kind)?;
        let ns = if r.namespaced { namespace } else { "" };
        self.shared.world().store.get(r, ns, name).cloned()
    }

    /// Number of live port-forward and exec streams (tests check that a restart closes them).
    pub fn open_streams(&self) -> usize {
        self.shared.open_streams.load(Ordering::SeqCst)
    }

    /// Active faults and pending HTTP faults, as `GET /_sim/faults` shows them.
    pub fn faults_json(&self) -> Value {
        faults_json(&self.shared)
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.shared.stop.send_replace(true);
        for t in &self.tasks {
            t.abort();
        }
    }
}

pub(crate) fn faults_json(shared: &Shared) -> Value {
    let w = shared.world();
    let list: Vec<Value> = w
        .faults
        .iter()
        .map(|(id, t, f)| json!({"id": id, "target": t, "fault": f}))
        .collect();
    drop(w);
    let r = shared.requests().clone();
    json!({
        "faults": list,
        "failNextRequests": r.fail,
        "failFilter": r.fail_filter,
        "cutNextRequests": r.cut,
        "cutFilter": r.cut_filter,
        "dropNextConnections": shared.drop_next.load(Ordering::SeqCst),
    })
}

/// Keeps the state file current: written within half a second of a change, atomically.
async fn keep_state(shared: Arc<Shared>, path: PathBuf) {
    let mut saved = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rv = shared.world().store.resource_version();
        if rv != saved {
            match write_state(&shared, &path) {
                Ok(v) => saved = v,
                Err(e) => eprintln!("k8s-sim: cannot write {}: {e}", path.display()),
            }
        }
    }
}

fn write_state(shared: &Shared, path: &Path) -> std::io::Result<u64> {
    let (rv, snapshot) = {
        let w = shared.world();
        (w.store.resource_version(), w.store.snapshot())
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, snapshot.to_string())?;
    std::fs::rename(&tmp, path)?;
    Ok(rv)
}

/// Standard base64 with padding (kubeconfig `*-data` fields).
fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn kubeconfig_yaml(url: &str) -> String {
    kubeconfig_yaml_with(url, None)
}

/// The kubeconfig for a server; with a CA (HTTPS) it carries the CA and a token the simulator
/// does not check (over HTTPS kubectl asks for a password when a user has no credentials at all).
fn kubeconfig_yaml_with(url: &str, ca_pem: Option<&str>) -> String {
    let (ca, user) = match ca_pem {
        Some(pem) => (
            format!(
                "    certificate-authority-data: {}\n",
                base64(pem.as_bytes())
            ),
            "\n    token: k8s-sim",
        ),
        None => (String::new(), " {}"),
    };
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: sim\n  cluster:\n    server: {url}\n{ca}contexts:\n- name: sim\n  context:\n    cluster: sim\n    user: sim\n    namespace: default\ncurrent-context: sim\nusers:\n- name: sim\n  user:{user}\npreferences: {{}}\n"
    )
}

/// Per-container logs kept by the simulated kubelet.
#[derive(Default, Debug, Clone)]
pub(crate) struct ContainerLogs {
    pub current: Vec<String>,
    pub previous: Option<Vec<String>>,
}

pub(crate) type LogMap = HashMap<(String, String), ContainerLogs>;
