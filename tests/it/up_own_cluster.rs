//! `onyx up` on onyx's own cluster, end to end through the CLI, against a real Docker engine and
//! a real registry (scripts/test.sh starts both; without them this says SKIPPED, except under CI
//! / ONYX_REQUIRE_DOCKER=1 / ONYX_REQUIRE_REAL=1).
//!
//! What is real: the engine, the registry the stack images are pulled from (`--registry-mirror`),
//! the node container with its port mappings, the import of the images into the node, HTTPS to
//! the node's API port, the request through the UI port, `onyx down` stopping the node and `onyx
//! up` starting it again, and the stack's claims in the node's data mount, at the directories
//! local-path-provisioner v0.0.34 gives them by the StorageClass onyx installed, with what was
//! written in them still there after `down` and `up`. What stands in: the node image (`support/fake_node.rs` with the
//! simulator as its API server, kube-proxy's node port and a stand-in for nginx), and the stack's
//! images (tiny busybox images under the stack's names). A privileged container can't start on
//! these machines, so the node is made by the test from the product's spec with only the
//! privilege fields changed (as in cluster_kind/), and `onyx up` finds it and reuses it; the
//! boot of a fresh node by the CLI is covered by cluster_kind/.
//!
//! The own cluster has a fixed name (`onyx`): the test refuses to run where an `onyx` node
//! exists already, so it never touches a user's cluster.

use crate::support::cmd::OnyxCommand;
use crate::support::docker as support;

use crate::support::fake_node;

use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::Docker;
use k8s_openapi::api::core::v1::{Secret, Service};
use onyx::cluster::kind::{self, CreateOptions, Timeouts};
use onyx::cluster::node::{self, NodeOptions, node_spec};
use onyx::cluster::{self, Step, StepEvent, StepReporter};
use support::{Cleanup, Registry};

struct Quiet;
impl StepReporter for Quiet {
    fn step(&self, _: Step, _: StepEvent) {}
    fn message(&self, _: &str) {}
}

/// Removes the node (with its volume) and the images the test made, also on a failed assert.
struct Guard {
    docker: Docker,
    node: String,
    made: Vec<String>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let docker = self.docker.clone();
        let node = self.node.clone();
        let made = std::mem::take(&mut self.made);
        support::in_drop(async move {
            support::remove_container(&docker, &node).await;
            support::kind_network_leave(&docker).await;
            for image in made {
                support::remove(&docker, &image).await;
            }
        });
    }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn onyx(kubeconfig: &Path, data: &Path, args: &[&str]) -> Run {
    let run = OnyxCommand::new(data.parent().unwrap())
        .with_docker()
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env("ONYX_DATA_DIR", data)
        .env_remove("BROWSER")
        .bound(300)
        .run_blocking();
    Run {
        code: run.code.unwrap_or(-1),
        stdout: run.stdout,
        stderr: run.stderr,
    }
}

/// A plain HTTP GET on 127.0.0.1 (what a browser does on the UI port).
async fn get(port: u16, path: &str) -> (u16, String) {
    onyx::init_tls();
    let resp = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
        .get(format!("http://127.0.0.1:{port}{path}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET 127.0.0.1:{port}{path}: {e}"));
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// A client for the cluster `onyx up` merged into the kubeconfig (context `kind-onyx`).
async fn client(kubeconfig: &Path) -> kube::Client {
    onyx::init_tls();
    let kc = kube::config::Kubeconfig::read_from(kubeconfig).unwrap();
    let config = kube::Config::from_custom_kubeconfig(
        kc,
        &kube::config::KubeConfigOptions {
            context: Some(cluster::CONTEXT_NAME.into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    kube::Client::try_from(config).unwrap()
}

async fn postgres_password(client: &kube::Client) -> Vec<u8> {
    let secrets: kube::Api<Secret> = kube::Api::namespaced(client.clone(), "default");
    let s = secrets.get("onyx-postgresql").await.unwrap();
    s.data.unwrap()["password"].0.clone()
}

async fn running(docker: &Docker, node: &str) -> bool {
    kind::inspect(docker, node)
        .await
        .unwrap()
        .and_then(|i| i.state)
        .and_then(|s| s.running)
        .unwrap_or(false)
}

fn skip(what: &str) {
    if support::required() {
        panic!("own-cluster up: {what} (required here: CI/ONYX_REQUIRE_*)");
    }
    support::skipped(&format!("own-cluster up: {what}"));
}

#[tokio::test(flavor = "multi_thread")]
async fn up_serves_on_the_mapped_port_and_down_then_up_brings_the_same_data_back() {
    // The own cluster's fixed name: no other test may look for it meanwhile.
    let _own = crate::support::own_cluster_lock().await;
    onyx::init_tls();
    let Some(docker) = support::engine("own-cluster up").await else {
        return;
    };
    if !fake_node::available("own-cluster up") {
        return;
    }
    let Some(sim) = fake_node::sim_binary() else {
        return skip("no k8s-sim binary beside the test (`cargo build -p k8s-sim`)");
    };
    let node = cluster::node_name(cluster::CLUSTER_NAME);
    if kind::inspect(&docker, &node).await.unwrap().is_some() {
        return skip(&format!(
            "a node {node} exists on this engine; the test leaves a real cluster alone"
        ));
    }
    let Some(registry) = Registry::start("own-cluster up") else {
        return;
    };
    let cleanup = Cleanup::new(&docker);
    let image = fake_node::build_with_api(&docker, &cleanup, &support::unique("node"), &sim).await;
    support::kind_network_join(&docker);
    let mut guard = Guard {
        docker: docker.clone(),
        node: node.clone(),
        made: Vec::new(),
    };

    // The stack's images, tiny, in the registry under the stack's names; the engine lacks them,
    // so `up` pulls every one through the mirror. An image the engine has already (a real one on
    // a developer's machine) is left alone: `up` finds it present.
    let mut stack: Vec<String> = onyx::stack::catalog::stack_images()
        .map(|i| i.reference.clone())
        .collect();
    stack.sort();
    stack.dedup();
    for reference in &stack {
        if support::image_id(&docker, reference).await.is_some() {
            continue;
        }
        support::build_image(&docker, &cleanup, reference, 1024).await;
        support::push_and_remove(&docker, reference, &registry.addr).await;
        guard.made.push(reference.clone());
    }

    // The node as `onyx up` would make it (cluster `onyx`, its ports), privilege fields aside.
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kube").join("config");
    let data: PathBuf = dir.path().join("onyx");
    let ui_port = kind::free_port().unwrap();
    // Before there is a node, day-2 commands say so and what to do.
    let status = onyx(&kubeconfig_for_missing(&data), &data, &["status"]);
    assert_eq!(status.code, 3, "{}\n{}", status.stdout, status.stderr);
    assert!(
        status
            .stderr
            .contains(&format!("onyx's own cluster is not there (node {node})"))
            && status.stderr.contains("`onyx up` makes one"),
        "{}",
        status.stderr
    );

    // `up` with no node and a registry that lacks the pinned node image: a clear error naming
    // the image, and nothing made (no container, no kubeconfig entry).
    let missing = kubeconfig_for_missing(&data);
    let refused = onyx(
        &missing,
        &data,
        &["up", "--no-browser", "--registry-mirror", &registry.addr],
    );
    assert_eq!(refused.code, 3, "{}\n{}", refused.stdout, refused.stderr);
    assert!(
        refused.stderr.contains("error: image kindest/node:")
            && refused.stderr.contains("was not found")
            && refused
                .stderr
                .contains("hint: check the name and tag; with --registry-mirror"),
        "{}",
        refused.stderr
    );
    assert!(!refused.stderr.contains("panicked"), "{}", refused.stderr);
    assert!(kind::inspect(&docker, &node).await.unwrap().is_none());
    assert!(
        !std::fs::read_to_string(&missing)
            .unwrap()
            .contains("kind-onyx")
    );

    // `up --bundle` with a garbage file: refused at once with the bundle's error (exit 2),
    // before anything is pulled or made (truncated bundles: src/docker/bundle.rs's tests).
    let garbage = dir.path().join("garbage.tar");
    std::fs::write(&garbage, vec![b'x'; 4096]).unwrap();
    let run = onyx(
        &missing,
        &data,
        &["up", "--no-browser", "--bundle", garbage.to_str().unwrap()],
    );
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("is not a usable onyx bundle"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("pull"), "{}", run.stderr);
    assert!(kind::inspect(&docker, &node).await.unwrap().is_none());

    let host = onyx::cluster::host::gather(&docker).await.unwrap();
    let spec = fake_node::runnable_here(node_spec(&NodeOptions {
        cluster: cluster::CLUSTER_NAME.into(),
        image: image.clone(),
        api_server_port: kind::free_port().unwrap(),
        ui_port,
        data: node::DataMount::HostDir(data.join("data")),
        host: host.clone(),
    }));
    // The user's kubeconfig has another local cluster; onyx keeps to its own and says how to
    // use the other.
    std::fs::create_dir_all(kubeconfig.parent().unwrap()).unwrap();
    std::fs::write(&kubeconfig, DOCKER_DESKTOP).unwrap();
    kind::create(
        &docker,
        &CreateOptions {
            cluster: cluster::CLUSTER_NAME.into(),
            spec,
            kubeconfig: kubeconfig.clone(),
            retain: false,
            timeouts: Timeouts {
                systemd: Duration::from_secs(20),
                ready: Duration::from_secs(20),
            },
            host,
        },
        &Quiet,
    )
    .await
    .expect("the stand-in node boots");
    // Nothing is deployed yet: the UI port leads nowhere.
    assert!(
        reqwest::get(format!("http://127.0.0.1:{ui_port}/nginx-health"))
            .await
            .map(|r| !r.status().is_success())
            .unwrap_or(true),
        "the UI port answered before anything was deployed"
    );

    // 1. `onyx up`: reuses the node, pulls through the mirror, loads into the node, applies,
    //    waits, and checks nginx on the mapped port.
    let up = onyx(
        &kubeconfig,
        &data,
        &[
            "up",
            "--no-browser",
            "--registry-mirror",
            &registry.addr,
            "--timeout",
            "180s",
        ],
    );
    assert_eq!(up.code, 0, "onyx up failed:\n{}\n{}", up.stdout, up.stderr);
    let url = format!("http://localhost:{ui_port}");
    assert!(
        up.stdout.contains(&url),
        "up prints the mapped URL {url}:\n{}",
        up.stdout
    );
    assert!(
        up.stderr
            .contains(&format!("reusing the running node {node}")),
        "{}",
        up.stderr
    );
    // The first line, before any pull: the engine with its size, the profile and why, the
    // cluster's state.
    let first = up
        .stderr
        .lines()
        .find(|l| l.starts_with("engine "))
        .unwrap_or_else(|| panic!("no first line:\n{}", up.stderr));
    assert!(
        first.contains(" CPUs); profile ") && first.ends_with("cluster onyx: reused (running)"),
        "{first}"
    );
    assert!(
        up.stderr.find(first).unwrap() < up.stderr.find("pulled").unwrap_or(usize::MAX),
        "{}",
        up.stderr
    );
    // The node maps another port than the default one up was given: said, and that one used.
    assert!(
        up.stderr.contains(&format!(
            "onyx's cluster serves the UI on port {ui_port}, not 3000"
        )),
        "{}",
        up.stderr
    );
    assert!(
        up.stderr.contains(
            "your kubeconfig also has docker-desktop (Docker Desktop): \
             `onyx up --context docker-desktop` would use that instead"
        ),
        "{}",
        up.stderr
    );
    assert!(up.stderr.contains("all 8 services ready"), "{}", up.stderr);
    // The UI port reaches the stand-in for nginx behind the gateway Service's node port.
    assert_eq!(get(ui_port, "/nginx-health").await, (200, "ok\n".into()));
    assert!(get(ui_port, "/").await.1.contains("stand-in for nginx"));
    let client = client(&kubeconfig).await;
    let svc: Service = kube::Api::namespaced(client.clone(), "default")
        .get("nginx")
        .await
        .unwrap();
    let spec = svc.spec.unwrap();
    assert_eq!(spec.type_.as_deref(), Some("NodePort"));
    assert_eq!(
        spec.ports.unwrap()[0].node_port,
        Some(i32::from(onyx::cluster::node::UI_NODE_PORT))
    );
    // Every stack image went into the node: looked up there by the engine's ID, then (the fresh
    // node has none of them) streamed into its containerd.
    let calls = String::from_utf8(
        kind::exec(&docker, &node, &["cat", "/records/calls"], None)
            .await
            .unwrap()
            .stdout,
    )
    .unwrap();
    for image in &stack {
        let id = support::image_id(&docker, image)
            .await
            .unwrap_or_else(|| panic!("{image} is not in the engine after up"));
        assert!(
            calls.contains(&format!("crictl inspecti {id}")),
            "the node was not asked for {image} ({id}):\n{calls}"
        );
    }
    assert_eq!(
        calls
            .matches("ctr --namespace=k8s.io images import")
            .count(),
        stack.len(),
        "one import per image:\n{calls}"
    );
    let password = postgres_password(&client).await;
    // Every claim provisioned by the StorageClass onyx installed (local-path v0.0.34's rule in
    // the simulator) at `<storage root>/default/<claim>`, i.e. in the node's data mount; a row
    // written there, as PostgreSQL would.
    let claims = claim_paths(&client).await;
    assert!(!claims.is_empty(), "the stack made no claims");
    for (claim, path) in &claims {
        assert_eq!(path, &format!("{}/default/{claim}", node::STORAGE_ROOT));
        let host = data.join("data").join("default").join(claim);
        assert!(
            host.is_dir(),
            "{} was not made in the data mount",
            host.display()
        );
        std::fs::write(host.join("PG_VERSION"), format!("row of {claim}\n")).unwrap();
    }

    // 2. `onyx status`: healthy, exit 0, with the node's UI URL (not the default port's);
    //    `onyx open --print` gives the same URL.
    let status = onyx(&kubeconfig, &data, &["status", "-o", "json"]);
    assert_eq!(status.code, 0, "{}\n{}", status.stdout, status.stderr);
    let json: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(json["url"], url.as_str(), "{json}");
    assert_eq!(json["healthy"], true, "{json}");
    let open = onyx(&kubeconfig, &data, &["open", "--print"]);
    assert_eq!(open.code, 0, "{}", open.stderr);
    assert_eq!(open.stdout.trim(), url);

    // 2b. `onyx up` on the healthy stack: verifies and changes nothing (no pull, no import, the
    //     same credentials).
    let started = std::time::Instant::now();
    let again = onyx(&kubeconfig, &data, &["up", "--no-browser"]);
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    eprintln!(
        "own-cluster up on a healthy stack took {:.2}s (information, not asserted)",
        started.elapsed().as_secs_f32()
    );
    assert_eq!(imports(&docker, &node).await, stack.len());
    assert_eq!(postgres_password(&client).await, password);

    // 3. `onyx down`: the services scaled to zero, then the node stopped.
    let down = onyx(&kubeconfig, &data, &["down"]);
    assert_eq!(down.code, 0, "{}\n{}", down.stdout, down.stderr);
    assert!(
        down.stderr.contains(&format!("stopped the node {node}")),
        "{}",
        down.stderr
    );
    assert!(!running(&docker, &node).await, "the node still runs");
    // With the node stopped, status says so and what to do.
    let status = onyx(&kubeconfig, &data, &["status"]);
    assert_eq!(status.code, 3, "{}\n{}", status.stdout, status.stderr);
    assert!(
        status.stderr.contains("onyx's own cluster is stopped")
            && status.stderr.contains("`onyx up` starts it again"),
        "{}",
        status.stderr
    );

    // 4. `onyx up` again: the node starts, the stack comes back with the same credentials, and
    //    nothing is pulled again (the engine has every image).
    let up = onyx(
        &kubeconfig,
        &data,
        &["up", "--no-browser", "--timeout", "180s"],
    );
    assert_eq!(
        up.code, 0,
        "second up failed:\n{}\n{}",
        up.stdout, up.stderr
    );
    assert!(
        up.stderr
            .contains(&format!("starting the stopped node {node}")),
        "{}",
        up.stderr
    );
    assert!(running(&docker, &node).await);
    assert_eq!(
        imports(&docker, &node).await,
        stack.len(),
        "the node kept its images: nothing is imported again"
    );
    assert_eq!(get(ui_port, "/nginx-health").await, (200, "ok\n".into()));
    let client = self::client(&kubeconfig).await;
    assert_eq!(
        postgres_password(&client).await,
        password,
        "the database password changed across down and up"
    );
    // The same claims at the same directories, and the rows in them, seen from inside the node.
    assert_eq!(claim_paths(&client).await, claims);
    for (claim, path) in &claims {
        let out = kind::exec(
            &docker,
            &node,
            &["cat", &format!("{path}/PG_VERSION")],
            None,
        )
        .await
        .unwrap();
        assert_eq!(out.stdout_text(), format!("row of {claim}\n"), "{path}");
    }

    // 4b. `onyx cluster delete` (the data kept) and a new node: the stack's Secrets went with
    //     the node's etcd (the simulator's store is inside the node, as etcd's is), the data did
    //     not; the credentials the data was initialised with come back with it, every one.
    let secrets = stack_secrets(&client).await;
    let saved = data.join("data").join(".onyx").join("default");
    let file = saved.join("credentials.json");
    let delete = onyx(&kubeconfig, &data, &["cluster", "delete"]);
    assert_eq!(delete.code, 0, "{}\n{}", delete.stdout, delete.stderr);
    assert!(kind::inspect(&docker, &node).await.unwrap().is_none());
    make_node(&docker, &image, ui_port, &data, &kubeconfig).await;
    let up = onyx(
        &kubeconfig,
        &data,
        &["up", "--no-browser", "--timeout", "180s"],
    );
    assert_eq!(
        up.code, 0,
        "up after cluster delete:\n{}\n{}",
        up.stdout, up.stderr
    );
    assert!(
        up.stderr.contains(
            "the cluster lacked the stack's Secrets onyx-app, onyx-minio, onyx-postgresql, \
             onyx-redis: their values kept with the data are used"
        ),
        "{}",
        up.stderr
    );
    let client = self::client(&kubeconfig).await;
    assert_eq!(
        stack_secrets(&client).await,
        secrets,
        "the stack's credentials changed across `cluster delete` and `up`"
    );
    // Kept in the data mount, root's alone, beside the claims' directories (no pod mounts it).
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&file), 0o600, "{}", file.display());
        assert_eq!(mode(&saved), 0o700, "{}", saved.display());
    }
    for (claim, path) in &claims {
        let out = kind::exec(
            &docker,
            &node,
            &["cat", &format!("{path}/PG_VERSION")],
            None,
        )
        .await
        .unwrap();
        assert_eq!(out.stdout_text(), format!("row of {claim}\n"), "{path}");
    }

    // 4c. `onyx cluster delete --purge`: the data and its credentials go; the next `up` makes
    //     fresh ones, none equal to a value before.
    let purge = onyx(&kubeconfig, &data, &["cluster", "delete", "--purge"]);
    assert_eq!(purge.code, 0, "{}\n{}", purge.stdout, purge.stderr);
    assert!(!file.exists(), "the credentials outlived --purge");
    make_node(&docker, &image, ui_port, &data, &kubeconfig).await;
    let up = onyx(
        &kubeconfig,
        &data,
        &["up", "--no-browser", "--timeout", "180s"],
    );
    assert_eq!(
        up.code, 0,
        "up after --purge:\n{}\n{}",
        up.stdout, up.stderr
    );
    let client = self::client(&kubeconfig).await;
    let fresh = stack_secrets(&client).await;
    assert_eq!(fresh.len(), secrets.len());
    for ((name, old), (_, new)) in secrets.iter().zip(&fresh) {
        for (key, value) in old {
            assert_ne!(new.get(key), Some(value), "{name}/{key} survived --purge");
        }
    }
    // `destroy --data`: the claims and the Secrets go, and the copy beside them too.
    assert!(file.is_file(), "up kept no copy of the fresh credentials");
    let destroy = onyx(&kubeconfig, &data, &["destroy", "--data", "--yes"]);
    assert_eq!(destroy.code, 0, "{}\n{}", destroy.stdout, destroy.stderr);
    assert!(!file.exists(), "the credentials outlived destroy --data");

    // 5. Offline: the images saved to one bundle, the registry gone, the images removed from the
    //    engine; `onyx up --bundle` loads them from the file (the node, which has them, is only
    //    asked).
    if guard.made.len() != stack.len() {
        crate::support::gate::skip_unless_required(
            crate::support::Part::Docker,
            "own-cluster up --bundle: the engine had real stack images; not removed",
        );
        return;
    }
    let bundle = dir.path().join("onyx-images.tar");
    let mut save = vec!["images", "save", "-o", bundle.to_str().unwrap()];
    for image in &stack {
        save.extend(["--image", image.as_str()]);
    }
    let saved = onyx(&kubeconfig, &data, &save);
    assert_eq!(saved.code, 0, "{}", saved.stderr);
    let mut ids = Vec::new();
    for image in &stack {
        ids.push(support::image_id(&docker, image).await.unwrap());
        support::remove(&docker, image).await;
        assert!(support::image_id(&docker, image).await.is_none());
    }
    let mut registry = registry;
    registry.stop();
    let imports_before = imports(&docker, &node).await;
    let up = onyx(
        &kubeconfig,
        &data,
        &[
            "up",
            "--no-browser",
            "--bundle",
            bundle.to_str().unwrap(),
            "--timeout",
            "180s",
        ],
    );
    assert_eq!(
        up.code, 0,
        "up --bundle failed:\n{}\n{}",
        up.stdout, up.stderr
    );
    for (image, id) in stack.iter().zip(&ids) {
        assert_eq!(
            support::image_id(&docker, image).await.as_ref(),
            Some(id),
            "{image} is back in the engine from the bundle, the same image"
        );
    }
    assert_eq!(
        imports(&docker, &node).await,
        imports_before,
        "the node has these very images (same IDs): none is streamed again"
    );
    assert_eq!(get(ui_port, "/nginx-health").await, (200, "ok\n".into()));
    drop(guard);
    drop(registry);
}

/// Every stack Secret in namespace `default`: name → key → value.
async fn stack_secrets(
    client: &kube::Client,
) -> std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>> {
    let secrets: kube::Api<Secret> = kube::Api::namespaced(client.clone(), "default");
    let mut out = std::collections::BTreeMap::new();
    for (name, keys) in onyx::stack::secrets::SECRETS {
        let s = secrets.get(name).await.unwrap();
        let data = s.data.unwrap();
        let values = keys
            .iter()
            .map(|k| {
                (
                    k.to_string(),
                    String::from_utf8(data[*k].0.clone()).unwrap(),
                )
            })
            .collect();
        out.insert(name.to_string(), values);
    }
    out
}

/// The stand-in node as `onyx up` would make it (cluster `onyx`, the UI port, the data
/// directory), privilege fields aside, merged into the kubeconfig; `up` then reuses it.
async fn make_node(docker: &Docker, image: &str, ui_port: u16, data: &Path, kubeconfig: &Path) {
    let host = onyx::cluster::host::gather(docker).await.unwrap();
    std::fs::create_dir_all(data.join("data")).unwrap();
    let spec = fake_node::runnable_here(node_spec(&NodeOptions {
        cluster: cluster::CLUSTER_NAME.into(),
        image: image.to_string(),
        api_server_port: kind::free_port().unwrap(),
        ui_port,
        data: node::DataMount::HostDir(data.join("data")),
        host: host.clone(),
    }));
    kind::create(
        docker,
        &CreateOptions {
            cluster: cluster::CLUSTER_NAME.into(),
            spec,
            kubeconfig: kubeconfig.to_path_buf(),
            retain: false,
            timeouts: Timeouts {
                systemd: Duration::from_secs(20),
                ready: Duration::from_secs(20),
            },
            host,
        },
        &Quiet,
    )
    .await
    .expect("the stand-in node boots");
}

/// A kubeconfig without onyx's context (none exists before the node is made).
fn kubeconfig_for_missing(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("empty-kubeconfig");
    std::fs::write(
        &path,
        "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n",
    )
    .unwrap();
    path
}

const DOCKER_DESKTOP: &str = "apiVersion: v1
kind: Config
clusters:
- name: docker-desktop
  cluster:
    server: https://kubernetes.docker.internal:6443
contexts:
- name: docker-desktop
  context:
    cluster: docker-desktop
    user: docker-desktop
current-context: docker-desktop
users:
- name: docker-desktop
  user:
    token: not-used
";

/// How many image imports the node's containerd has been asked for.
async fn imports(docker: &Docker, node: &str) -> usize {
    let out = kind::exec(docker, node, &["cat", "/records/calls"], None)
        .await
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .matches("ctr --namespace=k8s.io images import")
        .count()
}

/// Each claim of the stack (namespace `default`), Bound, with the directory its volume is in
/// (the PersistentVolume's hostPath), sorted by claim.
async fn claim_paths(client: &kube::Client) -> Vec<(String, String)> {
    use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
    let pvcs: kube::Api<PersistentVolumeClaim> = kube::Api::namespaced(client.clone(), "default");
    let pvs: kube::Api<PersistentVolume> = kube::Api::all(client.clone());
    let mut out = Vec::new();
    for pvc in pvcs.list(&Default::default()).await.unwrap().items {
        let name = pvc.metadata.name.clone().unwrap();
        assert_eq!(
            pvc.status.as_ref().and_then(|s| s.phase.as_deref()),
            Some("Bound"),
            "{name}"
        );
        let volume = pvc.spec.and_then(|s| s.volume_name).unwrap();
        let pv = pvs.get(&volume).await.unwrap();
        out.push((name, pv.spec.unwrap().host_path.unwrap().path));
    }
    out.sort();
    out
}
