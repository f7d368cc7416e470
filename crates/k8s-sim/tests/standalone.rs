//! The standalone binary as a node's API server runs it (tests/support/fake_node.rs): HTTPS with
//! its own CA in the kubeconfig it writes, objects kept across a restart (pods made anew), and
//! NodePort Services served like kube-proxy, to the ready pod's forward rule.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The simulator process; killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(dir: &Path, port: u16, node_port_backend: u16) -> Server {
    let kubeconfig = dir.join("kubeconfig");
    let _ = std::fs::remove_file(&kubeconfig);
    let child = Command::new(env!("CARGO_BIN_EXE_k8s-sim"))
        .args(["--port", &port.to_string()])
        .arg("--tls-dir")
        .arg(dir.join("pki"))
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--state")
        .arg(dir.join("state").join("state.json"))
        .args(["--node-ports", "127.0.0.1", "--ready-delay-ms", "100"])
        .args([
            "--forward",
            &format!(
                r#"{{"target":{{"labels":"app=web"}},"containerPort":8080,"local":"127.0.0.1:{node_port_backend}"}}"#
            ),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("k8s-sim starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !kubeconfig.is_file() {
        assert!(Instant::now() < deadline, "no kubeconfig written");
        std::thread::sleep(Duration::from_millis(20));
    }
    Server(child)
}

async fn client(dir: &Path) -> kube::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kc = kube::config::Kubeconfig::read_from(dir.join("kubeconfig")).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

fn stop(mut s: Server) {
    // SIGTERM, as `docker stop` sends it: the state is written on the way out.
    let pid = s.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    // Bounded: a simulator that ignores SIGTERM fails here instead of hanging the run.
    let deadline = Instant::now() + Duration::from_secs(20);
    while s.0.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "k8s-sim did not stop within 20 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A plain HTTP/1.0 GET; the answer's body, or None when the connection is refused or closed.
fn get(port: u16) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split_once("\r\n\r\n").map(|(_, body)| body.to_string())
}

const STACK: &str = r#"
apiVersion: v1
kind: Secret
metadata: {name: db, namespace: default}
stringData: {password: kept-across-restarts}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: web:1, ports: [{name: http, containerPort: 8080}]}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: http, nodePort: NODE_PORT}]
"#;

#[tokio::test(flavor = "multi_thread")]
async fn https_kept_state_and_node_ports() {
    let dir = tempfile::tempdir().unwrap();
    let (port, node_port) = (free_port(), free_port());
    // The stand-in behind the node port.
    let backend = TcpListener::bind("127.0.0.1:0").unwrap();
    let backend_port = backend.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut c in backend.incoming().flatten() {
            let mut buf = [0u8; 1024];
            let _ = c.read(&mut buf);
            let _ = c.write_all(b"HTTP/1.0 200 OK\r\n\r\nfrom the stand-in");
        }
    });

    let server = start(dir.path(), port, backend_port);
    let kubeconfig = std::fs::read_to_string(dir.path().join("kubeconfig")).unwrap();
    assert!(kubeconfig.contains(&format!("server: https://127.0.0.1:{port}")));
    assert!(kubeconfig.contains("certificate-authority-data: "));
    // The client checks the server's certificate against the CA in the kubeconfig.
    let c = client(dir.path()).await;
    let ssa = PatchParams::apply("test").force();
    for doc in STACK
        .replace("NODE_PORT", &node_port.to_string())
        .split("---")
    {
        let obj: serde_json::Value = serde_saphyr::from_str(doc).unwrap();
        let name = obj["metadata"]["name"].as_str().unwrap().to_string();
        let api: Api<kube::api::DynamicObject> = Api::namespaced_with(
            c.clone(),
            "default",
            &kube::discovery::ApiResource::from_gvk(&kube::api::GroupVersionKind::gvk(
                if obj["apiVersion"] == "v1" {
                    ""
                } else {
                    "apps"
                },
                "v1",
                obj["kind"].as_str().unwrap(),
            )),
        );
        api.patch(&name, &ssa, &Patch::Apply(obj)).await.unwrap();
    }
    // Until the pod is ready, the node port leads nowhere; then to the stand-in.
    let body = common::eventually(20, "the node port answers", || async { get(node_port) }).await;
    assert_eq!(body, "from the stand-in");
    let pods: Api<Pod> = Api::namespaced(c.clone(), "default");
    let before = pods.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(before.len(), 1);

    // Stopped and started again: the same CA and objects; the pod is made anew.
    stop(server);
    assert!(
        get(node_port).is_none(),
        "the node port outlived the server"
    );
    let ca_before = kubeconfig;
    let _server = start(dir.path(), port, backend_port);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("kubeconfig")).unwrap(),
        ca_before,
        "a restart keeps the CA and address"
    );
    let c = client(dir.path()).await;
    let secret = Api::<Secret>::namespaced(c.clone(), "default")
        .get("db")
        .await
        .unwrap();
    assert_eq!(
        secret.data.unwrap()["password"].0,
        b"kept-across-restarts".to_vec()
    );
    assert!(
        Api::<Deployment>::namespaced(c.clone(), "default")
            .get("web")
            .await
            .is_ok()
    );
    let pods: Api<Pod> = Api::namespaced(c.clone(), "default");
    let after = common::eventually(20, "the pod is made again", || async {
        let items = pods.list(&ListParams::default()).await.ok()?.items;
        (!items.is_empty()).then_some(items)
    })
    .await;
    assert_ne!(after[0].metadata.uid, before[0].metadata.uid);
    let body = common::eventually(20, "the node port answers again", || async {
        get(node_port)
    })
    .await;
    assert_eq!(body, "from the stand-in");
}
