//! The stack's images into the node (`onyx::cluster::node_images`), against a real Docker engine,
//! and what a real containerd records for them (scripts/test.sh provides both; without an engine
//! these say SKIPPED, except under CI / ONYX_REQUIRE_DOCKER=1 / ONYX_REQUIRE_REAL=1).
//!
//! The point is the re-run: an image the node has is never streamed again, whichever image store
//! the engine uses. With Docker's classic store the engine's image ID is the image config's digest,
//! which CRI (`crictl inspecti`) reports too; with the containerd image store (Docker Desktop's
//! default for new installs) it is the digest of the image's index or manifest, which CRI never
//! reports but containerd records as the image's target (`ctr images ls`). onyx checks both. kind
//! v0.32.0 checks only CRI's ID (`pkg/cmd/kind/load/docker-image/docker-image.go` `runE`,
//! `pkg/cluster/nodeutils/util.go` `ImageID`) and so re-loads every image on the containerd
//! store (kind#4236); the second check is the one kind PR #4238 proposes, in no kind release, so
//! what it relies on is pinned here against a real containerd rather than taken from kind.
//!
//! Two nodes: the scripted stand-in of `support/fake_node.rs` (its `/fake/images` seeded to hold
//! an image as each store leaves it), and a container running Debian's real containerd 1.6.20,
//! into which the product streams the engine's `docker save` for real and whose own `ctr images
//! ls` decides the re-run. Docker 20.10 here has only the classic store, so the containerd-store
//! case against the real containerd imports the OCI layout that store's `docker save` writes
//! (built in the test) and checks containerd records its index digest as the target.

use crate::support::docker as support;

use crate::support::fake_node;

use std::time::Duration;

use bollard::Docker;
use onyx::cluster::kind;
use onyx::cluster::node_images::{self, ImportOptions, Outcome};

async fn sh(docker: &Docker, node: &str, script: &str) -> String {
    let out = kind::exec(docker, node, &["sh", "-c", script], None)
        .await
        .unwrap();
    assert!(out.ok(), "{script}: {}", out.error_text());
    out.stdout_text()
}

async fn load(docker: &Docker, node: &str, images: &[String]) -> Vec<node_images::ImportResult> {
    let (results, err) = node_images::load_all(
        docker,
        node,
        images,
        &ImportOptions::default(),
        &onyx::docker::Silent,
    )
    .await;
    assert!(err.is_none(), "{err:?}");
    results
}

fn outcomes(results: &[node_images::ImportResult]) -> Vec<Outcome> {
    results.iter().map(|r| r.outcome.clone()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_image_the_node_holds_under_either_store_s_digest_is_not_imported_again() {
    let Some(docker) = support::engine("node images by digest").await else {
        return;
    };
    if !fake_node::available("node images by digest") {
        return;
    }
    let cleanup = support::Cleanup::new(&docker);
    let image = fake_node::build(&docker, &cleanup, &support::unique("digest-node"), false).await;
    let node = support::start_node(&docker, &image, "digest-node").await;
    // The fake's init makes /fake/images; wait for it.
    sh(
        &docker,
        &node.name,
        "i=0; until [ -f /fake/images ]; do i=$((i+1)); [ $i -gt 50 ] && exit 1; sleep 0.1; done",
    )
    .await;
    let base = support::unique("digest");
    let refs: Vec<String> = (0..3).map(|i| format!("{base}/img{i}:1")).collect();
    let mut ids = Vec::new();
    for r in &refs {
        ids.push(support::build_image(&docker, &cleanup, r, 64 << 10).await);
    }
    let cri = |r: &str| format!("docker.io/{r}");
    let other = |n: u8| format!("sha256:{}", format!("{n:x}").repeat(64));
    // img0: what an engine with the containerd image store leaves in the node — CRI knows it by
    // its config digest (not the engine's ID), containerd's target for the name is the engine's
    // ID. img1: the name holds other content (stale). img2: not there.
    let seed = format!(
        "{} {} {}\n{} {} {}\n",
        other(1),
        cri(&refs[0]),
        ids[0],
        other(2),
        cri(&refs[1]),
        other(3),
    );
    let out = kind::exec(
        &docker,
        &node.name,
        &["cp", "/dev/stdin", "/fake/images"],
        Some(kind::stdin_bytes(seed.into_bytes())),
    )
    .await
    .unwrap();
    assert!(out.ok());

    let results = load(&docker, &node.name, &refs).await;
    assert_eq!(
        outcomes(&results),
        [Outcome::Present, Outcome::Imported, Outcome::Imported]
    );
    let calls = sh(&docker, &node.name, "cat /records/calls").await;
    assert!(
        calls.contains(&format!(
            "ctr --namespace=k8s.io images ls name=={}",
            cri(&refs[0])
        )),
        "{calls}"
    );
    assert_eq!(calls.matches("images import").count(), 2, "{calls}");

    // The re-run imports nothing.
    let results = load(&docker, &node.name, &refs).await;
    assert_eq!(
        outcomes(&results),
        [Outcome::Present, Outcome::Present, Outcome::Present]
    );
    let calls = sh(&docker, &node.name, "cat /records/calls").await;
    assert_eq!(calls.matches("images import").count(), 2, "{calls}");
}

/// Wait until the node's containerd answers.
async fn containerd_ready(docker: &Docker, node: &str) {
    for _ in 0..100 {
        if let Ok(out) = kind::exec(docker, node, &["ctr", "version"], None).await
            && out.ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "containerd in {node} did not answer:\n{}",
        kind::last_log_lines(docker, node, 30).await.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_real_containerd_gets_each_image_once_and_records_the_targets_onyx_matches() {
    let Some(docker) = support::engine("real containerd node").await else {
        return;
    };
    if !fake_node::available("real containerd node") {
        return;
    }
    let cleanup = support::Cleanup::new(&docker);
    let Some(image) =
        fake_node::build_real_containerd(&docker, &cleanup, &support::unique("ctd")).await
    else {
        if support::required() {
            panic!("real containerd node: /usr/bin/containerd (Debian's containerd) is required");
        }
        support::skipped("real containerd node: no /usr/bin/containerd");
        return;
    };
    let node = support::start_node(&docker, &image, "ctd-node").await;
    containerd_ready(&docker, &node.name).await;
    // The snapshotter comes from the real `containerd config dump`.
    assert_eq!(
        node_images::snapshotter(&docker, &node.name).await.unwrap(),
        "overlayfs"
    );

    // Classic image store: the product streams `docker save` in; the re-run finds each image by
    // CRI's config digest and imports nothing.
    let base = support::unique("ctd");
    let refs: Vec<String> = (0..2).map(|i| format!("{base}/img{i}:1")).collect();
    let mut ids = Vec::new();
    for r in &refs {
        ids.push(support::build_image(&docker, &cleanup, r, 64 << 10).await);
    }
    let results = load(&docker, &node.name, &refs).await;
    assert_eq!(outcomes(&results), [Outcome::Imported, Outcome::Imported]);
    assert!(results.iter().all(|r| r.bytes > 64 << 10));
    let listing = sh(&docker, &node.name, "ctr --namespace=k8s.io images ls").await;
    for (r, id) in refs.iter().zip(&ids) {
        let name = format!("docker.io/{r}");
        let target = node_images::target_digest(&listing, &name)
            .unwrap_or_else(|| panic!("{name} is not in containerd:\n{listing}"));
        // containerd's target for a classic save is the manifest it made, not the config: the
        // engine's ID matches CRI's, not the target (so the target alone would not do).
        assert_ne!(&target, id, "{listing}");
        assert_eq!(
            node_images::node_image(&docker, &node.name, id)
                .await
                .unwrap()
                .map(|(i, tags)| (i, tags.contains(&name))),
            Some((id.clone(), true)),
            "{listing}"
        );
    }
    let results = load(&docker, &node.name, &refs).await;
    assert_eq!(outcomes(&results), [Outcome::Present, Outcome::Present]);
    assert!(results.iter().all(|r| r.bytes == 0));

    // containerd image store: its `docker save` is an OCI layout; containerd records the index
    // Docker reports as the image ID as the name's target, which onyx matches.
    let name = format!("docker.io/{base}/oci:1");
    let layer = {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        let data = b"made by the containerd-store test\n";
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "hello", &data[..]).unwrap();
        b.into_inner().unwrap()
    };
    let (archive, index_digest, config_digest) = fake_node::oci_archive(&name, &layer);
    let import = node_images::import_command("overlayfs", true);
    let import: Vec<&str> = import.iter().map(String::as_str).collect();
    let out = kind::exec(
        &docker,
        &node.name,
        &import,
        Some(kind::stdin_bytes(archive)),
    )
    .await
    .unwrap();
    assert!(out.ok(), "{}", out.error_text());
    let target = node_images::node_target_digest(&docker, &node.name, &name)
        .await
        .unwrap();
    assert_eq!(target.as_deref(), Some(index_digest.as_str()));
    assert!(node_images::present_on_node(
        &index_digest,
        Some(&config_digest),
        target.as_deref()
    ));
}
