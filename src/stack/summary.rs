//! What a rendered stack asks of the machine, per service and in total, read back from the
//! rendered objects themselves (so `onyx plan` shows what would really be applied).

use serde::Serialize;

use crate::stack::catalog;
use crate::stack::render::{Object, Rendered};

/// One service's footprint. CPU in millicores, memory in MiB, per replica.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceSummary {
    pub service: String,
    pub kind: String,
    pub replicas: i32,
    pub cpu_request_m: u64,
    pub cpu_limit_m: u64,
    pub memory_request_mib: u64,
    pub memory_limit_mib: u64,
    /// Persistent storage, e.g. `10Gi` (claims of all replicas summed in `storage_gib`).
    pub storage: Vec<String>,
    pub storage_gib: u64,
}

/// The whole stack: requests and limits summed over all replicas.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Totals {
    pub cpu_request_m: u64,
    pub cpu_limit_m: u64,
    pub memory_request_mib: u64,
    pub memory_limit_mib: u64,
    pub storage_gib: u64,
}

/// Parse the quantity forms the stack uses: `250m`, `2`, `512Mi`, `2Gi`. Unknown → None.
pub fn parse_quantity(q: &str) -> Option<(u64, &'static str)> {
    let num = |s: &str| s.parse::<u64>().ok();
    if let Some(n) = q.strip_suffix('m') {
        Some((num(n)?, "m"))
    } else if let Some(n) = q.strip_suffix("Mi") {
        Some((num(n)?, "Mi"))
    } else if let Some(n) = q.strip_suffix("Gi") {
        Some((num(n)? * 1024, "Mi"))
    } else {
        Some((num(q)? * 1000, "m"))
    }
}

fn get(
    map: &Option<
        std::collections::BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
    >,
    key: &str,
) -> u64 {
    map.as_ref()
        .and_then(|m| m.get(key))
        .and_then(|q| parse_quantity(&q.0))
        .map(|(n, _)| n)
        .unwrap_or(0)
}

fn gib_of(q: &str) -> u64 {
    parse_quantity(q).map(|(mib, _)| mib / 1024).unwrap_or(0)
}

/// Summarise the rendered objects, services in catalog order.
pub fn summarize(objects: &[Rendered]) -> (Vec<ServiceSummary>, Totals) {
    let mut rows = Vec::new();
    for s in catalog::all_services() {
        let Some(workload) = objects
            .iter()
            .find(|r| r.service == Some(s.name) && r.object.pod_template().is_some())
        else {
            continue;
        };
        let replicas = workload.object.replicas().unwrap_or(1);
        let spec = workload
            .object
            .pod_template()
            .and_then(|t| t.spec.as_ref())
            .expect("workload has a pod spec");
        // A pod's effective request: the larger of its containers' sum and its biggest init.
        let sum = |key: &str, limits: bool| -> u64 {
            let of = |c: &k8s_openapi::api::core::v1::Container| {
                let r = c.resources.as_ref();
                if limits {
                    get(&r.and_then(|r| r.limits.clone()), key)
                } else {
                    get(&r.and_then(|r| r.requests.clone()), key)
                }
            };
            let main: u64 = spec.containers.iter().map(of).sum();
            let init = spec
                .init_containers
                .iter()
                .flatten()
                .map(of)
                .max()
                .unwrap_or(0);
            main.max(init)
        };
        let mut storage = Vec::new();
        let mut storage_gib = 0;
        for r in objects.iter().filter(|r| r.service == Some(s.name)) {
            if let Object::PersistentVolumeClaim(pvc) = &r.object
                && let Some(q) = pvc
                    .spec
                    .as_ref()
                    .and_then(|s| s.resources.as_ref())
                    .and_then(|r| r.requests.as_ref())
                    .and_then(|r| r.get("storage"))
            {
                storage.push(q.0.clone());
                storage_gib += gib_of(&q.0);
            }
        }
        if let Object::StatefulSet(sts) = &workload.object {
            for claim in sts
                .spec
                .as_ref()
                .and_then(|s| s.volume_claim_templates.as_ref())
                .into_iter()
                .flatten()
            {
                if let Some(q) = claim
                    .spec
                    .as_ref()
                    .and_then(|s| s.resources.as_ref())
                    .and_then(|r| r.requests.as_ref())
                    .and_then(|r| r.get("storage"))
                {
                    storage.push(q.0.clone());
                    storage_gib += gib_of(&q.0) * replicas as u64;
                }
            }
        }
        rows.push(ServiceSummary {
            service: s.name.to_string(),
            kind: workload.object.kind().to_string(),
            replicas,
            cpu_request_m: sum("cpu", false),
            cpu_limit_m: sum("cpu", true),
            memory_request_mib: sum("memory", false),
            memory_limit_mib: sum("memory", true),
            storage,
            storage_gib,
        });
    }
    let total = |f: fn(&ServiceSummary) -> u64| -> u64 {
        rows.iter().map(|r| f(r) * r.replicas as u64).sum()
    };
    let totals = Totals {
        cpu_request_m: total(|r| r.cpu_request_m),
        cpu_limit_m: total(|r| r.cpu_limit_m),
        memory_request_mib: total(|r| r.memory_request_mib),
        memory_limit_mib: total(|r| r.memory_limit_mib),
        storage_gib: rows.iter().map(|r| r.storage_gib).sum(),
    };
    (rows, totals)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity("250m"), Some((250, "m")));
        assert_eq!(parse_quantity("2"), Some((2000, "m")));
        assert_eq!(parse_quantity("512Mi"), Some((512, "Mi")));
        assert_eq!(parse_quantity("2Gi"), Some((2048, "Mi")));
        assert_eq!(parse_quantity("lots"), None);
    }
}
