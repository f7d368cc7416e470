//! onyx's integration tests, as one test binary (one link instead of one per file; ripgrep's
//! `tests/tests.rs`, uv's `tests/it/`). Each module is what was once a file of its own under
//! `tests/`; `support` holds what they share: the `onyx` command with an isolated home
//! ([`support::cmd`]), the simulator with its kubeconfig ([`support::sim`]), the skip gate for
//! missing real parts, the Docker parts and the fake node.
//!
//! All tests share one process here: nothing may set process-wide state (environment variables,
//! the current directory) or take a fixed name without the lock in [`support`] that says so.
//! Run one module with `cargo test --test it up::` (a filter on the module path).
// Skips and timings are reported on stderr, past the test harness's capture.
#![allow(clippy::print_stderr)]

mod support;

mod backup;
mod cli;
mod cluster_kind;
mod contracts;
mod contracts_workers;
mod docker_cli;
mod docker_images;
mod doctor;
mod doctor_workers;
mod envelope;
mod forward;
mod k8s_sim_kubectl;
mod llm;
mod manifests;
mod nginx_gateway;
mod node_images;
mod packaging;
mod pipeline;
mod self_update;
mod skips;
mod up;
mod up_own_cluster;
mod up_workers;
mod upgrade;
