//! Talking to the Kubernetes cluster the stack runs on.

pub mod forward;
