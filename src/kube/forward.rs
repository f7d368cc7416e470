//! Exposes the stack's gateway on 127.0.0.1 by port-forwarding to the nginx pod, for clusters
//! onyx did not create (its own cluster maps the UI port at node creation instead).
//!
//! Steps, once at [`start`] and again whenever a forward to the current pod fails:
//! 1. resolve the Service: its label selector, and the target port of the requested service port
//!    (named or numeric);
//! 2. pick a ready pod behind it (Ready, not being deleted; the newest first) and turn a named
//!    target port into that pod's container port;
//! 3. per accepted TCP connection, open one WebSocket port-forward to that pod and copy bytes both
//!    ways (`copy_bidirectional`).
//!
//! kubectl's `port-forward` pins one pod and dies when it goes; this listener keeps serving: when
//! the pod restarts or goes away, the next connection re-resolves to the new ready pod (waiting a
//! bounded time for one). A connection open during a restart may drop; browsers retry.
//!
//! [`check_gateway`] then proves the forward reaches nginx (`/nginx-health` answers `ok`).

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ::kube::Client;
use ::kube::api::{Api, ListParams};
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Why a forward could not start or a gateway check failed.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("port {port} on 127.0.0.1 is already in use")]
    PortInUse { port: u16 },

    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Listen {
        port: u16,
        #[source]
        source: std::io::Error,
    },

    #[error("service {namespace}/{service} does not exist")]
    ServiceNotFound { namespace: String, service: String },

    #[error("service {namespace}/{service} has no pod selector, so there is no pod to forward to")]
    NoSelector { namespace: String, service: String },

    #[error("service {namespace}/{service} has no port {port} (it has: {available})")]
    NoSuchPort {
        namespace: String,
        service: String,
        port: u16,
        available: String,
    },

    #[error("no ready pod behind service {namespace}/{service} (selector {selector})")]
    NoReadyPod {
        namespace: String,
        service: String,
        selector: String,
    },

    #[error("pod {namespace}/{pod} has no container port named {name:?}")]
    NamedPortMissing {
        namespace: String,
        pod: String,
        name: String,
    },

    #[error("the Kubernetes API answered: {0}")]
    Kube(#[from] ::kube::Error),

    #[error("{url} did not answer as nginx within {waited_s}s: {last}")]
    GatewayNotAnswering {
        url: String,
        waited_s: u64,
        last: String,
    },
}

impl ForwardError {
    /// The kind of failure (its exit code): a taken port is the user's to pick again.
    pub fn class(&self) -> crate::exit::Class {
        match self {
            ForwardError::PortInUse { .. } => crate::exit::Class::Usage,
            _ => crate::exit::Class::Refused,
        }
    }

    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            ForwardError::PortInUse { port } => format!(
                "stop whatever listens on port {port} (e.g. `lsof -i :{port}`), or pick another \
                 port with --port (or ONYX_PORT)"
            ),
            ForwardError::Listen { .. } => "pick another port with --port (or ONYX_PORT)".into(),
            ForwardError::ServiceNotFound { namespace, .. } => format!(
                "is the stack deployed in namespace {namespace}? `onyx up` creates it; -n picks \
                 another namespace"
            ),
            ForwardError::NoReadyPod { .. } => {
                "`onyx status` shows which service is not ready and why".into()
            }
            ForwardError::NoSelector { .. }
            | ForwardError::NoSuchPort { .. }
            | ForwardError::NamedPortMissing { .. } => {
                "the Service was changed by hand; `onyx up` applies it again".into()
            }
            ForwardError::Kube(_) => return None,
            ForwardError::GatewayNotAnswering { .. } => {
                "`onyx status` shows whether nginx is ready; `onyx logs nginx` shows what it says"
                    .into()
            }
        })
    }
}

/// What to forward to: a Service's port in a namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardTarget {
    pub namespace: String,
    pub service: String,
    /// The Service's port (e.g. 80 for nginx), not the container port.
    pub port: u16,
}

impl ForwardTarget {
    /// The stack's gateway: Service `nginx`, port 80.
    pub fn gateway(namespace: &str) -> ForwardTarget {
        let nginx = crate::stack::catalog::service("nginx");
        ForwardTarget {
            namespace: namespace.to_string(),
            service: "nginx".into(),
            port: nginx.map_or(80, |s| s.port),
        }
    }
}

/// The pod and container port connections currently go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub pod: String,
    pub port: u16,
}

/// Things a running forward reports (for the UI, or a log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardEvent {
    /// Connections now go to this pod (first resolve, or after the previous pod went away).
    Resolved(Endpoint),
    /// A connection could not be forwarded; the client's connection was closed.
    ConnectionFailed(String),
}

/// Receives [`ForwardEvent`]s; called from the forward's tasks.
pub type EventSink = Arc<dyn Fn(ForwardEvent) + Send + Sync>;

/// Tunables; [`ForwardOptions::default`] suits `onyx up`.
#[derive(Clone)]
pub struct ForwardOptions {
    /// How long a new connection waits for a ready pod when the current one is gone.
    pub wait_for_pod: Duration,
    /// How often to look for a ready pod while waiting.
    pub poll: Duration,
    pub events: Option<EventSink>,
}

impl Default for ForwardOptions {
    fn default() -> Self {
        ForwardOptions {
            wait_for_pod: Duration::from_secs(30),
            poll: Duration::from_millis(250),
            events: None,
        }
    }
}

impl std::fmt::Debug for ForwardOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForwardOptions")
            .field("wait_for_pod", &self.wait_for_pod)
            .field("poll", &self.poll)
            .field("events", &self.events.is_some())
            .finish()
    }
}

/// A running port-forward. Dropping it (or [`PortForward::stop`]) closes the listener and every
/// forwarded connection.
pub struct PortForward {
    addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for PortForward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortForward")
            .field("addr", &self.addr)
            .field("endpoint", &self.endpoint())
            .finish()
    }
}

impl PortForward {
    /// The address it listens on (127.0.0.1:port).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://localhost:PORT`: the URL users open.
    pub fn url(&self) -> String {
        format!("http://localhost:{}", self.addr.port())
    }

    /// Where connections go now (`None` while re-resolving after a pod went away).
    pub fn endpoint(&self) -> Option<Endpoint> {
        self.state.current()
    }

    /// Resolves when the forward stops on its own (it only does if the listener fails).
    pub async fn wait(&mut self) {
        let _ = (&mut self.task).await;
    }

    /// Stop listening and close every forwarded connection.
    pub fn stop(self) {}
}

impl Drop for PortForward {
    fn drop(&mut self) {
        // Aborting the accept task drops its JoinSet, which aborts every connection task.
        self.task.abort();
    }
}

struct State {
    pods: Api<Pod>,
    services: Api<Service>,
    target: ForwardTarget,
    options: ForwardOptions,
    endpoint: Mutex<Option<Endpoint>>,
    /// Serialises re-resolving, so a burst of connections after a restart asks the API once.
    resolving: tokio::sync::Mutex<()>,
}

impl State {
    fn current(&self) -> Option<Endpoint> {
        self.endpoint
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set(&self, value: Option<Endpoint>) {
        *self.endpoint.lock().unwrap_or_else(|p| p.into_inner()) = value;
    }

    /// Forget `stale` (if it is still the current endpoint), so the next connection re-resolves.
    fn invalidate(&self, stale: &Endpoint) {
        let mut guard = self.endpoint.lock().unwrap_or_else(|p| p.into_inner());
        if guard.as_ref() == Some(stale) {
            *guard = None;
        }
    }

    fn emit(&self, event: ForwardEvent) {
        tracing::debug!(?event, "port-forward");
        if let Some(sink) = &self.options.events {
            sink(event);
        }
    }

    /// The current endpoint, resolving (and waiting a bounded time for a ready pod) if needed.
    async fn endpoint(&self) -> Result<Endpoint, ForwardError> {
        if let Some(e) = self.current() {
            return Ok(e);
        }
        let _one = self.resolving.lock().await;
        if let Some(e) = self.current() {
            return Ok(e);
        }
        let deadline = Instant::now() + self.options.wait_for_pod;
        loop {
            match resolve(&self.services, &self.pods, &self.target).await {
                Ok(e) => {
                    self.set(Some(e.clone()));
                    self.emit(ForwardEvent::Resolved(e.clone()));
                    return Ok(e);
                }
                Err(err @ (ForwardError::NoReadyPod { .. } | ForwardError::Kube(_)))
                    if Instant::now() < deadline =>
                {
                    tracing::debug!("waiting for a ready pod: {err}");
                    tokio::time::sleep(self.options.poll).await;
                }
                Err(err) => return Err(err),
            }
        }
    }
}

/// Listen on 127.0.0.1:`local_port` (0: any free port) and forward every connection to the
/// target Service. Fails early, with nothing left running, if the port is taken or the Service
/// has no ready pod.
pub async fn start(
    client: Client,
    target: ForwardTarget,
    local_port: u16,
    options: ForwardOptions,
) -> Result<PortForward, ForwardError> {
    crate::init_tls();
    let listener = bind(local_port).await?;
    let addr = listener
        .local_addr()
        .map_err(|source| ForwardError::Listen {
            port: local_port,
            source,
        })?;
    let state = Arc::new(State {
        pods: Api::namespaced(client.clone(), &target.namespace),
        services: Api::namespaced(client, &target.namespace),
        target,
        options,
        endpoint: Mutex::new(None),
        resolving: tokio::sync::Mutex::new(()),
    });
    // Resolve now so a missing Service or pod is an error of `start`, not of the first request.
    let first = resolve(&state.services, &state.pods, &state.target).await?;
    state.set(Some(first.clone()));
    state.emit(ForwardEvent::Resolved(first));
    let task = tokio::spawn(accept_loop(listener, state.clone()));
    Ok(PortForward { addr, state, task })
}

/// Whether the forward could listen on 127.0.0.1:`port` now: `up --forward` asks before any work,
/// so a taken port is refused at once rather than after the apply and the wait.
pub fn check_port(port: u16) -> Result<(), ForwardError> {
    std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))
        .map(drop)
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::AddrInUse => ForwardError::PortInUse { port },
            _ => ForwardError::Listen { port, source },
        })
}

/// Bind 127.0.0.1 only: the forward is for this machine's browser, not the network.
async fn bind(port: u16) -> Result<TcpListener, ForwardError> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port))
        .await
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::AddrInUse => ForwardError::PortInUse { port },
            _ => ForwardError::Listen { port, source },
        })
}

async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let _ = tcp.set_nodelay(true);
                    let state = state.clone();
                    connections.spawn(async move {
                        if let Err(e) = serve(tcp, &state).await {
                            tracing::debug!(%peer, "forwarded connection failed: {e}");
                            state.emit(ForwardEvent::ConnectionFailed(e));
                        }
                    });
                }
                // Out of file descriptors and the like: back off instead of spinning.
                Err(e) => {
                    tracing::warn!("port-forward: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            // Reap finished connections so the set does not grow without bound.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

const COPY_BUF: usize = 64 * 1024;

/// Forward one accepted connection. Opening the forward is retried on a freshly resolved pod
/// when the current one is gone (404) or not running any more (400).
async fn serve(mut tcp: TcpStream, state: &State) -> Result<(), String> {
    const ATTEMPTS: usize = 3;
    let mut last = String::new();
    for _ in 0..ATTEMPTS {
        let endpoint = state.endpoint().await.map_err(|e| e.to_string())?;
        let mut forwarder = match state
            .pods
            .portforward(&endpoint.pod, &[endpoint.port])
            .await
        {
            Ok(f) => f,
            Err(e) => {
                last = format!("port-forward to pod {}: {e}", endpoint.pod);
                state.invalidate(&endpoint);
                continue;
            }
        };
        let (Some(mut upstream), Some(error)) = (
            forwarder.take_stream(endpoint.port),
            forwarder.take_error(endpoint.port),
        ) else {
            return Err("port-forward returned no stream for the port".into());
        };
        let outcome = tokio::select! {
            // 64 KiB buffers (tokio's default is 8 KiB): page assets and uploads move in
            // fewer WebSocket frames.
            copied = tokio::io::copy_bidirectional_with_sizes(&mut tcp, &mut upstream, COPY_BUF, COPY_BUF) => {
                copied.map(|_| ()).map_err(|e| format!("connection to pod {} ended: {e}", endpoint.pod))
            }
            // Only a message ends the copy early; `None` means the forward finished normally
            // and the copy drains what is left.
            Some(message) = error => Err(format!("pod {}: {message}", endpoint.pod)),
        };
        drop(upstream);
        // The WebSocket closes once the stream is dropped; don't hold this task for it.
        tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(5), forwarder.join()).await;
        });
        if outcome.is_err() {
            // The pod may be restarting: let the next connection look again.
            state.invalidate(&endpoint);
        }
        return outcome;
    }
    Err(last)
}

/// Service → ready pod → container port.
pub async fn resolve(
    services: &Api<Service>,
    pods: &Api<Pod>,
    target: &ForwardTarget,
) -> Result<Endpoint, ForwardError> {
    let namespace = &target.namespace;
    let service =
        services
            .get_opt(&target.service)
            .await?
            .ok_or_else(|| ForwardError::ServiceNotFound {
                namespace: namespace.clone(),
                service: target.service.clone(),
            })?;
    let (selector, target_port) = service_backend(&service, target)?;
    let list = pods.list(&ListParams::default().labels(&selector)).await?;
    let pod = pick_ready_pod(list.items).ok_or_else(|| ForwardError::NoReadyPod {
        namespace: namespace.clone(),
        service: target.service.clone(),
        selector: selector.clone(),
    })?;
    let name = pod.metadata.name.clone().unwrap_or_default();
    let port = container_port(&pod, &target_port).ok_or_else(|| match &target_port {
        IntOrString::String(n) => ForwardError::NamedPortMissing {
            namespace: namespace.clone(),
            pod: name.clone(),
            name: n.clone(),
        },
        IntOrString::Int(p) => ForwardError::NoSuchPort {
            namespace: namespace.clone(),
            service: target.service.clone(),
            port: target.port,
            available: format!("target port {p} is out of range"),
        },
    })?;
    Ok(Endpoint { pod: name, port })
}

/// The Service's label selector (as a `k=v,...` string) and the target port of `target.port`.
pub fn service_backend(
    service: &Service,
    target: &ForwardTarget,
) -> Result<(String, IntOrString), ForwardError> {
    let spec = service.spec.clone().unwrap_or_default();
    let selector = spec.selector.unwrap_or_default();
    if selector.is_empty() {
        return Err(ForwardError::NoSelector {
            namespace: target.namespace.clone(),
            service: target.service.clone(),
        });
    }
    let selector = selector
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let ports = spec.ports.unwrap_or_default();
    let Some(port) = ports.iter().find(|p| p.port == i32::from(target.port)) else {
        let available = if ports.is_empty() {
            "none".to_string()
        } else {
            ports
                .iter()
                .map(|p| p.port.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(ForwardError::NoSuchPort {
            namespace: target.namespace.clone(),
            service: target.service.clone(),
            port: target.port,
            available,
        });
    };
    // Kubernetes defaults targetPort to the port itself.
    let target_port = port
        .target_port
        .clone()
        .unwrap_or(IntOrString::Int(port.port));
    Ok((selector, target_port))
}

/// A Running, Ready pod that is not being deleted; the newest first (after a rollout the new pod
/// is the one that stays), then by name so the choice is stable.
pub fn pick_ready_pod(pods: Vec<Pod>) -> Option<Pod> {
    let mut ready: Vec<Pod> = pods.into_iter().filter(is_ready).collect();
    ready.sort_by(|a, b| {
        let created = |p: &Pod| p.metadata.creation_timestamp.clone();
        created(b)
            .cmp(&created(a))
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
    ready.into_iter().next()
}

fn is_ready(pod: &Pod) -> bool {
    if pod.metadata.deletion_timestamp.is_some() {
        return false;
    }
    let Some(status) = &pod.status else {
        return false;
    };
    status.phase.as_deref() == Some("Running")
        && status
            .conditions
            .as_ref()
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// A numeric target port as is; a named one looked up in the pod's containers.
pub fn container_port(pod: &Pod, target: &IntOrString) -> Option<u16> {
    match target {
        IntOrString::Int(p) => u16::try_from(*p).ok().filter(|p| *p > 0),
        IntOrString::String(name) => {
            // A numeric string is a port number, as Kubernetes reads it.
            if let Ok(p) = name.parse::<u16>() {
                return (p > 0).then_some(p);
            }
            pod.spec
                .as_ref()?
                .containers
                .iter()
                .flat_map(|c| c.ports.iter().flatten())
                .find(|p| p.name.as_deref() == Some(name.as_str()))
                .and_then(|p| u16::try_from(p.container_port).ok())
        }
    }
}

/// What answered the gateway check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayCheck {
    pub attempts: u32,
    pub elapsed: Duration,
}

/// GET `{base_url}/nginx-health` until nginx answers `200 ok`, for at most `timeout` (each try
/// bounded to 3 s, 250 ms apart). Only then is the UI really reachable at `base_url`.
pub async fn check_gateway(
    base_url: &str,
    timeout: Duration,
) -> Result<GatewayCheck, ForwardError> {
    let url = format!("{}/nginx-health", base_url.trim_end_matches('/'));
    let started = Instant::now();
    let client = crate::http::client(Duration::from_secs(3)).map_err(|e| {
        ForwardError::GatewayNotAnswering {
            url: url.clone(),
            waited_s: 0,
            last: format!("cannot build an HTTP client: {e}"),
        }
    })?;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let last = match client.get(&url).send().await {
            Ok(resp) => {
                let status = resp.status();
                let body = resp.text().await.unwrap_or_default();
                if status == reqwest::StatusCode::OK && body.trim() == "ok" {
                    return Ok(GatewayCheck {
                        attempts,
                        elapsed: started.elapsed(),
                    });
                }
                let mut shown: String = body.trim().chars().take(80).collect();
                if shown.is_empty() {
                    shown = "(empty body)".into();
                }
                format!("HTTP {status}: {shown}")
            }
            Err(e) => crate::http::describe_error(&e),
        };
        if started.elapsed() + Duration::from_millis(250) >= timeout {
            return Err(ForwardError::GatewayNotAnswering {
                url,
                waited_s: started.elapsed().as_secs_f64().round() as u64,
                last,
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        Container, ContainerPort, PodCondition, PodSpec, PodStatus, ServicePort, ServiceSpec,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    fn pod(name: &str, created_s: i64, ready: bool, deleting: bool) -> Pod {
        let ts = |s| Time(k8s_openapi::jiff::Timestamp::from_second(s).unwrap());
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                creation_timestamp: Some(ts(created_s)),
                deletion_timestamp: deleting.then(|| ts(created_s + 1)),
                ..Default::default()
            },
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "nginx".into(),
                    ports: Some(vec![ContainerPort {
                        name: Some("http".into()),
                        container_port: 8080,
                        ..Default::default()
                    }]),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some("Running".into()),
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: if ready { "True" } else { "False" }.into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn picks_the_newest_ready_pod_not_being_deleted() {
        let pods = vec![
            pod("old", 100, true, false),
            pod("newest-not-ready", 300, false, false),
            pod("terminating", 400, true, true),
            pod("new", 200, true, false),
        ];
        assert_eq!(
            pick_ready_pod(pods)
                .and_then(|p| p.metadata.name)
                .as_deref(),
            Some("new")
        );
        assert!(pick_ready_pod(vec![pod("x", 1, false, false)]).is_none());
        assert!(pick_ready_pod(vec![]).is_none());
    }

    #[test]
    fn named_and_numeric_target_ports() {
        let p = pod("a", 1, true, false);
        assert_eq!(
            container_port(&p, &IntOrString::String("http".into())),
            Some(8080)
        );
        assert_eq!(
            container_port(&p, &IntOrString::String("grpc".into())),
            None
        );
        assert_eq!(container_port(&p, &IntOrString::Int(9000)), Some(9000));
        assert_eq!(
            container_port(&p, &IntOrString::String("81".into())),
            Some(81)
        );
        assert_eq!(container_port(&p, &IntOrString::Int(0)), None);
        assert_eq!(container_port(&p, &IntOrString::Int(70000)), None);
    }

    fn service(selector: &[(&str, &str)], ports: &[(i32, Option<IntOrString>)]) -> Service {
        Service {
            spec: Some(ServiceSpec {
                selector: Some(
                    selector
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                ports: Some(
                    ports
                        .iter()
                        .map(|(p, t)| ServicePort {
                            port: *p,
                            target_port: t.clone(),
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn service_selector_and_target_port() {
        let target = ForwardTarget::gateway("onyx");
        assert_eq!(target.port, 80);
        let svc = service(
            &[
                ("app.kubernetes.io/name", "nginx"),
                ("app.kubernetes.io/part-of", "onyx"),
            ],
            &[(80, Some(IntOrString::String("http".into())))],
        );
        let (sel, port) = service_backend(&svc, &target).unwrap();
        assert_eq!(
            sel,
            "app.kubernetes.io/name=nginx,app.kubernetes.io/part-of=onyx"
        );
        assert_eq!(port, IntOrString::String("http".into()));

        // No targetPort: the port itself.
        let svc = service(&[("a", "b")], &[(80, None)]);
        assert_eq!(
            service_backend(&svc, &target).unwrap().1,
            IntOrString::Int(80)
        );

        let svc = service(&[("a", "b")], &[(443, None), (8443, None)]);
        let err = service_backend(&svc, &target).unwrap_err();
        assert_eq!(
            err.to_string(),
            "service onyx/nginx has no port 80 (it has: 443, 8443)"
        );
        let svc = service(&[], &[(80, None)]);
        assert!(matches!(
            service_backend(&svc, &target),
            Err(ForwardError::NoSelector { .. })
        ));
    }

    #[test]
    fn port_in_use_names_the_port_and_the_flag() {
        let err = ForwardError::PortInUse { port: 3000 };
        assert_eq!(err.to_string(), "port 3000 on 127.0.0.1 is already in use");
        let hint = err.hint().unwrap();
        assert!(hint.contains("--port") && hint.contains("3000"), "{hint}");
    }
}
