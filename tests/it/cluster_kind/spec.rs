//! The node as onyx specifies it, checked through the real engine: what the engine creates from
//! the spec (inspect), the binary with the product's own privileged spec (boots where the engine
//! grants it, rolls back where it refuses), `--dry-run` printing the specs from this engine's facts,
//! and a proxy reaching the node with the network's real subnets in `NO_PROXY`.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn the_node_as_specified_is_what_the_engine_creates() {
    let Some(docker) = support::engine("node spec").await else {
        return;
    };
    if !fake_node::available("node spec") {
        return;
    }
    let cleanup = support::Cleanup::new(&docker);
    let c = TestCluster::new(&docker, "spec").await;
    let image = fake_node::build(&docker, &cleanup, &c.name, false).await;
    let spec = c.spec(&image, kind::free_port().unwrap());
    // The product's spec, untouched: privileged. Created only (it can't start here).
    docker
        .create_container(
            Some(
                CreateContainerOptionsBuilder::new()
                    .name(&spec.name)
                    .build(),
            ),
            kind::create_body(&spec),
        )
        .await
        .unwrap();
    let i = kind::inspect(&docker, &c.node()).await.unwrap().unwrap();
    let h = i.host_config.clone().unwrap();
    let config = i.config.clone().unwrap();
    assert_eq!(i.name.as_deref(), Some(format!("/{}", c.node()).as_str()));
    assert_eq!(config.hostname.as_deref(), Some(c.node().as_str()));
    assert_eq!(config.image.as_deref(), Some(image.as_str()));
    assert_eq!(h.privileged, Some(true));
    let mut sec = h.security_opt.clone().unwrap();
    // The engine adds `label=disable` (SELinux) to every privileged container by itself.
    sec.retain(|s| s != "label=disable");
    sec.sort();
    assert_eq!(sec, ["apparmor=unconfined", "seccomp=unconfined"]);
    let tmpfs = h.tmpfs.clone().unwrap();
    let mut keys: Vec<_> = tmpfs.keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["/run", "/tmp"]);
    assert_eq!(config.volumes.clone().unwrap(), ["/var"]);
    let binds = h.binds.clone().unwrap();
    assert!(
        binds.contains(&"/lib/modules:/lib/modules:ro".to_string()),
        "{binds:?}"
    );
    assert!(
        binds.contains(&format!(
            "{}:{}",
            c.data_dir().display(),
            node::STORAGE_ROOT
        )),
        "{binds:?}"
    );
    assert_eq!(
        h.cgroupns_mode,
        Some(bollard::models::HostConfigCgroupnsModeEnum::PRIVATE)
    );
    let restart = h.restart_policy.clone().unwrap();
    assert_eq!(
        restart.name,
        Some(bollard::models::RestartPolicyNameEnum::ON_FAILURE)
    );
    assert_eq!(restart.maximum_retry_count, Some(1));
    assert_eq!(h.init, Some(false));
    assert_eq!(h.network_mode.as_deref(), Some("kind"));
    assert_eq!(config.tty, Some(true));
    let labels = config.labels.clone().unwrap();
    assert_eq!(labels[node::LABEL_CLUSTER], c.name);
    assert_eq!(labels[node::LABEL_ROLE], "control-plane");
    assert_eq!(labels["app.kubernetes.io/managed-by"], "onyx");
    assert!(
        config
            .env
            .clone()
            .unwrap()
            .contains(&"KUBECONFIG=/etc/kubernetes/admin.conf".to_string())
    );
    // Both ports, on 127.0.0.1 only.
    let ports = h.port_bindings.clone().unwrap();
    assert_eq!(ports.len(), 2, "{ports:?}");
    for (port, want) in [("6443/tcp", &spec.ports[0]), ("30080/tcp", &spec.ports[1])] {
        let b = ports[port].clone().unwrap();
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].host_ip.as_deref(), Some("127.0.0.1"), "{port}");
        assert_eq!(
            b[0].host_port.as_deref(),
            Some(want.host_port.to_string().as_str())
        );
    }
    // The network, when onyx made it: a bridge with masquerading, IPv6 on kind's kind of ULA
    // subnet, or IPv4 only where the engine can't do IPv6.
    let net = docker
        .inspect_network(
            node::NETWORK,
            None::<bollard::query_parameters::InspectNetworkOptions>,
        )
        .await
        .unwrap();
    if net
        .labels
        .as_ref()
        .and_then(|l| l.get("app.kubernetes.io/managed-by"))
        .map(String::as_str)
        == Some("onyx")
    {
        assert_eq!(net.driver.as_deref(), Some("bridge"));
        assert_eq!(
            net.options.as_ref().unwrap()["com.docker.network.bridge.enable_ip_masquerade"],
            "true"
        );
        let subnets: Vec<String> = net
            .ipam
            .and_then(|i| i.config)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|c| c.subnet)
            .collect();
        if net.enable_ipv6 == Some(true) {
            assert!(
                (0..5).any(|n| subnets.contains(&kind::ula_subnet(node::NETWORK, n))),
                "{subnets:?}"
            );
        } else {
            assert!(subnets.iter().all(|s| !s.contains(':')), "{subnets:?}");
        }
    }

    // kind recognises it as a cluster.
    let listed = kind::list(&docker).await.unwrap();
    let ours = listed.iter().find(|l| l.name == c.name).expect("listed");
    assert_eq!(ours.state, "created");
    assert!(ours.onyx);
}

/// The binary with the product's own spec (privileged, untouched): where the engine grants
/// privileged containers the stand-in node boots; where it refuses them (these machines withhold
/// CAP_SYS_RESOURCE) the create fails at "start node" with the engine's words and a hint, and
/// everything it made is gone. Either way the outcome is checked in full.
#[tokio::test(flavor = "multi_thread")]
async fn the_cli_with_the_product_spec_boots_or_rolls_back_a_refused_start() {
    let Some(docker) = support::engine("cli privileged").await else {
        return;
    };
    if !fake_node::available("cli privileged") {
        return;
    }
    let cleanup = support::Cleanup::new(&docker);
    let c = TestCluster::new(&docker, "cliprv").await;
    let image = fake_node::build(&docker, &cleanup, &c.name, false).await;
    let port = kind::free_port().unwrap().to_string();
    let (code, out, err) = onyx(
        &c,
        &[
            "cluster",
            "create",
            "--name",
            &c.name,
            "--node-image",
            &image,
            "--port",
            &port,
            "--wait",
            "10",
            "-o",
            "json",
        ],
    );
    if code == 0 {
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["outcome"], "created", "{err}");
        assert_eq!(
            kind::status(&docker, &c.name).await.unwrap().ready,
            Some(true)
        );
        let i = kind::inspect(&docker, &c.node()).await.unwrap().unwrap();
        assert_eq!(i.host_config.unwrap().privileged, Some(true));
    } else {
        assert_eq!(code, 3, "{err}");
        assert!(err.contains("failed at step \"start node\""), "{err}");
        assert!(err.contains("unable to apply caps"), "{err}");
        assert!(err.contains("can't start privileged containers"), "{err}");
        assert!(!c.exists().await, "node left behind");
        assert!(
            !c.kubeconfig().exists(),
            "kubeconfig written after a failed create"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_prints_the_specs_from_this_engines_facts_and_makes_nothing() {
    let Some(docker) = support::engine("dry run").await else {
        return;
    };
    let c = TestCluster::new(&docker, "dryrun").await;
    let (code, out, err) = onyx(
        &c,
        &[
            "cluster",
            "create",
            "--dry-run",
            "--name",
            &c.name,
            "--port",
            "3999",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let plan: Value = serde_json::from_str(&out).unwrap();
    let info = docker.info().await.unwrap();
    // The engine's own facts, read from it.
    let cgroup = info
        .cgroup_version
        .map(|v| v.to_string())
        .unwrap_or_default();
    assert_eq!(plan["engine"]["cgroup_version"], cgroup);
    assert_eq!(
        plan["engine"]["storage_driver"],
        info.driver.clone().unwrap_or_default()
    );
    let bridge = docker
        .inspect_network(
            "bridge",
            None::<bollard::query_parameters::InspectNetworkOptions>,
        )
        .await
        .unwrap();
    let mtu: Option<u32> = bridge
        .options
        .as_ref()
        .and_then(|o| o.get("com.docker.network.driver.mtu"))
        .and_then(|m| m.parse().ok())
        .filter(|m| *m > 0);
    assert_eq!(plan["engine"]["bridge_mtu"], serde_json::json!(mtu));
    // The network exists (the tests made it): its subnets, nothing to create.
    assert_eq!(plan["network"]["name"], "kind");
    assert_eq!(plan["network"]["exists"], true);
    // The node container's Docker API body, as the create would send it.
    let body = &plan["node"]["body"];
    assert_eq!(plan["node"]["name"], c.node());
    assert_eq!(body["Image"], onyx_node_image());
    assert_eq!(body["HostConfig"]["Privileged"], true);
    assert_eq!(body["HostConfig"]["CgroupnsMode"], "private");
    assert_eq!(
        body["HostConfig"]["PortBindings"]["30080/tcp"][0]["HostPort"],
        "3999"
    );
    let binds: Vec<&str> = body["HostConfig"]["Binds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_str().unwrap())
        .collect();
    // ONYX_DATA_DIR holds no older data: the named volume.
    let volume = node::data_volume_name(&c.name);
    assert!(
        binds.contains(&format!("{volume}:{}", node::STORAGE_ROOT).as_str()),
        "{binds:?}"
    );
    assert_eq!(plan["volumes"][0]["name"], volume);
    // overlay2 on extfs, rootful, no userns-remap here: none of kind's host cases apply.
    let host = host::gather(&docker).await.unwrap();
    assert_eq!(
        binds.contains(&"/dev/mapper:/dev/mapper"),
        host.mount_dev_mapper()
    );
    assert_eq!(
        body["HostConfig"].get("Devices").is_some(),
        host.mount_fuse()
    );
    assert_eq!(
        body["HostConfig"]["UsernsMode"].as_str(),
        host.userns_host().then_some("host")
    );
    // The kubeadm config for this host.
    let config = plan["kubeadm"]["config"].as_str().unwrap();
    assert!(
        config.contains("skipPhases:\n  - \"preflight\""),
        "{config}"
    );
    assert!(!config.contains("metadata:"), "{config}");
    assert_eq!(
        config.contains("failCgroupV1: false"),
        cgroup == "1",
        "{config}"
    );
    if cgroup == "1" {
        assert!(
            plan["warnings"][0].as_str().unwrap().contains("cgroup v1"),
            "{plan}"
        );
    }
    assert!(
        config.contains("advertiseAddress: \"<node-ip>\""),
        "{config}"
    );
    // Nothing made.
    assert!(!c.exists().await);
    assert!(!kind::volumes::exists(&docker, &volume).await.unwrap());
    assert!(!c.kubeconfig().exists());

    // The text form says the same, for people.
    let (code, text, err) = onyx(&c, &["cluster", "create", "--dry-run", "--name", &c.name]);
    assert_eq!(code, 0, "{err}");
    assert!(
        text.contains("# node container (POST /containers/create?name="),
        "{text}"
    );
    assert!(text.contains("skipPhases:"), "{text}");
    if cgroup == "1" {
        assert!(err.contains("cgroup v1"), "{err}");
    }
    assert!(!c.exists().await);
}

/// The pinned node image, as the binary uses it.
fn onyx_node_image() -> String {
    onyx::stack::catalog::node_image().reference.clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_proxy_reaches_the_node_with_the_networks_real_subnets_in_no_proxy() {
    let Some(docker) = support::engine("proxy env").await else {
        return;
    };
    if !fake_node::available("proxy env") {
        return;
    }
    let cleanup = support::Cleanup::new(&docker);
    let c = TestCluster::new(&docker, "proxy").await;
    let image = fake_node::build(&docker, &cleanup, &c.name, false).await;
    let mut options = c.options(fake_node::runnable_here(
        c.spec(&image, kind::free_port().unwrap()),
    ));
    options.host.proxy = host::Proxy {
        http: Some("http://proxy.corp:3128".into()),
        https: Some("http://proxy.corp:3128".into()),
        no: Some("corp.example".into()),
    };
    kind::create(&docker, &options, &cluster::SilentSteps)
        .await
        .unwrap_or_else(|e| panic!("{e}\nhint: {:?}", e.hint()));
    // kind v0.32.0 providers/docker/provision.go getProxyEnv: the network's subnets (from the
    // engine), then the user's NO_PROXY with the service and pod subnets, the node, DNS suffixes.
    let subnets = kind::network::subnets(&docker, node::NETWORK)
        .await
        .unwrap()
        .unwrap();
    assert!(!subnets.is_empty());
    let want_no = format!(
        "{},corp.example,10.96.0.0/16,10.244.0.0/16,{},.svc,.svc.cluster,.svc.cluster.local",
        subnets.join(","),
        c.node()
    );
    let i = kind::inspect(&docker, &c.node()).await.unwrap().unwrap();
    let env = i.config.unwrap().env.unwrap();
    for want in [
        "HTTP_PROXY=http://proxy.corp:3128".to_string(),
        "http_proxy=http://proxy.corp:3128".to_string(),
        "HTTPS_PROXY=http://proxy.corp:3128".to_string(),
        "https_proxy=http://proxy.corp:3128".to_string(),
        format!("NO_PROXY={want_no}"),
        format!("no_proxy={want_no}"),
    ] {
        assert!(env.contains(&want), "{want} not in {env:?}");
    }
}

/// Issue #20 item 14: a kubeconfig that is a mount point (bind-mounted into a dev container) is
/// written in place, as kind's `os.WriteFile`; a rename over it fails with EBUSY. The mount is
/// made in a private mount namespace of the onyx process (`unshare -m`, root only), and `cluster
/// delete` of a cluster without a node rewrites the file without our entries.
#[tokio::test(flavor = "multi_thread")]
async fn a_bind_mounted_kubeconfig_is_written_in_place() {
    let Some(_docker) = support::engine("bind-mounted kubeconfig").await else {
        return;
    };
    let can_unshare = std::process::Command::new("unshare")
        .args(["-m", "--propagation", "private", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !can_unshare {
        if support::required() {
            panic!("bind-mounted kubeconfig: `unshare -m` is refused here (needs root)");
        }
        support::skipped("bind-mounted kubeconfig: `unshare -m` is refused here (needs root)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("host-kubeconfig");
    let file = dir.path().join("kube").join("config");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let ours = "apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster:
    server: https://prod.example.com
- name: kind-tbind
  cluster:
    server: https://127.0.0.1:1
contexts:
- name: prod
  context:
    cluster: prod
    user: prod-admin
- name: kind-tbind
  context:
    cluster: kind-tbind
    user: kind-tbind
current-context: kind-tbind
users:
- name: prod-admin
  user:
    token: secret-token
- name: kind-tbind
  user:
    token: x
";
    std::fs::write(&source, ours).unwrap();
    std::fs::write(&file, "placeholder, hidden by the mount\n").unwrap();
    let cmd = OnyxCommand::new(dir.path())
        .with_docker()
        .args(["cluster", "delete", "--name", "tbind"])
        .arg_path("--kubeconfig", &file)
        .into_command();
    // The same process, its arguments and environment, behind `unshare -m` and a bind mount.
    let onyx = cmd.as_std().get_program().to_owned();
    let args: Vec<_> = cmd.as_std().get_args().map(|a| a.to_owned()).collect();
    let mut wrapped = std::process::Command::new("unshare");
    wrapped
        .args(["-m", "--propagation", "private", "sh", "-c"])
        .arg("mount --bind \"$1\" \"$2\" && shift 2 && exec \"$@\"")
        .arg("sh")
        .arg(&source)
        .arg(&file)
        .arg(onyx)
        .args(args);
    for (k, v) in cmd.as_std().get_envs() {
        match v {
            Some(v) => wrapped.env(k, v),
            None => wrapped.env_remove(k),
        };
    }
    if let Some(d) = cmd.as_std().get_current_dir() {
        wrapped.current_dir(d);
    }
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::from(wrapped).output(),
    )
    .await
    .expect("cluster delete within 60 s")
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("busy"), "{stderr}");
    // The mount's source is the file that was written: ours gone, the user's kept.
    let v: Value = serde_saphyr::from_str(&std::fs::read_to_string(&source).unwrap()).unwrap();
    assert_eq!(names(&v, "contexts"), ["prod"]);
    assert_eq!(names(&v, "clusters"), ["prod"]);
    assert_eq!(v["users"][0]["user"]["token"], "secret-token");
    // Outside the namespace the path was never touched.
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "placeholder, hidden by the mount\n"
    );
    drop(cmd);
}
