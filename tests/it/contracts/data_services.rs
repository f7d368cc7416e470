//! The data services (PostgreSQL, Redis, MinIO) and the gateway (nginx): the hardening their
//! official images allow (no service account token, read-only roots with emptyDirs where they
//! write, Secrets as files where the image reads files), their users, commands, probes and the
//! gateway's routing.

use super::*;

/// Every pod: no service account token (none calls the Kubernetes API).
#[test]
fn no_pod_gets_a_service_account_token() {
    for s in every_stack() {
        for (svc, spec) in s.pods() {
            assert_eq!(
                spec.automount_service_account_token,
                Some(false),
                "{}: {svc}",
                s.label
            );
        }
    }
}

/// nginx (our nginx.conf: pid and temp paths under /tmp, logs to stdout/stderr), Redis (`--save ""
/// --appendonly no`, /data an emptyDir), PostgreSQL (the official image's entrypoint writes PGDATA
/// and /var/run/postgresql) and MinIO (`--certs-dir` on an emptyDir, data on its volume) run with
/// a read-only root filesystem and an emptyDir wherever they write.
#[test]
fn data_services_and_gateway_run_read_only_with_emptydirs_where_they_write() {
    for s in every_stack() {
        for (svc, writable) in [
            ("nginx", &["/tmp"][..]),
            ("redis", &["/data"][..]),
            (
                "postgresql",
                &["/var/run/postgresql", "/tmp", "/dev/shm"][..],
            ),
            ("minio", &["/tmp"][..]),
        ] {
            let c = s.main(svc);
            let sc = c.security_context.as_ref().unwrap();
            assert_eq!(
                sc.read_only_root_filesystem,
                Some(true),
                "{}: {svc}",
                s.label
            );
            for path in writable {
                let vol = mount(c, path).unwrap_or_else(|| panic!("{svc}: nothing at {path}"));
                assert!(is_empty_dir(s.pod(svc), vol), "{svc}: {path}");
            }
        }
        assert!(NGINX_CONF.contains("pid /tmp/nginx.pid;"));
        assert!(command(s.main("minio")).contains("--certs-dir /tmp/"));
    }
}

/// The official postgres image reads POSTGRES_PASSWORD_FILE (`docker-entrypoint.sh` file_env);
/// MinIO reads MINIO_ROOT_USER_FILE / MINIO_ROOT_PASSWORD_FILE (minio `cmd/common-main.go`
/// loadEnvVarsFromFiles). Those secrets are files from their Secret, never environment values.
#[test]
fn secrets_are_files_where_the_image_reads_files() {
    for s in every_stack() {
        for (svc, secret, vars) in [
            ("postgresql", "onyx-postgresql", &["POSTGRES_PASSWORD"][..]),
            (
                "minio",
                "onyx-minio",
                &["MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"][..],
            ),
        ] {
            let c = s.main(svc);
            let spec = s.pod(svc);
            for var in vars {
                assert!(
                    env(c, var).is_none(),
                    "{}: {svc} has {var} in its environment",
                    s.label
                );
                let path = env_value(c, &format!("{var}_FILE")).expect("a *_FILE variable");
                let (dir, _) = path.rsplit_once('/').unwrap();
                let vol = mount(c, dir).unwrap_or_else(|| panic!("{svc}: nothing at {dir}"));
                let v = spec
                    .volumes
                    .iter()
                    .flatten()
                    .find(|v| v.name == vol)
                    .unwrap();
                assert_eq!(
                    v.secret.as_ref().unwrap().secret_name.as_deref(),
                    Some(secret)
                );
            }
        }
    }
}

/// postgres:15.2-alpine: user postgres is uid/gid 70; data in a PGDATA subfolder of the volume
/// (the volume root's lost+found upsets initdb); readiness `pg_isready`.
#[test]
fn postgres_user_data_and_probe() {
    for s in every_stack() {
        let psc = s.pod("postgresql").security_context.as_ref().unwrap();
        assert_eq!((psc.run_as_user, psc.fs_group), (Some(70), Some(70)));
        let c = s.main("postgresql");
        assert_eq!(
            env_value(c, "PGDATA").as_deref(),
            Some("/var/lib/postgresql/data/pgdata")
        );
        assert!(mount(c, "/var/lib/postgresql/data").is_some());
        let probe = c.readiness_probe.as_ref().unwrap().exec.as_ref().unwrap();
        assert!(
            probe
                .command
                .as_ref()
                .unwrap()
                .join(" ")
                .contains("pg_isready")
        );
        assert_eq!(c.ports.as_ref().unwrap()[0].container_port, 5432);
    }
}

/// redis:7.4-alpine: user redis is uid 999 in group redis, gid 1000 (docker-library/redis alpine
/// Dockerfile `addgroup -S -g 1000 redis; adduser -S -G redis -u 999 redis`); Onyx uses it for
/// cache and sessions, ephemeral.
#[test]
fn redis_user_and_command() {
    for s in every_stack() {
        let psc = s.pod("redis").security_context.as_ref().unwrap();
        assert_eq!(psc.run_as_user, Some(999));
        assert_eq!(psc.run_as_group, Some(1000));
        assert_eq!(psc.fs_group, Some(1000));
        let cmd = command(s.main("redis"));
        assert!(
            cmd.starts_with("redis-server --save  --appendonly no --requirepass"),
            "{cmd}"
        );
    }
}

/// MinIO: `server /data --console-address :9001`, health `/minio/health/live` and `/ready` on 9000.
#[test]
fn minio_command_and_health() {
    for s in every_stack() {
        let c = s.main("minio");
        assert!(command(c).starts_with("server /data --console-address :9001"));
        let live = c
            .liveness_probe
            .as_ref()
            .unwrap()
            .http_get
            .as_ref()
            .unwrap();
        assert_eq!(live.path.as_deref(), Some("/minio/health/live"));
        let ready = c
            .readiness_probe
            .as_ref()
            .unwrap()
            .http_get
            .as_ref()
            .unwrap();
        assert_eq!(ready.path.as_deref(), Some("/minio/health/ready"));
    }
}

/// nginx:1.23.4-alpine: user nginx is uid 101, so it listens on 8080 (not 80) and runs our config.
/// The routing is Onyx v2.3.0's `deployment/data/nginx/app.conf.template`: `/api` stripped,
/// unbuffered, HTTP/1.1 (tests/it/nginx_gateway/ runs it with real nginx).
#[test]
fn gateway_user_port_and_routing() {
    for s in every_stack() {
        let psc = s.pod("nginx").security_context.as_ref().unwrap();
        assert_eq!(psc.run_as_user, Some(101));
        let c = s.main("nginx");
        assert_eq!(command(c), "nginx -c /etc/onyx-nginx/nginx.conf");
        assert_eq!(c.ports.as_ref().unwrap()[0].container_port, 8080);
        assert!(NGINX_CONF.contains("listen 8080"));
        assert!(NGINX_CONF.contains("rewrite ^/api(/.*)$ $1 break;"));
        assert!(NGINX_CONF.contains("proxy_buffering off;"));
        assert!(NGINX_CONF.contains("proxy_http_version 1.1;"));
        let path = c
            .readiness_probe
            .as_ref()
            .unwrap()
            .http_get
            .as_ref()
            .unwrap()
            .path
            .as_deref();
        assert_eq!(path, Some("/nginx-health"));
    }
}

/// A TLS proxy in front of the gateway sets X-Forwarded-Proto; the gateway passes it on instead of
/// its own `$scheme` (Onyx's template sends `$scheme`, always http behind such a proxy).
#[test]
fn gateway_passes_on_the_clients_scheme() {
    let proto: BTreeMap<&str, usize> = [
        (
            "proxy_set_header X-Forwarded-Proto $onyx_forwarded_proto;",
            2,
        ),
        ("proxy_set_header X-Forwarded-Proto $scheme;", 0),
        ("map $http_x_forwarded_proto $onyx_forwarded_proto", 1),
    ]
    .into_iter()
    .collect();
    for (line, count) in proto {
        assert_eq!(NGINX_CONF.matches(line).count(), count, "{line}");
    }
}
