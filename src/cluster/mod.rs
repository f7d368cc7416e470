//! onyx's own local cluster: one kind-compatible node container made straight through the Docker
//! API. The parts that need no engine — the node container's spec ([`node`]), the kubeadm config
//! it boots with ([`kubeadm`]) and the merge of its kubeconfig into the user's ([`kubeconfig`]) —
//! are pure and tested on their own, as are [`detect`] (which cluster a kubeconfig context points
//! at) and [`host`] (the engine facts that shape the node, gathered once); [`kind`] provisions and
//! boots the node through the engine, and [`node_images`] puts the stack's images into it.
//!
//! Progress of the boot is reported step by step through [`StepReporter`]; only the UI draws it.

pub mod credentials;
pub mod detect;
pub mod dry_run;
pub mod host;
pub mod kind;
pub mod kubeadm;
pub mod kubeconfig;
pub mod node;
pub mod node_images;
pub mod own;

/// The default cluster's name: kind's `io.x-k8s.kind.cluster` label value, so `kind get clusters`
/// lists it.
pub const CLUSTER_NAME: &str = "onyx";
/// The default cluster's kubeconfig context (and cluster and user) name, as kind would name it.
pub const CONTEXT_NAME: &str = "kind-onyx";

/// The node container's name (and hostname) for a cluster, as kind names a control plane.
pub fn node_name(cluster: &str) -> String {
    format!("{cluster}-control-plane")
}

/// The kubeconfig context for a cluster, as kind names it.
pub fn context_name(cluster: &str) -> String {
    format!("kind-{cluster}")
}

/// A cluster name must make valid container, host and kubeconfig names: lowercase letters, digits
/// and `-`, starting with a letter, at most 40 characters (kind's own rule is similar).
pub fn validate_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a usable cluster name (lowercase letters, digits and '-', starting \
             with a letter, at most 40 characters)"
        ))
    }
}

/// One step of making or starting the node, in the order they run (and compare).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// The Docker network `kind` (created if missing).
    Network,
    /// The node container.
    CreateNode,
    StartNode,
    /// systemd inside the node reached the multi-user target.
    WaitSystemd,
    /// The kubeadm config written to `/kind/kubeadm.conf`.
    WriteKubeadmConfig,
    KubeadmInit,
    RemoveTaint,
    InstallCni,
    InstallStorage,
    WaitReady,
    /// The cluster's entries merged into the user's kubeconfig.
    Kubeconfig,
}

impl Step {
    /// What the user reads.
    pub fn title(self) -> &'static str {
        match self {
            Step::Network => "network",
            Step::CreateNode => "create node container",
            Step::StartNode => "start node",
            Step::WaitSystemd => "wait for systemd",
            Step::WriteKubeadmConfig => "write kubeadm config",
            Step::KubeadmInit => "kubeadm init",
            Step::RemoveTaint => "remove control-plane taint",
            Step::InstallCni => "install CNI",
            Step::InstallStorage => "install storage",
            Step::WaitReady => "wait for node Ready",
            Step::Kubeconfig => "merge kubeconfig",
        }
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.title())
    }
}

/// What happened to one step: `Start`, then `Done` or `Failed`; or `Skipped` alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepEvent {
    Start,
    Done,
    /// Not needed (e.g. the network exists, the node is already running); says why.
    Skipped(String),
    /// Ended without what it waited for, and that is not fatal (kind's Ready timeout); says why.
    Warned(String),
    Failed(String),
}

/// Receives the boot's progress; the UI draws it, tests record it.
pub trait StepReporter: Send + Sync {
    fn step(&self, step: Step, event: StepEvent);
    /// A one-off message (e.g. "reusing the running node").
    fn message(&self, text: &str);
}

/// Drops everything.
pub struct SilentSteps;

impl StepReporter for SilentSteps {
    fn step(&self, _: Step, _: StepEvent) {}
    fn message(&self, _: &str) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_kind() {
        assert_eq!(node_name(CLUSTER_NAME), "onyx-control-plane");
        assert_eq!(context_name(CLUSTER_NAME), CONTEXT_NAME);
        assert!(validate_name("onyx").is_ok());
        assert!(validate_name("t-1234-ab").is_ok());
        for bad in ["", "Onyx", "1abc", "a_b", "a-", "a.b", &"a".repeat(41)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }
}
