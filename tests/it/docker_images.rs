//! Images against a real Docker engine and a real registry (scripts/test.sh provides both; each
//! test starts a registry process of its own): discovery, parallel pull through a mirror with
//! progress, skip of present images, retry across a registry restart, fast failure for a missing
//! image, and the air-gapped bundle round trip with damaged bundles refused.

use crate::support::docker as support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use onyx::docker::engine::{self, Candidate, Endpoint, EngineEnv};
use onyx::docker::images::{Outcome, PullOptions, pull_all};
use onyx::docker::{DockerError, ImageEvent, bundle};
use support::{Recorder, Registry};

fn options(registry: &Registry) -> PullOptions {
    PullOptions {
        mirror: Some(registry.addr.clone()),
        backoff: Duration::from_millis(300),
        max_backoff: Duration::from_secs(2),
        ..PullOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn discovery_skips_dead_candidates_and_negotiates_with_the_real_engine() {
    let Some(_) = support::engine("discovery").await else {
        return;
    };
    let real = engine::connect(&EngineEnv::from_process()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let list = vec![
        Candidate {
            source: "DOCKER_HOST".into(),
            endpoint: Endpoint::Tcp {
                addr: format!("127.0.0.1:{dead_port}"),
                tls: None,
            },
        },
        Candidate {
            source: "fake".into(),
            endpoint: Endpoint::Unix {
                path: dir.path().join("missing.sock"),
            },
        },
        real.candidate.clone(),
    ];
    let engine = engine::connect_candidates(&list, vec![], "linux")
        .await
        .unwrap();
    assert_eq!(engine.candidate, real.candidate);
    let facts = engine.facts().await.unwrap();
    assert!(facts.memory_bytes > 0 && facts.cpus > 0, "{facts:?}");
    assert!(!facts.storage_driver.is_empty());
    // The agreed version is never newer than what the engine speaks.
    let version = engine.docker.version().await.unwrap();
    let server: Vec<u32> = version
        .api_version
        .unwrap()
        .split('.')
        .map(|n| n.parse().unwrap())
        .collect();
    let agreed: Vec<u32> = engine
        .api_version
        .split('.')
        .map(|n| n.parse().unwrap())
        .collect();
    assert!(agreed <= server, "{agreed:?} > {server:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn pulls_in_parallel_through_the_mirror_with_progress_then_skips_present() {
    let Some(docker) = support::engine("parallel pull").await else {
        return;
    };
    let cleanup = support::Cleanup::new(&docker);
    let Some(registry) = Registry::start("parallel pull") else {
        return;
    };
    let base = support::unique("parallel");
    let mut refs = Vec::new();
    let mut ids = Vec::new();
    for i in 0..4 {
        let r = format!("{base}/img{i}:1");
        ids.push(support::build_image(&docker, &cleanup, &r, 3 << 20).await);
        support::push_and_remove(&docker, &r, &registry.addr).await;
        assert_eq!(support::image_id(&docker, &r).await, None);
        refs.push(r);
    }

    let rec = Recorder::default();
    let (results, err) = pull_all(&docker, &refs, &options(&registry), &rec).await;
    assert!(err.is_none(), "{err:?}");
    let mirrored: Vec<String> = results.iter().map(|r| r.pulled_as.clone()).collect();
    for (i, r) in refs.iter().enumerate() {
        assert_eq!(results[i].outcome, Outcome::Pulled, "{r}");
        assert_eq!(
            results[i].pulled_as,
            format!("{}/{r}", registry.addr),
            "pulled through the mirror"
        );
        // Tagged with its original name, same image ID as built.
        assert_eq!(support::image_id(&docker, r).await.as_ref(), Some(&ids[i]));
        let events = rec.of(r);
        assert_eq!(events.first(), Some(&ImageEvent::Start), "{r}: {events:?}");
        assert_eq!(events.last(), Some(&ImageEvent::Done), "{r}: {events:?}");
        let progress: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                ImageEvent::Progress {
                    done,
                    total,
                    layers_done,
                    layers,
                } => Some((*done, *total, *layers_done, *layers)),
                _ => None,
            })
            .collect();
        assert!(!progress.is_empty(), "{r}: no progress: {events:?}");
        assert!(
            events[1..events.len() - 1]
                .iter()
                .all(|e| matches!(e, ImageEvent::Progress { .. })),
            "{r}: {events:?}"
        );
        let (done, total, layers_done, layers) = *progress.last().unwrap();
        assert_eq!((layers_done, layers), (1, 1), "{r}: {progress:?}");
        assert!(total > 3 << 20 && done == total, "{r}: {progress:?}");
        assert!(
            progress.windows(2).all(|w| w[0].2 <= w[1].2),
            "layers done never go back: {progress:?}"
        );
    }
    // Parallel: every image started before the first one finished.
    let first_done = refs
        .iter()
        .map(|r| rec.position(r, |e| *e == ImageEvent::Done).unwrap())
        .min()
        .unwrap();
    for r in &refs {
        assert!(rec.position(r, |e| *e == ImageEvent::Start).unwrap() < first_done);
    }

    // Again: all present, skipped without the registry (gone, and the mirror a closed port: any
    // pull attempt would fail the run).
    drop(registry);
    let rec = Recorder::default();
    let opts = PullOptions {
        mirror: Some("127.0.0.1:9".into()),
        ..PullOptions::default()
    };
    let (results, err) = pull_all(&docker, &refs, &opts, &rec).await;
    assert!(err.is_none(), "{err:?}");
    for (i, r) in refs.iter().enumerate() {
        assert_eq!(results[i].outcome, Outcome::Present);
        assert_eq!(results[i].id.as_ref(), Some(&ids[i]));
        assert_eq!(rec.of(r), vec![ImageEvent::Start, ImageEvent::Skipped]);
    }
    for r in &refs {
        support::remove(&docker, r).await;
    }
    for m in &mirrored {
        support::remove(&docker, m).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_image_fails_fast_by_name_and_the_others_still_pull() {
    let Some(docker) = support::engine("missing image").await else {
        return;
    };
    let cleanup = support::Cleanup::new(&docker);
    let Some(registry) = Registry::start("missing image") else {
        return;
    };
    let base = support::unique("missing");
    let good = format!("{base}/there:1");
    let missing = format!("{base}/not-there:1");
    let id = support::build_image(&docker, &cleanup, &good, 1 << 20).await;
    support::push_and_remove(&docker, &good, &registry.addr).await;

    let rec = Recorder::default();
    let mut opts = options(&registry);
    opts.backoff = Duration::from_secs(5);
    let (results, err) = pull_all(&docker, &[missing.clone(), good.clone()], &opts, &rec).await;
    let err = err.expect("the missing image is an error");
    assert!(matches!(err, DockerError::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains(&missing), "{err}");
    // Not retried: no Retry event (how fast it fails is scripts/bench-pull.sh's to measure).
    assert!(
        !rec.of(&missing)
            .iter()
            .any(|e| matches!(e, ImageEvent::Retry { .. })),
        "{:?}",
        rec.of(&missing)
    );
    assert!(matches!(
        rec.of(&missing).last(),
        Some(ImageEvent::Failed(_))
    ));
    assert_eq!(results[0].outcome, Outcome::Failed);
    assert_eq!(results[1].outcome, Outcome::Pulled);
    assert_eq!(support::image_id(&docker, &good).await, Some(id));
    support::remove(&docker, &good).await;
    support::remove(&docker, &results[1].pulled_as).await;
}

/// A registry (here: the mirror on 127.0.0.1) that refuses connections has nothing listening:
/// waiting does not start it, so the pull fails at the first attempt, naming the image and the
/// address, instead of retrying for half a minute (issue #21). Once the registry is back, the
/// same pull succeeds.
#[tokio::test(flavor = "multi_thread")]
async fn a_registry_that_refuses_connections_fails_at_once() {
    let Some(docker) = support::engine("refused").await else {
        return;
    };
    let cleanup = support::Cleanup::new(&docker);
    let Some(mut registry) = Registry::start("refused") else {
        return;
    };
    let r = format!("{}/img:1", support::unique("refused"));
    let id = support::build_image(&docker, &cleanup, &r, 1 << 20).await;
    support::push_and_remove(&docker, &r, &registry.addr).await;

    registry.stop();
    let mut opts = options(&registry);
    opts.attempts = 10;
    let rec = Recorder::default();
    let refs = [r.clone()];
    let started = std::time::Instant::now();
    let (results, err) = pull_all(&docker, &refs, &opts, &rec).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let err = err.expect("a refused connection fails");
    assert!(
        matches!(err, DockerError::RegistryRefused { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("refuses connections"), "{err}");
    let hint = err.hint().unwrap();
    assert!(
        hint.contains(&format!("nothing listens at the address {}", registry.addr)),
        "{hint}"
    );
    assert_eq!(results[0].outcome, Outcome::Failed);
    assert_eq!(results[0].attempts, 1, "{:?}", results[0]);
    let events = rec.of(&r);
    assert!(
        !events.iter().any(|e| matches!(e, ImageEvent::Retry { .. })),
        "{events:?}"
    );

    tokio::task::block_in_place(|| registry.resume());
    let (results, err) = pull_all(&docker, &refs, &opts, &rec).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(results[0].outcome, Outcome::Pulled);
    assert_eq!(support::image_id(&docker, &r).await, Some(id));
    support::remove(&docker, &r).await;
    support::remove(&docker, &results[0].pulled_as).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bundle_round_trip_restores_the_same_image_ids() {
    let Some(docker) = support::engine("bundle round trip").await else {
        return;
    };
    let cleanup = support::Cleanup::new(&docker);
    let base = support::unique("bundle");
    let refs = vec![format!("{base}/a:1"), format!("{base}/b:2")];
    let mut ids = Vec::new();
    for r in &refs {
        ids.push(support::build_image(&docker, &cleanup, r, 2 << 20).await);
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bundle.tar");
    let rec = Recorder::default();
    let manifest = bundle::save(&docker, &refs, &file, &rec).await.unwrap();
    assert_eq!(manifest.images.len(), 2);
    assert_eq!(manifest.images[0].id, ids[0]);
    assert!(!dir.path().join("bundle.tar.partial").exists());
    for r in &refs {
        support::remove(&docker, r).await;
        assert_eq!(support::image_id(&docker, r).await, None);
    }
    let rec = Recorder::default();
    let loaded = bundle::load(&docker, &file, &rec).await.unwrap();
    assert_eq!(loaded.len(), 2);
    for (i, r) in refs.iter().enumerate() {
        assert_eq!(support::image_id(&docker, r).await.as_ref(), Some(&ids[i]));
        assert_eq!(loaded[i].id, ids[i]);
        let events = rec.of(r);
        assert_eq!(events.first(), Some(&ImageEvent::Start));
        assert_eq!(events.last(), Some(&ImageEvent::Done));
        support::remove(&docker, r).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn corrupted_and_truncated_bundles_load_nothing() {
    let Some(docker) = support::engine("bad bundles").await else {
        return;
    };
    let cleanup = support::Cleanup::new(&docker);
    let base = support::unique("badbundle");
    let refs = vec![format!("{base}/a:1"), format!("{base}/b:1")];
    for r in &refs {
        support::build_image(&docker, &cleanup, r, 1 << 20).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bundle.tar");
    bundle::save(&docker, &refs, &file, &support::Recorder::default())
        .await
        .unwrap();
    for r in &refs {
        support::remove(&docker, r).await;
    }
    let good = std::fs::read(&file).unwrap();
    // Damage the second image only: the first must not be loaded either.
    let (offset, size) = bundle::part_range(&file, "images/001.tar").unwrap();
    let mut corrupted = good.clone();
    corrupted[(offset + size / 2) as usize] ^= 0x55;
    let cases = [
        ("corrupted", corrupted, "corrupted"),
        (
            "truncated",
            good[..good.len() * 2 / 3].to_vec(),
            "truncated",
        ),
        (
            "foreign",
            b"PK\x03\x04 not a tar at all".repeat(100),
            "bundle",
        ),
    ];
    for (name, bytes, want) in cases {
        let path = dir.path().join(format!("{name}.tar"));
        std::fs::write(&path, bytes).unwrap();
        let rec = Recorder::default();
        let err = bundle::load(&docker, &path, &rec).await.unwrap_err();
        let DockerError::BadBundle { problem, .. } = &err else {
            panic!("{name}: {err:?}")
        };
        assert!(problem.contains(want), "{name}: {problem}");
        assert!(
            rec.events.lock().unwrap().is_empty(),
            "{name}: reported loading"
        );
        for r in &refs {
            assert_eq!(
                support::image_id(&docker, r).await,
                None,
                "{name}: {r} loaded"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_host_and_context_lead_to_the_engine_in_that_order() {
    let Some(_) = support::engine("discovery order").await else {
        return;
    };
    let real = engine::connect(&EngineEnv::from_process()).await.unwrap();
    let Endpoint::Unix { path: real_socket } = &real.candidate.endpoint else {
        crate::support::gate::skip_unless_required(
            crate::support::Part::Docker,
            "the engine is not on a unix socket (discovery order)",
        );
        return;
    };
    // Two fake socket paths that lead to the real engine.
    let dir = tempfile::tempdir().unwrap();
    let via_host = dir.path().join("host.sock");
    let via_context = dir.path().join("context.sock");
    std::os::unix::fs::symlink(real_socket, &via_host).unwrap();
    std::os::unix::fs::symlink(real_socket, &via_context).unwrap();
    let config = dir.path().join("docker-config");
    let hash = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(b"onyx-test"))
    };
    let meta = config.join("contexts/meta").join(hash);
    std::fs::create_dir_all(&meta).unwrap();
    std::fs::write(
        meta.join("meta.json"),
        format!(
            r#"{{"Name":"onyx-test","Endpoints":{{"docker":{{"Host":"unix://{}"}}}}}}"#,
            via_context.display()
        ),
    )
    .unwrap();
    std::fs::write(
        config.join("config.json"),
        r#"{"currentContext":"onyx-test"}"#,
    )
    .unwrap();
    let mut env = EngineEnv {
        home: Some(dir.path().to_path_buf()),
        os: "linux".into(),
        ..EngineEnv::default()
    };
    env.vars.insert(
        "DOCKER_HOST".into(),
        format!("unix://{}", via_host.display()),
    );
    env.vars
        .insert("DOCKER_CONFIG".into(), config.display().to_string());

    let e = engine::connect(&env).await.unwrap();
    assert_eq!(e.candidate.source, "DOCKER_HOST");

    // DOCKER_HOST gone: the context file's endpoint is next.
    env.vars.remove("DOCKER_HOST");
    let e = engine::connect(&env).await.unwrap();
    assert_eq!(e.candidate.source, "context onyx-test");
    assert_eq!(
        e.candidate.endpoint,
        Endpoint::Unix {
            path: via_context.clone()
        }
    );

    // The context's socket dead: the context named an engine, so that is the error (naming it),
    // not another engine in its place.
    std::fs::remove_file(&via_context).unwrap();
    let err = engine::connect(&env).await.unwrap_err();
    assert!(
        err.to_string()
            .starts_with("the Docker engine named by context onyx-test (unix://"),
        "{err}"
    );
    assert!(err.hint().unwrap().contains("docker context use default"));
    // A dead DOCKER_HOST likewise, though the context's engine would answer.
    std::os::unix::fs::symlink(real_socket, &via_context).unwrap();
    std::fs::remove_file(&via_host).unwrap();
    env.vars.insert(
        "DOCKER_HOST".into(),
        format!("unix://{}", via_host.display()),
    );
    let err = engine::connect(&env).await.unwrap_err();
    assert!(
        err.to_string()
            .starts_with("the Docker engine named by DOCKER_HOST"),
        "{err}"
    );
    // Nothing named (context `default`, no DOCKER_HOST): the usual sockets, when the engine
    // listens on one.
    env.vars.remove("DOCKER_HOST");
    env.vars.insert("DOCKER_CONTEXT".into(), "default".into());
    let read = |p: &std::path::Path| std::fs::read_to_string(p);
    if !engine::candidates(&env, &read)
        .0
        .iter()
        .any(|c| c.endpoint == real.candidate.endpoint)
    {
        return;
    }
    let e = engine::connect(&env).await.unwrap();
    assert_eq!(e.candidate.endpoint, real.candidate.endpoint);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_digest_pinned_reference_is_pulled_by_digest_tagged_and_then_skipped() {
    let Some(docker) = support::engine("digest pin").await else {
        return;
    };
    let cleanup = support::Cleanup::new(&docker);
    let Some(registry) = Registry::start("digest pin") else {
        return;
    };
    let tagged = format!("{}/node:v1", support::unique("digest"));
    let id = support::build_image(&docker, &cleanup, &tagged, 1 << 20).await;
    support::push_and_remove(&docker, &tagged, &registry.addr).await;
    // Learn the registry's digest with a first pull by tag, then forget the image again.
    let (results, err) = pull_all(
        &docker,
        std::slice::from_ref(&tagged),
        &options(&registry),
        &Recorder::default(),
    )
    .await;
    assert!(err.is_none(), "{err:?}");
    let digests = docker
        .inspect_image(&tagged)
        .await
        .unwrap()
        .repo_digests
        .unwrap();
    let digest = digests[0].split_once('@').unwrap().1.to_string();
    support::remove(&docker, &tagged).await;
    support::remove(&docker, &results[0].pulled_as).await;
    assert_eq!(support::image_id(&docker, &tagged).await, None);

    // Like the kind node image: `name:tag@sha256:…`.
    let pinned = format!("{tagged}@{digest}");
    let rec = Recorder::default();
    let (results, err) = pull_all(
        &docker,
        std::slice::from_ref(&pinned),
        &options(&registry),
        &rec,
    )
    .await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(results[0].outcome, Outcome::Pulled);
    assert_eq!(
        results[0].pulled_as,
        format!("{}/{tagged}@{digest}", registry.addr)
    );
    assert_eq!(support::image_id(&docker, &tagged).await, Some(id));

    // Present with that digest: skipped.
    let rec = Recorder::default();
    let (results, err) = pull_all(
        &docker,
        std::slice::from_ref(&pinned),
        &options(&registry),
        &rec,
    )
    .await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(results[0].outcome, Outcome::Present);
    assert_eq!(
        rec.of(&pinned),
        vec![ImageEvent::Start, ImageEvent::Skipped]
    );

    // The same pinned reference written with its registry, pulled directly (no mirror): pulled
    // by digest and tagged under its own name.
    let direct = format!("{}/{tagged}@{digest}", registry.addr);
    support::remove(&docker, &tagged).await;
    support::remove(&docker, &direct).await;
    let (results, err) = pull_all(
        &docker,
        std::slice::from_ref(&direct),
        &PullOptions::default(),
        &Recorder::default(),
    )
    .await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(results[0].outcome, Outcome::Pulled);
    assert_eq!(results[0].pulled_as, direct);
    assert_eq!(
        support::image_id(&docker, &format!("{}/{tagged}", registry.addr)).await,
        results[0].id
    );
    assert!(results[0].id.is_some());

    // A different digest under the same tag is not "present".
    let other = format!("{tagged}@sha256:{}", "0".repeat(64));
    let (results, err) = pull_all(
        &docker,
        std::slice::from_ref(&other),
        &options(&registry),
        &Recorder::default(),
    )
    .await;
    assert_ne!(results[0].outcome, Outcome::Present);
    assert!(matches!(err, Some(DockerError::NotFound { .. })), "{err:?}");

    support::remove(&docker, &tagged).await;
    support::remove(&docker, &format!("{}/{tagged}@{digest}", registry.addr)).await;
}

/// A proxy in front of a registry that answers `429 Too Many Requests` to the first `refusals`
/// manifest requests (a rate-limited registry), and forwards everything else.
async fn rate_limiting_proxy(upstream: String, refusals: usize) -> (String, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let refused = Arc::new(AtomicUsize::new(0));
    let count = refused.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            let upstream = upstream.clone();
            let count = count.clone();
            tokio::spawn(async move {
                // Read the first request's head to see what it asks for. The engine tries TLS
                // first (a handshake starts with 0x16): pass that through for the registry to
                // refuse at once.
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.first() != Some(&0x16) {
                    match client.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let line = String::from_utf8_lossy(
                    &head[..head.iter().position(|b| *b == b'\r').unwrap_or(0)],
                )
                .into_owned();
                if line.contains("/manifests/") && count.load(Ordering::SeqCst) < refusals {
                    count.fetch_add(1, Ordering::SeqCst);
                    let body = r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}"#;
                    let answer = format!(
                        "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = client.write_all(answer.as_bytes()).await;
                    return;
                }
                let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await else {
                    return;
                };
                if server.write_all(&head).await.is_err() {
                    return;
                }
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
        }
    });
    (addr, refused)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rate_limited_registry_is_retried_with_backoff() {
    let Some(docker) = support::engine("429").await else {
        return;
    };
    let cleanup = support::Cleanup::new(&docker);
    let Some(registry) = Registry::start("429") else {
        return;
    };
    let r = format!("{}/img:1", support::unique("ratelimit"));
    let id = support::build_image(&docker, &cleanup, &r, 1 << 20).await;
    support::push_and_remove(&docker, &r, &registry.addr).await;
    // The engine may ask for a manifest more than once per pull; 4 refusals make at least two
    // failed attempts.
    let (proxy, refused) = rate_limiting_proxy(registry.addr.clone(), 4).await;
    let opts = PullOptions {
        mirror: Some(proxy.clone()),
        backoff: Duration::from_millis(200),
        ..PullOptions::default()
    };
    let rec = Recorder::default();
    let (results, err) = pull_all(&docker, std::slice::from_ref(&r), &opts, &rec).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(refused.load(Ordering::SeqCst), 4);
    assert_eq!(results[0].outcome, Outcome::Pulled);
    assert!(results[0].attempts >= 3, "{:?}", rec.of(&r));
    let waits: Vec<Duration> = rec
        .of(&r)
        .iter()
        .filter_map(|e| match e {
            ImageEvent::Retry { wait, reason, .. } => {
                assert!(
                    reason.to_lowercase().contains("toomanyrequests") || reason.contains("429"),
                    "{reason}"
                );
                Some(*wait)
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        waits,
        vec![Duration::from_millis(200), Duration::from_millis(400)]
    );
    assert_eq!(support::image_id(&docker, &r).await, Some(id));
    support::remove(&docker, &r).await;
    support::remove(&docker, &results[0].pulled_as).await;
}
