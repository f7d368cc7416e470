//! Make, reuse or restart the cluster's node and boot it (see the [module docs](super) for the steps);
//! a fresh create that fails removes what it made unless asked to keep it.

use bollard::Docker;
use bollard::models::ContainerInspectResponse;
use bollard::query_parameters::CreateContainerOptionsBuilder;

use super::boot::{
    LogFrom, boot, finished_at, last_log_lines, merge_kubeconfig, ready_step, repair_storage_class,
    start, started_at, step, wait_systemd,
};
use super::container::{
    check_ports, create_body, has_admin_conf, image_for_create, inspect, is_running,
    published_port, remove_node, start_existing,
};
use super::network::{self, ensure_network_mtu, remove_network_if_unused};
use super::volumes;
use super::{ClusterError, CreateOptions, Created, LOG_LINES, Outcome};
use crate::cluster::kubeadm::KubeadmParams;
use crate::cluster::node::{self, NodeSpec};
use crate::cluster::{Step, StepEvent, StepReporter};
use crate::docker::DockerError;

/// Make (or reuse, or restart) the cluster's node and boot it; see the module docs.
pub async fn create(
    docker: &Docker,
    opts: &CreateOptions,
    reporter: &dyn StepReporter,
) -> Result<Created, ClusterError> {
    let spec = &opts.spec;
    let name = spec.name.clone();
    let done = |outcome, api_port: u16, i: Option<&ContainerInspectResponse>| Created {
        cluster: opts.cluster.clone(),
        node: name.clone(),
        context: crate::cluster::context_name(&opts.cluster),
        outcome,
        api_server: format!("https://127.0.0.1:{api_port}"),
        ui_port: i
            .and_then(|i| published_port(i, node::UI_NODE_PORT))
            .or_else(|| {
                spec.ports
                    .iter()
                    .find(|p| p.container_port == node::UI_NODE_PORT)
                    .map(|p| p.host_port)
            }),
        kubeconfig: opts.kubeconfig.clone(),
    };

    if let Some(existing) = inspect(docker, &name).await? {
        let labels = existing
            .config
            .as_ref()
            .and_then(|c| c.labels.clone())
            .unwrap_or_default();
        if labels.get(node::LABEL_CLUSTER) != Some(&opts.cluster) {
            return Err(ClusterError::Foreign {
                name,
                cluster: opts.cluster.clone(),
            });
        }
        reporter.step(Step::Network, StepEvent::Skipped("the node exists".into()));
        reporter.step(
            Step::CreateNode,
            StepEvent::Skipped("the node exists".into()),
        );
        // A node whose boot never finished (kept by --retain, or killed mid-boot) has no
        // admin.conf: reusing it would wait for a cluster that isn't there.
        if !has_admin_conf(docker, &name).await? {
            return Err(ClusterError::HalfMade {
                cluster: opts.cluster.clone(),
                node: name,
            });
        }
        let (outcome, started) = if is_running(&existing) {
            reporter.message(&format!("reusing the running node {name}"));
            reporter.step(Step::StartNode, StepEvent::Skipped("running".into()));
            reporter.step(Step::WaitSystemd, StepEvent::Skipped("running".into()));
            (Outcome::Reused, None)
        } else {
            reporter.message(&format!("starting the stopped node {name}"));
            // The engine's clock, not ours: the log is read after the last run's end, and the
            // node's status trusted from this start on.
            let from = finished_at(&existing).map_or(LogFrom::Beginning, LogFrom::After);
            reporter.step(Step::StartNode, StepEvent::Start);
            if let Err(e) = start_existing(docker, &existing).await {
                let text = e.to_string();
                reporter.step(Step::StartNode, StepEvent::Failed(text.clone()));
                return Err(match e {
                    e @ ClusterError::PortTaken { .. } => e,
                    _ => failed(docker, opts, Step::StartNode, text, Some(name.clone())).await,
                });
            }
            reporter.step(Step::StartNode, StepEvent::Done);
            let started = inspect(docker, &name).await?.as_ref().and_then(started_at);
            if let Err((s, message)) = step(
                reporter,
                Step::WaitSystemd,
                wait_systemd(docker, &name, from, opts.timeouts.systemd),
            )
            .await
            {
                return Err(failed(docker, opts, s, message, Some(name.clone())).await);
            }
            (Outcome::Restarted, started)
        };
        ready_step(docker, &name, reporter, opts.timeouts.ready, started).await;
        match repair_storage_class(docker, &name).await {
            Ok(true) => reporter.message(
                "the StorageClass standard had a path pattern the node's local-path provisioner \
                 refuses (made by an older onyx); made it again, so waiting claims are provisioned",
            ),
            Ok(false) => {}
            Err(e) => reporter.message(&format!(
                "warning: could not check the StorageClass standard's path pattern: {e}"
            )),
        }
        return match step(reporter, Step::Kubeconfig, merge_kubeconfig(docker, opts)).await {
            Ok(port) => {
                let i = inspect(docker, &name).await?;
                Ok(done(outcome, port, i.as_ref()))
            }
            // A node that was there before is not ours to remove.
            Err((s, message)) => Err(failed(docker, opts, s, message, Some(name.clone())).await),
        };
    }

    // A fresh node.
    check_ports(spec)?;
    let made_network = match step(reporter, Step::Network, async {
        ensure_network_mtu(docker, &spec.network, opts.host.bridge_mtu)
            .await
            .map_err(|e| e.to_string())
    })
    .await
    {
        Ok(made) => made,
        Err((s, message)) => {
            return Err(ClusterError::StepFailed {
                cluster: opts.cluster.clone(),
                step: s,
                message,
                logs: Vec::new(),
                kept: None,
            });
        }
    };
    // The data directory must exist as the user's, not be made by the engine as root.
    if let node::DataMount::HostDir(dir) = &spec.data {
        let _ = std::fs::create_dir_all(dir);
    }
    reporter.step(Step::CreateNode, StepEvent::Start);
    let mut made = Made {
        network: made_network,
        volumes: Vec::new(),
    };
    let prepared = async {
        let spec = with_proxy(docker, opts).await?;
        made.volumes = volumes::ensure(docker, &spec.named_volumes).await?;
        let options = CreateContainerOptionsBuilder::new().name(&name).build();
        let mut body = create_body(&spec);
        body.image = Some(image_for_create(docker, &spec.image).await?);
        docker.create_container(Some(options), body).await?;
        Ok::<_, DockerError>(spec)
    };
    let spec = &match prepared.await {
        Ok(spec) => spec,
        Err(e) => {
            let message = match &e {
                DockerError::Engine(e) => crate::docker::engine::with_causes(e),
                e => e.to_string(),
            };
            reporter.step(Step::CreateNode, StepEvent::Failed(message.clone()));
            rollback(docker, opts, &made).await;
            return Err(ClusterError::StepFailed {
                cluster: opts.cluster.clone(),
                step: Step::CreateNode,
                message,
                logs: Vec::new(),
                kept: None,
            });
        }
    };
    reporter.step(Step::CreateNode, StepEvent::Done);

    reporter.step(Step::StartNode, StepEvent::Start);
    let result = match start(docker, spec).await {
        Err(ClusterError::PortTaken { port, what, hint }) => {
            reporter.step(
                Step::StartNode,
                StepEvent::Failed(format!("port {port} is in use")),
            );
            rollback(docker, opts, &made).await;
            return Err(ClusterError::PortTaken { port, what, hint });
        }
        Err(e) => {
            reporter.step(Step::StartNode, StepEvent::Failed(e.to_string()));
            Err((Step::StartNode, e.to_string()))
        }
        Ok(()) => {
            reporter.step(Step::StartNode, StepEvent::Done);
            match step(
                reporter,
                Step::WaitSystemd,
                wait_systemd(docker, &name, LogFrom::Beginning, opts.timeouts.systemd),
            )
            .await
            {
                Ok(()) => boot(docker, opts, reporter).await,
                Err(e) => Err(e),
            }
        }
    };
    match result {
        Ok(port) => {
            let i = inspect(docker, &name).await?;
            Ok(done(Outcome::Created, port, i.as_ref()))
        }
        Err((s, message)) => {
            let kept = opts.retain.then(|| name.clone());
            let err = failed(docker, opts, s, message, kept).await;
            if !opts.retain {
                rollback(docker, opts, &made).await;
            }
            Err(err)
        }
    }
}

/// The error for a failed step, with the node's last log lines.
async fn failed(
    docker: &Docker,
    opts: &CreateOptions,
    step: Step,
    message: String,
    kept: Option<String>,
) -> ClusterError {
    ClusterError::StepFailed {
        cluster: opts.cluster.clone(),
        step,
        message,
        logs: last_log_lines(docker, &opts.spec.name, LOG_LINES).await,
        kept,
    }
}

/// What a fresh create made, for its rollback.
struct Made {
    network: bool,
    /// Named volumes made by this run (a data volume that was there before is never removed).
    volumes: Vec<String>,
}

/// The spec with the proxy variables of this host, `NO_PROXY` naming the network's subnets
/// (known once the network exists), as kind's getProxyEnv (kind v0.32.0
/// pkg/cluster/internal/providers/docker/provision.go).
async fn with_proxy(docker: &Docker, opts: &CreateOptions) -> Result<NodeSpec, DockerError> {
    let mut spec = opts.spec.clone();
    if opts.host.proxy.is_set() {
        let subnets = network::subnets(docker, &spec.network)
            .await?
            .unwrap_or_default();
        let k = KubeadmParams::single_node(&opts.cluster, "", "", "");
        spec.env.extend(node::proxy_env(
            &opts.host.proxy,
            &subnets,
            &k.service_subnet,
            &k.pod_subnet,
            std::slice::from_ref(&spec.name),
        ));
    }
    Ok(spec)
}

/// Remove what a failed create made: the container with its anonymous volume, the volumes and
/// the network this run made (the network only if nothing else uses it).
async fn rollback(docker: &Docker, opts: &CreateOptions, made: &Made) {
    if let Err(e) = remove_node(docker, &opts.spec.name).await {
        tracing::warn!("could not remove {} after the failure: {e}", opts.spec.name);
    }
    for v in &made.volumes {
        if let Err(e) = volumes::remove(docker, v).await {
            tracing::warn!("could not remove the volume {v} after the failure: {e}");
        }
    }
    if made.network {
        remove_network_if_unused(docker, &opts.spec.network).await;
    }
}
