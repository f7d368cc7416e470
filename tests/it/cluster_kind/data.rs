//! The node's data: it survives delete and create, in a host folder or in the labelled volume
//! `<cluster>-data` (which goes only with purge), and a failed first create removes the volume it
//! made. The data is written where the provisioner puts the stack's claims — each directory
//! computed from the StorageClass onyx installed in the node by local-path-provisioner v0.0.34's
//! rule (`k8s_sim::local_path`) — so a pattern change that moved or refused the claims fails here.

use super::*;

/// Where local-path-provisioner v0.0.34 puts each claim of the stack (namespace `default`, as
/// `onyx up` on its own cluster), by the StorageClass this node was given (its recorded `kubectl
/// apply`) and the simulator's copy of the provisioner's rule (`k8s_sim::local_path`), for claims
/// with a fresh UID (a re-made cluster's claims have new ones; the directory must not change).
async fn claim_dirs(c: &TestCluster) -> Vec<String> {
    let storage: Vec<Value> =
        serde_saphyr::from_multiple(&c.read_text("/records/storage.yaml").await).unwrap();
    let sc = storage
        .iter()
        .find(|d| d["kind"] == "StorageClass")
        .expect("a StorageClass in the storage manifest");
    let uid = support::unique("claim-uid");
    super::storage::stack_claims(onyx::stack::profile::ProfileName::Small)
        .iter()
        .map(|claim| {
            let pvc = serde_json::json!({"metadata": {"namespace": "default", "name": claim, "uid": uid}});
            k8s_sim::local_path::volume_path(
                node::STORAGE_ROOT,
                &sc["parameters"],
                &format!("pvc-{uid}"),
                &pvc,
            )
            .unwrap_or_else(|e| panic!("the provisioner refuses {claim}: {e}"))
        })
        .collect()
}

/// A row in each claim's directory, written inside the node (where the pods write).
async fn write_rows(c: &TestCluster, dirs: &[String]) {
    for dir in dirs {
        let out = kind::exec(
            &c.docker,
            &c.node(),
            &[
                "sh",
                "-c",
                &format!("mkdir -p {dir} && echo 'row of {dir}' > {dir}/PG_VERSION"),
            ],
            None,
        )
        .await
        .unwrap();
        assert!(out.ok(), "{}", out.error_text());
    }
}

/// Each claim's row is there again, in the re-made node.
async fn rows_are_back(c: &TestCluster, dirs: &[String]) {
    for dir in dirs {
        assert_eq!(
            c.read_text(&format!("{dir}/PG_VERSION")).await,
            format!("row of {dir}\n")
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn volume_data_survives_delete_and_create() {
    let Some(docker) = support::engine("data survives").await else {
        return;
    };
    if !fake_node::available("data survives") {
        return;
    }
    let cleanup = support::Cleanup::new(&docker);
    let c = TestCluster::new(&docker, "data").await;
    let image = fake_node::build(&docker, &cleanup, &c.name, false).await;
    let spec = fake_node::runnable_here(c.spec(&image, kind::free_port().unwrap()));
    kind::create(&docker, &c.options(spec.clone()), &cluster::SilentSteps)
        .await
        .unwrap();
    // Where the provisioner puts the stack's claims, by the StorageClass onyx installed.
    let dirs = claim_dirs(&c).await;
    write_rows(&c, &dirs).await;
    for dir in &dirs {
        let rel = dir
            .strip_prefix(&format!("{}/", node::STORAGE_ROOT))
            .unwrap();
        assert!(rel.starts_with("default/"), "{dir}");
        assert_eq!(
            std::fs::read_to_string(c.data_dir().join(rel).join("PG_VERSION")).unwrap(),
            format!("row of {dir}\n")
        );
    }
    kind::delete(&docker, &c.name, &c.kubeconfig(), None)
        .await
        .unwrap();
    assert!(!c.exists().await);
    let again = kind::create(&docker, &c.options(spec), &cluster::SilentSteps)
        .await
        .unwrap();
    assert_eq!(again.outcome, Outcome::Created);
    assert_eq!(
        c.read_text("/records/boots").await.lines().count(),
        1,
        "a new node"
    );
    // The re-made cluster's claims (new UIDs) land in the same directories, and find the rows.
    assert_eq!(claim_dirs(&c).await, dirs);
    rows_are_back(&c, &dirs).await;

    // --purge on a running node: the data goes too (wiped from inside the node first, where the
    // pods' files may belong to users the host user is not).
    let deleted = kind::delete(&docker, &c.name, &c.kubeconfig(), Some(&c.data_dir()))
        .await
        .unwrap();
    assert!(deleted.node_removed);
    assert_eq!(deleted.data_removed, Some(c.data_dir()));
    assert!(!c.data_dir().exists());
    assert!(!c.exists().await);
}

/// A spec whose data lives in the named volume `<cluster>-data`.
fn volume_spec(c: &TestCluster, image: &str) -> NodeSpec {
    fake_node::runnable_here(node_spec(&NodeOptions {
        cluster: c.name.clone(),
        image: image.into(),
        api_server_port: kind::free_port().unwrap(),
        ui_port: kind::free_port().unwrap(),
        data: node::DataMount::Volume(node::data_volume_name(&c.name)),
        host: c.host.clone(),
    }))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_data_volume_is_labelled_survives_delete_and_create_and_goes_with_purge() {
    let Some(docker) = support::engine("data volume").await else {
        return;
    };
    if !fake_node::available("data volume") {
        return;
    }
    let cleanup = support::Cleanup::new(&docker);
    let c = TestCluster::new(&docker, "datavol").await;
    let image = fake_node::build(&docker, &cleanup, &c.name, false).await;
    let volume = node::data_volume_name(&c.name);
    kind::create(
        &docker,
        &c.options(volume_spec(&c, &image)),
        &cluster::SilentSteps,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\nhint: {:?}", e.hint()));
    let v = docker
        .inspect_volume(&volume)
        .await
        .expect("the data volume");
    assert_eq!(v.labels[node::LABEL_CLUSTER], c.name);
    assert_eq!(v.labels[node::LABEL_VOLUME], "data");
    assert_eq!(v.labels["app.kubernetes.io/managed-by"], "onyx");
    assert_eq!(v.labels["app.kubernetes.io/part-of"], "onyx");
    let status = kind::status(&docker, &c.name).await.unwrap();
    assert_eq!(status.data_volume.as_deref(), Some(volume.as_str()));
    assert_eq!(status.data_dir, None);
    let dirs = claim_dirs(&c).await;
    write_rows(&c, &dirs).await;

    // delete without --purge: node gone, volume and data kept.
    let deleted = kind::delete(&docker, &c.name, &c.kubeconfig(), None)
        .await
        .unwrap();
    assert!(deleted.node_removed);
    assert!(deleted.volumes_removed.is_empty());
    assert!(kind::volumes::exists(&docker, &volume).await.unwrap());
    // Made again: the same data at the same place.
    kind::create(
        &docker,
        &c.options(volume_spec(&c, &image)),
        &cluster::SilentSteps,
    )
    .await
    .unwrap();
    assert_eq!(claim_dirs(&c).await, dirs);
    rows_are_back(&c, &dirs).await;

    // A create that fails after the volume existed keeps it (and its data).
    kind::delete(&docker, &c.name, &c.kubeconfig(), None)
        .await
        .unwrap();
    let err = kind::create(
        &docker,
        &c.options(failing_at(volume_spec(&c, &image), "kubeadm-init")),
        &cluster::SilentSteps,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ClusterError::StepFailed { .. }), "{err}");
    assert!(!c.exists().await);
    assert!(kind::volumes::exists(&docker, &volume).await.unwrap());

    // --purge: the volume goes.
    kind::create(
        &docker,
        &c.options(volume_spec(&c, &image)),
        &cluster::SilentSteps,
    )
    .await
    .unwrap();
    let purged = kind::delete(&docker, &c.name, &c.kubeconfig(), Some(&c.data_dir()))
        .await
        .unwrap();
    assert_eq!(purged.volumes_removed, vec![volume.clone()]);
    assert!(!kind::volumes::exists(&docker, &volume).await.unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_first_create_removes_the_data_volume_it_made() {
    let Some(docker) = support::engine("data volume rollback").await else {
        return;
    };
    if !fake_node::available("data volume rollback") {
        return;
    }
    let cleanup = support::Cleanup::new(&docker);
    let c = TestCluster::new(&docker, "volrb").await;
    let image = fake_node::build(&docker, &cleanup, &c.name, false).await;
    let volume = node::data_volume_name(&c.name);
    let err = kind::create(
        &docker,
        &c.options(failing_at(volume_spec(&c, &image), "taint")),
        &cluster::SilentSteps,
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("remove control-plane taint"),
        "{err}"
    );
    assert!(!c.exists().await);
    assert!(
        !kind::volumes::exists(&docker, &volume).await.unwrap(),
        "an empty volume made by the failed run was left behind"
    );
}

/// Issue #20 item 6 (podman): the node's `/var` volume is made new by every create — a leftover
/// of the same name (a Ctrl-C'd create, `podman rm`, `kind delete cluster`) is removed, never
/// mounted — and it carries kind's `<node>=true` label, by which `delete` also removes a volume
/// kind made for the node (kind v0.32.0 podman/util.go createAnonymousVolume / getVolumes,
/// podman/provider.go DeleteNodes). The data volume is never made anew. Against the real engine
/// (podman's volume API is Docker's; a podman node can't be started here).
#[tokio::test(flavor = "multi_thread")]
async fn podman_var_volume_is_made_fresh_and_found_by_kinds_label() {
    use bollard::models::VolumeCreateRequest;
    let Some(docker) = support::engine("podman /var volume").await else {
        return;
    };
    let c = TestCluster::new(&docker, "varvol").await;
    let mut host = c.host.clone();
    host.podman = true;
    let spec = node_spec(&NodeOptions {
        cluster: c.name.clone(),
        image: "kindest/node:v1.36.1".into(),
        api_server_port: 1,
        ui_port: 2,
        data: node::DataMount::Volume(node::data_volume_name(&c.name)),
        host,
    });
    let var = spec.named_volumes[0].name.clone();
    let data = spec.named_volumes[1].name.clone();
    assert_eq!(var, format!("{}-var", c.node()));
    // A leftover /var of an earlier node (made without our labels, as an older onyx or a
    // half-made create might have left it).
    docker
        .create_volume(VolumeCreateRequest {
            name: Some(var.clone()),
            labels: Some([("leftover".to_string(), "yes".to_string())].into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let made = kind::volumes::ensure(&docker, &spec.named_volumes)
        .await
        .unwrap();
    assert_eq!(made, vec![var.clone(), data.clone()]);
    let v = docker.inspect_volume(&var).await.unwrap();
    assert!(!v.labels.contains_key("leftover"), "the old /var was kept");
    assert_eq!(v.labels[&c.node()], "true");
    assert_eq!(v.labels[node::LABEL_VOLUME], "var");
    // Made again: /var anew, the data volume kept as it is.
    let made = kind::volumes::ensure(&docker, &spec.named_volumes)
        .await
        .unwrap();
    assert_eq!(made, vec![var.clone()]);
    // A volume kind made for a node of this name: only its `<node>=true` label.
    let kinds = support::unique("kind-anon-var");
    docker
        .create_volume(VolumeCreateRequest {
            name: Some(kinds.clone()),
            labels: Some([(c.node(), "true".to_string())].into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let deleted = kind::delete(&docker, &c.name, &c.kubeconfig(), None)
        .await
        .unwrap();
    let mut expected = vec![var.clone(), kinds.clone()];
    expected.sort();
    let mut removed = deleted.volumes_removed.clone();
    removed.sort();
    assert_eq!(removed, expected);
    assert!(!kind::volumes::exists(&docker, &kinds).await.unwrap());
    assert!(kind::volumes::exists(&docker, &data).await.unwrap());
}
