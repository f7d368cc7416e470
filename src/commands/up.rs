//! `onyx up`: install or update the stack and wait until it serves.
//!
//! 1. Settings → the machine to size for → the profile (refused with numbers, as `onyx plan`).
//! 2. The target: the cluster named by --context/--kubeconfig, else onyx's own
//!    ([`own_cluster_target`]); the namespace is created if missing.
//! 3. Images: another cluster pulls them itself (through --registry-mirror when given); a bundle
//!    can only preload onyx's own cluster.
//! 4. Credentials: the stack's Secrets already in the cluster are kept.
//! 5. Render and apply, layer by layer (server-side apply, field manager `onyx`).
//! 6. Wait, watching every workload, with a live line per service.
//! 7. On failure or timeout: a diagnosis per service; nothing is torn down, a re-run resumes.
//! 8. Expose and say how to log in ([`expose`], [`open_browser`], [`configure_llm`]: the call
//!    points of the port-forward and LLM provider work).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::cli::UpArgs;
use crate::docker::reference::{Reference, validate_mirror};
use crate::error::{Error, Result};
use crate::host::HostFacts;
use crate::kube::rollout::{self, NotReady, Stuck, WaitOptions};
use crate::kube::{ConnectOptions, KubeError, Target, apply, diagnose};
use crate::settings::Settings;
use crate::stack::catalog::{SERVICES, Service};
use crate::stack::profile::ProfileName;
use crate::stack::render::{self, Object, RenderOptions, Rendered};
use crate::ui::{Printer, RolloutProgress};

pub fn run(settings: &Settings, printer: &Printer, args: &UpArgs) -> Result<ExitCode> {
    let started = Instant::now();
    // 1. Sized exactly as `onyx render` and `onyx plan` size it.
    let host = HostFacts::detect();
    let sizing = super::sizing_machine(&host, super::engine_facts().as_ref());
    let choice = super::choose_profile(settings, printer, &sizing)?;
    if let Some(m) = &args.registry_mirror {
        validate_mirror(m).map_err(|e| {
            Error::input(
                format!("--registry-mirror {m:?}: {e}"),
                "give HOST[:PORT][/PATH], e.g. --registry-mirror mirror.example.com:5000",
            )
        })?;
    }
    if let Some(bundle) = &args.bundle
        && !bundle.is_file()
    {
        return Err(Error::input(
            format!("bundle {} does not exist", bundle.display()),
            "write one with `onyx images save -o FILE` on a machine with registry access",
        ));
    }

    let runtime = super::runtime()?;
    let work = async {
        // 2. Target.
        let target = if settings.context.is_some() || settings.kubeconfig.is_some() {
            let target = crate::kube::connect(&connect_options(settings), true).await?;
            printer.info(&format!(
                "cluster: context {} at {}, namespace {}",
                target.context, target.server, target.namespace
            ));
            target
        } else {
            own_cluster_target(settings)?
        };

        // 3. Images: this cluster's nodes pull them.
        if args.bundle.is_some() {
            crate::docker::bundle::verify(
                args.bundle.as_deref().unwrap_or(std::path::Path::new("")),
            )?;
            printer.warn(&format!(
                "--bundle preloads only onyx's own cluster; context {} pulls the images itself. \
                 If it has no registry access, push the bundle's images to a registry it reaches \
                 and pass --registry-mirror",
                target.context
            ));
        } else if args.registry_mirror.is_none() {
            printer.info(&format!(
                "images: context {} pulls them itself (an air-gapped cluster needs a registry: \
                 --registry-mirror HOST)",
                target.context
            ));
        }

        // 4–5. Keep credentials, render, apply.
        let credentials = apply::existing_credentials(&target).await?;
        let mut objects = render::render(&RenderOptions {
            profile: choice.profile,
            namespace: Some(&target.namespace),
            web_url: format!("http://localhost:{}", settings.port),
            credentials: Some(&credentials),
        });
        if let Some(mirror) = &args.registry_mirror {
            through_mirror(&mut objects, mirror);
        }
        let applied = apply::apply_all(&target, &objects).await?;
        printer.info(&format!(
            "applied {applied} objects ({} profile) in {:.1}s",
            choice.profile.name,
            started.elapsed().as_secs_f32()
        ));

        // 6. Wait.
        let services: Vec<&'static Service> = SERVICES.iter().collect();
        let names: Vec<&str> = services.iter().map(|s| s.name).collect();
        let progress = RolloutProgress::new(printer, &names);
        let opts = WaitOptions {
            overall: args.timeout,
            ..WaitOptions::default()
        };
        let not_ready = rollout::wait(&target, &services, &opts, &progress).await?;
        if !not_ready.is_empty() {
            // 7. Diagnose.
            return Err(explain(
                &target,
                &not_ready,
                args.bundle.is_some(),
                choice.profile.name,
            )
            .await);
        }
        printer.info(&format!(
            "all {} services ready in {:.1}s",
            services.len(),
            started.elapsed().as_secs_f32()
        ));

        // 8. Expose, LLM provider, browser.
        let url = expose(&target, settings.port).await?;
        configure_llm(&target, printer).await?;
        Ok::<_, Error>((target, url))
    };
    let (_target, url) = runtime.block_on(async {
        tokio::select! {
            r = work => r,
            _ = tokio::signal::ctrl_c() => Err(KubeError::Interrupted.into()),
        }
    })?;
    printer.data(&url)?;
    printer.info(&format!(
        "\nOnyx is ready at {url}\n\
         Log in: create an account there; the first account becomes the admin.\n\
         Chat needs an LLM provider: Admin panel → LLM → add an OpenAI-compatible endpoint, \
         Ollama, or an API key."
    ));
    open_browser(printer, &url, args.no_browser);
    Ok(ExitCode::SUCCESS)
}

fn connect_options(settings: &Settings) -> ConnectOptions {
    ConnectOptions {
        kubeconfig: settings.kubeconfig.clone(),
        context: settings.context.clone(),
        namespace: settings.namespace.clone(),
    }
}

/// The cluster commands run against: the one given, else onyx's own.
pub async fn target(settings: &Settings, create_namespace: bool) -> Result<Target> {
    if settings.context.is_some() || settings.kubeconfig.is_some() {
        Ok(crate::kube::connect(&connect_options(settings), create_namespace).await?)
    } else {
        own_cluster_target(settings)
    }
}

/// Call point: onyx's own local cluster (reuse or create it, load images into its node).
/// Until that lands, a clear error that says how to name a cluster instead.
pub fn own_cluster_target(_settings: &Settings) -> Result<Target> {
    Err(Error::input(
        "no cluster given, and onyx's own local cluster is not available in this build",
        "name a cluster with --context NAME (`kubectl config get-contexts` lists them), \
         optionally with --kubeconfig FILE and -n NAMESPACE",
    ))
}

/// Call point: make the UI reachable on 127.0.0.1:`port` and check that nginx answers through
/// it; returns the URL. For another cluster that is a port-forward to the nginx pod (the `fwd`
/// work, src/kube/forward.rs); for onyx's own cluster the port is mapped at node creation.
async fn expose(_target: &Target, port: u16) -> Result<String> {
    Ok(format!("http://localhost:{port}"))
}

/// Call point: configure an LLM provider through Onyx's API when one was asked for (the `fwd`
/// work, src/stack/llm.rs). Nothing is asked for in this build.
async fn configure_llm(_target: &Target, _printer: &Printer) -> Result<()> {
    Ok(())
}

/// Call point: open the browser (`open` crate, BROWSER respected) unless --no-browser; headless:
/// the URL printed above is the way in.
fn open_browser(_printer: &Printer, _url: &str, _no_browser: bool) {}

/// Point Docker Hub images of every workload at a registry mirror.
fn through_mirror(objects: &mut [Rendered], mirror: &str) {
    for r in objects {
        let spec = match &mut r.object {
            Object::Deployment(d) => d.spec.as_mut().and_then(|s| s.template.spec.as_mut()),
            Object::StatefulSet(s) => s.spec.as_mut().and_then(|s| s.template.spec.as_mut()),
            _ => None,
        };
        let Some(spec) = spec else { continue };
        for c in spec
            .containers
            .iter_mut()
            .chain(spec.init_containers.iter_mut().flatten())
        {
            if let Some(image) = &c.image
                && let Ok(reference) = Reference::parse(image)
            {
                c.image = Some(reference.pull_reference(Some(mirror)));
            }
        }
    }
}

/// Diagnose each service that did not come up, most useful first (failures, then the ones that
/// wait on others), as one error.
async fn explain(
    target: &Target,
    not_ready: &[NotReady],
    offline: bool,
    profile: ProfileName,
) -> Error {
    let mut lines = Vec::new();
    let mut first_hint = None;
    // A service waiting for another is explained by the other; say it once, briefly.
    let blocked: Vec<&NotReady> = not_ready
        .iter()
        .filter(|n| matches!(n.phase, rollout::Phase::WaitingFor(_)))
        .collect();
    for n in not_ready
        .iter()
        .filter(|n| !matches!(n.phase, rollout::Phase::WaitingFor(_)))
    {
        let facts = diagnose::gather(target, n.service, offline, Some(profile)).await;
        let d = diagnose::diagnose(&facts);
        first_hint.get_or_insert_with(|| d.hint.clone());
        let when = match &n.stuck {
            Stuck::Failed(_) => String::new(),
            Stuck::TimedOut(t) => format!(" (not ready after {})", human(*t)),
        };
        lines.push(format!("{d}{when}"));
    }
    for n in &blocked {
        lines.push(format!("{}: {}", n.service, n.phase));
    }
    let summary = if not_ready.len() == 1 {
        format!("{} did not become ready", not_ready[0].service)
    } else {
        format!("{} services did not become ready", not_ready.len())
    };
    KubeError::NotReady {
        summary,
        details: lines.join("\n"),
        hint: format!(
            "{}; nothing was torn down: `onyx up` again resumes",
            first_hint.unwrap_or_else(|| "see above".into())
        ),
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
