//! Contracts of the indexing services (issue #12) with the real images, asserted over the
//! rendered objects of every profile with indexing on (and, where it differs, off). Each test
//! names the upstream file it relies on: Onyx `onyx-dot-app/onyx` at v2.3.0, supervisor 4.2.5
//! (the version `backend/requirements/default.txt` pins).

use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use onyx::stack::indexing::{Indexing, Mode};
use onyx::stack::profile::{self, ProfileName};
use onyx::stack::render::{self, Object, RenderOptions, Rendered};
use onyx::stack::secrets::Credentials;

const PROFILES: [ProfileName; 4] = [
    ProfileName::Small,
    ProfileName::Medium,
    ProfileName::Large,
    ProfileName::Cluster,
];

const SUPERVISORD_CONF: &str = "/etc/supervisor/conf.d/supervisord.conf";

struct Stack {
    label: String,
    mode: Mode,
    objects: Vec<Rendered>,
}

fn stacks(indexing: impl Fn(ProfileName) -> Indexing) -> Vec<Stack> {
    let creds = Credentials::generate();
    let mut out = Vec::new();
    for p in PROFILES {
        for ns in [None, Some("team-a")] {
            let indexing = indexing(p);
            out.push(Stack {
                label: format!("{p} {:?} (namespace {ns:?})", indexing.mode),
                mode: indexing.mode,
                objects: render::render(&RenderOptions {
                    profile: profile::profile(p),
                    namespace: ns,
                    web_url: "http://localhost:3000".into(),
                    credentials: Some(&creds),
                    gateway_node_port: None,
                    indexing,
                    // Offline with a namespace, online without (HF_HUB_OFFLINE either way).
                    app: onyx::stack::render::AppOptions {
                        telemetry: false,
                        hub_offline: ns.is_some(),
                    },
                }),
            });
        }
    }
    out
}

/// Every profile with indexing on.
fn indexing_stacks() -> Vec<Stack> {
    stacks(Indexing::on)
}

impl Stack {
    fn pod(&self, service: &str) -> &PodSpec {
        self.objects
            .iter()
            .find(|r| r.service == Some(service) && r.object.pod_template().is_some())
            .and_then(|r| r.object.pod_template())
            .and_then(|t| t.spec.as_ref())
            .unwrap_or_else(|| panic!("{}: no workload {service}", self.label))
    }
    fn main(&self, service: &str) -> &Container {
        self.pod(service)
            .containers
            .iter()
            .find(|c| c.name == service)
            .unwrap()
    }
    fn has(&self, service: &str) -> bool {
        self.objects.iter().any(|r| r.service == Some(service))
    }
    fn policies(&self) -> Vec<&NetworkPolicy> {
        self.objects
            .iter()
            .filter_map(|r| match &r.object {
                Object::NetworkPolicy(p) => Some(p),
                _ => None,
            })
            .collect()
    }
}

fn env_value(c: &Container, name: &str) -> Option<String> {
    c.env
        .iter()
        .flatten()
        .find(|e| e.name == name)
        .and_then(|e| e.value.clone())
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

fn exec(p: &Option<k8s_openapi::api::core::v1::Probe>) -> String {
    p.as_ref()
        .and_then(|p| p.exec.as_ref())
        .and_then(|e| e.command.as_ref())
        .expect("an exec probe")
        .join(" ")
}

/// Onyx v2.3.0 `deployment/docker_compose/docker-compose.yml` `background`: the onyx-backend image
/// running `/app/scripts/supervisord_entrypoint.sh` with USE_LIGHTWEIGHT_BACKGROUND_WORKER=true
/// (`backend/supervisord.conf`: autostart of celery_worker_background; the entrypoint sets
/// USE_SEPARATE_BACKGROUND_WORKERS=false), one replica, replaced rather than rolled (one beat).
#[test]
fn background_runs_composes_entrypoint_in_lightweight_mode() {
    for s in indexing_stacks() {
        let c = s.main("background");
        assert_eq!(
            command(&c.clone()),
            "/app/scripts/supervisord_entrypoint.sh"
        );
        assert_eq!(c.image.as_deref(), Some("onyxdotapp/onyx-backend:v2.3.0"));
        assert_eq!(
            env_value(c, "USE_LIGHTWEIGHT_BACKGROUND_WORKER").as_deref(),
            Some("true")
        );
        let w = s
            .objects
            .iter()
            .find(|r| r.service == Some("background") && r.object.kind() == "Deployment")
            .unwrap();
        assert_eq!(w.object.replicas(), Some(1), "{}", s.label);
        let Object::Deployment(d) = &w.object else {
            unreachable!()
        };
        let strategy = d.spec.as_ref().unwrap().strategy.as_ref().unwrap();
        assert_eq!(strategy.type_.as_deref(), Some("Recreate"));
    }
}

/// The settings the workers read by name, as the API gets them: `backend/onyx/configs/
/// app_configs.py` (POSTGRES_*, REDIS_*, S3_*), `shared_configs/configs.py` (MODEL_SERVER_HOST,
/// INDEXING_MODEL_SERVER_HOST/PORT, which default to the model server's), the ConfigMap for the
/// addresses and the same Secrets for the credentials.
#[test]
fn background_gets_the_apis_settings_and_credentials() {
    for s in indexing_stacks() {
        let api = s.main("api-server");
        let bg = s.main("background");
        let from_config = |c: &Container| {
            c.env_from
                .iter()
                .flatten()
                .filter_map(|e| e.config_map_ref.as_ref().map(|r| r.name.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(from_config(bg), from_config(api), "{}", s.label);
        for secret in [
            "POSTGRES_USER",
            "POSTGRES_PASSWORD",
            "REDIS_PASSWORD",
            "S3_AWS_ACCESS_KEY_ID",
            "S3_AWS_SECRET_ACCESS_KEY",
        ] {
            let of = |c: &Container| {
                c.env
                    .iter()
                    .flatten()
                    .find(|e| e.name == secret)
                    .and_then(|e| e.value_from.as_ref())
                    .and_then(|v| v.secret_key_ref.as_ref())
                    .map(|r| (r.name.clone(), r.key.clone()))
            };
            assert!(of(bg).is_some(), "{}: no {secret}", s.label);
            assert_eq!(of(bg), of(api), "{}: {secret}", s.label);
        }
        let host = env_value(bg, "INDEXING_MODEL_SERVER_HOST").unwrap();
        let expected = match s.mode {
            Mode::Dedicated => "indexing-model-server",
            Mode::Shared => "inference-model-server",
            Mode::Off => unreachable!(),
        };
        assert_eq!(host, expected, "{}", s.label);
        assert!(s.has(&host), "{}: {host} is not deployed", s.label);
        assert_eq!(
            env_value(bg, "INDEXING_MODEL_SERVER_PORT").as_deref(),
            Some("9000")
        );
    }
}

/// supervisord.conf `[supervisord] user=root`: supervisor 4.2.5 `options.py` drop_privileges
/// refuses ("Can't drop privilege as nonroot user") any other user, and as root with user=root it
/// changes no uid, so no capability is needed. Its logs go under /var/log (an emptyDir here, as
/// /var/log/onyx in the image belongs to uid 1001) and its socket to /tmp/supervisor.sock (the
/// root filesystem: tiktoken's cache is baked under /tmp, `backend/Dockerfile`).
#[test]
fn background_is_root_without_capabilities_with_its_writable_paths() {
    for s in indexing_stacks() {
        let spec = s.pod("background");
        let c = s.main("background");
        let sc = c.security_context.as_ref().unwrap();
        assert_eq!(sc.run_as_user, Some(0), "{}", s.label);
        assert_eq!(sc.run_as_non_root, Some(false));
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(sc.privileged, Some(false));
        assert_eq!(
            sc.capabilities.as_ref().unwrap().drop.as_deref(),
            Some(&["ALL".to_string()][..])
        );
        assert!(sc.capabilities.as_ref().unwrap().add.is_none());
        let logs = c
            .volume_mounts
            .iter()
            .flatten()
            .find(|m| m.mount_path == "/var/log")
            .expect("/var/log mounted");
        let vol = spec
            .volumes
            .iter()
            .flatten()
            .find(|v| v.name == logs.name)
            .unwrap();
        assert!(vol.empty_dir.as_ref().unwrap().size_limit.is_some());
        assert!(
            c.volume_mounts
                .iter()
                .flatten()
                .all(|m| m.mount_path != "/tmp" && !m.mount_path.starts_with("/root")),
            "{}",
            s.label
        );
        // The pod (and so the wait) is the image's onyx user; only supervisord is root.
        let psc = spec.security_context.as_ref().unwrap();
        assert_eq!(psc.run_as_user, Some(1001));
        assert_eq!(psc.run_as_non_root, Some(true));
        assert_eq!(spec.automount_service_account_token, Some(false));
    }
}

/// Liveness from supervisord itself: `supervisorctl -c <the entrypoint's config> status <the
/// three programs>` exits non-zero when one is STOPPED/EXITED/FATAL or supervisord doesn't answer
/// (supervisor 4.2.5 `supervisorctl.py` do_status; the config's [supervisorctl] serverurl is
/// unix:///tmp/supervisor.sock). Only those three are named: the separate workers are STOPPED in
/// lightweight mode and slack_bot ends FATAL without a bot. Readiness adds Onyx's own
/// worker_ready files (`apps/app_base.py` on_worker_ready, `celery_utils.py` make_probe_path).
#[test]
fn background_probes_read_supervisord_and_onyxs_ready_files() {
    for s in indexing_stacks() {
        let c = s.main("background");
        let live = exec(&c.liveness_probe);
        assert_eq!(
            live,
            format!(
                "supervisorctl -c {SUPERVISORD_CONF} status celery_worker_primary \
                 celery_worker_background celery_beat"
            )
        );
        assert_eq!(exec(&c.startup_probe), live);
        let ready = exec(&c.readiness_probe);
        assert!(ready.contains(&format!("supervisorctl -c {SUPERVISORD_CONF} status")));
        assert!(ready.contains("$2 == \"RUNNING\"") && ready.contains("n != 3"));
        for f in [
            "/tmp/onyx_k8s_primary_readiness.txt",
            "/tmp/onyx_k8s_background_readiness.txt",
        ] {
            assert!(ready.contains(&format!("test -f {f}")), "{}", s.label);
        }
        assert!(!ready.contains("slack_bot") && !live.contains("slack_bot"));
    }
}

/// Started after the API has migrated: the init container compares PostgreSQL's
/// public.alembic_version (`backend/alembic/env.py` version_table_schema =
/// POSTGRES_DEFAULT_SCHEMA) with the release's heads (Onyx v2.3.0 `backend/alembic/versions`:
/// `5e1c073d48a3`), reads only (never `upgrade`), then waits
/// for Vespa's 8081 (up once the API has deployed the application package,
/// `backend/onyx/setup.py`) and the model server the workers embed through.
#[test]
fn background_starts_after_the_api_has_migrated() {
    for s in indexing_stacks() {
        let spec = s.pod("background");
        let inits: Vec<&Container> = spec.init_containers.iter().flatten().collect();
        assert_eq!(inits.len(), 1, "{}", s.label);
        let wait = command(inits[0]);
        // The release's heads, rendered (release::ALEMBIC_HEADS), not alembic's revision map:
        // building that imports Onyx (a log file under the read-only root, ~172 MiB).
        assert_eq!(
            env_value(inits[0], "RELEASE_ALEMBIC_HEADS").as_deref(),
            Some(onyx::stack::release::ALEMBIC_HEADS.join(" ").as_str())
        );
        assert!(wait.contains("RELEASE_ALEMBIC_HEADS"));
        assert!(
            !wait.contains("alembic.") && !wait.contains("onyx."),
            "{wait}"
        );
        assert!(wait.contains("SELECT version_num FROM public.alembic_version"));
        assert!(!wait.contains("upgrade") && !wait.contains("stamp"));
        assert!(wait.contains("VESPA_PORT") && wait.contains("INDEXING_MODEL_SERVER_HOST"));
        assert_eq!(
            env_value(inits[0], "INDEXING_MODEL_SERVER_HOST"),
            env_value(s.main("background"), "INDEXING_MODEL_SERVER_HOST")
        );
        let sc = inits[0].security_context.as_ref().unwrap();
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_ne!(sc.run_as_user, Some(0));
    }
}

/// docker-compose `indexing_model_server`: the model server's command with INDEXING_ONLY=True
/// (`shared_configs/configs.py`: `.lower() == "true"`), run where the profile has memory for it.
#[test]
fn indexing_model_server_where_memory_allows() {
    for s in indexing_stacks() {
        match s.mode {
            Mode::Dedicated => {
                let c = s.main("indexing-model-server");
                assert_eq!(
                    command(c),
                    "uvicorn model_server.main:app --host 0.0.0.0 --port 9000"
                );
                assert_eq!(
                    env_value(c, "INDEXING_ONLY").map(|v| v.to_lowercase()),
                    Some("true".into())
                );
                let offline = s.label.contains("team-a");
                assert_eq!(
                    env_value(c, "HF_HUB_OFFLINE").as_deref(),
                    offline.then_some("1"),
                    "{}",
                    s.label
                );
                let psc = s.pod("indexing-model-server").security_context.as_ref();
                assert_eq!(psc.unwrap().run_as_user, Some(1001));
            }
            _ => assert!(!s.has("indexing-model-server"), "{}", s.label),
        }
    }
    // Which profiles run one (README's table says the same).
    for (p, mode) in [
        (ProfileName::Small, Mode::Shared),
        (ProfileName::Medium, Mode::Shared),
        (ProfileName::Large, Mode::Dedicated),
        (ProfileName::Cluster, Mode::Dedicated),
    ] {
        assert_eq!(Indexing::on(p).mode, mode, "{p}");
    }
}

/// Policies: the workers reach PostgreSQL 5432, Redis 6379, MinIO 9000, Vespa 19071 and 8081 and
/// the model server(s) on 9000 — each allowed only from the background pods — and nothing else
/// new; no policy admits anything into the workers.
#[test]
fn workers_reach_the_data_services_and_model_servers_and_nothing_else() {
    let label = |sel: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector| {
        sel.match_labels
            .as_ref()
            .and_then(|l| l.get("app.kubernetes.io/name").cloned())
    };
    for s in indexing_stacks() {
        let mut reach: Vec<(String, i32)> = Vec::new();
        for p in s.policies() {
            let spec = p.spec.as_ref().unwrap();
            for rule in spec.ingress.iter().flatten() {
                let from_bg = rule.from.iter().flatten().any(|f| {
                    f.pod_selector.as_ref().and_then(label).as_deref() == Some("background")
                });
                if !from_bg {
                    continue;
                }
                // Only background in such a rule, so the grant is the workers' alone.
                assert_eq!(rule.from.as_ref().unwrap().len(), 1);
                let to = label(spec.pod_selector.as_ref().unwrap()).expect("one target service");
                for port in rule.ports.iter().flatten() {
                    let n = match port.port.as_ref().unwrap() {
                        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(n) => *n,
                        other => panic!("named port {other:?}"),
                    };
                    reach.push((to.clone(), n));
                }
            }
            // Nothing lets traffic into the workers.
            assert_ne!(
                label(spec.pod_selector.as_ref().unwrap()).as_deref(),
                Some("background")
            );
        }
        reach.sort();
        let mut expected: Vec<(String, i32)> = vec![
            ("inference-model-server".into(), 9000),
            ("minio".into(), 9000),
            ("postgresql".into(), 5432),
            ("redis".into(), 6379),
            ("vespa".into(), 8081),
            ("vespa".into(), 19071),
        ];
        if s.mode == Mode::Dedicated {
            expected.push(("indexing-model-server".into(), 9000));
        }
        expected.sort();
        assert_eq!(reach, expected, "{}", s.label);
    }
}

/// Off: no workers, no indexing model server, none of their policies; the record says off and
/// what was asked, so the choice is kept on re-runs (src/kube/workers.rs reads it back).
#[test]
fn indexing_off_deploys_nothing_of_it_and_records_the_choice() {
    for s in stacks(|_| Indexing::off()) {
        assert!(!s.has("background") && !s.has("indexing-model-server"));
        assert!(
            s.policies()
                .iter()
                .all(|p| { !p.metadata.name.as_deref().unwrap().contains("background") })
        );
        let record = s
            .objects
            .iter()
            .find_map(|r| match &r.object {
                Object::ConfigMap(cm) if cm.metadata.name.as_deref() == Some("onyx-indexing") => {
                    cm.data.clone()
                }
                _ => None,
            })
            .expect("onyx-indexing");
        assert_eq!(record["mode"], "off");
        assert_eq!(record["requested"], "off");
    }
    // The defaults: small off, the others on; nothing asked, so nothing is kept.
    for s in stacks(Indexing::default_for) {
        assert_eq!(
            s.has("background"),
            !s.label.starts_with("small"),
            "{}",
            s.label
        );
    }
}

/// Sizes: compose's background limit (10g, `docker-compose.resources.yml`) in large and
/// cluster, helm's indexCapability (3Gi/6Gi) for the indexing model server; every profile's
/// request holds the workers' measured 0.8 GiB idle set (/work/shared/ONYX-STACK.md).
#[test]
fn worker_sizes_follow_upstream_and_the_measured_idle_set() {
    for s in indexing_stacks() {
        let r = s.main("background").resources.as_ref().unwrap();
        let mib = |m: &Option<
            std::collections::BTreeMap<
                String,
                k8s_openapi::apimachinery::pkg::api::resource::Quantity,
            >,
        >| {
            onyx::stack::summary::parse_quantity(&m.as_ref().unwrap()["memory"].0)
                .unwrap()
                .0
        };
        assert!(mib(&r.requests) >= 352 + 272 + 191, "{}", s.label);
        if s.label.starts_with("large") || s.label.starts_with("cluster") {
            assert_eq!(mib(&r.limits), 10 * 1024);
            let m = s.main("indexing-model-server").resources.as_ref().unwrap();
            assert_eq!((mib(&m.requests), mib(&m.limits)), (3 * 1024, 6 * 1024));
        }
    }
}
