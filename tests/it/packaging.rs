//! The install paths: a release archive made by scripts/package.sh, installed by
//! scripts/install.sh from a local release server (checksum verified, nothing installed when it
//! doesn't match), the Homebrew formula generated from the checksums and checked by Ruby, and the
//! shell scripts kept shellcheck-clean.

use crate::support::bounded::{BOUND, Bounded};

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::http::StaticServer;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn target() -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_onyx"))
        .args(["version", "-o", "json"])
        .env("ONYX_NO_UPDATE_CHECK", "1")
        .output_within(BOUND)
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["target"].as_str().unwrap().to_string()
}

/// Package the test build of onyx the way the release workflow packages a release build.
fn package(out: &Path) -> PathBuf {
    let target = target();
    let status = Command::new("bash")
        .arg(root().join("scripts/package.sh"))
        .arg(&target)
        .arg(out)
        .env("ONYX_PACKAGE_BINARY", env!("CARGO_BIN_EXE_onyx"))
        .status()
        .unwrap();
    assert!(status.success());
    out.join(format!("onyx-{target}.tar.gz"))
}

#[test]
fn the_archive_holds_binary_man_page_and_completions_with_its_checksum() {
    let dir = tempfile::tempdir().unwrap();
    let archive = package(dir.path());
    let list = Command::new("tar")
        .arg("-tzf")
        .arg(&archive)
        .output_within(BOUND)
        .unwrap();
    let list = String::from_utf8(list.stdout).unwrap();
    for f in [
        "onyx",
        "onyx.1",
        "completions/onyx.bash",
        "completions/_onyx",
        "completions/onyx.fish",
    ] {
        assert!(list.lines().any(|l| l == f), "{f} missing from:\n{list}");
    }
    let sums = std::fs::read_to_string(dir.path().join("sha256sums.txt")).unwrap();
    let name = archive.file_name().unwrap().to_str().unwrap();
    let line = sums
        .lines()
        .find(|l| l.ends_with(name))
        .expect("a line for the archive");
    let out = Command::new("sha256sum")
        .arg(&archive)
        .output_within(BOUND)
        .unwrap();
    assert_eq!(&line[..64], &String::from_utf8(out.stdout).unwrap()[..64]);
    // Packaging again replaces the line instead of adding one.
    package(dir.path());
    let sums = std::fs::read_to_string(dir.path().join("sha256sums.txt")).unwrap();
    assert_eq!(sums.lines().filter(|l| l.ends_with(name)).count(), 1);
}

struct Served {
    server: StaticServer,
    _dir: tempfile::TempDir,
    install_dir: PathBuf,
}

fn serve_release(corrupt_sums: bool) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let dist = dir.path().join("dist");
    let archive = package(&dist);
    let name = archive.file_name().unwrap().to_str().unwrap().to_string();
    let server = StaticServer::start();
    server.route(
        &format!("/releases/latest/download/{name}"),
        std::fs::read(&archive).unwrap(),
    );
    let mut sums = std::fs::read_to_string(dist.join("sha256sums.txt")).unwrap();
    if corrupt_sums {
        sums = format!("{}  {name}\n", "f".repeat(64));
    }
    server.route("/releases/latest/download/sha256sums.txt", sums);
    let install_dir = dir.path().join("bin");
    Served {
        server,
        _dir: dir,
        install_dir,
    }
}

fn run_install(s: &Served, path_prefix: Option<&Path>) -> std::process::Output {
    let path = std::env::var("PATH").unwrap_or_default();
    let path = match path_prefix {
        Some(p) => format!("{}:{path}", p.display()),
        None => path,
    };
    Command::new("sh")
        .arg(root().join("scripts/install.sh"))
        .env("PATH", path)
        .env("ONYX_DOWNLOAD_ROOT", s.server.url("/releases"))
        .env("ONYX_INSTALL_DIR", &s.install_dir)
        .env("ONYX_NO_UPDATE_CHECK", "1")
        .output_within(BOUND)
        .unwrap()
}

#[test]
fn install_script_verifies_and_installs_a_working_binary() {
    let s = serve_release(false);
    let out = run_install(&s, None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let installed = s.install_dir.join("onyx");
    let v = Command::new(&installed)
        .arg("version")
        .output_within(BOUND)
        .unwrap();
    assert!(
        String::from_utf8_lossy(&v.stdout).starts_with("onyx "),
        "{v:?}"
    );
    assert!(err.contains("add it to your PATH"), "{err}");
    assert!(
        s.server
            .requests()
            .iter()
            .any(|p| p.ends_with("sha256sums.txt"))
    );
}

#[test]
fn install_script_refuses_a_checksum_mismatch_and_installs_nothing() {
    let s = serve_release(true);
    let out = run_install(&s, None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("checksum mismatch"), "{err}");
    assert!(!s.install_dir.join("onyx").exists());
}

#[test]
fn install_script_says_when_there_is_no_build_for_the_machine() {
    let s = serve_release(false);
    let fake = tempfile::tempdir().unwrap();
    let uname = fake.path().join("uname");
    std::fs::write(&uname, "#!/bin/sh\necho Plan9\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&uname, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = run_install(&s, Some(fake.path()));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("no onyx build for Plan9"), "{err}");
    // Its advice builds this onyx from the repository (crates.io's `onyx` is another project).
    assert!(err.contains(&onyx::update::cargo_install(None)), "{err}");
    assert!(s.server.requests().is_empty(), "downloaded anyway");
}

#[test]
fn homebrew_formula_is_generated_from_the_checksums_and_parses() {
    let dir = tempfile::tempdir().unwrap();
    let sums = dir.path().join("sha256sums.txt");
    let targets = [
        "aarch64-apple-darwin",
        "x86_64-apple-darwin",
        "aarch64-unknown-linux-gnu",
        "x86_64-unknown-linux-gnu",
    ];
    let text: String = targets
        .iter()
        .enumerate()
        .map(|(i, t)| format!("{}  onyx-{t}.tar.gz\n", i.to_string().repeat(64)))
        .collect();
    std::fs::write(&sums, text).unwrap();
    let out = Command::new("bash")
        .arg(root().join("scripts/homebrew-formula.sh"))
        .args(["1.2.3"])
        .arg(&sums)
        .output_within(BOUND)
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let formula = String::from_utf8(out.stdout).unwrap();
    for (i, t) in targets.iter().enumerate() {
        assert!(
            formula.contains(&format!("/v1.2.3/onyx-{t}.tar.gz\"")),
            "{t}"
        );
        assert!(formula.contains(&format!("sha256 \"{}\"", i.to_string().repeat(64))));
    }
    assert!(formula.contains("test do"));
    assert!(formula.contains("man1.install"));
    let rb = dir.path().join("onyx.rb");
    std::fs::write(&rb, &formula).unwrap();
    match support::which("ruby") {
        Some(ruby) => {
            let out = Command::new(ruby)
                .arg("-c")
                .arg(&rb)
                .output_within(BOUND)
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        None => support::skip_or_fail("ruby (for ruby -c)"),
    }
    // A checksum file missing a platform is an error, not a formula with a hole.
    std::fs::write(&sums, "0000  onyx-x86_64-apple-darwin.tar.gz\n").unwrap();
    let out = Command::new("bash")
        .arg(root().join("scripts/homebrew-formula.sh"))
        .args(["1.2.3"])
        .arg(&sums)
        .output_within(BOUND)
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn shell_scripts_are_shellcheck_clean() {
    let Some(shellcheck) = support::which("shellcheck") else {
        support::skip_or_fail("shellcheck");
        return;
    };
    let scripts: Vec<PathBuf> = std::fs::read_dir(root().join("scripts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sh"))
        .chain([root().join(".ci/run")])
        .collect();
    assert!(scripts.len() >= 4);
    let out = Command::new(shellcheck)
        .args(&scripts)
        .output_within(BOUND)
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Every place that tells a user how to install or update onyx names it so that it installs
/// *this* onyx (issue #21 item 12): Homebrew through onyx's own tap (on macOS a bare `brew install
/// onyx` is another project's cask) and cargo from the repository (crates.io's `onyx` is another
/// project) — README, the install script, the release notes, the Homebrew notes and the binary's
/// own update advice (src/update.rs, whose strings are [`onyx::update::BREW_FORMULA`] and
/// [`onyx::update::cargo_install`]).
#[test]
fn install_advice_names_the_tap_and_the_repository_never_the_taken_names() {
    use onyx::update::{BREW_FORMULA, REPOSITORY, cargo_install};
    assert_eq!(BREW_FORMULA, "onyx-installer/tap/onyx");
    assert_eq!(REPOSITORY, "https://github.com/onyx-installer/onyx");
    // The tap's owner is the repository's, as scripts/homebrew-formula.sh's homepage says.
    let formula_script =
        std::fs::read_to_string(root().join("scripts/homebrew-formula.sh")).unwrap();
    assert!(
        formula_script.contains(&format!("homepage \"{REPOSITORY}\"")),
        "the formula's homepage is not the repository"
    );
    assert!(REPOSITORY.ends_with(&format!(
        "/{}/onyx",
        BREW_FORMULA.split('/').next().unwrap()
    )));
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let install = readme
        .split("## Install\n")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("README has an Install section");
    assert!(
        install.contains(&format!("brew install {BREW_FORMULA}")),
        "{install}"
    );
    assert!(install.contains(&cargo_install(None)), "{install}");
    let mut files = vec![
        "README.md",
        "scripts/install.sh",
        "packaging/release-notes.md",
        "packaging/homebrew/README.md",
        "src/update.rs",
    ];
    files.sort();
    for f in files {
        let text = std::fs::read_to_string(root().join(f)).unwrap();
        for line in text.lines() {
            // A bare name: `brew install onyx` / `brew upgrade onyx` (not `…/tap/onyx`), or a
            // cargo install that takes `onyx` from crates.io (no --git / --path).
            for bare in ["brew install onyx", "brew upgrade onyx"] {
                for (i, _) in line.match_indices(bare) {
                    let next = line[i + bare.len()..].chars().next();
                    assert!(
                        next.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '/'),
                        "{f}: bare `{bare}` in: {line}"
                    );
                }
            }
            if line.contains("cargo install") && line.contains(" onyx") {
                assert!(
                    line.contains("--git") || line.contains("--path"),
                    "{f}: `cargo install` from crates.io in: {line}"
                );
            }
        }
    }
}
