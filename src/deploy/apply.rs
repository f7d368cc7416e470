//! Step 4 of `up`: keep the stack's credentials already in the cluster (on onyx's own, also
//! those kept with its data: [`crate::cluster::credentials`]), keep the profile the install runs
//! unless `--profile` names another ([`keep_profile`]; one that shrinks the running stack is
//! confirmed first, [`confirm_shrink`]), resolve the indexing (the flag over the choice kept in
//! the cluster over the profile's default), render, apply layer by layer (server-side apply,
//! field manager `onyx`) and prune what indexing no longer runs.

use std::time::Instant;

use crate::docker::reference::Reference;
use crate::error::Result;
use crate::kube::{Target, apply as kube_apply};
use crate::sizing;
use crate::stack::indexing::{Indexing, Mode};
use crate::stack::profile::{self, Choice, ProfileName};
use crate::stack::render::{self, Object, RenderOptions, Rendered};
use crate::ui::Printer;

use super::UpOptions;
use super::plan::Plan;

/// Render and apply the stack; returns the indexing it was rendered with.
pub async fn apply(
    opts: &UpOptions,
    printer: &Printer,
    plan: &mut Plan,
    target: &Target,
    ui_port: u16,
    own: bool,
    started: Instant,
) -> Result<Indexing> {
    let (objects, indexing, choice) =
        render_stack(opts, printer, plan, target, ui_port, own).await?;
    plan.choice = choice;
    let applied = kube_apply::apply_all(target, &objects).await?;
    after_apply(opts, printer, plan, target, indexing, applied, started).await?;
    Ok(indexing)
}

/// The stack as it is to be applied: the credentials kept in the cluster, the profile kept or
/// changed (confirmed when it shrinks the stack), the indexing resolved, rendered (in layer
/// order), with the profile it was rendered for (the caller keeps it in the plan). The
/// pipelined cold start applies it layer by layer ([`crate::deploy::pipeline`]), the rest at
/// once ([`apply`]).
pub async fn render_stack(
    opts: &UpOptions,
    printer: &Printer,
    plan: &Plan,
    target: &Target,
    ui_port: u16,
    own: bool,
) -> Result<(Vec<Rendered>, Indexing, Choice)> {
    let credentials = if own {
        own_credentials(printer, target).await?
    } else {
        kube_apply::existing_credentials(target).await?
    };
    let kept = crate::kube::workers::kept_indexing(target).await?;
    let kept_profile = crate::kube::workers::kept_profile(target).await?;
    let (choice, sizing) = keep_profile(opts, printer, plan, kept_profile);
    let indexing =
        sizing::resolve_indexing(opts.force, printer, &choice, sizing, opts.indexing, kept)?;
    if let Some(old) = kept_profile {
        let installed = crate::kube::workers::installed_mode(target).await?;
        confirm_shrink(
            opts,
            printer,
            (old, installed),
            (choice.profile.name, indexing.mode),
        )?;
    }
    printer.info(&format!("indexing: {}", indexing.mode.describe()));
    let mut objects = render::render(&RenderOptions {
        profile: choice.profile,
        namespace: Some(&target.namespace),
        web_url: crate::browser::ui_url(ui_port),
        credentials: Some(&credentials),
        // The own node maps the UI's host port to this node port.
        gateway_node_port: own.then_some(crate::cluster::node::UI_NODE_PORT),
        indexing,
        app: keep_app(
            (opts.telemetry, opts.hub_offline),
            opts.bundle.is_some(),
            crate::kube::workers::kept_app(target).await?,
        ),
    });
    for k in kube_apply::keep_claim_sizes(target, &mut objects).await? {
        // On onyx's own cluster the size is no limit: local-path v0.0.34 ignores a claim's
        // capacity (its README: "the capacity limit will be ignored"; a directory on the node)
        // and can't expand one, so the advice can't apply.
        if !own {
            printer.warn(&claim_kept_message(&k, &target.namespace));
        }
    }
    // Another cluster pulls through the mirror by name; onyx's own node has the images under
    // their usual names already (and reaches the mirror through containerd's config).
    if let Some(mirror) = &opts.registry_mirror
        && !own
    {
        through_mirror(&mut objects, mirror);
    }
    Ok((objects, indexing, choice))
}

/// What the deployed Onyx may reach out to: each flag given, else (images from a bundle: an
/// offline install) `--bundle` for HF_HUB_OFFLINE, else what the install was made with (a plain
/// re-run changes nothing, review #20 finding 4), else off.
/// `flags`: `--onyx-telemetry` and `--hub-offline` as given.
pub fn keep_app(
    flags: (Option<bool>, Option<bool>),
    bundle: bool,
    kept: crate::kube::workers::KeptApp,
) -> render::AppOptions {
    render::AppOptions {
        telemetry: flags.0.or(kept.telemetry).unwrap_or(false),
        hub_offline: flags
            .1
            .or(bundle.then_some(true))
            .or(kept.hub_offline)
            .unwrap_or(false),
    }
}

/// What `up` says about a claim that keeps its size: why, and how to grow it by hand (a claim
/// never shrinks: the API server refuses a smaller request).
pub fn claim_kept_message(k: &kube_apply::KeptClaim, namespace: &str) -> String {
    let grows = sizing::bytes(&k.rendered) > sizing::bytes(&k.kept);
    let how = match k.what.strip_prefix("PersistentVolumeClaim ") {
        Some(name) if grows => format!(
            r#"to grow it, where its StorageClass has allowVolumeExpansion: kubectl -n {namespace} patch pvc {name} -p '{{"spec":{{"resources":{{"requests":{{"storage":"{}"}}}}}}}}'"#,
            k.rendered
        ),
        None if grows => "a StatefulSet's claim templates can't change; grow each of its claims with kubectl patch pvc, where its StorageClass has allowVolumeExpansion".to_string(),
        _ => "a claim can't shrink".to_string(),
    };
    format!(
        "{} stays at {} (this version asks {} for new installs; an existing claim's size can't change by re-applying it): {how}",
        k.what, k.kept, k.rendered
    )
}

/// The profile to render: the one named (`--profile`, or the config file's), else the one the
/// install runs (recorded in ConfigMap `onyx-indexing`), else the one sized for the machine. A
/// kept profile the machine now looks too small for is kept all the same (it ran), with a
/// warning, and its indexing is then not judged by the machine either.
fn keep_profile<'a>(
    opts: &UpOptions,
    printer: &Printer,
    plan: &'a Plan,
    kept: Option<ProfileName>,
) -> (Choice, Option<&'a crate::host::HostFacts>) {
    let Some(k) = kept.filter(|k| opts.profile.is_none() && *k != plan.choice.profile.name) else {
        return (plan.choice, plan.sizing.as_ref());
    };
    let p = profile::profile(k);
    let fits = k == ProfileName::Cluster
        || plan
            .sizing
            .as_ref()
            .is_none_or(|m| profile::fits_with(p, &[], m.capacity()));
    printer.info(&format!(
        "profile {k}: the one installed here, kept (--profile changes it)"
    ));
    if !fits && let Some(m) = &plan.sizing {
        printer.warn(&format!(
            "{} looks too small for the {k} profile it runs (as when it was installed)",
            m.source
        ));
    }
    let choice = Choice {
        profile: p,
        automatic: false,
        forced: !fits,
    };
    (choice, if fits { plan.sizing.as_ref() } else { None })
}

/// What going from `old` (profile, indexing) to `new` takes away from the running stack: the
/// services it removes (unless `--indexing off` asked for exactly that) and every limit it
/// lowers. Empty when nothing shrinks.
pub fn shrinks(
    old: (ProfileName, Mode),
    new: (ProfileName, Mode),
    indexing_off_asked: bool,
) -> Vec<String> {
    let mut out = Vec::new();
    if !indexing_off_asked {
        for s in crate::stack::indexing::SERVICES {
            if old.1.runs(s.name) && !new.1.runs(s.name) {
                out.push(format!("removes {}", s.name));
            }
        }
    }
    let size = |p: ProfileName, svc: &str| {
        profile::profile(p)
            .size(svc)
            .or_else(|| crate::stack::indexing::size(p, svc))
            .map(|s| s.resources)
    };
    for svc in crate::stack::catalog::SERVICES
        .iter()
        .chain(crate::stack::indexing::SERVICES)
        .map(|s| s.name)
        .filter(|n| old.1.runs(n) && new.1.runs(n))
    {
        let (Some(a), Some(b)) = (size(old.0, svc), size(new.0, svc)) else {
            continue;
        };
        if b.memory_limit_mib < a.memory_limit_mib {
            out.push(format!(
                "{svc}'s memory limit {} → {} MiB",
                a.memory_limit_mib, b.memory_limit_mib
            ));
        }
        if b.cpu_limit_m < a.cpu_limit_m {
            out.push(format!(
                "{svc}'s CPU limit {}m → {}m",
                a.cpu_limit_m, b.cpu_limit_m
            ));
        }
    }
    if profile::profile(new.0).stateless_replicas < profile::profile(old.0).stateless_replicas {
        out.push("fewer replicas of the stateless services".into());
    }
    out
}

/// A change that shrinks the running stack ([`shrinks`]) goes ahead with `--yes`, is asked
/// about on a terminal, and is refused without one (exit 2, nothing changed).
fn confirm_shrink(
    opts: &UpOptions,
    printer: &Printer,
    old: (ProfileName, Mode),
    new: (ProfileName, Mode),
) -> Result<()> {
    use std::io::{BufRead, IsTerminal};
    let what = shrinks(
        old,
        new,
        opts.indexing == Some(crate::stack::indexing::Switch::Off),
    );
    if what.is_empty() {
        return Ok(());
    }
    let message = format!(
        "this run would shrink the running stack (installed: {} with indexing {}; now: {} with \
         indexing {}): {}",
        old.0,
        old.1.as_str(),
        new.0,
        new.1.as_str(),
        what.join("; ")
    );
    if opts.yes {
        printer.warn(&message);
        return Ok(());
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(crate::Error::input(
            message,
            format!(
                "re-run with --yes to shrink it, or with --profile {} to keep it as it is",
                old.0
            ),
        ));
    }
    let _ = printer.prompt(&format!("{message}\nGo ahead? [y/N] "));
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(crate::Error::input(
            "nothing was changed",
            format!("--profile {} keeps it as it is", old.0),
        ))
    }
}

/// The credentials on onyx's own cluster: the Secrets in the cluster, else the copy kept in the
/// node's data mount (a node made again after `cluster delete` finds the data's credentials
/// there), else fresh ones; the copy is then brought up to date before anything is applied, so
/// no Secret the stack runs with is missing from it.
async fn own_credentials(
    printer: &Printer,
    target: &Target,
) -> Result<crate::stack::secrets::Credentials> {
    use crate::cluster::credentials;
    let in_cluster = kube_apply::credentials_in_cluster(target).await?;
    let engine =
        crate::docker::engine::connect(&crate::docker::engine::EngineEnv::from_process()).await?;
    let node = crate::cluster::node_name(crate::cluster::CLUSTER_NAME);
    let saved = credentials::read(&engine.docker, &node, &target.namespace).await?;
    if let Some(saved) = &saved {
        let restored: Vec<&str> = saved
            .0
            .keys()
            .filter(|name| !in_cluster.0.contains_key(*name))
            .map(String::as_str)
            .collect();
        if !restored.is_empty() {
            printer.info(&format!(
                "the cluster lacked the stack's Secrets {}: their values kept with the data are used",
                restored.join(", ")
            ));
        }
    }
    let merged = credentials::merge(saved.as_ref(), &in_cluster);
    if saved.as_ref() != Some(&merged) {
        credentials::write(&engine.docker, &node, &target.namespace, &merged).await?;
    }
    Ok(merged)
}

/// After every object is applied: prune what indexing no longer runs, give the deferred size
/// warning, say how many objects went in.
pub async fn after_apply(
    opts: &UpOptions,
    printer: &Printer,
    plan: &mut Plan,
    target: &Target,
    indexing: Indexing,
    applied: usize,
    started: Instant,
) -> Result<()> {
    // Indexing turned off (or a profile without its own indexing model server): the
    // services the stack no longer runs go.
    let pruned = crate::kube::workers::prune(target, indexing.mode).await?;
    if pruned > 0 {
        printer.info(&format!(
            "removed {pruned} objects of services indexing {} no longer runs",
            indexing.mode.as_str()
        ));
    }
    if let Some(probe) = plan.deferred_sizing.take() {
        // Same profile as chosen above; this only warns when the machine looks too small.
        let sizing = sizing::sizing_machine(&plan.host, probe.await.ok().flatten().as_ref());
        sizing::choose_profile(opts.profile, opts.force, printer, &sizing)?;
    }
    printer.info(&format!(
        "applied {applied} objects ({} profile) in {:.1}s",
        plan.choice.profile.name,
        started.elapsed().as_secs_f32()
    ));
    Ok(())
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_change_of_profile_takes_away() {
        use Mode::*;
        use ProfileName::*;
        let down = shrinks((Medium, Shared), (Small, Off), false);
        assert!(down.contains(&"removes background".to_string()), "{down:?}");
        assert!(
            down.contains(&"api-server's memory limit 4096 → 3072 MiB".to_string()),
            "{down:?}"
        );
        // Growing takes nothing away; nor does a removal asked for with --indexing off.
        assert!(shrinks((Small, Off), (Medium, Shared), false).is_empty());
        assert!(shrinks((Medium, Shared), (Medium, Off), true).is_empty());
        assert_eq!(
            shrinks((Large, Dedicated), (Large, Shared), false),
            ["removes indexing-model-server"]
        );
        // cluster → large: fewer replicas, the same sizes.
        assert_eq!(
            shrinks((Cluster, Dedicated), (Large, Dedicated), false),
            ["fewer replicas of the stateless services"]
        );
    }

    /// Review #20 finding 4: what the install was made with holds on a plain re-run; a flag
    /// changes it; `--bundle` means offline unless `--hub-offline off` says otherwise.
    #[test]
    fn a_plain_rerun_keeps_telemetry_and_offline() {
        use crate::kube::workers::KeptApp;
        let app = |t, h| render::AppOptions {
            telemetry: t,
            hub_offline: h,
        };
        let none = KeptApp::default();
        let both_on = KeptApp {
            telemetry: Some(true),
            hub_offline: Some(true),
        };
        assert_eq!(keep_app((None, None), false, none), app(false, false));
        assert_eq!(keep_app((None, None), true, none), app(false, true));
        assert_eq!(keep_app((None, None), false, both_on), app(true, true));
        assert_eq!(
            keep_app((Some(false), Some(false)), false, both_on),
            app(false, false)
        );
        assert_eq!(keep_app((None, Some(false)), true, none), app(false, false));
        assert_eq!(
            keep_app((Some(true), Some(true)), false, none),
            app(true, true)
        );
    }
}
