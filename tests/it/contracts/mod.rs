//! Contracts with the real images: each fact the manifests rely on, read from the source of the
//! project that defines it at the version we pin, is one test here, asserted over the rendered
//! objects of **every** profile (with and without a namespace). The comment on each test names the
//! upstream file and tag, so a change that breaks a fact fails here with its reason.
//!
//! Sources: Onyx `onyx-dot-app/onyx` at v2.3.0; Vespa `vespa-engine/vespa` at v8.526.15;
//! `vespa-engine/docker-image` (its `include/start-container.sh`, HEAD 20c4e7b: the repository has
//! no tag for 8.526.15); the official `postgres`, `redis`, `nginx` and `minio/minio` images.
//!
//! One file per component (`vespa`, `api_server`, `model_server`, `web_server`, `data_services`
//! with the gateway), `sizes` for upstream's figures, and `with_the_simulator`, where the simulator
//! holds an applied stack to the same rules. This file renders the stacks and holds the helpers
//! they are read with.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, EnvVar, PodSpec};
use onyx::stack::catalog::NGINX_CONF;
use onyx::stack::profile::{self, ProfileName};
use onyx::stack::render::{self, Object, RenderOptions, Rendered};
use onyx::stack::secrets::Credentials;
use onyx::stack::summary::parse_quantity;

mod api_server;
mod app_config;
mod connections;
mod data_services;
mod model_server;
mod pod_security;
mod service_links;
mod sizes;
mod vespa;
mod web_server;
mod with_the_simulator;

const PROFILES: [ProfileName; 4] = [
    ProfileName::Small,
    ProfileName::Medium,
    ProfileName::Large,
    ProfileName::Cluster,
];

const GIB_MIB: u64 = 1024;

/// One rendered stack: which profile and namespace it was rendered for, and its objects.
struct Stack {
    label: String,
    profile: ProfileName,
    /// Rendered as an offline install (HF_HUB_OFFLINE on the Onyx containers).
    hub_offline: bool,
    objects: Vec<Rendered>,
}

/// Every profile, without a namespace (as an online install) and with one (offline).
fn every_stack() -> Vec<Stack> {
    let creds = Credentials::generate();
    let mut out = Vec::new();
    for p in PROFILES {
        for ns in [None, Some("team-a")] {
            let hub_offline = ns.is_some();
            out.push(Stack {
                label: format!("{p} (namespace {ns:?}, offline {hub_offline})"),
                profile: p,
                hub_offline,
                objects: render::render(&RenderOptions {
                    profile: profile::profile(p),
                    namespace: ns,
                    web_url: "https://onyx.example.com".into(),
                    credentials: Some(&creds),
                    gateway_node_port: None,
                    indexing: onyx::stack::indexing::Indexing::default_for(p),
                    app: onyx::stack::render::AppOptions {
                        telemetry: false,
                        hub_offline,
                    },
                }),
            });
        }
    }
    out
}

impl Stack {
    fn workload(&self, service: &str) -> &Rendered {
        self.objects
            .iter()
            .find(|r| r.service == Some(service) && r.object.pod_template().is_some())
            .unwrap_or_else(|| panic!("{}: no workload {service}", self.label))
    }

    fn pod(&self, service: &str) -> &PodSpec {
        self.workload(service)
            .object
            .pod_template()
            .and_then(|t| t.spec.as_ref())
            .expect("pod spec")
    }

    fn main(&self, service: &str) -> &Container {
        self.pod(service)
            .containers
            .iter()
            .find(|c| c.name == service)
            .unwrap_or_else(|| panic!("{}: no container {service}", self.label))
    }

    fn init(&self, service: &str, name: &str) -> &Container {
        self.pod(service)
            .init_containers
            .iter()
            .flatten()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("{}: {service} has no init container {name}", self.label))
    }

    fn pods(&self) -> impl Iterator<Item = (&str, &PodSpec)> {
        self.objects.iter().filter_map(|r| {
            Some((
                r.service?,
                r.object.pod_template().and_then(|t| t.spec.as_ref())?,
            ))
        })
    }

    fn config(&self, key: &str) -> String {
        self.objects
            .iter()
            .find_map(|r| match &r.object {
                Object::ConfigMap(cm) if cm.metadata.name.as_deref() == Some("onyx-config") => {
                    cm.data.as_ref()?.get(key).cloned()
                }
                _ => None,
            })
            .unwrap_or_else(|| panic!("onyx-config has no {key}"))
    }
}

fn env<'a>(c: &'a Container, name: &str) -> Option<&'a EnvVar> {
    c.env.iter().flatten().find(|e| e.name == name)
}

fn env_value(c: &Container, name: &str) -> Option<String> {
    env(c, name).and_then(|e| e.value.clone())
}

fn command(c: &Container) -> String {
    c.command
        .iter()
        .flatten()
        .chain(c.args.iter().flatten())
        .cloned()
        .collect::<Vec<_>>()
        .join(" ")
}

fn memory_limit_mib(c: &Container) -> u64 {
    let q = &c.resources.as_ref().unwrap().limits.as_ref().unwrap()["memory"];
    parse_quantity(&q.0).expect("a memory quantity").0
}

fn memory_request_mib(c: &Container) -> u64 {
    let q = &c.resources.as_ref().unwrap().requests.as_ref().unwrap()["memory"];
    parse_quantity(&q.0).expect("a memory quantity").0
}

fn mount<'a>(c: &'a Container, path: &str) -> Option<&'a str> {
    c.volume_mounts
        .iter()
        .flatten()
        .find(|m| m.mount_path == path)
        .map(|m| m.name.as_str())
}

fn is_empty_dir(spec: &PodSpec, volume: &str) -> bool {
    spec.volumes
        .iter()
        .flatten()
        .any(|v| v.name == volume && v.empty_dir.is_some())
}

/// The -Xmx of a JVM argument string, in MiB (`-Xmx128M`, `-Xmx2g`).
fn xmx_mib(args: &str) -> Option<u64> {
    let v = args
        .split_whitespace()
        .find_map(|a| a.strip_prefix("-Xmx"))?;
    let (n, unit) = v.split_at(v.len() - 1);
    let n: u64 = n.parse().ok()?;
    match unit {
        "m" | "M" => Some(n),
        "g" | "G" => Some(n * 1024),
        _ => None,
    }
}
