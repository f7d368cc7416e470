//! What the deployed Onyx is configured with beyond its addresses (issue #20 items 10, 12, 15,
//! 16, 17): its own secrets, telemetry, the indexing model server the API asks, and the
//! checksum that rolls a pod when what it reads changes. Facts from Onyx v2.3.0
//! `backend/onyx/configs/app_configs.py` and `backend/shared_configs/configs.py`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Container;
use onyx::stack::indexing::Indexing;
use onyx::stack::profile::{self, ProfileName};
use onyx::stack::render::{self, AppOptions, CONFIG_CHECKSUM, Object, RenderOptions, Rendered};
use onyx::stack::secrets::Credentials;

use super::{PROFILES, command, env, env_value, every_stack};

fn render_with(
    p: ProfileName,
    url: &str,
    creds: &Credentials,
    app: AppOptions,
    indexing: Indexing,
) -> Vec<Rendered> {
    render::render(&RenderOptions {
        profile: profile::profile(p),
        namespace: Some("onyx"),
        web_url: url.into(),
        credentials: Some(creds),
        gateway_node_port: None,
        indexing,
        app,
    })
}

/// Workload name → its pod template's checksum annotation.
fn checksums(objects: &[Rendered]) -> BTreeMap<String, String> {
    objects
        .iter()
        .filter_map(|r| {
            let t = r.object.pod_template()?;
            let sum = t
                .metadata
                .as_ref()?
                .annotations
                .as_ref()?
                .get(CONFIG_CHECKSUM)?;
            Some((r.object.name().to_string(), sum.clone()))
        })
        .collect()
}

fn secret_ref<'a>(c: &'a Container, name: &str) -> Option<(&'a str, &'a str)> {
    let r = env(c, name)?.value_from.as_ref()?.secret_key_ref.as_ref()?;
    Some((r.name.as_str(), r.key.as_str()))
}

/// Item 16: `DISABLE_TELEMETRY` (app_configs.py: `.lower() == "true"`) is "true" unless the user
/// chose telemetry, and every Onyx process reads it from onyx-config.
#[test]
fn onyx_telemetry_is_off_unless_chosen() {
    for s in every_stack() {
        assert_eq!(s.config("DISABLE_TELEMETRY"), "true", "{}", s.label);
        for (service, pod) in s.pods() {
            for c in pod.containers.iter().filter(|c| {
                c.image
                    .as_deref()
                    .is_some_and(|i| i.starts_with("onyxdotapp/onyx-backend"))
            }) {
                assert!(
                    c.env_from.iter().flatten().any(|f| f
                        .config_map_ref
                        .as_ref()
                        .is_some_and(|r| r.name == "onyx-config")),
                    "{}: {service}/{} does not read onyx-config",
                    s.label,
                    c.name
                );
            }
        }
    }
    let on = render_with(
        ProfileName::Small,
        "http://localhost:3000",
        &Credentials::generate(),
        AppOptions {
            telemetry: true,
            hub_offline: false,
        },
        Indexing::on(ProfileName::Small),
    );
    let cm = on
        .iter()
        .find_map(|r| match &r.object {
            Object::ConfigMap(c) if c.metadata.name.as_deref() == Some("onyx-config") => {
                c.data.clone()
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(cm["DISABLE_TELEMETRY"], "false");
}

/// Item 15: DB_READONLY_PASSWORD (migration 495cb26ce93e creates `db_readonly_user` with it,
/// default "password") and USER_AUTH_SECRET (default empty) come from the generated Secret
/// onyx-app; the `migrate` init container, which runs the migration, has the password and sets
/// it on an existing role after the migrations, as the database owner.
#[test]
fn onyx_own_secrets_are_generated_and_the_read_only_role_gets_its_password() {
    for s in every_stack() {
        let secret = s
            .objects
            .iter()
            .find_map(|r| match &r.object {
                Object::Secret(x) if x.metadata.name.as_deref() == Some("onyx-app") => {
                    x.data.clone()
                }
                _ => None,
            })
            .unwrap_or_else(|| panic!("{}: no Secret onyx-app", s.label));
        for key in ["db-readonly-password", "user-auth-secret"] {
            let v = String::from_utf8(secret[key].0.clone()).unwrap();
            assert!(v.len() >= 32 && v != "password", "{}: {key}", s.label);
            // app_configs.py quote_plus()es DB_READONLY_PASSWORD into the role's password:
            // only a value quote_plus leaves alone is the password the role gets.
            assert!(v.chars().all(|c| c.is_ascii_alphanumeric()), "{key}");
        }
        let api = s.main("api-server");
        assert_eq!(
            secret_ref(api, "DB_READONLY_PASSWORD"),
            Some(("onyx-app", "db-readonly-password"))
        );
        assert_eq!(
            secret_ref(api, "USER_AUTH_SECRET"),
            Some(("onyx-app", "user-auth-secret"))
        );
        let migrate = s.init("api-server", "migrate");
        assert_eq!(
            secret_ref(migrate, "DB_READONLY_PASSWORD"),
            Some(("onyx-app", "db-readonly-password"))
        );
        let script = command(migrate);
        let upgrade = script.find("\"alembic\", \"upgrade\", \"head\"").unwrap();
        let alter = script
            .find("ALTER ROLE")
            .expect("the role's password is set");
        assert!(upgrade < alter, "after the migrations");
        assert!(script.contains("db_readonly_user") && script.contains("DB_READONLY_PASSWORD"));
    }
}

/// Item 17: the API asks the indexing model server for its GPU status at start (onyx/setup.py
/// `gpu_status_request(indexing=True)`, shared_configs INDEXING_MODEL_SERVER_HOST, default
/// MODEL_SERVER_HOST): where one runs, the API names it and the NetworkPolicy admits it.
#[test]
fn the_api_asks_the_indexing_model_server_where_one_runs() {
    for s in every_stack() {
        let dedicated = s
            .objects
            .iter()
            .any(|r| r.service == Some("indexing-model-server"));
        let api = s.main("api-server");
        let host = env_value(api, "INDEXING_MODEL_SERVER_HOST").unwrap_or_default();
        let wait = s.init("api-server", "wait-for-dependencies");
        assert_eq!(
            env_value(wait, "INDEXING_MODEL_SERVER_HOST").unwrap_or_default(),
            host
        );
        if dedicated {
            assert_eq!(host, "indexing-model-server", "{}", s.label);
            let admitted = s.objects.iter().any(|r| match &r.object {
                Object::NetworkPolicy(np) => {
                    let spec = np.spec.as_ref().unwrap();
                    spec.pod_selector
                        .as_ref()
                        .and_then(|p| p.match_labels.as_ref())
                        .is_some_and(|l| {
                            l.get("app.kubernetes.io/name").map(String::as_str)
                                == Some("indexing-model-server")
                        })
                        && spec.ingress.iter().flatten().any(|i| {
                            i.from.iter().flatten().any(|f| {
                                f.pod_selector
                                    .as_ref()
                                    .and_then(|p| p.match_labels.as_ref())
                                    .is_some_and(|l| {
                                        l.get("app.kubernetes.io/name").map(String::as_str)
                                            == Some("api-server")
                                    })
                            }) && i.ports.iter().flatten().any(|p| {
                                p.port
                                == Some(
                                    k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(
                                        9000,
                                    ),
                                )
                            })
                        })
                }
                _ => false,
            });
            assert!(admitted, "{}: API → indexing model server denied", s.label);
        } else {
            assert!(
                host.is_empty() || host == "inference-model-server",
                "{}: {host}",
                s.label
            );
        }
    }
}

/// Item 12: every pod template carries a checksum of what it reads; the same inputs (and the
/// same kept Secrets) give the same objects, so `up` applies no change; a new URL changes the
/// templates that read onyx-config and no other; a new Redis password those that read it.
#[test]
fn config_checksums_roll_exactly_the_pods_that_read_a_change() {
    let creds = Credentials::generate();
    for p in PROFILES {
        let indexing = Indexing::on(p);
        let app = AppOptions::default();
        let a = render_with(p, "http://localhost:3000", &creds, app, indexing);
        let again = render_with(p, "http://localhost:3000", &creds, app, indexing);
        assert_eq!(
            render::to_yaml(&a),
            render::to_yaml(&again),
            "{p}: re-render"
        );
        let before = checksums(&a);
        // Every pod template that reads a ConfigMap or Secret (the model servers and Vespa
        // read none).
        for reads in [
            "api-server",
            "background",
            "minio",
            "nginx",
            "postgresql",
            "redis",
            "web-server",
        ] {
            assert!(before.contains_key(reads), "{p}: {reads} has no checksum");
        }

        let url = checksums(&render_with(
            p,
            "https://onyx.example.com",
            &creds,
            app,
            indexing,
        ));
        let changed: Vec<&str> = before
            .iter()
            .filter(|(k, v)| url.get(*k) != Some(*v))
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(
            changed,
            ["api-server", "background", "web-server"],
            "{p}: --url"
        );

        let mut other = creds.clone();
        other
            .0
            .get_mut("onyx-redis")
            .unwrap()
            .insert("password".into(), "x".repeat(40));
        let redis = checksums(&render_with(
            p,
            "http://localhost:3000",
            &other,
            app,
            indexing,
        ));
        let changed: Vec<&str> = before
            .iter()
            .filter(|(k, v)| redis.get(*k) != Some(*v))
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(
            changed,
            ["api-server", "background", "redis"],
            "{p}: Redis password"
        );
    }
}
