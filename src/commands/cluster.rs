//! `onyx cluster`: onyx's own local cluster. `create` makes (or reuses, or restarts) the
//! kind-compatible node and merges its kubeconfig (`--dry-run` prints what it would make, from
//! the engine's facts, and makes nothing); `delete` removes it and our kubeconfig entries,
//! keeping the data volume (or directory) unless `--purge`; `list` and `status` show what the
//! engine has; `load` puts the stack's images into the node.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use crate::cli::{
    ClusterCreateArgs, ClusterDeleteArgs, ClusterListArgs, ClusterLoadArgs, ClusterStatusArgs,
    DataFormat,
};
use crate::cluster::host::{self, NodeHost};
use crate::cluster::kind;
use crate::cluster::kubeadm::{self, KubeadmApi, KubeadmParams};
use crate::cluster::node::{self, DataMount, NodeOptions, node_spec};
use crate::cluster::{self, node_images, own};
use crate::docker::{engine, reference};
use crate::error::{Error, Result};
use crate::settings::Settings;
use crate::stack::catalog;
use crate::ui::{ImageProgress, Printer};

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).expect("json")
}

/// What `cluster create`'s flags ask [`own::ensure`] for.
fn ensure_options(settings: &Settings, args: &ClusterCreateArgs) -> own::EnsureOptions {
    own::EnsureOptions {
        name: args.target.name.clone(),
        kubeconfig: args.target.kubeconfig.clone(),
        data_dir: args.target.data_dir.clone(),
        port: settings.port,
        retain: args.retain,
        wait: Duration::from_secs(args.wait),
        node_image: args.node_image.clone(),
        registry_mirror: args.registry_mirror.clone(),
    }
}

/// Remove these directories, deepest first, each only while empty.
fn remove_empty(dirs: &[PathBuf]) {
    for d in dirs {
        if std::fs::remove_dir(d).is_err() {
            break;
        }
    }
}

/// The kubeadm config's node address in a dry run: the engine assigns it when the node starts.
pub const DRY_RUN_NODE_ADDRESS: &str = "<node-ip>";

/// The Kubernetes version a node image will report: its tag (`kindest/node:v1.36.1`), else the
/// pinned node image's.
fn image_kubernetes_version(image: &str) -> String {
    let tag = |i: &str| {
        reference::Reference::parse(i)
            .ok()
            .and_then(|r| r.tag)
            .filter(|t| KubeadmApi::for_version(t).is_some())
    };
    tag(image)
        .or_else(|| tag(&catalog::node_image().reference))
        .unwrap_or_else(|| "v1.36.1".into())
}

/// What `cluster create` would make on this engine, made of the same pure functions the create
/// runs: the network request (or the existing network), the named volumes, the node container's
/// create body and the kubeadm config. Proxy credentials are hidden.
pub fn plan_create(
    cluster_name: &str,
    image: &str,
    ui_port: u16,
    data: &DataMount,
    host: &NodeHost,
    network_subnets: Option<&[String]>,
    node_exists: bool,
) -> serde_json::Value {
    let mut spec = node_spec(&NodeOptions {
        cluster: cluster_name.into(),
        image: image.into(),
        // Picked free just before the create.
        api_server_port: 0,
        ui_port,
        data: data.clone(),
        host: host.clone(),
    });
    let version = image_kubernetes_version(image);
    let params =
        KubeadmParams::single_node(cluster_name, &version, DRY_RUN_NODE_ADDRESS, "systemd")
            .on_host(host);
    let planned_subnet = kind::ula_subnet(node::NETWORK, 0);
    let subnets: Vec<String> = match network_subnets {
        Some(s) => s.to_vec(),
        None => vec![planned_subnet.clone()],
    };
    spec.env.extend(
        node::proxy_env(
            &host.proxy,
            &subnets,
            &params.service_subnet,
            &params.pod_subnet,
            std::slice::from_ref(&spec.name),
        )
        .iter()
        .map(|e| host::redact_userinfo(e)),
    );
    let network = match network_subnets {
        Some(s) => serde_json::json!({"name": node::NETWORK, "exists": true, "subnets": s}),
        None => serde_json::json!({
            "name": node::NETWORK,
            "exists": false,
            "create": kind::network_request(node::NETWORK, Some(planned_subnet), host.bridge_mtu),
        }),
    };
    let api = KubeadmApi::for_version(&version).unwrap_or(KubeadmApi::V1Beta4);
    let mut shown = host.clone();
    shown.proxy = host.proxy.redacted();
    serde_json::json!({
        "cluster": cluster_name,
        "node_exists": node_exists,
        "engine": shown,
        "warnings": host.check().unwrap_or_default(),
        "network": network,
        "volumes": spec.named_volumes,
        "data": data,
        "node": {
            "name": spec.name,
            "body": kind::create_body(&spec),
        },
        "kubeadm": {
            "kubernetes_version": version,
            "node_address": format!(
                "{DRY_RUN_NODE_ADDRESS}: the node's address on network {}, assigned when it starts",
                node::NETWORK
            ),
            "path": kind::KUBEADM_CONF,
            "init": kubeadm::init_args(&version),
            "config": kubeadm::render(&params, api),
        },
    })
}

/// `cluster create --dry-run`: read the engine's facts and print [`plan_create`]; make nothing.
fn dry_run(settings: &Settings, printer: &Printer, args: &ClusterCreateArgs) -> Result<ExitCode> {
    let name = own::checked_name(&args.target.name)?.to_string();
    let data = own::data_mount(args.target.data_dir.as_deref(), &name);
    let image = args
        .node_image
        .clone()
        .unwrap_or_else(|| catalog::node_image().reference.clone());
    let rt = super::runtime()?;
    let node = cluster::node_name(&name);
    let (host, exists, subnets) = super::until_interrupted(&rt, async {
        let engine = engine::connect(&engine::EngineEnv::from_process()).await?;
        let host = host::gather(&engine.docker).await?;
        let exists = kind::inspect(&engine.docker, &node).await?.is_some();
        let subnets = kind::network::subnets(&engine.docker, node::NETWORK).await?;
        Ok((host, exists, subnets))
    })?;
    // What create would refuse, the dry run refuses the same way.
    if !exists {
        own::check_host(&host)?;
    }
    let plan = plan_create(
        &name,
        &image,
        settings.port,
        &data,
        &host,
        subnets.as_deref(),
        exists,
    );
    match args.output {
        DataFormat::Json => printer.data(&json(&plan))?,
        DataFormat::Text => {
            for w in plan["warnings"].as_array().into_iter().flatten() {
                printer.warn(w.as_str().unwrap_or_default());
            }
            let mut text = String::new();
            if exists {
                text.push_str(&format!(
                    "# the node {node} exists: `cluster create` would reuse it, not make this\n"
                ));
            }
            text.push_str(&format!(
                "# engine facts\n{}\n# network (POST /networks/create, when missing)\n{}\n\
                 # volumes (POST /volumes/create, when missing)\n{}\n\
                 # node container (POST /containers/create?name={node})\n{}\n\
                 # kubeadm config ({}; {}; then `{}`)\n{}",
                json(&plan["engine"]),
                json(&plan["network"]),
                json(&plan["volumes"]),
                json(&plan["node"]["body"]),
                kind::KUBEADM_CONF,
                plan["kubeadm"]["node_address"].as_str().unwrap_or_default(),
                plan["kubeadm"]["init"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                plan["kubeadm"]["config"].as_str().unwrap_or_default(),
            ));
            printer.data(&text)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn create(
    settings: &Settings,
    printer: &Printer,
    args: &ClusterCreateArgs,
) -> Result<ExitCode> {
    if args.dry_run {
        return dry_run(settings, printer, args);
    }
    let rt = super::runtime()?;
    let (created, data) = own::ensure(&ensure_options(settings, args), printer, &rt)?;
    match args.output {
        DataFormat::Json => printer.data(&json(&created))?,
        DataFormat::Text => {
            let what = match created.outcome {
                kind::Outcome::Created => "created",
                kind::Outcome::Reused => "already running",
                kind::Outcome::Restarted => "started again",
            };
            printer.info(&format!(
                "cluster {} {what}: API server {}, context {} in {}; data in {}",
                created.cluster,
                created.api_server,
                created.context,
                created.kubeconfig.display(),
                own::describe(&data)
            ));
            if let Some(p) = created.ui_port
                && p != settings.port
            {
                printer.warn(&format!(
                    "the existing node serves the UI on port {p}, not {}: delete and create the \
                     cluster to change it (the data stays)",
                    settings.port
                ));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn delete(printer: &Printer, args: &ClusterDeleteArgs) -> Result<ExitCode> {
    let name = own::checked_name(&args.target.name)?.to_string();
    let root = own::data_root(args.target.data_dir.as_deref())?;
    let data = own::data_dir(&root, &name);
    let file = own::kubeconfig_file(args.target.kubeconfig.as_deref());
    let rt = super::runtime()?;
    let (deleted, data_volume_exists) = super::until_interrupted(&rt, async {
        let engine = engine::connect(&engine::EngineEnv::from_process()).await?;
        let deleted = kind::delete(
            &engine.docker,
            &name,
            &file,
            args.purge.then_some(data.as_path()),
        )
        .await?;
        let volume = node::data_volume_name(&name);
        let exists = kind::volumes::exists(&engine.docker, &volume).await?;
        Ok((deleted, exists))
    })?;
    if deleted.data_removed.is_some() {
        // --purge: the folders above the data that are left empty go too (onyx's data folder
        // itself included), never one that still holds something.
        let mut above: Vec<PathBuf> = data
            .ancestors()
            .skip(1)
            .take_while(|d| d.starts_with(&root))
            .map(Path::to_path_buf)
            .collect();
        above.retain(|d| d.exists());
        remove_empty(&above);
    }
    match args.output {
        DataFormat::Json => printer.data(&json(&deleted))?,
        DataFormat::Text => {
            if deleted.node_removed {
                printer.info(&format!("deleted cluster {name}"));
            } else {
                printer.info(&format!("there was no cluster {name} (nothing to remove)"));
            }
            if deleted.kubeconfig_cleaned {
                printer.info(&format!(
                    "removed context {} from {}",
                    cluster::context_name(&name),
                    file.display()
                ));
            }
            let volume = node::data_volume_name(&name);
            if deleted.volumes_removed.contains(&volume) {
                printer.info(&format!("removed the data volume {volume}"));
            } else if !args.purge && data_volume_exists {
                printer.info(&format!(
                    "kept the data volume {volume} (--purge removes it)"
                ));
            }
            match &deleted.data_removed {
                Some(d) => printer.info(&format!("removed the data directory {}", d.display())),
                None if data.exists() => printer.info(&format!(
                    "kept the data directory {} (--purge removes it)",
                    data.display()
                )),
                None => {}
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn list(printer: &Printer, args: &ClusterListArgs) -> Result<ExitCode> {
    let rt = super::runtime()?;
    let clusters = super::until_interrupted(&rt, async {
        let engine = engine::connect(&engine::EngineEnv::from_process()).await?;
        Ok(kind::list(&engine.docker).await?)
    })?;
    match args.output {
        DataFormat::Json => printer.data(&json(&clusters))?,
        DataFormat::Text if clusters.is_empty() => printer.info("no clusters"),
        DataFormat::Text => {
            let port = |p: Option<u16>| p.map_or("-".to_string(), |p| p.to_string());
            let mut text = format!(
                "{:<24} {:<10} {:<9} {:<8} {:<6}\n",
                "NAME", "STATE", "API PORT", "UI PORT", "MADE BY"
            );
            for c in &clusters {
                text.push_str(&format!(
                    "{:<24} {:<10} {:<9} {:<8} {:<6}\n",
                    c.name,
                    c.state,
                    port(c.api_port),
                    port(c.ui_port),
                    if c.onyx { "onyx" } else { "kind" }
                ));
            }
            printer.data(&text)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn status(printer: &Printer, args: &ClusterStatusArgs) -> Result<ExitCode> {
    let name = own::checked_name(&args.target.name)?.to_string();
    let rt = super::runtime()?;
    let status = super::until_interrupted(&rt, async {
        let engine = engine::connect(&engine::EngineEnv::from_process()).await?;
        Ok(kind::status(&engine.docker, &name).await?)
    })
    .map_err(|e| no_cluster_yet(e, &name))?;
    match args.output {
        DataFormat::Json => printer.data(&json(&status))?,
        DataFormat::Text => {
            let or_dash = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".into());
            let ready = match status.ready {
                Some(true) => "yes",
                Some(false) => "no",
                None => "unknown",
            };
            printer.data(&format!(
                "cluster:    {}\nnode:       {} ({})\nimage:      {}\nAPI server: {}\ncontext:    {}\nUI:         {}\ndata:       {}\nready:      {ready}",
                status.cluster,
                status.node,
                status.state,
                status.image,
                or_dash(&status.api_server),
                status.context,
                or_dash(&status.ui_url),
                match (&status.data_volume, &status.data_dir) {
                    (Some(v), _) => format!("volume {v}"),
                    (None, Some(d)) => d.clone(),
                    (None, None) => "-".into(),
                },
            ))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The own cluster not made yet is a state with a way out, said as such (exit 3, as the day-2
/// commands say it); a cluster named with `--name` that is not there stays "no cluster named".
fn no_cluster_yet(e: Error, name: &str) -> Error {
    match e {
        Error::Cluster(kind::ClusterError::NotFound(n)) if n == cluster::CLUSTER_NAME => {
            Error::environment(
                format!(
                    "no local cluster yet (no node {})",
                    cluster::node_name(name)
                ),
                "`onyx up` or `onyx cluster create` makes one",
            )
        }
        e => e,
    }
}

pub fn load(printer: &Printer, args: &ClusterLoadArgs) -> Result<ExitCode> {
    let name = own::checked_name(&args.target.name)?.to_string();
    let images: Vec<String> = if args.images.is_empty() {
        catalog::stack_images()
            .map(|i| i.reference.clone())
            .collect()
    } else {
        args.images.clone()
    };
    let rt = super::runtime()?;
    let progress = ImageProgress::new(printer, "loaded");
    let outcome = super::until_interrupted(&rt, async {
        let (engine, facts) = engine::detect().await?;
        let node = cluster::node_name(&name);
        let status = kind::status(&engine.docker, &name)
            .await
            .map_err(|e| no_cluster_yet(e.into(), &name))?;
        if status.state != "running" {
            return Err(Error::input(
                format!("the node {node} is {}, not running", status.state),
                "start it with `onyx cluster create`",
            ));
        }
        let options = node_images::ImportOptions {
            containerd_image_store: facts.containerd_image_store,
            ..Default::default()
        };
        Ok(node_images::load_all(&engine.docker, &node, &images, &options, &progress).await)
    });
    progress.finish();
    let (results, error) = outcome?;
    match args.output {
        DataFormat::Json => printer.data(&json(&results))?,
        DataFormat::Text => {
            use node_images::Outcome;
            let count = |o: Outcome| results.iter().filter(|r| r.outcome == o).count();
            printer.info(&format!(
                "{} imported, {} tagged, {} already present, {} failed",
                count(Outcome::Imported),
                count(Outcome::Retagged),
                count(Outcome::Present),
                count(Outcome::Failed)
            ));
        }
    }
    match error {
        Some(e) => Err(e.into()),
        None => Ok(ExitCode::SUCCESS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_of_a_proxied_userns_remap_host_hides_proxy_credentials() {
        let host = NodeHost {
            cgroup_version: "2".into(),
            userns_remap: true,
            bridge_mtu: Some(1400),
            proxy: host::Proxy {
                http: Some("http://me:secret@proxy:3128".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let plan = plan_create(
            "onyx",
            "kindest/node:v1.36.1@sha256:abc",
            3000,
            &DataMount::Volume("onyx-data".into()),
            &host,
            None,
            false,
        );
        let text = plan.to_string();
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains("http://***@proxy:3128"), "{text}");
        assert_eq!(plan["node"]["body"]["HostConfig"]["UsernsMode"], "host");
        assert_eq!(
            plan["network"]["create"]["Options"]["com.docker.network.driver.mtu"],
            "1400"
        );
        assert_eq!(plan["kubeadm"]["kubernetes_version"], "v1.36.1");
        let env = plan["node"]["body"]["Env"].as_array().unwrap();
        assert!(
            env.iter()
                .any(|e| e.as_str().unwrap().starts_with("NO_PROXY=fc00:")),
            "{env:?}"
        );
    }
}
