//! `onyx status`: each service's ready/desired replicas, restarts, age (of its running pod),
//! state, the reason it is not ready (kubectl's words for a failing pod, or `rolling out`,
//! `waiting for X`) and image, and the URL when something serves it here.
//! Exit 0 when every service is ready, 1 when not (stopped, starting, failing), so scripts can
//! wait on it; `-o json` for scripts that read it. Both show the deployed Onyx release beside the
//! one this onyx deploys (`release` in the JSON).

use std::process::ExitCode;

use crate::cli::{DataFormat, StatusArgs};
use crate::error::{EXIT_FAILED, Result};
use crate::kube::stack::{self, StackStatus};
use crate::runtime::Runtime;
use crate::settings::ClusterSettings;
use crate::stack::release::ReleaseStatus;
use crate::ui::Printer;

pub fn run(
    settings: &ClusterSettings,
    printer: &Printer,
    runtime: &Runtime,
    args: &StatusArgs,
) -> Result<ExitCode> {
    let (status, release) = runtime.block_on(async {
        let target = crate::cluster::own::target(&settings.cluster, false).await?;
        let url = crate::browser::ui_url(
            crate::cluster::own::ui_port(&settings.cluster, settings.port).await,
        );
        // onyx's own node maps the UI port itself; on another cluster something must be serving
        // the port here (`onyx up --forward`, the user's own port-forward) for the URL to work.
        let given = settings.given_cluster();
        let served = !given
            || crate::kube::forward::check_gateway(&url, std::time::Duration::from_millis(300))
                .await
                .is_ok();
        let status = stack::status(&target, served.then_some(url)).await?;
        // The deployed Onyx release beside the one this onyx would deploy (crate::stack::release).
        let (exists, recorded) = crate::upgrade::deployed(&target).await?;
        Ok::<_, crate::Error>((status, ReleaseStatus::new(recorded.as_ref(), exists)))
    })?;
    match args.output {
        DataFormat::Json => {
            #[derive(serde::Serialize)]
            struct WithRelease<'a> {
                #[serde(flatten)]
                status: &'a StackStatus,
                release: &'a ReleaseStatus,
            }
            let out = WithRelease {
                status: &status,
                release: &release,
            };
            printer.data(&serde_json::to_string_pretty(&out).map_err(anyhow::Error::from)?)?
        }
        DataFormat::Text => {
            printer.data(&printer.runnable(&format!("{}\n{}", table(&status), release.line())))?
        }
    }
    Ok(if status.healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    })
}

fn age(seconds: Option<i64>) -> String {
    match seconds {
        None => "-".into(),
        Some(s) if s < 120 => format!("{s}s"),
        Some(s) if s < 7200 => format!("{}m", s / 60),
        Some(s) if s < 172_800 => format!("{}h", s / 3600),
        Some(s) => format!("{}d", s / 86_400),
    }
}

/// The human table.
pub fn table(s: &StackStatus) -> String {
    let reasons: Vec<String> = s
        .services
        .iter()
        .map(|svc| svc.reason.clone().unwrap_or_else(|| "-".into()))
        .collect();
    let width = reasons.iter().map(|r| r.len()).max().unwrap_or(0).max(6);
    let mut out = format!(
        "{:<24} {:<7} {:<8} {:<5} {:<10} {:<width$} {}\n",
        "SERVICE", "READY", "RESTARTS", "AGE", "STATE", "REASON", "IMAGE"
    );
    for (svc, reason) in s.services.iter().zip(&reasons) {
        out.push_str(&format!(
            "{:<24} {:<7} {:<8} {:<5} {:<10} {:<width$} {}\n",
            svc.name,
            format!("{}/{}", svc.ready, svc.desired),
            svc.restarts,
            age(svc.age_seconds),
            svc.state,
            reason,
            svc.image.as_deref().unwrap_or("-"),
        ));
    }
    let overall = if s.healthy {
        match &s.url {
            Some(url) => format!("healthy: {url}"),
            None => {
                "healthy; nothing serves the UI on this machine (`onyx up --forward` does)".into()
            }
        }
    } else if s.stopped {
        "stopped (`onyx up` starts it again with the same data)".into()
    } else {
        format!("not healthy: {}", advice(s))
    };
    out.push_str(&format!(
        "\nnamespace {} (context {}): {overall}",
        s.namespace, s.context
    ));
    out
}

/// What to do about a stack that is not healthy, from the services' reasons: a crash is read in
/// the logs of its last run, another failure is diagnosed by `onyx up`, a missing service is
/// made by `onyx up`, and a rollout or a start under way needs only time.
fn advice(s: &StackStatus) -> String {
    let not_ready = || s.services.iter().filter(|x| !x.healthy && x.desired > 0);
    let crashed = |r: &str| {
        r.starts_with("CrashLoopBackOff")
            || r.starts_with("Init:CrashLoopBackOff")
            || r.contains("OOMKilled")
            || r.contains("Error")
            || r.contains("ExitCode:")
            || r.contains("Signal:")
    };
    let on_the_way = |r: &str| {
        r == "rolling out"
            || r == "starting"
            || r.starts_with("waiting for")
            || r.starts_with("Init:")
            || matches!(
                r,
                "ContainerCreating" | "PodInitializing" | "Pending" | "no pod yet"
            )
    };
    if let Some(svc) = s.services.iter().find(|x| x.missing) {
        return format!("{} is missing (`onyx up` makes it)", svc.name);
    }
    if let Some((svc, r)) =
        not_ready().find_map(|x| x.reason.as_deref().filter(|r| crashed(r)).map(|r| (x, r)))
    {
        return format!(
            "{} is failing ({r}): `onyx logs {} --previous` shows its last run, `onyx up` diagnoses it",
            svc.name, svc.name
        );
    }
    if let Some((svc, r)) = not_ready().find_map(|x| {
        x.reason
            .as_deref()
            .filter(|r| !on_the_way(r))
            .map(|r| (x, r))
    }) {
        return format!("{} is failing ({r}): `onyx up` diagnoses it", svc.name);
    }
    if s.services.iter().any(|x| x.desired == 0) {
        return "some services are stopped (`onyx up` starts them again)".into();
    }
    "on its way (a rollout or a start is under way): `onyx status` again shortly; `onyx up` \
     waits for it and says why if it does not finish"
        .into()
}
