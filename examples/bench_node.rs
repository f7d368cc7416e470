//! Benchmark helper (not a test): makes the stand-in node of onyx's own cluster for
//! `scripts/bench-cold-up.sh`, so a cold `onyx up` (and the seed's way) can run against it.
//!
//! A privileged container can't start on these machines, so — as tests/it/up_own_cluster.rs does —
//! the node is made here, by the library, from the product's node spec with only the privilege
//! fields changed (`tests/it/support/fake_node.rs` `runnable_here`), and `onyx up` finds and reuses
//! it. Its image is the stand-in kind node with the Kubernetes API simulator as API server
//! (`fake_node::build_with_api`); `K8S_SIM_FLAGS` (from this process's environment) is put into
//! the node's environment, where the stand-in's `start-api` passes it to the simulator (the
//! bench's readiness delays).
//!
//! Usage: `bench_node K8S_SIM_BINARY KUBECONFIG DATA_DIR` → prints the node's name and its image
//! (one line each) once it is Ready. The caller removes the container and the image.

// A helper of a benchmark script: its answer is its stdout.
#![allow(clippy::print_stdout)]

/// The parts of the integration tests' support this needs (the Docker helpers and the fake node).
#[allow(dead_code)]
#[path = "../tests/it/support"]
mod test_support {
    pub mod bounded;
    pub mod docker;
    pub mod fake_node;
    pub mod gate;
    pub mod image_tar;
    pub use gate::{Part, required, skipped};
}

use test_support::docker as support;
use test_support::fake_node;

use std::path::PathBuf;
use std::time::Duration;

use onyx::cluster::kind::{self, CreateOptions, Timeouts};
use onyx::cluster::node::{self, NodeOptions, node_spec};
use onyx::cluster::{self, Step, StepEvent, StepReporter};

struct Quiet;
impl StepReporter for Quiet {
    fn step(&self, _: Step, _: StepEvent) {}
    fn message(&self, _: &str) {}
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    onyx::init_tls();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [sim, kubeconfig, data] = args.as_slice() else {
        anyhow::bail!("usage: bench_node K8S_SIM_BINARY KUBECONFIG DATA_DIR");
    };
    let docker = support::engine("bench_node")
        .await
        .ok_or_else(|| anyhow::anyhow!("no Docker engine"))?;
    let name = cluster::node_name(cluster::CLUSTER_NAME);
    if kind::inspect(&docker, &name).await?.is_some() {
        anyhow::bail!("a node {name} exists on this engine already; the bench leaves it alone");
    }
    let cleanup = support::Cleanup::new(&docker);
    let image = fake_node::build_with_api(
        &docker,
        &cleanup,
        &support::unique("bench-node"),
        std::path::Path::new(sim),
    )
    .await;
    // The image stays for the node; the script removes both.
    std::mem::forget(cleanup);
    let host = onyx::cluster::host::gather(&docker).await?;
    let mut spec = fake_node::runnable_here(node_spec(&NodeOptions {
        cluster: cluster::CLUSTER_NAME.into(),
        image: image.clone(),
        api_server_port: kind::free_port()?,
        ui_port: kind::free_port()?,
        data: node::DataMount::HostDir(PathBuf::from(data)),
        host: host.clone(),
    }));
    if let Ok(flags) = std::env::var("K8S_SIM_FLAGS") {
        spec.env.push(format!("K8S_SIM_FLAGS={flags}"));
    }
    let kubeconfig = PathBuf::from(kubeconfig);
    if let Some(dir) = kubeconfig.parent() {
        std::fs::create_dir_all(dir)?;
    }
    kind::create(
        &docker,
        &CreateOptions {
            cluster: cluster::CLUSTER_NAME.into(),
            spec,
            kubeconfig,
            retain: false,
            timeouts: Timeouts {
                systemd: Duration::from_secs(60),
                ready: Duration::from_secs(60),
            },
            host,
        },
        &Quiet,
    )
    .await?;
    println!("{name}");
    println!("{image}");
    Ok(())
}
