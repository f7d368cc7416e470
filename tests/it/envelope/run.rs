//! The backend commands, run as real containers in their envelope on the stand-in (see
//! `standin`): `docker run --user UID:GID --group-add FSGROUP --cap-drop ALL --security-opt
//! no-new-privileges --read-only --tmpfs EMPTYDIR --memory LIMIT -e ...` (TESTING.md "A pod's
//! envelope, for real"; kubelet: emptyDirs are made 0777, pkg/volume/emptydir/empty_dir.go, and
//! no swap). Every wait is bounded.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::binaries::programs;
use super::standin::{self, Images, Peers, docker, docker_ok};
use super::{PodCommand, distinct, every_command};
use crate::support;
use crate::support::bounded::BoundedChild;

const BACKEND: &str = "onyxdotapp/onyx-backend:v2.3.0";

/// Onyx's own programs, which only the real image carries (its Python packages and code): a
/// command calling one can't run on the stand-in. `migrate`, the API and the workers are
/// verified by hand with the real v2.3.0 backend (issue #20: migrations, start-up, workers);
/// here their envelope is checked for what Onyx's import needs (`onyx_programs_…` below).
const ONYX_PROGRAMS: &[&str] = &[
    "alembic",
    "uvicorn",
    "supervisord",
    "supervisorctl",
    "/app/scripts/supervisord_entrypoint.sh",
];

/// What importing Onyx's code takes, measured with the real v2.3.0 backend (issue #20 item 4:
/// the import that builds alembic's revision map peaks at ~172 MiB).
const ONYX_IMPORT_MIB: u64 = 172;

fn runs_onyx(c: &PodCommand) -> bool {
    let text = c.argv.join(" ");
    programs(&c.argv)
        .iter()
        .any(|p| ONYX_PROGRAMS.contains(&p.as_str()))
        || text.contains("import alembic")
        || text.contains("from alembic")
        || text.contains("from onyx")
        || text.contains("import onyx")
}

/// The outcome of one container run.
pub(super) struct Outcome {
    pub(super) exit: Option<i64>,
    pub(super) oom: bool,
    pub(super) logs: String,
}

/// The `docker run` arguments that give one container its envelope, up to the image.
fn envelope_args(network: &str, name: &str, c: &PodCommand) -> Vec<String> {
    let e = &c.envelope;
    let mut args: Vec<String> = vec![
        "--name".into(),
        name.into(),
        "--network".into(),
        network.into(),
        "--user".into(),
        format!("{}:{}", e.uid, e.gid),
    ];
    for g in &e.groups {
        args.extend(["--group-add".into(), g.to_string()]);
    }
    if e.drop_all {
        args.extend(["--cap-drop".into(), "ALL".into()]);
    }
    for cap in &e.cap_add {
        args.extend(["--cap-add".into(), cap.clone()]);
    }
    if e.no_new_privileges {
        args.extend(["--security-opt".into(), "no-new-privileges".into()]);
    }
    if e.read_only_root {
        args.push("--read-only".into());
    }
    for (path, size) in &e.empty_dirs {
        let size = size.map(|m| format!(",size={m}m")).unwrap_or_default();
        args.extend(["--tmpfs".into(), format!("{path}:rw,exec,mode=0777{size}")]);
    }
    if let Some(m) = e.memory_mib {
        args.extend([
            "--memory".into(),
            format!("{m}m"),
            "--memory-swap".into(),
            format!("{m}m"),
        ]);
    }
    for (k, v) in &e.env {
        args.extend(["-e".into(), format!("{k}={v}")]);
    }
    args
}

/// Start one command in its envelope, detached (a pod's long-running main container, whose
/// network namespace its probes then join as `container:NAME`).
pub(super) fn start_in_envelope(
    image: &str,
    network: &str,
    name: &str,
    c: &PodCommand,
    argv: &[String],
) {
    let mut args: Vec<String> = vec!["run".into(), "-d".into()];
    args.extend(envelope_args(network, name, c));
    args.push(image.into());
    args.extend(argv.iter().cloned());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    docker_ok(&refs);
}

/// `docker run` one command in its envelope, on `network`; `None` exit: still running at
/// `bound` (then removed).
pub(super) fn run_in_envelope(
    image: &str,
    network: &str,
    name: &str,
    c: &PodCommand,
    argv: &[String],
    bound: Duration,
) -> Outcome {
    let mut args: Vec<String> = vec!["run".into()];
    args.extend(envelope_args(network, name, c));
    args.push(image.into());
    args.extend(argv.iter().cloned());
    let mut child = Command::new("docker")
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("docker run starts");
    let deadline = Instant::now() + bound;
    let finished = loop {
        if child.try_wait().unwrap().is_some() {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let logs = docker(&["logs", name]);
    let logs =
        String::from_utf8_lossy(&logs.stdout).to_string() + &String::from_utf8_lossy(&logs.stderr);
    let state = docker_ok(&[
        "inspect",
        "-f",
        "{{.State.ExitCode}} {{.State.OOMKilled}} {{.State.Running}}",
        name,
    ]);
    let _ = docker(&["rm", "-f", name]);
    let _ = child.kill();
    let _ = child.wait_within(Duration::from_secs(30));
    let mut parts = state.split_whitespace();
    let code: i64 = parts.next().unwrap().parse().unwrap();
    let oom = parts.next() == Some("true");
    Outcome {
        exit: finished.then_some(code),
        oom,
        logs,
    }
}

/// The stand-in and the peers, or `None` after the skip gate (Docker, the rootfs).
struct Bench {
    images: Images,
    peers: Peers,
    unique: String,
    db: String,
    pg_port: String,
    /// The rendered PostgreSQL user: `migrate` runs as it, so it owns alembic_version.
    user: String,
}

fn bench(test: &str, backend: &[PodCommand]) -> Option<Bench> {
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
    let images = standin::images(&rootfs);
    // Every Service of the stack answers on the test network under its own name.
    let creds = onyx::stack::secrets::Credentials::generate();
    let mut services = BTreeSet::new();
    for p in super::PROFILES {
        for r in super::render_profile(p, onyx::stack::indexing::Indexing::on(p), &creds) {
            match &r.object {
                onyx::stack::render::Object::Service(s) => {
                    services.insert(s.metadata.name.clone().unwrap());
                }
                // A StatefulSet's pods are named `<set>-<ordinal>.<serviceName>` in DNS.
                onyx::stack::render::Object::StatefulSet(s) => {
                    let spec = s.spec.as_ref().unwrap();
                    for i in 0..spec.replicas.unwrap_or(1) {
                        services.insert(format!(
                            "{}-{i}.{}",
                            s.metadata.name.as_deref().unwrap(),
                            spec.service_name.as_deref().unwrap_or_default()
                        ));
                    }
                }
                _ => {}
            }
        }
    }
    let env = &backend
        .iter()
        .find(|c| c.envelope.env.contains_key("POSTGRES_PASSWORD"))
        .expect("a backend command with PostgreSQL's credentials")
        .envelope
        .env;
    let unique = support::docker::unique(test);
    let db = env["POSTGRES_DB"].clone();
    let pg_port = env["POSTGRES_PORT"].clone();
    let peers = Peers::start(
        &images.base,
        &unique,
        &services,
        &env["POSTGRES_USER"],
        &env["POSTGRES_PASSWORD"],
        &db,
        &pg_port,
    );
    Some(Bench {
        images,
        peers,
        unique,
        db,
        pg_port,
        user: env["POSTGRES_USER"].clone(),
    })
}

/// All backend commands, with every profile's generated credentials replaced by one set (the
/// peers' PostgreSQL holds one user).
fn backend_commands() -> Vec<PodCommand> {
    let all: Vec<PodCommand> = every_command()
        .into_iter()
        .filter(|c| c.image == BACKEND)
        .collect();
    let reference = all
        .iter()
        .find(|c| c.envelope.env.contains_key("POSTGRES_PASSWORD"))
        .expect("credentials")
        .envelope
        .env
        .clone();
    let mut out = distinct(all);
    for c in &mut out {
        for (k, v) in c.envelope.env.iter_mut() {
            if (k.contains("PASSWORD") || k.contains("SECRET") || k.contains("ACCESS_KEY"))
                && let Some(r) = reference.get(k)
            {
                *v = r.clone();
            }
        }
    }
    out
}

fn at_head(b: &Bench) {
    let heads = onyx::stack::release::ALEMBIC_HEADS;
    let values: Vec<String> = heads.iter().map(|h| format!("('{h}')")).collect();
    b.peers.sql(
        &b.db,
        &b.pg_port,
        &format!(
            "SET ROLE \"{}\"; DROP TABLE IF EXISTS alembic_version; \
             CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY); \
             INSERT INTO alembic_version VALUES {}",
            b.user,
            values.join(",")
        ),
    );
}

#[test]
fn every_backend_command_runs_in_its_envelope_on_the_stand_in() {
    let commands = backend_commands();
    let Some(b) = bench("envelope-run", &commands) else {
        return;
    };
    // The database as the API's `migrate` leaves it: at the release's head.
    at_head(&b);
    let mut ran = BTreeSet::new();
    let mut failures = Vec::new();
    for (i, c) in commands.iter().enumerate() {
        if runs_onyx(c) {
            continue; // the real image's programs: onyx_programs_… below
        }
        assert!(
            c.envelope.other_mounts.is_empty(),
            "{}: mounts {:?} are not reproduced here",
            c.label(),
            c.envelope.other_mounts
        );
        let name = format!("{}-{i}", b.unique);
        let out = run_in_envelope(
            &b.images.backend,
            &b.peers.network,
            &name,
            c,
            &c.argv,
            Duration::from_secs(90),
        );
        ran.insert(c.container.clone());
        if out.exit != Some(0) {
            failures.push(format!(
                "{}: exit {:?}{}\n{}",
                c.label(),
                out.exit,
                if out.oom { " (OOM-killed)" } else { "" },
                out.logs.trim()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // Coverage: a command that silently fell out of the runnable set would pass here.
    for must in [
        "wait-for-dependencies",
        "image-caches",
        "wait-for-api-migrations",
    ] {
        assert!(ran.contains(must), "{must} did not run (ran {ran:?})");
    }
}

#[test]
fn the_image_caches_copy_leaves_uid_1001_a_readable_cache() {
    let commands = backend_commands();
    let Some(b) = bench("envelope-caches", &commands) else {
        return;
    };
    let c = commands
        .iter()
        .find(|c| c.container == "image-caches")
        .expect("image-caches");
    // The copy, then what the API (uid 1001) reads through NLTK_DATA and HF_HOME, in one
    // container: the emptyDir is a tmpfs that lives as long as the container here.
    let mut argv = c.argv.clone();
    let script = argv.last_mut().unwrap();
    script.push_str(
        "; setpriv --reuid=1001 --regid=1001 --clear-groups cat \
         /onyx-cache/nltk_data/corpora/stopwords/english \
         /onyx-cache/huggingface/hub/models--nomic-ai--nomic-embed-text-v1/snapshots/0000000000000000000000000000000000000000/tokenizer.json",
    );
    // setpriv needs CAP_SETUID/SETGID to drop to 1001; give only those back for the read check.
    let mut c2 = c.clone();
    c2.envelope.cap_add = vec!["SETUID".into(), "SETGID".into()];
    c2.envelope.no_new_privileges = false;
    let out = run_in_envelope(
        &b.images.backend,
        &b.peers.network,
        &format!("{}-caches", b.unique),
        &c2,
        &argv,
        Duration::from_secs(60),
    );
    assert_eq!(out.exit, Some(0), "{}", out.logs);
    assert!(out.logs.contains("a about above"), "{}", out.logs);
    assert!(out.logs.contains("\"version\""), "{}", out.logs);
}

/// A restarted pod keeps its emptyDir and runs its init containers again, after the API (uid
/// 1001) has written into the cache (another model's tokenizer, downloaded online): the second
/// copy must still exit 0, in the same envelope (no CAP_FOWNER for a chmod of 1001's files).
#[test]
fn the_image_caches_copy_runs_again_on_a_cache_the_api_has_written_to() {
    let commands = backend_commands();
    let Some(b) = bench("envelope-caches-again", &commands) else {
        return;
    };
    let c = commands
        .iter()
        .find(|c| c.container == "image-caches")
        .expect("image-caches");
    // Each run is its own `sh -c` (the script through the environment): inside an `&&` list
    // the script's `set -e` would be ignored and a failing chmod would pass unseen.
    let mut c2 = c.clone();
    c2.envelope
        .env
        .insert("IMAGE_CACHES".into(), c.argv.last().unwrap().clone());
    c2.envelope.cap_add = vec!["SETUID".into(), "SETGID".into()];
    c2.envelope.no_new_privileges = false;
    let argv: Vec<String> = vec![
        "/bin/sh".into(),
        "-c".into(),
        "/bin/sh -c \"$IMAGE_CACHES\" && setpriv --reuid=1001 --regid=1001 --clear-groups /bin/sh -c \
         'mkdir -p /onyx-cache/huggingface/hub/models--intfloat--e5-base-v2 && \
          echo downloaded > /onyx-cache/huggingface/hub/models--intfloat--e5-base-v2/tokenizer.json' \
         && /bin/sh -c \"$IMAGE_CACHES\" && echo second-run-ok"
            .into(),
    ];
    let out = run_in_envelope(
        &b.images.backend,
        &b.peers.network,
        &format!("{}-caches-again", b.unique),
        &c2,
        &argv,
        Duration::from_secs(60),
    );
    assert_eq!(out.exit, Some(0), "{}", out.logs);
    assert!(out.logs.contains("second-run-ok"), "{}", out.logs);
}

#[test]
fn the_workers_wait_holds_while_the_database_is_behind_the_release() {
    let commands = backend_commands();
    let Some(b) = bench("envelope-behind", &commands) else {
        return;
    };
    b.peers.sql(
        &b.db,
        &b.pg_port,
        &format!(
            "SET ROLE \"{}\"; \
             CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY); \
             INSERT INTO alembic_version VALUES ('09995b8811eb')",
            b.user
        ),
    );
    let c = commands
        .iter()
        .find(|c| c.container == "wait-for-api-migrations")
        .expect("the workers' wait");
    let out = run_in_envelope(
        &b.images.backend,
        &b.peers.network,
        &format!("{}-behind", b.unique),
        c,
        &c.argv,
        Duration::from_secs(15),
    );
    assert_eq!(out.exit, None, "it must still wait: {}", out.logs);
    assert!(
        out.logs.contains("09995b8811eb") && out.logs.contains("waiting for the API server"),
        "{}",
        out.logs
    );
}

#[test]
fn onyx_programs_get_a_writable_log_directory_and_the_memory_their_import_takes() {
    // Onyx's logger opens /var/log/onyx/<LOG_FILE_NAME>_{debug,info,notice}.log at import when
    // DANSWER_RUNNING_IN_DOCKER is "true" (onyx/utils/logger.py at v2.3.0, setup_logger;
    // the image's ENV sets it): every container that runs Onyx's code must be able to open it.
    let commands = backend_commands();
    let onyx: Vec<&PodCommand> = commands.iter().filter(|c| runs_onyx(c)).collect();
    assert!(
        onyx.iter().any(|c| c.container == "migrate"),
        "migrate runs Onyx's migrations"
    );
    let mut small = Vec::new();
    for c in &onyx {
        if let Some(m) = c.envelope.memory_mib
            && m < ONYX_IMPORT_MIB
        {
            small.push(format!("{}: {m} MiB < {ONYX_IMPORT_MIB} MiB", c.label()));
        }
    }
    assert!(small.is_empty(), "{}", small.join("\n"));
    let Some(b) = bench("envelope-logs", &commands) else {
        return;
    };
    let probe: Vec<String> = [
        "python3",
        "-c",
        "import os\nassert os.environ.get('DANSWER_RUNNING_IN_DOCKER') == 'true'\n\
         os.makedirs('/var/log/onyx', exist_ok=True)\n\
         open('/var/log/onyx/onyx_debug.log', 'a').close()\nprint('log ok')",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut failures = Vec::new();
    for (i, c) in onyx.iter().enumerate() {
        let out = run_in_envelope(
            &b.images.backend,
            &b.peers.network,
            &format!("{}-log-{i}", b.unique),
            c,
            &probe,
            Duration::from_secs(30),
        );
        if out.exit != Some(0) {
            failures.push(format!("{}: {}", c.label(), out.logs.trim()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Images every command of which runs on a stand-in in `alpine` (each test there fails when one
/// of the image's rendered commands did not run).
const RUN_ON_STANDINS: &[&str] = &["redis:7.4-alpine"];

/// Images whose commands don't run here, and why: their images can't be pulled and no stand-in
/// carries their programs. Their commands are held to the image's binaries (`binaries`).
const NOT_RUN_HERE: &[(&str, &str)] = &[
    (
        "postgres:15.2-alpine",
        "pg_isready probes: the postgres image's client, not built here",
    ),
    (
        "nginx:1.23.4-alpine",
        "nginx's own command: exercised by tests/it/nginx_gateway (doctor's busybox wget runs in \
         `alpine`)",
    ),
    (
        "onyxdotapp/onyx-web-server:v2.3.0",
        "node probes: the Next.js server isn't built here",
    ),
    (
        "onyxdotapp/onyx-model-server:v2.3.0",
        "uvicorn: the model server's code",
    ),
    (
        "minio/minio:RELEASE.2025-07-23T15-54-02Z-cpuv1",
        "minio's args: the server itself",
    ),
];

#[test]
fn every_command_is_run_here_or_named_with_the_reason_it_is_not() {
    let mut unaccounted = BTreeSet::new();
    for c in every_command() {
        let accounted = if c.image == BACKEND || RUN_ON_STANDINS.contains(&c.image.as_str()) {
            true // run on a stand-in, or (Onyx's programs) checked for its envelope above
        } else {
            NOT_RUN_HERE.iter().any(|(image, _)| *image == c.image)
        };
        if !accounted {
            unaccounted.insert(format!("{} ({})", c.label(), c.image));
        }
    }
    assert!(
        unaccounted.is_empty(),
        "commands in images with no stand-in and no stated reason:\n{}",
        unaccounted.into_iter().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn postgres_probes_answer_in_their_envelope_next_to_a_real_postgresql() {
    // The probes run in the PostgreSQL pod's envelope (uid 70, no capabilities, read-only root)
    // in the peers' network namespace, as a pod's containers share one: 127.0.0.1:5432 is the
    // peers' real PostgreSQL 15. pg_isready is Debian's (PostgreSQL 15, as the image's own).
    let commands = backend_commands();
    let probes: Vec<PodCommand> = distinct(
        every_command()
            .into_iter()
            .filter(|c| c.image.starts_with("postgres:") && matches!(c.kind, super::Kind::Probe(_)))
            .collect(),
    );
    assert!(!probes.is_empty(), "the postgresql pod has exec probes");
    let Some(b) = bench("envelope-pg", &commands) else {
        return;
    };
    for (i, c) in probes.iter().enumerate() {
        let out = run_in_envelope(
            &b.images.base,
            &format!("container:{}", b.peers.container),
            &format!("{}-pg-{i}", b.unique),
            c,
            &c.argv,
            Duration::from_secs(30),
        );
        assert_eq!(out.exit, Some(0), "{}: {}", c.label(), out.logs);
    }
}

#[test]
fn doctors_api_exec_answers_in_the_api_servers_envelope() {
    // doctor's `python3 -c PY_STATUS http://127.0.0.1:8080/health` runs in the api-server
    // container; here on the backend stand-in in the peers' network namespace, whose 8080
    // answers 200 as the API does once up. Judged as doctor judges it.
    let commands = backend_commands();
    let api = commands
        .iter()
        .find(|c| c.container == "api-server" && c.kind == super::Kind::Main)
        .expect("the api-server container");
    let probe = onyx::doctor::SERVICE_PROBES
        .iter()
        .find(|p| p.container == "api-server")
        .expect("doctor asks the API");
    let Some(b) = bench("envelope-api", &commands) else {
        return;
    };
    let argv: Vec<String> = probe.command.iter().map(|s| s.to_string()).collect();
    let out = run_in_envelope(
        &b.images.backend,
        &format!("container:{}", b.peers.container),
        &format!("{}-api", b.unique),
        api,
        &argv,
        Duration::from_secs(30),
    );
    assert_eq!(
        (probe.judge)(out.exit == Some(0), &out.logs),
        Ok("HTTP 200".to_string()),
        "{}",
        out.logs
    );
}
