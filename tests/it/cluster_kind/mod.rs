//! The own cluster against a real Docker engine (scripts/test.sh starts one; without one these
//! tests say SKIPPED, except under CI / ONYX_REQUIRE_DOCKER=1 / ONYX_REQUIRE_REAL=1).
//!
//! The real kind node image can't be pulled here and a privileged container can't start on these
//! machines, so:
//! - the node as the product specifies it (privileged) is created, not started, and checked
//!   through the engine's inspect;
//! - the boot flow runs on the stand-in node image of `support/fake_node.rs` (a test fixture),
//!   from the product's spec with only the privilege fields changed by [`fake_node::runnable_here`] (and the
//!   fault-injection env `FAKE_FAIL` where a test wants a step to fail).
//!
//! Every test uses its own cluster name, ports, kubeconfig and data directory, and removes its
//! containers and images through drop guards, also when it fails half-way.
//!
//! By topic: `spec` (the node as specified, dry run, proxy), `boot` (the flow in order),
//! `reuse` (a node that exists already), `failures` (rollbacks), `data` (the node's data
//! surviving), `images` (the stack's images into the node). This file holds the test cluster
//! ([`TestCluster`]) and the helpers they share.

use crate::support::cmd::OnyxCommand;
use crate::support::docker as support;

use crate::support::fake_node;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::query_parameters::CreateContainerOptionsBuilder;
use onyx::cluster::host::{self, NodeHost};
use onyx::cluster::kind::{self, ClusterError, CreateOptions, Outcome, Timeouts};
use onyx::cluster::kubeadm::{self, KubeadmApi, KubeadmParams};
use onyx::cluster::node::{self, NodeOptions, NodeSpec, node_spec};
use onyx::cluster::node_images::{self, ImportOptions};
use onyx::cluster::{self, Step, StepEvent, StepReporter, kubeconfig};
use onyx::docker::ImageEvent;
use serde_json::Value;
use sha2::{Digest, Sha256};

mod boot;
mod data;
mod failures;
mod images;
mod reuse;
mod spec;
mod storage;

/// Fault injection for the fake node's tools.
fn failing_at(mut spec: NodeSpec, what: &str) -> NodeSpec {
    spec.env.push(format!("FAKE_FAIL={what}"));
    spec
}

/// Records every step event, in order.
#[derive(Default)]
struct Steps(Mutex<Vec<(Step, StepEvent)>>);

impl StepReporter for Steps {
    fn step(&self, step: Step, event: StepEvent) {
        self.0.lock().unwrap().push((step, event));
    }
    fn message(&self, _: &str) {}
}

impl Steps {
    fn all(&self) -> Vec<(Step, StepEvent)> {
        self.0.lock().unwrap().clone()
    }
}

/// One test's cluster: its name, files and ports; removes its node (with volume) when dropped.
struct TestCluster {
    docker: Docker,
    name: String,
    dir: tempfile::TempDir,
    /// The real engine's facts (cgroup v1, overlay2 here), as `cluster create` reads them.
    host: NodeHost,
}

impl TestCluster {
    async fn new(docker: &Docker, test: &str) -> TestCluster {
        let host = host::gather(docker).await.expect("the engine's facts");
        support::kind_network_join(docker);
        // Short, unique, valid cluster names (they become host names).
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!(
            "t{}-{:x}{:x}",
            test.chars()
                .filter(char::is_ascii_alphanumeric)
                .take(8)
                .collect::<String>(),
            std::process::id() % 0xfff,
            nanos % 0xfffff
        )
        .to_ascii_lowercase();
        cluster::validate_name(&name).unwrap();
        TestCluster {
            docker: docker.clone(),
            name,
            dir: tempfile::tempdir().unwrap(),
            host,
        }
    }

    fn node(&self) -> String {
        cluster::node_name(&self.name)
    }

    fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kube").join("config")
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn spec(&self, image: &str, ui_port: u16) -> NodeSpec {
        node_spec(&NodeOptions {
            cluster: self.name.clone(),
            image: image.into(),
            api_server_port: kind::free_port().unwrap(),
            ui_port,
            data: node::DataMount::HostDir(self.data_dir()),
            host: self.host.clone(),
        })
    }

    fn options(&self, spec: NodeSpec) -> CreateOptions {
        CreateOptions {
            cluster: self.name.clone(),
            spec,
            kubeconfig: self.kubeconfig(),
            retain: false,
            timeouts: Timeouts {
                systemd: Duration::from_secs(4),
                ready: Duration::from_secs(3),
            },
            host: self.host.clone(),
        }
    }

    async fn exists(&self) -> bool {
        kind::inspect(&self.docker, &self.node())
            .await
            .unwrap()
            .is_some()
    }

    /// A file inside the node.
    async fn read(&self, path: &str) -> Vec<u8> {
        let out = kind::exec(&self.docker, &self.node(), &["cat", path], None)
            .await
            .unwrap();
        assert!(out.ok(), "cat {path}: {}", out.error_text());
        out.stdout
    }

    async fn read_text(&self, path: &str) -> String {
        String::from_utf8(self.read(path).await).unwrap()
    }

    async fn calls(&self) -> Vec<String> {
        self.read_text("/records/calls")
            .await
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        let docker = self.docker.clone();
        let node = self.node();
        let name = self.name.clone();
        support::in_drop(async move {
            support::remove_container(&docker, &node).await;
            // The volumes onyx made for this test's cluster (its data, podman's /var).
            for what in ["data", "var"] {
                for v in kind::volumes::of_cluster(&docker, &name, what)
                    .await
                    .unwrap_or_default()
                {
                    let _ = kind::volumes::remove(&docker, &v).await;
                }
            }
            support::kind_network_leave(&docker).await;
        });
    }
}

/// The onyx binary with this cluster's kubeconfig and data directory.
fn onyx(c: &TestCluster, args: &[&str]) -> (i32, String, String) {
    let run = OnyxCommand::new(c.dir.path())
        .with_docker()
        .args(args)
        .env("KUBECONFIG", c.kubeconfig())
        .env("ONYX_DATA_DIR", c.dir.path())
        .run_blocking();
    (run.code.unwrap_or(-1), run.stdout, run.stderr)
}

const USER_KUBECONFIG: &str = "apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster:
    server: https://prod.example.com
contexts:
- name: prod
  context:
    cluster: prod
    user: prod-admin
current-context: prod
users:
- name: prod-admin
  user:
    token: secret-token
";

fn yaml(path: &Path) -> Value {
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn names(v: &Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|i| i["name"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}
