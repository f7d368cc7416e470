//! onyx's port-forward (`onyx::kube::forward`) against the Kubernetes API simulator: the stack's
//! own nginx Service and Deployment (from the embedded manifests) are applied, the simulator maps
//! the nginx pod's container port 8080 to a local stand-in, and requests go through the forward.
//!
//! One simulator per test; every wait is bounded; everything listens on 127.0.0.1 only.

use crate::support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_sim::{Fault, Sim, SimConfig, Target};
use kube::api::{Api, ListParams, Patch, PatchParams};
use onyx::kube::forward::{self, ForwardError, ForwardEvent, ForwardOptions, ForwardTarget};
use onyx::stack::render::{Object, embedded_objects};
use support::stand_in_nginx::StandIn;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use k8s_sim::client::{client_for, within};

const NGINX: &str = "app.kubernetes.io/name=nginx";

/// A simulator with the stack's nginx Service + Deployment applied and its pod ready; the pod's
/// port 8080 (the Service's `http` target port) is mapped to `stand_in`.
async fn sim_with_nginx(stand_in: &StandIn) -> (Sim, kube::Client) {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let client = client_for(&sim);
    sim.forward_port(Target::labels(NGINX), 8080, stand_in.addr);
    let pp = PatchParams::apply("onyx").force();
    for r in embedded_objects()
        .into_iter()
        .filter(|r| r.service == Some("nginx"))
    {
        match &r.object {
            Object::Service(s) => {
                Api::<Service>::default_namespaced(client.clone())
                    .patch("nginx", &pp, &Patch::Apply(s))
                    .await
                    .expect("apply service");
            }
            Object::Deployment(d) => {
                Api::<Deployment>::default_namespaced(client.clone())
                    .patch("nginx", &pp, &Patch::Apply(d))
                    .await
                    .expect("apply deployment");
            }
            other => panic!("unexpected nginx object {}", other.kind()),
        }
    }
    ready_pod(&client, None).await;
    (sim, client)
}

/// Waits for a ready nginx pod (other than `not`) and returns its name.
async fn ready_pod(client: &kube::Client, not: Option<&str>) -> String {
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    within(10, "nginx pod ready", async {
        loop {
            if let Ok(list) = pods.list(&ListParams::default().labels(NGINX)).await
                && let Some(p) = forward::pick_ready_pod(list.items)
            {
                let name = p.metadata.name.unwrap_or_default();
                if Some(name.as_str()) != not {
                    return name;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

/// One HTTP/1.1 GET on a new connection; returns the whole answer.
async fn get(addr: std::net::SocketAddr, path: &str) -> std::io::Result<String> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).await?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[tokio::test]
async fn a_request_through_the_forward_reaches_nginx() {
    let nginx = StandIn::nginx().await;
    let (_sim, client) = sim_with_nginx(&nginx).await;
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let options = ForwardOptions {
        events: Some(Arc::new(move |e| seen.lock().unwrap().push(e))),
        ..Default::default()
    };
    let pf = within(
        10,
        "start",
        forward::start(client, ForwardTarget::gateway("default"), 0, options),
    )
    .await
    .expect("forward starts");
    assert!(
        pf.local_addr().ip().is_loopback(),
        "listens on 127.0.0.1 only"
    );
    let endpoint = pf.endpoint().expect("resolved");
    // Service port 80 → targetPort `http` → the pod's containerPort 8080.
    assert_eq!(endpoint.port, 8080);
    assert!(endpoint.pod.starts_with("nginx-"), "{endpoint:?}");
    assert_eq!(
        events.lock().unwrap().as_slice(),
        &[ForwardEvent::Resolved(endpoint.clone())]
    );

    let answer = within(10, "GET", get(pf.local_addr(), "/nginx-health"))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(answer.ends_with("\r\n\r\nok\n"), "{answer}");

    // Several connections at once, each its own WebSocket; a 1 MiB body arrives whole.
    let addr = pf.local_addr();
    let answers = within(20, "parallel GETs", async {
        let tasks: Vec<_> = (0..8)
            .map(|_| tokio::spawn(get(addr, "/bytes/1048576")))
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap().unwrap());
        }
        out
    })
    .await;
    for a in answers {
        assert!(
            a.starts_with("HTTP/1.1 200 OK"),
            "{}",
            &a[..a.len().min(200)]
        );
        assert!(a.ends_with(&"x".repeat(1024)));
        let body = a.split_once("\r\n\r\n").unwrap().1;
        assert_eq!(body.len(), 1_048_576);
    }
    assert_eq!(nginx.requests(), 9);

    // And the check `up` runs before declaring success.
    let check = within(
        10,
        "check",
        forward::check_gateway(&pf.url(), Duration::from_secs(5)),
    )
    .await
    .expect("gateway answers");
    assert_eq!(check.attempts, 1);
    assert_eq!(pf.url(), format!("http://localhost:{}", addr.port()));
}

#[tokio::test]
async fn the_forward_survives_a_pod_restart() {
    let nginx = StandIn::nginx().await;
    let (sim, client) = sim_with_nginx(&nginx).await;
    let pf = forward::start(
        client.clone(),
        ForwardTarget::gateway("default"),
        0,
        ForwardOptions::default(),
    )
    .await
    .expect("forward starts");
    let first = pf.endpoint().unwrap().pod;
    let ok = within(10, "GET 1", get(pf.local_addr(), "/nginx-health"))
        .await
        .unwrap();
    assert!(ok.ends_with("ok\n"), "{ok}");

    // A connection open during the restart may drop; that's allowed, but it must end.
    let mut open = tokio::net::TcpStream::connect(pf.local_addr())
        .await
        .unwrap();
    open.write_all(b"GET /nginx-health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 1024];
    let n = within(10, "keep-alive answer", open.read(&mut buf))
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).ends_with("ok\n"));

    assert!(sim.restart_pod("default", &first));
    let mut rest = Vec::new();
    let _ = within(10, "open connection ends", open.read_to_end(&mut rest)).await;

    let second = ready_pod(&client, Some(&first)).await;
    assert_ne!(first, second);
    // A new connection goes to the new pod, without restarting the forward.
    let answer = within(
        40,
        "GET after restart",
        get(pf.local_addr(), "/nginx-health"),
    )
    .await
    .unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 200 OK") && answer.ends_with("ok\n"),
        "{answer}"
    );
    assert_eq!(pf.endpoint().unwrap().pod, second);

    // Twice, to be sure it is not a one-off.
    assert!(sim.restart_pod("default", &second));
    let third = ready_pod(&client, Some(&second)).await;
    let answer = within(
        40,
        "GET after 2nd restart",
        get(pf.local_addr(), "/nginx-health"),
    )
    .await
    .unwrap();
    assert!(answer.ends_with("ok\n"), "{answer}");
    assert_eq!(pf.endpoint().unwrap().pod, third);
}

#[tokio::test]
async fn a_connection_during_the_restart_waits_for_the_new_pod() {
    let nginx = StandIn::nginx().await;
    let (sim, client) = sim_with_nginx(&nginx).await;
    // The pod comes back not ready; the request waits, then goes through once it is ready.
    let pf = forward::start(
        client.clone(),
        ForwardTarget::gateway("default"),
        0,
        ForwardOptions::default(),
    )
    .await
    .unwrap();
    let first = pf.endpoint().unwrap().pod;
    let fault = sim.inject(Target::labels(NGINX), Fault::NotReady { message: None });
    assert!(sim.restart_pod("default", &first));
    let addr = pf.local_addr();
    let request = tokio::spawn(get(addr, "/nginx-health"));
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        !request.is_finished(),
        "no ready pod yet: the request waits"
    );
    sim.clear_fault(fault);
    let answer = within(20, "GET", request).await.unwrap().unwrap();
    assert!(answer.ends_with("ok\n"), "{answer}");
    assert_ne!(pf.endpoint().unwrap().pod, first);
}

#[tokio::test]
async fn port_in_use_is_a_clear_error() {
    let nginx = StandIn::nginx().await;
    let (_sim, client) = sim_with_nginx(&nginx).await;
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = taken.local_addr().unwrap().port();
    let err = forward::start(
        client,
        ForwardTarget::gateway("default"),
        port,
        ForwardOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, ForwardError::PortInUse { port: p } if p == port),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("port {port} on 127.0.0.1 is already in use")
    );
    assert!(err.hint().unwrap().contains("--port"));
}

#[tokio::test]
async fn missing_service_or_no_ready_pod_fail_at_start() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let client = client_for(&sim);
    let err = forward::start(
        client.clone(),
        ForwardTarget::gateway("default"),
        0,
        ForwardOptions::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.to_string(), "service default/nginx does not exist");

    // The Service exists but its pods never get ready.
    let nginx = StandIn::nginx().await;
    sim.inject(Target::labels(NGINX), Fault::NotReady { message: None });
    let pp = PatchParams::apply("onyx").force();
    for r in embedded_objects()
        .into_iter()
        .filter(|r| r.service == Some("nginx"))
    {
        match &r.object {
            Object::Service(s) => {
                Api::<Service>::default_namespaced(client.clone())
                    .patch("nginx", &pp, &Patch::Apply(s))
                    .await
                    .unwrap();
            }
            Object::Deployment(d) => {
                Api::<Deployment>::default_namespaced(client.clone())
                    .patch("nginx", &pp, &Patch::Apply(d))
                    .await
                    .unwrap();
            }
            _ => {}
        }
    }
    drop(nginx);
    let err = forward::start(
        client,
        ForwardTarget::gateway("default"),
        0,
        ForwardOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ForwardError::NoReadyPod { .. }), "{err:?}");
    assert!(
        err.to_string().contains("app.kubernetes.io/name=nginx"),
        "{err}"
    );
}

#[tokio::test]
async fn check_gateway_succeeds_only_when_nginx_answers() {
    let nginx = StandIn::nginx().await;
    let url = format!("http://{}", nginx.addr);
    let ok = within(
        10,
        "check",
        forward::check_gateway(&url, Duration::from_secs(5)),
    )
    .await
    .unwrap();
    assert_eq!(ok.attempts, 1);

    // Something else on the port (e.g. another app answering 200 with its own page).
    let impostor = StandIn::start("<html>some other app</html>").await;
    let url = format!("http://{}", impostor.addr);
    let err = within(
        10,
        "check",
        forward::check_gateway(&url, Duration::from_secs(1)),
    )
    .await
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "{url}/nginx-health did not answer as nginx within "
        )),
        "{text}"
    );
    assert!(
        text.contains("HTTP 200 OK: <html>some other app</html>"),
        "{text}"
    );
    assert!(impostor.requests() >= 2, "retried: {}", impostor.requests());

    // Nothing listening.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let err = within(
        10,
        "check",
        forward::check_gateway(&url, Duration::from_secs(1)),
    )
    .await
    .unwrap_err();
    let text = err.to_string();
    assert!(text.to_lowercase().contains("connect"), "{text}");
    assert!(err.hint().unwrap().contains("onyx status"));
}
