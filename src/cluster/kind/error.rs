//! What goes wrong with the own cluster, each error with a hint that says what to do.

use std::path::PathBuf;

use crate::cluster::Step;
use crate::docker::DockerError;

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

    /// The node exists but its boot never finished (no admin.conf).
    #[error(
        "the node {node} of cluster {cluster} was never fully made (no /etc/kubernetes/admin.conf: \
         its create was interrupted, or it was kept by --retain after a failure)"
    )]
    HalfMade { cluster: String, node: String },

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

    /// The kubeconfig (lock held, broken file): the message and hint of the kubeconfig's own
    /// error, kept as text so this domain does not depend on the top-level error.
    #[error("{message}")]
    Kubeconfig {
        message: String,
        hint: Option<String>,
    },
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
    /// The kind of failure (its exit code). The engine's own errors count as internal here,
    /// except a missing engine (refused).
    pub fn class(&self) -> crate::exit::Class {
        use crate::exit::Class;
        match self {
            ClusterError::NotFound(_) => Class::Usage,
            // README: "a UI port already in use" is bad input (the user picks the port); the API
            // server's port, which onyx picks itself, taken meanwhile, is not.
            ClusterError::PortTaken { what, .. } if what.contains("UI port") => Class::Usage,
            ClusterError::Docker(
                DockerError::NoEngine { .. } | DockerError::NamedEngine { .. },
            ) => Class::Refused,
            ClusterError::Docker(_) => Class::Internal,
            _ => Class::Refused,
        }
    }

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
            ClusterError::HalfMade { cluster, node } => Some(format!(
                "remove it with `onyx cluster delete{}` (the data directory stays), then run the \
                 command again to make it afresh; to look inside first: `docker logs {node}`",
                if cluster == crate::cluster::CLUSTER_NAME {
                    String::new()
                } else {
                    format!(" --name {cluster}")
                }
            )),
            ClusterError::Purge { dir, .. } => Some(format!(
                "files in it may belong to the users the pods ran as: remove it with `sudo rm -rf \
                 {}`",
                dir.display()
            )),
            ClusterError::Docker(e) => e.hint(),
            ClusterError::Kubeconfig { hint, .. } => hint.clone(),
        }
    }
}
