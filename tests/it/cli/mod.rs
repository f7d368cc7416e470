//! The command line as a user meets it: help texts, `plan`, and the messages for bad flags, bad
//! config and machines that are too small, snapshotted (insta) with temp paths redacted. Also the
//! exit codes and that errors never show a panic or backtrace.
//!
//! The snapshotted tests stay in this file, so their snapshots keep their names
//! (`snapshots/it__cli__*.snap` next to this file: insta names them by module path and keeps
//! them beside the source); `output` (the streams, log lines, colour) and `readme` (README's
//! tables against the binary) are apart.

use crate::support::bounded::{BOUND, Bounded};

use std::path::Path;
use std::process::{Command, Output, Stdio};

mod output;
mod readme;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Run the real binary with a clean environment: no ONYX_* variables, an empty home and config
/// dir, no colour.
fn onyx_in(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_onyx"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("NO_COLOR", "1")
        .env("ONYX_NO_UPDATE_CHECK", "1")
        .env("COLUMNS", "100")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output_within(BOUND).unwrap();
    let stderr = String::from_utf8(stderr).unwrap();
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    assert!(
        !stderr.contains("RUST_BACKTRACE"),
        "backtrace hint: {stderr}"
    );
    Run {
        code: status.code().expect("exited normally"),
        stdout: String::from_utf8(stdout).unwrap(),
        stderr,
    }
}

fn onyx(args: &[&str]) -> Run {
    let home = tempfile::tempdir().unwrap();
    onyx_in(home.path(), args, &[])
}

/// A kubeconfig whose API server is a closed port on 127.0.0.1.
fn dead_kubeconfig(dir: &Path) -> std::path::PathBuf {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- cluster: {{server: \"http://127.0.0.1:{port}\"}}\n  name: sim\ncontexts:\n- context: {{cluster: sim, user: sim}}\n  name: sim\ncurrent-context: sim\nusers:\n- name: sim\n  user: {{token: x}}\n"
        ),
    )
    .unwrap();
    path
}

/// Snapshot settings: the temp dir and this machine's OS/arch/AVX2 are redacted.
macro_rules! snapshot {
    ($name:expr, $value:expr) => {
        insta::with_settings!({filters => vec![
            (r"/tmp/\.tmp[A-Za-z0-9]+", "[TMP]"),
            (r"(?m)^(Host \([^)]*\): [^,]+, [^,]+), \S+/\S+(, [^\n]*)?$", "$1, [OS/ARCH]"),
            (r#""(os|arch)": "[^"]*""#, r#""$1": "[REDACTED]""#),
            (r#""avx2": (true|false|null)"#, r#""avx2": "[REDACTED]""#),
        ]}, {
            insta::assert_snapshot!($name, $value);
        });
    };
}

#[test]
fn help_texts() {
    for (name, args) in [
        ("help", vec!["--help"]),
        ("help_render", vec!["render", "--help"]),
        ("help_plan", vec!["plan", "--help"]),
        ("help_images", vec!["images", "--help"]),
        ("help_cluster", vec!["cluster", "--help"]),
        ("help_cluster_create", vec!["cluster", "create", "--help"]),
        ("help_open", vec!["open", "--help"]),
        ("help_up", vec!["up", "--help"]),
        ("help_status", vec!["status", "--help"]),
        ("help_destroy", vec!["destroy", "--help"]),
        ("help_logs", vec!["logs", "--help"]),
        ("help_doctor", vec!["doctor", "--help"]),
    ] {
        let r = onyx(&args);
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        snapshot!(name, r.stdout);
    }
}

#[test]
fn plan_for_an_8_gib_laptop() {
    let r = onyx(&["plan", "--memory", "8GiB", "--cpus", "4"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    snapshot!("plan_8gib", r.stdout);
}

#[test]
fn plan_for_a_workstation_picks_large() {
    let r = onyx(&["plan", "--memory", "32GiB", "--cpus", "8", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["profile"], "large");
    assert_eq!(v["host"]["memory_bytes"], 32u64 << 30);
    // With its default indexing: the background workers and their own indexing model server.
    assert_eq!(v["indexing"]["mode"], "dedicated");
    assert_eq!(v["services"].as_array().unwrap().len(), 10);
    let req = v["totals"]["memory_request_mib"].as_u64().unwrap();
    assert!(req <= 21 * 1024, "{req}");
    // Without them, the core stack as before.
    let r = onyx(&[
        "plan",
        "--memory",
        "32GiB",
        "--cpus",
        "8",
        "--indexing",
        "off",
        "-o",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["services"].as_array().unwrap().len(), 8);
    let req = v["totals"]["memory_request_mib"].as_u64().unwrap();
    assert!(req <= 17 * 1024, "{req}");
    snapshot!("plan_32gib_json", r.stdout);
}

#[test]
fn too_little_memory_is_planned_with_a_warning_giving_the_numbers() {
    // `plan` may be for another machine: it never refuses for this one's size (only `up` does),
    // and says what `up` would refuse, with the numbers.
    let r = onyx(&["plan", "--memory", "4GiB", "--cpus", "4"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("Profile: small (the machine looks too small"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.contains("warning:") && r.stderr.contains("would refuse"),
        "{}",
        r.stderr
    );
    snapshot!("plan_warn_4gib", r.stderr);

    let r = onyx(&[
        "plan",
        "--profile",
        "large",
        "--memory",
        "8GiB",
        "--cpus",
        "4",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("Profile: large"), "{}", r.stdout);
    snapshot!("plan_warn_large_on_8gib", r.stderr);

    // Only the CPUs short: the warning is about CPUs, and "1 CPU" is singular.
    let r = onyx(&["plan", "--memory", "8GiB", "--cpus", "1"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("1 CPU ")
            || r.stderr.contains("1 CPU,")
            || r.stderr.contains("1 CPU\n")
            || r.stderr.contains("1 CPU;"),
        "{}",
        r.stderr
    );
    snapshot!("plan_warn_1cpu", r.stderr);

    // The same with --force: still planned, still warned.
    let r = onyx(&["plan", "--memory", "4GiB", "--cpus", "4", "--force"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("warning:"), "{}", r.stderr);
}

#[test]
fn bad_flags_are_usage_errors() {
    for (name, args) in [
        ("bad_profile", vec!["render", "--profile", "huge"]),
        ("bad_output", vec!["plan", "-o", "xml"]),
        ("bad_memory", vec!["plan", "--memory", "lots"]),
        (
            "bad_namespace",
            vec!["render", "--profile", "small", "-n", "Bad_NS"],
        ),
        (
            "bad_url",
            vec!["render", "--profile", "small", "--url", "onyx.example.com"],
        ),
        ("unknown_command", vec!["deploy"]),
        (
            "missing_reuse_file",
            vec![
                "render",
                "--profile",
                "small",
                "--reuse-secrets",
                "/nonexistent/secrets.yaml",
            ],
        ),
    ] {
        let r = onyx(&args);
        assert_eq!(r.code, 2, "{name}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{name}");
        snapshot!(name, r.stderr);
    }
}

/// A `--reuse-secrets` file from before the `onyx-app` Secret: rendered, with a warning that
/// its values are new on every render (they would restart the API on every GitOps apply).
#[test]
fn a_reuse_file_without_the_app_secret_is_warned_about() {
    let first = onyx(&["render", "--profile", "small", "-o", "json"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let list: serde_json::Value = serde_json::from_str(&first.stdout).unwrap();
    let old: Vec<&serde_json::Value> = list["items"]
        .as_array()
        .expect("a List of objects")
        .iter()
        .filter(|o| o["kind"] == "Secret" && o["metadata"]["name"] != "onyx-app")
        .collect();
    assert_eq!(old.len(), 3);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("old.json");
    std::fs::write(
        &file,
        serde_json::json!({"apiVersion": "v1", "kind": "List", "items": old}).to_string(),
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let args = ["render", "--profile", "small", "--reuse-secrets", path];
    let (a, b) = (onyx(&args), onyx(&args));
    assert_eq!(a.code, 0, "{}", a.stderr);
    assert!(
        a.stderr.contains("has no Secret onyx-app") && a.stderr.contains("every render"),
        "{}",
        a.stderr
    );
    // The three it holds are kept; onyx-app's values differ between the two renders.
    let pg = |out: &str| {
        out.contains(old[0]["data"].as_object().map_or("", |d| {
            d.values().next().and_then(|v| v.as_str()).unwrap_or("")
        }))
    };
    assert!(pg(&a.stdout) && pg(&b.stdout));
    assert_ne!(a.stdout, b.stdout);
    // A full earlier render is taken whole, with no warning.
    std::fs::write(&file, &first.stdout).unwrap();
    let c = onyx(&args);
    assert_eq!(c.code, 0, "{}", c.stderr);
    assert!(!c.stderr.contains("has no Secret"), "{}", c.stderr);
}

#[test]
fn bad_config_files_name_file_line_and_key() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join(".config/onyx");
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.toml");
    for (name, text) in [
        ("config_unknown_key", "port = 4000\nprofil = \"small\"\n"),
        (
            "config_wrong_type",
            "profile = \"small\"\nport = \"high\"\n",
        ),
        ("config_bad_profile", "profile = \"huge\"\n"),
        ("config_not_toml", "port = \n"),
        ("config_bad_namespace", "namespace = \"Bad_NS\"\n"),
        ("config_port_zero", "port = 0\n"),
    ] {
        std::fs::write(&config, text).unwrap();
        let r = onyx_in(
            home.path(),
            &["plan", "--memory", "8GiB", "--cpus", "4"],
            &[],
        );
        assert_eq!(r.code, 2, "{name}: {}", r.stderr);
        assert!(
            r.stderr.contains(&config.display().to_string()),
            "{}",
            r.stderr
        );
        let redacted = r
            .stderr
            .replace(&home.path().display().to_string(), "[HOME]");
        snapshot!(name, redacted);
    }
}

#[test]
fn settings_precedence_flag_env_config() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join(".config/onyx");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        "namespace = \"from-config\"\nport = 4000\n",
    )
    .unwrap();
    let ns_of = |args: &[&str], env: &[(&str, &str)]| {
        let r = onyx_in(home.path(), args, env);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        let first = &v["items"][0];
        (
            first["metadata"]["namespace"].as_str().unwrap().to_string(),
            first["data"]["WEB_DOMAIN"].as_str().unwrap().to_string(),
        )
    };
    let base = [
        "render",
        "--profile",
        "small",
        "-o",
        "json",
        "--skip-secrets",
    ];
    assert_eq!(
        ns_of(&base, &[]),
        ("from-config".into(), "http://localhost:4000".into())
    );
    assert_eq!(
        ns_of(
            &base,
            &[("ONYX_NAMESPACE", "from-env"), ("ONYX_PORT", "5000")]
        ),
        ("from-env".into(), "http://localhost:5000".into())
    );
    let mut with_flags = base.to_vec();
    with_flags.extend(["-n", "from-flag", "--port", "6000"]);
    assert_eq!(
        ns_of(
            &with_flags,
            &[("ONYX_NAMESPACE", "from-env"), ("ONYX_PORT", "5000")]
        ),
        ("from-flag".into(), "http://localhost:6000".into())
    );
    // ONYX_CONFIG picks another file; a missing one is an error.
    let other = home.path().join("other.toml");
    std::fs::write(&other, "namespace = \"other-file\"\n").unwrap();
    let other_s = other.display().to_string();
    assert_eq!(ns_of(&base, &[("ONYX_CONFIG", &other_s)]).0, "other-file");
    let r = onyx_in(
        home.path(),
        &base,
        &[("ONYX_CONFIG", "/nonexistent/x.toml")],
    );
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("/nonexistent/x.toml does not exist"),
        "{}",
        r.stderr
    );
}

#[test]
fn images_list_and_version() {
    let r = onyx(&["images", "list"]);
    assert_eq!(r.code, 0);
    snapshot!("images_list", r.stdout);
    let r = onyx(&["images", "list", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 9);
    let r = onyx(&["version", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["onyx_stack"], "v2.3.0");
}

#[test]
fn open_prints_the_url_and_hands_it_to_browser() {
    use std::os::unix::fs::PermissionsExt;
    // With onyx's own node present, `open` prints the port that node maps instead: no test of
    // this process may make it meanwhile. (One made by another process on the same engine, e.g.
    // a second checkout's up_own_cluster or the cold-up bench, still fails this test.)
    let _own = crate::support::own_cluster_lock_blocking();
    let home = tempfile::tempdir().unwrap();
    // Nothing serves the port: no URL on stdout, exit 3, the URL and what to run on stderr.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let r = onyx_in(home.path(), &["open", "--print", "--port", &free], &[]);
    assert_eq!((r.code, r.stdout.as_str()), (3, ""), "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "nothing serves the Onyx UI at http://localhost:{free}"
        )) && r
            .stderr
            .contains("`onyx status` shows whether the stack runs"),
        "{}",
        r.stderr
    );
    // A gateway answering nginx's health check on the port (as the own node's mapped port or a
    // port-forward gives it).
    let rt = tokio::runtime::Runtime::new().unwrap();
    let nginx = rt.block_on(crate::support::stand_in_nginx::StandIn::nginx());
    let port = nginx.addr.port().to_string();
    let url = format!("http://localhost:{port}\n");
    // --print: the URL only, on stdout, from --port or ONYX_PORT.
    let r = onyx_in(home.path(), &["open", "--print", "--port", &port], &[]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, url.as_str()),
        "{}",
        r.stderr
    );
    let r = onyx_in(home.path(), &["open", "--print"], &[("ONYX_PORT", &port)]);
    assert_eq!(r.stdout, url);

    // Headless (no DISPLAY, no BROWSER in the cleared environment): printed, not opened.
    let r = onyx_in(home.path(), &["open"], &[("ONYX_PORT", &port)]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, url.as_str()),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("no display"), "{}", r.stderr);

    // BROWSER: the script receives the URL (and the URL is still printed for scripts).
    let got = home.path().join("got-url");
    let script = home.path().join("browser.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s' \"$1\" > {}.tmp && mv {0}.tmp {0}\n",
            got.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let r = onyx_in(
        home.path(),
        &["open", "--port", &port],
        &[
            ("BROWSER", script.to_str().unwrap()),
            ("SSH_TTY", "/dev/pts/9"),
        ],
    );
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, url.as_str()),
        "{}",
        r.stderr
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !got.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the BROWSER script never ran"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(std::fs::read_to_string(&got).unwrap(), url.trim_end());
    assert!(
        r.stderr.contains(&format!("opened {}", url.trim_end())),
        "{}",
        r.stderr
    );
}

/// A failed `up` on onyx's own cluster leaves no data directory behind, whether it was named by
/// --data-dir or ONYX_DATA_DIR. (The own cluster keeps its data in the Docker volume `onyx-data`;
/// the data dir holds `up`'s pre-upgrade backups — tests/it/upgrade.rs passes --data-dir — and an
/// older onyx's `data/`, which tests/it/up_own_cluster.rs reads through ONYX_DATA_DIR.)
#[test]
fn a_failed_up_leaves_no_data_dir_behind() {
    let home = tempfile::tempdir().unwrap();
    let env = [("DOCKER_HOST", "unix:///nonexistent/docker.sock")];
    let up = ["up", "--profile", "small", "--force", "--no-browser"];
    let flag_dir = home.path().join("flag/onyx");
    let mut args = up.to_vec();
    args.extend(["--data-dir", flag_dir.to_str().unwrap()]);
    let r = onyx_in(home.path(), &args, &env);
    // The engine the user named is dead: that is the error (exit 3), naming it.
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("DOCKER_HOST"), "{}", r.stderr);
    assert!(!flag_dir.exists(), "left behind: {}", flag_dir.display());
    let env_dir = home.path().join("share/onyx");
    let r = onyx_in(
        home.path(),
        &up,
        &[env[0], ("ONYX_DATA_DIR", env_dir.to_str().unwrap())],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(!env_dir.exists(), "left behind: {}", env_dir.display());
}

/// `cluster status` before any cluster exists says so and how to make one (needs an engine).
#[test]
fn cluster_status_without_a_cluster_says_how_to_make_one() {
    if std::os::unix::net::UnixStream::connect("/var/run/docker.sock").is_err() {
        crate::support::skip_or_fail_part(crate::support::Part::Docker, "a Docker engine");
        return;
    }
    // No test makes the own cluster meanwhile.
    let _own = crate::support::own_cluster_lock_blocking();
    let home = tempfile::tempdir().unwrap();
    let probe = Command::new(env!("CARGO_BIN_EXE_onyx"))
        .args(["cluster", "list", "-o", "json"])
        .env("HOME", home.path())
        .output_within(BOUND)
        .unwrap();
    if String::from_utf8_lossy(&probe.stdout).contains("\"name\": \"onyx\"") {
        crate::support::gate::skip_unless_required(
            crate::support::Part::Docker,
            "an own cluster of the user's exists on this engine; not checked",
        );
        return;
    }
    for args in [["cluster", "status"], ["cluster", "load"]] {
        let r = onyx_in(home.path(), &args, &[]);
        assert_eq!(r.code, 3, "{}", r.stderr);
        snapshot!("cluster_status_none", r.stderr);
    }
}

/// `cluster delete --purge` removes the data and onyx's data folder itself when nothing else is
/// in it (needs an engine; the cluster name is unique, so no node exists).
#[test]
fn purge_removes_the_onyx_data_folder() {
    if std::os::unix::net::UnixStream::connect("/var/run/docker.sock").is_err() {
        crate::support::skip_or_fail_part(crate::support::Part::Docker, "a Docker engine");
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let root = home.path().join("onyx");
    let name = format!("purge{}", std::process::id());
    let data = root.join("clusters").join(&name).join("data");
    std::fs::create_dir_all(data.join("onyx/postgresql-data")).unwrap();
    std::fs::write(data.join("onyx/postgresql-data/PG_VERSION"), "16").unwrap();
    let args = [
        "cluster",
        "delete",
        "--purge",
        "--name",
        &name,
        "--data-dir",
        root.to_str().unwrap(),
        "--kubeconfig",
    ];
    let kubeconfig = home.path().join("kubeconfig");
    let mut all: Vec<&str> = args.to_vec();
    all.push(kubeconfig.to_str().unwrap());
    let r = onyx_in(home.path(), &all, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!root.exists(), "{} left: {}", root.display(), r.stderr);
    // A data folder that holds something else stays (only the data goes).
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(root.join("notes.txt"), "mine").unwrap();
    let r = onyx_in(home.path(), &all, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!data.exists() && root.join("notes.txt").exists());
}

/// README (Profiles): `render` and `plan` never refuse a profile for the size of the machine they
/// run on, and warn instead "with the same numbers". A profile this machine can't hold (`large`
/// needs 6 CPUs; a machine with more gets the check the other way round) is warned about by
/// both, with the same have/need; one it holds by neither.
#[test]
fn render_warns_as_plan_does_for_a_named_profile() {
    let needs = |stderr: &str| -> Option<String> {
        stderr
            .lines()
            .find(|l| l.starts_with("warning:") && l.contains("`onyx up` would refuse it here"))
            .map(|l| {
                let have = l.split(" has ").nth(1).unwrap().split(';').next().unwrap();
                let need = l
                    .split(" needs ")
                    .nth(1)
                    .unwrap()
                    .split(':')
                    .next()
                    .unwrap();
                format!("{have} / {need}")
            })
    };
    for profile in ["small", "large"] {
        let plan = onyx(&["plan", "--profile", profile]);
        assert_eq!(plan.code, 0, "{}", plan.stderr);
        let render = onyx(&["render", "--profile", profile, "--skip-secrets"]);
        assert_eq!(render.code, 0, "{}", render.stderr);
        assert!(!render.stdout.is_empty());
        assert_eq!(
            needs(&render.stderr),
            needs(&plan.stderr),
            "{profile}: render {:?} vs plan {:?}",
            render.stderr,
            plan.stderr
        );
    }
}

/// Where the own cluster's data lives is said the same way by `cluster --help`, `up --help` and
/// README: the Docker volume `onyx-data`, not a host directory.
#[test]
fn cluster_help_names_the_data_volume_as_readme_does() {
    let readme = include_str!("../../../README.md");
    assert!(readme.contains("`onyx-data`"));
    for args in [["cluster", "--help"], ["up", "--help"]] {
        let r = onyx(&args);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(r.stdout.contains("`onyx-data`"), "{args:?}: {}", r.stdout);
        assert!(!r.stdout.contains("live in a host directory"), "{args:?}");
    }
}

/// Failures to reach the Docker engine, the cluster's API or a kubeconfig are said in onyx's own
/// words (issue #21): no HTTP-library layers (`ServiceError`, `client error (Connect)`, `hyper`,
/// `os error`), no doubly quoted paths, no run of spaces inside a hint, and an engine named by
/// DOCKER_HOST that is not there is what `status` blames (exit 3), not the kubeconfig.
#[test]
fn connection_failures_are_said_in_plain_words() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path().display().to_string();
    let jargon = |stderr: &str| {
        for bad in [
            "ServiceError",
            "client error",
            "hyper",
            "os error",
            "'\"",
            "  ",
        ] {
            assert!(!stderr.contains(bad), "{bad:?} in {stderr}");
        }
    };
    // Docker named by DOCKER_HOST and not there: the engine is blamed, with a hint that does not
    // contradict itself.
    let sock = format!("unix://{h}/nope.sock");
    let r = onyx_in(home.path(), &["status"], &[("DOCKER_HOST", &sock)]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    jargon(&r.stderr);
    assert!(!r.stderr.contains("kubeconfig"), "{}", r.stderr);
    assert!(
        !r.stderr.contains("set DOCKER_HOST to the engine"),
        "{}",
        r.stderr
    );
    snapshot!("status_docker_host_gone", r.stderr.replace(&h, "[HOME]"));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tcp = format!("tcp://127.0.0.1:{port}");
    let r = onyx_in(home.path(), &["images", "pull"], &[("DOCKER_HOST", &tcp)]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    jargon(&r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "DOCKER_HOST ({tcp}) does not answer: connection refused"
        )),
        "{}",
        r.stderr
    );
    // A kubeconfig that isn't there: named once, in words.
    let missing = home.path().join("no-kubeconfig");
    let r = onyx_in(
        home.path(),
        &["status", "--kubeconfig", missing.to_str().unwrap()],
        &[],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    jargon(&r.stderr);
    snapshot!("status_kubeconfig_missing", r.stderr.replace(&h, "[HOME]"));
    // A cluster API that refuses connections.
    let kubeconfig = dead_kubeconfig(home.path());
    let r = onyx_in(
        home.path(),
        &["status", "--kubeconfig", kubeconfig.to_str().unwrap()],
        &[],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    jargon(&r.stderr);
    assert!(
        r.stderr.contains("does not answer: connection refused"),
        "{}",
        r.stderr
    );
}
