//! `onyx up`: install or update the stack and wait until it serves.
//!
//! 1. Settings → the machine to size for → the profile (refused with numbers, as `onyx plan`).
//!    When the size cannot change the choice (`--profile cluster`, or a profile named with
//!    `--force`), the engine is asked in the background and only its warning waits (after 5).
//! 2. The target: the cluster named by --context/--kubeconfig, else onyx's own
//!    ([`own_cluster`]: made or reused, images pulled and put into its node); the namespace is
//!    created if missing. Then the Onyx release already deployed is checked
//!    ([`crate::upgrade::before_apply`]): a newer one is refused, an older one is backed up
//!    before anything of the stack is applied.
//! 3. Images: another cluster pulls them itself (through --registry-mirror when given); a bundle
//!    can only preload onyx's own cluster.
//! 4. Credentials: the stack's Secrets already in the cluster are kept.
//! 5. Render and apply, layer by layer (server-side apply, field manager `onyx`).
//! 6. Wait, watching every workload, with a live line per service.
//! 7. On failure or timeout: a diagnosis per service; nothing is torn down, a re-run resumes.
//! 8. Expose (own cluster: the mapped port; another: `--forward`), check nginx answers there,
//!    configure the LLM provider when asked, say how to log in, open the browser
//!    ([`expose`], [`open_browser`]).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::cli::UpArgs;
use crate::docker::reference::{Reference, validate_mirror};
use crate::error::{Error, Result};
use crate::host::HostFacts;
use crate::kube::rollout::{self, NotReady, Stuck, WaitOptions};
use crate::kube::{ConnectOptions, KubeError, Target, apply, diagnose};
use crate::settings::Settings;
use crate::stack::catalog::{Service, all_services};
use crate::stack::profile::{self, ProfileName};
use crate::stack::render::{self, Object, RenderOptions, Rendered};
use crate::ui::{Printer, RolloutProgress};

pub fn run(settings: &Settings, printer: &Printer, args: &UpArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let runtime = super::runtime()?;
    // 1. Sized exactly as `onyx render` and `onyx plan` size it. Asking the engine its size takes
    // a tenth of a second or more; when the size cannot change the choice (`--profile cluster`,
    // or a profile named with --force) that answer only decides a warning, so it is awaited
    // after the apply instead of before it (and not at all for `cluster`).
    let host = HostFacts::detect();
    let (choice, deferred_sizing, sizing) =
        match profile::regardless_of_size(settings.profile, settings.force) {
            Some(choice) => {
                let probe = (choice.profile.name != ProfileName::Cluster)
                    .then(|| runtime.spawn(super::probe_engine()));
                (choice, probe, None)
            }
            None => {
                let engine = runtime.block_on(super::probe_engine());
                let sizing = super::sizing_machine(&host, engine.as_ref());
                (
                    super::choose_profile(settings, printer, &sizing)?,
                    None,
                    Some(sizing),
                )
            }
        };
    // Indexing asked for on a machine too small for it is refused here, before anything is made;
    // the choice kept in the cluster is read once it is reachable (below).
    if args.stack.indexing.is_some() && !settings.force {
        crate::stack::indexing::resolve(
            choice.profile,
            sizing.as_ref().map(|h| h.capacity()),
            args.stack.indexing,
            None,
            false,
        )?;
    }
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

    // The LLM provider is checked before anything is applied: a missing key fails fast.
    let llm = match crate::stack::llm::LlmChoice::from_args(&args.llm) {
        Some(choice) => Some(crate::stack::llm::provider_request(
            &choice,
            &crate::stack::llm::ollama_url(false, None),
            |k| std::env::var(k).ok(),
        )?),
        None => None,
    };
    let given_cluster = settings.context.is_some() || settings.kubeconfig.is_some();
    if llm.is_some() && given_cluster && !args.forward {
        return Err(Error::input(
            "configuring an LLM provider needs the UI reachable from here",
            "add --forward (a port-forward to the gateway while onyx runs)",
        ));
    }
    // The port --forward will listen on is checked before any work that needs it (the own
    // cluster's is checked before its node is made, in `cluster::ensure`).
    if given_cluster && args.forward {
        crate::kube::forward::check_port(settings.port)?;
    }

    // 2a. onyx's own cluster: made or reused, its images pulled (or loaded from the bundle) and
    // put into the node, before anything talks to Kubernetes.
    let own = if given_cluster {
        None
    } else {
        mention_local_clusters(printer);
        Some(own_cluster(settings, printer, &runtime, args, &choice)?)
    };
    // The UI port: a reused own node keeps the one mapped when it was made.
    let ui_port = own
        .as_ref()
        .and_then(|c| c.ui_port)
        .unwrap_or(settings.port);
    if own.is_some() && ui_port != settings.port {
        printer.warn(&format!(
            "onyx's cluster serves the UI on port {ui_port}, not {}: the port is fixed when the \
             node is made (`onyx cluster delete` then `onyx up --port {}` changes it; the data stays)",
            settings.port, settings.port
        ));
    }
    let work = async {
        // 2. Target.
        let target = if let Some(created) = &own {
            crate::kube::connect(
                &ConnectOptions {
                    kubeconfig: Some(created.kubeconfig.clone()),
                    context: Some(created.context.clone()),
                    namespace: settings.namespace.clone(),
                },
                true,
            )
            .await?
        } else {
            let target = crate::kube::connect(&connect_options(settings), true).await?;
            printer.info(&format!(
                "cluster: context {} ({}) at {}, namespace {}",
                target.context,
                target.kind.label(),
                target.server,
                target.namespace
            ));
            target
        };

        // 2b. The release already deployed: a newer one is refused, an older one backed up
        // first (crate::upgrade), before anything of the stack is applied.
        let guard = crate::upgrade::GuardOptions {
            no_backup: args.no_backup,
            data_root: crate::upgrade::data_root(args.data_dir.as_deref())?,
        };
        crate::upgrade::before_apply(&target, &guard, printer).await?;

        // 3. Images: onyx's own node has them now; another cluster's nodes pull them.
        if own.is_some() {
        } else if args.bundle.is_some() {
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
        let kept = crate::kube::workers::kept_indexing(&target).await?;
        let indexing = super::resolve_indexing(
            settings,
            printer,
            &choice,
            sizing.as_ref(),
            args.stack.indexing,
            kept,
        )?;
        printer.info(&format!("indexing: {}", indexing.mode.describe()));
        let mut objects = render::render(&RenderOptions {
            profile: choice.profile,
            namespace: Some(&target.namespace),
            web_url: super::open::ui_url(ui_port),
            credentials: Some(&credentials),
            // The own node maps the UI's host port to this node port.
            gateway_node_port: own.is_some().then_some(crate::cluster::node::UI_NODE_PORT),
            indexing,
        });
        // Another cluster pulls through the mirror by name; onyx's own node has the images under
        // their usual names already (and reaches the mirror through containerd's config).
        if let Some(mirror) = &args.registry_mirror
            && own.is_none()
        {
            through_mirror(&mut objects, mirror);
        }
        let applied = apply::apply_all(&target, &objects).await?;
        // Indexing turned off (or a profile without its own indexing model server): the
        // services the stack no longer runs go.
        let pruned = crate::kube::workers::prune(&target, indexing.mode).await?;
        if pruned > 0 {
            printer.info(&format!(
                "removed {pruned} objects of services indexing {} no longer runs",
                indexing.mode.as_str()
            ));
        }
        if let Some(probe) = deferred_sizing {
            // Same profile as chosen above; this only warns when the machine looks too small.
            let sizing = super::sizing_machine(&host, probe.await.ok().flatten().as_ref());
            super::choose_profile(settings, printer, &sizing)?;
        }
        printer.info(&format!(
            "applied {applied} objects ({} profile) in {:.1}s",
            choice.profile.name,
            started.elapsed().as_secs_f32()
        ));

        // 6. Wait.
        let services: Vec<&'static Service> = all_services()
            .filter(|s| indexing.mode.runs(s.name))
            .collect();
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

        // 8. Expose (checked through nginx), LLM provider.
        let exposed = expose(&target, ui_port, own.is_some(), args.forward).await?;
        if let (Some(request), Some((url, _))) = (&llm, &exposed) {
            let store =
                crate::stack::llm::SecretStore::new(target.client.clone(), &target.namespace);
            let done = crate::stack::llm::configure(url, request, &store).await?;
            printer.info(&format!("LLM provider configured: {done:?}"));
        }
        Ok::<_, Error>((target, exposed))
    };
    let (target, exposed) = runtime.block_on(async {
        tokio::select! {
            r = work => r,
            _ = tokio::signal::ctrl_c() => Err(KubeError::Interrupted.into()),
        }
    })?;
    let Some((url, forward)) = exposed else {
        let mut kubectl = String::from("kubectl");
        if let Some(k) = &settings.kubeconfig {
            kubectl.push_str(&format!(
                " --kubeconfig {}",
                crate::ui::shell_quote(&k.display().to_string())
            ));
        }
        printer.info(&format!(
            "\nOnyx is ready in namespace {ns} of context {ctx}.\n\
             Reach it with `onyx up --forward` (a port-forward on 127.0.0.1:{port} while onyx \
             runs), `{kubectl} --context {qctx} port-forward -n {qns} svc/nginx {port}:80`, or \
             your own ingress.\n\
             Log in: create an account there; the first account becomes the admin.\n\
             Chat needs an LLM provider: Admin panel → LLM, or --llm-url / --llm ollama / \
             --openai-api-key-env with --forward.",
            ns = target.namespace,
            ctx = target.context,
            qns = crate::ui::shell_quote(&target.namespace),
            qctx = crate::ui::shell_quote(&target.context),
            port = settings.port,
        ));
        return Ok(ExitCode::SUCCESS);
    };
    printer.data(&url)?;
    printer.info(&format!(
        "\nOnyx is ready at {url}\n\
         Log in: create an account there; the first account becomes the admin.\n\
         Chat needs an LLM provider: Admin panel → LLM → add an OpenAI-compatible endpoint, \
         Ollama, or an API key (or pass --llm-url / --llm ollama / --openai-api-key-env to up)."
    ));
    open_browser(printer, &url, args.no_browser);
    if let Some(forward) = forward {
        printer.info("forwarding until Ctrl-C...");
        runtime.block_on(async {
            let _ = tokio::signal::ctrl_c().await;
        });
        drop(forward);
    }
    Ok(ExitCode::SUCCESS)
}

/// onyx's own cluster for `up`: made or reused ([`super::cluster::ensure`]), then every stack
/// image pulled into the engine (or loaded from the bundle, with no registry call) and put into
/// the node's containerd.
fn own_cluster(
    settings: &Settings,
    printer: &Printer,
    rt: &tokio::runtime::Runtime,
    args: &UpArgs,
    choice: &profile::Choice,
) -> Result<crate::cluster::kind::Created> {
    use crate::docker::{bundle, engine, images};
    // What the user sees first, before any pull: the engine, the profile and why, the cluster.
    if let Ok(line) = super::until_interrupted(rt, async {
        let (engine, facts) = engine::detect().await?;
        let node = crate::cluster::node_name(crate::cluster::CLUSTER_NAME);
        let state = crate::cluster::kind::inspect(&engine.docker, &node).await?;
        Ok(first_line(&facts, choice, state.as_ref()))
    }) {
        printer.info(&line);
    }
    // An air-gapped start: the bundle is checked whole before anything is made or pulled (a
    // garbage or truncated file fails here, at once), then every image in it — the node image
    // included — goes into the engine, so making the cluster needs no registry.
    let mut node_image = None;
    let from_bundle = match &args.bundle {
        Some(path) => {
            let verified = bundle::verify(path)?;
            let loaded = super::until_interrupted(rt, async {
                let engine = engine::connect(&engine::EngineEnv::from_process()).await?;
                let progress = crate::ui::ImageProgress::new(printer, "ready in the engine");
                let loaded =
                    bundle::load_verified(&engine.docker, path, &verified, &progress).await;
                progress.finish();
                let loaded = loaded?;
                let pinned = &crate::stack::catalog::node_image().reference;
                let tag = crate::docker::reference::Reference::parse(pinned)
                    .ok()
                    .and_then(|r| r.tag.as_ref().map(|t| format!("{}:{t}", r.repository())));
                let engine_id = match tag {
                    Some(t) => engine
                        .docker
                        .inspect_image(&t)
                        .await
                        .ok()
                        .and_then(|i| i.id),
                    None => None,
                };
                Ok((
                    loaded,
                    bundle::node_image_from_bundle(
                        &verified.manifest,
                        pinned,
                        engine_id.as_deref(),
                    ),
                ))
            })?;
            node_image = loaded.1;
            true
        }
        None => false,
    };
    let create = crate::cli::ClusterCreateArgs {
        target: crate::cli::ClusterTarget {
            name: crate::cluster::CLUSTER_NAME.into(),
            kubeconfig: settings.kubeconfig.clone(),
            data_dir: args.data_dir.clone(),
        },
        port: Some(settings.port),
        retain: false,
        wait: 300,
        node_image,
        registry_mirror: args.registry_mirror.clone(),
        dry_run: false,
        output: crate::cli::DataFormat::Text,
    };
    let (created, _data) = super::cluster::ensure(settings, printer, rt, &create)?;
    let stack: Vec<String> = crate::stack::catalog::stack_images()
        .map(|i| i.reference.clone())
        .collect();
    super::until_interrupted(rt, async {
        let engine = engine::connect(&engine::EngineEnv::from_process()).await?;
        let fetched = crate::ui::ImageProgress::new(printer, "ready in the engine");
        let outcome = match &args.bundle {
            // Loaded above, before the cluster was made.
            Some(_) if from_bundle => Ok(()),
            Some(b) => bundle::load(&engine.docker, b, &fetched).await.map(|_| ()),
            None => {
                let options = images::PullOptions {
                    mirror: args.registry_mirror.clone(),
                    ..images::PullOptions::default()
                };
                match images::pull_all(&engine.docker, &stack, &options, &fetched).await {
                    (_, Some(e)) => Err(e),
                    _ => Ok(()),
                }
            }
        };
        fetched.finish();
        outcome?;
        let facts = engine.facts().await?;
        let loaded = crate::ui::ImageProgress::new(printer, "in the node");
        let (_, err) = crate::cluster::node_images::load_all(
            &engine.docker,
            &created.node,
            &stack,
            &crate::cluster::node_images::ImportOptions {
                containerd_image_store: facts.containerd_image_store,
                ..Default::default()
            },
            &loaded,
        )
        .await;
        loaded.finish();
        match err {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    })?;
    Ok(created)
}

/// `up`'s first line on the own cluster: the engine found (its memory and CPUs), the profile and
/// why, and whether the cluster is new, reused or stopped.
pub fn first_line(
    facts: &crate::docker::engine::EngineFacts,
    choice: &profile::Choice,
    node: Option<&bollard::models::ContainerInspectResponse>,
) -> String {
    let why = if choice.forced {
        "named with --force"
    } else if choice.automatic {
        "the largest that fits the engine"
    } else {
        "named"
    };
    let cluster = match node {
        None => "new (made now)",
        Some(i) if i.state.as_ref().and_then(|s| s.running).unwrap_or(false) => "reused (running)",
        Some(_) => "stopped (started again)",
    };
    format!(
        "engine {} ({}, {} CPUs); profile {} ({why}); cluster {}: {cluster}",
        facts.endpoint,
        profile::gib(facts.memory_bytes),
        facts.cpus,
        choice.profile.name,
        crate::cluster::CLUSTER_NAME,
    )
}

/// Say which local clusters the user's kubeconfig has besides onyx's own, and how to use one
/// instead (onyx never picks another cluster by itself).
fn mention_local_clusters(printer: &Printer) {
    let Ok(kubeconfig) = kube::config::Kubeconfig::read() else {
        return;
    };
    let others = crate::cluster::detect::local_alternatives(&kubeconfig);
    if let Some(first) = others.first() {
        let names: Vec<String> = others
            .iter()
            .map(|c| format!("{} ({})", c.name, c.kind.label()))
            .collect();
        printer.info(&format!(
            "using onyx's own cluster; your kubeconfig also has {}: `onyx up --context {}` \
             would use that instead",
            names.join(", "),
            first.name
        ));
    }
}

fn connect_options(settings: &Settings) -> ConnectOptions {
    ConnectOptions {
        kubeconfig: settings.kubeconfig.clone(),
        context: settings.context.clone(),
        namespace: settings.namespace.clone(),
    }
}

/// The cluster commands run against: the one given, else onyx's own (context `kind-onyx`, made
/// by `onyx up` or `onyx cluster create`).
/// When onyx's own cluster can't be reached because its node is stopped or gone, that is what
/// the error says.
pub async fn target(settings: &Settings, create_namespace: bool) -> Result<Target> {
    let mut options = connect_options(settings);
    let own = options.context.is_none() && options.kubeconfig.is_none();
    if own {
        options.context = Some(crate::cluster::CONTEXT_NAME.to_string());
    }
    match crate::kube::connect(&options, create_namespace).await {
        Ok(target) => Ok(target),
        Err(e) if own => Err(own_node_state()
            .await
            .map_or(e, |state| KubeError::OwnCluster {
                node: crate::cluster::node_name(crate::cluster::CLUSTER_NAME),
                state,
            })
            .into()),
        Err(e) => Err(e.into()),
    }
}

/// The UI's port: for onyx's own cluster, the host port its node maps to the gateway (when the
/// engine can tell); else `--port`.
pub async fn ui_port(settings: &Settings) -> u16 {
    if settings.context.is_some() || settings.kubeconfig.is_some() {
        return settings.port;
    }
    inspect_own_node()
        .await
        .flatten()
        .and_then(|i| crate::cluster::kind::published_port(&i, crate::cluster::node::UI_NODE_PORT))
        .unwrap_or(settings.port)
}

/// Whether onyx's own node is stopped or missing, when the engine can tell (`None`: it runs, or
/// no engine answers).
async fn own_node_state() -> Option<crate::kube::OwnClusterState> {
    use crate::kube::OwnClusterState;
    match inspect_own_node().await? {
        None => Some(OwnClusterState::Missing),
        Some(i) if !i.state.as_ref().and_then(|s| s.running).unwrap_or(false) => {
            Some(OwnClusterState::Stopped)
        }
        Some(_) => None,
    }
}

/// onyx's own node as the engine sees it: `None` when no engine answers, `Some(None)` when there
/// is no such container.
async fn inspect_own_node() -> Option<Option<bollard::models::ContainerInspectResponse>> {
    let engine = crate::docker::engine::connect(&crate::docker::engine::EngineEnv::from_process())
        .await
        .ok()?;
    let node = crate::cluster::node_name(crate::cluster::CLUSTER_NAME);
    crate::cluster::kind::inspect(&engine.docker, &node)
        .await
        .ok()
}

/// Make the UI reachable on 127.0.0.1:`port` and check that nginx itself answers there before
/// declaring success. Own cluster: the port was mapped to the gateway's node port when the node
/// was made. Another cluster: a port-forward (kept while onyx runs) with `--forward`; without it,
/// nothing is exposed (`None`).
async fn expose(
    target: &Target,
    port: u16,
    own: bool,
    forward: bool,
) -> Result<Option<(String, Option<crate::kube::forward::PortForward>)>> {
    use crate::kube::forward;
    let handle = if own {
        None
    } else if forward {
        Some(
            forward::start(
                target.client.clone(),
                forward::ForwardTarget::gateway(&target.namespace),
                port,
                forward::ForwardOptions::default(),
            )
            .await?,
        )
    } else {
        return Ok(None);
    };
    let url = format!("http://localhost:{port}");
    forward::check_gateway(&url, Duration::from_secs(60)).await?;
    Ok(Some((url, handle)))
}

/// Open the browser (BROWSER respected) unless --no-browser; headless: the URL printed above is
/// the way in.
fn open_browser(printer: &Printer, url: &str, no_browser: bool) {
    if no_browser {
        return;
    }
    match super::open::open_browser(url, &|k| std::env::var(k).ok()) {
        super::open::Opened::Browser(how) => printer.info(&format!("opened {url} with {how}")),
        super::open::Opened::Headless(why) | super::open::Opened::Failed(why) => {
            printer.info(&format!("open {url} in a browser ({why})"))
        }
    }
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

/// Diagnose each service that did not come up, most useful first (failures, then the ones that
/// wait on others or were still on their way), as one error. Every piece of advice is given
/// once: a hint shared by several services is printed once, and when there is only one, it is
/// the error's hint rather than a line of its own.
async fn explain(
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
