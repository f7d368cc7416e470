//! Errors a user can act on, each with a `hint:` that says what to do next, and the exit codes
//! they map to. Unexpected failures stay `anyhow`-style internal errors with their own exit code.

use std::path::PathBuf;
use std::process::ExitCode;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Exit code for bad input: flags, config, files the user gave us (clap uses 2 as well).
pub const EXIT_USAGE: u8 = 2;
/// Exit code when the environment can't run the stack (too little memory, ...).
pub const EXIT_REFUSED: u8 = 3;
/// Exit code when the stack did not come up (a diagnosis was printed), or is not installed.
pub const EXIT_FAILED: u8 = 1;
/// Exit code after Ctrl-C (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: u8 = 130;
/// Exit code for an unexpected internal failure (a bug, or an I/O error we didn't foresee).
pub const EXIT_INTERNAL: u8 = 70;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The config file exists but can't be used.
    #[error("invalid config file {path}:\n{message}")]
    Config { path: PathBuf, message: String },

    /// A config file named explicitly (flag or ONYX_CONFIG) that isn't there.
    #[error("config file {path} does not exist")]
    ConfigMissing { path: PathBuf },

    /// A value the user gave (flag, env, file) that we can't accept.
    #[error("{message}")]
    Input { message: String, hint: String },

    /// A step onyx will not take on this stack (a downgrade; an upgrade whose backup failed).
    #[error("{message}")]
    Refused { message: String, hint: String },

    /// The machine (this host, the Docker engine's VM, or one given to `plan`) is too small for
    /// the profile.
    #[error("{machine} has {have}, but the {profile} profile needs {need}")]
    TooSmall {
        /// "this machine", "the Docker engine", "the given machine".
        machine: String,
        profile: String,
        have: String,
        need: String,
        hint: String,
    },

    /// The machine, the network or the cluster can't do what was asked (exit 3): not the
    /// input's fault, and not a failed check either.
    #[error("{message}")]
    Environment { message: String, hint: String },

    /// A job onyx ran failed (exit 1), e.g. `pg_dump` in the PostgreSQL pod.
    #[error("{message}")]
    Failed { message: String, hint: String },

    /// Too little free disk where the engine keeps images.
    #[error("only {free} free at {path}, but the images need {need}")]
    DiskFull {
        path: String,
        free: String,
        need: String,
    },

    /// The Docker engine or the images in it.
    #[error(transparent)]
    Docker(#[from] crate::docker::DockerError),

    /// onyx's own cluster (the node container and its boot).
    #[error(transparent)]
    Cluster(#[from] crate::cluster::kind::ClusterError),
    /// Exposing the stack on 127.0.0.1 (port-forward, gateway check).
    #[error(transparent)]
    Forward(#[from] crate::kube::forward::ForwardError),

    /// Configuring the LLM provider through Onyx's API.
    #[error(transparent)]
    Llm(#[from] crate::stack::llm::LlmError),
    /// The Kubernetes cluster, or the stack in it.
    #[error(transparent)]
    Kube(#[from] crate::kube::KubeError),

    #[error(transparent)]
    Io(#[from] std::io::Error),

    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl Error {
    pub fn input(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Input {
            message: message.into(),
            hint: hint.into(),
        }
    }

    /// The environment can't do it (exit 3).
    pub fn environment(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Environment {
            message: message.into(),
            hint: hint.into(),
        }
    }

    /// A job onyx ran failed (exit 1).
    pub fn failed(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Failed {
            message: message.into(),
            hint: hint.into(),
        }
    }

    /// What the user can do about it, if we know.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Config { path, .. } => Some(format!(
                "fix or remove {}; `onyx --help` lists the settings it may hold",
                path.display()
            )),
            Error::ConfigMissing { .. } => Some(format!(
                "create the file, or unset {} / drop --config to use the default location",
                crate::env_vars::ONYX_CONFIG
            )),
            Error::Input { hint, .. }
            | Error::Refused { hint, .. }
            | Error::TooSmall { hint, .. }
            | Error::Environment { hint, .. }
            | Error::Failed { hint, .. } => Some(hint.clone()),
            Error::DiskFull { .. } => Some(
                "free disk space (e.g. `docker system prune`), or give the Docker engine (or its \
                 VM) a bigger disk"
                    .into(),
            ),
            Error::Docker(e) => e.hint(),
            Error::Cluster(e) => e.hint(),
            Error::Forward(e) => e.hint(),
            Error::Llm(e) => e.hint(),
            Error::Kube(e) => e.hint(),
            Error::Io(_) | Error::Internal(_) => None,
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Error::Config { .. } | Error::ConfigMissing { .. } | Error::Input { .. } => EXIT_USAGE,
            Error::TooSmall { .. }
            | Error::DiskFull { .. }
            | Error::Environment { .. }
            | Error::Refused { .. } => EXIT_REFUSED,
            Error::Failed { .. } => EXIT_FAILED,
            Error::Docker(crate::docker::DockerError::Interrupted) => EXIT_INTERRUPTED,
            Error::Docker(crate::docker::DockerError::BadBundle { .. }) => EXIT_USAGE,
            Error::Docker(
                crate::docker::DockerError::Engine(_) | crate::docker::DockerError::Io(_),
            ) => EXIT_INTERNAL,
            Error::Docker(_) => EXIT_REFUSED,
            Error::Cluster(crate::cluster::kind::ClusterError::Docker(
                crate::docker::DockerError::Interrupted,
            )) => EXIT_INTERRUPTED,
            Error::Cluster(crate::cluster::kind::ClusterError::NotFound(_)) => EXIT_USAGE,
            // README: "a UI port already in use" is bad input (the user picks the port); the API
            // server's port, which onyx picks itself, taken meanwhile, is not.
            Error::Cluster(crate::cluster::kind::ClusterError::PortTaken { what, .. })
                if what.contains("UI port") =>
            {
                EXIT_USAGE
            }
            Error::Cluster(crate::cluster::kind::ClusterError::Docker(
                crate::docker::DockerError::NoEngine { .. }
                | crate::docker::DockerError::NamedEngine { .. },
            )) => EXIT_REFUSED,
            Error::Cluster(crate::cluster::kind::ClusterError::Docker(_)) => EXIT_INTERNAL,
            Error::Cluster(_) => EXIT_REFUSED,
            Error::Forward(crate::kube::forward::ForwardError::PortInUse { .. })
            | Error::Llm(
                crate::stack::llm::LlmError::KeyEnvMissing { .. }
                | crate::stack::llm::LlmError::BadUrl { .. }
                | crate::stack::llm::LlmError::ModelMissing { .. },
            ) => EXIT_USAGE,
            Error::Forward(_) | Error::Llm(_) => EXIT_REFUSED,
            Error::Kube(crate::kube::KubeError::Interrupted) => EXIT_INTERRUPTED,
            Error::Kube(crate::kube::KubeError::Config { .. }) => EXIT_USAGE,
            Error::Kube(
                crate::kube::KubeError::NotReady { .. }
                | crate::kube::KubeError::NotInstalled { .. },
            ) => EXIT_FAILED,
            Error::Kube(_) => EXIT_REFUSED,
            Error::Io(_) | Error::Internal(_) => EXIT_INTERNAL,
        })
    }

    /// True when the error is a closed stdout (`onyx render | head`): not a failure.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Io(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

impl From<crate::stack::profile::Refusal> for Error {
    fn from(r: crate::stack::profile::Refusal) -> Self {
        Error::TooSmall {
            machine: "this machine".into(),
            profile: r.profile.to_string(),
            have: r.have,
            need: r.need,
            hint: r.hint,
        }
    }
}
