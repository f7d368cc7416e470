//! Real Docker parts for the image tests: the engine (skip with a visible message when none
//! answers, fail under CI / ONYX_REQUIRE_DOCKER / ONYX_REQUIRE_REAL), a registry process of the
//! test's own, and tiny images built here (Docker Hub is out of reach), loaded, pushed and removed.
#![allow(dead_code)]

use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::models::{ContainerCreateBody, HostConfig, HostConfigCgroupnsModeEnum};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, PushImageOptionsBuilder, RemoveImageOptionsBuilder,
    TagImageOptionsBuilder,
};
use futures_util::StreamExt;
use onyx::docker::engine::{self, EngineEnv};
use onyx::docker::{ImageEvent, Reporter};
use sha2::{Digest, Sha256};

use super::image_tar::{self, add};

pub use super::skipped;

/// Whether a missing Docker part must fail the test instead of skipping it ([`super::required`]).
pub fn required() -> bool {
    super::required(super::Part::Docker)
}

/// The engine, or `None` after printing `SKIPPED: no Docker engine` (panics when required).
pub async fn engine(test: &str) -> Option<Docker> {
    match engine::connect(&EngineEnv::from_process()).await {
        Ok(e) => Some(e.docker),
        Err(err) => {
            if required() {
                panic!("{test}: a Docker engine is required here (CI/ONYX_REQUIRE_*): {err}");
            }
            tracing::debug!("{err}");
            skipped(&format!("no Docker engine ({test})"));
            None
        }
    }
}

/// A name unique to this test run, for images (tests run in parallel).
pub fn unique(test: &str) -> String {
    static N: Mutex<u32> = Mutex::new(0);
    let mut n = N.lock().unwrap();
    *n += 1;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "onyx-test-{}-{}-{nanos:x}-{}",
        test.replace('_', "-"),
        std::process::id(),
        *n
    )
}

/// A `docker-registry` process of one test's own, on a free port with its own storage, that the
/// test may stop and start again.
pub struct Registry {
    pub addr: String,
    config: PathBuf,
    _dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Registry {
    /// Start one, or `None` (printing SKIPPED) when docker-registry is not installed.
    pub fn start(test: &str) -> Option<Registry> {
        let have = Command::new("docker-registry")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if !have {
            if required() {
                panic!("{test}: docker-registry is required here (CI/ONYX_REQUIRE_*)");
            }
            skipped(&format!("no docker-registry ({test})"));
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.path().join("config.yml");
        let mut f = std::fs::File::create(&config).unwrap();
        write!(
            f,
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        )
        .unwrap();
        let mut r = Registry {
            addr: format!("127.0.0.1:{port}"),
            config,
            _dir: dir,
            child: None,
        };
        r.resume();
        Some(r)
    }

    /// Start the process (again) and wait until it answers.
    pub fn resume(&mut self) {
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(&self.addr).is_err() {
            assert!(Instant::now() < deadline, "registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stop the process (its storage stays).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Build an image named `reference` (busybox plus `extra_bytes` of random data, so layers differ
/// between images) and load it into the engine: a `docker save`-format stream made here. Returns
/// the image ID, which `cleanup` removes (with every name it has by then) when dropped.
pub async fn build_image(
    docker: &Docker,
    cleanup: &Cleanup,
    reference: &str,
    extra_bytes: usize,
) -> String {
    // The layer: bin/busybox, bin/sh → busybox, and a file of random bytes.
    let mut layer = tar::Builder::new(Vec::new());
    let busybox = std::fs::read("/bin/busybox").unwrap_or_else(|_| b"#!busybox missing".to_vec());
    add(&mut layer, "bin/busybox", &busybox, 0o755);
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    layer.append_link(&mut h, "bin/sh", "busybox").unwrap();
    let mut data = vec![0u8; extra_bytes];
    rand_fill(&mut data, reference);
    add(&mut layer, "data/random", &data, 0o644);
    add(&mut layer, "data/name", reference.as_bytes(), 0o644);
    let layer = layer.into_inner().unwrap();
    let (archive, config_id) = image_tar::docker_save(
        reference,
        &layer,
        serde_json::json!({
            "config": {"Cmd": ["/bin/sh"]},
            "history": [{"created_by": "onyx test"}],
        }),
    );
    image_tar::import(docker, archive, "test image").await;
    let id = format!("sha256:{config_id}");
    cleanup.add(&id);
    id
}

/// Deterministic-enough noise (distinct per image) without a rand dependency in tests.
fn rand_fill(buf: &mut [u8], seed: &str) {
    let mut state = Sha256::digest(format!("{seed}{:?}", Instant::now()).as_bytes()).to_vec();
    for chunk in buf.chunks_mut(32) {
        state = Sha256::digest(&state).to_vec();
        chunk.copy_from_slice(&state[..chunk.len()]);
    }
}

/// Push `reference` to `registry` as `registry/<its docker.io path>`, then remove both names from
/// the engine, so a pull through the mirror has to fetch it.
pub async fn push_and_remove(docker: &Docker, reference: &str, registry: &str) {
    let r = onyx::docker::reference::Reference::parse(reference).unwrap();
    let remote = r.pull_reference(Some(registry));
    let (repo, tag) = remote.rsplit_once(':').unwrap();
    docker
        .tag_image(
            reference,
            Some(TagImageOptionsBuilder::new().repo(repo).tag(tag).build()),
        )
        .await
        .unwrap();
    let mut push = docker.push_image(
        repo,
        Some(PushImageOptionsBuilder::new().tag(tag).build()),
        Some(DockerCredentials::default()),
    );
    while let Some(x) = push.next().await {
        x.unwrap_or_else(|e| panic!("push {remote}: {e}"));
    }
    remove(docker, &remote).await;
    remove(docker, reference).await;
}

/// Remove an image name (ignoring "no such image").
pub async fn remove(docker: &Docker, reference: &str) {
    let _ = docker
        .remove_image(
            reference,
            Some(RemoveImageOptionsBuilder::new().force(true).build()),
            None,
        )
        .await;
}

/// The engine's ID for a name, if it has it.
pub async fn image_id(docker: &Docker, reference: &str) -> Option<String> {
    docker
        .inspect_image(reference)
        .await
        .ok()
        .and_then(|i| i.id)
}

/// Records every event, in order, for the assertions.
#[derive(Default)]
pub struct Recorder {
    pub events: Mutex<Vec<(String, ImageEvent)>>,
}

impl Reporter for Recorder {
    fn image(&self, image: &str, event: ImageEvent) {
        self.events.lock().unwrap().push((image.to_string(), event));
    }
    fn message(&self, _: &str) {}
}

impl Recorder {
    pub fn of(&self, image: &str) -> Vec<ImageEvent> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|(i, _)| i == image)
            .map(|(_, e)| e.clone())
            .collect()
    }

    /// Index of the first event of `image` matching `f` in the whole sequence.
    pub fn position(&self, image: &str, f: impl Fn(&ImageEvent) -> bool) -> Option<usize> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .position(|(i, e)| i == image && f(e))
    }
}

/// Removes the named images when dropped, also when the test fails half-way (a panic unwinds
/// through it), so failed runs leave nothing behind either.
pub struct Cleanup {
    docker: Docker,
    names: Mutex<Vec<String>>,
}

impl Cleanup {
    pub fn new(docker: &Docker) -> Cleanup {
        Cleanup {
            docker: docker.clone(),
            names: Mutex::new(Vec::new()),
        }
    }

    /// Remember a name to remove.
    pub fn add(&self, name: &str) {
        self.names.lock().unwrap().push(name.to_string());
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let names = std::mem::take(&mut *self.names.lock().unwrap_or_else(|e| e.into_inner()));
        let docker = self.docker.clone();
        in_drop(async move {
            for n in names {
                remove(&docker, &n).await;
            }
        });
    }
}

/// Run async clean-up from a `Drop`, which can't await and may run inside the test's runtime: on
/// a thread of its own with a runtime of its own, waited for.
pub fn in_drop(work: impl std::future::Future<Output = ()> + Send + 'static) {
    let _ = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(work)
    })
    .join();
}

/// Remove a container with its anonymous volumes (ignoring "no such container").
pub async fn remove_container(docker: &Docker, name: &str) {
    let _ = docker
        .remove_container(
            name,
            Some(
                bollard::query_parameters::RemoveContainerOptionsBuilder::new()
                    .force(true)
                    .v(true)
                    .build(),
            ),
        )
        .await;
}

/// Users of the shared `kind` network in this test binary (cluster_kind's clusters, the own-cluster
/// test): the first makes it (through the product's own `ensure_network`), the last removes it if
/// nothing else is attached. One process runs all tests, so no test may remove it on its own.
static KIND_NETWORK_USERS: Mutex<usize> = Mutex::new(0);

/// Joins the `kind` network's users, making the network if it is not there.
pub fn kind_network_join(docker: &Docker) {
    let mut users = KIND_NETWORK_USERS.lock().unwrap_or_else(|e| e.into_inner());
    *users += 1;
    let d = docker.clone();
    // ensure_network is async; run it on a thread of its own while holding the count.
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(onyx::cluster::kind::ensure_network(
                &d,
                onyx::cluster::node::NETWORK,
            ))
    })
    .join()
    .unwrap()
    .expect("the kind network");
}

/// Leaves the `kind` network's users; the last one removes it (refused by the engine while
/// anything is attached).
pub async fn kind_network_leave(docker: &Docker) {
    let last = {
        let mut users = KIND_NETWORK_USERS.lock().unwrap_or_else(|e| e.into_inner());
        *users -= 1;
        *users == 0
    };
    if last {
        let _ = docker.remove_network(onyx::cluster::node::NETWORK).await;
    }
}

/// A container started like a kind node (see [`start_node`]); removed with its volumes when
/// dropped.
pub struct Node {
    pub docker: Docker,
    pub name: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let docker = self.docker.clone();
        let name = self.name.clone();
        in_drop(async move { remove_container(&docker, &name).await });
    }
}

/// A container from `image` with the capabilities these machines allow (every one but the
/// withheld CAP_SYS_RESOURCE), tmpfs /run and /tmp and a volume at /var, as a kind node has.
pub async fn start_node(docker: &Docker, image: &str, test: &str) -> Node {
    let name = unique(test);
    let body = ContainerCreateBody {
        image: Some(image.into()),
        volumes: Some(vec!["/var".into()]),
        host_config: Some(HostConfig {
            cap_add: Some(vec!["ALL".into()]),
            cap_drop: Some(vec!["SYS_RESOURCE".into()]),
            security_opt: Some(vec![
                "seccomp=unconfined".into(),
                "apparmor=unconfined".into(),
            ]),
            cgroupns_mode: Some(HostConfigCgroupnsModeEnum::PRIVATE),
            tmpfs: Some(
                [
                    ("/run".to_string(), String::new()),
                    ("/tmp".into(), String::new()),
                ]
                .into_iter()
                .collect(),
            ),
            ..Default::default()
        }),
        ..Default::default()
    };
    docker
        .create_container(
            Some(CreateContainerOptionsBuilder::new().name(&name).build()),
            body,
        )
        .await
        .unwrap();
    let node = Node {
        docker: docker.clone(),
        name,
    };
    docker.start_container(&node.name, None).await.unwrap();
    node
}
