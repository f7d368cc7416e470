//! kube-runtime against the simulator (its watcher is what onyx's wait step uses), the standalone
//! binary, and requests a careless client might send.

mod common;

use std::time::Duration;

use common::{start, start_with, within};
use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_sim::SimConfig;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(
        json!({"metadata": {"name": name, "labels": {"set": "r"}}, "data": {"v": "0"}}),
    )
    .unwrap()
}

#[tokio::test]
async fn reflector_follows_list_then_watch_and_streaming_lists() {
    let (_sim, client) = start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    for n in ["a", "b"] {
        api.create(&PostParams::default(), &cm(n)).await.unwrap();
    }
    for config in [
        watcher::Config::default().labels("set=r"),
        watcher::Config::default().labels("set=r").streaming_lists(),
    ] {
        let (reader, writer) = reflector::store::<ConfigMap>();
        let stream = reflector(writer, watcher(api.clone(), config))
            .applied_objects()
            .boxed();
        let task = tokio::spawn(stream.for_each(|_| async {}));
        within(10, "initial state", reader.wait_until_ready())
            .await
            .unwrap();
        let mut names: Vec<String> = reader
            .state()
            .iter()
            .map(|c| c.metadata.name.clone().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["a", "b"]);
        let c = format!("c{}", names.len() + reader.state().len());
        api.create(&PostParams::default(), &cm(&c)).await.unwrap();
        api.patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"v": "1"}})),
        )
        .await
        .unwrap();
        within(10, "changes reflected", async {
            loop {
                let st = reader.state();
                let a = st
                    .iter()
                    .find(|x| x.metadata.name.as_deref() == Some("a"))
                    .cloned();
                let has_c = st
                    .iter()
                    .any(|x| x.metadata.name.as_deref() == Some(c.as_str()));
                if has_c && a.is_some_and(|a| a.data.as_ref().unwrap()["v"] == "1") {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        api.delete(&c, &DeleteParams::default()).await.unwrap();
        api.patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"v": "0"}})),
        )
        .await
        .unwrap();
        task.abort();
    }
}

#[tokio::test]
async fn a_watch_older_than_the_log_gets_410_and_the_watcher_relists() {
    let (_sim, client) = start_with(SimConfig {
        watch_history: 5,
        ..Default::default()
    })
    .await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let old = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    for i in 0..10 {
        api.create(&PostParams::default(), &cm(&format!("n{i}")))
            .await
            .unwrap();
    }
    within(10, "410", async {
        let mut s = api
            .watch(&WatchParams::default(), &old)
            .await
            .unwrap()
            .boxed();
        match s.try_next().await.unwrap() {
            Some(WatchEvent::Error(e)) => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
            other => panic!("expected a 410 error event, got {other:?}"),
        }
    })
    .await;
    // kube-runtime's watcher copes: it lists again and sees all ten.
    let (reader, writer) = reflector::store::<ConfigMap>();
    let task = tokio::spawn(
        reflector(writer, watcher(api.clone(), watcher::Config::default())).for_each(|_| async {}),
    );
    within(10, "relisted", reader.wait_until_ready())
        .await
        .unwrap();
    assert_eq!(reader.state().len(), 10);
    task.abort();
}

/// Sends one raw HTTP/1.1 request and returns (status code, body).
async fn raw_http(addr: std::net::SocketAddr, request: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let code = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

fn req(method: &str, path: &str, ct: &str, body: &str) -> String {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[tokio::test]
async fn careless_requests_get_status_answers_and_the_server_keeps_serving() {
    let (sim, _client) = start().await;
    let a = sim.addr();
    let ns = "/api/v1/namespaces/default";
    let cases: Vec<(String, u16, &str)> = vec![
        (
            req(
                "GET",
                &format!("{ns}/configmaps/missing"),
                "application/json",
                "",
            ),
            404,
            "NotFound",
        ),
        (
            req(
                "POST",
                &format!("{ns}/configmaps"),
                "application/json",
                "[1,2]",
            ),
            400,
            "BadRequest",
        ),
        (
            req(
                "POST",
                &format!("{ns}/configmaps"),
                "application/json",
                "{\"metadata\":{}}",
            ),
            422,
            "Invalid",
        ),
        (
            req(
                "PUT",
                &format!("{ns}/configmaps/x"),
                "application/json",
                "{\"metadata\":{\"name\":\"y\"}}",
            ),
            404,
            "NotFound",
        ),
        (
            req(
                "PATCH",
                &format!("{ns}/configmaps/x"),
                "application/merge-patch+json",
                "{}",
            ),
            404,
            "NotFound",
        ),
        (
            req(
                "DELETE",
                &format!("{ns}/configmaps/x"),
                "application/json",
                "",
            ),
            404,
            "NotFound",
        ),
        (
            req(
                "GET",
                &format!("{ns}/configmaps?watch=1&resourceVersion=abc"),
                "application/json",
                "",
            ),
            400,
            "BadRequest",
        ),
        (
            req(
                "GET",
                &format!("{ns}/pods/none/log"),
                "application/json",
                "",
            ),
            404,
            "NotFound",
        ),
        (
            req("GET", "/apis/apps/v9", "application/json", ""),
            404,
            "NotFound",
        ),
        (
            req(
                "GET",
                "/api/v1/namespaces/default/nodes",
                "application/json",
                "",
            ),
            404,
            "NotFound",
        ),
        (
            req(
                "PATCH",
                "/api/v1/namespaces/default",
                "application/json-patch+json",
                "not a patch",
            ),
            400,
            "BadRequest",
        ),
        (
            req(
                "PATCH",
                "/api/v1/namespaces/default",
                "application/apply-patch+yaml",
                "a: [b",
            ),
            400,
            "BadRequest",
        ),
        (
            req(
                "POST",
                "/_sim/faults",
                "application/json",
                "{\"inject\":{\"fault\":{\"type\":\"nope\"}}}",
            ),
            400,
            "BadRequest",
        ),
        (
            req(
                "GET",
                "/api/v1/namespaces/default/pods/%ZZ",
                "application/json",
                "",
            ),
            404,
            "NotFound",
        ),
        // Shapes the real schema rejects: 422, and the controllers never see them.
        (
            req(
                "POST",
                "/apis/apps/v1/namespaces/default/deployments",
                "application/json",
                r#"{"metadata":{"name":"d"},"spec":"x"}"#,
            ),
            422,
            "Invalid",
        ),
        (
            req(
                "POST",
                "/apis/apps/v1/namespaces/default/deployments",
                "application/json",
                r#"{"metadata":{"name":"d"},"spec":{"template":{"spec":{"containers":[1]}}}}"#,
            ),
            422,
            "Invalid",
        ),
        (
            req(
                "POST",
                &format!("{ns}/configmaps"),
                "application/json",
                r#"{"metadata":{"name":"c","labels":{"a":1}}}"#,
            ),
            422,
            "Invalid",
        ),
        (
            req(
                "PATCH",
                "/api/v1/namespaces/default",
                "application/merge-patch+json",
                r#"{"metadata":{"labels":[]}}"#,
            ),
            422,
            "Invalid",
        ),
        (
            req(
                "POST",
                &format!("{ns}/pods"),
                "application/vnd.kubernetes.protobuf",
                "k8s",
            ),
            415,
            "UnsupportedMediaType",
        ),
    ];
    within(20, "careless requests", async {
        for (request, code, reason) in cases {
            let (got, body) = raw_http(a, &request).await;
            let v: Value = serde_json::from_str(&body)
                .unwrap_or_else(|_| panic!("JSON body for {request}: {body}"));
            assert_eq!(
                (got, v["kind"].as_str(), v["reason"].as_str()),
                (code, Some("Status"), Some(reason)),
                "{request}"
            );
        }
        // Port-forward to a pod that does not exist is a 404 before any upgrade.
        let (code, _) = raw_http(
            a,
            &req(
                "GET",
                &format!("{ns}/pods/none/portforward?ports=80"),
                "application/json",
                "",
            ),
        )
        .await;
        assert_eq!(code, 404);
        let (code, body) = raw_http(a, &req("GET", "/version", "application/json", "")).await;
        assert_eq!(code, 200, "{body}");
    })
    .await;
}

#[tokio::test]
async fn the_binary_serves_writes_a_kubeconfig_and_takes_faults() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kc");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_k8s-sim"))
        .args(["--port", "0", "--ready-delay-ms", "50", "--kubeconfig"])
        .arg(&kubeconfig)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    within(20, "binary", async {
        let mut lines = BufReader::new(stdout).lines();
        let url = lines.next_line().await.unwrap().expect("the URL on stdout");
        let addr: std::net::SocketAddr = url.trim_start_matches("http://").parse().unwrap();
        let kc = std::fs::read_to_string(&kubeconfig).unwrap();
        assert!(
            kc.contains(&format!("server: {url}"))
                && kc.contains("current-context: sim")
                && kc.contains("namespace: default")
        );
        let (code, body) = raw_http(addr, &req("GET", "/version", "application/json", "")).await;
        assert_eq!(code, 200, "{body}");
        let (code, body) = raw_http(
            addr,
            &req(
                "POST",
                "/_sim/faults",
                "application/json",
                "{\"failNextRequests\": 1}",
            ),
        )
        .await;
        assert_eq!(code, 200, "{body}");
        let (code, _) = raw_http(
            addr,
            &req("GET", "/api/v1/namespaces", "application/json", ""),
        )
        .await;
        assert_eq!(code, 500);
        let (code, body) = raw_http(
            addr,
            &req("GET", "/api/v1/namespaces", "application/json", ""),
        )
        .await;
        assert_eq!(code, 200);
        assert!(body.contains("kube-system"));
    })
    .await;
    child.kill().await.unwrap();
}

#[tokio::test]
async fn dropping_the_simulator_ends_connections_and_watches() {
    let (sim, client) = start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    api.list(&ListParams::default()).await.unwrap();
    let mut watch = api
        .watch(&WatchParams::default().timeout(60), "0")
        .await
        .unwrap()
        .boxed();
    drop(sim);
    within(5, "watch ends", async {
        while let Ok(Some(_)) = watch.try_next().await {}
    })
    .await;
    let again = within(10, "request after stop", api.list(&ListParams::default())).await;
    assert!(again.is_err(), "a stopped simulator answers nothing");
}
