//! `onyx up` as a library: install or update the stack and wait until it serves. The command
//! (`commands/up.rs`) resolves [`UpOptions`] from its flags, calls [`up`] and prints the way in.
//!
//! One function per step, in the order they run:
//! 1. [`plan::plan`]: the machine to size for → the profile (refused with numbers, as `onyx
//!    plan`), and every check of the input (mirror, bundle, LLM provider, the `--forward` port)
//!    before anything is made.
//! 2. The target: the cluster named by --context/--kubeconfig, else onyx's own
//!    ([`target::ensure_own`]: made or reused), then connected ([`target::connect`]; the
//!    namespace is created if missing). Then the Onyx release already deployed is checked
//!    ([`crate::upgrade::before_apply`]): a newer one is refused, an older one is backed up
//!    before anything of the stack is applied.
//! 3. Images ([`images`]): onyx's own node gets them from the engine (pulled, or loaded from the
//!    bundle before the node is made) before anything talks to Kubernetes; another cluster pulls
//!    them itself (through --registry-mirror when given); a bundle can only preload onyx's own.
//! 4. [`apply::apply`]: the stack's Secrets already in the cluster are kept; render and apply,
//!    layer by layer (server-side apply, field manager `onyx`).
//! 5. [`wait::wait_or_explain`]: wait, watching every workload, with a live line per service; on
//!    failure or timeout a diagnosis per service; nothing is torn down, a re-run resumes.
//! 6. [`expose::expose`] (own cluster: the mapped port; another: `--forward`), check nginx
//!    answers there, then configure the LLM provider when asked ([`expose::configure_llm`]).

pub mod apply;
pub mod expose;
pub mod images;
pub mod pipeline;
pub mod plan;
pub mod target;
pub mod wait;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::kube::{ConnectOptions, Target};
use crate::llm::LlmChoice;
use crate::stack::indexing::Switch;
use crate::stack::profile::ProfileName;
use crate::ui::Printer;

/// What `up` was asked to do, resolved from flags, environment and config file.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// `None`: the largest profile that fits the machine.
    pub profile: Option<ProfileName>,
    /// Use the profile even if the machine looks too small for it.
    pub force: bool,
    /// `--indexing`, if given.
    pub indexing: Option<Switch>,
    /// The deployed Onyx's own telemetry (`--onyx-telemetry`), if given; else the install's
    /// (recorded in ConfigMap `onyx-indexing`), else off.
    pub telemetry: Option<bool>,
    /// `--hub-offline`, if given; else on with `--bundle`, else the install's, else off.
    pub hub_offline: Option<bool>,
    /// The UI's host port on 127.0.0.1.
    pub port: u16,
    /// The cluster given (no context and no kubeconfig: onyx's own).
    pub cluster: ConnectOptions,
    /// Give up waiting after this long.
    pub timeout: Duration,
    /// A bundle written by `onyx images save`.
    pub bundle: Option<PathBuf>,
    /// Pull Docker Hub images through this registry mirror.
    pub registry_mirror: Option<String>,
    /// Keep a port-forward to the gateway (another cluster only).
    pub forward: bool,
    /// Don't back up before upgrading to another Onyx release.
    pub no_backup: bool,
    /// Don't ask before a profile change that shrinks the running stack.
    pub yes: bool,
    /// onyx's data root, if given.
    pub data_dir: Option<PathBuf>,
    /// The LLM provider to configure, if any.
    pub llm: Option<LlmChoice>,
}

impl UpOptions {
    /// A cluster was named (--context or --kubeconfig): not onyx's own.
    pub fn given_cluster(&self) -> bool {
        self.cluster.context.is_some() || self.cluster.kubeconfig.is_some()
    }
}

/// The stack, ready: where it runs and, when exposed here, its URL (and the port-forward that
/// serves it, kept while this value lives).
pub struct Deployed {
    pub target: Target,
    pub exposed: Option<expose::Exposed>,
}

/// Run every step of `up` (see the module's header) on `rt`; Ctrl-C stops it cleanly.
pub fn up(opts: &UpOptions, printer: &Printer, rt: &crate::runtime::Runtime) -> Result<Deployed> {
    let started = Instant::now();
    // 1. Plan.
    let mut plan = plan::plan(opts, printer, rt)?;

    // 2a–4a. onyx's own cluster, pipelined ([`images::own_pipelined`]): the node made or
    // reused while the images download, each image into the node as soon as it is in the
    // engine, the release guard and the render once the node answers, each layer applied as
    // soon as its images are in the node.
    let own = if opts.given_cluster() {
        None
    } else {
        target::mention_local_clusters(printer);
        target::announce_own(printer, rt, &plan.choice);
        Some(images::own_pipelined(
            opts, printer, rt, &mut plan, started,
        )?)
    };
    let work = async {
        let (target, indexing, ui_port, own) = match own {
            Some((created, target, indexing, ui_port)) => {
                (target, indexing, ui_port, Some(created))
            }
            None => {
                let ui_port = opts.port;
                // 2. Target.
                let target = target::connect(opts, printer, None).await?;
                // 2a. Sized by what the cluster can still schedule, said with where it is.
                plan::size_given_cluster(opts, printer, &target, &mut plan).await?;

                // 2b. The release already deployed: a newer one is refused, an older one backed
                // up first (crate::upgrade), before anything of the stack is applied.
                let guard = crate::upgrade::GuardOptions {
                    no_backup: opts.no_backup,
                    data_root: crate::upgrade::data_root(opts.data_dir.as_deref())?,
                };
                crate::upgrade::before_apply(&target, &guard, printer).await?;

                // 3. Images: another cluster's nodes pull them.
                images::other_cluster(opts, printer, &target, false)?;

                // 4. Keep credentials, render, apply.
                let indexing =
                    apply::apply(opts, printer, &mut plan, &target, ui_port, false, started)
                        .await?;
                (target, indexing, ui_port, None)
            }
        };

        // 5. Wait; on failure, diagnose.
        wait::wait_or_explain(opts, printer, &target, &plan, indexing, started).await?;

        // 6. Expose (checked through nginx), LLM provider.
        let exposed = expose::expose(&target, ui_port, own.is_some(), opts.forward).await?;
        expose::configure_llm(printer, &target, plan.llm.as_ref(), exposed.as_ref()).await?;
        Ok::<_, Error>(Deployed { target, exposed })
    };
    rt.interruptible(work)
}
