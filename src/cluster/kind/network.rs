//! The Docker network `kind` the node joins, made as kind makes it (kind v0.32.0
//! pkg/cluster/internal/providers/docker/network.go): a bridge with IP masquerade, IPv6 on a ULA
//! subnet derived from the name, IPv4 only when the engine can't do IPv6, and the default
//! bridge's MTU copied in.

use std::collections::HashMap;

use bollard::Docker;
use bollard::models::NetworkCreateRequest;
use bollard::query_parameters::ListNetworksOptionsBuilder;
use sha2::{Digest, Sha256};

use crate::docker::DockerError;

/// kind's IPv6 ULA subnet for a network name: `fc00::/8` with six bytes of a hash of the name
/// and the attempt, a /64 (network.go generateULASubnetFromName). kind hashes with sha1; onyx has
/// used sha256 from the start and keeps it, so networks it made before still match.
pub fn ula_subnet(name: &str, attempt: u32) -> String {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(attempt.to_le_bytes());
    let b = h.finalize();
    format!(
        "fc00:{:02x}{:02x}:{:02x}{:02x}:{:02x}{:02x}::/64",
        b[2], b[3], b[4], b[5], b[6], b[7]
    )
}

/// The engine's create request for the network (pure): kind's `docker network create -d=bridge
/// -o com.docker.network.bridge.enable_ip_masquerade=true [-o com.docker.network.driver.mtu=N]
/// [--ipv6 --subnet S]` (network.go createNetwork), with our label.
pub fn network_request(
    name: &str,
    ipv6_subnet: Option<String>,
    mtu: Option<u32>,
) -> NetworkCreateRequest {
    let mut options = HashMap::from([(
        "com.docker.network.bridge.enable_ip_masquerade".to_string(),
        "true".to_string(),
    )]);
    if let Some(mtu) = mtu.filter(|m| *m > 0) {
        options.insert("com.docker.network.driver.mtu".into(), mtu.to_string());
    }
    NetworkCreateRequest {
        name: name.to_string(),
        driver: Some("bridge".into()),
        enable_ipv6: Some(ipv6_subnet.is_some()),
        ipam: ipv6_subnet.map(|subnet| bollard::models::Ipam {
            config: Some(vec![bollard::models::IpamConfig {
                subnet: Some(subnet),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        options: Some(options),
        // kind doesn't label its network; ours says who made it (kind uses it all the same).
        labels: Some(HashMap::from([(
            "app.kubernetes.io/managed-by".to_string(),
            "onyx".to_string(),
        )])),
        ..Default::default()
    }
}

/// The subnets of an existing network (kind's getSubnets reads the same for NO_PROXY); `None`
/// when it doesn't exist.
pub async fn subnets(docker: &Docker, name: &str) -> Result<Option<Vec<String>>, DockerError> {
    match docker
        .inspect_network(
            name,
            None::<bollard::query_parameters::InspectNetworkOptions>,
        )
        .await
    {
        Ok(n) => Ok(Some(
            n.ipam
                .and_then(|i| i.config)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|c| c.subnet)
                .collect(),
        )),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

async fn network_exists(docker: &Docker, name: &str) -> Result<bool, DockerError> {
    let options = ListNetworksOptionsBuilder::new()
        .filters(&HashMap::from([("name", vec![name])]))
        .build();
    let list = docker.list_networks(Some(options)).await?;
    // The filter matches substrings.
    Ok(list.iter().any(|n| n.name.as_deref() == Some(name)))
}

/// Make the bridge network if missing, without an MTU; see [`ensure_network_mtu`].
pub async fn ensure_network(docker: &Docker, name: &str) -> Result<bool, DockerError> {
    ensure_network_mtu(docker, name, None).await
}

/// Make the bridge network if missing, as kind: IPv6 enabled on a ULA subnet derived from the
/// name (five attempts on overlap), IPv4 only when the engine can't do IPv6, the default
/// bridge's MTU when it has one. Returns whether it was made now.
pub async fn ensure_network_mtu(
    docker: &Docker,
    name: &str,
    mtu: Option<u32>,
) -> Result<bool, DockerError> {
    if network_exists(docker, name).await? {
        return Ok(false);
    }
    let mut last = None;
    for attempt in 0..5 {
        match docker
            .create_network(network_request(name, Some(ula_subnet(name, attempt)), mtu))
            .await
        {
            Ok(_) => return Ok(true),
            Err(e) => {
                let text = e.to_string().to_ascii_lowercase();
                if text.contains("already exists") || network_exists(docker, name).await? {
                    return Ok(false);
                }
                if text.contains("overlap") {
                    last = Some(e);
                    continue;
                }
                // IPv6 unavailable (or refused): IPv4 only, the engine picks the subnet.
                tracing::debug!("IPv6 network refused ({e}); making {name} IPv4 only");
                return match docker
                    .create_network(network_request(name, None, mtu))
                    .await
                {
                    Ok(_) => Ok(true),
                    Err(_) if network_exists(docker, name).await? => Ok(false),
                    Err(e) => Err(e.into()),
                };
            }
        }
    }
    Err(last.map_or_else(
        || DockerError::Io(std::io::Error::other("no free subnet for the kind network")),
        DockerError::Engine,
    ))
}

/// Remove the network if nothing is attached to it (the engine refuses otherwise).
pub(crate) async fn remove_network_if_unused(docker: &Docker, name: &str) {
    if let Ok(n) = docker
        .inspect_network(
            name,
            None::<bollard::query_parameters::InspectNetworkOptions>,
        )
        .await
        && n.containers.as_ref().is_none_or(|c| c.is_empty())
    {
        let _ = docker.remove_network(name).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_network_request_is_kinds_with_the_bridge_mtu() {
        // kind v0.32.0 docker/network.go createNetwork + getDefaultNetworkMTU.
        let r = network_request("kind", Some("fc00:1::/64".into()), Some(1400));
        let o = r.options.as_ref().unwrap();
        assert_eq!(o["com.docker.network.driver.mtu"], "1400");
        assert_eq!(o["com.docker.network.bridge.enable_ip_masquerade"], "true");
        assert_eq!(r.driver.as_deref(), Some("bridge"));
        assert_eq!(r.enable_ipv6, Some(true));
        assert_eq!(
            r.ipam.unwrap().config.unwrap()[0].subnet.as_deref(),
            Some("fc00:1::/64")
        );
        // No MTU on the default bridge (or 0): none set, the engine's default.
        for mtu in [None, Some(0)] {
            let r = network_request("kind", None, mtu);
            assert!(
                !r.options
                    .unwrap()
                    .contains_key("com.docker.network.driver.mtu")
            );
            assert_eq!(r.enable_ipv6, Some(false));
            assert!(r.ipam.is_none());
        }
    }

    #[test]
    fn ula_subnets_are_stable_and_differ_per_attempt() {
        let a = ula_subnet("kind", 0);
        assert_eq!(a, ula_subnet("kind", 0));
        assert_ne!(a, ula_subnet("kind", 1));
        assert!(a.starts_with("fc00:") && a.ends_with("::/64"), "{a}");
        assert!(a.parse::<std::net::Ipv6Addr>().is_err());
        assert!(
            a.trim_end_matches("/64")
                .parse::<std::net::Ipv6Addr>()
                .is_ok()
        );
    }
}
