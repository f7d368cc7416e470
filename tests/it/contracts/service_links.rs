//! Service links (issue #20 item 3): the kubelet gives every container Docker-style variables for
//! the Services of its namespace unless the pod sets `enableServiceLinks: false`, and a variable
//! it injects that Onyx reads changes what Onyx does — `indexing-model-server` gives
//! `INDEXING_MODEL_SERVER_PORT=tcp://<ip>:9000`, which Onyx v2.3.0
//! `backend/shared_configs/configs.py` int()s at import (ValueError).
//!
//! The rule, as the kubelet applies it (kubernetes `pkg/kubelet/envvars/envvars.go` FromServices
//! and makeLinkVariables; `pkg/kubelet/kubelet_pods.go` getServiceEnvVarMap and
//! makeEnvironmentVariables — read at commit 3085dc6 and in the v1.33 kubelet_pods.go; the
//! v1.36 tag the node image carries was not readable here, the rule has not changed since):
//! - only Services with a cluster IP (a headless Service, `clusterIP: None`, gives nothing);
//! - the master Service `kubernetes` of `default` always, even with service links off;
//! - per Service `<N>_SERVICE_HOST`, `<N>_SERVICE_PORT`, `<N>_SERVICE_PORT_<PORTNAME>` per named
//!   port, `<N>_PORT` (first port), `<N>_PORT_<p>_<PROTO>` and its `_PROTO`, `_PORT`, `_ADDR`,
//!   `<N>` being the name upper-cased with `-` → `_`;
//! - a name the container sets itself (`env`, `envFrom`) wins over a service link.
//!
//! The names Onyx reads are a cited fixture (`tests/it/fixtures/onyx-v2.3.0-env-names.txt`).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Container, PodSpec};
use onyx::stack::render::Object;

use super::{Stack, every_stack};

/// Every name Onyx v2.3.0's backend reads from its environment.
fn onyx_env_names() -> BTreeSet<String> {
    include_str!("../fixtures/onyx-v2.3.0-env-names.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.trim().to_string())
        .collect()
}

/// envvars.go makeEnvVariableName.
fn env_name(service: &str) -> String {
    service.to_uppercase().replace('-', "_")
}

/// envvars.go FromServices for one Service: (name, port name, port, protocol) of each port.
fn link_variables(service: &str, ports: &[(Option<String>, i32, String)]) -> Vec<String> {
    let n = env_name(service);
    let mut out = vec![format!("{n}_SERVICE_HOST"), format!("{n}_SERVICE_PORT")];
    for (name, _, _) in ports {
        if let Some(name) = name {
            out.push(format!("{n}_SERVICE_PORT_{}", env_name(name)));
        }
    }
    for (i, (_, port, proto)) in ports.iter().enumerate() {
        if i == 0 {
            out.push(format!("{n}_PORT"));
        }
        let prefix = format!("{n}_PORT_{port}_{}", proto.to_uppercase());
        for suffix in ["", "_PROTO", "_PORT", "_ADDR"] {
            out.push(format!("{prefix}{suffix}"));
        }
    }
    out
}

/// The variables the stack's own Services (those with a cluster IP) give a pod with links on.
fn stack_link_variables(stack: &Stack) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for r in &stack.objects {
        let Object::Service(svc) = &r.object else {
            continue;
        };
        let spec = svc.spec.as_ref().expect("a Service has a spec");
        if spec.cluster_ip.as_deref() == Some("None") {
            continue;
        }
        let ports: Vec<_> = spec
            .ports
            .iter()
            .flatten()
            .map(|p| {
                (
                    p.name.clone(),
                    p.port,
                    p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                )
            })
            .collect();
        let name = svc.metadata.name.clone().unwrap_or_default();
        for v in link_variables(&name, &ports) {
            out.insert(v, name.clone());
        }
    }
    out
}

/// The master Service's variables (`kubernetes`, port `https` 443), given to every pod.
fn master_variables() -> Vec<String> {
    link_variables("kubernetes", &[(Some("https".into()), 443, "TCP".into())])
}

/// The names a container sets itself: its `env` and the keys of the ConfigMaps it takes whole.
fn own_names(stack: &Stack, c: &Container) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = c.env.iter().flatten().map(|e| e.name.clone()).collect();
    for from in c.env_from.iter().flatten() {
        if let Some(cm) = &from.config_map_ref {
            let data = stack.objects.iter().find_map(|r| match &r.object {
                Object::ConfigMap(m) if m.metadata.name.as_deref() == Some(cm.name.as_str()) => {
                    m.data.clone()
                }
                _ => None,
            });
            let prefix = from.prefix.clone().unwrap_or_default();
            names.extend(
                data.into_iter()
                    .flatten()
                    .map(|(k, _)| format!("{prefix}{k}")),
            );
        }
    }
    names
}

/// (pod, container, variable, from which Service) for every service-link variable Onyx reads.
fn onyx_reads_a_link(stack: &Stack, links_of: impl Fn(&PodSpec) -> bool) -> Vec<String> {
    let onyx = onyx_env_names();
    let stack_links = stack_link_variables(stack);
    let mut found = Vec::new();
    for (service, pod) in stack.pods() {
        let mut injected: BTreeMap<String, String> = master_variables()
            .into_iter()
            .map(|v| (v, "kubernetes".to_string()))
            .collect();
        if links_of(pod) {
            injected.extend(stack_links.clone());
        }
        for c in pod
            .init_containers
            .iter()
            .flatten()
            .chain(pod.containers.iter())
        {
            let own = own_names(stack, c);
            for (var, from) in &injected {
                if !own.contains(var) && onyx.contains(var) {
                    found.push(format!("{service}/{}: {var} (Service {from})", c.name));
                }
            }
        }
    }
    found
}

/// Every pod template of every profile turns service links off.
#[test]
fn every_pod_of_every_profile_turns_service_links_off() {
    for stack in every_stack() {
        for (service, pod) in stack.pods() {
            assert_eq!(
                pod.enable_service_links,
                Some(false),
                "{}: {service} would get service links",
                stack.label
            );
        }
    }
}

/// No container of the stack, in any profile, gets from service links a variable Onyx reads.
#[test]
fn no_container_gets_a_service_link_variable_onyx_reads() {
    for stack in every_stack() {
        let found = onyx_reads_a_link(&stack, |p| p.enable_service_links != Some(false));
        assert!(
            found.is_empty(),
            "{}: service links give Onyx's variables: {found:#?}",
            stack.label
        );
    }
}

/// The check above can fail: with the kubelet's default (links on) the large profile's inference
/// model server gets INDEXING_MODEL_SERVER_PORT=tcp://... from the Service
/// `indexing-model-server`, the crash the issue reproduced; a container that takes onyx-config
/// keeps its REDIS_PORT over the `redis` Service's link.
#[test]
fn with_links_on_the_large_model_server_would_get_the_indexing_model_server_port() {
    let stack = every_stack()
        .into_iter()
        .find(|s| s.profile == onyx::stack::profile::ProfileName::Large)
        .expect("large is rendered");
    let found = onyx_reads_a_link(&stack, |_| true);
    assert!(
        found.contains(
            &"inference-model-server/inference-model-server: INDEXING_MODEL_SERVER_PORT \
             (Service indexing-model-server)"
                .to_string()
        ),
        "{found:#?}"
    );
    assert!(
        !found
            .iter()
            .any(|f| f.starts_with("api-server/api-server: REDIS_PORT ")),
        "envFrom's REDIS_PORT wins over the link: {found:#?}"
    );
    assert!(
        found.contains(
            &"inference-model-server/inference-model-server: REDIS_PORT (Service redis)"
                .to_string()
        ),
        "{found:#?}"
    );
    assert!(onyx_env_names().contains("INDEXING_MODEL_SERVER_PORT"));
    assert!(
        link_variables("redis", &[(Some("redis".into()), 6379, "TCP".into())])
            .contains(&"REDIS_PORT".to_string())
    );
}
