//! Waiting for the stack to roll out: one watch per kind (Deployments, StatefulSets, Pods; no
//! polling), a per-service phase reported through [`Reporter`] as it changes, and kubectl's
//! rollout rule for "ready".
//!
//! 1. Start watches on the stack's Deployments, StatefulSets and Pods (label `part-of=onyx`).
//! 2. On every change, recompute each service's [`Phase`] from its workload, its pods and its
//!    dependencies; report the ones that changed.
//! 3. Nothing is judged before all three watches have listed what exists: a view with the
//!    Deployments but not yet their Pods would report pods that have been ready for minutes as
//!    "pulling" or "waiting for".
//! 4. Done when every service is ready. Stop early when a service fails for a reason time won't
//!    fix (image pull back-off, a crash loop, OOM kills), when a service outlives its own timeout
//!    (counted from when its dependencies were ready), or at the overall timeout. Before stopping
//!    early, the others get a short while ([`WaitOptions::settle`]) to show whether they fail
//!    too, so that every service that is not ready is reported, each with its own reason.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use futures_util::{StreamExt, stream};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Resource, ResourceExt};

use super::{KubeError, Target};
use crate::stack::catalog::{Service, Workload};
use crate::stack::render::{LABEL_NAME, LABEL_PART_OF, PART_OF};

/// Where one service is on its way to ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Its dependencies are not ready yet (named).
    WaitingFor(Vec<String>),
    /// Pods are being scheduled, images pulled, containers created.
    Pulling,
    /// Containers run; readiness not reached yet.
    Starting,
    /// Rolled out: every replica updated and available.
    Ready,
    /// Something is wrong (a Kubernetes reason: CrashLoopBackOff, ImagePullBackOff, OOMKilled,
    /// Unschedulable, ...); it may still recover.
    Failing(String),
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Phase::WaitingFor(deps) => write!(f, "waiting for {}", deps.join(", ")),
            Phase::Pulling => f.write_str("pulling"),
            Phase::Starting => f.write_str("starting"),
            Phase::Ready => f.write_str("ready"),
            Phase::Failing(reason) => write!(f, "failing: {reason}"),
        }
    }
}

/// Receives progress; the UI draws it, tests record it.
pub trait Reporter: Send + Sync {
    /// `service` entered `phase`, `elapsed` after the wait began.
    fn phase(&self, service: &str, phase: &Phase, elapsed: Duration);
    /// The wait is over (bars can be cleared).
    fn finish(&self) {}
}

/// A reporter that says nothing.
pub struct Silent;
impl Reporter for Silent {
    fn phase(&self, _: &str, _: &Phase, _: Duration) {}
}

/// How long to wait.
#[derive(Debug, Clone)]
pub struct WaitOptions {
    /// For the whole stack.
    pub overall: Duration,
    /// Per service, from when its dependencies are ready; `None`: [`default_timeout`].
    pub per_service: Option<Duration>,
    /// How long a pod may stay unschedulable (or its claim unbound) before we give up early.
    pub pending_grace: Duration,
    /// After one service failed for good: how long the others still on their way (pulling,
    /// starting) may take to fail or get ready, so that the report covers them too.
    pub settle: Duration,
    /// How long the API may fail every watch before the wait gives up ([`API_GRACE`]).
    pub api_grace: Duration,
}

/// How long the cluster's API may stay away during the wait before onyx says so and stops.
/// Long enough for the watcher's reconnects to ride out an API server restart or a dropped
/// connection (kube-runtime's default backoff retries within a second at first); short enough
/// that a cluster that went away is named while the user still watches, not after the
/// 20-minute overall timeout.
pub const API_GRACE: Duration = Duration::from_secs(15);
/// How long the API may take to answer `GET /version` when the grace is up.
const API_PROBE: Duration = Duration::from_secs(5);

impl Default for WaitOptions {
    fn default() -> Self {
        WaitOptions {
            overall: Duration::from_secs(20 * 60),
            per_service: None,
            pending_grace: Duration::from_secs(60),
            settle: Duration::from_secs(10),
            api_grace: API_GRACE,
        }
    }
}

/// A first start of the API (250+ migrations) and of Vespa takes minutes; the model server moves
/// its models into place; the rest start in seconds.
pub fn default_timeout(service: &str) -> Duration {
    match service {
        "api-server" | "vespa" => Duration::from_secs(15 * 60),
        "inference-model-server" => Duration::from_secs(10 * 60),
        _ => Duration::from_secs(5 * 60),
    }
}

/// Why a service was given up on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stuck {
    /// It failed in a way waiting won't fix.
    Failed(String),
    /// It did not become ready in time.
    TimedOut(Duration),
    /// It was still on its way (or failing, but not yet for good) when onyx gave up because of
    /// other services.
    Unfinished,
}

/// A service that did not become ready, and the last phase it was seen in.
#[derive(Debug, Clone)]
pub struct NotReady {
    pub service: &'static str,
    pub phase: Phase,
    pub stuck: Stuck,
}

/// kubectl's rollout rule for a Deployment.
pub fn deployment_ready(d: &Deployment) -> bool {
    let desired = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let Some(s) = d.status.as_ref() else {
        return false;
    };
    s.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0)
        && s.updated_replicas.unwrap_or(0) >= desired
        && s.replicas.unwrap_or(0) <= s.updated_replicas.unwrap_or(0)
        && s.available_replicas.unwrap_or(0) >= s.updated_replicas.unwrap_or(0)
}

/// kubectl's rollout rule for a StatefulSet (RollingUpdate without partition).
pub fn statefulset_ready(s: &StatefulSet) -> bool {
    let desired = s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let Some(st) = s.status.as_ref() else {
        return false;
    };
    st.observed_generation.unwrap_or(0) >= s.metadata.generation.unwrap_or(0)
        && st.ready_replicas.unwrap_or(0) >= desired
        && st.updated_replicas.unwrap_or(0) >= desired
        && (st.update_revision.is_none() || st.update_revision == st.current_revision)
}

/// What the watches have seen so far.
#[derive(Default)]
pub struct View {
    pub deployments: HashMap<String, Deployment>,
    pub statefulsets: HashMap<String, StatefulSet>,
    pub pods: HashMap<String, Pod>,
}

impl View {
    pub fn workload_ready(&self, s: &Service) -> bool {
        match s.workload {
            Workload::Deployment => self.deployments.get(s.name).is_some_and(deployment_ready),
            Workload::StatefulSet => self.statefulsets.get(s.name).is_some_and(statefulset_ready),
        }
    }

    pub fn pods_of<'a>(&'a self, service: &'a str) -> impl Iterator<Item = &'a Pod> + 'a {
        self.pods
            .values()
            .filter(move |p| p.labels().get(LABEL_NAME).map(String::as_str) == Some(service))
    }
}

/// The phase of one service, from what is seen, and whether it is a failure waiting won't fix.
pub fn phase_of(view: &View, s: &Service, all: &[&Service]) -> (Phase, bool) {
    if view.workload_ready(s) {
        return (Phase::Ready, false);
    }
    let mut reason: Option<(String, bool)> = None;
    let mut any_running = false;
    let mut any_pod = false;
    for pod in view.pods_of(s.name) {
        any_pod = true;
        let Some(status) = pod.status.as_ref() else {
            continue;
        };
        if let Some(c) = status.conditions.as_ref().and_then(|cs| {
            cs.iter()
                .find(|c| c.type_ == "PodScheduled" && c.status == "False")
        }) {
            reason = Some((c.reason.clone().unwrap_or("Unschedulable".into()), false));
        }
        let statuses = status
            .init_container_statuses
            .iter()
            .flatten()
            .chain(status.container_statuses.iter().flatten());
        for cs in statuses {
            let waiting = cs
                .state
                .as_ref()
                .and_then(|st| st.waiting.as_ref())
                .and_then(|w| w.reason.clone());
            let last_oom = cs
                .last_state
                .as_ref()
                .and_then(|l| l.terminated.as_ref())
                .and_then(|t| t.reason.as_deref())
                == Some("OOMKilled");
            if cs.state.as_ref().is_some_and(|s| s.running.is_some()) {
                any_running = true;
            }
            match waiting.as_deref() {
                Some("ImagePullBackOff") | Some("InvalidImageName") => {
                    reason = Some(("ImagePullBackOff".into(), true));
                }
                Some("ErrImagePull") if reason.is_none() => {
                    reason = Some(("ErrImagePull".into(), false));
                }
                Some("CrashLoopBackOff") if last_oom => {
                    reason = Some(("OOMKilled".into(), cs.restart_count >= 2));
                }
                Some("CrashLoopBackOff") => {
                    reason = Some(("CrashLoopBackOff".into(), cs.restart_count >= 3));
                }
                // Killed just now (not yet restarted); a running container with an OOM kill in
                // its past has recovered (e.g. after `onyx up --profile` gave it more memory).
                _ if reason.is_none()
                    && cs
                        .state
                        .as_ref()
                        .and_then(|s| s.terminated.as_ref())
                        .and_then(|t| t.reason.as_deref())
                        == Some("OOMKilled") =>
                {
                    reason = Some(("OOMKilled".into(), cs.restart_count >= 2));
                }
                _ => {}
            }
        }
    }
    if let Some((r, fatal)) = reason {
        return (Phase::Failing(r), fatal);
    }
    let waiting: Vec<String> = s
        .depends_on
        .iter()
        .filter(|d| {
            all.iter()
                .find(|x| x.name == **d)
                .is_some_and(|x| !view.workload_ready(x))
        })
        .map(|d| d.to_string())
        .collect();
    if !waiting.is_empty() {
        return (Phase::WaitingFor(waiting), false);
    }
    if any_running {
        (Phase::Starting, false)
    } else {
        let _ = any_pod;
        (Phase::Pulling, false)
    }
}

/// An event that came from the API ends an outage; `Init` does not (the watcher emits it before
/// it lists, kube-runtime 5.0.0 `watcher.rs` `State::Empty`).
fn answered<K>(e: &Event<K>, lost: &mut Option<(Instant, String)>) {
    if !matches!(e, Event::Init) {
        *lost = None;
    }
}

/// kubectl's STATUS column for one pod, by its own rule (`printPod` in kubernetes
/// `pkg/printers/internalversion/printers.go`): the pod's reason or phase; then the first init
/// container not finished with exit 0 (`Init:REASON`, `Init:ExitCode:N`, `Init:Signal:N`, or
/// `Init:i/n` while it runs); else the last main container with a waiting or terminated reason
/// (`CrashLoopBackOff`, `ImagePullBackOff`, `OOMKilled`, ...), `ExitCode:N` / `Signal:N` without
/// one; `Completed` with a ready container running reads `Running` (`NotReady` unless the pod is
/// Ready); a pod being deleted is `Terminating`. (Not mirrored: restartable init containers
/// (sidecars), which the stack does not use, and `SchedulingGated`.)
pub fn pod_reason(pod: &Pod) -> String {
    let Some(st) = pod.status.as_ref() else {
        return "Pending".into();
    };
    let mut reason = st
        .reason
        .clone()
        .filter(|r| !r.is_empty())
        .or_else(|| st.phase.clone())
        .unwrap_or_else(|| "Pending".into());
    let init_total = pod
        .spec
        .as_ref()
        .and_then(|s| s.init_containers.as_ref())
        .map_or(0, Vec::len);
    let mut initializing = false;
    for (i, c) in st.init_container_statuses.iter().flatten().enumerate() {
        let state = c.state.as_ref();
        let terminated = state.and_then(|s| s.terminated.as_ref());
        let waiting = state
            .and_then(|s| s.waiting.as_ref())
            .and_then(|w| w.reason.as_deref())
            .filter(|r| !r.is_empty());
        reason = match (terminated, waiting) {
            (Some(t), _) if t.exit_code == 0 => continue,
            (Some(t), _) => match t.reason.as_deref().filter(|r| !r.is_empty()) {
                Some(r) => format!("Init:{r}"),
                None if t.signal.unwrap_or(0) != 0 => {
                    format!("Init:Signal:{}", t.signal.unwrap_or(0))
                }
                None => format!("Init:ExitCode:{}", t.exit_code),
            },
            (None, Some(w)) if w != "PodInitializing" => format!("Init:{w}"),
            _ => format!("Init:{i}/{init_total}"),
        };
        initializing = true;
        break;
    }
    if !initializing {
        let mut has_running = false;
        for c in st.container_statuses.iter().flatten().rev() {
            let state = c.state.as_ref();
            let waiting = state
                .and_then(|s| s.waiting.as_ref())
                .and_then(|w| w.reason.as_deref())
                .filter(|r| !r.is_empty());
            let terminated = state.and_then(|s| s.terminated.as_ref());
            if let Some(w) = waiting {
                reason = w.to_string();
            } else if let Some(t) = terminated {
                reason = match t.reason.as_deref().filter(|r| !r.is_empty()) {
                    Some(r) => r.to_string(),
                    None if t.signal.unwrap_or(0) != 0 => {
                        format!("Signal:{}", t.signal.unwrap_or(0))
                    }
                    None => format!("ExitCode:{}", t.exit_code),
                };
            } else if c.ready && state.is_some_and(|s| s.running.is_some()) {
                has_running = true;
            }
        }
        if reason == "Completed" && has_running {
            let ready = st
                .conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            reason = if ready { "Running" } else { "NotReady" }.into();
        }
    }
    if pod.metadata.deletion_timestamp.is_some() {
        reason = "Terminating".into();
    }
    reason
}

/// A pod reason that is only a step on the way (scheduled, creating, running, initialising).
fn in_progress(reason: &str) -> bool {
    matches!(
        reason,
        "Pending"
            | "ContainerCreating"
            | "PodInitializing"
            | "Running"
            | "NotReady"
            | "Terminating"
    ) || reason.strip_prefix("Init:").is_some_and(|r| {
        r.split_once('/')
            .is_some_and(|(a, b)| a.parse::<u32>().is_ok() && b.parse::<u32>().is_ok())
    })
}

/// A new pod template is replacing the old pods (a rollout: `onyx restart`, a changed setting):
/// the workload's controller has not yet caught up with its spec, or old and new replicas run
/// side by side (kubectl's rollout rule, the part of it about updates).
fn rolling_out(view: &View, s: &Service) -> bool {
    match s.workload {
        Workload::Deployment => view.deployments.get(s.name).is_some_and(|d| {
            let desired = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            d.status.as_ref().is_some_and(|st| {
                st.observed_generation.unwrap_or(0) < d.metadata.generation.unwrap_or(0)
                    || st.updated_replicas.unwrap_or(0) < desired
                    || st.replicas.unwrap_or(0) > st.updated_replicas.unwrap_or(0)
            })
        }),
        Workload::StatefulSet => view.statefulsets.get(s.name).is_some_and(|x| {
            let desired = x.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            x.status.as_ref().is_some_and(|st| {
                st.observed_generation.unwrap_or(0) < x.metadata.generation.unwrap_or(0)
                    || st.updated_replicas.unwrap_or(0) < desired
                    || (st.update_revision.is_some() && st.update_revision != st.current_revision)
            })
        }),
    }
}

/// Why a service that is not rolled out is not, in the words of `onyx status`'s REASON column:
/// a pod failing as kubectl names it (`CrashLoopBackOff`, `ImagePullBackOff`, `OOMKilled`, ...;
/// a crash loop whose last run was killed for memory says so), else `rolling out`, `waiting for
/// X` (its dependencies), `starting`, or the first pod's step (`ContainerCreating`, `Init:0/1`).
/// `None` when it is rolled out.
pub fn service_reason(view: &View, s: &Service, all: &[&Service]) -> Option<String> {
    if view.workload_ready(s) {
        return None;
    }
    let mut pods: Vec<&Pod> = view.pods_of(s.name).collect();
    pods.sort_by_key(|p| p.metadata.name.clone());
    // A pod that ended (an Evicted or Failed one of an old ReplicaSet, kept until the pod GC
    // takes it) says nothing about the service while a live one exists: kubectl lists it apart.
    let terminal = |p: &&Pod| {
        matches!(
            p.status.as_ref().and_then(|st| st.phase.as_deref()),
            Some("Failed" | "Succeeded")
        )
    };
    if pods.iter().any(|p| !terminal(p)) {
        pods.retain(|p| !terminal(p));
    }
    for pod in &pods {
        let reason = pod_reason(pod);
        if in_progress(&reason) {
            continue;
        }
        let oom_before = pod
            .status
            .iter()
            .flat_map(|st| st.container_statuses.iter().flatten())
            .any(|c| {
                c.last_state
                    .as_ref()
                    .and_then(|l| l.terminated.as_ref())
                    .and_then(|t| t.reason.as_deref())
                    == Some("OOMKilled")
            });
        return Some(if reason == "CrashLoopBackOff" && oom_before {
            "CrashLoopBackOff (last run OOMKilled)".into()
        } else {
            reason
        });
    }
    if rolling_out(view, s) {
        return Some("rolling out".into());
    }
    Some(match phase_of(view, s, all).0 {
        Phase::WaitingFor(deps) => format!("waiting for {}", deps.join(", ")),
        Phase::Failing(r) => r,
        Phase::Starting => "starting".into(),
        Phase::Ready => return None,
        Phase::Pulling => pods
            .first()
            .map(|p| pod_reason(p))
            .unwrap_or_else(|| "no pod yet".into()),
    })
}

enum Change {
    Deployment(Event<Deployment>),
    StatefulSet(Event<StatefulSet>),
    Pod(Event<Pod>),
    Lost(String),
}

fn absorb<K: Resource + Clone>(map: &mut HashMap<String, K>, ev: Event<K>) {
    match ev {
        Event::Init => map.clear(),
        Event::InitApply(o) | Event::Apply(o) => {
            map.insert(o.name_any(), o);
        }
        Event::Delete(o) => {
            map.remove(&o.name_any());
        }
        Event::InitDone => {}
    }
}

/// Watch until every service in `services` is rolled out, or give up (see the module doc).
/// Returns the services that did not make it (empty: all ready).
pub async fn wait(
    target: &Target,
    services: &[&'static Service],
    opts: &WaitOptions,
    reporter: &dyn Reporter,
) -> Result<Vec<NotReady>, KubeError> {
    let selector = format!("{LABEL_PART_OF}={PART_OF}");
    let cfg = watcher::Config::default().labels(&selector);
    let ns = &target.namespace;
    let c = &target.client;
    // With a backoff, a watch whose API went away retries (and reports each failure) at a
    // growing interval instead of in a tight loop.
    let lost = |e: watcher::Error| Change::Lost(super::plain_error(&e));
    let deployments = watcher::watcher(Api::<Deployment>::namespaced(c.clone(), ns), cfg.clone())
        .default_backoff()
        .map(move |r| r.map_or_else(lost, Change::Deployment));
    let statefulsets = watcher::watcher(Api::<StatefulSet>::namespaced(c.clone(), ns), cfg.clone())
        .default_backoff()
        .map(move |r| r.map_or_else(lost, Change::StatefulSet));
    let pods = watcher::watcher(Api::<Pod>::namespaced(c.clone(), ns), cfg)
        .default_backoff()
        .map(move |r| r.map_or_else(lost, Change::Pod));
    let mut changes = stream::select_all([deployments.boxed(), statefulsets.boxed(), pods.boxed()]);

    let start = Instant::now();
    let deadline = start + opts.overall;
    let mut view = View::default();
    let mut last: BTreeMap<&'static str, Phase> = BTreeMap::new();
    // When each service's dependencies were all ready (its own clock starts then).
    let mut clock: HashMap<&'static str, Instant> = HashMap::new();
    // When a service entered a pending-type failure (unschedulable, claim unbound).
    let mut pending_since: HashMap<&'static str, Instant> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    // Since when the watches have failed with no answer from the API in between, and why.
    let mut lost: Option<(Instant, String)> = None;
    // Which watches have listed what exists (Deployments, StatefulSets, Pods).
    let mut listed = [false; 3];
    // When the first service failed for good.
    let mut gave_up: Option<Instant> = None;

    loop {
        tokio::select! {
            change = changes.next() => match change {
                Some(Change::Deployment(e)) => {
                    answered(&e, &mut lost);
                    listed[0] |= matches!(e, Event::InitDone);
                    absorb(&mut view.deployments, e)
                }
                Some(Change::StatefulSet(e)) => {
                    answered(&e, &mut lost);
                    listed[1] |= matches!(e, Event::InitDone);
                    absorb(&mut view.statefulsets, e)
                }
                Some(Change::Pod(e)) => {
                    answered(&e, &mut lost);
                    listed[2] |= matches!(e, Event::InitDone);
                    absorb(&mut view.pods, e)
                }
                Some(Change::Lost(e)) => {
                    // The watcher reconnects by itself (with backoff); give up only when the API
                    // stays away past the grace, checked on every tick below.
                    tracing::debug!("watch interrupted: {e}");
                    let since = lost.as_ref().map_or_else(Instant::now, |l| l.0);
                    lost = Some((since, e));
                }
                None => {}
            },
            _ = tick.tick() => {}
        }
        // Any answer from the API (an event of any watch) ends the outage; a quiet healthy watch
        // sends nothing, so only the ticks check how long the API has been away. A watch that
        // resumes after an outage sends nothing either (kube-runtime 5.0.0 `watcher.rs`: from
        // `InitListed` to `Watching` without an event; bookmarks are not passed on), so before
        // giving up the API is asked directly: if it answers, the outage is over and the
        // watchers carry on by themselves.
        if let Some((since, _)) = &lost
            && since.elapsed() >= opts.api_grace
            && tokio::time::timeout(API_PROBE, c.apiserver_version())
                .await
                .is_ok_and(|r| r.is_ok())
        {
            tracing::debug!("the API answers again after {:?}", since.elapsed());
            lost = None;
        }
        if let Some((since, why)) = &lost
            && since.elapsed() >= opts.api_grace
        {
            reporter.finish();
            return Err(KubeError::Lost {
                context: target.context.clone(),
                server: target.server.clone(),
                after: since.elapsed(),
                message: why.clone(),
            });
        }
        let now = Instant::now();
        if !listed.iter().all(|l| *l) && now < deadline {
            continue;
        }
        let mut out = Vec::new();
        let mut all_ready = true;
        let mut on_its_way = false;
        for s in services {
            let (phase, fatal) = phase_of(&view, s, services);
            if last.get(s.name) != Some(&phase) {
                reporter.phase(s.name, &phase, start.elapsed());
                last.insert(s.name, phase.clone());
            }
            if phase == Phase::Ready {
                continue;
            }
            all_ready = false;
            if !matches!(phase, Phase::WaitingFor(_)) {
                clock.entry(s.name).or_insert(now);
            }
            let limit = opts.per_service.unwrap_or_else(|| default_timeout(s.name));
            let pendingish = matches!(&phase, Phase::Failing(r) if r == "Unschedulable");
            if pendingish {
                pending_since.entry(s.name).or_insert(now);
            } else {
                pending_since.remove(s.name);
            }
            let pending_too_long = pending_since
                .get(s.name)
                .is_some_and(|t| now.duration_since(*t) >= opts.pending_grace);
            let stuck = if fatal || pending_too_long {
                Some(Stuck::Failed(phase.to_string()))
            } else if clock
                .get(s.name)
                .is_some_and(|t| now.duration_since(*t) >= limit)
            {
                Some(Stuck::TimedOut(limit))
            } else {
                None
            };
            match stuck {
                Some(stuck) => out.push(NotReady {
                    service: s.name,
                    phase,
                    stuck,
                }),
                None => {
                    on_its_way |= matches!(phase, Phase::Pulling | Phase::Starting);
                    out.push(NotReady {
                        service: s.name,
                        phase,
                        stuck: Stuck::Unfinished,
                    });
                }
            }
        }
        if all_ready {
            reporter.finish();
            return Ok(Vec::new());
        }
        if now >= deadline {
            reporter.finish();
            return Ok(services
                .iter()
                .filter(|s| last.get(s.name) != Some(&Phase::Ready))
                .map(|s| NotReady {
                    service: s.name,
                    phase: last.get(s.name).cloned().unwrap_or(Phase::Pulling),
                    stuck: Stuck::TimedOut(opts.overall),
                })
                .collect());
        }
        let any_stuck = out.iter().any(|n| n.stuck != Stuck::Unfinished);
        if any_stuck && gave_up.is_none() {
            gave_up = Some(now);
        }
        if let Some(since) = gave_up {
            // Every service not ready is reported; the give-up waits until those still on their
            // way have failed, got ready or waited long enough.
            if !on_its_way || now.duration_since(since) >= opts.settle {
                reporter.finish();
                return Ok(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{DeploymentSpec, DeploymentStatus};

    fn dep(
        generation: i64,
        observed: i64,
        desired: i32,
        updated: i32,
        total: i32,
        avail: i32,
    ) -> Deployment {
        let mut d = Deployment {
            spec: Some(DeploymentSpec {
                replicas: Some(desired),
                ..Default::default()
            }),
            status: Some(DeploymentStatus {
                observed_generation: Some(observed),
                updated_replicas: Some(updated),
                replicas: Some(total),
                available_replicas: Some(avail),
                ..Default::default()
            }),
            ..Default::default()
        };
        d.metadata.generation = Some(generation);
        d
    }

    #[test]
    fn kubectl_rollout_rule_for_deployments() {
        assert!(deployment_ready(&dep(2, 2, 1, 1, 1, 1)));
        assert!(
            !deployment_ready(&dep(3, 2, 1, 1, 1, 1)),
            "status of an older spec"
        );
        assert!(!deployment_ready(&dep(2, 2, 1, 0, 1, 1)), "not updated");
        assert!(
            !deployment_ready(&dep(2, 2, 1, 1, 2, 1)),
            "old replica still there"
        );
        assert!(!deployment_ready(&dep(2, 2, 1, 1, 1, 0)), "not available");
        assert!(deployment_ready(&dep(2, 2, 0, 0, 0, 0)), "scaled to zero");
    }

    fn sts(desired: i32, ready: i32, updated: i32, current: &str, update: &str) -> StatefulSet {
        use k8s_openapi::api::apps::v1::{StatefulSetSpec, StatefulSetStatus};
        let mut s = StatefulSet {
            spec: Some(StatefulSetSpec {
                replicas: Some(desired),
                ..Default::default()
            }),
            status: Some(StatefulSetStatus {
                observed_generation: Some(1),
                ready_replicas: Some(ready),
                updated_replicas: Some(updated),
                current_revision: Some(current.into()),
                update_revision: Some(update.into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        s.metadata.generation = Some(1);
        s
    }

    #[test]
    fn kubectl_rollout_rule_for_statefulsets() {
        assert!(statefulset_ready(&sts(1, 1, 1, "v1", "v1")));
        assert!(!statefulset_ready(&sts(1, 0, 1, "v1", "v1")), "not ready");
        assert!(
            !statefulset_ready(&sts(1, 1, 1, "v1", "v2")),
            "update in progress"
        );
        assert!(!statefulset_ready(&sts(1, 1, 0, "v1", "v1")), "not updated");
        let mut newer = sts(1, 1, 1, "v1", "v1");
        newer.metadata.generation = Some(2);
        assert!(!statefulset_ready(&newer), "status of an older spec");
    }

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "labels": {LABEL_NAME: "web-server"}},
            "spec": {"initContainers": [{"name": "init"}], "containers": [{"name": "main"}]},
            "status": status,
        }))
        .unwrap()
    }

    #[test]
    fn pod_reason_follows_kubectl() {
        let crash = pod(serde_json::json!({"phase": "Running",
            "initContainerStatuses": [{"name": "init", "image": "i", "imageID": "", "ready": true,
                "restartCount": 0, "state": {"terminated": {"exitCode": 0}}}],
            "containerStatuses": [{"name": "main", "image": "i", "imageID": "", "ready": false,
                "restartCount": 4, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}));
        assert_eq!(pod_reason(&crash), "CrashLoopBackOff");
        let init_running = pod(serde_json::json!({"phase": "Pending",
            "initContainerStatuses": [{"name": "init", "image": "i", "imageID": "", "ready": false,
                "restartCount": 0, "state": {"running": {}}}]}));
        assert_eq!(pod_reason(&init_running), "Init:0/1");
        let init_crash = pod(serde_json::json!({"phase": "Pending",
            "initContainerStatuses": [{"name": "init", "image": "i", "imageID": "", "ready": false,
                "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}));
        assert_eq!(pod_reason(&init_crash), "Init:CrashLoopBackOff");
        let exited = pod(serde_json::json!({"phase": "Running",
            "containerStatuses": [{"name": "main", "image": "i", "imageID": "", "ready": false,
                "restartCount": 0, "state": {"terminated": {"exitCode": 2}}}]}));
        assert_eq!(pod_reason(&exited), "ExitCode:2");
        let mut going = exited.clone();
        going.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::now(),
            ));
        assert_eq!(pod_reason(&going), "Terminating");
    }

    #[test]
    fn service_reason_names_a_rollout_and_a_crash() {
        let web = crate::stack::catalog::all_services()
            .find(|s| s.name == "web-server")
            .unwrap();
        let all = [web];
        let running = pod(serde_json::json!({"phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "main", "image": "i", "imageID": "", "ready": true,
                "restartCount": 0, "state": {"running": {}}}]}));
        // `onyx restart`: a new generation, the old pod still ready (READY 1/1), not rolled out.
        let mut view = View::default();
        view.deployments
            .insert("web-server".into(), dep(3, 3, 1, 0, 2, 1));
        view.pods.insert("p".into(), running.clone());
        assert_eq!(
            service_reason(&view, web, &all).as_deref(),
            Some("rolling out")
        );
        view.deployments
            .insert("web-server".into(), dep(3, 3, 1, 1, 1, 1));
        assert_eq!(service_reason(&view, web, &all), None);
        // A crash loop whose last run was killed for memory.
        let crash = pod(serde_json::json!({"phase": "Running",
            "containerStatuses": [{"name": "main", "image": "i", "imageID": "", "ready": false,
                "restartCount": 4, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}));
        view.deployments
            .insert("web-server".into(), dep(3, 3, 1, 1, 1, 0));
        view.pods.insert("p".into(), crash);
        assert_eq!(
            service_reason(&view, web, &all).as_deref(),
            Some("CrashLoopBackOff (last run OOMKilled)")
        );
        // An evicted pod of an old ReplicaSet beside a live one starting: not "Evicted".
        let evicted = pod(serde_json::json!({"phase": "Failed", "reason": "Evicted"}));
        let starting = pod(serde_json::json!({"phase": "Running",
            "containerStatuses": [{"name": "main", "image": "i", "imageID": "", "ready": false,
                "restartCount": 0, "state": {"running": {}}}]}));
        view.pods.clear();
        view.pods.insert("a".into(), evicted.clone());
        view.pods.insert("b".into(), starting);
        let reason = service_reason(&view, web, &all);
        assert!(
            reason.as_deref().is_some_and(|r| !r.contains("Evicted")),
            "{reason:?}"
        );
        // Alone, the evicted pod is the reason.
        view.pods.clear();
        view.pods.insert("a".into(), evicted);
        assert_eq!(service_reason(&view, web, &all).as_deref(), Some("Evicted"));
    }
}
