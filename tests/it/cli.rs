//! The command line as a user meets it: help texts, `plan`, and the messages for bad flags, bad
//! config and machines that are too small, snapshotted (insta) with temp paths redacted. Also the
//! exit codes and that errors never show a panic or backtrace.

use std::path::Path;
use std::process::{Command, Output, Stdio};

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
    } = cmd.output().unwrap();
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
fn completions_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let r = onyx(&["completions", shell]);
        assert_eq!(r.code, 0, "{shell}");
        assert!(
            r.stdout.contains("render") && r.stdout.contains("plan"),
            "{shell}"
        );
    }
    let r = onyx(&["completions", "tcsh"]);
    assert_eq!(r.code, 2);
}

#[test]
fn render_prints_yaml_and_warns_about_credentials_on_stderr() {
    let r = onyx(&["render", "--profile", "small"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .starts_with("---\napiVersion: v1\nkind: ConfigMap\n")
    );
    // 30 objects: the model server has no cache claim (as Onyx's helm chart); the
    // onyx-indexing record is there with indexing off too.
    assert_eq!(r.stdout.matches("\n---\n").count() + 1, 30);
    assert!(r.stderr.contains("credentials"), "{}", r.stderr);
    // -q silences the note; the data is unchanged in shape.
    let q = onyx(&["render", "--profile", "small", "-q"]);
    assert!(q.stderr.is_empty(), "{}", q.stderr);
}

#[test]
fn closed_stdout_is_not_an_error() {
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_onyx"))
        .args(["render", "--profile", "cluster", "-q"])
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // like `| head -0`
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn readme_documents_every_environment_variable_and_profile_numbers() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for (var, _) in onyx::env_vars::ALL {
        assert!(
            readme.contains(&format!("`{var}`")),
            "README doesn't mention {var}"
        );
    }
    // The profile table's request figures are the rendered ones.
    for name in ["small", "medium", "large"] {
        let r = onyx(&[
            "plan",
            "--profile",
            name,
            "--memory",
            "64GiB",
            "--cpus",
            "16",
            "-o",
            "json",
        ]);
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        let t = &v["totals"];
        let row = format!(
            "| {:.1} GiB / {:.1} CPU | {:.1} GiB |",
            t["memory_request_mib"].as_f64().unwrap() / 1024.0,
            t["cpu_request_m"].as_f64().unwrap() / 1000.0,
            t["memory_limit_mib"].as_f64().unwrap() / 1024.0,
        );
        assert!(
            readme.contains(&row),
            "README's {name} row should read {row}"
        );
    }
}

#[test]
fn open_prints_the_url_and_hands_it_to_browser() {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().unwrap();
    // --print: the URL only, on stdout, from --port or ONYX_PORT.
    let r = onyx_in(home.path(), &["open", "--print", "--port", "4321"], &[]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "http://localhost:4321\n"),
        "{}",
        r.stderr
    );
    let r = onyx_in(home.path(), &["open", "--print"], &[("ONYX_PORT", "5555")]);
    assert_eq!(r.stdout, "http://localhost:5555\n");

    // Headless (no DISPLAY, no BROWSER in the cleared environment): printed, not opened.
    let r = onyx_in(home.path(), &["open"], &[]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "http://localhost:3000\n"),
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
        &["open", "--port", "4000"],
        &[
            ("BROWSER", script.to_str().unwrap()),
            ("SSH_TTY", "/dev/pts/9"),
        ],
    );
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "http://localhost:4000\n"),
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
    assert_eq!(
        std::fs::read_to_string(&got).unwrap(),
        "http://localhost:4000"
    );
    assert!(
        r.stderr.contains("opened http://localhost:4000"),
        "{}",
        r.stderr
    );
}

/// A closed stderr (`onyx … 2>&1 | head -1`) or a full one (`2>/dev/full`) is never a panic: the
/// exit code is the command's own (here `plan`'s 0: it warns on stderr that the machine is too
/// small, and never refuses), not Rust's 101.
#[test]
fn closed_or_full_stderr_is_not_a_panic() {
    let home = tempfile::tempdir().unwrap();
    let args = ["plan", "--memory", "4GiB", "--cpus", "4"];
    let spawn = |stderr: Stdio| {
        Command::new(env!("CARGO_BIN_EXE_onyx"))
            .args(args)
            .env("HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path())
            .env("ONYX_NO_UPDATE_CHECK", "1")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap()
    };
    // The read end closed before onyx writes.
    let mut child = spawn(Stdio::piped());
    drop(child.stderr.take());
    assert_eq!(child.wait().unwrap().code(), Some(0));
    // /dev/full: every write fails with ENOSPC.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let mut child = spawn(Stdio::from(full));
    assert_eq!(child.wait().unwrap().code(), Some(0));
    // A command that talks to a cluster and logs on the way (-vv), into a closed stderr.
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dead_kubeconfig(dir.path());
    let mut child = Command::new(env!("CARGO_BIN_EXE_onyx"))
        .args(["-vv", "status", "--context", "sim", "--kubeconfig"])
        .arg(&kubeconfig)
        .env("HOME", home.path())
        .env("ONYX_NO_UPDATE_CHECK", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take());
    assert_eq!(child.wait().unwrap().code(), Some(3));
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

/// Log lines: none of a library's own (kube's ERROR per refused connection) without -v, so the
/// one error onyx prints stands alone, also with -q; -v shows debug lines, -vv trace lines; the
/// hint names the real context, no placeholder.
#[test]
fn log_levels_and_one_error_for_an_unreachable_cluster() {
    let home = tempfile::tempdir().unwrap();
    let kubeconfig = dead_kubeconfig(home.path());
    let k = kubeconfig.to_str().unwrap();
    let base = ["status", "--context", "sim", "--kubeconfig", k];
    for quiet in [false, true] {
        let mut args = base.to_vec();
        if quiet {
            args.push("-q");
        }
        let r = onyx_in(home.path(), &args, &[]);
        assert_eq!(r.code, 3, "{}", r.stderr);
        let lines: Vec<&str> = r.stderr.lines().collect();
        assert_eq!(lines.len(), 2, "one error and its hint only: {}", r.stderr);
        assert!(lines[0].starts_with("error: the Kubernetes API of context \"sim\""));
        assert!(
            lines[1].contains("`kubectl --context sim get ns`"),
            "{}",
            r.stderr
        );
        assert!(!r.stderr.contains('<'), "a placeholder: {}", r.stderr);
    }
    let mut args = base.to_vec();
    args.push("-v");
    let v = onyx_in(home.path(), &args, &[]);
    assert!(v.stderr.contains("DEBUG"), "{}", v.stderr);
    assert!(!v.stderr.contains("TRACE"), "{}", v.stderr);
    let mut args = base.to_vec();
    args.push("-vv");
    let vv = onyx_in(home.path(), &args, &[]);
    assert!(vv.stderr.contains("TRACE"), "-vv must trace: {}", vv.stderr);
}

/// On a terminal the log lines are coloured, but never with --no-color or NO_COLOR (util-linux
/// `script` gives the command a terminal).
#[test]
fn no_color_also_for_log_lines_on_a_terminal() {
    if Command::new("script").arg("--version").output().is_err() {
        assert!(
            std::env::var("CI").is_err(),
            "`script` (util-linux) is needed"
        );
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let kubeconfig = dead_kubeconfig(home.path());
    let on_a_terminal = |extra: &str, env: &[(&str, &str)]| {
        let line = format!(
            "{} -v {extra} status --context sim --kubeconfig {}",
            env!("CARGO_BIN_EXE_onyx"),
            kubeconfig.display()
        );
        let mut cmd = Command::new("script");
        cmd.args(["-qec", &line, "/dev/null"])
            .env("HOME", home.path())
            .env("ONYX_NO_UPDATE_CHECK", "1")
            .env_remove("NO_COLOR")
            .stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let coloured = on_a_terminal("", &[]);
    assert!(coloured.contains("DEBUG"), "{coloured}");
    assert!(
        coloured.contains('\x1b'),
        "a terminal gets colour: {coloured}"
    );
    for (extra, env) in [("--no-color", &[][..]), ("", &[("NO_COLOR", "1")][..])] {
        let plain = on_a_terminal(extra, env);
        assert!(plain.contains("DEBUG"), "{plain}");
        assert!(!plain.contains('\x1b'), "{extra} {env:?}: {plain:?}");
    }
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
        assert!(std::env::var("CI").is_err(), "no Docker engine");
        return;
    }
    // No test makes the own cluster meanwhile.
    let _own = crate::support::own_cluster_lock_blocking();
    let home = tempfile::tempdir().unwrap();
    let probe = Command::new(env!("CARGO_BIN_EXE_onyx"))
        .args(["cluster", "list", "-o", "json"])
        .env("HOME", home.path())
        .output()
        .unwrap();
    if String::from_utf8_lossy(&probe.stdout).contains("\"name\": \"onyx\"") {
        eprintln!("an own cluster exists on this engine; not checked");
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
        assert!(std::env::var("CI").is_err(), "no Docker engine");
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

/// The rows of the first Markdown table after `heading_line` in README (cells trimmed; header
/// and separator rows left out).
fn readme_table(readme: &str, after: &str) -> Vec<Vec<String>> {
    let start = readme
        .find(after)
        .unwrap_or_else(|| panic!("README lacks {after:?}"));
    readme[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            // `\|` inside a cell is a literal bar.
            l.replace("\\|", "\u{0}")
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().replace('\u{0}', "|"))
                .collect()
        })
        .collect()
}

/// The backticked spans of a cell.
fn spans(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// README's command table against the binary: every command it lists exists, with every flag it
/// shows (and every value it names for a choice); every command the binary has is listed.
#[test]
fn readme_command_table_matches_the_binary() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let rows = readme_table(&readme, "## Commands");
    assert!(rows.len() >= 20, "{rows:?}");
    let mut listed: Vec<String> = Vec::new();
    for row in &rows {
        for span in spans(&row[0]).iter().filter(|s| s.starts_with("onyx ")) {
            let words: Vec<&str> = span.split_whitespace().skip(1).collect();
            // The command path: the leading lowercase words (not flags, values or [options]).
            let path: Vec<&str> = words
                .iter()
                .take_while(|w| {
                    w.chars()
                        .all(|c| c.is_ascii_lowercase() || c == '-' || c == '|')
                        && !w.starts_with('-')
                })
                .copied()
                .collect();
            // `completions bash|zsh|…`: the shells are values, each must be accepted.
            let (path, choices): (Vec<&str>, Vec<&str>) = match path.as_slice() {
                [cmd, values] if values.contains('|') => (vec![*cmd], values.split('|').collect()),
                p => (p.to_vec(), Vec::new()),
            };
            listed.push(path.join(" "));
            let mut args = path.clone();
            args.push("--help");
            let help = onyx(&args);
            assert_eq!(help.code, 0, "{span}: {}", help.stderr);
            for w in &words[path.len()..] {
                let flag = w.trim_matches(|c| c == '[' || c == ']');
                let Some(flag) = flag.strip_prefix('-') else {
                    continue;
                };
                let shown = if let Some(long) = flag.strip_prefix('-') {
                    format!("--{}", long.split('=').next().unwrap())
                } else {
                    format!("-{},", &flag[..1])
                };
                assert!(
                    help.stdout.contains(&shown),
                    "README shows {shown} for `{span}`, `onyx {} --help` lacks it",
                    path.join(" ")
                );
            }
            for shell in choices {
                let r = onyx(&[path[0], shell]);
                assert_eq!(r.code, 0, "`onyx {} {shell}`: {}", path[0], r.stderr);
            }
            // `-o yaml|json`, `-o text|json`: each value is one the flag takes.
            for pair in words.windows(2) {
                if pair[0].trim_start_matches('[') == "-o" && pair[1].contains('|') {
                    for v in pair[1].trim_end_matches(']').split('|') {
                        assert!(
                            help.stdout
                                .lines()
                                .any(|l| l.contains("possible values:")
                                    && l.contains(&format!(" {v}"))),
                            "`{span}`: -o {v} not in the help"
                        );
                    }
                }
            }
        }
    }
    // Every visible command of the binary is in the table.
    let top = onyx(&["--help"]);
    let commands = top
        .stdout
        .split("Commands:")
        .nth(1)
        .unwrap()
        .split("\n\n")
        .next()
        .unwrap()
        .lines()
        .filter_map(|l| {
            let l = l.strip_prefix("  ")?;
            (!l.starts_with(' ')).then(|| l.split_whitespace().next().unwrap().to_string())
        })
        .filter(|c| c != "help")
        .collect::<Vec<_>>();
    assert!(commands.len() >= 15, "{commands:?}");
    for c in commands {
        assert!(
            listed
                .iter()
                .any(|l| l == &c || l.starts_with(&format!("{c} "))),
            "`onyx {c}` is not in README's command table ({listed:?})"
        );
    }
}

/// README's settings table against the binary: each variable is one onyx declares; each flag
/// exists and reads that variable (clap's `[env: …]`) on the commands it belongs to; config keys
/// are accepted in a config file, and a setting with no key ("—") is refused there.
#[test]
fn readme_settings_table_matches_the_binary() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let rows = readme_table(&readme, "## Settings");
    assert!(rows.len() >= 10, "{rows:?}");
    let declared: Vec<&str> = onyx::env_vars::ALL.iter().map(|(v, _)| *v).collect();
    // Where each flag lives (a command whose help must show it).
    let command_of = |flag: &str| -> Vec<&'static str> {
        match flag {
            "--data-dir" => vec!["up", "cluster create"],
            "--context" | "--kubeconfig" => vec!["up", "status"],
            "--registry-mirror" => vec!["up", "images pull"],
            "--profile" | "--indexing" => vec!["up", "render", "plan"],
            "--port" => vec!["up", "open", "status"],
            "-n/--namespace" => vec!["up", "render", "status"],
            _ => vec!["render"],
        }
    };
    let mut seen_vars = 0;
    for row in &rows {
        let (flag_cell, env_cell, key_cell) = (&row[1], &row[2], &row[3]);
        let vars = spans(env_cell);
        for v in &vars {
            assert!(
                declared.contains(&v.as_str()) || v == "KUBECONFIG",
                "README's settings list {v}, which onyx does not declare"
            );
            seen_vars += 1;
        }
        for flag in spans(flag_cell) {
            for cmd in command_of(&flag) {
                let mut args: Vec<&str> = cmd.split(' ').collect();
                args.push("--help");
                let help = onyx(&args).stdout;
                let long = flag.rsplit('/').next().unwrap();
                // The option's own line: `      --context <NAME>` or `  -n, --namespace <NS>`.
                let mut offset = 0;
                let mut at = None;
                for line in help.split_inclusive('\n') {
                    let t = line.trim_start();
                    let t = t.split_once(", ").map_or(
                        t,
                        |(short, rest)| {
                            if short.len() == 2 { rest } else { t }
                        },
                    );
                    if t.starts_with(&format!("{long} ")) || t.trim_end() == long {
                        at = Some(offset);
                        break;
                    }
                    offset += line.len();
                }
                let at = at.unwrap_or_else(|| panic!("`onyx {cmd}` has no {long}"));
                let paragraphs: Vec<&str> = help[at..].split("\n\n").collect();
                let next = paragraphs[1..]
                    .iter()
                    .position(|p| p.trim_start().starts_with('-'))
                    .map_or(paragraphs.len(), |i| i + 1);
                let entry = paragraphs[..next].join("\n\n");
                if let Some(v) = vars.iter().find(|v| v.starts_with("ONYX_")) {
                    assert!(
                        entry.contains(&format!("[env: {v}=")),
                        "`onyx {cmd}` {long} does not read {v}:\n{entry}"
                    );
                }
            }
        }
        // Config keys: accepted with a sample value; "—" keys are not config keys.
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join(".config/onyx");
        std::fs::create_dir_all(&dir).unwrap();
        let keys = spans(key_cell);
        let sample = |k: &str| match k {
            "profile" => "\"small\"",
            "namespace" => "\"onyx\"",
            "port" => "4000",
            other => panic!("README lists config key {other}; give it a sample here"),
        };
        for k in &keys {
            std::fs::write(dir.join("config.toml"), format!("{k} = {}\n", sample(k))).unwrap();
            let r = onyx_in(
                home.path(),
                &["plan", "--memory", "8GiB", "--cpus", "4"],
                &[],
            );
            assert_eq!(r.code, 0, "config key {k}: {}", r.stderr);
        }
        if key_cell == "—"
            && let Some(flag) = spans(flag_cell).first()
        {
            let key = flag.trim_start_matches('-').replace('-', "_");
            std::fs::write(dir.join("config.toml"), format!("{key} = \"x\"\n")).unwrap();
            let r = onyx_in(
                home.path(),
                &["plan", "--memory", "8GiB", "--cpus", "4"],
                &[],
            );
            assert_eq!(
                r.code, 2,
                "{key} is \"—\" in README but accepted: {}",
                r.stderr
            );
        }
    }
    assert!(seen_vars >= 12, "{seen_vars}");
    // And every variable onyx declares is in the table.
    let table_vars: Vec<String> = rows.iter().flat_map(|r| spans(&r[2])).collect();
    for v in declared {
        assert!(
            table_vars.iter().any(|t| t == v),
            "{v} is not in README's settings table"
        );
    }
}

/// README's exit-code table is the binary's: the same codes as the constants, and a case of each
/// that runs here gives it.
#[test]
fn readme_exit_code_table_matches_the_binary() {
    use onyx::error::{EXIT_FAILED, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_REFUSED, EXIT_USAGE};
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let rows = readme_table(&readme, "Exit codes:");
    let codes: Vec<u8> = rows
        .iter()
        .map(|r| r[0].trim_matches('`').parse().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            0,
            EXIT_FAILED,
            EXIT_USAGE,
            EXIT_REFUSED,
            EXIT_INTERNAL,
            EXIT_INTERRUPTED
        ]
    );
    let meaning = |code: u8| &rows[codes.iter().position(|c| *c == code).unwrap()][1];
    assert!(meaning(EXIT_USAGE).contains("bad input"));
    assert!(meaning(EXIT_REFUSED).contains("can't do it"));
    assert!(meaning(EXIT_INTERRUPTED).contains("Ctrl-C"));
    // Bad input: a flag, a config value → 2.
    assert_eq!(onyx(&["plan", "-o", "xml"]).code, i32::from(EXIT_USAGE));
    assert_eq!(
        onyx(&["render", "-n", "Bad_NS"]).code,
        i32::from(EXIT_USAGE)
    );
    // The machine can't: no Docker engine → 3; the releases API unreachable for `self update` → 3.
    let home0 = tempfile::tempdir().unwrap();
    assert_eq!(
        onyx_in(
            home0.path(),
            &["up", "--no-browser"],
            &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")]
        )
        .code,
        i32::from(EXIT_REFUSED)
    );
    let dead = format!(
        "http://127.0.0.1:{}",
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    );
    let home = tempfile::tempdir().unwrap();
    let r = onyx_in(
        home.path(),
        &["self", "update", "--check"],
        &[("ONYX_UPDATE_ROOT", &dead)],
    );
    assert_eq!(r.code, i32::from(EXIT_REFUSED), "{}", r.stderr);
    // A cluster that does not answer → 3.
    let kubeconfig = dead_kubeconfig(home.path());
    let r = onyx_in(
        home.path(),
        &[
            "status",
            "--context",
            "sim",
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(r.code, i32::from(EXIT_REFUSED), "{}", r.stderr);
    // A UI port already in use → 2, before anything else is tried.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let r = onyx_in(
        home.path(),
        &[
            "up",
            "--profile",
            "small",
            "--force",
            "--forward",
            "--port",
            &port,
            "--context",
            "sim",
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(r.code, i32::from(EXIT_USAGE), "{}", r.stderr);
}
