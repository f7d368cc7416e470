//! The boot flow on the stand-in node: the steps in kind's order, the kubeadm config written byte
//! for byte and the kubeconfig merged; an older node image gets the v1beta3 config; a ready timeout
//! keeps the node and says what is slow.

use super::*;

const BOOT: [Step; 11] = [
    Step::Network,
    Step::CreateNode,
    Step::StartNode,
    Step::WaitSystemd,
    Step::WriteKubeadmConfig,
    Step::KubeadmInit,
    Step::RemoveTaint,
    Step::InstallCni,
    Step::InstallStorage,
    Step::WaitReady,
    Step::Kubeconfig,
];

#[tokio::test(flavor = "multi_thread")]
async fn boots_in_order_writes_the_config_byte_for_byte_and_merges_the_kubeconfig() {
    let Some(docker) = support::engine("boot").await else {
        return;
    };
    if !fake_node::available("boot") {
        return;
    }
    let cleanup = support::Cleanup::new(&docker);
    let c = TestCluster::new(&docker, "boot").await;
    let image = fake_node::build(&docker, &cleanup, &c.name, false).await;
    std::fs::create_dir_all(c.kubeconfig().parent().unwrap()).unwrap();
    std::fs::write(c.kubeconfig(), USER_KUBECONFIG).unwrap();
    let ui_port = kind::free_port().unwrap();
    let spec = fake_node::runnable_here(c.spec(&image, ui_port));
    let api_port = spec.ports[0].host_port;
    let steps = Steps::default();
    let created = kind::create(&docker, &c.options(spec), &steps)
        .await
        .unwrap_or_else(|e| panic!("{e}\nhint: {:?}", e.hint()));
    assert_eq!(created.outcome, Outcome::Created);
    assert_eq!(created.api_server, format!("https://127.0.0.1:{api_port}"));
    assert_eq!(created.ui_port, Some(ui_port));
    assert_eq!(created.context, format!("kind-{}", c.name));

    // Every step, in order, each started then done.
    let want: Vec<(Step, StepEvent)> = BOOT
        .iter()
        .flat_map(|s| [(*s, StepEvent::Start), (*s, StepEvent::Done)])
        .collect();
    assert_eq!(steps.all(), want);

    // The kubeadm config reached the node byte for byte, and kubeadm found it so.
    let i = kind::inspect(&docker, &c.node()).await.unwrap().unwrap();
    let ip = i.network_settings.unwrap().networks.unwrap()["kind"]
        .ip_address
        .clone()
        .unwrap();
    let expected = kubeadm::render(
        &KubeadmParams::single_node(&c.name, "v1.36.1", &ip, "systemd").on_host(&c.host),
        KubeadmApi::V1Beta4,
    );
    // This engine reports cgroup v1 (Docker 20.10 here): the kubelet is told not to refuse it,
    // and the stand-in kubeadm (like the real kubelet ≥ 1.35) would fail otherwise.
    assert_eq!(
        expected.contains("failCgroupV1: false"),
        c.host.cgroup_v1(),
        "{expected}"
    );
    assert!(
        expected.contains("skipPhases:\n  - \"preflight\""),
        "{expected}"
    );
    assert_eq!(c.read(kind::KUBEADM_CONF).await, expected.as_bytes());
    assert_eq!(
        c.read("/records/kubeadm.conf.seen").await,
        expected.as_bytes()
    );

    // The tools were asked in order, as kind asks them.
    let calls = c.calls().await;
    let kubeconfig_flag = "--kubeconfig=/etc/kubernetes/admin.conf";
    assert_eq!(
        calls,
        [
            "kubeadm init --config=/kind/kubeadm.conf --skip-token-print --v=6".to_string(),
            format!(
                "kubectl {kubeconfig_flag} taint nodes --all node-role.kubernetes.io/control-plane-"
            ),
            format!(
                "kubectl {kubeconfig_flag} label nodes --all node.kubernetes.io/exclude-from-external-load-balancers-"
            ),
            format!("kubectl create {kubeconfig_flag} -f -"),
            format!("kubectl {kubeconfig_flag} apply -f -"),
            // kind's selector; the jsonpath reads the Ready condition's heartbeat too (a Ready
            // from before a restart is not trusted) and its reason and message (what is slow).
            format!(
                "kubectl {kubeconfig_flag} get nodes --selector=node-role.kubernetes.io/control-plane -o=jsonpath={{range .items[*]}}{{.status.conditions[?(@.type==\"Ready\")].status}}|{{.status.conditions[?(@.type==\"Ready\")].lastHeartbeatTime}}|{{.status.conditions[?(@.type==\"Ready\")].reason}}|{{.status.conditions[?(@.type==\"Ready\")].message}}{{\"\\n\"}}{{end}}"
            ),
        ]
    );
    // CNI templated and patched as kind does; storage with the stable path pattern.
    let cni: Vec<Value> =
        serde_saphyr::from_multiple(&c.read_text("/records/cni.yaml").await).unwrap();
    let ds = cni.iter().find(|d| d["kind"] == "DaemonSet").unwrap();
    let env = &ds["spec"]["template"]["spec"]["containers"][0]["env"];
    assert_eq!(env[0]["value"], "10.244.0.0/16");
    assert_eq!(env[1]["name"], "CONTROL_PLANE_ENDPOINT");
    assert_eq!(env[1]["value"], format!("{}:6443", c.node()));
    let storage: Vec<Value> =
        serde_saphyr::from_multiple(&c.read_text("/records/storage.yaml").await).unwrap();
    let sc = storage
        .iter()
        .find(|d| d["kind"] == "StorageClass")
        .unwrap();
    assert_eq!(sc["parameters"]["pathPattern"], kind::STABLE_PATH_PATTERN);

    // Kubeconfig: ours added and current, pointed at 127.0.0.1; the user's kept; backup made.
    let kc = yaml(&c.kubeconfig());
    let ctx = format!("kind-{}", c.name);
    assert_eq!(names(&kc, "contexts"), ["prod".to_string(), ctx.clone()]);
    assert_eq!(names(&kc, "clusters"), ["prod".to_string(), ctx.clone()]);
    assert_eq!(names(&kc, "users"), ["prod-admin".to_string(), ctx.clone()]);
    assert_eq!(kc["current-context"], ctx.as_str());
    assert_eq!(
        kc["clusters"][1]["cluster"]["server"],
        created.api_server.as_str()
    );
    assert_eq!(
        kc["clusters"][1]["cluster"]["certificate-authority-data"],
        "RkFLRS1DQQo="
    );
    assert_eq!(kc["users"][0]["user"]["token"], "secret-token");
    assert_eq!(
        std::fs::read_to_string(kubeconfig::backup_path(&c.kubeconfig())).unwrap(),
        USER_KUBECONFIG
    );
    assert!(!kubeconfig::lock_path(&c.kubeconfig()).exists());

    // Status sees it Ready, with its ports and data directory.
    let status = kind::status(&docker, &c.name).await.unwrap();
    assert_eq!(status.state, "running");
    assert_eq!(status.ready, Some(true));
    assert_eq!(status.ui_url, Some(format!("http://localhost:{ui_port}")));
    assert_eq!(status.data_dir, Some(c.data_dir().display().to_string()));

    // Delete: node and its anonymous /var volume gone, our entries gone, the user's and the data
    // directory kept.
    let volume = i
        .mounts
        .unwrap()
        .into_iter()
        .find(|m| m.destination.as_deref() == Some("/var"))
        .and_then(|m| m.name)
        .expect("the /var volume");
    std::fs::write(c.data_dir().join("keep-me"), "data").unwrap();
    let deleted = kind::delete(&docker, &c.name, &c.kubeconfig(), None)
        .await
        .unwrap();
    assert!(deleted.node_removed && deleted.kubeconfig_cleaned);
    assert!(!c.exists().await);
    assert!(
        docker.inspect_volume(&volume).await.is_err(),
        "volume {volume} left behind"
    );
    let kc = yaml(&c.kubeconfig());
    assert_eq!(names(&kc, "contexts"), ["prod"]);
    assert_eq!(names(&kc, "clusters"), ["prod"]);
    assert_eq!(names(&kc, "users"), ["prod-admin"]);
    assert_eq!(kc["current-context"], "");
    assert!(c.data_dir().join("keep-me").exists());
    // --purge removes the data directory; a second delete finds nothing to do.
    let again = kind::delete(&docker, &c.name, &c.kubeconfig(), Some(&c.data_dir()))
        .await
        .unwrap();
    assert!(!again.node_removed && !again.kubeconfig_cleaned);
    assert_eq!(again.data_removed, Some(c.data_dir()));
    assert!(!c.data_dir().exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_older_node_image_boots_with_the_v1beta3_config() {
    let Some(docker) = support::engine("v1beta3").await else {
        return;
    };
    if !fake_node::available("v1beta3") {
        return;
    }
    let cleanup = support::Cleanup::new(&docker);
    let c = TestCluster::new(&docker, "beta3").await;
    let image = fake_node::build_version(&docker, &cleanup, &c.name, false, "v1.35.2").await;
    kind::create(
        &docker,
        &c.options(fake_node::runnable_here(
            c.spec(&image, kind::free_port().unwrap()),
        )),
        &cluster::SilentSteps,
    )
    .await
    .unwrap();
    let i = kind::inspect(&docker, &c.node()).await.unwrap().unwrap();
    let ip = i.network_settings.unwrap().networks.unwrap()["kind"]
        .ip_address
        .clone()
        .unwrap();
    let expected = kubeadm::render(
        &KubeadmParams::single_node(&c.name, "v1.35.2", &ip, "systemd").on_host(&c.host),
        KubeadmApi::V1Beta3,
    );
    let got = c.read_text(kind::KUBEADM_CONF).await;
    assert_eq!(got, expected);
    assert!(got.contains("apiVersion: kubeadm.k8s.io/v1beta3"), "{got}");
    assert!(!got.contains("v1beta4"), "{got}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ready_timeout_keeps_the_node_and_says_what_is_slow() {
    let Some(docker) = support::engine("ready timeout").await else {
        return;
    };
    if !fake_node::available("ready timeout") {
        return;
    }
    let cleanup = support::Cleanup::new(&docker);
    let c = TestCluster::new(&docker, "readyto").await;
    let image = fake_node::build(&docker, &cleanup, &c.name, false).await;
    let spec = failing_at(
        fake_node::runnable_here(c.spec(&image, kind::free_port().unwrap())),
        "ready",
    );
    let steps = Steps::default();
    // kind v0.32.0 waitforready.go: "WARNING: Timed out waiting for Ready", and the create goes on.
    let created = kind::create(&docker, &c.options(spec), &steps)
        .await
        .expect("a node that is not Ready in time is kept, as kind keeps it");
    assert_eq!(created.outcome, Outcome::Created);
    assert!(c.exists().await);
    let all = steps.all();
    let warned = all
        .iter()
        .find_map(|(s, e)| match (s, e) {
            (Step::WaitReady, StepEvent::Warned(w)) => Some(w.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no warning for the Ready wait: {all:?}"));
    assert!(
        warned.contains("not Ready after 3s")
            && warned.contains("KubeletNotReady: container runtime network not ready")
            && warned.contains("coredns-7db6d8ff4d-x2x8k (Pending)")
            && !warned.contains("kindnet"),
        "{warned}"
    );
    assert!(
        all.contains(&(Step::Kubeconfig, StepEvent::Done)),
        "{all:?}"
    );
    let kc = std::fs::read_to_string(c.kubeconfig()).unwrap();
    assert!(kc.contains(&cluster::context_name(&c.name)), "{kc}");
}
