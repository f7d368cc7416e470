//! What each pinned image carries, for the commands onyx runs in it: a rendered command, an exec
//! probe or a `doctor` exec may call only a binary listed here for its image. Each row is read from
//! the image's Dockerfile at the pinned tag (the simulator answers every exec with a canned reply,
//! so nothing else would notice a missing binary: MinIO's image dropped `curl` in 2023,
//! minio/minio#18373, and on arm64 the pinned `-cpuv1` image still has none).

use super::{Kind, every_command};

/// One image's binaries that onyx's commands may call, with where each fact is read.
struct ImageBinaries {
    image: &'static str,
    binaries: &'static [&'static str],
    source: &'static str,
}

const TABLE: &[ImageBinaries] = &[
    ImageBinaries {
        image: "onyxdotapp/onyx-backend:v2.3.0",
        // python3 (and Debian's coreutils, mawk, dash as sh): `FROM python:3.11.7-slim-bookworm`;
        // curl and postgresql-client (psql, pg_isready): its apt-get installs; alembic, uvicorn,
        // supervisord/supervisorctl: backend/requirements/default.txt (pip console scripts);
        // the entrypoint script: `COPY ./scripts/supervisord_entrypoint.sh`.
        binaries: &[
            "python3",
            "sh",
            "/bin/sh",
            "cp",
            "mkdir",
            "chmod",
            "touch",
            "awk",
            "curl",
            "psql",
            "pg_isready",
            "alembic",
            "uvicorn",
            "supervisorctl",
            "supervisord",
            "/app/scripts/supervisord_entrypoint.sh",
        ],
        source: "onyx-dot-app/onyx v2.3.0 backend/Dockerfile, backend/requirements/default.txt",
    },
    ImageBinaries {
        image: "onyxdotapp/onyx-model-server:v2.3.0",
        binaries: &["python3", "uvicorn", "sh"],
        source: "onyx-dot-app/onyx v2.3.0 backend/Dockerfile.model_server (FROM python:3.11.7-slim-bookworm; CMD uvicorn)",
    },
    ImageBinaries {
        image: "onyxdotapp/onyx-web-server:v2.3.0",
        binaries: &["node", "sh"],
        source: "onyx-dot-app/onyx v2.3.0 web/Dockerfile (FROM node:20-alpine; CMD node server.js)",
    },
    ImageBinaries {
        image: "postgres:15.2-alpine",
        // `make install-world` installs the client programs with the server; busybox is alpine's sh.
        binaries: &["sh", "postgres", "psql", "pg_isready"],
        source: "docker-library/postgres ef45b99086 15/alpine/Dockerfile (FROM alpine:3.17, make install-world)",
    },
    ImageBinaries {
        image: "redis:7.4-alpine",
        // `make install` installs redis-cli (the build runs `redis-cli --version`); busybox: sh,
        // grep, sleep.
        binaries: &["sh", "redis-server", "redis-cli", "grep", "sleep"],
        source: "docker-library/redis c828d8c6 7.4-rc/alpine/Dockerfile (the 7.4 line; FROM alpine:3.20)",
    },
    ImageBinaries {
        image: "nginx:1.23.4-alpine",
        // busybox (alpine's) gives sh, wget and awk.
        binaries: &["sh", "nginx", "wget", "awk"],
        source: "nginxinc/docker-nginx 1.23.4 mainline/alpine/Dockerfile (FROM nginx:1.23.4-alpine-slim, FROM alpine:3.17)",
    },
    ImageBinaries {
        image: "minio/minio:RELEASE.2025-07-23T15-54-02Z-cpuv1",
        // Dockerfile.release.old_cpu (the -cpuv1 tag, docker-buildx.sh): minio and mc on every
        // architecture; curl only `if [ "$TARGETARCH" = "amd64" ]`, so not listed. The args are
        // minio's (the entrypoint adds `minio`).
        binaries: &["minio", "mc", "server"],
        source: "minio/minio RELEASE.2025-07-23T15-54-02Z Dockerfile.release.old_cpu, docker-buildx.sh",
    },
    ImageBinaries {
        image: "vespaengine/vespa:8.526.15",
        // bash: include/start-container.sh's interpreter. curl: the almalinux:8 base image's; the
        // base image's package list is not in any source read here (see README).
        binaries: &["bash", "curl"],
        source: "vespa-engine/docker-image 20c4e7b Dockerfile (FROM almalinux:8), include/start-container.sh",
    },
];

fn table(image: &str) -> &'static ImageBinaries {
    TABLE
        .iter()
        .find(|t| t.image == image)
        .unwrap_or_else(|| panic!("{image}: not in the image binaries table; read its Dockerfile"))
}

/// Shell builtins and keywords (POSIX sh): not binaries of the image.
const BUILTINS: &[&str] = &[
    "set", "echo", "test", "[", "exit", "cd", "true", "false", "exec", "export", "if", "then",
    "fi", "do", "done", "for", "while", "printf", "read",
];

/// The programs a command calls: argv[0], the first word of each simple command of a `sh -c`
/// script, and the list a Python `subprocess` call starts.
pub(super) fn programs(argv: &[String]) -> Vec<String> {
    let Some(first) = argv.first() else {
        return Vec::new();
    };
    let mut out = vec![first.clone()];
    let is_shell = matches!(first.as_str(), "sh" | "/bin/sh" | "bash" | "/bin/bash");
    if is_shell && argv.get(1).map(String::as_str) == Some("-c") {
        let script = argv.get(2).cloned().unwrap_or_default();
        // Drop quoted strings (awk programs, SQL, messages) before splitting into commands.
        let mut cleaned = String::new();
        let mut quote: Option<char> = None;
        for ch in script.chars() {
            match (quote, ch) {
                (None, '\'' | '"') => quote = Some(ch),
                (None, _) => cleaned.push(ch),
                (Some(q), _) if ch == q => {
                    quote = None;
                    cleaned.push_str("''");
                }
                (Some(_), _) => {}
            }
        }
        assert!(quote.is_none(), "unbalanced quotes in {script:?}");
        // `2>&1` is a redirection, not a `&` between commands.
        let cleaned = cleaned.replace(">&", ">");
        for part in cleaned.split(['\n', ';', '|', '&']) {
            if let Some(w) = part.split_whitespace().next()
                && !BUILTINS.contains(&w)
                && !w.contains('=')
            {
                out.push(w.to_string());
            }
        }
    }
    if first.starts_with("python") {
        let script = argv.get(2).cloned().unwrap_or_default();
        for (i, _) in script.match_indices("subprocess.") {
            if let Some(open) = script[i..].find("([\"") {
                let s = &script[i + open + 3..];
                out.push(s[..s.find('"').unwrap()].to_string());
            }
        }
    }
    out
}

#[test]
fn the_program_reader_finds_what_a_script_calls() {
    let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        programs(&v(&["sh", "-c", "redis-cli ping | grep -q PONG"])),
        v(&["sh", "redis-cli", "grep"])
    );
    assert_eq!(
        programs(&v(&[
            "/bin/sh",
            "-c",
            "set -e; cp -a x y; a 2>&1 | awk '$2 == \"R\" {n++}' && test -f z"
        ])),
        v(&["/bin/sh", "cp", "a", "awk"])
    );
    assert_eq!(
        programs(&v(&[
            "python3",
            "-c",
            "import subprocess\nsubprocess.call([\"alembic\", \"upgrade\"])"
        ])),
        v(&["python3", "alembic"])
    );
}

#[test]
fn every_rendered_command_calls_only_what_its_image_carries() {
    let mut bad = Vec::new();
    for c in every_command() {
        // MinIO's and Vespa's rendered `args` go to the image's entrypoint, which runs its own
        // program with them (minio: docker-entrypoint.sh → `minio server ...`).
        if c.kind == Kind::Main && c.image.starts_with("minio/") {
            continue;
        }
        let t = table(&c.image);
        for p in programs(&c.argv) {
            // postgres' `args` are the server's flags (docker-entrypoint.sh prepends postgres).
            if p.starts_with('-') && c.image.starts_with("postgres:") {
                continue;
            }
            if !t.binaries.contains(&p.as_str()) {
                bad.push(format!(
                    "{}: calls {p}, which {} does not carry ({})",
                    c.label(),
                    c.image,
                    t.source
                ));
            }
        }
    }
    bad.sort();
    bad.dedup();
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// The image of a rendered container (doctor names containers, not images).
fn image_of(container: &str) -> String {
    let creds = onyx::stack::secrets::Credentials::generate();
    let p = onyx::stack::profile::ProfileName::Medium;
    super::render_profile(p, onyx::stack::indexing::Indexing::on(p), &creds)
        .iter()
        .filter_map(|r| r.object.pod_template().and_then(|t| t.spec.clone()))
        .flat_map(|s| s.containers)
        .find(|c| c.name == container)
        .and_then(|c| c.image)
        .unwrap_or_else(|| panic!("no rendered container {container}"))
}

#[test]
fn every_doctor_exec_calls_only_what_its_image_carries() {
    let mut execs: Vec<(String, Vec<String>)> = onyx::doctor::SERVICE_PROBES
        .iter()
        .map(|p| {
            (
                p.container.to_string(),
                p.command.iter().map(|s| s.to_string()).collect(),
            )
        })
        .collect();
    execs.push((
        "background".into(),
        onyx::doctor_workers::SUPERVISORCTL
            .iter()
            .map(|s| s.to_string())
            .collect(),
    ));
    execs.push(("redis".into(), onyx::doctor_workers::queue_command()));
    let mut bad = Vec::new();
    for (container, argv) in &execs {
        let image = image_of(container);
        let t = table(&image);
        for p in programs(argv) {
            if !t.binaries.contains(&p.as_str()) {
                bad.push(format!(
                    "doctor in {container}: calls {p}, which {image} does not carry ({})",
                    t.source
                ));
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
