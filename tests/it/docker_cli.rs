//! `onyx images pull|save|load` as a user runs them, against a real engine and registry: JSON
//! results on stdout, messages on stderr, clear errors (no panic) for bad bundles, and Ctrl-C
//! stopping a pull with exit code 130.

use crate::support::bounded::{BOUND, Bounded, BoundedChild};

use crate::support::docker as support;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::Registry;

fn onyx(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_onyx"))
        .args(args)
        .env_remove("ONYX_REGISTRY_MIRROR")
        .env("NO_COLOR", "1")
        .output_within(BOUND)
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn pull_save_load_from_the_command_line() {
    let Some(docker) = support::engine("cli pull/save/load").await else {
        return;
    };
    let cleanup = support::Cleanup::new(&docker);
    let Some(registry) = Registry::start("cli pull/save/load") else {
        return;
    };
    let r = format!("{}/cli:1", support::unique("cli"));
    let id = support::build_image(&docker, &cleanup, &r, 1 << 20).await;
    support::push_and_remove(&docker, &r, &registry.addr).await;

    let out = onyx(&[
        "images",
        "pull",
        "--image",
        &r,
        "--registry-mirror",
        &registry.addr,
        "-o",
        "json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["image"], r.as_str());
    assert_eq!(json[0]["outcome"], "pulled");
    assert_eq!(json[0]["id"], id.as_str());
    assert_eq!(json[0]["pulled_as"], format!("{}/{r}", registry.addr));

    // The mirror comes from the environment too; present now, so skipped.
    let out = Command::new(env!("CARGO_BIN_EXE_onyx"))
        .args(["images", "pull", "--image", &r, "-o", "json"])
        .env("ONYX_REGISTRY_MIRROR", &registry.addr)
        .output_within(BOUND)
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["outcome"], "present");
    assert_eq!(json[0]["pulled_as"], format!("{}/{r}", registry.addr));

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("b.tar");
    let file_s = file.to_str().unwrap();
    let out = onyx(&["images", "save", "-o", file_s, "--image", &r]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("saved 1 image(s)"),
        "{}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty());

    support::remove(&docker, &r).await;
    let out = onyx(&["images", "load", file_s, "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["images"][0]["image"], r.as_str());
    assert_eq!(json["images"][0]["id"], id.as_str());
    assert_eq!(support::image_id(&docker, &r).await, Some(id));

    // A damaged copy: a clear error with a hint, usage exit code, no panic.
    let mut bytes = std::fs::read(&file).unwrap();
    let len = bytes.len();
    bytes.truncate(len - 3000);
    let cut = dir.path().join("cut.tar");
    std::fs::write(&cut, bytes).unwrap();
    let out = onyx(&["images", "load", cut.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("is not a usable onyx bundle") && err.contains("truncated"),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    // Saving an image the engine doesn't have: named, and no file (partial or not) left.
    let missing = format!("{}/none:1", support::unique("cli"));
    let nofile = dir.path().join("none.tar");
    let out = onyx(&[
        "images",
        "save",
        "-o",
        nofile.to_str().unwrap(),
        "--image",
        &missing,
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains(&missing),
        "{}",
        text(&out.stderr)
    );
    assert!(!nofile.exists());
    assert!(!dir.path().join("none.tar.partial").exists());

    support::remove(&docker, &r).await;
    support::remove(&docker, &format!("{}/{r}", registry.addr)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_stops_a_pull_cleanly() {
    let Some(_docker) = support::engine("ctrl-c").await else {
        return;
    };
    // A registry that takes connections and never answers (the kernel accepts them into the
    // listener's backlog): the pull waits until interrupted. (One that refuses connections fails
    // at once instead: docker_images::a_registry_that_refuses_connections_fails_at_once.)
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mirror = silent.local_addr().unwrap().to_string();
    let child = Command::new(env!("CARGO_BIN_EXE_onyx"))
        .args([
            "images",
            "pull",
            "--image",
            "onyx-test-ctrl-c/never:1",
            "--registry-mirror",
            &mirror,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let t = Instant::now();
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output_within(BOUND).unwrap();
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("error: interrupted"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_paths_and_references_are_usage_errors_before_any_engine_call() {
    let cases: [(&[&str], &str); 4] = [
        (
            &["images", "save", "-o", "/nonexistent-dir/b.tar"],
            "/nonexistent-dir is not a directory",
        ),
        (
            &["images", "load", "/nonexistent-dir/b.tar"],
            "/nonexistent-dir/b.tar does not exist",
        ),
        (
            &["images", "pull", "--image", "Not A Ref"],
            "is not an image reference",
        ),
        (
            &["images", "pull", "--registry-mirror", "https://m.example"],
            "without http:// or https://",
        ),
    ];
    for (args, want) in cases {
        let out = onyx(args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(err.contains("hint:"), "{args:?}: {err}");
        assert!(out.stdout.is_empty());
    }
}
