//! Talking to a Kubernetes cluster: the connection (kubeconfig, context, namespace) and the steps
//! of `onyx up` that run against it.
//!
//! 1. [`connect`]: load the kubeconfig (`--kubeconfig`, else `KUBECONFIG`, else `~/.kube/config`),
//!    pick the context (`--context`, else the current one), check that the API answers and that we
//!    may use the namespace (`-n`, else the context's), creating the namespace when it is missing
//!    (labelled with the stack's Pod Security level, [`POD_SECURITY_LEVEL`]).
//! 2. [`apply`]: server-side apply of the rendered objects, layer by layer.
//! 3. [`rollout`]: watch every workload until it is rolled out, reporting per-service progress.
//! 4. [`diagnose`]: when a service fails or times out, say why from pods, events and logs.
//! 5. [`stack`]: the day-2 view of an installed stack (status, scale, restart, remove).
//!
//! Beside them: [`exec`] runs a command in one of the stack's pods (doctor, backup), and
//! [`forward`] exposes the gateway on 127.0.0.1 for clusters onyx did not create.

pub mod apply;
pub mod diagnose;
pub mod exec;
pub mod forward;
pub mod rollout;
pub mod stack;
pub mod workers;

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// How long the first answer from the API may take before we call it unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// The Pod Security level every pod of the stack meets: `baseline`, not `restricted` (two
/// containers run as root); tests/it/contracts/pod_security.rs computes it from the rendered pods
/// and checks this constant against it.
pub const POD_SECURITY_LEVEL: &str = "baseline";

/// The labels a namespace onyx creates gets (never one that exists: that is the user's): the
/// stack's level enforced, and also warned and audited, since `enforce` checks only Pods while
/// `warn` and `audit` check workload templates too, so a Deployment whose pods would be refused
/// is named at apply (kubernetes staging/src/k8s.io/pod-security-admission/: api/constants.go
/// for the label names, admission/admission.go `ValidatePodController`, which evaluates a
/// workload only for warn and audit; read at the default branch, commit 3a53ab6e, not at the
/// node's v1.36.1 tag).
pub fn pod_security_labels() -> std::collections::BTreeMap<String, String> {
    ["enforce", "warn", "audit"]
        .iter()
        .map(|mode| {
            (
                format!("pod-security.kubernetes.io/{mode}"),
                POD_SECURITY_LEVEL.to_string(),
            )
        })
        .collect()
}

/// A cluster to work in: a client, the namespace, and the names used in messages.
#[derive(Clone)]
pub struct Target {
    pub client: Client,
    pub namespace: String,
    /// The kubeconfig context (for messages).
    pub context: String,
    /// The API server URL (for messages).
    pub server: String,
    /// What the context points at, as its names tell.
    pub kind: crate::cluster::detect::ClusterKind,
    /// [`connect`] created the namespace just now, so nothing of the stack can be in it yet.
    pub created_namespace: bool,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("namespace", &self.namespace)
            .field("context", &self.context)
            .field("server", &self.server)
            .finish()
    }
}

/// What went wrong with the cluster, in words a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    /// No usable kubeconfig or context.
    #[error("cannot use the kubeconfig{}: {message}", path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
    Config {
        path: Option<PathBuf>,
        message: String,
    },

    /// The API server did not answer.
    #[error("the Kubernetes API of context {context:?} at {server} does not answer: {message}")]
    Unreachable {
        context: String,
        server: String,
        message: String,
    },

    /// The API answered at first, then stopped answering for longer than the wait's grace
    /// ([`rollout::API_GRACE`]) while `up` waited for the stack.
    #[error(
        "the Kubernetes API of context {context:?} at {server} stopped answering while onyx waited for the stack (no answer for {}s: {message})",
        after.as_secs()
    )]
    Lost {
        context: String,
        server: String,
        after: Duration,
        message: String,
    },

    /// The API answered 401/403.
    #[error("context {context:?} at {server} may not {action}: {message}")]
    Forbidden {
        context: String,
        server: String,
        action: String,
        message: String,
    },

    /// An API call failed (after retries where it was worth retrying).
    #[error("{action}: {message}")]
    Api { action: String, message: String },

    /// One or more services did not become ready; the text holds the diagnosis.
    #[error("{summary}\n{details}")]
    NotReady {
        summary: String,
        details: String,
        hint: String,
    },

    /// The stack is not installed in this namespace.
    #[error("no Onyx stack in namespace {namespace:?} of context {context:?}")]
    NotInstalled { namespace: String, context: String },

    /// onyx's own cluster was asked for, and its node is stopped or gone.
    #[error("onyx's own cluster is {state} (node {node})")]
    OwnCluster {
        node: String,
        state: OwnClusterState,
    },

    /// The stack is in a state where this can't be done (a stopped service restarted, the
    /// previous run of a container that never restarted); the hint says what to do instead.
    #[error("{message}")]
    State { message: String, hint: String },
}

/// Why onyx's own cluster can't be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnClusterState {
    /// The node container exists but is not running (`onyx down` stops it).
    Stopped,
    /// There is no node container.
    Missing,
}

impl std::fmt::Display for OwnClusterState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OwnClusterState::Stopped => "stopped",
            OwnClusterState::Missing => "not there",
        })
    }
}

impl KubeError {
    /// The kind of failure (its exit code).
    pub fn class(&self) -> crate::exit::Class {
        use crate::exit::Class;
        match self {
            KubeError::Config { .. } => Class::Usage,
            KubeError::NotReady { .. } | KubeError::NotInstalled { .. } => Class::Failed,
            _ => Class::Refused,
        }
    }

    pub fn hint(&self) -> Option<String> {
        match self {
            KubeError::Config { .. } => Some(
                "pass --kubeconfig FILE and/or --context NAME (`kubectl config get-contexts` lists them)"
                    .into(),
            ),
            KubeError::Unreachable { context, .. } => Some(format!(
                "check that the cluster is running and that `kubectl --context {} get ns` works; \
                 or pick another context with --context",
                crate::ui::shell_quote(context)
            )),
            KubeError::Lost { context, .. } => Some(format!(
                "nothing was torn down: once the cluster answers again (`kubectl --context {} get ns`), \
                 run `onyx up` again to resume",
                crate::ui::shell_quote(context)
            )),
            KubeError::Forbidden { .. } => Some(
                "ask for rights to the namespace, or use another one with -n NS".into(),
            ),
            KubeError::Api { .. } => None,
            KubeError::NotReady { hint, .. } | KubeError::State { hint, .. } => Some(hint.clone()),
            KubeError::NotInstalled { .. } => {
                Some("install it with `onyx up` (or pass the -n/--context it was installed with)".into())
            }
            KubeError::OwnCluster { state, .. } => Some(match state {
                OwnClusterState::Stopped => {
                    "`onyx up` starts it again with its data (`onyx down` stopped it)".into()
                }
                OwnClusterState::Missing => {
                    "`onyx up` makes one; or pass --context NAME for another cluster".into()
                }
            }),
        }
    }
}

/// Where to connect, as the user gave it.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub namespace: Option<String>,
}

/// Load the kubeconfig and build a client for the chosen context (no request is sent yet).
pub async fn client_for(opts: &ConnectOptions) -> Result<Target, KubeError> {
    // Two TLS crypto providers are linked in (ring through kube, aws-lc-rs through others);
    // rustls then wants one chosen explicitly. Already chosen: fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kubeconfig = match &opts.kubeconfig {
        Some(path) => Kubeconfig::read_from(path).map_err(|e| KubeError::Config {
            path: Some(path.clone()),
            message: kubeconfig_error(&e, false),
        })?,
        None => Kubeconfig::read().map_err(|e| KubeError::Config {
            path: None,
            message: kubeconfig_error(&e, true),
        })?,
    };
    let context = crate::cluster::detect::choose_context(&kubeconfig, opts.context.as_deref())
        .map_err(|message| KubeError::Config {
            path: opts.kubeconfig.clone(),
            message,
        })?;
    let options = KubeConfigOptions {
        context: Some(context.clone()),
        ..Default::default()
    };
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|e| KubeError::Config {
            path: opts.kubeconfig.clone(),
            message: e.to_string(),
        })?;
    config.connect_timeout = Some(CONNECT_TIMEOUT);
    config.read_timeout = None;
    // A plain-HTTP API (`kubectl proxy`, a local simulator) needs no trust store, but with no CA
    // in the kubeconfig the client would load and parse the system's hundreds of root
    // certificates anyway: an empty CA list skips that.
    if config.cluster_url.scheme_str() == Some("http") && config.root_cert.is_none() {
        config.root_cert = Some(Vec::new());
    }
    let server = config
        .cluster_url
        .to_string()
        .trim_end_matches('/')
        .to_string();
    let namespace = opts
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let client = Client::try_from(config).map_err(|e| KubeError::Config {
        path: opts.kubeconfig.clone(),
        message: e.to_string(),
    })?;
    Ok(Target {
        kind: crate::cluster::detect::kind_of(&context, &server),
        client,
        namespace,
        context,
        server,
        created_namespace: false,
    })
}

/// Connect and check the API answers; with `create_namespace`, make the namespace if missing.
pub async fn connect(opts: &ConnectOptions, create_namespace: bool) -> Result<Target, KubeError> {
    let mut target = client_for(opts).await?;
    // A dropped connection or a 5xx gets another try; a server that is not there fails fast.
    let version = tokio::time::timeout(
        CONNECT_TIMEOUT,
        retry(4, || target.client.apiserver_version()),
    )
    .await;
    match version {
        Err(_) => return Err(target.unreachable(format!("no answer within {CONNECT_TIMEOUT:?}"))),
        Ok(Err(e)) => return Err(target.classify("reach the API", e)),
        Ok(Ok(_)) => {}
    }
    let namespaces: Api<Namespace> = Api::all(target.client.clone());
    match retry(6, || namespaces.get_opt(&target.namespace)).await {
        Ok(Some(_)) => {}
        Ok(None) if create_namespace => {
            let ns = Namespace {
                metadata: kube::api::ObjectMeta {
                    name: Some(target.namespace.clone()),
                    labels: Some(pod_security_labels()),
                    ..Default::default()
                },
                ..Default::default()
            };
            let pp = PostParams::default();
            match retry(6, || namespaces.create(&pp, &ns)).await {
                Ok(_) => target.created_namespace = true,
                // Made by someone else meanwhile: it may hold anything.
                Err(kube::Error::Api(s)) if s.code == 409 => {}
                Err(e) => {
                    return Err(
                        target.classify(&format!("create namespace {}", target.namespace), e)
                    );
                }
            }
        }
        Ok(None) => {
            return Err(KubeError::NotInstalled {
                namespace: target.namespace.clone(),
                context: target.context.clone(),
            });
        }
        // Some users may not read namespaces at all but may work inside theirs: go on.
        Err(kube::Error::Api(s)) if s.code == 403 => {}
        Err(e) => return Err(target.classify("read namespaces", e)),
    }
    Ok(target)
}

impl Target {
    fn unreachable(&self, message: String) -> KubeError {
        KubeError::Unreachable {
            context: self.context.clone(),
            server: self.server.clone(),
            message,
        }
    }

    /// Turn a client error into the user-facing kind: unreachable, forbidden, or an API failure.
    pub fn classify(&self, action: &str, e: kube::Error) -> KubeError {
        match e {
            kube::Error::Api(s) if s.code == 401 || s.code == 403 => KubeError::Forbidden {
                context: self.context.clone(),
                server: self.server.clone(),
                action: action.to_string(),
                message: s.message.clone(),
            },
            kube::Error::Api(s) => KubeError::Api {
                action: format!("cannot {action}"),
                message: if s.message.is_empty() {
                    format!("HTTP {}", s.code)
                } else {
                    format!("{} (HTTP {})", s.message, s.code)
                },
            },
            other if is_transient(&other) => self.unreachable(plain_error(&other)),
            other => KubeError::Api {
                action: format!("cannot {action}"),
                message: other.to_string(),
            },
        }
    }
}

/// A kubeconfig that can't be read, in plain words: kube's own message quotes the path twice
/// (`'"/home/me/.kube/config"'`) and names the OS error code. `name_path`: the message does not
/// already name the file (the default one, found by kube).
fn kubeconfig_error(e: &kube::config::KubeconfigError, name_path: bool) -> String {
    use kube::config::KubeconfigError;
    match e {
        KubeconfigError::ReadConfig(io, path) => {
            let why = match io.kind() {
                std::io::ErrorKind::NotFound => "there is no such file".to_string(),
                std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
                kind => kind.to_string(),
            };
            if name_path {
                format!("cannot read {}: {why}", path.display())
            } else {
                why
            }
        }
        KubeconfigError::FindPath => {
            "no kubeconfig: KUBECONFIG is unset and there is no ~/.kube/config".into()
        }
        other => other.to_string(),
    }
}

/// A client error in plain words ([`crate::text::plain_error`]).
pub fn plain_error(e: &(dyn std::error::Error + 'static)) -> String {
    crate::text::plain_error(e)
}

/// Errors worth another try: server errors, throttling, and connections that broke.
pub fn is_transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => s.code >= 500 || s.code == 429,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// Run `op` until it succeeds or fails for a reason another try won't fix; backoff doubles from
/// 100 ms, at most `tries` attempts.
pub async fn retry<T, F, Fut>(tries: u32, mut op: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    let mut delay = Duration::from_millis(100);
    let mut attempt = 1;
    loop {
        match op().await {
            Err(e) if attempt < tries && is_transient(&e) => {
                tracing::debug!("transient API error (try {attempt} of {tries}): {e}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(3));
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// The path in messages: a kubeconfig given explicitly.
pub fn describe_kubeconfig(path: Option<&Path>) -> String {
    path.map(|p| p.display().to_string())
        .unwrap_or_else(|| "the default kubeconfig".into())
}
