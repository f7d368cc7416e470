//! Errors a user can act on, each with a `hint:` that says what to do next, and the kind of
//! failure ([`Class`], [`crate::exit`]) that decides the exit code; a domain error says its own.
//! Unexpected failures stay `anyhow`-style internal errors with their own exit code.

use std::path::PathBuf;
use std::process::ExitCode;

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub use crate::exit::{
    Class, EXIT_FAILED, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_REFUSED, EXIT_USAGE,
};

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
    Llm(#[from] crate::llm::LlmError),
    /// The Kubernetes cluster, or the stack in it.
    #[error(transparent)]
    Kube(#[from] crate::kube::KubeError),

    /// The user pressed Ctrl-C ([`crate::runtime::Runtime::interruptible`], the one place it
    /// is made); `command` is what to run again (`up`, `images pull`).
    #[error("interrupted")]
    Interrupted { command: &'static str },

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
            // Every step checks before it acts (images already pulled are skipped, objects are
            // applied again), so the same command finishes the work.
            Error::Interrupted { command } => Some(format!("run `onyx {command}` again to finish")),
            Error::Io(_) | Error::Internal(_) => None,
        }
    }

    /// The kind of failure: this error's own, or the domain error's (each domain says its
    /// own next to its hint).
    pub fn class(&self) -> Class {
        match self {
            Error::Config { .. } | Error::ConfigMissing { .. } | Error::Input { .. } => {
                Class::Usage
            }
            Error::TooSmall { .. }
            | Error::DiskFull { .. }
            | Error::Environment { .. }
            | Error::Refused { .. } => Class::Refused,
            Error::Failed { .. } => Class::Failed,
            Error::Docker(e) => e.class(),
            Error::Cluster(e) => e.class(),
            Error::Forward(e) => e.class(),
            Error::Llm(e) => e.class(),
            Error::Kube(e) => e.class(),
            Error::Interrupted { .. } => Class::Interrupted,
            Error::Io(_) | Error::Internal(_) => Class::Internal,
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.class().exit_code())
    }

    /// True when the error is, or was caused by, a closed stdout (`onyx render | head`): not a
    /// failure. The whole chain of causes is walked, as ripgrep's `crates/core/main.rs` does, so
    /// a broken pipe wrapped by a domain error still counts.
    pub fn is_broken_pipe(&self) -> bool {
        // `transparent` variants hand `source()` on to their inner error's cause, so the
        // top-level I/O error is looked at by itself first.
        if let Error::Io(e) = self
            && e.kind() == std::io::ErrorKind::BrokenPipe
        {
            return true;
        }
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(e) = cause {
            if let Some(io) = e.downcast_ref::<std::io::Error>()
                && io.kind() == std::io::ErrorKind::BrokenPipe
            {
                return true;
            }
            cause = e.source();
        }
        false
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pipe() -> std::io::Error {
        std::io::Error::from(std::io::ErrorKind::BrokenPipe)
    }

    #[test]
    fn a_broken_pipe_anywhere_in_the_chain_is_not_a_failure() {
        assert!(Error::Io(pipe()).is_broken_pipe());
        assert!(Error::Internal(anyhow::Error::new(pipe()).context("writing")).is_broken_pipe());
        assert!(!Error::Io(std::io::Error::other("disk")).is_broken_pipe());
        assert!(!Error::input("bad", "fix it").is_broken_pipe());
    }

    #[test]
    fn ctrl_c_has_one_message_and_one_hint_naming_the_command() {
        let e = Error::Interrupted {
            command: "images pull",
        };
        assert_eq!(e.to_string(), "interrupted");
        assert_eq!(
            e.hint().as_deref(),
            Some("run `onyx images pull` again to finish")
        );
        assert_eq!(e.exit_code(), ExitCode::from(EXIT_INTERRUPTED));
    }

    #[test]
    fn classes_keep_the_exit_codes() {
        use crate::docker::DockerError;
        assert_eq!(Error::input("a", "b").class().exit_code(), EXIT_USAGE);
        let interrupted = Error::Interrupted { command: "up" };
        assert_eq!(interrupted.class(), Class::Interrupted);
        assert_eq!(interrupted.class().exit_code(), EXIT_INTERRUPTED);
        assert_eq!(
            Error::Docker(DockerError::Io(pipe())).class(),
            Class::Internal
        );
        assert_eq!(
            Error::Cluster(crate::cluster::kind::ClusterError::Docker(DockerError::Io(
                pipe()
            )))
            .class(),
            Class::Internal
        );
    }
}
