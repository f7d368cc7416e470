//! Logs, port-forward and exec through kube-rs's own implementations of those protocols.

mod common;

use std::net::SocketAddr;

use common::{eventually, start, within};
use futures_util::{AsyncBufReadExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use k8s_sim::Target;
use kube::api::{Api, AttachParams, ListParams, LogParams, Patch, PatchParams};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn deployment(name: &str, containers: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": containers}}}
    })
}

/// Applies a one-replica Deployment and returns its ready pod's name.
async fn ready_pod(client: &kube::Client, name: &str, containers: Value) -> String {
    let deploys: Api<Deployment> = Api::default_namespaced(client.clone());
    deploys
        .patch(
            name,
            &PatchParams::apply("test"),
            &Patch::Apply(deployment(name, containers)),
        )
        .await
        .unwrap();
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    eventually(10, "pod ready", || async {
        let p = pods
            .list(&ListParams::default().labels(&format!("app={name}")))
            .await
            .ok()?
            .items
            .into_iter()
            .next()?;
        let ready = p
            .status
            .as_ref()?
            .container_statuses
            .as_ref()?
            .iter()
            .all(|c| c.ready);
        ready.then(|| p.metadata.name.unwrap())
    })
    .await
}

/// A stand-in HTTP server answering every request with `body`; returns its address.
async fn http_server(body: &'static str) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn logs_tail_follow_and_container_choice() {
    let (sim, client) = start().await;
    let name = ready_pod(
        &client,
        "api",
        json!([{"name": "main", "image": "onyx/api:1"}]),
    )
    .await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    within(20, "logs", async {
        assert!(sim.append_log("default", &name, "main", "uvicorn running on :8080"));
        let all = pods.logs(&name, &LogParams::default()).await.unwrap();
        assert_eq!(all, "k8s-sim: container main started (image onyx/api:1)\nuvicorn running on :8080\n");
        let tail = pods.logs(&name, &LogParams { tail_lines: Some(1), ..Default::default() }).await.unwrap();
        assert_eq!(tail, "uvicorn running on :8080\n");
        // No previous container yet.
        assert!(matches!(pods.logs(&name, &LogParams { previous: true, ..Default::default() }).await, Err(kube::Error::Api(s)) if s.code == 400));

        // follow: lines arrive as they are written; the stream ends when the pod goes.
        let mut lines = pods.log_stream(&name, &LogParams { follow: true, tail_lines: Some(0), ..Default::default() }).await.unwrap().lines();
        sim.append_log("default", &name, "main", "request 1");
        assert_eq!(lines.try_next().await.unwrap().as_deref(), Some("request 1"));
        sim.append_log("default", &name, "main", "request 2");
        assert_eq!(lines.try_next().await.unwrap().as_deref(), Some("request 2"));
        assert!(sim.restart_pod("default", &name));
        assert_eq!(lines.try_next().await.unwrap(), None);
    })
    .await;
    // Two containers: a container name is required.
    let two = ready_pod(
        &client,
        "two",
        json!([{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]),
    )
    .await;
    match pods.logs(&two, &LogParams::default()).await {
        Err(kube::Error::Api(s)) => assert!(
            s.code == 400 && s.message.contains("choose one of: [a b]"),
            "{s:?}"
        ),
        other => panic!("expected 400, got {other:?}"),
    }
    let b = pods
        .logs(
            &two,
            &LogParams {
                container: Some("b".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(b.contains("container b started"));
}

async fn http_get_through(pf: &mut kube::api::Portforwarder, port: u16) -> String {
    let mut s = pf.take_stream(port).expect("stream for the port");
    s.write_all(b"GET / HTTP/1.1\r\nHost: nginx\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn port_forward_carries_http_and_a_pod_restart_closes_it() {
    let (sim, client) = start().await;
    let local = http_server("hello from nginx").await;
    sim.forward_port(Target::labels("app=nginx"), 80, local);
    let name = ready_pod(
        &client,
        "nginx",
        json!([{"name": "nginx", "image": "nginx:1", "ports": [{"containerPort": 80}]}]),
    )
    .await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    within(20, "forward", async {
        let mut pf = pods.portforward(&name, &[80]).await.unwrap();
        let answer = http_get_through(&mut pf, 80).await;
        assert!(
            answer.starts_with("HTTP/1.1 200 OK") && answer.ends_with("hello from nginx"),
            "{answer}"
        );
        // The pod side closed, so the server closed the WebSocket (as the kubelet does for a
        // single port); kube may then report its own late Close as SendAfterClosing.
        let _ = pf.join().await;
        eventually(5, "first stream closed", || async {
            (sim.open_streams() == 0).then_some(())
        })
        .await;

        // An open forward ends when the pod restarts.
        let mut pf = pods.portforward(&name, &[80]).await.unwrap();
        let mut s = pf.take_stream(80).unwrap();
        eventually(5, "stream registered", || async {
            (sim.open_streams() == 1).then_some(())
        })
        .await;
        assert!(sim.restart_pod("default", &name));
        let mut buf = Vec::new();
        let n = s.read_to_end(&mut buf).await.unwrap_or(0);
        assert_eq!(n, 0, "nothing arrives after the restart");
        eventually(5, "stream closed", || async {
            (sim.open_streams() == 0).then_some(())
        })
        .await;
        drop(s);
        let _ = pf.join().await;
    })
    .await;

    // A port nobody mapped answers on the error channel.
    let name = ready_pod(
        &client,
        "nginx",
        json!([{"name": "nginx", "image": "nginx:1", "ports": [{"containerPort": 80}]}]),
    )
    .await;
    within(10, "unmapped port", async {
        let mut pf = pods.portforward(&name, &[9999]).await.unwrap();
        let err = pf.take_error(9999).unwrap().await;
        assert!(err.is_some_and(|e| e.contains("error forwarding port 9999")));
        pf.abort();
    })
    .await;
}

async fn run_exec(
    pods: &Api<Pod>,
    name: &str,
    cmd: &[&str],
    stdin: Option<&[u8]>,
) -> (String, String, Value) {
    let ap = AttachParams::default()
        .stdout(true)
        .stderr(true)
        .stdin(stdin.is_some());
    let mut proc = pods.exec(name, cmd.iter().copied(), &ap).await.unwrap();
    if let Some(data) = stdin {
        let mut w = proc.stdin().unwrap();
        w.write_all(data).await.unwrap();
        w.shutdown().await.unwrap();
        drop(w);
    }
    let mut out = String::new();
    let mut err = String::new();
    let mut o = proc.stdout().unwrap();
    let mut e = proc.stderr().unwrap();
    let status = proc.take_status().unwrap();
    let (r1, r2) = tokio::join!(o.read_to_string(&mut out), e.read_to_string(&mut err));
    r1.unwrap();
    r2.unwrap();
    let status = status
        .await
        .map(|s| serde_json::to_value(s).unwrap())
        .unwrap_or(Value::Null);
    proc.join().await.unwrap();
    (out, err, status)
}

#[tokio::test]
async fn exec_runs_a_local_process_with_streams_and_exit_code() {
    let (sim, client) = start().await;
    sim.on_exec(Target::labels("app=postgresql"), None);
    sim.on_exec(
        Target::labels("app=mapped"),
        Some(vec!["echo".into(), "mapped command".into()]),
    );
    let name = ready_pod(
        &client,
        "postgresql",
        json!([{"name": "pg", "image": "postgres:16"}]),
    )
    .await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    within(20, "exec", async {
        let (out, err, status) = run_exec(
            &pods,
            &name,
            &["sh", "-c", "echo out; echo err >&2; exit 3"],
            None,
        )
        .await;
        assert_eq!((out.as_str(), err.as_str()), ("out\n", "err\n"));
        assert_eq!(status["status"], "Failure");
        assert_eq!(status["reason"], "NonZeroExitCode");
        assert_eq!(status["details"]["causes"][0]["message"], "3");

        let (out, _, status) = run_exec(&pods, &name, &["cat"], Some(b"ping\n")).await;
        assert_eq!(out, "ping\n");
        assert_eq!(status["status"], "Success");
    })
    .await;
    let other = ready_pod(&client, "mapped", json!([{"name": "m", "image": "m:1"}])).await;
    within(10, "mapped exec", async {
        let (out, _, status) = run_exec(&pods, &other, &["psql", "-c", "select 1"], None).await;
        assert_eq!(out, "mapped command\n");
        assert_eq!(status["status"], "Success");
    })
    .await;
}

#[tokio::test]
async fn one_forward_carries_several_ports_and_exec_without_a_rule_says_so() {
    let (sim, client) = start().await;
    let web = http_server("web").await;
    let api = http_server("api").await;
    sim.forward_port(Target::name_prefix("both-"), 3000, web);
    sim.forward_port(Target::name_prefix("both-"), 8080, api);
    let name = ready_pod(&client, "both", json!([{"name": "c", "image": "i"}])).await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    within(20, "two ports", async {
        let mut pf = pods.portforward(&name, &[3000, 8080]).await.unwrap();
        let mut a = pf.take_stream(3000).unwrap();
        let mut b = pf.take_stream(8080).unwrap();
        for s in [&mut a, &mut b] {
            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .unwrap();
        }
        let mut out_a = vec![0u8; 200];
        let mut out_b = vec![0u8; 200];
        let na = a.read(&mut out_a).await.unwrap();
        let nb = b.read(&mut out_b).await.unwrap();
        assert!(String::from_utf8_lossy(&out_a[..na]).ends_with("web"));
        assert!(String::from_utf8_lossy(&out_b[..nb]).ends_with("api"));
        pf.abort();
    })
    .await;
    within(10, "exec without a rule", async {
        let ap = AttachParams::default().stdout(true).stderr(false);
        let mut proc = pods.exec(&name, ["true"], &ap).await.unwrap();
        let status = proc.take_status().unwrap().await.unwrap();
        assert_eq!(status.status.as_deref(), Some("Failure"));
        assert!(status.message.unwrap_or_default().contains("no exec rule"));
    })
    .await;
}
