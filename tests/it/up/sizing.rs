//! Sizing on a given cluster and keeping what an install was made with (issue #21 items 1–3,
//! issue #20 item 5): the simulator's node has the allocatable given here and carries its own
//! pods' requests (kubeadm's, kind's) plus another tenant's, as a real cluster would; `up` sizes
//! by what is left, says so on its first line, keeps the installed profile on a plain re-run, and
//! asks before a `--profile` that shrinks the running stack.

use super::*;

/// A simulator whose one node has `cpu_m` and `gib` allocatable, and another tenant already
/// requesting 1000m and 2 GiB of it.
async fn env_sized(cpu_m: u64, gib: u64) -> Env {
    let mut config = support::sim::timing(150, Some(100));
    config.node_cpu_m = cpu_m;
    config.node_memory_bytes = gib << 30;
    config.extra_pods = vec![("tenant".into(), "busy".into(), 1000, 2 << 30)];
    Env::start(config).await
}

fn first_line(r: &Run) -> &str {
    r.stderr.lines().next().unwrap_or_default()
}

async fn api_memory_limit(e: &Env) -> String {
    use k8s_openapi::api::apps::v1::Deployment;
    let d = Api::<Deployment>::namespaced(client(e), NS)
        .get("api-server")
        .await
        .unwrap();
    let c = &d.spec.unwrap().template.spec.unwrap().containers[0];
    c.resources.as_ref().unwrap().limits.as_ref().unwrap()["memory"]
        .0
        .clone()
}

/// #21-1: 6 CPUs and 16 GiB less the node's own 950m/290Mi and the tenant's 1000m/2Gi leave
/// 4050m and ~13.7 GiB: medium (with its workers), not large (15 GiB of requests), and not the
/// `small` that this 2-CPU test machine's engine would have given.
#[tokio::test(flavor = "multi_thread")]
async fn a_given_cluster_is_sized_by_what_it_can_still_schedule() {
    let e = env_sized(6000, 16).await;
    let r = onyx(&e, &["up", "--no-browser", "--timeout", "90s"]).await;
    assert_eq!(r.code, Some(0), "{r:?}");
    let first = first_line(&r);
    assert!(
        first.starts_with("cluster: context sim") && first.contains("sized by its free room"),
        "{first}"
    );
    assert!(first.contains("4050m of CPU"), "{first}");
    assert!(
        first.contains("profile medium (the largest that fits)"),
        "{first}"
    );
    assert!(!r.stderr.contains("Docker"), "{r:?}");
    assert_eq!(api_memory_limit(&e).await, "4096Mi");
}

/// #21-1: a named profile too big for the room is warned about, not refused; the scheduler then
/// leaves what does not fit Pending, and the diagnosis says why.
#[tokio::test(flavor = "multi_thread")]
async fn a_named_profile_is_warned_about_not_refused() {
    let e = env_sized(6000, 16).await;
    let r = onyx(
        &e,
        &[
            "up",
            "--profile",
            "large",
            "--no-browser",
            "--timeout",
            "8s",
        ],
    )
    .await;
    assert_ne!(r.code, Some(2), "not refused: {r:?}");
    assert!(
        first_line(&r).contains("profile large (named; it looks too big for the room)"),
        "{r:?}"
    );
    assert!(r.stderr.contains("may stay Pending"), "{r:?}");
    assert!(r.stderr.contains("Insufficient memory"), "{r:?}");
}

/// #21-1: nothing fits and no profile named: refused with the cluster's numbers (exit 3, as
/// every machine too small).
#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_with_no_room_is_refused_with_its_numbers() {
    let e = env_sized(2000, 4).await;
    let r = onyx(&e, &["up", "--no-browser", "--timeout", "30s"]).await;
    assert_eq!(r.code, Some(3), "{r:?}");
    assert!(r.stderr.contains("the cluster of context sim"), "{r:?}");
    assert!(r.stderr.contains("free to schedule"), "{r:?}");
    assert!(r.stderr.contains("--profile small"), "{r:?}");
    assert!(workloads(&e).await.is_empty(), "nothing applied");
}

/// #21-2: a plain re-run keeps the installed profile (recorded in ConfigMap onyx-indexing) and
/// touches nothing; a `--profile` that shrinks the stack is refused without a terminal and
/// without --yes (exit 2, nothing changed), and goes ahead with --yes.
#[tokio::test(flavor = "multi_thread")]
async fn a_rerun_keeps_the_profile_and_a_shrink_needs_yes() {
    let e = env_sized(8000, 32).await;
    let r = onyx(
        &e,
        &[
            "up",
            "--profile",
            "medium",
            "--no-browser",
            "--timeout",
            "90s",
        ],
    )
    .await;
    assert_eq!(r.code, Some(0), "{r:?}");
    let before = workloads(&e).await;
    // Sized alone this cluster would get large: the record wins.
    let r = onyx(&e, &["up", "--no-browser", "--timeout", "90s"]).await;
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.stderr
            .contains("profile medium: the one installed here, kept"),
        "{r:?}"
    );
    assert_eq!(api_memory_limit(&e).await, "4096Mi");
    assert_eq!(
        workloads(&e).await,
        before,
        "a plain re-run changes nothing"
    );

    let r = onyx(
        &e,
        &[
            "up",
            "--profile",
            "small",
            "--no-browser",
            "--timeout",
            "90s",
        ],
    )
    .await;
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(
        r.stderr
            .contains("this run would shrink the running stack (installed: medium with indexing shared; now: small with indexing off)"),
        "{r:?}"
    );
    assert!(r.stderr.contains("removes background"), "{r:?}");
    assert!(r.stderr.contains("--yes"), "{r:?}");
    assert_eq!(workloads(&e).await, before, "nothing changed");

    let r = onyx(
        &e,
        &[
            "up",
            "--profile",
            "small",
            "--yes",
            "--no-browser",
            "--timeout",
            "90s",
        ],
    )
    .await;
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(api_memory_limit(&e).await, "3072Mi");
}

/// #21-3: the OOM diagnosis's advice runs as printed on the same cluster: its `onyx up --profile
/// medium` is sized by the cluster (not refused for this machine's engine) and brings medium up.
#[tokio::test(flavor = "multi_thread")]
async fn the_oom_advice_runs_as_printed() {
    let e = env_sized(8000, 32).await;
    let fault = e.sim.inject(
        Target::labels("app.kubernetes.io/name=vespa").in_namespace(NS),
        Fault::OomKilled,
    );
    let r = onyx(
        &e,
        &[
            "up",
            "--profile",
            "small",
            "--no-browser",
            "--timeout",
            "20s",
        ],
    )
    .await;
    assert_ne!(r.code, Some(0), "{r:?}");
    let advice = r
        .stderr
        .split('`')
        .find(|s| s.starts_with("onyx up --profile"))
        .unwrap_or_else(|| panic!("no advice: {r:?}"))
        .to_string();
    assert!(advice.starts_with("onyx up --profile medium "), "{advice}");
    e.sim.clear_fault(fault);
    // As printed (it names the cluster itself), plus the harness's own flags.
    let mut args: Vec<&str> = advice.split_whitespace().skip(1).collect();
    args.extend(["--no-browser", "--timeout", "90s"]);
    let r = support::cmd::OnyxCommand::new(e.home())
        .args(&args)
        .run()
        .await;
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(first_line(&r).contains("profile medium (named)"), "{r:?}");
}

/// #21-1: `doctor --context` reports the named cluster's room, not this machine's engine, disk
/// or UI port as facts about the deployment.
#[tokio::test(flavor = "multi_thread")]
async fn doctor_on_a_given_cluster_checks_its_room_not_this_machine() {
    let e = env_sized(6000, 16).await;
    let r = onyx(
        &e,
        &[
            "up",
            "--profile",
            "small",
            "--no-browser",
            "--timeout",
            "90s",
        ],
    )
    .await;
    assert_eq!(r.code, Some(0), "{r:?}");
    // The stack's own pods don't count against the room: a re-run replaces them.
    let r = onyx(&e, &["doctor", "-o", "json"]).await;
    let v: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|err| panic!("{err}: {r:?}"));
    let checks: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["check"].as_str().unwrap())
        .collect();
    for local in [
        "docker",
        "disk",
        "memory and CPUs",
        "AVX2",
        "UI port",
        "cgroup",
    ] {
        assert!(!checks.contains(&local), "{local} in {checks:?}");
    }
    let room = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "room on the cluster")
        .unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(room["status"], "ok", "{room:#}");
    assert!(
        room["detail"]
            .as_str()
            .unwrap()
            .contains("4050m of CPU free to schedule: the medium profile fits"),
        "{room:#}"
    );
}

/// #21-4: after `up --context … -n …`, the day-2 commands run without the flags talk to that
/// cluster and namespace (remembered per user in onyx's data directory) and say so on stderr;
/// the config file's `context`/`kubeconfig` beat the record; `KUBECONFIG` alone picks nothing
/// but is pointed at.
#[tokio::test(flavor = "multi_thread")]
async fn day2_commands_remember_where_up_deployed() {
    let e = env_sized(8000, 32).await;
    let r = up(&e, "90s").await;
    assert_eq!(r.code, Some(0), "{r:?}");
    let bare = |args: &[&str]| {
        support::cmd::OnyxCommand::new(e.home())
            .args(args.iter().copied())
            .run()
    };
    let r = bare(&["status", "-o", "json"]).await;
    assert_eq!(r.code, Some(0), "{r:?}");
    let first = first_line(&r);
    assert!(
        first.starts_with("cluster: context sim of ")
            && first.ends_with(&format!(", namespace {NS} (where the last up deployed)")),
        "{first}"
    );
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(v.to_string().contains("api-server"), "{v:#}");
    let r = bare(&["logs", "redis"]).await;
    assert_eq!(r.code, Some(0), "{r:?}");

    // The config file's context wins over the record (here one the kubeconfig lacks: named).
    let config = e.home().join("config/onyx");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("config.toml"),
        format!(
            "context = \"elsewhere\"\nkubeconfig = \"{}\"\n",
            e.kubeconfig.display()
        ),
    )
    .unwrap();
    let r = bare(&["status"]).await;
    assert_ne!(r.code, Some(0), "{r:?}");
    assert!(
        first_line(&r).starts_with("cluster: context elsewhere of ")
            && first_line(&r).contains("(from the config file)"),
        "{r:?}"
    );
    assert!(r.stderr.contains("elsewhere"), "{r:?}");
}
