//! `onyx doctor` for the background workers (issue #12), when the stack runs them:
//!
//! 1. alive: `supervisorctl status` of the primary worker, the consolidated worker and beat, run
//!    in the background pod over supervisord's unix socket (Onyx v2.3.0 `backend/supervisord.conf`
//!    `[supervisorctl] serverurl=unix:///tmp/supervisor.sock`), each RUNNING;
//! 2. consuming: the Celery queues in Redis, sampled twice [`SAMPLE_SECONDS`] apart and not
//!    growing past [`BACKLOG`]. Read in the redis pod with `redis-cli` (REDISCLI_AUTH, the
//!    generated password, is in its environment) on the broker database 15
//!    (`backend/onyx/configs/app_configs.py` REDIS_DB_NUMBER_CELERY) as Onyx itself counts them
//!    (`backend/onyx/background/celery/celery_redis.py` celery_get_queue_length): LLEN of the
//!    queue's key plus `<queue>:1` … `<queue>:4`, one list per priority (`OnyxCeleryPriority`,
//!    kombu's priority steps with separator ":").

use std::time::Duration;

use kube::Client;

use crate::doctor::Finding;
use crate::kube::exec;

/// Seconds between the two samples of the queues.
pub const SAMPLE_SECONDS: u32 = 3;
/// A queue longer than this that grew between the samples is falling behind.
pub const BACKLOG: u64 = 100;

/// The queues the lightweight workers consume (`supervisord.conf`: primary `-Q celery`; the
/// consolidated worker's `-Q` list).
pub const CONSUMED: &[&str] = &[
    "celery",
    "vespa_metadata_sync",
    "connector_deletion",
    "doc_permissions_upsert",
    "checkpoint_cleanup",
    "index_attempt_cleanup",
    "docprocessing",
    "connector_doc_fetching",
    "user_files_indexing",
    "connector_pruning",
    "connector_doc_permissions_sync",
    "connector_external_group_sync",
    "csv_generation",
    "kg_processing",
    "monitoring",
    "user_file_processing",
    "user_file_project_sync",
];

/// Queues Onyx defines (`OnyxCeleryQueues`) that no lightweight worker consumes in v2.3.0: tasks
/// sent there wait forever, so doctor names them when they hold any.
pub const UNCONSUMED: &[&str] = &["user_file_delete", "llm_model_update"];

/// Onyx's priority-aware queue length for every queue named in ARGV, one `queue length` line each.
pub const QUEUE_LENGTHS_LUA: &str = "local out = {} for _, q in ipairs(ARGV) do local n = 0 \
    for p = 0, 4 do local k = q if p > 0 then k = q .. ':' .. p end \
    n = n + redis.call('LLEN', k) end out[#out + 1] = q .. ' ' .. n end return out";

/// The command run in the redis pod: two samples, separated by a `--` line.
pub fn queue_command() -> Vec<String> {
    let queues: Vec<&str> = CONSUMED.iter().chain(UNCONSUMED).copied().collect();
    let sample = format!(
        "redis-cli --no-auth-warning -n 15 EVAL \"$0\" 0 {}",
        queues.join(" ")
    );
    vec![
        "sh".into(),
        "-c".into(),
        format!("{sample} && sleep {SAMPLE_SECONDS} && echo -- && {sample}"),
        QUEUE_LENGTHS_LUA.into(),
    ]
}

/// The liveness command of the workers' container, run by doctor too.
pub const SUPERVISORCTL: &[&str] = &[
    "supervisorctl",
    "-c",
    "/etc/supervisor/conf.d/supervisord.conf",
    "status",
    "celery_worker_primary",
    "celery_worker_background",
    "celery_beat",
];

/// Judge supervisorctl's answer: every program RUNNING.
pub fn judge_alive(out: &str) -> Result<String, String> {
    let states: Vec<(String, String)> = out
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.to_string(), w.next()?.to_string()))
        })
        .collect();
    let programs = &SUPERVISORCTL[4..];
    let missing: Vec<String> = programs
        .iter()
        .filter_map(|p| match states.iter().find(|(n, _)| n == p) {
            Some((_, s)) if s == "RUNNING" => None,
            Some((_, s)) => Some(format!("{p} {s}")),
            None => Some(format!("{p} not reported")),
        })
        .collect();
    if missing.is_empty() {
        Ok("primary worker, consolidated worker and beat RUNNING".into())
    } else {
        Err(format!("supervisord: {}", missing.join(", ")))
    }
}

fn parse_sample(s: &str) -> Option<Vec<(String, u64)>> {
    s.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (q, n) = l.trim().rsplit_once(' ')?;
            Some((q.to_string(), n.parse().ok()?))
        })
        .collect()
}

/// Judge the two samples: `Ok` (ok detail), or `Err((warn, detail))`.
pub fn judge_queues(out: &str) -> Result<String, String> {
    let Some((a, b)) = out.split_once("\n--\n") else {
        return Err(format!("no queue lengths from Redis ({:?})", out.trim()));
    };
    let (Some(first), Some(second)) = (parse_sample(a), parse_sample(b)) else {
        return Err(format!("unreadable queue lengths ({:?})", out.trim()));
    };
    let mut problems = Vec::new();
    let mut total = 0;
    for (q, n) in &second {
        total += n;
        let before = first
            .iter()
            .find(|(p, _)| p == q)
            .map(|(_, n)| *n)
            .unwrap_or(0);
        if UNCONSUMED.contains(&q.as_str()) && *n > 0 {
            problems.push(format!("{q}: {n} tasks no lightweight worker consumes"));
        } else if *n > BACKLOG && *n > before {
            problems.push(format!(
                "{q}: {before} → {n} tasks in {SAMPLE_SECONDS}s, the workers fall behind"
            ));
        }
    }
    if problems.is_empty() {
        Ok(format!("{total} tasks queued, none growing past {BACKLOG}"))
    } else {
        Err(problems.join("; "))
    }
}

/// The workers' findings; none when the stack runs no workers.
pub async fn checks(client: &Client, namespace: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let pod = match exec::ready_pod(client, namespace, "background").await {
        Ok(Some(pod)) => pod,
        Ok(None) => {
            out.push(Finding::fail(
                "background workers",
                "no ready background pod",
                "see `onyx status` and `onyx logs background`; `onyx up` starts it",
            ));
            return out;
        }
        Err(e) => {
            out.push(Finding::fail(
                "background workers",
                format!("cannot list pods: {e}"),
                "check your permissions",
            ));
            return out;
        }
    };
    let timeout = Duration::from_secs(20);
    out.push(
        match exec::run(
            client,
            namespace,
            &pod,
            "background",
            SUPERVISORCTL,
            timeout,
        )
        .await
        {
            Ok(r) => match judge_alive(&r.stdout) {
                Ok(d) => Finding::ok("background workers", d),
                Err(d) => Finding::fail(
                    "background workers",
                    d,
                    "see `onyx logs background`; `onyx restart background` starts them anew",
                ),
            },
            Err(e) => Finding::fail(
                "background workers",
                format!("could not ask supervisord in {pod}: {e}"),
                "see `onyx logs background`",
            ),
        },
    );
    let redis = match exec::ready_pod(client, namespace, "redis").await {
        Ok(Some(pod)) => pod,
        _ => return out,
    };
    let cmd = queue_command();
    let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
    let timeout = Duration::from_secs(20 + SAMPLE_SECONDS as u64);
    out.push(
        match exec::run(client, namespace, &redis, "redis", &args, timeout).await {
            Ok(r) if r.success => match judge_queues(&r.stdout) {
                Ok(d) => Finding::ok("celery queues", d),
                Err(d) => Finding::warn(
                    "celery queues",
                    d,
                    "see `onyx logs background`; a bigger profile gives the workers more room",
                ),
            },
            Ok(r) => Finding::fail(
                "celery queues",
                format!("redis-cli failed: {}", r.stdout.trim()),
                "see `onyx logs redis`",
            ),
            Err(e) => Finding::fail(
                "celery queues",
                format!("could not read the queues in {redis}: {e}"),
                "see `onyx logs redis`",
            ),
        },
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supervisorctl_answers_are_read() {
        let ok = "celery_beat                      RUNNING   pid 40, uptime 0:10:02\n\
                  celery_worker_background         RUNNING   pid 39, uptime 0:10:02\n\
                  celery_worker_primary            RUNNING   pid 38, uptime 0:10:02\n";
        assert!(judge_alive(ok).is_ok());
        let fatal = ok.replace("pid 39, uptime 0:10:02", "").replace(
            "celery_worker_background         RUNNING",
            "celery_worker_background         FATAL     Exited too quickly",
        );
        assert_eq!(
            judge_alive(&fatal).unwrap_err(),
            "supervisord: celery_worker_background FATAL"
        );
        let down = "unix:///tmp/supervisor.sock no such file\n";
        assert!(judge_alive(down).unwrap_err().contains("not reported"));
    }

    #[test]
    fn queues_growing_past_the_backlog_are_named() {
        assert_eq!(
            judge_queues("celery 0\ndocprocessing 3\n--\ncelery 1\ndocprocessing 2\n").unwrap(),
            "3 tasks queued, none growing past 100"
        );
        let growing = "docprocessing 150\n--\ndocprocessing 180\n";
        assert!(judge_queues(growing).unwrap_err().contains("150 → 180"));
        // Long but draining: fine.
        assert!(judge_queues("docprocessing 500\n--\ndocprocessing 400\n").is_ok());
        assert!(
            judge_queues("user_file_delete 0\n--\nuser_file_delete 2\n")
                .unwrap_err()
                .contains("no lightweight worker consumes")
        );
        assert!(judge_queues("NOAUTH Authentication required.").is_err());
    }

    #[test]
    fn every_queue_of_the_consolidated_worker_is_counted() {
        // supervisord.conf v2.3.0, celery_worker_background's -Q list, and primary's `celery`.
        let q = "vespa_metadata_sync,connector_deletion,doc_permissions_upsert,checkpoint_cleanup,\
                 index_attempt_cleanup,docprocessing,connector_doc_fetching,user_files_indexing,\
                 connector_pruning,connector_doc_permissions_sync,connector_external_group_sync,\
                 csv_generation,kg_processing,monitoring,user_file_processing,user_file_project_sync";
        let mut want: Vec<&str> = q.split(',').collect();
        want.insert(0, "celery");
        assert_eq!(CONSUMED, &want[..]);
        let cmd = queue_command();
        for queue in CONSUMED.iter().chain(UNCONSUMED) {
            assert!(cmd[2].contains(&format!(" {queue}")), "{queue}");
        }
    }
}
