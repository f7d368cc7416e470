//! The boot steps once the node container exists: start it, wait for systemd, then write the
//! kubeadm config, `kubeadm init`, remove the taint, install CNI and storage, wait for Ready and
//! merge the kubeconfig; each step reported and under a timeout.

use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::LogsOptionsBuilder;
use futures_util::StreamExt;

use super::container::{inspect, node_address, port_is_free, port_taken, published_port};
use super::exec::{exec, run, stdin_bytes};
use super::manifests::{cni_manifest, storage_manifest};
use super::{
    ADMIN_CONF, CNI_MANIFEST, ClusterError, CreateOptions, KIND_VERSION, KUBEADM_CONF,
    KUBECONFIG_FLAG, STORAGE_MANIFEST,
};
use crate::cluster::kubeadm::{self, KubeadmApi, KubeadmParams};
use crate::cluster::node::{self, NodeSpec};
use crate::cluster::{Step, StepEvent, StepReporter, kubeconfig};

/// The node's last log lines.
pub async fn last_log_lines(docker: &Docker, name: &str, n: usize) -> Vec<String> {
    let options = LogsOptionsBuilder::new()
        .stdout(true)
        .stderr(true)
        .tail(&n.to_string())
        .build();
    let mut stream = docker.logs(name, Some(options));
    let mut text = Vec::new();
    while let Some(Ok(chunk)) = stream.next().await {
        text.extend_from_slice(&chunk.into_bytes());
    }
    String::from_utf8_lossy(&text)
        .lines()
        .map(|l| l.trim_end_matches('\r').to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// kind's readiness line: systemd reached the multi-user target (or the entrypoint's cgroup v1
/// note, after which exec is safe too).
pub fn is_systemd_ready_line(line: &str) -> bool {
    if line.contains("detected cgroup v1") {
        return true;
    }
    match line.find("Reached target") {
        Some(i) => line[i..].contains("Multi-User System"),
        None => false,
    }
}

/// Where the systemd wait reads the node's log from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFrom {
    /// A container started for the first time: its whole log is this run's. kind follows the
    /// log from its start (`docker logs -f`, kind v0.32.0
    /// `pkg/cluster/internal/providers/docker/provision.go`
    /// `createContainerWithWaitUntilSystemdReachesMultiUserSystem`).
    Beginning,
    /// A container started again: only the lines logged after its previous run ended
    /// (`State.FinishedAt` before the start; every line of that run precedes it), by the engine's
    /// own clock, never the host's — an engine VM whose clock lags the host's (colima, Docker
    /// Desktop after sleep) would otherwise hide the line. (Not `State.StartedAt`: the engine
    /// records it once the process runs, so the first lines can carry earlier times.)
    After(jiff::Timestamp),
}

fn engine_time(t: Option<&str>) -> Option<jiff::Timestamp> {
    t?.parse::<jiff::Timestamp>()
        .ok()
        // Docker's zero time (0001-01-01) for what never happened.
        .filter(|t| t.as_second() > 0)
}

/// When the engine says the container last started (`State.StartedAt`, by its clock).
pub fn started_at(i: &bollard::models::ContainerInspectResponse) -> Option<jiff::Timestamp> {
    engine_time(i.state.as_ref()?.started_at.as_deref())
}

/// When the engine says the container's last run ended (`State.FinishedAt`, by its clock).
pub fn finished_at(i: &bollard::models::ContainerInspectResponse) -> Option<jiff::Timestamp> {
    engine_time(i.state.as_ref()?.finished_at.as_deref())
}

/// The engine's `since` (whole seconds, inclusive) for a wait from `from`; `None` reads it all.
pub fn log_since(from: LogFrom) -> Option<i32> {
    match from {
        LogFrom::Beginning => None,
        LogFrom::After(t) => Some(t.as_second().clamp(0, i32::MAX as i64) as i32),
    }
}

/// Whether a log line (with the engine's timestamp in front when reading after a run) says
/// systemd is up in this run: a line logged up to the previous run's end is that run's.
pub fn systemd_ready_in_run(line: &str, from: LogFrom) -> bool {
    match from {
        LogFrom::Beginning => is_systemd_ready_line(line),
        LogFrom::After(ended) => {
            let Some((stamp, rest)) = line.split_once(' ') else {
                return false;
            };
            match stamp.parse::<jiff::Timestamp>() {
                Ok(t) if t > ended => is_systemd_ready_line(rest),
                _ => false,
            }
        }
    }
}

/// Follow the node's log (per [`LogFrom`]) until systemd is ready, as kind's 30 s wait for
/// `Reached target .*Multi-User System.*|detected cgroup v1` (kind v0.32.0
/// `pkg/cluster/internal/providers/common/cgroups.go` `NodeReachedCgroupsReadyRegexp`).
pub(crate) async fn wait_systemd(
    docker: &Docker,
    name: &str,
    from: LogFrom,
    timeout: Duration,
) -> Result<(), String> {
    let mut options = LogsOptionsBuilder::new()
        .follow(true)
        .stdout(true)
        .stderr(true)
        .timestamps(from != LogFrom::Beginning);
    if let Some(since) = log_since(from) {
        options = options.since(since);
    }
    let mut stream = docker.logs(name, Some(options.build()));
    let watch = async {
        let mut pending = String::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| e.to_string())?;
            pending.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
            while let Some(nl) = pending.find('\n') {
                let line: String = pending.drain(..=nl).collect();
                if systemd_ready_in_run(line.trim_end(), from) {
                    return Ok(());
                }
            }
            if systemd_ready_in_run(&pending, from) {
                return Ok(());
            }
        }
        Err("the node stopped before systemd was up".to_string())
    };
    match tokio::time::timeout(timeout, watch).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "systemd did not reach the multi-user target within {}s",
            timeout.as_secs()
        )),
    }
}

/// kubectl's readiness output (`'True'`, `'True False'`, …): every node Ready.
pub fn all_ready(jsonpath_output: &str) -> bool {
    let fields: Vec<&str> = jsonpath_output
        .split_whitespace()
        .map(|f| f.trim_matches('\''))
        .filter(|f| !f.is_empty())
        .collect();
    !fields.is_empty() && fields.iter().all(|f| *f == "True")
}

/// No step may take longer than this (kubeadm init on a slow laptop takes a few minutes); the
/// Ready wait has its own timeout.
pub(crate) const STEP_TIMEOUT: Duration = Duration::from_secs(20 * 60);

/// Run one step, reporting its start and end.
pub(crate) async fn step<T>(
    reporter: &dyn StepReporter,
    s: Step,
    work: impl Future<Output = Result<T, String>>,
) -> Result<T, (Step, String)> {
    reporter.step(s, StepEvent::Start);
    // The Ready wait runs under its own timeout (`--wait`), which may be longer.
    let limit = if s == Step::WaitReady {
        Duration::MAX
    } else {
        STEP_TIMEOUT
    };
    let result = match tokio::time::timeout(limit, work).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "no answer within {} minutes",
            STEP_TIMEOUT.as_secs() / 60
        )),
    };
    match result {
        Ok(v) => {
            reporter.step(s, StepEvent::Done);
            Ok(v)
        }
        Err(e) => {
            reporter.step(s, StepEvent::Failed(e.clone()));
            Err((s, e))
        }
    }
}

pub(crate) async fn start(docker: &Docker, spec: &NodeSpec) -> Result<(), ClusterError> {
    match docker.start_container(&spec.name, None).await {
        Ok(()) => Ok(()),
        Err(e) => {
            let text = e.to_string();
            if text.contains("port is already allocated") || text.contains("address already in use")
            {
                for p in &spec.ports {
                    if text.contains(&format!(":{}", p.host_port)) || !port_is_free(p.host_port) {
                        return Err(port_taken(p.host_port, p.container_port));
                    }
                }
            }
            Err(e.into())
        }
    }
}

/// The boot after systemd is up: config, init, taint, CNI, storage, Ready, kubeconfig.
pub(crate) async fn boot(
    docker: &Docker,
    opts: &CreateOptions,
    reporter: &dyn StepReporter,
) -> Result<u16, (Step, String)> {
    let name = &opts.spec.name;
    let params = step(reporter, Step::WriteKubeadmConfig, async {
        let i = inspect(docker, name)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the node disappeared")?;
        let address = node_address(&i, &opts.spec.network)
            .ok_or_else(|| format!("the node has no address on network {}", opts.spec.network))?;
        let version = run(docker, name, &["cat", KIND_VERSION], None)
            .await?
            .stdout_text();
        let version = version.trim();
        let api = KubeadmApi::for_version(version).ok_or_else(|| {
            format!("cannot read the Kubernetes version {version:?} in {KIND_VERSION}")
        })?;
        let params = KubeadmParams::single_node(&opts.cluster, version, &address, "systemd")
            .on_host(&opts.host);
        let config = kubeadm::render(&params, api);
        run(docker, name, &["mkdir", "-p", "/kind"], None).await?;
        run(
            docker,
            name,
            &["cp", "/dev/stdin", KUBEADM_CONF],
            Some(stdin_bytes(config.into_bytes())),
        )
        .await?;
        Ok(params)
    })
    .await?;
    step(reporter, Step::KubeadmInit, async {
        let args = kubeadm::init_args(&params.kubernetes_version);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(docker, name, &args, None).await.map(drop)
    })
    .await?;
    step(reporter, Step::RemoveTaint, async {
        run(
            docker,
            name,
            &[
                "kubectl",
                KUBECONFIG_FLAG,
                "taint",
                "nodes",
                "--all",
                "node-role.kubernetes.io/control-plane-",
            ],
            None,
        )
        .await?;
        // One node: let load balancers (and the UI's node port) use it, as kind does.
        run(
            docker,
            name,
            &[
                "kubectl",
                KUBECONFIG_FLAG,
                "label",
                "nodes",
                "--all",
                "node.kubernetes.io/exclude-from-external-load-balancers-",
            ],
            None,
        )
        .await
        .map(drop)
    })
    .await?;
    step(reporter, Step::InstallCni, async {
        let raw = run(docker, name, &["cat", CNI_MANIFEST], None)
            .await?
            .stdout_text();
        let endpoint = format!("{}:{}", params.node_name, params.api_bind_port);
        let manifest = cni_manifest(&raw, &params.pod_subnet, &endpoint)?;
        run(
            docker,
            name,
            &["kubectl", "create", KUBECONFIG_FLAG, "-f", "-"],
            Some(stdin_bytes(manifest.into_bytes())),
        )
        .await
        .map(drop)
    })
    .await?;
    step(
        reporter,
        Step::InstallStorage,
        install_storage(docker, name),
    )
    .await?;
    // A fresh node: any Ready condition is this run's.
    ready_step(docker, name, reporter, opts.timeouts.ready, None).await;
    let port = step(reporter, Step::Kubeconfig, merge_kubeconfig(docker, opts)).await?;
    Ok(port)
}

/// The node's storage manifest, with onyx's path pattern, applied (kind's installstorage).
async fn install_storage(docker: &Docker, name: &str) -> Result<(), String> {
    let raw = run(docker, name, &["cat", STORAGE_MANIFEST], None)
        .await?
        .stdout_text();
    let manifest = storage_manifest(&raw)?;
    run(
        docker,
        name,
        &["kubectl", KUBECONFIG_FLAG, "apply", "-f", "-"],
        Some(stdin_bytes(manifest.into_bytes())),
    )
    .await
    .map(drop)
}

/// The path pattern onyx gave the StorageClass `standard` before issue #20, which
/// local-path-provisioner v0.0.34 refuses (no trailing `/`): no claim was ever provisioned by it.
pub const REFUSED_PATH_PATTERN: &str = "{{ .PVC.Namespace }}/{{ .PVC.Name }}";

/// On a node that exists already: a StorageClass `standard` made by an older onyx with
/// [`REFUSED_PATH_PATTERN`] is made again with the current one. Its parameters are immutable, so
/// it is deleted and applied anew; nothing is lost (the provisioner refused every claim of it),
/// and the claims left Pending are provisioned on the provisioner's next retry, which reads the
/// class again. Returns whether it was replaced; a failure is the caller's warning, not an error.
pub(crate) async fn repair_storage_class(docker: &Docker, name: &str) -> Result<bool, String> {
    let pattern = run(
        docker,
        name,
        &[
            "kubectl",
            KUBECONFIG_FLAG,
            "get",
            "storageclass",
            "standard",
            "--ignore-not-found",
            "-o=jsonpath={.parameters.pathPattern}",
        ],
        None,
    )
    .await?
    .stdout_text();
    if pattern.trim() != REFUSED_PATH_PATTERN {
        return Ok(false);
    }
    run(
        docker,
        name,
        &[
            "kubectl",
            KUBECONFIG_FLAG,
            "delete",
            "storageclass",
            "standard",
        ],
        None,
    )
    .await?;
    install_storage(docker, name).await?;
    Ok(true)
}

/// kubectl's jsonpath for the control plane's Ready condition: status, last heartbeat, reason,
/// message, one node per line.
const READY_JSONPATH: &str = "-o=jsonpath={range .items[*]}{.status.conditions[?(@.type==\"Ready\")].status}|{.status.conditions[?(@.type==\"Ready\")].lastHeartbeatTime}|{.status.conditions[?(@.type==\"Ready\")].reason}|{.status.conditions[?(@.type==\"Ready\")].message}{\"\\n\"}{end}";

/// What the node's Ready condition says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// Not Ready, or Ready only in a status written before the node's latest start; why.
    NotYet(String),
}

/// Read [`READY_JSONPATH`]'s output. With `started` (the node's latest start), a Ready condition
/// whose heartbeat is older is the status from before the stop, which the API server serves
/// until the kubelet writes a new one — and the kubelet writes one as soon as it runs again (its
/// first status update always patches: `tryUpdateNodeStatus` in kubernetes
/// `pkg/kubelet/kubelet_node_status.go`, since no report was made yet, and the Ready setter
/// stamps `lastHeartbeatTime`). Heartbeats have whole seconds, so the start is compared in whole
/// seconds too.
pub fn readiness(output: &str, started: Option<jiff::Timestamp>) -> Readiness {
    let lines: Vec<&str> = output
        .lines()
        .map(|l| l.trim().trim_matches('\''))
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return Readiness::NotYet("no control-plane node is registered yet".into());
    }
    for line in lines {
        let mut f = line.splitn(4, '|');
        let (status, heartbeat, reason, message) = (
            f.next().unwrap_or(""),
            f.next().unwrap_or(""),
            f.next().unwrap_or(""),
            f.next().unwrap_or(""),
        );
        if status != "True" {
            let why = match (reason, message) {
                ("", "") => format!("Ready is {:?}", status),
                (r, "") => r.to_string(),
                ("", m) => m.to_string(),
                (r, m) => format!("{r}: {m}"),
            };
            return Readiness::NotYet(why);
        }
        if let Some(started) = started {
            let fresh = heartbeat
                .parse::<jiff::Timestamp>()
                .is_ok_and(|h| h.as_second() >= started.as_second());
            if !fresh {
                return Readiness::NotYet(format!(
                    "Ready only in the status from before the start (heartbeat {heartbeat})"
                ));
            }
        }
    }
    Readiness::Ready
}

/// The kube-system pods not running yet, as `name (phase)`, for saying what is slow.
async fn pending_system_pods(docker: &Docker, name: &str) -> Vec<String> {
    let out = exec(
        docker,
        name,
        &[
            "kubectl",
            KUBECONFIG_FLAG,
            "get",
            "pods",
            "--namespace=kube-system",
            "-o=jsonpath={range .items[*]}{.metadata.name} {.status.phase}{\"\\n\"}{end}",
        ],
        None,
    )
    .await;
    let Ok(out) = out else { return Vec::new() };
    if !out.ok() {
        return Vec::new();
    }
    out.stdout_text()
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(_, phase)| phase.trim() != "Running" && phase.trim() != "Succeeded")
        .map(|(pod, phase)| format!("{pod} ({})", phase.trim()))
        .collect()
}

/// Poll the node's readiness with kubectl inside it until `timeout`, as kind's waitforready
/// action. A node not Ready in time is not a failure: kind only warns ("Timed out waiting for
/// Ready", kind v0.32.0 `pkg/cluster/internal/create/actions/waitforready/waitforready.go`) and
/// goes on; `Err` carries what is slow (the Ready condition's reason and message, the kube-system
/// pods not running), for the caller to say and go on.
pub(crate) async fn wait_ready(
    docker: &Docker,
    name: &str,
    timeout: Duration,
    started: Option<jiff::Timestamp>,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let last = match exec(
            docker,
            name,
            &[
                "kubectl",
                KUBECONFIG_FLAG,
                "get",
                "nodes",
                "--selector=node-role.kubernetes.io/control-plane",
                READY_JSONPATH,
            ],
            None,
        )
        .await
        {
            Ok(out) if out.ok() => match readiness(&out.stdout_text(), started) {
                Readiness::Ready => return Ok(()),
                Readiness::NotYet(why) => why,
            },
            Ok(out) => out.error_text(),
            Err(e) => e.to_string(),
        };
        if tokio::time::Instant::now() >= deadline {
            let pods = pending_system_pods(docker, name).await;
            let pods = if pods.is_empty() {
                String::new()
            } else {
                format!("; kube-system pods not running: {}", pods.join(", "))
            };
            return Err(format!(
                "the node is not Ready after {}s ({last}{pods})",
                timeout.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The Ready wait as a step that never fails the create: a timeout is reported as a warning
/// (kind's "WARNING: Timed out waiting for Ready") and the boot goes on.
pub(crate) async fn ready_step(
    docker: &Docker,
    name: &str,
    reporter: &dyn StepReporter,
    timeout: Duration,
    started: Option<jiff::Timestamp>,
) {
    reporter.step(Step::WaitReady, StepEvent::Start);
    match wait_ready(docker, name, timeout, started).await {
        Ok(()) => reporter.step(Step::WaitReady, StepEvent::Done),
        Err(slow) => {
            reporter.step(Step::WaitReady, StepEvent::Warned(slow.clone()));
            tracing::warn!("{slow}");
            reporter.message(&format!(
                "the node {name} is not Ready yet; it is kept and onyx goes on (the stack's wait \
                 has its own timeout); look inside with `docker exec {name} kubectl \
                 --kubeconfig=/etc/kubernetes/admin.conf get pods -A`"
            ));
        }
    }
}

/// Read admin.conf, point it at the published API port, merge it as `kind-<cluster>`.
pub(crate) async fn merge_kubeconfig(docker: &Docker, opts: &CreateOptions) -> Result<u16, String> {
    let name = &opts.spec.name;
    let i = inspect(docker, name)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the node disappeared")?;
    let port =
        published_port(&i, node::API_SERVER_PORT).ok_or("the node publishes no API server port")?;
    let admin = run(docker, name, &["cat", ADMIN_CONF], None)
        .await?
        .stdout_text();
    let ours =
        kubeconfig::from_admin_conf(&admin, port, &crate::cluster::context_name(&opts.cluster))
            .map_err(|e| e.to_string())?;
    let file = opts.kubeconfig.clone();
    tokio::task::spawn_blocking(move || kubeconfig::merge(&file, &ours))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| match e.hint() {
            Some(h) => format!("{e} ({h})"),
            None => e.to_string(),
        })?;
    Ok(port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_and_systemd_lines() {
        assert!(all_ready("'True'"));
        assert!(all_ready("'True True'"));
        assert!(!all_ready("'True False'"));
        assert!(!all_ready("''"));
        assert!(!all_ready(""));
        assert!(is_systemd_ready_line(
            "[  OK  ] Reached target \x1b[0;1;39mMulti-User System\x1b[0m."
        ));
        assert!(is_systemd_ready_line(
            "Reached target multi-user.target - Multi-User System."
        ));
        assert!(is_systemd_ready_line("INFO: detected cgroup v1"));
        assert!(!is_systemd_ready_line("Reached target Basic System."));
    }

    fn ts(s: &str) -> jiff::Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn systemd_wait_reads_a_new_node_from_the_start_and_a_restarted_one_from_its_start() {
        // A new container: the whole log, whatever the host clock says (kind: `docker logs -f`).
        assert_eq!(log_since(LogFrom::Beginning), None);
        assert!(systemd_ready_in_run(
            "[  OK  ] Reached target Multi-User System.",
            LogFrom::Beginning
        ));
        // Started again: after the previous run's `State.FinishedAt` by the engine's clock; that
        // run's line, in the same second, does not count.
        let from = LogFrom::After(ts("2026-12-01T10:20:00.657306241Z"));
        assert_eq!(log_since(from), Some(1_796_120_400));
        assert!(!systemd_ready_in_run(
            "2026-12-01T10:20:00.100000000Z [  OK  ] Reached target Multi-User System.",
            from
        ));
        assert!(systemd_ready_in_run(
            "2026-12-01T10:20:01.5Z [  OK  ] Reached target Multi-User System.",
            from
        ));
        assert!(!systemd_ready_in_run(
            "2026-12-01T10:20:01.5Z Reached target Basic System.",
            from
        ));
        assert!(!systemd_ready_in_run("no timestamp here", from));
    }

    #[test]
    fn ready_means_true_and_not_from_before_the_start() {
        let started = Some(ts("2026-12-01T10:20:00.657Z"));
        let fresh = "True|2026-12-01T10:20:00Z|KubeletReady|kubelet is posting ready status\n";
        assert_eq!(readiness(fresh, None), Readiness::Ready);
        // Heartbeats have whole seconds: the start's second counts as after it.
        assert_eq!(readiness(fresh, started), Readiness::Ready);
        let stale = "True|2026-12-01T09:59:58Z|KubeletReady|kubelet is posting ready status";
        assert_eq!(readiness(stale, None), Readiness::Ready);
        assert!(
            matches!(readiness(stale, started), Readiness::NotYet(w) if w.contains("before the start"))
        );
        let not_ready = "False|2026-12-01T10:20:05Z|KubeletNotReady|container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady";
        assert_eq!(
            readiness(not_ready, started),
            Readiness::NotYet(
                "KubeletNotReady: container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady"
                    .into()
            )
        );
        assert!(matches!(readiness("", None), Readiness::NotYet(w) if w.contains("registered")));
        // One of two nodes not ready: not ready.
        assert!(matches!(
            readiness(&format!("{fresh}{not_ready}"), None),
            Readiness::NotYet(_)
        ));
    }
}
