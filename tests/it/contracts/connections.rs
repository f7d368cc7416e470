//! PostgreSQL connections (issue #20 item 9), counted here from the rendered objects on their
//! own — not with `onyx::stack::connections` — pool by pool from Onyx v2.3.0:
//! API per pod: sync + async engines of POSTGRES_API_SERVER_POOL_SIZE + _OVERFLOW (40 + 10) and
//! the read-only engine (10 + 5) (`onyx/main.py`, `onyx/configs/app_configs.py`); its rollout's
//! surge pods (maxSurge, Kubernetes' default 25% rounded up); a migrating pod (2).
//! Workers (`supervisord.conf` lightweight mode): primary 4 + 4, consolidated 20 threads + 8,
//! beat 2, the Slack bot 20 + 5 (`onyxbot/slack/listener.py`, it keeps running), and one
//! docfetching child (4 + 12, `background/indexing/job_client.py`) per consolidated thread.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use onyx::stack::indexing::Indexing;
use onyx::stack::profile::{self, ProfileName};
use onyx::stack::render::{self, AppOptions, Object, RenderOptions, Rendered};
use onyx::stack::secrets::Credentials;
use onyx::stack::summary::parse_quantity;

use super::{PROFILES, command, env_value};

fn rendered(p: ProfileName, indexing: Indexing) -> Vec<Rendered> {
    render::render(&RenderOptions {
        profile: profile::profile(p),
        namespace: None,
        web_url: "http://localhost:3000".into(),
        credentials: Some(&Credentials::generate()),
        gateway_node_port: None,
        indexing,
        app: AppOptions::default(),
    })
}

fn deployment<'a>(
    objects: &'a [Rendered],
    name: &str,
) -> Option<&'a k8s_openapi::api::apps::v1::Deployment> {
    objects.iter().find_map(|r| match &r.object {
        Object::Deployment(d) if d.metadata.name.as_deref() == Some(name) => Some(d),
        _ => None,
    })
}

fn count(objects: &[Rendered]) -> u64 {
    let n = |c: &k8s_openapi::api::core::v1::Container, name: &str, default: u64| {
        env_value(c, name)
            .filter(|v| !v.is_empty())
            .map(|v| v.parse::<u64>().unwrap())
            .unwrap_or(default)
    };
    let main = |d: &k8s_openapi::api::apps::v1::Deployment, name: &str| {
        d.spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .unwrap()
            .containers
            .iter()
            .find(|c| c.name == name)
            .cloned()
            .unwrap()
    };
    let api = deployment(objects, "api-server").expect("the API");
    let spec = api.spec.as_ref().unwrap();
    let replicas = spec.replicas.unwrap_or(1) as u64;
    let strategy = spec.strategy.as_ref();
    let surge = match strategy
        .and_then(|s| s.rolling_update.as_ref())
        .and_then(|r| r.max_surge.clone())
    {
        Some(IntOrString::Int(n)) => n as u64,
        Some(IntOrString::String(p)) => {
            (replicas * p.trim_end_matches('%').parse::<u64>().unwrap()).div_ceil(100)
        }
        None if strategy.and_then(|s| s.type_.as_deref()) == Some("Recreate") => 0,
        None => replicas.div_ceil(4),
    };
    let c = main(api, "api-server");
    let per_pod = 2
        * (n(&c, "POSTGRES_API_SERVER_POOL_SIZE", 40)
            + n(&c, "POSTGRES_API_SERVER_POOL_OVERFLOW", 10))
        + n(&c, "POSTGRES_API_SERVER_READ_ONLY_POOL_SIZE", 10)
        + n(&c, "POSTGRES_API_SERVER_READ_ONLY_POOL_OVERFLOW", 5);
    let mut total = (replicas + surge) * per_pod + 2;
    if let Some(bg) = deployment(objects, "background") {
        let s = bg.spec.as_ref().unwrap();
        assert_eq!(
            s.strategy.as_ref().and_then(|s| s.type_.as_deref()),
            Some("Recreate"),
            "one workers pod at a time"
        );
        assert_eq!(s.replicas, Some(1));
        let c = main(bg, "background");
        let threads = n(&c, "CELERY_WORKER_BACKGROUND_CONCURRENCY", 20);
        total += n(&c, "CELERY_WORKER_PRIMARY_CONCURRENCY", 4)
            + n(&c, "CELERY_WORKER_PRIMARY_POOL_OVERFLOW", 4)
            + threads
            + 8
            + 2
            + 25
            + threads * 16;
    }
    total
}

fn max_connections(objects: &[Rendered]) -> u64 {
    objects
        .iter()
        .find_map(|r| match &r.object {
            Object::Deployment(d) if d.metadata.name.as_deref() == Some("postgresql") => Some(d),
            _ => None,
        })
        .map(|d| {
            let c = &d
                .spec
                .as_ref()
                .unwrap()
                .template
                .spec
                .as_ref()
                .unwrap()
                .containers[0];
            command(c)
                .split_whitespace()
                .find_map(|a| a.strip_prefix("max_connections="))
                .expect("max_connections set")
                .parse()
                .unwrap()
        })
        .or_else(|| {
            objects.iter().find_map(|r| match &r.object {
                Object::StatefulSet(s) if s.metadata.name.as_deref() == Some("postgresql") => {
                    let c = &s.spec.as_ref()?.template.spec.as_ref()?.containers[0];
                    command(c)
                        .split_whitespace()
                        .find_map(|a| a.strip_prefix("max_connections="))?
                        .parse()
                        .ok()
                }
                _ => None,
            })
        })
        .expect("a PostgreSQL workload")
}

/// Every profile, indexing on and off: max_connections covers every pool at once, rollout
/// included, and PostgreSQL's memory limit holds that many idle backends (~1.1 MiB each,
/// measured: PostgreSQL 15, Debian bookworm, /proc/PID/smaps_rollup) over shared_buffers'
/// default 128 MiB with half its limit to spare.
#[test]
fn postgres_max_connections_covers_every_pool_at_once() {
    for p in PROFILES {
        let mut maxes = Vec::new();
        for indexing in [Indexing::off(), Indexing::on(p)] {
            let objects = rendered(p, indexing);
            let need = count(&objects);
            let max = max_connections(&objects);
            maxes.push(max);
            // PostgreSQL 15 keeps 3 slots for superusers only (superuser_reserved_connections),
            // and doctor, backup or a psql must still get one at the stack's worst.
            assert!(
                max > need + 3,
                "{p} {:?}: {max} < {need} + 4",
                indexing.mode
            );
            let limit = objects
                .iter()
                .filter(|r| r.service == Some("postgresql"))
                .find_map(|r| {
                    let c = &r.object.pod_template()?.spec.as_ref()?.containers[0];
                    c.resources
                        .as_ref()?
                        .limits
                        .as_ref()?
                        .get("memory")
                        .cloned()
                })
                .expect("a memory limit");
            let (limit_mib, unit) = parse_quantity(&limit.0).unwrap();
            assert_eq!(unit, "Mi");
            let limit_mib = limit_mib as f64;
            let idle_mib = 128.0 + max as f64 * 1.1;
            assert!(
                idle_mib <= limit_mib / 2.0,
                "{p}: {max} connections need {idle_mib} MiB idle of {limit_mib}"
            );
        }
        // Turning indexing on or off leaves PostgreSQL's args alone: no restart under the API.
        assert!(maxes.windows(2).all(|w| w[0] == w[1]), "{p}: {maxes:?}");
    }
    // The count: the cluster profile's two API replicas and the workers exceed 250.
    let cluster = rendered(ProfileName::Cluster, Indexing::on(ProfileName::Cluster));
    assert!(count(&cluster) > 250);
}

/// No rollout runs a third API pod (its pools are counted above as zero surge).
#[test]
fn the_api_rolls_without_a_surge_pod() {
    for p in PROFILES {
        let objects = rendered(p, Indexing::default_for(p));
        let d = deployment(&objects, "api-server").unwrap();
        let r = d
            .spec
            .as_ref()
            .unwrap()
            .strategy
            .as_ref()
            .and_then(|s| s.rolling_update.as_ref())
            .expect("a rolling update");
        assert_eq!(r.max_surge, Some(IntOrString::Int(0)), "{p}");
        assert_eq!(r.max_unavailable, Some(IntOrString::Int(1)), "{p}");
    }
}
