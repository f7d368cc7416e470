//! The stack's images into the node: present ones skipped, retagged where only the name differs,
//! the rest streamed.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn images_go_into_the_node_skipping_present_retagging_and_streaming_the_rest() {
    let Some(docker) = support::engine("node images").await else {
        return;
    };
    if !fake_node::available("node images") {
        return;
    }
    let cleanup = support::Cleanup::new(&docker);
    let c = TestCluster::new(&docker, "images").await;
    let image = fake_node::build(&docker, &cleanup, &c.name, false).await;
    kind::create(
        &docker,
        &c.options(fake_node::runnable_here(
            c.spec(&image, kind::free_port().unwrap()),
        )),
        &cluster::SilentSteps,
    )
    .await
    .unwrap();
    let base = support::unique("nodeimg");
    let refs: Vec<String> = (0..4).map(|i| format!("{base}/img{i}:1")).collect();
    let mut ids = Vec::new();
    for r in &refs {
        ids.push(support::build_image(&docker, &cleanup, r, 256 << 10).await);
    }
    // The node has img0 under its name, img1 only under another name; img2 and img3 not at all.
    let cri = |r: &str| format!("docker.io/{r}");
    let seed = format!(
        "{} {}\n{} other.example/renamed:9\n",
        ids[0],
        cri(&refs[0]),
        ids[1]
    );
    let out = kind::exec(
        &docker,
        &c.node(),
        &["cp", "/dev/stdin", "/fake/images"],
        Some(kind::stdin_bytes(seed.into_bytes())),
    )
    .await
    .unwrap();
    assert!(out.ok());

    let rec = support::Recorder::default();
    let (results, err) = node_images::load_all(
        &docker,
        &c.node(),
        &refs[..3],
        &ImportOptions::default(),
        &rec,
    )
    .await;
    assert!(err.is_none(), "{err:?}");
    use node_images::Outcome as O;
    let outcomes: Vec<O> = results.iter().map(|r| r.outcome.clone()).collect();
    assert_eq!(outcomes, [O::Present, O::Retagged, O::Imported]);
    assert_eq!(rec.of(&refs[0]), [ImageEvent::Start, ImageEvent::Skipped]);
    assert_eq!(rec.of(&refs[1]).last(), Some(&ImageEvent::Done));
    let events = rec.of(&refs[2]);
    assert_eq!(events.first(), Some(&ImageEvent::Start));
    assert_eq!(events.last(), Some(&ImageEvent::Done));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ImageEvent::Progress { done, .. } if *done > 0))
    );

    // Exactly one stream went in, and it is the engine's `docker save` of img2, byte for byte.
    let calls = c.calls().await;
    let imports: Vec<&String> = calls
        .iter()
        .filter(|l| l.contains("images import"))
        .collect();
    assert_eq!(
        imports,
        [
            "ctr --namespace=k8s.io images import --all-platforms --digests --snapshotter=overlayfs -"
        ]
    );
    assert!(
        calls.contains(&format!(
            "ctr --namespace=k8s.io images tag --force {} {}",
            ids[1],
            cri(&refs[1])
        )),
        "{calls:?}"
    );
    let listing = kind::exec(
        &docker,
        &c.node(),
        &["sh", "-c", "ls /records/import-*.tar"],
        None,
    )
    .await
    .unwrap()
    .stdout_text();
    let files: Vec<&str> = listing.split_whitespace().collect();
    assert_eq!(files.len(), 1, "{listing}");
    let got = c.read(files[0]).await;
    let want: Vec<u8> = {
        use futures_util::TryStreamExt;
        let chunks: Vec<bytes::Bytes> = docker.export_image(&refs[2]).try_collect().await.unwrap();
        chunks.concat()
    };
    assert!(got.len() > 256 << 10);
    assert_eq!(
        hex::encode(Sha256::digest(&got)),
        hex::encode(Sha256::digest(&want))
    );
    assert_eq!(results[2].bytes, want.len() as u64);

    // An engine with the containerd image store: one platform only.
    let (results, err) = node_images::load_all(
        &docker,
        &c.node(),
        &refs[3..],
        &ImportOptions {
            containerd_image_store: true,
            ..Default::default()
        },
        &rec,
    )
    .await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(results[0].outcome, O::Imported);
    let calls = c.calls().await;
    assert_eq!(
        calls.iter().rfind(|l| l.contains("images import")).unwrap(),
        "ctr --namespace=k8s.io images import --digests --snapshotter=overlayfs -"
    );

    // An image the engine doesn't have fails by name, the others still go in.
    let (results, err) = node_images::load_all(
        &docker,
        &c.node(),
        &[format!("{base}/absent:1"), refs[0].clone()],
        &ImportOptions::default(),
        &rec,
    )
    .await;
    assert!(err.unwrap().to_string().contains("absent:1"));
    assert_eq!(results[0].outcome, O::Failed);
    assert_eq!(results[1].outcome, O::Present);
}

/// Issue #20 item 7: the node image pulled through `--registry-mirror` is known to the engine as
/// `<mirror>/kindest/node@<digest>` and tagged `kindest/node:<tag>`; Docker's classic image store
/// (this engine) resolves the pinned `kindest/node:<tag>@<digest>` by `name@digest` only (moby
/// `reference/store.go` `Get`), which it lacks. The create still makes the node from that very
/// image.
#[tokio::test(flavor = "multi_thread")]
async fn a_node_image_pulled_through_a_mirror_is_created_from_its_pinned_reference() {
    use bollard::auth::DockerCredentials;
    use bollard::query_parameters::{PushImageOptionsBuilder, TagImageOptionsBuilder};
    use futures_util::StreamExt;

    let Some(docker) = support::engine("node image via mirror").await else {
        return;
    };
    if !fake_node::available("node image via mirror") {
        return;
    }
    let Some(registry) = support::Registry::start("node image via mirror") else {
        return;
    };
    let cleanup = support::Cleanup::new(&docker);
    let c = TestCluster::new(&docker, "mirror").await;
    let built = fake_node::build(&docker, &cleanup, &c.name, false).await;
    // The stand-in node image in the mirror as kindest/node:<tag>, its digest read back.
    let remote = format!("{}/kindest/node", registry.addr);
    docker
        .tag_image(
            &built,
            Some(
                TagImageOptionsBuilder::new()
                    .repo(&remote)
                    .tag(&c.name)
                    .build(),
            ),
        )
        .await
        .unwrap();
    cleanup.add(&format!("{remote}:{}", c.name));
    let mut push = docker.push_image(
        &remote,
        Some(PushImageOptionsBuilder::new().tag(&c.name).build()),
        Some(DockerCredentials::default()),
    );
    while let Some(x) = push.next().await {
        x.unwrap();
    }
    let digest = docker
        .inspect_image(&format!("{remote}:{}", c.name))
        .await
        .unwrap()
        .repo_digests
        .unwrap_or_default()
        .into_iter()
        .find_map(|d| d.strip_prefix(&format!("{remote}@")).map(str::to_string))
        .expect("the pushed image's digest");
    support::remove(&docker, &format!("{remote}:{}", c.name)).await;
    support::remove(&docker, &format!("{remote}@{digest}")).await;
    let name = format!("kindest/node:{}", c.name);
    cleanup.add(&name);
    let pinned = format!("{name}@{digest}");
    onyx::docker::images::pull_one(
        &docker,
        &pinned,
        &onyx::docker::images::PullOptions {
            mirror: Some(registry.addr.clone()),
            ..Default::default()
        },
        &support::Recorder::default(),
    )
    .await
    .unwrap();
    cleanup.add(&format!("{remote}@{digest}"));
    if !c.host.containerd_image_store {
        // The engine's own view of the pinned reference: what the create used to send.
        let err = docker.inspect_image(&pinned).await.unwrap_err();
        assert!(err.to_string().contains("No such image"), "{err}");
    }
    let spec = fake_node::runnable_here(c.spec(&pinned, kind::free_port().unwrap()));
    kind::create(&docker, &c.options(spec), &cluster::SilentSteps)
        .await
        .unwrap_or_else(|e| panic!("{e}\nhint: {:?}", e.hint()));
    let node = kind::inspect(&docker, &c.node()).await.unwrap().unwrap();
    assert_eq!(
        node.image,
        support::image_id(&docker, &name).await,
        "the node runs the image pulled through the mirror"
    );
}
