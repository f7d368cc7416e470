//! The node's data: it survives delete and create, in a host folder or in the labelled volume
//! `<cluster>-data` (which goes only with purge), and a failed first create removes the volume it
//! made.

use super::*;

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
    // What local-path makes for claim onyx/postgresql with the stable path pattern.
    let dir = format!("{}/onyx/postgresql", node::STORAGE_ROOT);
    let out = kind::exec(
        &docker,
        &c.node(),
        &[
            "sh",
            "-c",
            &format!("mkdir -p {dir} && echo 'row 1' > {dir}/PG_VERSION"),
        ],
        None,
    )
    .await
    .unwrap();
    assert!(out.ok(), "{}", out.error_text());
    assert_eq!(
        std::fs::read_to_string(c.data_dir().join("onyx/postgresql/PG_VERSION")).unwrap(),
        "row 1\n"
    );
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
    assert_eq!(c.read_text(&format!("{dir}/PG_VERSION")).await, "row 1\n");

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
    let dir = format!("{}/onyx/postgresql", node::STORAGE_ROOT);
    let out = kind::exec(
        &docker,
        &c.node(),
        &[
            "sh",
            "-c",
            &format!("mkdir -p {dir} && echo 'row 1' > {dir}/PG_VERSION"),
        ],
        None,
    )
    .await
    .unwrap();
    assert!(out.ok(), "{}", out.error_text());

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
    assert_eq!(c.read_text(&format!("{dir}/PG_VERSION")).await, "row 1\n");

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
