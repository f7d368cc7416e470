//! Talking to the Kubernetes cluster the stack runs on: running commands in the stack's pods
//! ([`exec`]) and exposing its gateway on 127.0.0.1 ([`forward`]).

pub mod exec;
pub mod forward;
