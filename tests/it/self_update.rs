//! `onyx self update` against a local release server on 127.0.0.1 (a GitHub-compatible releases
//! API with archives and a checksum file built in the test): the binary is replaced only after the
//! checksum matches, and the new one runs; every failure leaves the old binary intact and working.

use crate::support::bounded::{BOUND, Bounded};

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::http::StaticServer;

const OWNER_REPO: &str = "/repos/onyx-installer/onyx";

struct Fixture {
    _dir: tempfile::TempDir,
    server: StaticServer,
    /// A copy of onyx that the test lets update itself.
    exe: PathBuf,
    original: Vec<u8>,
    target: String,
    home: PathBuf,
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output_within(BOUND)
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

fn onyx(fx: &Fixture, exe: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(exe)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &fx.home)
        .env("ONYX_UPDATE_ROOT", fx.server.url(""))
        .env("ONYX_NO_UPDATE_CHECK", "1")
        .output_within(BOUND)
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        stderr,
    )
}

impl Fixture {
    /// A release v9.9.9 whose archive holds a "new onyx" (a script that says so), listed under
    /// `asset_target`, with a checksum file that is right or deliberately wrong.
    fn new(asset_target: Option<&str>, correct_checksum: bool) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        let exe = dir.path().join("bin/onyx");
        std::fs::create_dir_all(exe.parent().unwrap()).unwrap();
        std::fs::copy(env!("CARGO_BIN_EXE_onyx"), &exe).unwrap();
        let original = std::fs::read(&exe).unwrap();
        let server = StaticServer::start();
        let mut fx = Fixture {
            _dir: dir,
            server,
            exe,
            original,
            target: String::new(),
            home,
        };
        let (_, out, _) = onyx(&fx, &fx.exe, &["version", "-o", "json"]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        fx.target = v["target"].as_str().unwrap().to_string();

        let stage = fx._dir.path().join("stage");
        std::fs::create_dir_all(&stage).unwrap();
        let new_bin = stage.join("onyx");
        std::fs::write(&new_bin, "#!/bin/sh\necho \"onyx 9.9.9 (new build)\"\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&new_bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let target = asset_target.unwrap_or(&fx.target).to_string();
        let archive_name = format!("onyx-{target}.tar.gz");
        let archive = fx._dir.path().join(&archive_name);
        let status = Command::new("tar")
            .arg("-czf")
            .arg(&archive)
            .arg("-C")
            .arg(&stage)
            .arg("onyx")
            .status()
            .unwrap();
        assert!(status.success());
        let digest = if correct_checksum {
            sha256(&archive)
        } else {
            "0".repeat(64)
        };
        fx.server.route(
            &format!("/assets/{archive_name}"),
            std::fs::read(&archive).unwrap(),
        );
        fx.server.route(
            "/assets/sha256sums.txt",
            format!("{digest}  {archive_name}\n"),
        );
        let release = serde_json::json!({
            "tag_name": "v9.9.9",
            "created_at": "2026-11-01T00:00:00Z",
            "name": "onyx 9.9.9",
            "body": "",
            "html_url": fx.server.url("/release"),
            "assets": [
                {"name": archive_name, "url": fx.server.url(&format!("/assets/{archive_name}"))},
                {"name": "sha256sums.txt", "url": fx.server.url("/assets/sha256sums.txt")},
            ],
        });
        fx.server.route(
            &format!("{OWNER_REPO}/releases/latest"),
            release.to_string(),
        );
        fx.server.route(
            &format!("{OWNER_REPO}/releases"),
            serde_json::json!([release]).to_string(),
        );
        fx
    }

    fn assert_untouched(&self) {
        assert_eq!(
            std::fs::read(&self.exe).unwrap(),
            self.original,
            "the old binary was changed"
        );
        let (code, out, _) = onyx(self, &self.exe, &["version"]);
        assert_eq!(code, 0);
        assert!(out.starts_with("onyx 0."), "{out}");
    }

    fn archive_downloaded(&self) -> bool {
        self.server
            .requests()
            .iter()
            .any(|p| p.ends_with(".tar.gz"))
    }
}

#[test]
fn update_replaces_the_binary_and_the_new_one_runs() {
    let fx = Fixture::new(None, true);
    let (code, _, err) = onyx(&fx, &fx.exe, &["self", "update"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("9.9.9"), "{err}");
    assert!(fx.archive_downloaded());
    assert!(
        fx.server
            .requests()
            .iter()
            .any(|p| p == "/assets/sha256sums.txt"),
        "the checksum file was not fetched"
    );
    let out = Command::new(&fx.exe).output_within(BOUND).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "onyx 9.9.9 (new build)\n"
    );
}

#[test]
fn a_bad_checksum_is_refused_and_the_old_binary_stays() {
    let fx = Fixture::new(None, false);
    let (code, _, err) = onyx(&fx, &fx.exe, &["self", "update"]);
    // README's exit codes: the release side failing is the environment (3), not bad input.
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("checksum"), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    fx.assert_untouched();
}

#[test]
fn no_build_for_this_platform_is_a_clear_error() {
    let fx = Fixture::new(Some("sparc64-unknown-plan9"), true);
    let (code, _, err) = onyx(&fx, &fx.exe, &["self", "update"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("no build for this platform"), "{err}");
    assert!(err.contains(&fx.target), "{err}");
    // The way out builds that release from the repository (crates.io's `onyx` is another
    // project).
    assert!(
        err.contains(
            "`cargo install --locked --git https://github.com/onyx-installer/onyx --tag v9.9.9 onyx`"
        ),
        "{err}"
    );
    assert!(!fx.archive_downloaded());
    fx.assert_untouched();
}

#[test]
fn check_only_reports_and_changes_nothing() {
    let fx = Fixture::new(None, true);
    let (code, out, err) = onyx(&fx, &fx.exe, &["self", "update", "--check", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["latest"], "9.9.9");
    assert_eq!(v["newer_available"], true);
    assert_eq!(v["has_build_for_this_platform"], true);
    assert!(!fx.archive_downloaded());
    fx.assert_untouched();
}

#[test]
fn package_managed_installs_are_refused_with_their_own_command() {
    let fx = Fixture::new(None, true);
    let cargo_home = fx.home.join(".cargo");
    let exe = cargo_home.join("bin/onyx");
    std::fs::create_dir_all(exe.parent().unwrap()).unwrap();
    std::fs::copy(&fx.exe, &exe).unwrap();
    let before = std::fs::read(&exe).unwrap();
    let out = Command::new(&exe)
        .args(["self", "update"])
        .env_clear()
        .env("HOME", &fx.home)
        .env("CARGO_HOME", &cargo_home)
        .env("ONYX_UPDATE_ROOT", fx.server.url(""))
        .output_within(BOUND)
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    // From the repository: crates.io's `onyx` is another project.
    assert!(
        err.contains("`cargo install --locked --git https://github.com/onyx-installer/onyx onyx`"),
        "{err}"
    );
    assert_eq!(std::fs::read(&exe).unwrap(), before);
    assert!(!fx.archive_downloaded());
}
