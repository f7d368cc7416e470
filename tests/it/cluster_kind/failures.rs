//! Failures roll back: a failure at each boot step names the step and leaves nothing behind
//! (the kubeconfig untouched), create and start failures too unless `--retain`, and a taken port is
//! refused before anything is made.

use crate::support::bounded::{BOUND, Bounded};

use super::*;

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
        .output_within(BOUND)
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
