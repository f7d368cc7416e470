//! Stand-ins for two alpine images onyx execs into, so their commands run for real in the
//! envelope the kubelet gives them (issue #20, "Commands run in pods use only what the pinned
//! images contain"): `binaries` only checks a command's program names, and the simulator answers
//! every exec with a canned reply, so a flag the image's program lacks would pass everywhere else.
//!
//! - redis:7.4-alpine: docker-library/redis 7.4-rc/alpine/Dockerfile (c828d8c6, the 7.4 line;
//!   `FROM alpine:3.20`) runs `make -C /usr/src/redis install`, which puts redis-server and
//!   redis-cli in /usr/local/bin (it then md5sums /usr/local/bin/redis-server and runs
//!   `redis-cli --version`), and sets `WORKDIR /data`; `command:` replaces its ENTRYPOINT, so
//!   redis-server runs as the pod's uid directly; its sh is alpine's busybox. Stand-in: the
//!   bookworm rootfs plus Debian's redis-server and redis-cli (redis-tools 7.0.15, bookworm's,
//!   copied from this machine with the shared libraries the rootfs lacks). Known differences: Redis
//!   7.0 rather than 7.4 (PING, EVAL, LLEN, REDISCLI_AUTH and `--no-auth-warning` are older than
//!   both), and dash rather than busybox ash as `sh`.
//! - nginx:1.23.4-alpine: nginxinc/docker-nginx 1.23.4 mainline/alpine-slim/Dockerfile is `FROM
//!   alpine:3.17`, whose only `wget`, `sh` and `awk` are busybox's (alpine 3.17's busybox is the
//!   1.35 line; its aports 3.17-stable APKBUILD and busyboxconfig were not read here). Stand-in:
//!   an image holding only /bin/busybox and its links, from Debian's busybox-static 1.35.0 —
//!   Debian's applet configuration rather than alpine's, so an applet option either config
//!   drops could differ. doctor's wget asks 127.0.0.1:8080, nginx's
//!   listener; a busybox httpd in the pod's network namespace stands in for it.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::run::{run_in_envelope, start_in_envelope};
use super::standin::{self, docker, docker_ok};
use super::{Kind, PodCommand, distinct, every_command};
use crate::support;
use crate::support::bounded::Bounded;

const IMAGE_BOUND: Duration = Duration::from_secs(900);

/// The shared libraries Debian's redis binaries link that the minbase rootfs may lack.
const REDIS_LIBS: &[&str] = &["libatomic.so.1", "liblzf.so.1", "libjemalloc.so.2"];

/// Removes a container on drop (a test that panics leaves nothing running).
struct Gone(String);

impl Drop for Gone {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.0]);
    }
}

fn image_exists(tag: &str) -> bool {
    docker(&["image", "inspect", tag]).status.success()
}

fn build(tag: &str, dir: &Path) {
    let out = Command::new("docker")
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "-q", "-t", tag])
        .arg(dir)
        .output_within(IMAGE_BOUND)
        .expect("docker build runs");
    assert!(
        out.status.success(),
        "docker build of {tag}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Wait until a detached container logs `line`; it must keep running meanwhile.
fn wait_for_log(name: &str, line: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let logs = docker(&["logs", name]);
        let text = String::from_utf8_lossy(&logs.stdout).to_string()
            + &String::from_utf8_lossy(&logs.stderr);
        if text.contains(line) {
            return;
        }
        let running = docker_ok(&["inspect", "-f", "{{.State.Running}}", name]);
        assert!(
            running == "true" && Instant::now() < deadline,
            "{name} did not log {line:?}: {text}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The kubelet expands `$(VAR)` in command and args from the container's env (kubernetes
/// pkg/kubelet/kubelet_pods.go makeEnvironmentVariables / ExpandContainerCommandAndArgs,
/// third_party/forked/golang/expansion); only what the stack's manifests use: plain `$(NAME)`.
fn expand(argv: &[String], env: &std::collections::BTreeMap<String, String>) -> Vec<String> {
    argv.iter()
        .map(|a| {
            let mut out = a.clone();
            for (k, v) in env {
                out = out.replace(&format!("$({k})"), v);
            }
            out
        })
        .collect()
}

/// The redis stand-in, or `None` after the skip gate.
fn redis_image() -> Option<String> {
    if !standin::engine_answers() {
        support::gate::skip_or_fail_part(support::Part::Docker, "a Docker engine (docker CLI)");
        return None;
    }
    let Some(rootfs) = standin::rootfs() else {
        support::skip_or_fail(
            "the bookworm stand-in rootfs (~/.cache/onyx/envelope-rootfs, made by scripts/test.sh)",
        );
        return None;
    };
    let server = Path::new("/usr/bin/redis-server");
    let cli = Path::new("/usr/bin/redis-cli");
    // Copied into the bookworm rootfs, so they must be bookworm's (their glibc, their libraries).
    let bookworm = std::fs::read_to_string("/etc/os-release")
        .is_ok_and(|r| r.lines().any(|l| l == "VERSION_CODENAME=bookworm"));
    if !server.exists() || !cli.exists() || !bookworm {
        support::skip_or_fail("Debian bookworm's redis-server and redis-tools on this machine");
        return None;
    }
    let base = standin::images(&rootfs).base;
    let tag = base.replace("/bookworm:", "/redis:") + "-1";
    if image_exists(&tag) {
        return Some(tag);
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("lib")).unwrap();
    // Debian's redis-server is a link to redis-check-rdb, which acts on its argv[0]: copy the file
    // under the server's name.
    std::fs::copy(server, dir.path().join("redis-server")).unwrap();
    std::fs::copy(cli, dir.path().join("redis-cli")).unwrap();
    for lib in REDIS_LIBS {
        let there = rootfs.join("usr/lib/x86_64-linux-gnu").join(lib);
        let here = Path::new("/usr/lib/x86_64-linux-gnu").join(lib);
        if !there.exists() && here.exists() {
            std::fs::copy(&here, dir.path().join("lib").join(lib)).unwrap();
        }
    }
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!(
            "FROM {base}\n\
             COPY redis-server redis-cli /usr/local/bin/\n\
             COPY lib/ /usr/lib/x86_64-linux-gnu/\n\
             RUN mkdir -p /data && redis-cli --version\n\
             WORKDIR /data\n"
        ),
    )
    .unwrap();
    build(&tag, dir.path());
    Some(tag)
}

/// The nginx image's busybox stand-in, or `None` after the skip gate.
fn busybox_image() -> Option<String> {
    if !standin::engine_answers() {
        support::gate::skip_or_fail_part(support::Part::Docker, "a Docker engine (docker CLI)");
        return None;
    }
    let busybox = Path::new("/bin/busybox");
    if !busybox.exists() {
        support::skip_or_fail("busybox-static's /bin/busybox");
        return None;
    }
    let tag = "onyx-test-envelope/busybox:1";
    if image_exists(tag) {
        return Some(tag.into());
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(busybox, dir.path().join("busybox")).unwrap();
    // The pages the HTTP stand-in serves: nginx's /api/health (the API's) and / (the web's).
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM scratch\n\
         COPY busybox /bin/busybox\n\
         RUN [\"/bin/busybox\", \"mkdir\", \"-p\", \"/usr/bin\", \"/sbin\", \"/usr/sbin\", \"/tmp\", \"/www/api\"]\n\
         RUN [\"/bin/busybox\", \"--install\", \"-s\"]\n\
         RUN [\"/bin/sh\", \"-c\", \"echo ok > /www/api/health && echo ok > /www/index.html && chmod 1777 /tmp\"]\n",
    )
    .unwrap();
    build(tag, dir.path());
    Some(tag.into())
}

fn image_commands(prefix: &str) -> Vec<PodCommand> {
    distinct(
        every_command()
            .into_iter()
            .filter(|c| c.image.starts_with(prefix))
            .collect(),
    )
}

/// Every command of the redis pod (the server itself and its exec probes) and doctor's execs in
/// it (`redis-cli ping`, the queue lengths), run in the redis container's envelope: the probes
/// and execs in the server's network namespace, as a pod's containers share one.
#[test]
fn redis_commands_and_doctors_execs_run_in_their_envelope_against_a_real_redis() {
    let commands = image_commands("redis:");
    let mains: Vec<&PodCommand> = commands.iter().filter(|c| c.kind == Kind::Main).collect();
    assert!(!mains.is_empty(), "the redis pod runs redis-server");
    let Some(image) = redis_image() else {
        return;
    };
    let unique = support::docker::unique("envelope-redis");
    let doctor_ping: Vec<&onyx::doctor::ServiceProbe> = onyx::doctor::SERVICE_PROBES
        .iter()
        .filter(|p| p.container == "redis")
        .collect();
    assert!(!doctor_ping.is_empty(), "doctor pings redis");
    let mut ran = BTreeSet::new();
    let mut failures = Vec::new();
    for (i, main) in mains.iter().enumerate() {
        let server = format!("{unique}-server-{i}");
        let _gone = Gone(server.clone());
        start_in_envelope(
            &image,
            "none",
            &server,
            main,
            &expand(&main.argv, &main.envelope.env),
        );
        wait_for_log(&server, "Ready to accept connections");
        ran.insert(main.label());
        let net = format!("container:{server}");
        // The rendered probes of this pod.
        for (j, c) in commands
            .iter()
            .filter(|c| matches!(c.kind, Kind::Probe(_)) && c.envelope == main.envelope)
            .enumerate()
        {
            let out = run_in_envelope(
                &image,
                &net,
                &format!("{server}-probe-{j}"),
                c,
                &c.argv,
                Duration::from_secs(30),
            );
            ran.insert(c.label());
            if out.exit != Some(0) {
                failures.push(format!("{}: exit {:?}: {}", c.label(), out.exit, out.logs));
            }
        }
        // doctor's ping, judged as doctor judges it.
        for (j, p) in doctor_ping.iter().enumerate() {
            let argv: Vec<String> = p.command.iter().map(|s| s.to_string()).collect();
            let out = run_in_envelope(
                &image,
                &net,
                &format!("{server}-doctor-{j}"),
                main,
                &argv,
                Duration::from_secs(30),
            );
            if let Err(e) = (p.judge)(out.exit == Some(0), &out.logs) {
                failures.push(format!("doctor {}: {e}: {}", p.check, out.logs));
            }
        }
        // doctor's queue lengths, with tasks waiting in a queue no worker consumes at priority 2
        // (the `<queue>:2` key Onyx's counting adds in).
        docker_ok(&[
            "exec",
            &server,
            "redis-cli",
            "-n",
            "15",
            "RPUSH",
            "user_file_delete:2",
            "a",
            "b",
        ]);
        let out = run_in_envelope(
            &image,
            &net,
            &format!("{server}-queues"),
            main,
            &onyx::doctor_workers::queue_command(),
            Duration::from_secs(30),
        );
        match onyx::doctor_workers::judge_queues(&out.logs) {
            Err(e) if out.exit == Some(0) && e.contains("user_file_delete: 2 tasks") => {}
            verdict => failures.push(format!(
                "doctor's queue lengths: exit {:?}, {verdict:?}: {}",
                out.exit, out.logs
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    for c in &commands {
        assert!(ran.contains(&c.label()), "{} did not run", c.label());
    }
}

/// doctor's two nginx execs (`wget -q -O /dev/null -S … | awk`), in the nginx container's
/// envelope on the busybox stand-in, against an HTTP server on nginx's 127.0.0.1:8080.
#[test]
fn doctors_nginx_execs_run_on_busybox_as_the_alpine_image_carries_it() {
    let nginx = image_commands("nginx:")
        .into_iter()
        .find(|c| c.container == "nginx" && c.kind == Kind::Main)
        .expect("the nginx container");
    let probes: Vec<&onyx::doctor::ServiceProbe> = onyx::doctor::SERVICE_PROBES
        .iter()
        .filter(|p| p.container == "nginx")
        .collect();
    assert_eq!(probes.len(), 2, "doctor asks nginx for the API and the web");
    let Some(image) = busybox_image() else {
        return;
    };
    let unique = support::docker::unique("envelope-nginx");
    let http = format!("{unique}-http");
    let _gone = Gone(http.clone());
    // A stand-in for nginx's listener: busybox httpd (daemonized), up once it answers.
    docker_ok(&[
        "run",
        "-d",
        "--name",
        &http,
        "--network",
        "none",
        &image,
        "sh",
        "-c",
        "httpd -p 127.0.0.1:8080 -h /www && \
         until wget -q -O /dev/null http://127.0.0.1:8080/; do sleep 0.2; done && \
         echo http up && exec sleep 600",
    ]);
    wait_for_log(&http, "http up");
    let mut failures = Vec::new();
    for (i, p) in probes.iter().enumerate() {
        let argv: Vec<String> = p.command.iter().map(|s| s.to_string()).collect();
        let out = run_in_envelope(
            &image,
            &format!("container:{http}"),
            &format!("{unique}-doctor-{i}"),
            &nginx,
            &argv,
            Duration::from_secs(30),
        );
        match (p.judge)(out.exit == Some(0), &out.logs) {
            Ok(d) if d == "HTTP 200" => {}
            verdict => failures.push(format!(
                "doctor {}: exit {:?}, {verdict:?}: {}",
                p.check, out.exit, out.logs
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
