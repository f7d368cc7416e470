//! kubectl against the Kubernetes API simulator, with exactly what `onyx render` prints.
//!
//! These show that the simulator speaks the API a real client expects, so that later tests of
//! `onyx up` and the kubectl side-by-side benchmarks stand on it: `kubectl apply --server-side`
//! of the whole rendered stack (with kubectl's default validation), `kubectl get -o json`, and
//! `kubectl rollout status` for the Deployments and the StatefulSet, which must wait while pods
//! start and fail while a pod crash-loops.
//!
//! kubectl is found through `ONYX_KUBECTL` or PATH. Without one these tests print
//! a counted `SKIPPED:` line (support/gate.rs) and pass, unless `ONYX_REQUIRE_REAL=1` or `CI=true`.

use crate::support::bounded::{BOUND, Bounded};

use std::env;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_sim::{Fault, Sim, SimConfig, Target};
use serde_json::Value;

fn kubectl_or_skip() -> Option<PathBuf> {
    let found = env::var_os("ONYX_KUBECTL").map(PathBuf::from).or_else(|| {
        env::split_paths(&env::var_os("PATH")?)
            .map(|d| d.join("kubectl"))
            .find(|p| p.is_file())
    });
    if found.is_some() {
        return found;
    }
    crate::support::skip_or_fail("kubectl (ONYX_KUBECTL or PATH)");
    None
}

struct Kubectl {
    bin: PathBuf,
    kubeconfig: PathBuf,
}

impl Kubectl {
    /// Runs kubectl with a hard time bound; returns (success, stdout, stderr).
    async fn run(&self, args: &[&str]) -> (bool, String, String) {
        let (code, out, err) = self.run_code(args, None).await;
        (code == Some(0), out, err)
    }

    /// Runs kubectl with optional stdin; returns (exit code, stdout, stderr).
    async fn run_code(&self, args: &[&str], stdin: Option<&[u8]>) -> (Option<i32>, String, String) {
        let mut cmd = tokio::process::Command::new(&self.bin);
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .kill_on_drop(true);
        // kubectl must not pick up anything from the machine's own config.
        cmd.env_remove("KUBECONFIG")
            .env("HOME", self.kubeconfig.parent().unwrap());
        cmd.stdin(if stdin.is_some() {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        });
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("kubectl runs");
        if let Some(data) = stdin {
            use tokio::io::AsyncWriteExt;
            let mut w = child.stdin.take().unwrap();
            w.write_all(data).await.unwrap();
            drop(w);
        }
        let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("kubectl {args:?} did not finish in 60 s"))
            .expect("kubectl runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

fn render(dir: &Path) -> PathBuf {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_onyx"))
        .args(["render", "--profile", "small"])
        .output_within(BOUND)
        .expect("onyx render runs");
    assert!(
        out.status.success(),
        "onyx render: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = dir.join("stack.yaml");
    std::fs::write(&path, &out.stdout).unwrap();
    path
}

async fn setup(config: SimConfig) -> Option<(Sim, Kubectl, tempfile::TempDir, PathBuf)> {
    let bin = kubectl_or_skip()?;
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start(config).await.unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    let stack = render(dir.path());
    Some((sim, Kubectl { bin, kubeconfig }, dir, stack))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applies_the_rendered_stack_and_waits_for_rollouts() {
    // Long enough that a kubectl process started on a loaded 2-CPU machine still finds the API
    // not ready (1.5 s raced kubectl's own start under load).
    let config = SimConfig {
        ready_delay: Duration::from_millis(4000),
        ..Default::default()
    };
    let Some((sim, kubectl, _dir, stack)) = setup(config).await else {
        return;
    };
    let stack_arg = stack.to_str().unwrap();

    let (ok, out, err) = kubectl
        .run(&[
            "apply",
            "--server-side",
            "--field-manager",
            "onyx",
            "-f",
            stack_arg,
        ])
        .await;
    assert!(ok, "kubectl apply failed:\n{out}\n{err}");
    let rendered = std::fs::read_to_string(&stack).unwrap();
    let objects = rendered.lines().filter(|l| l.starts_with("kind: ")).count();
    assert_eq!(
        out.lines()
            .filter(|l| l.ends_with(" serverside-applied"))
            .count(),
        objects,
        "{out}"
    );
    for line in [
        "deployment.apps/api-server serverside-applied",
        "statefulset.apps/vespa serverside-applied",
    ] {
        assert!(out.contains(line), "{out}");
    }
    let d = sim
        .object("apps/v1", "Deployment", "default", "api-server")
        .expect("stored");
    assert_eq!(d["metadata"]["managedFields"][0]["manager"], "onyx");
    assert_eq!(d["metadata"]["managedFields"][0]["operation"], "Apply");

    // The pods are not ready yet: rollout status has to wait (through its watch) and then succeed.
    let not_ready = sim
        .object("apps/v1", "Deployment", "default", "api-server")
        .unwrap();
    assert_ne!(
        not_ready["status"]["availableReplicas"], 1,
        "too early to be ready"
    );
    let started = Instant::now();
    let (ok, out, err) = kubectl
        .run(&[
            "rollout",
            "status",
            "deployment/api-server",
            "--timeout=30s",
        ])
        .await;
    assert!(ok, "rollout status failed:\n{out}\n{err}");
    assert!(
        out.contains("deployment \"api-server\" successfully rolled out"),
        "{out}"
    );
    assert!(out.contains("Waiting for deployment"), "it waited: {out}");
    assert!(started.elapsed() < Duration::from_secs(20));
    let (ok, out, err) = kubectl
        .run(&["rollout", "status", "statefulset/vespa", "--timeout=30s"])
        .await;
    assert!(ok, "rollout status sts failed:\n{out}\n{err}");
    assert!(out.contains("roll out complete"), "{out}");
    for d in [
        "nginx",
        "web-server",
        "postgresql",
        "redis",
        "minio",
        "inference-model-server",
    ] {
        let (ok, out, err) = kubectl
            .run(&[
                "rollout",
                "status",
                &format!("deployment/{d}"),
                "--timeout=30s",
            ])
            .await;
        assert!(ok, "rollout status {d}:\n{out}\n{err}");
    }

    // kubectl get -o json sees every workload and pod, ready.
    let (ok, out, err) = kubectl.run(&["get", "pods,deploy,sts", "-o", "json"]).await;
    assert!(ok, "{err}");
    let list: Value = serde_json::from_str(&out).unwrap();
    let items = list["items"].as_array().unwrap();
    let count = |k: &str| items.iter().filter(|i| i["kind"] == k).count();
    assert_eq!(
        (count("Deployment"), count("StatefulSet"), count("Pod")),
        (7, 1, 8),
        "{out}"
    );
    for pod in items.iter().filter(|i| i["kind"] == "Pod") {
        assert_eq!(pod["status"]["phase"], "Running", "{pod}");
    }
    // Plain `kubectl get` (server-side Table) works too.
    let (ok, out, err) = kubectl.run(&["get", "pvc"]).await;
    assert!(
        ok && out.contains("vespa-storage-vespa-0") && out.contains("Bound"),
        "{out}{err}"
    );

    // `kubectl set image` (a strategic merge patch) changes the image and keeps the rest of the
    // container; the new generation rolls out.
    let before = sim
        .object("apps/v1", "Deployment", "default", "api-server")
        .unwrap();
    let container = before["spec"]["template"]["spec"]["containers"][0].clone();
    let cname = container["name"].as_str().unwrap().to_string();
    let (ok, out, err) = kubectl
        .run(&[
            "set",
            "image",
            "deployment/api-server",
            &format!("{cname}=onyx/api:test"),
        ])
        .await;
    assert!(ok, "{out}{err}");
    let after = sim
        .object("apps/v1", "Deployment", "default", "api-server")
        .unwrap();
    let new_container = &after["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(new_container["image"], "onyx/api:test");
    assert_eq!(new_container["env"], container["env"], "env kept");
    assert_eq!(
        new_container["command"], container["command"],
        "command kept"
    );
    assert_eq!(after["metadata"]["generation"], 2);
    let (ok, out, err) = kubectl
        .run(&[
            "rollout",
            "status",
            "deployment/api-server",
            "--timeout=30s",
        ])
        .await;
    assert!(ok, "{out}{err}");
    // Back to the rendered state for the idempotence check below.
    let (ok, _, err) = kubectl
        .run(&[
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager",
            "onyx",
            "-f",
            stack_arg,
        ])
        .await;
    assert!(ok, "{err}");
    let (ok, out, err) = kubectl
        .run(&[
            "rollout",
            "status",
            "deployment/api-server",
            "--timeout=30s",
        ])
        .await;
    assert!(ok, "{out}{err}");

    // Re-applying the same objects changes nothing.
    let rv_before = sim
        .object("apps/v1", "Deployment", "default", "api-server")
        .unwrap()["metadata"]["resourceVersion"]
        .clone();
    let (ok, _, err) = kubectl
        .run(&[
            "apply",
            "--server-side",
            "--field-manager",
            "onyx",
            "-f",
            stack_arg,
        ])
        .await;
    assert!(ok, "{err}");
    let after = sim
        .object("apps/v1", "Deployment", "default", "api-server")
        .unwrap();
    assert_eq!(after["metadata"]["resourceVersion"], rv_before);
    assert_eq!(after["metadata"]["generation"], 3);
    assert_eq!(
        after["spec"]["template"]["spec"]["containers"][0], container,
        "the rendered container again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_rollout_status_times_out_on_a_crash_loop_and_logs_show_why() {
    let Some((sim, kubectl, _dir, stack)) = setup(SimConfig::default()).await else {
        return;
    };
    sim.inject(
        Target::labels("app.kubernetes.io/name=api-server"),
        Fault::crash_loop(1, &["vespa is not reachable"]),
    );
    let (ok, out, err) = kubectl
        .run(&["apply", "--server-side", "-f", stack.to_str().unwrap()])
        .await;
    assert!(ok, "{out}{err}");
    let (ok, out, err) = kubectl
        .run(&["rollout", "status", "deployment/api-server", "--timeout=2s"])
        .await;
    assert!(!ok, "a crash-looping deployment must not roll out: {out}");
    assert!(err.contains("timed out"), "{err}");
    let (ok, out, err) = kubectl
        .run(&["logs", "deployment/api-server", "--previous"])
        .await;
    assert!(ok, "{err}");
    assert_eq!(out, "vespa is not reachable\n");
    let (ok, out, _) = kubectl
        .run(&[
            "get",
            "pods",
            "-l",
            "app.kubernetes.io/name=api-server",
            "-o",
            "json",
        ])
        .await;
    assert!(ok);
    let pods: Value = serde_json::from_str(&out).unwrap();
    let state = &pods["items"][0]["status"]["containerStatuses"][0]["state"]["waiting"]["reason"];
    assert_eq!(state, "CrashLoopBackOff");

    // kubectl delete -f removes the stack; garbage collection takes the pods.
    let (ok, out, err) = kubectl
        .run(&["delete", "-f", stack.to_str().unwrap(), "--wait=false"])
        .await;
    assert!(ok, "{out}{err}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (ok, out, _) = kubectl
            .run(&["get", "pods,deploy,sts,rs", "-o", "json"])
            .await;
        assert!(ok);
        let v: Value = serde_json::from_str(&out).unwrap();
        if v["items"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "left over: {out}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_exec_runs_the_mapped_local_process() {
    let Some((sim, kubectl, _dir, stack)) = setup(SimConfig::default()).await else {
        return;
    };
    sim.on_exec(Target::labels("app.kubernetes.io/name=redis"), None);
    let (ok, out, err) = kubectl
        .run(&["apply", "--server-side", "-f", stack.to_str().unwrap()])
        .await;
    assert!(ok, "{out}{err}");
    let (ok, out, err) = kubectl
        .run(&["rollout", "status", "deployment/redis", "--timeout=20s"])
        .await;
    assert!(ok, "{out}{err}");
    let (code, out, err) = kubectl
        .run_code(
            &[
                "exec",
                "deploy/redis",
                "--",
                "sh",
                "-c",
                "echo hi; echo oops >&2; exit 4",
            ],
            None,
        )
        .await;
    assert_eq!((code, out.as_str()), (Some(4), "hi\n"), "{err}");
    assert!(
        err.contains("oops") && err.contains("command terminated with exit code 4"),
        "{err}"
    );
    let (code, out, err) = kubectl
        .run_code(
            &["exec", "-i", "deploy/redis", "--", "cat"],
            Some(b"through stdin\n"),
        )
        .await;
    assert_eq!((code, out.as_str()), (Some(0), "through stdin\n"), "{err}");
}

/// A pod-side server for port-forward tests: echoes every byte back until the client half-closes,
/// then closes. Counts connections.
async fn echo_server() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = tokio::io::AsyncWriteExt::shutdown(&mut w).await;
            });
        }
    });
    (addr, count)
}

/// Sends `data` through `addr`, half-closes, and returns everything read back until EOF.
async fn round_trip(addr: std::net::SocketAddr, data: Vec<u8>) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut r, mut w) = s.into_split();
    let send = tokio::spawn(async move {
        w.write_all(&data).await.expect("write");
        w.shutdown().await.expect("half-close");
    });
    let mut back = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), r.read_to_end(&mut back))
        .await
        .expect("echo back within 30 s")
        .expect("read");
    send.await.unwrap();
    back
}

/// A running `kubectl port-forward`, killed on drop; stdout and stderr go to files.
struct PortForward {
    child: tokio::process::Child,
    local: std::net::SocketAddr,
    out: PathBuf,
    err: PathBuf,
}

impl PortForward {
    async fn start(kubectl: &Kubectl, args: &[&str], websockets: Option<&str>) -> PortForward {
        let dir = kubectl.kubeconfig.parent().unwrap();
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let (out, err) = (
            dir.join(format!("pf-{n}.out")),
            dir.join(format!("pf-{n}.err")),
        );
        let mut cmd = tokio::process::Command::new(&kubectl.bin);
        cmd.arg("--kubeconfig")
            .arg(&kubectl.kubeconfig)
            .args(["port-forward", "--address", "127.0.0.1", "-v=4"])
            .args(args)
            .env_remove("KUBECONFIG")
            .env_remove("KUBECTL_PORT_FORWARD_WEBSOCKETS")
            .env("HOME", dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .kill_on_drop(true);
        if let Some(v) = websockets {
            cmd.env("KUBECTL_PORT_FORWARD_WEBSOCKETS", v);
        }
        let mut child = cmd.spawn().expect("kubectl runs");
        // client-go tools/portforward/portforward.go getListener: "Forwarding from ADDR -> PORT".
        let deadline = Instant::now() + Duration::from_secs(30);
        let local = loop {
            let text = std::fs::read_to_string(&out).unwrap_or_default();
            if let Some(addr) = text.lines().find_map(|l| {
                l.strip_prefix("Forwarding from ")
                    .and_then(|r| r.split(" -> ").next())
                    .and_then(|a| a.parse().ok())
            }) {
                break addr;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "kubectl port-forward exited ({status}) before listening:\n{text}\n{}",
                    std::fs::read_to_string(&err).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "kubectl port-forward did not listen within 30 s:\n{text}\n{}",
                std::fs::read_to_string(&err).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        PortForward {
            child,
            local,
            out,
            err,
        }
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }
}

/// The rendered stack applied, the nginx Deployment rolled out, and the nginx pod's container
/// port 8080 (the Service's `http` target port) mapped to an echo server.
async fn kubectl_with_nginx() -> Option<(
    Sim,
    Kubectl,
    tempfile::TempDir,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
)> {
    let (sim, kubectl, dir, stack) = setup(SimConfig::default()).await?;
    let (echo, count) = echo_server().await;
    sim.forward_port(Target::labels("app.kubernetes.io/name=nginx"), 8080, echo);
    let (ok, out, err) = kubectl
        .run(&["apply", "--server-side", "-f", stack.to_str().unwrap()])
        .await;
    assert!(ok, "{out}{err}");
    let (ok, out, err) = kubectl
        .run(&["rollout", "status", "deployment/nginx", "--timeout=30s"])
        .await;
    assert!(ok, "{out}{err}");
    Some((sim, kubectl, dir, count))
}

/// Bytes that show a reordering or a lost chunk (not a run of one value).
fn pattern(n: usize) -> Vec<u8> {
    (0..n as u64)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

async fn forwards_real_bytes(websockets: Option<&str>) {
    let Some((sim, kubectl, _dir, echoed)) = kubectl_with_nginx().await else {
        return;
    };
    // Service port 80 is the pod's named port `http`, 8080 (embedded/manifests/50-nginx.yaml).
    let pf = PortForward::start(&kubectl, &["svc/nginx", "0:80"], websockets).await;
    assert!(pf.stdout().contains(" -> 8080"), "{}", pf.stdout());
    // One large transfer both ways, then several connections at once (one requestID each).
    let big = pattern(8 << 20);
    let back = round_trip(pf.local, big.clone()).await;
    assert_eq!(back.len(), big.len(), "{}", pf.stderr());
    assert!(back == big, "the bytes came back changed");
    let many = futures_util::future::join_all(
        (0..6).map(|i| round_trip(pf.local, format!("connection {i}\n").into_bytes())),
    )
    .await;
    for (i, back) in many.iter().enumerate() {
        assert_eq!(back, format!("connection {i}\n").as_bytes());
    }
    assert_eq!(echoed.load(std::sync::atomic::Ordering::SeqCst), 7);
    assert_eq!(
        sim.open_streams(),
        1,
        "one session carries every connection"
    );
    let err = pf.stderr();
    // client-go v0.32.4 tools/portforward/tunneling_dialer.go logs the negotiated protocol at
    // -v=4; fallback_dialer.go logs a fall back to SPDY.
    match websockets {
        Some("false") => assert!(!err.contains("negotiated protocol"), "{err}"),
        _ => {
            assert!(
                err.contains("negotiated protocol: portforward.k8s.io"),
                "{err}"
            );
            assert!(!err.contains("fallback to secondary dialer"), "{err}");
        }
    }
    drop(pf);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_port_forward_tunnels_spdy_in_a_websocket() {
    forwards_real_bytes(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_port_forward_over_plain_spdy_without_websockets() {
    forwards_real_bytes(Some("false")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_port_forward_reports_an_unmapped_port_and_a_deleted_pod() {
    let Some((sim, kubectl, _dir, _)) = kubectl_with_nginx().await else {
        return;
    };
    let (ok, pod, err) = kubectl
        .run(&[
            "get",
            "pods",
            "-l",
            "app.kubernetes.io/name=nginx",
            "-o",
            "jsonpath={.items[0].metadata.name}",
        ])
        .await;
    assert!(ok && !pod.is_empty(), "{pod}{err}");
    // Nothing listens on the pod's port 9: the error stream says so and kubectl gives up the
    // connection (client-go portforward.go handleConnection: "an error occurred forwarding").
    let mut pf = PortForward::start(&kubectl, &[&format!("pod/{pod}"), "0:9"], None).await;
    let back = round_trip(pf.local, b"hello".to_vec()).await;
    assert!(back.is_empty(), "{back:?}");
    let status = tokio::time::timeout(Duration::from_secs(20), pf.child.wait())
        .await
        .expect("kubectl ends after the forwarding error")
        .unwrap();
    assert!(!status.success());
    let err = pf.stderr();
    assert!(
        err.contains("an error occurred forwarding") && err.contains("error forwarding port 9"),
        "{err}"
    );
    assert!(err.contains("lost connection to pod"), "{err}");

    // A deleted pod (a node restart) ends the session, as the kubelet's going away does.
    let mut pf = PortForward::start(&kubectl, &[&format!("pod/{pod}"), "0:8080"], None).await;
    assert_eq!(round_trip(pf.local, b"ping".to_vec()).await, b"ping");
    assert!(sim.restart_pod("default", &pod));
    let status = tokio::time::timeout(Duration::from_secs(20), pf.child.wait())
        .await
        .expect("kubectl ends once the pod is gone")
        .unwrap();
    assert!(!status.success());
    assert!(
        pf.stderr().contains("lost connection to pod"),
        "{}",
        pf.stderr()
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while sim.open_streams() > 0 {
        assert!(Instant::now() < deadline, "the session stayed open");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
