//! The day-2 commands on a stack `up` made: `down` → `up` keeps claims and Secrets, `destroy` keeps
//! claims unless `--data`, `status -o json` and its exit codes, `logs` (also `--follow`, ended by
//! Ctrl-C) and `restart`.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn down_then_up_keeps_claims_and_secrets() {
    let e = env().await;
    assert_eq!(up(&e, "60s").await.code, Some(0));
    let (secrets_before, claims_before) = (secrets(&e).await, claims(&e).await);
    assert_eq!(
        secrets_before.len(),
        onyx::stack::secrets::SECRETS.len(),
        "{secrets_before:?}"
    );
    assert!(claims_before.len() >= 3, "{claims_before:?}");

    // A container that never restarted has no previous run: said so, with what to run instead.
    let prev = onyx(&e, &["logs", "--previous", "api-server"]).await;
    assert_eq!(prev.code, Some(3), "{prev:?}");
    assert!(
        prev.stderr.contains("api-server has not restarted")
            && prev.stderr.contains("there is no previous run")
            && prev.stderr.contains(&runnable(&e, "logs api-server")),
        "{prev:?}"
    );

    let down = onyx(&e, &["down"]).await;
    assert_eq!(down.code, Some(0), "{down:?}");
    // A stopped service is not restarted: said so, and how to start it.
    let restart = onyx(&e, &["restart", "web-server"]).await;
    assert_eq!(restart.code, Some(3), "{restart:?}");
    assert!(
        restart.stderr.contains("web-server is stopped")
            && restart.stderr.contains(&runnable(&e, "up")),
        "{restart:?}"
    );
    // A backup of a stopped stack is the cluster's state (exit 3), not a usage error.
    let out = e.home().join("stopped.backup");
    let backup = onyx(&e, &["backup", "-o", out.to_str().unwrap()]).await;
    assert_eq!(backup.code, Some(3), "{backup:?}");
    assert!(
        backup.stderr.contains("stack is stopped or not ready")
            && backup.stderr.contains(&runnable(&e, "up")),
        "{backup:?}"
    );
    assert!(!out.exists());
    let status = onyx(&e, &["status", "-o", "json"]).await;
    assert_eq!(status.code, Some(1), "{status:?}");
    let json: Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(json["stopped"], true, "{json}");
    assert!(
        json["services"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["desired"] == 0)
    );

    let again = up(&e, "60s").await;
    assert_eq!(again.code, Some(0), "{again:?}");
    assert_eq!(
        secrets_before,
        secrets(&e).await,
        "Secrets changed across down/up"
    );
    assert_eq!(
        claims_before,
        claims(&e).await,
        "claims changed across down/up"
    );
    assert_eq!(onyx(&e, &["status"]).await.code, Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn destroy_keeps_claims_unless_data() {
    let e = env().await;
    assert_eq!(up(&e, "60s").await.code, Some(0));
    let claims_before = claims(&e).await;

    // No terminal and no --yes: refuse, remove nothing.
    let refused = onyx(&e, &["destroy"]).await;
    assert_eq!(refused.code, Some(2), "{refused:?}");
    assert!(refused.stderr.contains("--yes"), "{refused:?}");
    assert!(e.sim.object("apps/v1", "Deployment", NS, "nginx").is_some());

    let kept = onyx(&e, &["destroy", "--yes"]).await;
    assert_eq!(kept.code, Some(0), "{kept:?}");
    assert!(e.sim.object("apps/v1", "Deployment", NS, "nginx").is_none());
    assert!(
        e.sim
            .object("apps/v1", "StatefulSet", NS, "vespa")
            .is_none()
    );
    assert_eq!(
        claims_before,
        claims(&e).await,
        "claims went without --data"
    );
    assert_eq!(
        secrets(&e).await.len(),
        onyx::stack::secrets::SECRETS.len(),
        "Secrets went without --data"
    );
    let gone = onyx(&e, &["status"]).await;
    assert_eq!(gone.code, Some(1), "{gone:?}");
    assert!(gone.stderr.contains("no Onyx stack"), "{gone:?}");

    // Up again on the kept data; then remove everything.
    assert_eq!(up(&e, "60s").await.code, Some(0));
    assert_eq!(claims_before, claims(&e).await);
    let all = onyx(&e, &["destroy", "--yes", "--data"]).await;
    assert_eq!(all.code, Some(0), "{all:?}");
    assert!(claims(&e).await.is_empty(), "claims kept with --data");
    assert!(secrets(&e).await.is_empty(), "Secrets kept with --data");
}

#[tokio::test(flavor = "multi_thread")]
async fn status_json_schema_and_exit_codes() {
    let e = env().await;
    let none = onyx(&e, &["status", "-o", "json"]).await;
    assert_eq!(none.code, Some(1), "{none:?}");
    assert!(
        none.stderr.contains("no Onyx stack in namespace"),
        "{none:?}"
    );

    assert_eq!(up(&e, "60s").await.code, Some(0));
    // Nothing serves the UI here (no --forward running): no URL.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let run = onyx(&e, &["status", "-o", "json", "--port", &free]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let json: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["url"], Value::Null, "{json}");
    // A gateway answering on the port (as a port-forward would give it): the URL.
    let nginx = stand_in_nginx::StandIn::nginx().await;
    let served = nginx.addr.port().to_string();
    let run = onyx(&e, &["status", "-o", "json", "--port", &served]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let json: Value = serde_json::from_str(&run.stdout).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "context",
            "healthy",
            "namespace",
            "release",
            "services",
            "stopped",
            "url"
        ],
        "{json}"
    );
    assert_eq!(json["healthy"], true);
    assert_eq!(json["url"], format!("http://localhost:{served}"));
    assert_eq!(json["namespace"], NS);
    let services = json["services"].as_array().unwrap();
    let names: Vec<&str> = services
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, SERVICES);
    for s in services {
        let keys: Vec<&str> = s.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "age_seconds",
                "desired",
                "healthy",
                "image",
                "kind",
                "missing",
                "name",
                "ready",
                "reason",
                "restarts",
                "state"
            ],
            "{s}"
        );
        assert_eq!(s["state"], "ready", "{s}");
        assert_eq!(s["reason"], Value::Null, "{s}");
        assert!(s["age_seconds"].as_i64().is_some_and(|a| a < 60), "{s}");
        assert_eq!(s["ready"], 1, "{s}");
        assert_eq!(s["desired"], 1, "{s}");
        assert!(s["image"].as_str().unwrap().contains(':'), "{s}");
    }
    let vespa = services.iter().find(|s| s["name"] == "vespa").unwrap();
    assert_eq!(vespa["kind"], "StatefulSet");

    let text = onyx(&e, &["status", "--port", &free]).await;
    assert_eq!(text.code, Some(0), "{text:?}");
    assert!(text.stdout.contains("SERVICE"), "{text:?}");
    assert!(
        text.stdout.contains(&format!(
            "healthy; nothing serves the UI on this machine ({} does)",
            runnable(&e, "up --forward")
        )),
        "{text:?}"
    );
    let text = onyx(&e, &["status", "--port", &served]).await;
    assert!(
        text.stdout
            .contains(&format!("healthy: http://localhost:{served}")),
        "{text:?}"
    );

    // A crash-looping service makes it unhealthy, with kubectl's reason and the advice that
    // reads its crash.
    e.sim.inject(svc("redis"), Fault::crash_loop(1, &["boom"]));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = onyx(&e, &["status", "-o", "json"]).await;
        let json: Value = serde_json::from_str(&r.stdout).unwrap_or_default();
        if r.code == Some(1) && json["services"][1]["reason"] == "CrashLoopBackOff" {
            assert_eq!(json["healthy"], false);
            let redis = &json["services"][1];
            assert_eq!(
                (redis["name"].as_str(), redis["state"].as_str()),
                (Some("redis"), Some("not ready")),
                "{json}"
            );
            let text = onyx(&e, &["status"]).await;
            assert_eq!(text.code, Some(1), "{text:?}");
            assert!(
                text.stdout.contains(" REASON ")
                    && text.stdout.lines().any(|l| l.starts_with("redis ")
                        && l.contains(" not ready ")
                        && l.contains(" CrashLoopBackOff "))
                    && text.stdout.contains(&format!(
                        "not healthy: redis is failing (CrashLoopBackOff): {} shows its last run",
                        runnable(&e, "logs redis --previous")
                    )),
                "{text:?}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "status stayed healthy: {r:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_and_restart() {
    let e = env().await;
    assert_eq!(up(&e, "60s").await.code, Some(0));
    let logs = onyx(&e, &["logs", "api-server"]).await;
    assert_eq!(logs.code, Some(0), "{logs:?}");
    assert!(
        logs.stdout.contains("container api-server started"),
        "{logs:?}"
    );

    let bad = onyx(&e, &["logs", "apiserver"]).await;
    assert_eq!(bad.code, Some(2), "{bad:?}");
    assert!(
        bad.stderr.contains("the services are: postgresql"),
        "{bad:?}"
    );

    let before = e
        .sim
        .object("apps/v1", "Deployment", NS, "web-server")
        .unwrap();
    let restart = onyx(&e, &["restart", "web-server"]).await;
    assert_eq!(restart.code, Some(0), "{restart:?}");
    let after = e
        .sim
        .object("apps/v1", "Deployment", NS, "web-server")
        .unwrap();
    assert!(
        after["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
            .is_string(),
        "{after}"
    );
    assert!(after["metadata"]["generation"].as_i64() > before["metadata"]["generation"].as_i64());
    // up after a restart still converges (and keeps the restart's annotation owner apart).
    assert_eq!(up(&e, "60s").await.code, Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_follow_prints_new_lines_as_they_come_and_ends_with_ctrl_c() {
    use tokio::io::AsyncBufReadExt;
    let e = env().await;
    assert_eq!(up(&e, "60s").await.code, Some(0));
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client(&e), NS);
    let pod = pods
        .list(&ListParams::default().labels("app.kubernetes.io/name=api-server"))
        .await
        .unwrap()
        .items
        .remove(0);
    let pod = pod.metadata.name.unwrap();

    let mut child = command(&e, &["logs", "-f", "api-server"]).spawn().unwrap();
    let started = Instant::now();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next_line = async || {
        tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("a line within 20s")
            .unwrap()
            .expect("the stream goes on")
    };
    // What was logged so far comes first...
    assert!(
        next_line().await.contains("container api-server started"),
        "the log so far"
    );
    // ...then each line the container writes later, while onyx keeps following.
    for i in 0..3 {
        let line = format!("later line {i}");
        assert!(e.sim.append_log(NS, &pod, "api-server", &line));
        loop {
            let got = next_line().await;
            if got == line {
                break;
            }
        }
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "logs -f must keep following"
    );
    // Ctrl-C is the normal way out of following: exit 0.
    let pid = child.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let done = finish(child, started, 30).await;
    assert_eq!(done.code, Some(0), "{done:?}");
}

/// Before the API's main container starts, its init containers hold the pod (`migrate` runs the
/// first start's migrations for minutes; here `wait-for-dependencies` waits, as Vespa never gets
/// ready): `onyx logs api-server` shows that container and says so on
/// stderr; `-c` picks any container, init containers included; an unknown one lists them.
#[tokio::test(flavor = "multi_thread")]
async fn logs_reads_init_containers() {
    let mut config = support::sim::timing(150, Some(100));
    config.ready_delays.push(k8s_sim::ReadyDelay {
        target: svc("api-server"),
        ms: 100,
        after: vec!["app.kubernetes.io/name=vespa".into()],
    });
    let e = Env::start(config).await;
    e.sim
        .inject(svc("vespa"), Fault::NotReady { message: None });
    let failed = up(&e, "3s").await;
    assert_eq!(failed.code, Some(1), "{failed:?}");
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client(&e), NS);
    let pod = pods
        .list(&ListParams::default().labels("app.kubernetes.io/name=api-server"))
        .await
        .unwrap()
        .items
        .remove(0);
    let name = pod.metadata.name.clone().unwrap();
    assert!(e.sim.append_log(
        NS,
        &name,
        "wait-for-dependencies",
        "waiting for Vespa at vespa-0.vespa-service:19071"
    ));

    let logs = onyx(&e, &["logs", "api-server"]).await;
    assert_eq!(logs.code, Some(0), "{logs:?}");
    assert!(
        logs.stdout
            .contains("waiting for Vespa at vespa-0.vespa-service:19071"),
        "{logs:?}"
    );
    assert!(
        logs.stderr.contains(&format!(
            "api-server has not started yet: its init container wait-for-dependencies is running \
             (pod {name}); showing its logs ({} for the main container's)",
            runnable(&e, "logs api-server -c api-server")
        )),
        "{logs:?}"
    );

    let init = onyx(&e, &["logs", "api-server", "-c", "wait-for-dependencies"]).await;
    assert_eq!(init.code, Some(0), "{init:?}");
    assert!(init.stdout.contains("waiting for Vespa"), "{init:?}");
    assert!(!init.stderr.contains("has not started yet"), "{init:?}");

    let bad = onyx(&e, &["logs", "api-server", "-c", "nope"]).await;
    assert_eq!(bad.code, Some(2), "{bad:?}");
    assert!(
        bad.stderr.contains(&format!(
            "api-server has no container \"nope\" (pod {name} has: api-server, \
             wait-for-dependencies (init), image-caches (init), migrate (init))"
        )),
        "{bad:?}"
    );
}
