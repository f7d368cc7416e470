//! onyx's own local cluster: one kind-compatible node container made straight through the Docker
//! API. This module holds the parts that need no engine — the node container's spec
//! ([`node`]), the kubeadm config it boots with ([`kubeadm`]) and the merge of its kubeconfig into
//! the user's ([`kubeconfig`]) — so they are pure and tested on their own.

pub mod kubeadm;
pub mod kubeconfig;
pub mod node;

/// The cluster's name: kind's `io.x-k8s.kind.cluster` label value, so `kind get clusters` lists it.
pub const CLUSTER_NAME: &str = "onyx";
/// The kubeconfig context (and cluster and user) name, as kind would name it.
pub const CONTEXT_NAME: &str = "kind-onyx";
