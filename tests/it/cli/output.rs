//! Where output goes and what it looks like when the streams misbehave: data on stdout, warnings
//! on stderr; a closed stdout is not an error and a closed or full stderr not a panic; log levels
//! with one error for an unreachable cluster; no colour under `NO_COLOR`, log lines included;
//! completions for every shell.

use crate::support::bounded::{BOUND, Bounded, BoundedChild};

use super::*;

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
    let out = child.wait_with_output_within(BOUND).unwrap();
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
    assert_eq!(child.wait_within(BOUND).unwrap().code(), Some(0));
    // /dev/full: every write fails with ENOSPC.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let mut child = spawn(Stdio::from(full));
    assert_eq!(child.wait_within(BOUND).unwrap().code(), Some(0));
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
    assert_eq!(child.wait_within(BOUND).unwrap().code(), Some(3));
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
    if Command::new("script")
        .arg("--version")
        .output_within(BOUND)
        .is_err()
    {
        crate::support::skip_or_fail("`script` (util-linux)");
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
        let out = cmd.output_within(BOUND).unwrap();
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
