//! The Docker network `kind` the node joins, made as kind makes it.

use std::collections::HashMap;

use bollard::Docker;
use bollard::models::NetworkCreateRequest;
use bollard::query_parameters::ListNetworksOptionsBuilder;
use sha2::{Digest, Sha256};

use crate::docker::DockerError;

/// kind's IPv6 ULA subnet for a network name (kind hashes with sha1; any stable hash does).
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

async fn network_exists(docker: &Docker, name: &str) -> Result<bool, DockerError> {
    let options = ListNetworksOptionsBuilder::new()
        .filters(&HashMap::from([("name", vec![name])]))
        .build();
    let list = docker.list_networks(Some(options)).await?;
    // The filter matches substrings.
    Ok(list.iter().any(|n| n.name.as_deref() == Some(name)))
}

/// Make the bridge network if missing, as kind: IPv6 enabled on a ULA subnet derived from the
/// name, IPv4 only when the engine can't do IPv6. Returns whether it was made now.
pub async fn ensure_network(docker: &Docker, name: &str) -> Result<bool, DockerError> {
    if network_exists(docker, name).await? {
        return Ok(false);
    }
    let request = |ipv6: Option<String>| NetworkCreateRequest {
        name: name.to_string(),
        driver: Some("bridge".into()),
        enable_ipv6: Some(ipv6.is_some()),
        ipam: ipv6.map(|subnet| bollard::models::Ipam {
            config: Some(vec![bollard::models::IpamConfig {
                subnet: Some(subnet),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        options: Some(HashMap::from([(
            "com.docker.network.bridge.enable_ip_masquerade".to_string(),
            "true".to_string(),
        )])),
        // kind doesn't label its network; ours says who made it (kind uses it all the same).
        labels: Some(HashMap::from([(
            "app.kubernetes.io/managed-by".to_string(),
            "onyx".to_string(),
        )])),
        ..Default::default()
    };
    let mut last = None;
    for attempt in 0..5 {
        match docker
            .create_network(request(Some(ula_subnet(name, attempt))))
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
                return match docker.create_network(request(None)).await {
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
