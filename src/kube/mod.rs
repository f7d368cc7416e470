//! Talking to a Kubernetes cluster: running commands in the stack's pods ([`exec`]).
pub mod exec;
