//! Contracts with the real images: each fact the manifests rely on, read from the source of the
//! project that defines it at the version we pin, is one test here, asserted over the rendered
//! objects of **every** profile (with and without a namespace). The comment on each test names the
//! upstream file and tag, so a change that breaks a fact fails here with its reason.
//!
//! Sources: Onyx `onyx-dot-app/onyx` at v2.3.0; Vespa `vespa-engine/vespa` at v8.526.15;
//! `vespa-engine/docker-image` (its `include/start-container.sh`, HEAD 20c4e7b: the repository has
//! no tag for 8.526.15); the official `postgres`, `redis`, `nginx` and `minio/minio` images.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, EnvVar, PodSpec};
use onyx::stack::catalog::NGINX_CONF;
use onyx::stack::profile::{self, ProfileName};
use onyx::stack::render::{self, Object, RenderOptions, Rendered};
use onyx::stack::secrets::Credentials;
use onyx::stack::summary::parse_quantity;

const PROFILES: [ProfileName; 4] = [
    ProfileName::Small,
    ProfileName::Medium,
    ProfileName::Large,
    ProfileName::Cluster,
];

const GIB_MIB: u64 = 1024;

/// One rendered stack: which profile and namespace it was rendered for, and its objects.
struct Stack {
    label: String,
    profile: ProfileName,
    objects: Vec<Rendered>,
}

/// Every profile, without a namespace and with one.
fn every_stack() -> Vec<Stack> {
    let creds = Credentials::generate();
    let mut out = Vec::new();
    for p in PROFILES {
        for ns in [None, Some("team-a")] {
            out.push(Stack {
                label: format!("{p} (namespace {ns:?})"),
                profile: p,
                objects: render::render(&RenderOptions {
                    profile: profile::profile(p),
                    namespace: ns,
                    web_url: "https://onyx.example.com".into(),
                    credentials: Some(&creds),
                    gateway_node_port: None,
                    indexing: onyx::stack::indexing::Indexing::default_for(p),
                }),
            });
        }
    }
    out
}

impl Stack {
    fn workload(&self, service: &str) -> &Rendered {
        self.objects
            .iter()
            .find(|r| r.service == Some(service) && r.object.pod_template().is_some())
            .unwrap_or_else(|| panic!("{}: no workload {service}", self.label))
    }

    fn pod(&self, service: &str) -> &PodSpec {
        self.workload(service)
            .object
            .pod_template()
            .and_then(|t| t.spec.as_ref())
            .expect("pod spec")
    }

    fn main(&self, service: &str) -> &Container {
        self.pod(service)
            .containers
            .iter()
            .find(|c| c.name == service)
            .unwrap_or_else(|| panic!("{}: no container {service}", self.label))
    }

    fn init(&self, service: &str, name: &str) -> &Container {
        self.pod(service)
            .init_containers
            .iter()
            .flatten()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("{}: {service} has no init container {name}", self.label))
    }

    fn pods(&self) -> impl Iterator<Item = (&str, &PodSpec)> {
        self.objects.iter().filter_map(|r| {
            Some((
                r.service?,
                r.object.pod_template().and_then(|t| t.spec.as_ref())?,
            ))
        })
    }

    fn config(&self, key: &str) -> String {
        self.objects
            .iter()
            .find_map(|r| match &r.object {
                Object::ConfigMap(cm) if cm.metadata.name.as_deref() == Some("onyx-config") => {
                    cm.data.as_ref()?.get(key).cloned()
                }
                _ => None,
            })
            .unwrap_or_else(|| panic!("onyx-config has no {key}"))
    }
}

fn env<'a>(c: &'a Container, name: &str) -> Option<&'a EnvVar> {
    c.env.iter().flatten().find(|e| e.name == name)
}

fn env_value(c: &Container, name: &str) -> Option<String> {
    env(c, name).and_then(|e| e.value.clone())
}

fn command(c: &Container) -> String {
    c.command
        .iter()
        .flatten()
        .chain(c.args.iter().flatten())
        .cloned()
        .collect::<Vec<_>>()
        .join(" ")
}

fn memory_limit_mib(c: &Container) -> u64 {
    let q = &c.resources.as_ref().unwrap().limits.as_ref().unwrap()["memory"];
    parse_quantity(&q.0).expect("a memory quantity").0
}

fn memory_request_mib(c: &Container) -> u64 {
    let q = &c.resources.as_ref().unwrap().requests.as_ref().unwrap()["memory"];
    parse_quantity(&q.0).expect("a memory quantity").0
}

fn mount<'a>(c: &'a Container, path: &str) -> Option<&'a str> {
    c.volume_mounts
        .iter()
        .flatten()
        .find(|m| m.mount_path == path)
        .map(|m| m.name.as_str())
}

fn is_empty_dir(spec: &PodSpec, volume: &str) -> bool {
    spec.volumes
        .iter()
        .flatten()
        .any(|v| v.name == volume && v.empty_dir.is_some())
}

/// The -Xmx of a JVM argument string, in MiB (`-Xmx128M`, `-Xmx2g`).
fn xmx_mib(args: &str) -> Option<u64> {
    let v = args
        .split_whitespace()
        .find_map(|a| a.strip_prefix("-Xmx"))?;
    let (n, unit) = v.split_at(v.len() - 1);
    let n: u64 = n.parse().ok()?;
    match unit {
        "m" | "M" => Some(n),
        "g" | "G" => Some(n * 1024),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Vespa

/// Vespa v8.526.15 `client/go/internal/admin/vespa-wrapper/services/container.go`
/// (`minRequiredMemoryInBytes = 3 * 1024 * 1024 * 1024`), run by the image's entrypoint
/// (`vespa-engine/docker-image` `include/start-container.sh`: `verify_container_env`): it exits
/// when min(cgroup limit, MemAvailable) is under 3 GiB. The limit clears it, at the 4 GiB its own
/// message names.
#[test]
fn vespa_memory_limit_passes_vespas_start_check() {
    for s in every_stack() {
        let limit = memory_limit_mib(s.main("vespa"));
        assert!(limit >= 4 * GIB_MIB, "{}: Vespa limit {limit}Mi", s.label);
    }
}

/// Same file: any non-empty VESPA_IGNORE_NOT_ENOUGH_MEMORY disables the check, so a restart on a
/// busy node (MemAvailable low, the limit fine) doesn't exit.
#[test]
fn vespa_ignores_memavailable_at_restart() {
    for s in every_stack() {
        let v = env_value(s.main("vespa"), "VESPA_IGNORE_NOT_ENOUGH_MEMORY");
        assert_eq!(v.as_deref(), Some("true"), "{}", s.label);
    }
}

/// The heaps Vespa's JVMs take in one container, from v8.526.15: the query container 1536 MiB
/// (`container-search/src/main/resources/configdefinitions/search.config.qr-start.def`,
/// `config-model/.../container/ApplicationContainerCluster.java` for a self-hosted app, which Onyx's
/// `backend/onyx/document_index/vespa/app_config/services.xml.jinja` is) plus direct memory
/// 75 + heap/8 (`client/go/internal/admin/jvm/application_container.go`); the config server's
/// -Xmx from VESPA_CONFIGSERVER_JVMARGS, else 2048 MiB (`vespa-wrapper/configserver/start.go`);
/// the config proxy's from VESPA_CONFIGPROXY_JVMARGS, else 128 MiB (`jvm/configproxy_jvm.go`);
/// cluster controller 128 MiB (`admin/clustercontroller/ClusterControllerContainerCluster.java`);
/// metrics proxy 256 MiB (`admin/metricsproxy/MetricsProxyContainer.java`). The limit holds them
/// all with room for proton and the C++ daemons, and the request holds at least the heaps.
#[test]
fn vespa_limit_holds_its_jvm_heaps() {
    for s in every_stack() {
        let c = s.main("vespa");
        let configserver = env_value(c, "VESPA_CONFIGSERVER_JVMARGS")
            .and_then(|a| xmx_mib(&a))
            .unwrap_or(2048);
        let configproxy = env_value(c, "VESPA_CONFIGPROXY_JVMARGS")
            .and_then(|a| xmx_mib(&a))
            .unwrap_or(128);
        let query = 1536 + 75 + 1536 / 8;
        let heaps = query + configserver + configproxy + 128 + 256;
        assert!(
            memory_limit_mib(c) >= heaps + 1024,
            "{}: limit {} for {heaps} MiB of heaps",
            s.label,
            memory_limit_mib(c)
        );
        assert!(memory_request_mib(c) >= heaps, "{}", s.label);
    }
}

/// Vespa v8.526.15 `client/go/internal/vespa/detect_hostname.go` (VESPA_HOSTNAME overrides
/// `hostname -f`) and `vespa-wrapper/configserver/check.go` (exits "this host [..] should not run
/// a config server" unless its name is in VESPA_CONFIGSERVERS): both are the same
/// namespace-relative name of pod 0 behind the StatefulSet's headless Service, so no cluster domain
/// is assumed.
#[test]
fn vespa_names_itself_as_its_config_server_on_any_cluster_domain() {
    for s in every_stack() {
        let Object::StatefulSet(sts) = &s.workload("vespa").object else {
            panic!("vespa is a StatefulSet")
        };
        let spec = sts.spec.as_ref().unwrap();
        let expected = format!(
            "{}-0.{}.$(POD_NAMESPACE).svc",
            sts.metadata.name.as_deref().unwrap(),
            spec.service_name.as_deref().unwrap()
        );
        let c = s.main("vespa");
        assert_eq!(env_value(c, "VESPA_HOSTNAME"), Some(expected.clone()));
        assert_eq!(env_value(c, "VESPA_CONFIGSERVERS"), Some(expected));
        // $(POD_NAMESPACE) expands only from a variable defined before it (Kubernetes rules).
        let names: Vec<&str> = c.env.iter().flatten().map(|e| e.name.as_str()).collect();
        let ns = names.iter().position(|n| *n == "POD_NAMESPACE").unwrap();
        assert!(ns < names.iter().position(|n| *n == "VESPA_HOSTNAME").unwrap());
        let field = env(c, "POD_NAMESPACE")
            .and_then(|e| e.value_from.as_ref())
            .and_then(|v| v.field_ref.as_ref())
            .map(|f| f.field_path.as_str());
        assert_eq!(field, Some("metadata.namespace"), "{}", s.label);
    }
}

/// The API reaches Vespa at pod 0's stable name; 8081 only answers after the API deployed the
/// application package (Onyx v2.3.0 `backend/onyx/setup.py`), so the wait uses 19071.
#[test]
fn the_api_reaches_vespa_by_its_stable_name_on_the_config_port() {
    for s in every_stack() {
        assert_eq!(s.config("VESPA_HOST"), "vespa-0.vespa-service");
        assert_eq!(s.config("VESPA_TENANT_PORT"), "19071");
        let wait = command(s.init("api-server", "wait-for-dependencies"));
        assert!(wait.contains("VESPA_TENANT_PORT") && !wait.contains("8081"));
    }
}

/// Kubernetes' fsGroupChangePolicy: a restart does not re-chown a large index when the volume
/// root already matches.
#[test]
fn vespa_volume_is_not_rechowned_on_every_restart() {
    for s in every_stack() {
        let psc = s.pod("vespa").security_context.as_ref().unwrap();
        assert_eq!(
            psc.fs_group_change_policy.as_deref(),
            Some("OnRootMismatch")
        );
        assert_eq!(psc.fs_group, Some(1000), "{}", s.label);
    }
}

/// Vespa's image: user vespa is uid/gid 1000 (`vespa-engine/docker-image` Dockerfile
/// `useradd -u 1000`), data under /opt/vespa/var, health on 19071 `/state/v1/health`.
#[test]
fn vespa_runs_as_its_user_with_data_and_health_where_the_image_has_them() {
    for s in every_stack() {
        let psc = s.pod("vespa").security_context.as_ref().unwrap();
        assert_eq!(
            (psc.run_as_user, psc.run_as_group),
            (Some(1000), Some(1000))
        );
        let c = s.main("vespa");
        assert!(mount(c, "/opt/vespa/var").is_some(), "{}", s.label);
        let probe = c
            .readiness_probe
            .as_ref()
            .unwrap()
            .http_get
            .as_ref()
            .unwrap();
        assert_eq!(probe.path.as_deref(), Some("/state/v1/health"));
        let port = c
            .ports
            .iter()
            .flatten()
            .find(|p| p.container_port == 19071)
            .expect("19071");
        assert_eq!(
            probe.port,
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(
                port.name.clone().unwrap()
            )
        );
        assert_eq!(
            env_value(c, "VESPA_SKIP_UPGRADE_CHECK").as_deref(),
            Some("true")
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The API server

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
/// HF_HUB_OFFLINE keeps an air-gapped start from reaching huggingface.co
/// (`backend/onyx/context/search/retrieval/search_runner.py` download_nltk_data looks first).
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
        assert_eq!(env_value(api, "HF_HUB_OFFLINE").as_deref(), Some("1"));
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

// ---------------------------------------------------------------------------------------------
// Sizes from upstream's figures

/// Onyx v2.3.0 `deployment/helm/charts/onyx/values.yaml` (inferenceCapability 3Gi request, api
/// 1Gi/3Gi, webserver 1Gi limit) and `deployment/docker_compose/docker-compose.resources.yml`
/// (inference 5g, api 4g): no profile gives a service less than upstream's smallest figure for
/// it. The model server loads torch and the embedding model at the first query.
#[test]
fn no_service_gets_less_than_upstreams_smallest_figure() {
    for s in every_stack() {
        let model = s.main("inference-model-server");
        assert!(memory_limit_mib(model) >= 3 * GIB_MIB, "{}", s.label);
        let api = s.main("api-server");
        assert!(memory_request_mib(api) >= GIB_MIB && memory_limit_mib(api) >= 3 * GIB_MIB);
        assert!(
            memory_limit_mib(s.main("web-server")) >= GIB_MIB,
            "{}",
            s.label
        );
    }
}

/// The large and cluster profiles take helm's (values.yaml) and compose's
/// (docker-compose.resources.yml) figures as they are.
#[test]
fn large_profiles_use_upstreams_figures() {
    for s in every_stack()
        .into_iter()
        .filter(|s| matches!(s.profile, ProfileName::Large | ProfileName::Cluster))
    {
        let mem = |svc: &str| {
            let c = s.main(svc);
            (memory_request_mib(c), memory_limit_mib(c))
        };
        assert_eq!(mem("vespa"), (8000, 32000)); // helm vespa
        assert_eq!(mem("inference-model-server"), (3 * 1024, 10 * 1024)); // helm
        assert_eq!(mem("api-server"), (1024, 4 * 1024)); // helm request, compose 4g
        assert_eq!(mem("web-server"), (512, 1024)); // helm webserver
        assert_eq!(mem("redis"), (128, 512)); // helm redis
        assert_eq!(mem("postgresql").1, 4 * 1024); // compose relational_db 4g
        assert_eq!(mem("nginx").1, 1024); // compose nginx 1g
    }
}

// ---------------------------------------------------------------------------------------------
// The model server

/// Onyx v2.3.0 `backend/Dockerfile.model_server` bakes four whole Hugging Face repositories into
/// /app/.cache/temp_huggingface and `backend/model_server/main.py` moves them into
/// /app/.cache/huggingface at start; helm's `templates/inference-model-deployment.yaml` mounts no
/// cache. No volume may hold them (a small one stops the move halfway), none is over /app/.cache.
#[test]
fn model_server_keeps_its_models_in_the_image() {
    for s in every_stack() {
        let c = s.main("inference-model-server");
        assert!(
            c.volume_mounts
                .iter()
                .flatten()
                .all(|m| !m.mount_path.starts_with("/app/.cache"))
        );
        assert!(
            !s.objects
                .iter()
                .any(|r| r.service == Some("inference-model-server")
                    && matches!(r.object, Object::PersistentVolumeClaim(_))),
            "{}",
            s.label
        );
        assert_eq!(env_value(c, "HF_HUB_OFFLINE").as_deref(), Some("1"));
        // The image's own CMD, port 9000, health /api/health (backend/model_server/main.py).
        assert_eq!(
            command(c),
            "uvicorn model_server.main:app --host 0.0.0.0 --port 9000"
        );
        let path = c
            .readiness_probe
            .as_ref()
            .unwrap()
            .http_get
            .as_ref()
            .unwrap()
            .path
            .as_deref();
        assert_eq!(path, Some("/api/health"));
        assert_eq!(
            s.pod("inference-model-server")
                .security_context
                .as_ref()
                .unwrap()
                .run_as_user,
            Some(1001)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The web server

/// Onyx v2.3.0 `web/src/lib/constants.ts`: `HOST_URL = process.env.WEB_DOMAIN ||
/// "http://127.0.0.1:3000"`; the web server gets the same URL as the API, from the same key.
#[test]
fn web_server_builds_links_from_the_same_url_as_the_api() {
    for s in every_stack() {
        let c = s.main("web-server");
        let r = env(c, "WEB_DOMAIN")
            .and_then(|e| e.value_from.as_ref())
            .and_then(|v| v.config_map_key_ref.as_ref())
            .expect("WEB_DOMAIN from the ConfigMap");
        assert_eq!(
            (r.name.as_str(), r.key.as_str()),
            ("onyx-config", "WEB_DOMAIN")
        );
    }
}

/// Onyx v2.3.0 `web/Dockerfile`: `USER nextjs` (uid 1001), `CMD ["node", "server.js"]`; Next.js's
/// standalone server.js binds to $HOSTNAME, which Kubernetes sets to the pod's name (its pod IP),
/// and the probes use 127.0.0.1: HOSTNAME=0.0.0.0.
#[test]
fn web_server_listens_on_every_address() {
    for s in every_stack() {
        let c = s.main("web-server");
        let psc = s.pod("web-server").security_context.as_ref().unwrap();
        assert_eq!(psc.run_as_user, Some(1001));
        assert_eq!(command(c), "node server.js");
        assert_eq!(env_value(c, "HOSTNAME").as_deref(), Some("0.0.0.0"));
        assert_eq!(env_value(c, "PORT").as_deref(), Some("3000"));
        assert_eq!(env_value(c, "INTERNAL_URL"), None, "from the ConfigMap");
        assert_eq!(s.config("INTERNAL_URL"), "http://api-server:8080");
    }
}

// ---------------------------------------------------------------------------------------------
// The data services and the gateway: hardening the images allow

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

/// redis:7.4-alpine: user redis is uid 999; Onyx uses it for cache and sessions, ephemeral.
#[test]
fn redis_user_and_command() {
    for s in every_stack() {
        let psc = s.pod("redis").security_context.as_ref().unwrap();
        assert_eq!(psc.run_as_user, Some(999));
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
/// unbuffered, HTTP/1.1 (tests/it/nginx_gateway.rs runs it with real nginx).
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

// ---------------------------------------------------------------------------------------------
// The simulator follows the same rules (crates/k8s-sim/src/images.rs), so what `onyx up` applies
// is held to them, and a spec that breaks one fails with the image's own message, which the
// diagnosis `up` prints then names.

mod with_the_simulator {
    use std::time::{Duration, Instant};

    use k8s_openapi::api::core::v1::{EnvVar, Pod};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use k8s_sim::{Sim, SimConfig};
    use kube::api::{Api, ListParams};
    use onyx::kube::{ConnectOptions, Target, apply, connect, diagnose};
    use onyx::stack::profile::{self, ProfileName};
    use onyx::stack::render::{self, Object, RenderOptions, Rendered};
    use onyx::stack::secrets::Credentials;

    const NS: &str = "contracts";

    async fn sim_target(cluster_domain: &str) -> (Sim, tempfile::TempDir, Target) {
        let crate::support::sim::SimEnv {
            sim,
            dir,
            kubeconfig,
        } = crate::support::sim::SimEnv::start(SimConfig {
            cluster_domain: cluster_domain.into(),
            ..crate::support::sim::timing(100, Some(100))
        })
        .await;
        let target = connect(
            &ConnectOptions {
                kubeconfig: Some(kubeconfig),
                context: Some("sim".into()),
                namespace: Some(NS.into()),
            },
            true,
        )
        .await
        .expect("connect to the simulator");
        (sim, dir, target)
    }

    fn rendered(p: ProfileName) -> Vec<Rendered> {
        render::render(&RenderOptions {
            profile: profile::profile(p),
            namespace: Some(NS),
            web_url: "http://localhost:3000".into(),
            credentials: Some(&Credentials::generate()),
            gateway_node_port: None,
            indexing: onyx::stack::indexing::Indexing::default_for(p),
        })
    }

    fn main_container<'a>(
        objects: &'a mut [Rendered],
        service: &str,
    ) -> &'a mut k8s_openapi::api::core::v1::Container {
        let r = objects
            .iter_mut()
            .find(|r| r.service == Some(service) && r.object.pod_template().is_some())
            .unwrap();
        let template = match &mut r.object {
            Object::Deployment(d) => &mut d.spec.as_mut().unwrap().template,
            Object::StatefulSet(s) => &mut s.spec.as_mut().unwrap().template,
            _ => unreachable!(),
        };
        let spec = template.spec.as_mut().unwrap();
        spec.containers
            .iter_mut()
            .find(|c| c.name == service)
            .unwrap()
    }

    fn set_env(c: &mut k8s_openapi::api::core::v1::Container, name: &str, value: Option<&str>) {
        let env = c.env.get_or_insert_with(Vec::new);
        env.retain(|e| e.name != name);
        if let Some(v) = value {
            env.push(EnvVar {
                name: name.into(),
                value: Some(v.into()),
                value_from: None,
            });
        }
    }

    /// (service, ready, crash-looping) for every pod of the stack.
    async fn states(target: &Target) -> Vec<(String, bool, bool)> {
        let pods: Api<Pod> = Api::namespaced(target.client.clone(), NS);
        let list = pods.list(&ListParams::default()).await.unwrap().items;
        list.iter()
            .map(|p| {
                let name = p
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("app.kubernetes.io/name"))
                    .cloned()
                    .unwrap_or_default();
                let st = p.status.as_ref();
                let statuses = st.and_then(|s| s.container_statuses.as_ref());
                let ready = statuses.is_some_and(|cs| !cs.is_empty() && cs.iter().all(|c| c.ready));
                let crashing = statuses.into_iter().flatten().any(|c| {
                    c.state
                        .as_ref()
                        .and_then(|s| s.waiting.as_ref())
                        .and_then(|w| w.reason.as_deref())
                        == Some("CrashLoopBackOff")
                });
                (name, ready, crashing)
            })
            .collect()
    }

    async fn wait_for(target: &Target, what: &str, done: impl Fn(&[(String, bool, bool)]) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = states(target).await;
            if done(&s) {
                return;
            }
            assert!(Instant::now() < deadline, "{what}: {s:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every profile, on a cluster whose DNS domain is not cluster.local: every pod of the stack
    /// becomes ready under the images' own rules.
    #[tokio::test(flavor = "multi_thread")]
    async fn every_profile_starts_under_the_images_rules_on_any_cluster_domain() {
        for p in [
            ProfileName::Small,
            ProfileName::Medium,
            ProfileName::Large,
            ProfileName::Cluster,
        ] {
            let (_sim, _dir, target) = sim_target("corp.internal").await;
            apply::apply_all(&target, &rendered(p))
                .await
                .expect("apply");
            wait_for(&target, &format!("{p}: every pod ready"), |s| {
                s.len() >= 8 && s.iter().all(|(_, ready, crash)| *ready && !crash)
            })
            .await;
        }
    }

    /// What users hit when a cluster lowers Vespa's limit (and its start check is on), or the API
    /// runs with a pool under its warm-up: the image's own message, and the diagnosis names it.
    #[tokio::test(flavor = "multi_thread")]
    async fn broken_rules_crash_with_the_images_message_and_are_diagnosed() {
        let (_sim, _dir, target) = sim_target("cluster.local").await;
        let mut objects = rendered(ProfileName::Small);
        let vespa = main_container(&mut objects, "vespa");
        set_env(vespa, "VESPA_IGNORE_NOT_ENOUGH_MEMORY", None);
        vespa
            .resources
            .as_mut()
            .unwrap()
            .limits
            .as_mut()
            .unwrap()
            .insert("memory".into(), Quantity("2Gi".into()));
        let api = main_container(&mut objects, "api-server");
        set_env(api, "POSTGRES_API_SERVER_POOL_SIZE", Some("10"));
        set_env(api, "POSTGRES_API_SERVER_POOL_OVERFLOW", Some("5"));
        apply::apply_all(&target, &objects).await.expect("apply");
        wait_for(&target, "vespa and the API crash-loop", |s| {
            ["vespa", "api-server"]
                .iter()
                .all(|svc| s.iter().any(|(n, _, crash)| n == svc && *crash))
        })
        .await;

        let d = diagnose::diagnose(
            &diagnose::gather(&target, "vespa", false, Some(ProfileName::Small)).await,
        );
        assert!(d.problem.contains("its memory limit is 2Gi"), "{d}");
        assert!(
            d.detail[0].contains("requires at least 4GB available memory"),
            "{d}"
        );
        let d = diagnose::diagnose(
            &diagnose::gather(&target, "api-server", false, Some(ProfileName::Small)).await,
        );
        assert!(d.problem.contains("(10 + 5 overflow)"), "{d}");
        assert!(
            d.detail[0].contains("QueuePool limit of size 10 overflow 5"),
            "{d}"
        );

        // Vespa named for cluster.local on another domain: its config server refuses to start.
        let (_sim, _dir, target) = sim_target("corp.internal").await;
        let mut objects = rendered(ProfileName::Small);
        let vespa = main_container(&mut objects, "vespa");
        set_env(vespa, "VESPA_HOSTNAME", None);
        set_env(
            vespa,
            "VESPA_CONFIGSERVERS",
            Some("vespa-0.vespa-service.$(POD_NAMESPACE).svc.cluster.local"),
        );
        apply::apply_all(&target, &objects).await.expect("apply");
        wait_for(&target, "vespa crash-loops", |s| {
            s.iter().any(|(n, _, crash)| n == "vespa" && *crash)
        })
        .await;
        let d = diagnose::diagnose(
            &diagnose::gather(&target, "vespa", false, Some(ProfileName::Small)).await,
        );
        assert!(d.problem.contains("VESPA_CONFIGSERVERS"), "{d}");
        assert!(
            d.detail.iter().any(|l| l.contains(
                "this host [vespa-0.vespa-service.contracts.svc.corp.internal] should not run a config server"
            )),
            "{d}"
        );
    }
}
