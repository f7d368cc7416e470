//! Step 5 of `up`: wait, watching every workload, with a live line per service; on failure or
//! timeout, a diagnosis per service as one error ([`explain`]). Nothing is torn down: a re-run
//! resumes.

use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::kube::rollout::{self, NotReady, Stuck, WaitOptions};
use crate::kube::{KubeError, Target, diagnose};
use crate::stack::catalog::{Service, all_services};
use crate::stack::indexing::Indexing;
use crate::stack::profile::ProfileName;
use crate::ui::{Printer, RolloutProgress};

use super::UpOptions;
use super::plan::Plan;

/// Wait for every service the stack runs; the services that did not come up are explained.
pub async fn wait_or_explain(
    opts: &UpOptions,
    printer: &Printer,
    target: &Target,
    plan: &Plan,
    indexing: Indexing,
    started: Instant,
) -> Result<()> {
    let services: Vec<&'static Service> = all_services()
        .filter(|s| indexing.mode.runs(s.name))
        .collect();
    let names: Vec<&str> = services.iter().map(|s| s.name).collect();
    let progress = RolloutProgress::new(printer, &names);
    let wait = WaitOptions {
        overall: opts.timeout,
        ..WaitOptions::default()
    };
    let not_ready = rollout::wait(target, &services, &wait, &progress).await?;
    if !not_ready.is_empty() {
        return Err(explain(
            target,
            &not_ready,
            opts.bundle.is_some(),
            plan.choice.profile.name,
        )
        .await);
    }
    printer.info(&format!(
        "all {} services ready in {:.1}s",
        services.len(),
        started.elapsed().as_secs_f32()
    ));
    Ok(())
}

/// Diagnose each service that did not come up, most useful first (failures, then the ones that
/// wait on others or were still on their way), as one error. Every piece of advice is given
/// once: a hint shared by several services is printed once, and when there is only one, it is
/// the error's hint rather than a line of its own.
pub async fn explain(
    target: &Target,
    not_ready: &[NotReady],
    offline: bool,
    profile: ProfileName,
) -> Error {
    // Diagnosed: what failed or timed out, and what was failing when onyx gave up.
    let diagnosed = |n: &&NotReady| match (&n.stuck, &n.phase) {
        (_, rollout::Phase::WaitingFor(_)) => false,
        (Stuck::Unfinished, phase) => matches!(phase, rollout::Phase::Failing(_)),
        _ => true,
    };
    let mut diagnoses = Vec::new();
    for n in not_ready.iter().filter(diagnosed) {
        let facts = diagnose::gather(target, n.service, offline, Some(profile)).await;
        diagnoses.push((n, diagnose::diagnose(&facts)));
    }
    let mut hints: Vec<String> = Vec::new();
    for (_, d) in &diagnoses {
        if !hints.contains(&d.hint) {
            hints.push(d.hint.clone());
        }
    }
    let single_hint = hints.len() <= 1;
    let mut shown: Vec<&str> = Vec::new();
    let mut lines = Vec::new();
    for (n, d) in &diagnoses {
        let when = match &n.stuck {
            Stuck::TimedOut(t) => format!(" (not ready after {})", human(*t)),
            Stuck::Failed(_) | Stuck::Unfinished => String::new(),
        };
        let mut text = format!("{}: {}{when}", d.service, d.problem);
        for line in &d.detail {
            text.push_str(&format!("\n    {line}"));
        }
        if !single_hint && !shown.contains(&d.hint.as_str()) {
            text.push_str(&format!("\n  → {}", d.hint));
            shown.push(&d.hint);
        }
        lines.push(text);
    }
    for n in not_ready.iter().filter(|n| !diagnosed(n)) {
        lines.push(match n.phase {
            rollout::Phase::WaitingFor(_) => format!("{}: {}", n.service, n.phase),
            _ => format!("{}: still {} when onyx stopped waiting", n.service, n.phase),
        });
    }
    let summary = match diagnoses.as_slice() {
        [(n, _)] => format!("{} did not become ready", n.service),
        [] if not_ready.len() == 1 => format!("{} did not become ready", not_ready[0].service),
        _ => format!(
            "{} did not become ready",
            crate::ui::plural(not_ready.len() as u64, "service", "services")
        ),
    };
    let hint = match hints.as_slice() {
        // The advice already says to run `onyx up` (again, or with another profile).
        [one] if one.contains("`onyx up") => format!("{one}; nothing was torn down"),
        [one] => format!("{one}; nothing was torn down: `onyx up` again resumes"),
        _ => "nothing was torn down; each service's advice is above".into(),
    };
    KubeError::NotReady {
        summary,
        details: lines.join("\n"),
        hint,
    }
    .into()
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{:.1}s", d.as_secs_f32())
    }
}
