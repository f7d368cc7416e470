//! The `onyx` binary as the tests run it ([`OnyxCommand`]): an isolated home (HOME and the XDG
//! dirs in the test's temporary directory), none of the caller's `ONYX_*`, `KUBECONFIG` or
//! `DOCKER_HOST`, `NO_COLOR`, no update check, no stdin, a bounded wait, and a failed test when
//! onyx panics.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// What one run of onyx gave.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?} after {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.took, self.stdout, self.stderr
        )
    }
}

/// One `onyx` invocation being put together.
pub struct OnyxCommand {
    cmd: tokio::process::Command,
    bound: Duration,
    /// Arguments that go after all others (the cluster's).
    tail: Vec<std::ffi::OsString>,
}

impl OnyxCommand {
    /// onyx with `home` as HOME (config, data and cache below it) and no Docker engine (sizing
    /// uses the host, quickly; `env_remove("DOCKER_HOST")` lets it search the usual sockets).
    pub fn new(home: &Path) -> OnyxCommand {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_onyx"));
        isolate(&mut cmd, home);
        OnyxCommand {
            cmd,
            bound: Duration::from_secs(90),
            tail: Vec::new(),
        }
    }

    /// Against a cluster: `--kubeconfig`, `--context` and `-n` after the other arguments.
    pub fn cluster(home: &Path, kubeconfig: &Path, context: &str, namespace: &str) -> OnyxCommand {
        let mut c = OnyxCommand::new(home);
        c.tail = ["--kubeconfig".as_ref(), kubeconfig.as_os_str()]
            .into_iter()
            .chain(["--context", context, "-n", namespace].map(OsStr::new))
            .map(Into::into)
            .collect();
        c
    }

    pub fn args<I, S>(mut self, args: I) -> OnyxCommand
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    /// An option with a path value (`--kubeconfig FILE`).
    pub fn arg_path(mut self, option: &str, path: &Path) -> OnyxCommand {
        self.cmd.arg(option).arg(path);
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> OnyxCommand {
        self.cmd.env(key, value);
        self
    }

    pub fn env_remove(mut self, key: &str) -> OnyxCommand {
        self.cmd.env_remove(key);
        self
    }

    /// Lets onyx reach the caller's Docker engine: `DOCKER_HOST` as the caller has it, else none
    /// (onyx then searches the usual sockets).
    pub fn with_docker(mut self) -> OnyxCommand {
        match std::env::var_os("DOCKER_HOST") {
            Some(v) => self.cmd.env("DOCKER_HOST", v),
            None => self.cmd.env_remove("DOCKER_HOST"),
        };
        self
    }

    /// Fail the test when onyx runs longer than `secs` (90 unless told).
    pub fn bound(mut self, secs: u64) -> OnyxCommand {
        self.bound = Duration::from_secs(secs);
        self
    }

    /// The command itself, for a test that changes more of it or signals the process.
    pub fn into_command(mut self) -> tokio::process::Command {
        self.cmd.args(&self.tail);
        self.cmd
    }

    /// The process, for a test that signals it or reads it as it runs.
    pub fn spawn(self) -> (tokio::process::Child, Instant, Duration) {
        let bound = self.bound;
        let started = Instant::now();
        let child = self.into_command().spawn().expect("onyx starts");
        (child, started, bound)
    }

    /// Run to the end within the bound.
    pub async fn run(self) -> Run {
        let (child, started, bound) = self.spawn();
        finish(child, started, bound).await
    }
}

impl OnyxCommand {
    /// Run to the end within the bound, from a test that is not async, or from inside an async
    /// test's runtime: a runtime of its own on a thread of its own (blocking on a second runtime
    /// on the caller's thread would panic inside an async test).
    pub fn run_blocking(self) -> Run {
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the command")
                .block_on(self.run())
        })
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }
}

/// Isolates `cmd` in `home` (see the module's header): HOME and the XDG dirs below it, none of
/// the caller's `ONYX_*`, `KUBECONFIG` or `DOCKER_HOST` (a dead engine instead), `NO_COLOR`, no
/// update check, no stdin, output captured, killed when dropped.
pub fn isolate(cmd: &mut tokio::process::Command, home: &Path) {
    for (k, _) in std::env::vars() {
        if k.starts_with("ONYX_") || k == "KUBECONFIG" || k == "DOCKER_HOST" {
            cmd.env_remove(k);
        }
    }
    cmd.env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("xdg-data"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("ONYX_NO_UPDATE_CHECK", "1")
        .env("NO_COLOR", "1")
        // No Docker engine: sizing uses the host, quickly.
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
}

/// Waits for a spawned onyx within `bound`, and fails the test on a panic.
pub async fn finish(child: tokio::process::Child, started: Instant, bound: Duration) -> Run {
    let out = tokio::time::timeout(bound, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("onyx did not finish within {bound:?}"))
        .expect("onyx runs");
    let run = Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        took: started.elapsed(),
    };
    assert!(!run.stderr.contains("panicked"), "onyx panicked: {run:?}");
    run
}
