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

/// Follow the node's log from `since` (unix seconds) until systemd is ready.
pub(crate) async fn wait_systemd(
    docker: &Docker,
    name: &str,
    since: i64,
    timeout: Duration,
) -> Result<(), String> {
    let options = LogsOptionsBuilder::new()
        .follow(true)
        .stdout(true)
        .stderr(true)
        .since(since.clamp(0, i32::MAX as i64) as i32)
        .build();
    let mut stream = docker.logs(name, Some(options));
    let watch = async {
        let mut pending = String::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| e.to_string())?;
            pending.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
            while let Some(nl) = pending.find('\n') {
                let line: String = pending.drain(..=nl).collect();
                if is_systemd_ready_line(&line) {
                    return Ok(());
                }
            }
            if is_systemd_ready_line(&pending) {
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

pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
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
    step(reporter, Step::InstallStorage, async {
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
    })
    .await?;
    step(
        reporter,
        Step::WaitReady,
        wait_ready(docker, name, opts.timeouts.ready),
    )
    .await?;
    let port = step(reporter, Step::Kubeconfig, merge_kubeconfig(docker, opts)).await?;
    Ok(port)
}

/// Poll the node's readiness with kubectl inside it, as kind's waitforready action.
pub(crate) async fn wait_ready(
    docker: &Docker,
    name: &str,
    timeout: Duration,
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
                "-o=jsonpath='{.items..status.conditions[-1:].status}'",
            ],
            None,
        )
        .await
        {
            Ok(out) if out.ok() && all_ready(&out.stdout_text()) => return Ok(()),
            Ok(out) if out.ok() => format!("the node reports {}", out.stdout_text().trim()),
            Ok(out) => out.error_text(),
            Err(e) => e.to_string(),
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "the node was not Ready within {}s (last: {last})",
                timeout.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
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
}
