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

const BOOT: [Step; 11] = [
    Step::Network,
    Step::CreateNode,
    Step::StartNode,
    Step::WaitSystemd,
    Step::WriteKubeadmConfig,
    Step::KubeadmInit,
    Step::RemoveTaint,
    Step::InstallCni,
    Step::InstallStorage,
    Step::WaitReady,
    Step::Kubeconfig,
];

#[tokio::test(flavor = "multi_thread")]
async fn the_node_as_specified_is_what_the_engine_creates() {
    let Some(docker) = support::engine("node spec").await else {
        return;
    };
    if !fake_node::available("node spec") {
        return;
    }
    let cleanup = support::Cleanup::new(&docker);
    let c = TestCluster::new(&docker, "spec").await;
    let image = fake_node::build(&docker, &cleanup, &c.name, false).await;
    let spec = c.spec(&image, kind::free_port().unwrap());
    // The product's spec, untouched: privileged. Created only (it can't start here).
    docker
        .create_container(
            Some(
                CreateContainerOptionsBuilder::new()
                    .name(&spec.name)
                    .build(),
            ),
            kind::create_body(&spec),
        )
        .await
        .unwrap();
    let i = kind::inspect(&docker, &c.node()).await.unwrap().unwrap();
    let h = i.host_config.clone().unwrap();
    let config = i.config.clone().unwrap();
    assert_eq!(i.name.as_deref(), Some(format!("/{}", c.node()).as_str()));
    assert_eq!(config.hostname.as_deref(), Some(c.node().as_str()));
    assert_eq!(config.image.as_deref(), Some(image.as_str()));
    assert_eq!(h.privileged, Some(true));
    let mut sec = h.security_opt.clone().unwrap();
    // The engine adds `label=disable` (SELinux) to every privileged container by itself.
    sec.retain(|s| s != "label=disable");
    sec.sort();
    assert_eq!(sec, ["apparmor=unconfined", "seccomp=unconfined"]);
    let tmpfs = h.tmpfs.clone().unwrap();
    let mut keys: Vec<_> = tmpfs.keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["/run", "/tmp"]);
    assert_eq!(config.volumes.clone().unwrap(), ["/var"]);
    let binds = h.binds.clone().unwrap();
    assert!(
        binds.contains(&"/lib/modules:/lib/modules:ro".to_string()),
        "{binds:?}"
    );
    assert!(
        binds.contains(&format!(
            "{}:{}",
            c.data_dir().display(),
            node::STORAGE_ROOT
        )),
        "{binds:?}"
    );
    assert_eq!(
        h.cgroupns_mode,
        Some(bollard::models::HostConfigCgroupnsModeEnum::PRIVATE)
    );
    let restart = h.restart_policy.clone().unwrap();
    assert_eq!(
        restart.name,
        Some(bollard::models::RestartPolicyNameEnum::ON_FAILURE)
    );
    assert_eq!(restart.maximum_retry_count, Some(1));
    assert_eq!(h.init, Some(false));
    assert_eq!(h.network_mode.as_deref(), Some("kind"));
    assert_eq!(config.tty, Some(true));
    let labels = config.labels.clone().unwrap();
    assert_eq!(labels[node::LABEL_CLUSTER], c.name);
    assert_eq!(labels[node::LABEL_ROLE], "control-plane");
    assert_eq!(labels["app.kubernetes.io/managed-by"], "onyx");
    assert!(
        config
            .env
            .clone()
            .unwrap()
            .contains(&"KUBECONFIG=/etc/kubernetes/admin.conf".to_string())
    );
    // Both ports, on 127.0.0.1 only.
    let ports = h.port_bindings.clone().unwrap();
    assert_eq!(ports.len(), 2, "{ports:?}");
    for (port, want) in [("6443/tcp", &spec.ports[0]), ("30080/tcp", &spec.ports[1])] {
        let b = ports[port].clone().unwrap();
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].host_ip.as_deref(), Some("127.0.0.1"), "{port}");
        assert_eq!(
            b[0].host_port.as_deref(),
            Some(want.host_port.to_string().as_str())
        );
    }
    // The network, when onyx made it: a bridge with masquerading, IPv6 on kind's kind of ULA
    // subnet, or IPv4 only where the engine can't do IPv6.
    let net = docker
        .inspect_network(
            node::NETWORK,
            None::<bollard::query_parameters::InspectNetworkOptions>,
        )
        .await
        .unwrap();
    if net
        .labels
        .as_ref()
        .and_then(|l| l.get("app.kubernetes.io/managed-by"))
        .map(String::as_str)
        == Some("onyx")
    {
        assert_eq!(net.driver.as_deref(), Some("bridge"));
        assert_eq!(
            net.options.as_ref().unwrap()["com.docker.network.bridge.enable_ip_masquerade"],
            "true"
        );
        let subnets: Vec<String> = net
            .ipam
            .and_then(|i| i.config)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|c| c.subnet)
            .collect();
        if net.enable_ipv6 == Some(true) {
            assert!(
                (0..5).any(|n| subnets.contains(&kind::ula_subnet(node::NETWORK, n))),
                "{subnets:?}"
            );
        } else {
            assert!(subnets.iter().all(|s| !s.contains(':')), "{subnets:?}");
        }
    }

    // kind recognises it as a cluster.
    let listed = kind::list(&docker).await.unwrap();
    let ours = listed.iter().find(|l| l.name == c.name).expect("listed");
    assert_eq!(ours.state, "created");
    assert!(ours.onyx);
}

#[tokio::test(flavor = "multi_thread")]
async fn boots_in_order_writes_the_config_byte_for_byte_and_merges_the_kubeconfig() {
    let Some(docker) = support::engine("boot").await else {
        return;
    };
    if !fake_node::available("boot") {
        return;
    }
    let cleanup = support::Cleanup::new(&docker);
    let c = TestCluster::new(&docker, "boot").await;
    let image = fake_node::build(&docker, &cleanup, &c.name, false).await;
    std::fs::create_dir_all(c.kubeconfig().parent().unwrap()).unwrap();
    std::fs::write(c.kubeconfig(), USER_KUBECONFIG).unwrap();
    let ui_port = kind::free_port().unwrap();
    let spec = fake_node::runnable_here(c.spec(&image, ui_port));
    let api_port = spec.ports[0].host_port;
    let steps = Steps::default();
    let created = kind::create(&docker, &c.options(spec), &steps)
        .await
        .unwrap_or_else(|e| panic!("{e}\nhint: {:?}", e.hint()));
    assert_eq!(created.outcome, Outcome::Created);
    assert_eq!(created.api_server, format!("https://127.0.0.1:{api_port}"));
    assert_eq!(created.ui_port, Some(ui_port));
    assert_eq!(created.context, format!("kind-{}", c.name));

    // Every step, in order, each started then done.
    let want: Vec<(Step, StepEvent)> = BOOT
        .iter()
        .flat_map(|s| [(*s, StepEvent::Start), (*s, StepEvent::Done)])
        .collect();
    assert_eq!(steps.all(), want);

    // The kubeadm config reached the node byte for byte, and kubeadm found it so.
    let i = kind::inspect(&docker, &c.node()).await.unwrap().unwrap();
    let ip = i.network_settings.unwrap().networks.unwrap()["kind"]
        .ip_address
        .clone()
        .unwrap();
    let expected = kubeadm::render(
        &KubeadmParams::single_node(&c.name, "v1.36.1", &ip, "systemd").on_host(&c.host),
        KubeadmApi::V1Beta4,
    );
    // This engine reports cgroup v1 (Docker 20.10 here): the kubelet is told not to refuse it,
    // and the stand-in kubeadm (like the real kubelet ≥ 1.35) would fail otherwise.
    assert_eq!(
        expected.contains("failCgroupV1: false"),
        c.host.cgroup_v1(),
        "{expected}"
    );
    assert!(
        expected.contains("skipPhases:\n  - \"preflight\""),
        "{expected}"
    );
    assert_eq!(c.read(kind::KUBEADM_CONF).await, expected.as_bytes());
    assert_eq!(
        c.read("/records/kubeadm.conf.seen").await,
        expected.as_bytes()
    );

    // The tools were asked in order, as kind asks them.
    let calls = c.calls().await;
    let kubeconfig_flag = "--kubeconfig=/etc/kubernetes/admin.conf";
    assert_eq!(
        calls,
        [
            "kubeadm init --config=/kind/kubeadm.conf --skip-token-print --v=6".to_string(),
            format!(
                "kubectl {kubeconfig_flag} taint nodes --all node-role.kubernetes.io/control-plane-"
            ),
            format!(
                "kubectl {kubeconfig_flag} label nodes --all node.kubernetes.io/exclude-from-external-load-balancers-"
            ),
            format!("kubectl create {kubeconfig_flag} -f -"),
            format!("kubectl {kubeconfig_flag} apply -f -"),
            // kind's selector; the jsonpath reads the Ready condition's heartbeat too (a Ready
            // from before a restart is not trusted) and its reason and message (what is slow).
            format!(
                "kubectl {kubeconfig_flag} get nodes --selector=node-role.kubernetes.io/control-plane -o=jsonpath={{range .items[*]}}{{.status.conditions[?(@.type==\"Ready\")].status}}|{{.status.conditions[?(@.type==\"Ready\")].lastHeartbeatTime}}|{{.status.conditions[?(@.type==\"Ready\")].reason}}|{{.status.conditions[?(@.type==\"Ready\")].message}}{{\"\\n\"}}{{end}}"
            ),
        ]
    );
    // CNI templated and patched as kind does; storage with the stable path pattern.
    let cni: Vec<Value> =
        serde_saphyr::from_multiple(&c.read_text("/records/cni.yaml").await).unwrap();
    let ds = cni.iter().find(|d| d["kind"] == "DaemonSet").unwrap();
    let env = &ds["spec"]["template"]["spec"]["containers"][0]["env"];
    assert_eq!(env[0]["value"], "10.244.0.0/16");
    assert_eq!(env[1]["name"], "CONTROL_PLANE_ENDPOINT");
    assert_eq!(env[1]["value"], format!("{}:6443", c.node()));
    let storage: Vec<Value> =
        serde_saphyr::from_multiple(&c.read_text("/records/storage.yaml").await).unwrap();
    let sc = storage
        .iter()
        .find(|d| d["kind"] == "StorageClass")
        .unwrap();
    assert_eq!(sc["parameters"]["pathPattern"], kind::STABLE_PATH_PATTERN);

    // Kubeconfig: ours added and current, pointed at 127.0.0.1; the user's kept; backup made.
    let kc = yaml(&c.kubeconfig());
    let ctx = format!("kind-{}", c.name);
    assert_eq!(names(&kc, "contexts"), ["prod".to_string(), ctx.clone()]);
    assert_eq!(names(&kc, "clusters"), ["prod".to_string(), ctx.clone()]);
    assert_eq!(names(&kc, "users"), ["prod-admin".to_string(), ctx.clone()]);
    assert_eq!(kc["current-context"], ctx.as_str());
    assert_eq!(
        kc["clusters"][1]["cluster"]["server"],
        created.api_server.as_str()
    );
    assert_eq!(
        kc["clusters"][1]["cluster"]["certificate-authority-data"],
        "RkFLRS1DQQo="
    );
    assert_eq!(kc["users"][0]["user"]["token"], "secret-token");
    assert_eq!(
        std::fs::read_to_string(kubeconfig::backup_path(&c.kubeconfig())).unwrap(),
        USER_KUBECONFIG
    );
    assert!(!kubeconfig::lock_path(&c.kubeconfig()).exists());

    // Status sees it Ready, with its ports and data directory.
    let status = kind::status(&docker, &c.name).await.unwrap();
    assert_eq!(status.state, "running");
    assert_eq!(status.ready, Some(true));
    assert_eq!(status.ui_url, Some(format!("http://localhost:{ui_port}")));
    assert_eq!(status.data_dir, Some(c.data_dir().display().to_string()));

    // Delete: node and its anonymous /var volume gone, our entries gone, the user's and the data
    // directory kept.
    let volume = i
        .mounts
        .unwrap()
        .into_iter()
        .find(|m| m.destination.as_deref() == Some("/var"))
        .and_then(|m| m.name)
        .expect("the /var volume");
    std::fs::write(c.data_dir().join("keep-me"), "data").unwrap();
    let deleted = kind::delete(&docker, &c.name, &c.kubeconfig(), None)
        .await
        .unwrap();
    assert!(deleted.node_removed && deleted.kubeconfig_cleaned);
    assert!(!c.exists().await);
    assert!(
        docker.inspect_volume(&volume).await.is_err(),
        "volume {volume} left behind"
    );
    let kc = yaml(&c.kubeconfig());
    assert_eq!(names(&kc, "contexts"), ["prod"]);
    assert_eq!(names(&kc, "clusters"), ["prod"]);
    assert_eq!(names(&kc, "users"), ["prod-admin"]);
    assert_eq!(kc["current-context"], "");
    assert!(c.data_dir().join("keep-me").exists());
    // --purge removes the data directory; a second delete finds nothing to do.
    let again = kind::delete(&docker, &c.name, &c.kubeconfig(), Some(&c.data_dir()))
        .await
        .unwrap();
    assert!(!again.node_removed && !again.kubeconfig_cleaned);
    assert_eq!(again.data_removed, Some(c.data_dir()));
    assert!(!c.data_dir().exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_running_node_is_reused_and_a_stopped_one_started_again() {
    let Some(docker) = support::engine("reuse").await else {
        return;
    };
    if !fake_node::available("reuse") {
        return;
    }
    let cleanup = support::Cleanup::new(&docker);
    let c = TestCluster::new(&docker, "reuse").await;
    let image = fake_node::build(&docker, &cleanup, &c.name, false).await;
    let spec = fake_node::runnable_here(c.spec(&image, kind::free_port().unwrap()));
    let first = kind::create(&docker, &c.options(spec.clone()), &cluster::SilentSteps)
        .await
        .unwrap();

    // Running: reused, nothing booted again. The kubeconfig lock is honoured: held by "another
    // program" for a second, the merge waits for it.
    let lock = kubeconfig::lock_path(&c.kubeconfig());
    std::fs::write(&lock, "").unwrap();
    let releaser = {
        let lock = lock.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1200));
            std::fs::remove_file(lock).unwrap();
        })
    };
    let started = Instant::now();
    let steps = Steps::default();
    // Another spec (other ports) changes nothing: the node that exists is what counts.
    let other = fake_node::runnable_here(c.spec(&image, kind::free_port().unwrap()));
    let reused = kind::create(&docker, &c.options(other), &steps)
        .await
        .unwrap();
    releaser.join().unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(1200),
        "did not wait for the lock"
    );
    assert_eq!(reused.outcome, Outcome::Reused);
    assert_eq!(reused.api_server, first.api_server);
    assert_eq!(reused.ui_port, first.ui_port);
    let all = steps.all();
    for s in [
        Step::Network,
        Step::CreateNode,
        Step::StartNode,
        Step::WaitSystemd,
    ] {
        assert!(
            all.iter()
                .any(|(x, e)| *x == s && matches!(e, StepEvent::Skipped(_))),
            "{s:?} not skipped: {all:?}"
        );
    }
    assert!(all.contains(&(Step::Kubeconfig, StepEvent::Done)));
    let inits = |calls: &[String]| {
        calls
            .iter()
            .filter(|c| c.starts_with("kubeadm init"))
            .count()
    };
    assert_eq!(inits(&c.calls().await), 1);

    // Stopped: started again and waited for; still no second kubeadm init.
    docker.stop_container(&c.node(), None).await.unwrap();
    let steps = Steps::default();
    let restarted = kind::create(&docker, &c.options(spec), &steps)
        .await
        .unwrap();
    assert_eq!(restarted.outcome, Outcome::Restarted);
    let all = steps.all();
    let order: Vec<Step> = all
        .iter()
        .filter(|(_, e)| *e == StepEvent::Done)
        .map(|(s, _)| *s)
        .collect();
    assert_eq!(
        order,
        [
            Step::StartNode,
            Step::WaitSystemd,
            Step::WaitReady,
            Step::Kubeconfig
        ]
    );
    assert_eq!(c.read_text("/records/boots").await.lines().count(), 2);
    assert_eq!(inits(&c.calls().await), 1);
    assert_eq!(
        kind::status(&docker, &c.name).await.unwrap().state,
        "running"
    );

    // The same through the binary: status, list, create (reuses), load, delete.
    let (code, out, err) = onyx(&c, &["cluster", "status", "--name", &c.name, "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["state"], "running");
    assert_eq!(v["ready"], true);
    assert_eq!(v["api_server"], first.api_server.as_str());
    let (code, out, err) = onyx(&c, &["cluster", "list", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let row = v
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == c.name.as_str())
        .expect("listed");
    assert_eq!(row["onyx"], true);
    assert_eq!(row["state"], "running");
    let (code, out, err) = onyx(
        &c,
        &[
            "cluster",
            "create",
            "--name",
            &c.name,
            "--node-image",
            &image,
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["outcome"], "reused");
    assert!(err.contains("- start node: running"), "{err}");
    let extra = format!("{}/cli-load:1", support::unique("cli"));
    support::build_image(&docker, &cleanup, &extra, 64 << 10).await;
    let (code, _, err) = onyx(
        &c,
        &["cluster", "load", "--name", &c.name, "--image", &extra],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("1 imported, 0 tagged, 0 already present, 0 failed"),
        "{err}"
    );
    let (code, _, err) = onyx(&c, &["cluster", "delete", "--name", &c.name]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(&format!("deleted cluster {}", c.name)),
        "{err}"
    );
    assert!(
        err.contains(&format!("removed context kind-{}", c.name)),
        "{err}"
    );
    assert!(!c.exists().await);
    assert!(names(&yaml(&c.kubeconfig()), "contexts").is_empty());
    let (code, _, err) = onyx(&c, &["cluster", "status", "--name", &c.name]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!("there is no cluster named {}", c.name)),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn volume_data_survives_delete_and_create() {
    let Some(docker) = support::engine("data survives").await else {
        return;
    };
    if !fake_node::available("data survives") {
        return;
    }
    let cleanup = support::Cleanup::new(&docker);
    let c = TestCluster::new(&docker, "data").await;
    let image = fake_node::build(&docker, &cleanup, &c.name, false).await;
    let spec = fake_node::runnable_here(c.spec(&image, kind::free_port().unwrap()));
    kind::create(&docker, &c.options(spec.clone()), &cluster::SilentSteps)
        .await
        .unwrap();
    // What local-path makes for claim onyx/postgresql with the stable path pattern.
    let dir = format!("{}/onyx/postgresql", node::STORAGE_ROOT);
    let out = kind::exec(
        &docker,
        &c.node(),
        &[
            "sh",
            "-c",
            &format!("mkdir -p {dir} && echo 'row 1' > {dir}/PG_VERSION"),
        ],
        None,
    )
    .await
    .unwrap();
    assert!(out.ok(), "{}", out.error_text());
    assert_eq!(
        std::fs::read_to_string(c.data_dir().join("onyx/postgresql/PG_VERSION")).unwrap(),
        "row 1\n"
    );
    kind::delete(&docker, &c.name, &c.kubeconfig(), None)
        .await
        .unwrap();
    assert!(!c.exists().await);
    let again = kind::create(&docker, &c.options(spec), &cluster::SilentSteps)
        .await
        .unwrap();
    assert_eq!(again.outcome, Outcome::Created);
    assert_eq!(
        c.read_text("/records/boots").await.lines().count(),
        1,
        "a new node"
    );
    assert_eq!(c.read_text(&format!("{dir}/PG_VERSION")).await, "row 1\n");

    // --purge on a running node: the data goes too (wiped from inside the node first, where the
    // pods' files may belong to users the host user is not).
    let deleted = kind::delete(&docker, &c.name, &c.kubeconfig(), Some(&c.data_dir()))
        .await
        .unwrap();
    assert!(deleted.node_removed);
    assert_eq!(deleted.data_removed, Some(c.data_dir()));
    assert!(!c.data_dir().exists());
    assert!(!c.exists().await);
}

/// Create with a failure injected; the error names the step, carries the node's log, and
/// nothing is left behind (kubeconfig untouched).
async fn fails_at(docker: &Docker, c: &TestCluster, spec: NodeSpec, want: Step) {
    std::fs::create_dir_all(c.kubeconfig().parent().unwrap()).unwrap();
    std::fs::write(c.kubeconfig(), USER_KUBECONFIG).unwrap();
    let steps = Steps::default();
    let err = kind::create(docker, &c.options(spec), &steps)
        .await
        .expect_err("the create must fail");
    let ClusterError::StepFailed {
        step, logs, kept, ..
    } = &err
    else {
        panic!("{want:?}: {err}")
    };
    assert_eq!(*step, want, "{err}");
    assert_eq!(kept, &None);
    assert!(
        err.to_string()
            .contains(&format!("failed at step \"{want}\"")),
        "{err}"
    );
    if want > Step::StartNode {
        assert!(
            logs.iter().any(|l| l.contains("fake kind node starting")),
            "{want:?}: no node log in {err}"
        );
    }
    assert!(err.hint().unwrap().contains("--retain"), "{:?}", err.hint());
    let last = steps.all().last().cloned().unwrap();
    assert!(
        matches!(last, (s, StepEvent::Failed(_)) if s == want),
        "{last:?}"
    );
    assert!(!c.exists().await, "{want:?}: node left behind");
    assert_eq!(
        std::fs::read_to_string(c.kubeconfig()).unwrap(),
        USER_KUBECONFIG
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failure_at_each_boot_step_rolls_back_and_names_the_step() {
    let Some(docker) = support::engine("rollback").await else {
        return;
    };
    if !fake_node::available("rollback") {
        return;
    }
    let cleanup = support::Cleanup::new(&docker);
    let c = TestCluster::new(&docker, "rollback").await;
    let image = fake_node::build(&docker, &cleanup, &c.name, false).await;
    let cases = [
        ("systemd", Step::WaitSystemd),
        ("write-config", Step::WriteKubeadmConfig),
        ("kubeadm-init", Step::KubeadmInit),
        ("taint", Step::RemoveTaint),
        ("cni", Step::InstallCni),
        ("storage", Step::InstallStorage),
        // ("ready" is no failure: kind only warns; see a_ready_timeout_keeps_the_node_and_says_what_is_slow.)
        ("kubeconfig", Step::Kubeconfig),
    ];
    for (fault, step) in cases {
        let spec = failing_at(
            fake_node::runnable_here(c.spec(&image, kind::free_port().unwrap())),
            fault,
        );
        fails_at(&docker, &c, spec, step).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn create_and_start_failures_roll_back_and_retain_keeps_the_node() {
    let Some(docker) = support::engine("rollback start").await else {
        return;
    };
    if !fake_node::available("rollback start") {
        return;
    }
    let cleanup = support::Cleanup::new(&docker);
    let c = TestCluster::new(&docker, "rbstart").await;
    // No such image: the container can't be made.
    let missing = format!("onyx-test/fake-kind-node:{}-missing", c.name);
    fails_at(
        &docker,
        &c,
        fake_node::runnable_here(c.spec(&missing, kind::free_port().unwrap())),
        Step::CreateNode,
    )
    .await;
    // An entrypoint that doesn't exist: made, but it can't start.
    let broken = fake_node::build(&docker, &cleanup, &format!("{}-broken", c.name), true).await;
    fails_at(
        &docker,
        &c,
        fake_node::runnable_here(c.spec(&broken, kind::free_port().unwrap())),
        Step::StartNode,
    )
    .await;

    // --retain keeps the node of a failed create, and says how to look inside.
    let image = fake_node::build(&docker, &cleanup, &c.name, false).await;
    let mut options = c.options(failing_at(
        fake_node::runnable_here(c.spec(&image, kind::free_port().unwrap())),
        "kubeadm-init",
    ));
    options.retain = true;
    let err = kind::create(&docker, &options, &cluster::SilentSteps)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClusterError::StepFailed { step: Step::KubeadmInit, kept: Some(n), .. } if *n == c.node()),
        "{err}"
    );
    assert!(
        err.to_string().contains("fake failure") || err.to_string().contains("exit code 1"),
        "{err}"
    );
    assert!(
        err.hint().unwrap().contains("docker exec -it"),
        "{:?}",
        err.hint()
    );
    assert!(c.exists().await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_taken_port_is_refused_naming_it_and_nothing_is_made() {
    let Some(docker) = support::engine("port conflict").await else {
        return;
    };
    if !fake_node::available("port conflict") {
        return;
    }
    let cleanup = support::Cleanup::new(&docker);
    let c = TestCluster::new(&docker, "port").await;
    let image = fake_node::build(&docker, &cleanup, &c.name, false).await;
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();

    let err = kind::create(
        &docker,
        &c.options(fake_node::runnable_here(c.spec(&image, port))),
        &cluster::SilentSteps,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, ClusterError::PortTaken { port: p, .. } if p == port),
        "{err}"
    );
    assert!(err.to_string().contains(&port.to_string()), "{err}");
    assert!(err.hint().unwrap().contains("--port"), "{:?}", err.hint());
    assert!(!c.exists().await);

    // The API server's port taken: named too, with its own advice.
    let mut spec = fake_node::runnable_here(c.spec(&image, kind::free_port().unwrap()));
    spec.ports[0].host_port = port;
    let err = kind::create(&docker, &c.options(spec), &cluster::SilentSteps)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClusterError::PortTaken { port: p, what, .. } if p == port && what.contains("API")),
        "{err}"
    );
    assert!(!c.exists().await);

    // Through the binary: exit code 2 (README's "a UI port already in use" is bad input), the
    // port and the flag named.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_onyx"))
        .args([
            "cluster",
            "create",
            "--name",
            &c.name,
            "--node-image",
            &image,
        ])
        .args(["--port", &port.to_string()])
        .env("KUBECONFIG", c.kubeconfig())
        .env("ONYX_DATA_DIR", c.dir.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("port {port} on 127.0.0.1 is already in use")),
        "{stderr}"
    );
    assert!(stderr.contains("--port"), "{stderr}");
    assert!(!c.exists().await);
    drop(busy);
}

#[tokio::test(flavor = "multi_thread")]
async fn images_go_into_the_node_skipping_present_retagging_and_streaming_the_rest() {
    let Some(docker) = support::engine("node images").await else {
        return;
    };
    if !fake_node::available("node images") {
        return;
    }
    let cleanup = support::Cleanup::new(&docker);
    let c = TestCluster::new(&docker, "images").await;
    let image = fake_node::build(&docker, &cleanup, &c.name, false).await;
    kind::create(
        &docker,
        &c.options(fake_node::runnable_here(
            c.spec(&image, kind::free_port().unwrap()),
        )),
        &cluster::SilentSteps,
    )
    .await
    .unwrap();
    let base = support::unique("nodeimg");
    let refs: Vec<String> = (0..4).map(|i| format!("{base}/img{i}:1")).collect();
    let mut ids = Vec::new();
    for r in &refs {
        ids.push(support::build_image(&docker, &cleanup, r, 256 << 10).await);
    }
    // The node has img0 under its name, img1 only under another name; img2 and img3 not at all.
    let cri = |r: &str| format!("docker.io/{r}");
    let seed = format!(
        "{} {}\n{} other.example/renamed:9\n",
        ids[0],
        cri(&refs[0]),
        ids[1]
    );
    let out = kind::exec(
        &docker,
        &c.node(),
        &["cp", "/dev/stdin", "/fake/images"],
        Some(kind::stdin_bytes(seed.into_bytes())),
    )
    .await
    .unwrap();
    assert!(out.ok());

    let rec = support::Recorder::default();
    let (results, err) = node_images::load_all(
        &docker,
        &c.node(),
        &refs[..3],
        &ImportOptions::default(),
        &rec,
    )
    .await;
    assert!(err.is_none(), "{err:?}");
    use node_images::Outcome as O;
    let outcomes: Vec<O> = results.iter().map(|r| r.outcome.clone()).collect();
    assert_eq!(outcomes, [O::Present, O::Retagged, O::Imported]);
    assert_eq!(rec.of(&refs[0]), [ImageEvent::Start, ImageEvent::Skipped]);
    assert_eq!(rec.of(&refs[1]).last(), Some(&ImageEvent::Done));
    let events = rec.of(&refs[2]);
    assert_eq!(events.first(), Some(&ImageEvent::Start));
    assert_eq!(events.last(), Some(&ImageEvent::Done));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ImageEvent::Progress { done, .. } if *done > 0))
    );

    // Exactly one stream went in, and it is the engine's `docker save` of img2, byte for byte.
    let calls = c.calls().await;
    let imports: Vec<&String> = calls
        .iter()
        .filter(|l| l.contains("images import"))
        .collect();
    assert_eq!(
        imports,
        [
            "ctr --namespace=k8s.io images import --all-platforms --digests --snapshotter=overlayfs -"
        ]
    );
    assert!(
        calls.contains(&format!(
            "ctr --namespace=k8s.io images tag --force {} {}",
            ids[1],
            cri(&refs[1])
        )),
        "{calls:?}"
    );
    let listing = kind::exec(
        &docker,
        &c.node(),
        &["sh", "-c", "ls /records/import-*.tar"],
        None,
    )
    .await
    .unwrap()
    .stdout_text();
    let files: Vec<&str> = listing.split_whitespace().collect();
    assert_eq!(files.len(), 1, "{listing}");
    let got = c.read(files[0]).await;
    let want: Vec<u8> = {
        use futures_util::TryStreamExt;
        let chunks: Vec<bytes::Bytes> = docker.export_image(&refs[2]).try_collect().await.unwrap();
        chunks.concat()
    };
    assert!(got.len() > 256 << 10);
    assert_eq!(
        hex::encode(Sha256::digest(&got)),
        hex::encode(Sha256::digest(&want))
    );
    assert_eq!(results[2].bytes, want.len() as u64);

    // An engine with the containerd image store: one platform only.
    let (results, err) = node_images::load_all(
        &docker,
        &c.node(),
        &refs[3..],
        &ImportOptions {
            containerd_image_store: true,
            ..Default::default()
        },
        &rec,
    )
    .await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(results[0].outcome, O::Imported);
    let calls = c.calls().await;
    assert_eq!(
        calls.iter().rfind(|l| l.contains("images import")).unwrap(),
        "ctr --namespace=k8s.io images import --digests --snapshotter=overlayfs -"
    );

    // An image the engine doesn't have fails by name, the others still go in.
    let (results, err) = node_images::load_all(
        &docker,
        &c.node(),
        &[format!("{base}/absent:1"), refs[0].clone()],
        &ImportOptions::default(),
        &rec,
    )
    .await;
    assert!(err.unwrap().to_string().contains("absent:1"));
    assert_eq!(results[0].outcome, O::Failed);
    assert_eq!(results[1].outcome, O::Present);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_container_of_someone_else_with_the_node_name_is_left_alone() {
    let Some(docker) = support::engine("foreign node").await else {
        return;
    };
    if !fake_node::available("foreign node") {
        return;
    }
    let cleanup = support::Cleanup::new(&docker);
    let c = TestCluster::new(&docker, "foreign").await;
    let image = fake_node::build(&docker, &cleanup, &c.name, false).await;
    // Same name, no kind labels.
    docker
        .create_container(
            Some(CreateContainerOptionsBuilder::new().name(&c.node()).build()),
            bollard::models::ContainerCreateBody {
                image: Some(image.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let err = kind::create(
        &docker,
        &c.options(fake_node::runnable_here(
            c.spec(&image, kind::free_port().unwrap()),
        )),
        &cluster::SilentSteps,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ClusterError::Foreign { .. }), "{err}");
    assert!(err.hint().unwrap().contains(&c.node()), "{:?}", err.hint());
    let err = kind::delete(&docker, &c.name, &c.kubeconfig(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, ClusterError::Foreign { .. }), "{err}");
    assert!(c.exists().await, "someone else's container was removed");
}

/// The binary with the product's own spec (privileged, untouched): where the engine grants
/// privileged containers the stand-in node boots; where it refuses them (these machines withhold
/// CAP_SYS_RESOURCE) the create fails at "start node" with the engine's words and a hint, and
/// everything it made is gone. Either way the outcome is checked in full.
#[tokio::test(flavor = "multi_thread")]
async fn the_cli_with_the_product_spec_boots_or_rolls_back_a_refused_start() {
    let Some(docker) = support::engine("cli privileged").await else {
        return;
    };
    if !fake_node::available("cli privileged") {
        return;
    }
    let cleanup = support::Cleanup::new(&docker);
    let c = TestCluster::new(&docker, "cliprv").await;
    let image = fake_node::build(&docker, &cleanup, &c.name, false).await;
    let port = kind::free_port().unwrap().to_string();
    let (code, out, err) = onyx(
        &c,
        &[
            "cluster",
            "create",
            "--name",
            &c.name,
            "--node-image",
            &image,
            "--port",
            &port,
            "--wait",
            "10",
            "-o",
            "json",
        ],
    );
    if code == 0 {
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["outcome"], "created", "{err}");
        assert_eq!(
            kind::status(&docker, &c.name).await.unwrap().ready,
            Some(true)
        );
        let i = kind::inspect(&docker, &c.node()).await.unwrap().unwrap();
        assert_eq!(i.host_config.unwrap().privileged, Some(true));
    } else {
        assert_eq!(code, 3, "{err}");
        assert!(err.contains("failed at step \"start node\""), "{err}");
        assert!(err.contains("unable to apply caps"), "{err}");
        assert!(err.contains("can't start privileged containers"), "{err}");
        assert!(!c.exists().await, "node left behind");
        assert!(
            !c.kubeconfig().exists(),
            "kubeconfig written after a failed create"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_older_node_image_boots_with_the_v1beta3_config() {
    let Some(docker) = support::engine("v1beta3").await else {
        return;
    };
    if !fake_node::available("v1beta3") {
        return;
    }
    let cleanup = support::Cleanup::new(&docker);
    let c = TestCluster::new(&docker, "beta3").await;
    let image = fake_node::build_version(&docker, &cleanup, &c.name, false, "v1.35.2").await;
    kind::create(
        &docker,
        &c.options(fake_node::runnable_here(
            c.spec(&image, kind::free_port().unwrap()),
        )),
        &cluster::SilentSteps,
    )
    .await
    .unwrap();
    let i = kind::inspect(&docker, &c.node()).await.unwrap().unwrap();
    let ip = i.network_settings.unwrap().networks.unwrap()["kind"]
        .ip_address
        .clone()
        .unwrap();
    let expected = kubeadm::render(
        &KubeadmParams::single_node(&c.name, "v1.35.2", &ip, "systemd").on_host(&c.host),
        KubeadmApi::V1Beta3,
    );
    let got = c.read_text(kind::KUBEADM_CONF).await;
    assert_eq!(got, expected);
    assert!(got.contains("apiVersion: kubeadm.k8s.io/v1beta3"), "{got}");
    assert!(!got.contains("v1beta4"), "{got}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ready_timeout_keeps_the_node_and_says_what_is_slow() {
    let Some(docker) = support::engine("ready timeout").await else {
        return;
    };
    if !fake_node::available("ready timeout") {
        return;
    }
    let cleanup = support::Cleanup::new(&docker);
    let c = TestCluster::new(&docker, "readyto").await;
    let image = fake_node::build(&docker, &cleanup, &c.name, false).await;
    let spec = failing_at(
        fake_node::runnable_here(c.spec(&image, kind::free_port().unwrap())),
        "ready",
    );
    let steps = Steps::default();
    // kind v0.32.0 waitforready.go: "WARNING: Timed out waiting for Ready", and the create goes on.
    let created = kind::create(&docker, &c.options(spec), &steps)
        .await
        .expect("a node that is not Ready in time is kept, as kind keeps it");
    assert_eq!(created.outcome, Outcome::Created);
    assert!(c.exists().await);
    let all = steps.all();
    let warned = all
        .iter()
        .find_map(|(s, e)| match (s, e) {
            (Step::WaitReady, StepEvent::Warned(w)) => Some(w.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no warning for the Ready wait: {all:?}"));
    assert!(
        warned.contains("not Ready after 3s")
            && warned.contains("KubeletNotReady: container runtime network not ready")
            && warned.contains("coredns-7db6d8ff4d-x2x8k (Pending)")
            && !warned.contains("kindnet"),
        "{warned}"
    );
    assert!(
        all.contains(&(Step::Kubeconfig, StepEvent::Done)),
        "{all:?}"
    );
    let kc = std::fs::read_to_string(c.kubeconfig()).unwrap();
    assert!(kc.contains(&cluster::context_name(&c.name)), "{kc}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_half_made_node_is_not_reused() {
    let Some(docker) = support::engine("half made").await else {
        return;
    };
    if !fake_node::available("half made") {
        return;
    }
    let cleanup = support::Cleanup::new(&docker);
    let c = TestCluster::new(&docker, "halfmade").await;
    let image = fake_node::build(&docker, &cleanup, &c.name, false).await;
    // kubeadm init fails and --retain keeps the node: it has no admin.conf.
    let spec = failing_at(
        fake_node::runnable_here(c.spec(&image, kind::free_port().unwrap())),
        "kubeadm-init",
    );
    let mut options = c.options(spec);
    options.retain = true;
    let err = kind::create(&docker, &options, &cluster::SilentSteps)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClusterError::StepFailed { kept: Some(_), .. }),
        "{err}"
    );
    for stopped in [false, true] {
        if stopped {
            kind::stop_node(&docker, &c.node()).await.unwrap();
        }
        let steps = Steps::default();
        let err = kind::create(&docker, &options, &steps).await.unwrap_err();
        assert!(
            matches!(err, ClusterError::HalfMade { .. }),
            "stopped {stopped}: {err}"
        );
        assert!(
            err.to_string().contains("was never fully made")
                && err.to_string().contains("/etc/kubernetes/admin.conf"),
            "{err}"
        );
        let hint = err.hint().unwrap();
        assert!(
            hint.contains(&format!("onyx cluster delete --name {}", c.name)),
            "{hint}"
        );
        // Nothing was waited for or merged.
        assert!(
            !steps
                .all()
                .iter()
                .any(|(s, _)| *s == Step::WaitReady || *s == Step::Kubeconfig),
            "{:?}",
            steps.all()
        );
        assert!(
            c.exists().await,
            "a node that was there is not ours to remove"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn after_a_restart_the_wait_reads_this_run_only() {
    let Some(docker) = support::engine("restart waits").await else {
        return;
    };
    if !fake_node::available("restart waits") {
        return;
    }
    let cleanup = support::Cleanup::new(&docker);
    let c = TestCluster::new(&docker, "restartw").await;
    let image = fake_node::build(&docker, &cleanup, &c.name, false).await;
    let spec = fake_node::runnable_here(c.spec(&image, kind::free_port().unwrap()));
    kind::create(&docker, &c.options(spec.clone()), &cluster::SilentSteps)
        .await
        .unwrap();
    // Stopped with the node's grace, then started: the Ready condition from before the stop
    // (served for 2 s by the stand-in, as by an API server until the kubelet posts anew) is not
    // taken for the new run's.
    let heartbeats = |calls: &[String]| {
        calls
            .iter()
            .filter(|l| l.contains("get nodes") && l.contains("lastHeartbeatTime"))
            .count()
    };
    let before = heartbeats(&c.calls().await);
    assert!(kind::stop_node(&docker, &c.node()).await.unwrap());
    let steps = Steps::default();
    let restarted = kind::create(&docker, &c.options(spec), &steps)
        .await
        .unwrap();
    assert_eq!(restarted.outcome, Outcome::Restarted);
    assert!(
        steps.all().contains(&(Step::WaitReady, StepEvent::Done)),
        "{:?}",
        steps.all()
    );
    assert!(
        heartbeats(&c.calls().await) - before >= 2,
        "the first (stale) Ready was trusted: {:?}",
        c.calls().await
    );

    // A restart whose systemd never comes up fails at the wait, though the first run's
    // "Reached target" line is still in the log.
    let c2 = TestCluster::new(&docker, "restarts").await;
    let spec = failing_at(
        fake_node::runnable_here(c2.spec(&image, kind::free_port().unwrap())),
        "systemd-again",
    );
    kind::create(&docker, &c2.options(spec.clone()), &cluster::SilentSteps)
        .await
        .unwrap();
    kind::stop_node(&docker, &c2.node()).await.unwrap();
    let err = kind::create(&docker, &c2.options(spec), &cluster::SilentSteps)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            ClusterError::StepFailed {
                step: Step::WaitSystemd,
                kept: Some(_),
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_port_taken_while_the_node_was_stopped_is_named() {
    let Some(docker) = support::engine("port while stopped").await else {
        return;
    };
    if !fake_node::available("port while stopped") {
        return;
    }
    let cleanup = support::Cleanup::new(&docker);
    let c = TestCluster::new(&docker, "portstop").await;
    let image = fake_node::build(&docker, &cleanup, &c.name, false).await;
    let ui = kind::free_port().unwrap();
    let spec = fake_node::runnable_here(c.spec(&image, ui));
    kind::create(&docker, &c.options(spec.clone()), &cluster::SilentSteps)
        .await
        .unwrap();
    kind::stop_node(&docker, &c.node()).await.unwrap();
    let squatter = std::net::TcpListener::bind(("127.0.0.1", ui)).unwrap();
    let err = kind::create(&docker, &c.options(spec), &cluster::SilentSteps)
        .await
        .unwrap_err();
    drop(squatter);
    let ClusterError::PortTaken { port, .. } = &err else {
        panic!("not the port-in-use error: {err}")
    };
    assert_eq!(*port, ui);
    assert!(
        err.to_string().contains(&format!(
            "port {ui} on 127.0.0.1 is already in use (the UI port of the stopped node)"
        )),
        "{err}"
    );
    assert!(
        err.hint().unwrap().contains("while the node"),
        "{:?}",
        err.hint()
    );
    assert!(c.exists().await);
}

/// A spec whose data lives in the named volume `<cluster>-data`.
fn volume_spec(c: &TestCluster, image: &str) -> NodeSpec {
    fake_node::runnable_here(node_spec(&NodeOptions {
        cluster: c.name.clone(),
        image: image.into(),
        api_server_port: kind::free_port().unwrap(),
        ui_port: kind::free_port().unwrap(),
        data: node::DataMount::Volume(node::data_volume_name(&c.name)),
        host: c.host.clone(),
    }))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_data_volume_is_labelled_survives_delete_and_create_and_goes_with_purge() {
    let Some(docker) = support::engine("data volume").await else {
        return;
    };
    if !fake_node::available("data volume") {
        return;
    }
    let cleanup = support::Cleanup::new(&docker);
    let c = TestCluster::new(&docker, "datavol").await;
    let image = fake_node::build(&docker, &cleanup, &c.name, false).await;
    let volume = node::data_volume_name(&c.name);
    kind::create(
        &docker,
        &c.options(volume_spec(&c, &image)),
        &cluster::SilentSteps,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\nhint: {:?}", e.hint()));
    let v = docker
        .inspect_volume(&volume)
        .await
        .expect("the data volume");
    assert_eq!(v.labels[node::LABEL_CLUSTER], c.name);
    assert_eq!(v.labels[node::LABEL_VOLUME], "data");
    assert_eq!(v.labels["app.kubernetes.io/managed-by"], "onyx");
    assert_eq!(v.labels["app.kubernetes.io/part-of"], "onyx");
    let status = kind::status(&docker, &c.name).await.unwrap();
    assert_eq!(status.data_volume.as_deref(), Some(volume.as_str()));
    assert_eq!(status.data_dir, None);
    let dir = format!("{}/onyx/postgresql", node::STORAGE_ROOT);
    let out = kind::exec(
        &docker,
        &c.node(),
        &[
            "sh",
            "-c",
            &format!("mkdir -p {dir} && echo 'row 1' > {dir}/PG_VERSION"),
        ],
        None,
    )
    .await
    .unwrap();
    assert!(out.ok(), "{}", out.error_text());

    // delete without --purge: node gone, volume and data kept.
    let deleted = kind::delete(&docker, &c.name, &c.kubeconfig(), None)
        .await
        .unwrap();
    assert!(deleted.node_removed);
    assert!(deleted.volumes_removed.is_empty());
    assert!(kind::volumes::exists(&docker, &volume).await.unwrap());
    // Made again: the same data at the same place.
    kind::create(
        &docker,
        &c.options(volume_spec(&c, &image)),
        &cluster::SilentSteps,
    )
    .await
    .unwrap();
    assert_eq!(c.read_text(&format!("{dir}/PG_VERSION")).await, "row 1\n");

    // A create that fails after the volume existed keeps it (and its data).
    kind::delete(&docker, &c.name, &c.kubeconfig(), None)
        .await
        .unwrap();
    let err = kind::create(
        &docker,
        &c.options(failing_at(volume_spec(&c, &image), "kubeadm-init")),
        &cluster::SilentSteps,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ClusterError::StepFailed { .. }), "{err}");
    assert!(!c.exists().await);
    assert!(kind::volumes::exists(&docker, &volume).await.unwrap());

    // --purge: the volume goes.
    kind::create(
        &docker,
        &c.options(volume_spec(&c, &image)),
        &cluster::SilentSteps,
    )
    .await
    .unwrap();
    let purged = kind::delete(&docker, &c.name, &c.kubeconfig(), Some(&c.data_dir()))
        .await
        .unwrap();
    assert_eq!(purged.volumes_removed, vec![volume.clone()]);
    assert!(!kind::volumes::exists(&docker, &volume).await.unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_first_create_removes_the_data_volume_it_made() {
    let Some(docker) = support::engine("data volume rollback").await else {
        return;
    };
    if !fake_node::available("data volume rollback") {
        return;
    }
    let cleanup = support::Cleanup::new(&docker);
    let c = TestCluster::new(&docker, "volrb").await;
    let image = fake_node::build(&docker, &cleanup, &c.name, false).await;
    let volume = node::data_volume_name(&c.name);
    let err = kind::create(
        &docker,
        &c.options(failing_at(volume_spec(&c, &image), "taint")),
        &cluster::SilentSteps,
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("remove control-plane taint"),
        "{err}"
    );
    assert!(!c.exists().await);
    assert!(
        !kind::volumes::exists(&docker, &volume).await.unwrap(),
        "an empty volume made by the failed run was left behind"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_prints_the_specs_from_this_engines_facts_and_makes_nothing() {
    let Some(docker) = support::engine("dry run").await else {
        return;
    };
    let c = TestCluster::new(&docker, "dryrun").await;
    let (code, out, err) = onyx(
        &c,
        &[
            "cluster",
            "create",
            "--dry-run",
            "--name",
            &c.name,
            "--port",
            "3999",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let plan: Value = serde_json::from_str(&out).unwrap();
    let info = docker.info().await.unwrap();
    // The engine's own facts, read from it.
    let cgroup = info
        .cgroup_version
        .map(|v| v.to_string())
        .unwrap_or_default();
    assert_eq!(plan["engine"]["cgroup_version"], cgroup);
    assert_eq!(
        plan["engine"]["storage_driver"],
        info.driver.clone().unwrap_or_default()
    );
    let bridge = docker
        .inspect_network(
            "bridge",
            None::<bollard::query_parameters::InspectNetworkOptions>,
        )
        .await
        .unwrap();
    let mtu: Option<u32> = bridge
        .options
        .as_ref()
        .and_then(|o| o.get("com.docker.network.driver.mtu"))
        .and_then(|m| m.parse().ok())
        .filter(|m| *m > 0);
    assert_eq!(plan["engine"]["bridge_mtu"], serde_json::json!(mtu));
    // The network exists (the tests made it): its subnets, nothing to create.
    assert_eq!(plan["network"]["name"], "kind");
    assert_eq!(plan["network"]["exists"], true);
    // The node container's Docker API body, as the create would send it.
    let body = &plan["node"]["body"];
    assert_eq!(plan["node"]["name"], c.node());
    assert_eq!(body["Image"], onyx_node_image());
    assert_eq!(body["HostConfig"]["Privileged"], true);
    assert_eq!(body["HostConfig"]["CgroupnsMode"], "private");
    assert_eq!(
        body["HostConfig"]["PortBindings"]["30080/tcp"][0]["HostPort"],
        "3999"
    );
    let binds: Vec<&str> = body["HostConfig"]["Binds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_str().unwrap())
        .collect();
    // ONYX_DATA_DIR holds no older data: the named volume.
    let volume = node::data_volume_name(&c.name);
    assert!(
        binds.contains(&format!("{volume}:{}", node::STORAGE_ROOT).as_str()),
        "{binds:?}"
    );
    assert_eq!(plan["volumes"][0]["name"], volume);
    // overlay2 on extfs, rootful, no userns-remap here: none of kind's host cases apply.
    let host = host::gather(&docker).await.unwrap();
    assert_eq!(
        binds.contains(&"/dev/mapper:/dev/mapper"),
        host.mount_dev_mapper()
    );
    assert_eq!(
        body["HostConfig"].get("Devices").is_some(),
        host.mount_fuse()
    );
    assert_eq!(
        body["HostConfig"]["UsernsMode"].as_str(),
        host.userns_host().then_some("host")
    );
    // The kubeadm config for this host.
    let config = plan["kubeadm"]["config"].as_str().unwrap();
    assert!(
        config.contains("skipPhases:\n  - \"preflight\""),
        "{config}"
    );
    assert!(!config.contains("metadata:"), "{config}");
    assert_eq!(
        config.contains("failCgroupV1: false"),
        cgroup == "1",
        "{config}"
    );
    if cgroup == "1" {
        assert!(
            plan["warnings"][0].as_str().unwrap().contains("cgroup v1"),
            "{plan}"
        );
    }
    assert!(
        config.contains("advertiseAddress: \"<node-ip>\""),
        "{config}"
    );
    // Nothing made.
    assert!(!c.exists().await);
    assert!(!kind::volumes::exists(&docker, &volume).await.unwrap());
    assert!(!c.kubeconfig().exists());

    // The text form says the same, for people.
    let (code, text, err) = onyx(&c, &["cluster", "create", "--dry-run", "--name", &c.name]);
    assert_eq!(code, 0, "{err}");
    assert!(
        text.contains("# node container (POST /containers/create?name="),
        "{text}"
    );
    assert!(text.contains("skipPhases:"), "{text}");
    if cgroup == "1" {
        assert!(err.contains("cgroup v1"), "{err}");
    }
    assert!(!c.exists().await);
}

/// The pinned node image, as the binary uses it.
fn onyx_node_image() -> String {
    onyx::stack::catalog::node_image().reference.clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_proxy_reaches_the_node_with_the_networks_real_subnets_in_no_proxy() {
    let Some(docker) = support::engine("proxy env").await else {
        return;
    };
    if !fake_node::available("proxy env") {
        return;
    }
    let cleanup = support::Cleanup::new(&docker);
    let c = TestCluster::new(&docker, "proxy").await;
    let image = fake_node::build(&docker, &cleanup, &c.name, false).await;
    let mut options = c.options(fake_node::runnable_here(
        c.spec(&image, kind::free_port().unwrap()),
    ));
    options.host.proxy = host::Proxy {
        http: Some("http://proxy.corp:3128".into()),
        https: Some("http://proxy.corp:3128".into()),
        no: Some("corp.example".into()),
    };
    kind::create(&docker, &options, &cluster::SilentSteps)
        .await
        .unwrap_or_else(|e| panic!("{e}\nhint: {:?}", e.hint()));
    // kind v0.32.0 providers/docker/provision.go getProxyEnv: the network's subnets (from the
    // engine), then the user's NO_PROXY with the service and pod subnets, the node, DNS suffixes.
    let subnets = kind::network::subnets(&docker, node::NETWORK)
        .await
        .unwrap()
        .unwrap();
    assert!(!subnets.is_empty());
    let want_no = format!(
        "{},corp.example,10.96.0.0/16,10.244.0.0/16,{},.svc,.svc.cluster,.svc.cluster.local",
        subnets.join(","),
        c.node()
    );
    let i = kind::inspect(&docker, &c.node()).await.unwrap().unwrap();
    let env = i.config.unwrap().env.unwrap();
    for want in [
        "HTTP_PROXY=http://proxy.corp:3128".to_string(),
        "http_proxy=http://proxy.corp:3128".to_string(),
        "HTTPS_PROXY=http://proxy.corp:3128".to_string(),
        "https_proxy=http://proxy.corp:3128".to_string(),
        format!("NO_PROXY={want_no}"),
        format!("no_proxy={want_no}"),
    ] {
        assert!(env.contains(&want), "{want} not in {env:?}");
    }
}
