//! The API server's contracts with Onyx v2.3.0's backend: its connection pool against the
//! warm-up and PostgreSQL's limit, migrations once under a lock, its caches, its command, port and
//! health, and every setting it reads by name.

use super::*;

/// Onyx v2.3.0 `backend/onyx/db/engine/connection_warmup.py` (from `backend/onyx/main.py`) holds
/// 20 sync, then 20 async connections at once; pool + overflow below 20 times out after 30 s and
/// uvicorn exits. Defaults 40 + 10 (`backend/onyx/configs/app_configs.py`).
#[test]
fn api_pool_holds_the_warm_up() {
    for s in every_stack() {
        let c = s.main("api-server");
        let n = |name: &str, default: u64| {
            env_value(c, name)
                .filter(|v| !v.is_empty())
                .map(|v| v.parse::<u64>().unwrap())
                .unwrap_or(default)
        };
        let total =
            n("POSTGRES_API_SERVER_POOL_SIZE", 40) + n("POSTGRES_API_SERVER_POOL_OVERFLOW", 10);
        assert!(total >= 20, "{}: pool + overflow = {total}", s.label);
    }
}

/// PostgreSQL's max_connections covers every API replica's pools at their most: sync and async
/// pool + overflow and the read-only pool (`app_configs.py`: read-only 10 + 5).
#[test]
fn postgres_takes_every_api_connection() {
    for s in every_stack() {
        let api = s.main("api-server");
        let n = |name: &str, default: u64| {
            env_value(api, name)
                .map(|v| v.parse::<u64>().unwrap())
                .unwrap_or(default)
        };
        let per_replica = 2
            * (n("POSTGRES_API_SERVER_POOL_SIZE", 40) + n("POSTGRES_API_SERVER_POOL_OVERFLOW", 10))
            + 15;
        let replicas = s.workload("api-server").object.replicas().unwrap() as u64;
        let args = command(s.main("postgresql"));
        let max: u64 = args
            .split_whitespace()
            .find_map(|a| a.strip_prefix("max_connections="))
            .expect("max_connections set")
            .parse()
            .unwrap();
        assert!(
            max >= per_replica * replicas,
            "{}: {max} < {per_replica} × {replicas}",
            s.label
        );
    }
}

/// Onyx v2.3.0 `backend/alembic/env.py` takes no lock: migrations run once, in the `migrate` init
/// container under a PostgreSQL advisory lock (replicas wait for it, then find nothing to do), and
/// never in the API's own command.
#[test]
fn migrations_run_once_under_a_lock_before_the_api() {
    for s in every_stack() {
        let mut running = Vec::new();
        for (svc, spec) in s.pods() {
            for c in spec
                .init_containers
                .iter()
                .flatten()
                .chain(&spec.containers)
            {
                // Running migrations: `alembic upgrade`. The workers' wait only reads the head
                // (tests/it/contracts_workers.rs).
                if command(c).contains("alembic") && command(c).contains("upgrade") {
                    running.push(format!("{svc}/{}", c.name));
                }
            }
        }
        assert_eq!(running, ["api-server/migrate"], "{}", s.label);
        let m = command(s.init("api-server", "migrate"));
        assert!(m.contains("pg_advisory_lock(") && m.contains("\"upgrade\", \"head\""));
        // After the wait for PostgreSQL, before the API.
        let names: Vec<&str> = s
            .pod("api-server")
            .init_containers
            .iter()
            .flatten()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names.last(), Some(&"migrate"));
        assert_eq!(names.first(), Some(&"wait-for-dependencies"));
    }
}

/// Onyx v2.3.0 `backend/Dockerfile`: no USER; the NLTK data (`nltk.download`) and the
/// nomic-embed-text-v1 tokenizer (`Tokenizer.from_pretrained`) are baked under /root as root;
/// `useradd -u 1001 onyx` owns /app. The API runs as 1001 and reads copies of those caches from an
/// emptyDir (NLTK_DATA, HF_HOME) that the `image-caches` init container fills from /root, and
/// HF_HUB_OFFLINE keeps an offline install's start from reaching huggingface.co
/// (`backend/onyx/context/search/retrieval/search_runner.py` download_nltk_data looks first);
/// online it stays unset, so that the other models Onyx's admin UI offers can download.
#[test]
fn api_reads_the_images_caches_as_its_own_user_and_offline() {
    for s in every_stack() {
        let spec = s.pod("api-server");
        assert_eq!(
            spec.security_context.as_ref().unwrap().run_as_user,
            Some(1001)
        );
        let api = s.main("api-server");
        let copy = s.init("api-server", "image-caches");
        let cache = mount(api, "/onyx-cache").expect("cache mounted in the API");
        assert_eq!(mount(copy, "/onyx-cache"), Some(cache));
        assert!(is_empty_dir(spec, cache));
        assert_eq!(
            env_value(api, "NLTK_DATA").as_deref(),
            Some("/onyx-cache/nltk_data")
        );
        assert_eq!(
            env_value(api, "HF_HOME").as_deref(),
            Some("/onyx-cache/huggingface")
        );
        assert_eq!(
            env_value(api, "HF_HUB_OFFLINE").as_deref(),
            s.hub_offline.then_some("1"),
            "{}",
            s.label
        );
        let cmd = command(copy);
        assert!(cmd.contains("/root/nltk_data") && cmd.contains("/root/.cache/huggingface"));
        // tiktoken's cl100k_base is baked under /tmp/data-gym-cache: nothing may hide it.
        assert!(mount(api, "/tmp").is_none());
    }
}

/// The only container that runs as root is the copy of /root's caches, with no capabilities and
/// a read-only root filesystem; every pod is non-root otherwise.
#[test]
fn the_only_root_container_is_the_cache_copy() {
    for s in every_stack() {
        let mut root = Vec::new();
        for (svc, spec) in s.pods() {
            assert_eq!(
                spec.security_context.as_ref().unwrap().run_as_non_root,
                Some(true),
                "{svc}"
            );
            for c in spec
                .init_containers
                .iter()
                .flatten()
                .chain(&spec.containers)
            {
                let sc = c.security_context.as_ref().unwrap();
                if sc.run_as_user == Some(0) || sc.run_as_non_root == Some(false) {
                    // The workers' supervisord is root by its own config and writes its root
                    // filesystem (why, and what it may write: tests/it/contracts_workers.rs).
                    if (svc, c.name.as_str()) != ("background", "background") {
                        assert_eq!(sc.read_only_root_filesystem, Some(true));
                    }
                    assert_eq!(
                        sc.capabilities.as_ref().unwrap().drop.as_deref(),
                        Some(&["ALL".to_string()][..])
                    );
                    root.push(format!("{svc}/{}", c.name));
                }
            }
        }
        let mut expected = vec!["api-server/image-caches"];
        if s.pods().any(|(svc, _)| svc == "background") {
            expected.push("background/background");
        }
        assert_eq!(root, expected, "{}", s.label);
    }
}

/// The image's default command does nothing (`backend/Dockerfile`: `CMD ["tail", "-f",
/// "/dev/null"]`); the API runs uvicorn on 8080 with health `/health` (`backend/onyx/main.py`).
#[test]
fn api_command_port_and_health() {
    for s in every_stack() {
        let c = s.main("api-server");
        assert_eq!(
            command(c),
            "uvicorn onyx.main:app --host 0.0.0.0 --port 8080"
        );
        assert_eq!(c.ports.as_ref().unwrap()[0].container_port, 8080);
        for p in [&c.startup_probe, &c.readiness_probe, &c.liveness_probe] {
            let path = p
                .as_ref()
                .unwrap()
                .http_get
                .as_ref()
                .unwrap()
                .path
                .as_deref();
            assert_eq!(path, Some("/health"));
        }
    }
}

/// The settings the API reads by name (`backend/onyx/configs/app_configs.py`,
/// `shared_configs/configs.py`): each is in its environment, from the ConfigMap or a Secret.
#[test]
fn api_gets_every_setting_it_reads_by_name() {
    for s in every_stack() {
        let c = s.main("api-server");
        let from_config = c.env_from.iter().flatten().any(|e| {
            e.config_map_ref
                .as_ref()
                .is_some_and(|r| r.name == "onyx-config")
        });
        assert!(from_config);
        for key in [
            "POSTGRES_HOST",
            "POSTGRES_PORT",
            "POSTGRES_DB",
            "VESPA_HOST",
            "REDIS_HOST",
            "REDIS_PORT",
            "MODEL_SERVER_HOST",
            "MODEL_SERVER_PORT",
            "S3_ENDPOINT_URL",
            "S3_FILE_STORE_BUCKET_NAME",
            "AUTH_TYPE",
            "WEB_DOMAIN",
        ] {
            let _ = s.config(key);
        }
        for secret in [
            "POSTGRES_USER",
            "POSTGRES_PASSWORD",
            "REDIS_PASSWORD",
            "S3_AWS_ACCESS_KEY_ID",
            "S3_AWS_SECRET_ACCESS_KEY",
        ] {
            let e = env(c, secret).unwrap_or_else(|| panic!("{}: no {secret}", s.label));
            assert!(e.value_from.as_ref().unwrap().secret_key_ref.is_some());
        }
        assert_eq!(s.config("WEB_DOMAIN"), "https://onyx.example.com");
    }
}
