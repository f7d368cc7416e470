//! What `onyx cluster create --dry-run` shows: the engine's facts read ([`gather`]) and what
//! create would make from them ([`plan_create`]), made of the same pure functions the create runs.

use crate::cluster::host::{self, NodeHost};
use crate::cluster::kind;
use crate::cluster::kubeadm::{self, KubeadmApi, KubeadmParams};
use crate::cluster::node::{self, DataMount, NodeOptions, node_spec};
use crate::docker::{engine, reference};
use crate::error::Result;
use crate::stack::catalog;

/// The engine's facts a dry run needs: the host facts, whether the node exists, and the
/// subnets of the node network when it exists.
pub async fn gather(node: &str) -> Result<(NodeHost, bool, Option<Vec<String>>)> {
    let engine = engine::connect(&engine::EngineEnv::from_process()).await?;
    let host = host::gather(&engine.docker).await?;
    let exists = kind::inspect(&engine.docker, node).await?.is_some();
    let subnets = kind::network::subnets(&engine.docker, node::NETWORK).await?;
    Ok((host, exists, subnets))
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
