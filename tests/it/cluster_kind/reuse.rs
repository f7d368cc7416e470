//! A node that exists already: a running one is reused and a stopped one started again (the
//! wait reading this run only), a half-made one is not reused, someone else's container with the
//! node's name is left alone, and a port taken while the node was stopped is named.

use super::*;

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

/// A node an older onyx made has the StorageClass `standard` with the path pattern
/// local-path-provisioner v0.0.34 refuses (issue #20 item 1): every claim Pending, forever, since
/// the node is reused. The reuse makes the class again with the current pattern (deleted first:
/// its parameters are immutable); a node with any other pattern is left alone.
#[tokio::test(flavor = "multi_thread")]
async fn a_reused_node_gets_its_refused_storage_class_made_again() {
    let Some(docker) = support::engine("storage repair").await else {
        return;
    };
    if !fake_node::available("storage repair") {
        return;
    }
    let cleanup = support::Cleanup::new(&docker);
    let c = TestCluster::new(&docker, "screpair").await;
    let image = fake_node::build(&docker, &cleanup, &c.name, false).await;
    let spec = fake_node::runnable_here(c.spec(&image, kind::free_port().unwrap()));
    kind::create(&docker, &c.options(spec.clone()), &cluster::SilentSteps)
        .await
        .unwrap();
    let seed = |pattern: &'static str| {
        let docker = docker.clone();
        let node = c.node();
        async move {
            let out = kind::exec(
                &docker,
                &node,
                &["sh", "-c", "cat > /records/sc-pattern"],
                Some(kind::stdin_bytes(pattern.as_bytes().to_vec())),
            )
            .await
            .unwrap();
            assert!(out.ok());
        }
    };
    let applies = |calls: &[String]| calls.iter().filter(|l| l.contains(" apply ")).count();
    let deletes = |calls: &[String]| {
        calls
            .iter()
            .filter(|l| l.contains("delete storageclass standard"))
            .count()
    };

    // The current pattern: nothing done.
    seed(kind::STABLE_PATH_PATTERN).await;
    let before = c.calls().await;
    kind::create(&docker, &c.options(spec.clone()), &cluster::SilentSteps)
        .await
        .unwrap();
    let after = c.calls().await;
    assert_eq!(deletes(&after), 0, "{after:?}");
    assert_eq!(applies(&after), applies(&before));

    // The refused one: deleted, then the storage manifest applied again with the current one.
    seed("{{ .PVC.Namespace }}/{{ .PVC.Name }}").await;
    let _ = kind::exec(&docker, &c.node(), &["rm", "/records/storage.yaml"], None).await;
    let messages = std::sync::Arc::new(Mutex::new(Vec::<String>::new()));
    struct Said(std::sync::Arc<Mutex<Vec<String>>>);
    impl StepReporter for Said {
        fn step(&self, _: Step, _: StepEvent) {}
        fn message(&self, m: &str) {
            self.0.lock().unwrap().push(m.to_string());
        }
    }
    kind::create(&docker, &c.options(spec), &Said(messages.clone()))
        .await
        .unwrap();
    let calls = c.calls().await;
    assert_eq!(deletes(&calls), 1, "{calls:?}");
    assert_eq!(applies(&calls), applies(&after) + 1);
    let storage: Vec<Value> =
        serde_saphyr::from_multiple(&c.read_text("/records/storage.yaml").await).unwrap();
    let sc = storage
        .iter()
        .find(|d| d["kind"] == "StorageClass")
        .unwrap();
    assert_eq!(sc["parameters"]["pathPattern"], kind::STABLE_PATH_PATTERN);
    assert!(
        messages
            .lock()
            .unwrap()
            .iter()
            .any(|m| m.contains("StorageClass standard had a path pattern")),
        "{:?}",
        messages.lock().unwrap()
    );
}
