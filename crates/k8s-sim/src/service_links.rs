//! The kubelet's service links: the Docker-style variables a container is started with for the
//! Services of its namespace, so that an image rule ([`crate::images`]) sees the environment the
//! real process would — a manifest that forgets `enableServiceLinks: false` then fails against
//! the simulator the way it fails on a real node.
//!
//! The rule, as the kubelet applies it (kubernetes `pkg/kubelet/kubelet_pods.go`
//! getServiceEnvVarMap and makeEnvironmentVariables; `pkg/kubelet/envvars/envvars.go`
//! FromServices and makeLinkVariables; read in the stored copies, the v1.36 tag was not readable
//! here and the rule has been the same since service links became optional):
//! - only Services with a cluster IP set (a headless `None` gives nothing);
//! - the master Service `kubernetes` of `default` always, the pod's own namespace's Services only
//!   unless `enableServiceLinks: false`;
//! - per Service `<N>_SERVICE_HOST`, `<N>_SERVICE_PORT`, `<N>_SERVICE_PORT_<PORTNAME>` (named
//!   ports), `<N>_PORT=<proto>://<ip>:<port>` (first port), `<N>_PORT_<p>_<PROTO>` and its
//!   `_PROTO`, `_PORT`, `_ADDR`; `<N>` is the name upper-cased, `-` → `_`;
//! - a variable the container defines itself (`env`, or a key of an `envFrom` ConfigMap/Secret)
//!   is not overridden.

use serde_json::Value;

use crate::store::{Store, meta_str, res};

/// envvars.go makeEnvVariableName.
fn env_name(s: &str) -> String {
    s.to_uppercase().replace('-', "_")
}

/// envvars.go FromServices for one Service object.
pub fn variables(service: &Value) -> Vec<(String, String)> {
    let spec = &service["spec"];
    let ip = spec["clusterIP"].as_str().unwrap_or("");
    if ip.is_empty() || ip == "None" {
        return Vec::new();
    }
    let ports: Vec<&Value> = spec["ports"].as_array().into_iter().flatten().collect();
    let Some(first) = ports.first() else {
        return Vec::new();
    };
    let n = env_name(meta_str(service, "name"));
    let mut out = vec![
        (format!("{n}_SERVICE_HOST"), ip.to_string()),
        (
            format!("{n}_SERVICE_PORT"),
            first["port"].as_i64().unwrap_or(0).to_string(),
        ),
    ];
    for p in &ports {
        if let Some(name) = p["name"].as_str().filter(|s| !s.is_empty()) {
            out.push((
                format!("{n}_SERVICE_PORT_{}", env_name(name)),
                p["port"].as_i64().unwrap_or(0).to_string(),
            ));
        }
    }
    for (i, p) in ports.iter().enumerate() {
        let port = p["port"].as_i64().unwrap_or(0);
        let proto = p["protocol"].as_str().unwrap_or("TCP");
        let url = format!("{}://{ip}:{port}", proto.to_lowercase());
        if i == 0 {
            out.push((format!("{n}_PORT"), url.clone()));
        }
        let prefix = format!("{n}_PORT_{port}_{}", proto.to_uppercase());
        out.push((prefix.clone(), url));
        out.push((format!("{prefix}_PROTO"), proto.to_lowercase()));
        out.push((format!("{prefix}_PORT"), port.to_string()));
        out.push((format!("{prefix}_ADDR"), ip.to_string()));
    }
    out
}

/// The service-link variables one container of `pod` gets, less those it defines itself.
pub fn for_container(store: &Store, pod: &Value, container: &Value) -> Vec<(String, String)> {
    let ns = meta_str(pod, "namespace");
    let services = res("", "services");
    let mut vars = Vec::new();
    if let Some(master) = store.get(services, "default", "kubernetes") {
        vars.extend(variables(master));
    }
    if pod["spec"]["enableServiceLinks"].as_bool() != Some(false) {
        for s in store.list(services, Some(ns)) {
            if ns == "default" && meta_str(&s, "name") == "kubernetes" {
                continue;
            }
            vars.extend(variables(&s));
        }
    }
    let own = own_names(store, ns, container);
    vars.retain(|(n, _)| !own.contains(n));
    vars
}

/// The names a container defines: `env`, and every key of the ConfigMaps/Secrets of `envFrom`.
fn own_names(store: &Store, ns: &str, container: &Value) -> Vec<String> {
    let mut names: Vec<String> = container["env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["name"].as_str().map(str::to_string))
        .collect();
    for from in container["envFrom"].as_array().into_iter().flatten() {
        let prefix = from["prefix"].as_str().unwrap_or("");
        for (key, plural) in [("configMapRef", "configmaps"), ("secretRef", "secrets")] {
            if let Some(name) = from[key]["name"].as_str()
                && let Some(obj) = store.get(res("", plural), ns, name)
            {
                for field in ["data", "stringData", "binaryData"] {
                    if let Some(m) = obj[field].as_object() {
                        names.extend(m.keys().map(|k| format!("{prefix}{k}")));
                    }
                }
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_service_gives_the_docker_link_variables_and_a_headless_one_none() {
        let svc = json!({"metadata": {"name": "indexing-model-server"},
            "spec": {"clusterIP": "10.96.0.7",
                     "ports": [{"name": "http", "port": 9000, "protocol": "TCP"}]}});
        let v = variables(&svc);
        let get = |n: &str| v.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        assert_eq!(
            get("INDEXING_MODEL_SERVER_PORT"),
            Some("tcp://10.96.0.7:9000")
        );
        assert_eq!(get("INDEXING_MODEL_SERVER_SERVICE_HOST"), Some("10.96.0.7"));
        assert_eq!(get("INDEXING_MODEL_SERVER_SERVICE_PORT_HTTP"), Some("9000"));
        assert_eq!(
            get("INDEXING_MODEL_SERVER_PORT_9000_TCP_ADDR"),
            Some("10.96.0.7")
        );
        let headless = json!({"metadata": {"name": "vespa-service"},
            "spec": {"clusterIP": "None", "ports": [{"port": 19071}]}});
        assert!(variables(&headless).is_empty());
    }
}
