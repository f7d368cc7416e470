//! The day-2 view of an installed stack: what runs ([`status`]), stopping it without losing data
//! ([`scale_down`]), restarting one service ([`restart`]), its logs ([`logs`]) and removing it
//! ([`remove`]). Everything onyx made carries `app.kubernetes.io/part-of=onyx`, which is how these
//! find it.

use futures_util::{AsyncBufReadExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolumeClaim, Pod, Secret, Service as KService,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, ListParams, LogParams, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;

use super::rollout::{deployment_ready, statefulset_ready};
use super::{KubeError, Target, retry};
use crate::stack::catalog::{Service, Workload, all_services};
use crate::stack::render::{LABEL_NAME, LABEL_PART_OF, PART_OF};

const TRIES: u32 = 6;

fn part_of() -> ListParams {
    ListParams::default().labels(&format!("{LABEL_PART_OF}={PART_OF}"))
}

/// One service as it runs now.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ServiceStatus {
    pub name: String,
    /// `Deployment` or `StatefulSet`.
    pub kind: String,
    /// Pods ready (available for Deployments).
    pub ready: i32,
    /// Replicas asked for (0 after `onyx down`).
    pub desired: i32,
    /// Container restarts summed over the service's pods.
    pub restarts: i32,
    /// Seconds since the service's youngest running pod started (what changed last: a restart,
    /// a crash, a new rollout); `None` when no pod runs.
    pub age_seconds: Option<i64>,
    pub image: Option<String>,
    /// Rolled out by kubectl's rule and not scaled to zero.
    pub healthy: bool,
    /// The workload does not exist.
    pub missing: bool,
    /// One word, as the STATE column says it: `ready`, `not ready`, `stopped` or `missing`.
    pub state: &'static str,
    /// Why it is not ready, as the REASON column says it ([`super::rollout::service_reason`]):
    /// kubectl's pod reason when a pod fails (`CrashLoopBackOff`, `ImagePullBackOff`, ...), else
    /// `rolling out`, `waiting for X`, `starting`, ...; `null` when ready, stopped or missing.
    pub reason: Option<String>,
}

/// The whole stack's status.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StackStatus {
    pub context: String,
    pub namespace: String,
    /// Every service exists and is rolled out with at least one replica.
    pub healthy: bool,
    /// Every workload is scaled to zero (after `onyx down`).
    pub stopped: bool,
    /// Where the UI is served on this machine; `None` when nothing serves it here (a cluster onyx
    /// did not make, without `onyx up --forward` running).
    pub url: Option<String>,
    pub services: Vec<ServiceStatus>,
}

/// Read the stack's status; `NotInstalled` when none of its workloads exist.
pub async fn status(target: &Target, url: Option<String>) -> Result<StackStatus, KubeError> {
    let c = &target.client;
    let ns = &target.namespace;
    let lp = part_of();
    let (d_api, s_api, p_api) = (
        Api::<Deployment>::namespaced(c.clone(), ns),
        Api::<StatefulSet>::namespaced(c.clone(), ns),
        Api::<Pod>::namespaced(c.clone(), ns),
    );
    let deployments = retry(TRIES, || d_api.list(&lp))
        .await
        .map_err(|e| target.classify("list Deployments", e))?
        .items;
    let statefulsets = retry(TRIES, || s_api.list(&lp))
        .await
        .map_err(|e| target.classify("list StatefulSets", e))?
        .items;
    let pods = retry(TRIES, || p_api.list(&lp))
        .await
        .map_err(|e| target.classify("list Pods", e))?
        .items;
    if deployments.is_empty() && statefulsets.is_empty() {
        return Err(KubeError::NotInstalled {
            namespace: ns.clone(),
            context: target.context.clone(),
        });
    }
    let now = Timestamp::now();
    // The indexing services count only where the installed stack runs them.
    let mode = super::workers::installed_mode(target).await?;
    let running: Vec<&'static Service> = all_services().filter(|s| mode.runs(s.name)).collect();
    // The same view `up`'s wait judges from, for the REASON column.
    let view = super::rollout::View {
        deployments: deployments
            .iter()
            .map(|d| (d.name_any(), d.clone()))
            .collect(),
        statefulsets: statefulsets
            .iter()
            .map(|d| (d.name_any(), d.clone()))
            .collect(),
        pods: pods.iter().map(|p| (p.name_any(), p.clone())).collect(),
    };
    let services: Vec<ServiceStatus> = running
        .iter()
        .copied()
        .map(|s| {
            let restarts = pods
                .iter()
                .filter(|p| p.labels().get(LABEL_NAME).map(String::as_str) == Some(s.name))
                .filter_map(|p| p.status.as_ref())
                .flat_map(|st| st.container_statuses.iter().flatten())
                .map(|cs| cs.restart_count)
                .sum();
            let (meta, template, desired, ready, healthy) = match s.workload {
                Workload::Deployment => match deployments.iter().find(|d| d.name_any() == s.name) {
                    Some(d) => (
                        Some(d.meta().clone()),
                        d.spec.as_ref().map(|sp| sp.template.clone()),
                        d.spec.as_ref().and_then(|sp| sp.replicas).unwrap_or(1),
                        d.status
                            .as_ref()
                            .and_then(|st| st.available_replicas)
                            .unwrap_or(0),
                        deployment_ready(d),
                    ),
                    None => (None, None, 0, 0, false),
                },
                Workload::StatefulSet => {
                    match statefulsets.iter().find(|d| d.name_any() == s.name) {
                        Some(d) => (
                            Some(d.meta().clone()),
                            d.spec.as_ref().map(|sp| sp.template.clone()),
                            d.spec.as_ref().and_then(|sp| sp.replicas).unwrap_or(1),
                            d.status
                                .as_ref()
                                .and_then(|st| st.ready_replicas)
                                .unwrap_or(0),
                            statefulset_ready(d),
                        ),
                        None => (None, None, 0, 0, false),
                    }
                }
            };
            let image = template
                .and_then(|t| t.spec)
                .and_then(|sp| sp.containers.first().and_then(|c| c.image.clone()));
            let age_seconds = pods
                .iter()
                .filter(|p| p.labels().get(LABEL_NAME).map(String::as_str) == Some(s.name))
                .filter(|p| {
                    p.metadata.deletion_timestamp.is_none()
                        && p.status.as_ref().and_then(|st| st.phase.as_deref()) == Some("Running")
                })
                .filter_map(|p| {
                    p.status
                        .as_ref()
                        .and_then(|st| st.start_time.as_ref())
                        .or(p.metadata.creation_timestamp.as_ref())
                })
                .map(|t| now.as_second() - t.0.as_second())
                .min();
            let missing = meta.is_none();
            let state = if missing {
                "missing"
            } else if desired == 0 {
                "stopped"
            } else if healthy {
                "ready"
            } else {
                "not ready"
            };
            let reason = if missing || desired == 0 {
                None
            } else {
                super::rollout::service_reason(&view, s, &running)
            };
            ServiceStatus {
                reason,
                name: s.name.to_string(),
                kind: format!("{:?}", s.workload),
                ready,
                desired,
                restarts,
                age_seconds,
                image,
                healthy: healthy && desired > 0,
                missing,
                state,
            }
        })
        .collect();
    Ok(StackStatus {
        context: target.context.clone(),
        namespace: ns.clone(),
        healthy: services.iter().all(|s| s.healthy),
        stopped: services.iter().all(|s| s.desired == 0),
        url,
        services,
    })
}

/// Scale every workload of the stack to zero; claims, Secrets and config stay.
pub async fn scale_down(target: &Target) -> Result<usize, KubeError> {
    let c = &target.client;
    let ns = &target.namespace;
    let body = serde_json::json!({"spec": {"replicas": 0}});
    let params = PatchParams::default();
    let patch = Patch::Merge(&body);
    let lp = part_of();
    let mut n = 0;
    let deployments: Api<Deployment> = Api::namespaced(c.clone(), ns);
    for d in retry(TRIES, || deployments.list_metadata(&lp))
        .await
        .map_err(|e| target.classify("list Deployments", e))?
    {
        let name = d.name_any();
        retry(TRIES, || deployments.patch(&name, &params, &patch))
            .await
            .map_err(|e| target.classify(&format!("scale Deployment {name}"), e))?;
        n += 1;
    }
    let statefulsets: Api<StatefulSet> = Api::namespaced(c.clone(), ns);
    for s in retry(TRIES, || statefulsets.list_metadata(&lp))
        .await
        .map_err(|e| target.classify("list StatefulSets", e))?
    {
        let name = s.name_any();
        retry(TRIES, || statefulsets.patch(&name, &params, &patch))
            .await
            .map_err(|e| target.classify(&format!("scale StatefulSet {name}"), e))?;
        n += 1;
    }
    Ok(n)
}

/// `kubectl rollout restart`: a new pod template annotation, so the controller replaces the pods.
pub async fn restart(target: &Target, service: &Service) -> Result<(), KubeError> {
    let c = &target.client;
    let ns = &target.namespace;
    let body = serde_json::json!({"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": Timestamp::now().to_string()
    }}}}});
    let params = PatchParams::default();
    // A service scaled to zero has no pods to replace: say so, and how to start it.
    let replicas = match service.workload {
        Workload::Deployment => Api::<Deployment>::namespaced(c.clone(), ns)
            .get_opt(service.name)
            .await
            .map(|d| d.map(|d| d.spec.and_then(|s| s.replicas).unwrap_or(1))),
        Workload::StatefulSet => Api::<StatefulSet>::namespaced(c.clone(), ns)
            .get_opt(service.name)
            .await
            .map(|d| d.map(|d| d.spec.and_then(|s| s.replicas).unwrap_or(1))),
    }
    .map_err(|e| target.classify(&format!("read {}", service.name), e))?;
    match replicas {
        None => {
            return Err(KubeError::NotInstalled {
                namespace: ns.clone(),
                context: target.context.clone(),
            });
        }
        Some(0) => {
            return Err(KubeError::State {
                message: format!(
                    "{} is stopped (scaled to zero, as `onyx down` leaves it): there are no pods \
                     to restart",
                    service.name
                ),
                hint: "`onyx up` starts the stack again with its data".into(),
            });
        }
        Some(_) => {}
    }
    let result = match service.workload {
        Workload::Deployment => Api::<Deployment>::namespaced(c.clone(), ns)
            .patch(service.name, &params, &Patch::Merge(&body))
            .await
            .map(|_| ()),
        Workload::StatefulSet => Api::<StatefulSet>::namespaced(c.clone(), ns)
            .patch(service.name, &params, &Patch::Merge(&body))
            .await
            .map(|_| ()),
    };
    match result {
        Err(kube::Error::Api(s)) if s.code == 404 => Err(KubeError::NotInstalled {
            namespace: ns.clone(),
            context: target.context.clone(),
        }),
        r => r.map_err(|e| target.classify(&format!("restart {}", service.name), e)),
    }
}

/// Remove the stack's objects; the claims (the data) too only with `data`. Returns how many
/// objects were deleted.
pub async fn remove(target: &Target, data: bool) -> Result<usize, KubeError> {
    let c = &target.client;
    let ns = &target.namespace;
    let mut n = 0;
    n += delete_all::<Deployment>(target, Api::namespaced(c.clone(), ns)).await?;
    n += delete_all::<StatefulSet>(target, Api::namespaced(c.clone(), ns)).await?;
    n += delete_all::<KService>(target, Api::namespaced(c.clone(), ns)).await?;
    n += delete_all::<ConfigMap>(target, Api::namespaced(c.clone(), ns)).await?;
    n += delete_all::<NetworkPolicy>(target, Api::namespaced(c.clone(), ns)).await?;
    n += delete_all::<PodDisruptionBudget>(target, Api::namespaced(c.clone(), ns)).await?;
    if data {
        n += delete_all::<PersistentVolumeClaim>(target, Api::namespaced(c.clone(), ns)).await?;
        // Without the data the passwords protect nothing; new ones come with the next install.
        n += delete_all::<Secret>(target, Api::namespaced(c.clone(), ns)).await?;
    }
    Ok(n)
}

/// One of the stack's claims, as `destroy --data` lists it before asking.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub name: String,
    /// The size the cluster reports (`status.capacity.storage`), when it does.
    pub capacity: Option<String>,
    /// The size asked for (`spec.resources.requests.storage`).
    pub requested: Option<String>,
}

/// The stack's claims (what `remove(.., true)` deletes), by name.
pub async fn claims(target: &Target) -> Result<Vec<Claim>, KubeError> {
    let api: Api<PersistentVolumeClaim> = Api::namespaced(target.client.clone(), &target.namespace);
    let lp = part_of();
    let mut out: Vec<Claim> = retry(TRIES, || api.list(&lp))
        .await
        .map_err(|e| target.classify("list PersistentVolumeClaims", e))?
        .items
        .into_iter()
        .map(|c| Claim {
            name: c.name_any(),
            capacity: c
                .status
                .as_ref()
                .and_then(|s| s.capacity.as_ref())
                .and_then(|m| m.get("storage"))
                .map(|q| q.0.clone()),
            requested: c
                .spec
                .as_ref()
                .and_then(|s| s.resources.as_ref())
                .and_then(|r| r.requests.as_ref())
                .and_then(|m| m.get("storage"))
                .map(|q| q.0.clone()),
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

async fn delete_all<K>(target: &Target, api: Api<K>) -> Result<usize, KubeError>
where
    K: Resource<DynamicType = ()> + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    let kind = K::kind(&()).to_string();
    let lp = part_of();
    let dp = DeleteParams::background();
    let items = retry(TRIES, || api.list_metadata(&lp))
        .await
        .map_err(|e| target.classify(&format!("list {kind}s"), e))?;
    let mut n = 0;
    for item in items {
        let name = item.name_any();
        match retry(TRIES, || api.delete(&name, &dp)).await {
            Ok(_) => n += 1,
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(target.classify(&format!("delete {kind} {name}"), e)),
        }
    }
    Ok(n)
}

/// Where `onyx logs` reads: the service's pod (a running one, else the newest), the container,
/// and, when onyx chose the container for the user, why.
pub struct LogSource {
    pub pod: String,
    pub container: String,
    /// Said on stderr before the logs: the main container has not started, so the init
    /// container that runs (or failed) is shown instead.
    pub note: Option<String>,
}

/// Choose the pod and container `onyx logs` reads. `container` is the user's `-c`; without it,
/// the service's main container, unless that has not started yet and an init container is the
/// one running or failing (the API's `wait-for-dependencies` while the stack comes up): then
/// that one, with a note saying so.
pub async fn log_source(
    target: &Target,
    service: &Service,
    container: Option<&str>,
    previous: bool,
) -> Result<LogSource, crate::Error> {
    let pods: Api<Pod> = Api::namespaced(target.client.clone(), &target.namespace);
    let lp = ListParams::default().labels(&format!("{LABEL_NAME}={}", service.name));
    let mut list = retry(TRIES, || pods.list(&lp))
        .await
        .map_err(|e| target.classify("list Pods", e))?
        .items;
    // Prefer a running pod, then the newest.
    list.sort_by_key(|p| {
        let running = p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
        (running, p.metadata.creation_timestamp.clone())
    });
    let Some(pod) = list.pop() else {
        return Err(KubeError::Api {
            action: format!("no logs for {}", service.name),
            message: "it has no pods (not installed, or scaled down by `onyx down`)".into(),
        }
        .into());
    };
    let name = pod.name_any();
    let spec = pod.spec.clone().unwrap_or_default();
    let inits: Vec<String> = spec
        .init_containers
        .iter()
        .flatten()
        .map(|c| c.name.clone())
        .collect();
    let mains: Vec<String> = spec.containers.iter().map(|c| c.name.clone()).collect();
    let status = pod.status.clone().unwrap_or_default();
    let all_statuses = || {
        status
            .init_container_statuses
            .iter()
            .flatten()
            .chain(status.container_statuses.iter().flatten())
    };
    let (chosen, note) = match container {
        Some(c) if inits.iter().chain(&mains).any(|n| n == c) => (c.to_string(), None),
        Some(c) => {
            let mut names: Vec<String> = mains.clone();
            names.extend(inits.iter().map(|i| format!("{i} (init)")));
            return Err(crate::Error::input(
                format!(
                    "{} has no container {c:?} (pod {name} has: {})",
                    service.name,
                    names.join(", ")
                ),
                format!(
                    "pick one with -c, e.g. `onyx logs {} -c {}`",
                    service.name,
                    mains.first().map_or(service.name, String::as_str)
                ),
            ));
        }
        None => {
            let main = service.name.to_string();
            let started = status
                .container_statuses
                .iter()
                .flatten()
                .find(|c| c.name == main)
                .and_then(|c| c.state.as_ref())
                .is_some_and(|s| s.running.is_some() || s.terminated.is_some())
                || status
                    .container_statuses
                    .iter()
                    .flatten()
                    .any(|c| c.name == main && c.restart_count > 0);
            // The init container that holds the pod: the first not finished with exit 0.
            let holding = status.init_container_statuses.iter().flatten().find(|c| {
                c.state
                    .as_ref()
                    .and_then(|s| s.terminated.as_ref())
                    .is_none_or(|t| t.exit_code != 0)
            });
            match holding {
                Some(init) if !started && !previous => {
                    let doing = if init.state.as_ref().is_some_and(|s| s.running.is_some()) {
                        "is running"
                    } else {
                        "has not finished"
                    };
                    (
                        init.name.clone(),
                        Some(format!(
                            "{main} has not started yet: its init container {} {doing} \
                             (pod {name}); showing its logs (`onyx logs {main} -c {main}` for \
                             the main container's)",
                            init.name
                        )),
                    )
                }
                _ => (main, None),
            }
        }
    };
    if previous {
        let restarts = all_statuses()
            .find(|c| c.name == chosen)
            .map_or(0, |c| c.restart_count);
        if restarts == 0 {
            return Err(KubeError::State {
                message: format!(
                    "{chosen} has not restarted (pod {name}): there is no previous run"
                ),
                hint: if chosen == service.name {
                    format!("`onyx logs {}` shows the current run", service.name)
                } else {
                    format!(
                        "`onyx logs {} -c {chosen}` shows the current run",
                        service.name
                    )
                },
            }
            .into());
        }
    }
    Ok(LogSource {
        pod: name,
        container: chosen,
        note,
    })
}

/// Print the logs of `source` to `out`: all (or the last `tail` lines), `previous` run, or
/// following new lines until the stream ends.
pub async fn logs(
    target: &Target,
    source: &LogSource,
    follow: bool,
    previous: bool,
    tail: Option<i64>,
    out: &mut (dyn std::io::Write + Send),
) -> Result<(), KubeError> {
    let pods: Api<Pod> = Api::namespaced(target.client.clone(), &target.namespace);
    let name = &source.pod;
    let params = LogParams {
        container: Some(source.container.clone()),
        follow,
        previous,
        tail_lines: tail,
        ..Default::default()
    };
    let io_err = |e: std::io::Error| KubeError::Api {
        action: "cannot write the logs".into(),
        message: e.to_string(),
    };
    if follow {
        let mut lines = pods
            .log_stream(name, &params)
            .await
            .map_err(|e| target.classify(&format!("read the logs of {name}"), e))?
            .lines();
        while let Some(line) = lines.try_next().await.map_err(|e| KubeError::Api {
            action: format!("reading the logs of {name}"),
            message: e.to_string(),
        })? {
            writeln!(out, "{line}").map_err(io_err)?;
        }
    } else {
        let text = pods
            .logs(name, &params)
            .await
            .map_err(|e| target.classify(&format!("read the logs of {name}"), e))?;
        out.write_all(text.as_bytes()).map_err(io_err)?;
    }
    Ok(())
}
