//! The stack catalog: the eight services (the seven of Onyx's own deployment plus MinIO), their
//! ports, the order they start in, and the embedded manifests and pinned images that deploy them.
//!
//! The embedded files under `embedded/` are the single source of truth for what is deployed; this
//! module only names them and says which service each belongs to.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// Start order. Objects of one layer don't depend on each other; each layer needs the ones before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layer {
    /// ConfigMaps, Secrets, NetworkPolicies.
    Config,
    /// PostgreSQL, Redis, MinIO, Vespa.
    Data,
    /// The inference model server.
    Model,
    /// The API server.
    Api,
    /// The background workers (Celery), after the API has migrated the database.
    Workers,
    /// The web server.
    Web,
    /// The nginx gateway.
    Gateway,
}

/// The kind of workload that runs a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Workload {
    Deployment,
    StatefulSet,
}

/// One service of the stack.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Service {
    /// Workload, Service and container name; also the `app.kubernetes.io/name` label.
    pub name: &'static str,
    /// The `app.kubernetes.io/component` label.
    pub component: &'static str,
    pub layer: Layer,
    pub workload: Workload,
    /// The port other services reach it on (its Service's first port).
    pub port: u16,
    /// How other pods reach it.
    pub address: &'static str,
    /// Services that must answer before this one can start.
    pub depends_on: &'static [&'static str],
    /// Stateless tiers get more replicas in the `cluster` profile.
    pub stateless: bool,
}

pub const SERVICES: &[Service] = &[
    Service {
        name: "postgresql",
        component: "database",
        layer: Layer::Data,
        workload: Workload::Deployment,
        port: 5432,
        address: "postgresql:5432",
        depends_on: &[],
        stateless: false,
    },
    Service {
        name: "redis",
        component: "cache",
        layer: Layer::Data,
        workload: Workload::Deployment,
        port: 6379,
        address: "redis:6379",
        depends_on: &[],
        stateless: false,
    },
    Service {
        name: "minio",
        component: "file-store",
        layer: Layer::Data,
        workload: Workload::Deployment,
        port: 9000,
        address: "minio:9000",
        depends_on: &[],
        stateless: false,
    },
    Service {
        name: "vespa",
        component: "search-index",
        layer: Layer::Data,
        workload: Workload::StatefulSet,
        port: 19071,
        address: "vespa-0.vespa-service:19071",
        depends_on: &[],
        stateless: false,
    },
    Service {
        name: "inference-model-server",
        component: "model-server",
        layer: Layer::Model,
        workload: Workload::Deployment,
        port: 9000,
        address: "inference-model-server:9000",
        depends_on: &[],
        stateless: true,
    },
    Service {
        name: "api-server",
        component: "api",
        layer: Layer::Api,
        workload: Workload::Deployment,
        port: 8080,
        address: "api-server:8080",
        depends_on: &[
            "postgresql",
            "redis",
            "minio",
            "vespa",
            "inference-model-server",
        ],
        stateless: true,
    },
    Service {
        name: "web-server",
        component: "web",
        layer: Layer::Web,
        workload: Workload::Deployment,
        port: 3000,
        address: "web-server:3000",
        depends_on: &["api-server"],
        stateless: true,
    },
    Service {
        name: "nginx",
        component: "gateway",
        layer: Layer::Gateway,
        workload: Workload::Deployment,
        port: 80,
        address: "nginx:80",
        depends_on: &["api-server", "web-server"],
        stateless: true,
    },
];

/// The services that index (issue #12): deployed only when indexing is on; see
/// [`crate::stack::indexing`] for which of them each profile runs, and why.
pub const INDEXING_SERVICES: &[Service] = crate::stack::indexing::SERVICES;

/// Every service onyx can deploy: the core stack, then the indexing services.
pub fn all_services() -> impl Iterator<Item = &'static Service> {
    SERVICES.iter().chain(INDEXING_SERVICES)
}

/// Look a service up by name.
pub fn service(name: &str) -> Option<&'static Service> {
    all_services().find(|s| s.name == name)
}

/// One embedded manifest file and the service whose objects it holds (`None`: shared config).
pub struct Manifest {
    pub file: &'static str,
    pub service: Option<&'static str>,
    pub yaml: &'static str,
}

macro_rules! manifest {
    ($file:literal, $service:expr) => {
        Manifest {
            file: $file,
            service: $service,
            yaml: include_str!(concat!("../../embedded/manifests/", $file)),
        }
    };
}

pub const MANIFESTS: &[Manifest] = &[
    manifest!("00-config.yaml", None),
    manifest!("01-network-policies.yaml", None),
    manifest!("10-postgresql.yaml", Some("postgresql")),
    manifest!("11-redis.yaml", Some("redis")),
    manifest!("12-minio.yaml", Some("minio")),
    manifest!("13-vespa.yaml", Some("vespa")),
    manifest!(
        "20-inference-model-server.yaml",
        Some("inference-model-server")
    ),
    manifest!("30-api-server.yaml", Some("api-server")),
    manifest!("02-indexing.yaml", None),
    manifest!(
        "21-indexing-model-server.yaml",
        Some("indexing-model-server")
    ),
    manifest!("35-background.yaml", Some("background")),
    manifest!("40-web-server.yaml", Some("web-server")),
    manifest!("50-nginx.yaml", Some("nginx")),
];

/// The gateway's nginx.conf, mounted from the `onyx-nginx` ConfigMap.
pub const NGINX_CONF: &str = include_str!("../../embedded/nginx.conf");

const IMAGES_TOML: &str = include_str!("../../embedded/images.toml");

/// A pinned image.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Image {
    /// The service that runs it (`kind-node` for the local cluster's node image).
    pub service: String,
    /// The reference exactly as the manifests use it.
    pub reference: String,
}

/// The name under which the node image is listed.
pub const NODE_IMAGE_SERVICE: &str = "kind-node";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImageList {
    image: Vec<Image>,
}

/// Every pinned image: the stack's, then the kind node image.
pub fn images() -> &'static [Image] {
    static IMAGES: OnceLock<Vec<Image>> = OnceLock::new();
    IMAGES.get_or_init(|| {
        toml::from_str::<ImageList>(IMAGES_TOML)
            .expect("embedded/images.toml is checked by the unit tests")
            .image
    })
}

/// The images the stack's pods run (without the node image).
pub fn stack_images() -> impl Iterator<Item = &'static Image> {
    images().iter().filter(|i| i.service != NODE_IMAGE_SERVICE)
}

/// The kind-compatible node image for a local cluster.
pub fn node_image() -> &'static Image {
    images()
        .iter()
        .find(|i| i.service == NODE_IMAGE_SERVICE)
        .expect("embedded/images.toml lists the node image")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_has_one_image_and_one_manifest() {
        for s in SERVICES {
            assert_eq!(
                stack_images().filter(|i| i.service == s.name).count(),
                1,
                "{}",
                s.name
            );
            assert_eq!(
                MANIFESTS
                    .iter()
                    .filter(|m| m.service == Some(s.name))
                    .count(),
                1,
                "{}",
                s.name
            );
        }
        assert_eq!(stack_images().count(), SERVICES.len());
    }

    #[test]
    fn node_image_is_pinned_by_digest() {
        let node = node_image();
        assert!(node.reference.starts_with("kindest/node:v1.36.1@sha256:"));
        assert_eq!(node.reference.split("@sha256:").nth(1).unwrap().len(), 64);
    }

    #[test]
    fn onyx_images_share_one_pinned_tag() {
        let onyx: Vec<_> = stack_images()
            .filter(|i| i.reference.starts_with("onyxdotapp/"))
            .collect();
        assert_eq!(onyx.len(), 3);
        for i in onyx {
            assert!(
                i.reference
                    .ends_with(&format!(":{}", super::super::ONYX_VERSION)),
                "{}",
                i.reference
            );
        }
    }

    #[test]
    fn dependencies_start_in_earlier_layers() {
        for s in SERVICES {
            for dep in s.depends_on {
                let d = service(dep).unwrap_or_else(|| panic!("unknown dependency {dep}"));
                assert!(
                    d.layer < s.layer,
                    "{} depends on {dep} in a later layer",
                    s.name
                );
            }
        }
    }
}
