//! The Celery queue reading of `onyx doctor` (src/doctor_workers.rs) against a **real Redis**
//! (Debian's redis-server, started here on 127.0.0.1): the very command doctor runs in the redis
//! pod, with its real `redis-cli`, counts Onyx's priority lists (`<queue>`, `<queue>:1` … `:4`,
//! `backend/onyx/background/celery/celery_redis.py`) on the broker database 15 with the password
//! from REDISCLI_AUTH, and the judge reads its output. Only the port differs from the pod (a
//! `redis-cli` wrapper on PATH adds `-p`).

use crate::support::bounded::{BOUND, Bounded};

use crate::support;

use std::process::Command;
use std::time::{Duration, Instant};

use onyx::doctor_workers::{judge_queues, queue_command};

#[test]
fn doctor_counts_celery_queues_in_a_real_redis() {
    let (Some(server), Some(cli)) = (support::which("redis-server"), support::which("redis-cli"))
    else {
        support::skip_or_fail("redis-server and redis-cli (Debian's redis-server)");
        return;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let mut redis = Command::new(&server)
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args([
            "--save",
            "",
            "--appendonly",
            "no",
            "--requirepass",
            "s3cret",
        ])
        .arg("--dir")
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let guard = scopeguard(&mut redis);
    let cli_at = |args: &[&str]| {
        Command::new(&cli)
            .args([
                "-p",
                &port.to_string(),
                "--no-auth-warning",
                "-a",
                "s3cret",
                "-n",
                "15",
            ])
            .args(args)
            .output_within(BOUND)
            .unwrap()
    };
    let started = Instant::now();
    while !String::from_utf8_lossy(&cli_at(&["ping"]).stdout).contains("PONG") {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "redis did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Three priorities of docprocessing, the primary's queue, a queue nobody consumes.
    for (key, n) in [
        ("docprocessing", 3),
        ("docprocessing:2", 2),
        ("celery:4", 1),
        ("user_file_delete", 1),
    ] {
        for i in 0..n {
            cli_at(&["lpush", key, &format!("task-{i}")]);
        }
    }
    // Another database is not the broker's.
    Command::new(&cli)
        .args([
            "-p",
            &port.to_string(),
            "--no-auth-warning",
            "-a",
            "s3cret",
            "-n",
            "0",
        ])
        .args(["lpush", "docprocessing", "elsewhere"])
        .output_within(BOUND)
        .unwrap();

    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let wrapper = bin.join("redis-cli");
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nexec {} -p {port} \"$@\"\n", cli.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cmd = queue_command();
    let out = Command::new(&cmd[0])
        .args(&cmd[1..])
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .env("REDISCLI_AUTH", "s3cret")
        .output_within(BOUND)
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.split("\n--\n").next().unwrap();
    assert!(first.lines().any(|l| l == "docprocessing 5"), "{text}");
    assert!(first.lines().any(|l| l == "celery 1"), "{text}");
    assert!(first.lines().any(|l| l == "monitoring 0"), "{text}");
    let verdict = judge_queues(&text).unwrap_err();
    assert!(verdict.contains("user_file_delete: 1 tasks"), "{verdict}");
    drop(guard);
}

struct Kill<'a>(&'a mut std::process::Child);
impl Drop for Kill<'_> {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
fn scopeguard(c: &mut std::process::Child) -> Kill<'_> {
    Kill(c)
}
