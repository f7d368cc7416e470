//! PostgreSQL connections: every pool the stack's processes may open at once, counted from the
//! rendered objects (replicas, rollout surge, pool env), so that `max_connections` covers them
//! and PostgreSQL never answers "too many clients" (issue #20 item 9).
//!
//! Each pool is pool size + overflow (SQLAlchemy opens up to both), from Onyx v2.3.0:
//! - the API, per pod (`backend/onyx/main.py` lifespan, `db/engine/async_sql_engine.py`): a sync
//!   and an async engine of POSTGRES_API_SERVER_POOL_SIZE + _OVERFLOW each (defaults 40 + 10,
//!   `onyx/configs/app_configs.py`) and a read-only engine of
//!   POSTGRES_API_SERVER_READ_ONLY_POOL_SIZE + _OVERFLOW (10 + 5);
//! - pods of a rollout: the Deployment's maxSurge pods run beside the old ones;
//! - the `migrate` init container of a pod starting during a rollout: alembic's connection and
//!   the one holding the advisory lock (2);
//! - the workers (one pod, `Recreate`), lightweight mode (`backend/supervisord.conf`): primary
//!   `celery/apps/primary.py` concurrency CELERY_WORKER_PRIMARY_CONCURRENCY (4) +
//!   CELERY_WORKER_PRIMARY_POOL_OVERFLOW (4); the consolidated worker `celery/apps/background.py`
//!   concurrency CELERY_WORKER_BACKGROUND_CONCURRENCY (20, threads) + 8; beat
//!   `celery/apps/beat.py` 2 + 0; the Slack bot `onyxbot/slack/listener.py` 20 + 5 (it stays
//!   running with no bot configured: the listener loops); and a docfetching child process per
//!   running docfetching task (`background/indexing/job_client.py` 4 + 12), of which the
//!   consolidated worker runs at most its concurrency at once.
//!
//! PostgreSQL memory: an idle backend's private memory was measured at ~1.1 MiB (PostgreSQL 15
//! on Debian bookworm, 40 idle connections, `/proc/PID/smaps_rollup`); the profiles' PostgreSQL
//! limits (1 GiB and more) hold shared_buffers' default 128 MiB plus that many backends with room
//! for the active ones (work_mem 4 MiB per sort). Not from upstream source: our measurement.

use k8s_openapi::api::core::v1::Container;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::stack::object::{Object, Rendered};

/// Slack bot: `SqlEngine.init_engine(pool_size=20, max_overflow=5)`.
pub const SLACK_BOT: u32 = 25;
/// Beat: `SqlEngine.init_engine(pool_size=2, max_overflow=0)`.
pub const BEAT: u32 = 2;
/// A docfetching child: `pool_size=4, max_overflow=12`.
pub const DOCFETCHING_CHILD: u32 = 16;
/// The consolidated worker's overflow (`EXTRA_CONCURRENCY = 8`).
pub const BACKGROUND_OVERFLOW: u32 = 8;
/// The `migrate` init container: alembic's connection and the advisory lock's.
pub const MIGRATE: u32 = 2;
/// What `max_connections` is rounded up to a multiple of.
pub const ROUND: u32 = 50;

fn env_u32(c: &Container, name: &str, default: u32) -> u32 {
    c.env
        .iter()
        .flatten()
        .find(|e| e.name == name)
        .and_then(|e| e.value.as_deref())
        .filter(|v| !v.is_empty())
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Pods beyond `replicas` a rolling update runs at once (Kubernetes' default maxSurge 25%,
/// rounded up).
fn surge(object: &Object, replicas: u32) -> u32 {
    let Object::Deployment(d) = object else {
        return 0;
    };
    let strategy = d.spec.as_ref().and_then(|s| s.strategy.as_ref());
    if strategy.and_then(|s| s.type_.as_deref()) == Some("Recreate") {
        return 0;
    }
    match strategy
        .and_then(|s| s.rolling_update.as_ref())
        .and_then(|r| r.max_surge.as_ref())
    {
        Some(IntOrString::Int(n)) => *n as u32,
        Some(IntOrString::String(p)) => {
            let pct: u32 = p.trim_end_matches('%').parse().unwrap_or(25);
            (replicas * pct).div_ceil(100)
        }
        None => (replicas * 25).div_ceil(100),
    }
}

/// The most connections the rendered stack may hold at once.
pub fn worst_case(objects: &[Rendered]) -> u32 {
    let mut total = 0;
    for r in objects {
        let Some(spec) = r.object.pod_template().and_then(|t| t.spec.as_ref()) else {
            continue;
        };
        let replicas = r.object.replicas().unwrap_or(1).max(0) as u32;
        let main = spec
            .containers
            .iter()
            .find(|c| Some(c.name.as_str()) == r.service);
        match (r.service, main) {
            (Some("api-server"), Some(c)) => {
                let pool = env_u32(c, "POSTGRES_API_SERVER_POOL_SIZE", 40)
                    + env_u32(c, "POSTGRES_API_SERVER_POOL_OVERFLOW", 10);
                let read_only = env_u32(c, "POSTGRES_API_SERVER_READ_ONLY_POOL_SIZE", 10)
                    + env_u32(c, "POSTGRES_API_SERVER_READ_ONLY_POOL_OVERFLOW", 5);
                let surge = surge(&r.object, replicas);
                total += (replicas + surge) * (2 * pool + read_only);
                // A pod migrating while the others serve (a rollout, or a replica restarting).
                total += MIGRATE;
            }
            (Some("background"), Some(c)) => {
                let primary = env_u32(c, "CELERY_WORKER_PRIMARY_CONCURRENCY", 4)
                    + env_u32(c, "CELERY_WORKER_PRIMARY_POOL_OVERFLOW", 4);
                let threads = env_u32(c, "CELERY_WORKER_BACKGROUND_CONCURRENCY", 20);
                let per_pod = primary
                    + threads
                    + BACKGROUND_OVERFLOW
                    + BEAT
                    + SLACK_BOT
                    + threads * DOCFETCHING_CHILD;
                total += (replicas + surge(&r.object, replicas)) * per_pod;
            }
            _ => {}
        }
    }
    total
}

/// Slots beyond the stack's pools: PostgreSQL 15 keeps `superuser_reserved_connections`
/// (default 3: PostgreSQL 15's `postgresql.conf.sample`, and `SHOW` on a real 15 server here;
/// 15.2 is not at hand, 15.18 is) for superusers only, and the read-only role is none; and
/// onyx's own sessions (`doctor`'s query, `backup`'s pg_dump, `restore`'s psql) and a user's
/// psql need a slot while the stack is at its worst.
pub const HEADROOM: u32 = 3 + 7;

/// `max_connections` for a worst case of `worst` connections: with [`HEADROOM`], rounded up.
pub fn max_connections_for(worst: u32) -> u32 {
    (worst + HEADROOM).div_ceil(ROUND).max(1) * ROUND
}

/// `max_connections` for the rendered stack as it is (render sizes PostgreSQL for the profile
/// with its workers, whatever the indexing: [`crate::stack::render::render`]).
pub fn max_connections(objects: &[Rendered]) -> u32 {
    max_connections_for(worst_case(objects))
}
