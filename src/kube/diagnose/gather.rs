//! The facts [`super::diagnose`] reads, fetched from the cluster: the service's pods with their
//! container states, the events about them, its claims and the last log lines.
//!
//! Kept apart from the rules so that they stay pure: this is the only part that talks to the API,
//! and every failure to read leaves a fact empty rather than failing the diagnosis.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Event, PersistentVolumeClaim, Pod};
use kube::ResourceExt;
use kube::api::{Api, ListParams, LogParams};

use super::{Facts, LOG_LINES};
use crate::kube::Target;
use crate::stack::profile::ProfileName;
use crate::stack::render::LABEL_NAME;

/// Fetch the facts about one service: pods, events about them and its claims, log tails.
pub async fn gather(
    target: &Target,
    service: &str,
    offline: bool,
    profile: Option<ProfileName>,
) -> Facts {
    let c = &target.client;
    let ns = &target.namespace;
    let pods_api: Api<Pod> = Api::namespaced(c.clone(), ns);
    let selector = format!("{LABEL_NAME}={service}");
    let pods = pods_api
        .list(&ListParams::default().labels(&selector))
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    let claim_names: Vec<String> = pods
        .iter()
        .filter_map(|p| p.spec.as_ref())
        .flat_map(|s| s.volumes.iter().flatten())
        .filter_map(|v| {
            v.persistent_volume_claim
                .as_ref()
                .map(|c| c.claim_name.clone())
        })
        .collect();
    let claims_api: Api<PersistentVolumeClaim> = Api::namespaced(c.clone(), ns);
    let claims = claims_api
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .filter(|pvc| {
            let n = pvc.name_any();
            claim_names.contains(&n)
                || pvc.labels().get(LABEL_NAME).map(String::as_str) == Some(service)
        })
        .collect::<Vec<_>>();
    let mut involved: Vec<String> = pods.iter().map(|p| p.name_any()).collect();
    involved.extend(claims.iter().map(|c| c.name_any()));
    let events_api: Api<Event> = Api::namespaced(c.clone(), ns);
    let mut events: Vec<Event> = events_api
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| {
            let o = &e.involved_object;
            let workload = matches!(
                o.kind.as_deref(),
                Some("StatefulSet" | "ReplicaSet" | "Deployment")
            );
            o.name.as_ref().is_some_and(|n| {
                involved.contains(n)
                    // The controllers' FailedCreate when admission refuses the pods.
                    || (workload && (n == service || n.starts_with(&format!("{service}-"))))
            })
        })
        .collect();
    events.sort_by_key(|e| {
        e.metadata
            .resource_version
            .as_ref()
            .and_then(|v| v.parse::<u64>().ok())
    });

    let mut logs = BTreeMap::new();
    if let Some(pod) = pods.first() {
        let status = pod.status.clone().unwrap_or_default();
        let containers = status
            .init_container_statuses
            .iter()
            .flatten()
            .chain(status.container_statuses.iter().flatten());
        for cs in containers {
            let started = cs.restart_count > 0
                || cs
                    .state
                    .as_ref()
                    .is_some_and(|s| s.running.is_some() || s.terminated.is_some());
            if !started {
                continue;
            }
            let params = LogParams {
                container: Some(cs.name.clone()),
                previous: cs.restart_count > 0,
                tail_lines: Some(LOG_LINES as i64),
                ..Default::default()
            };
            if let Ok(text) = pods_api.logs(&pod.name_any(), &params).await {
                logs.insert(cs.name.clone(), text.lines().map(str::to_string).collect());
            }
        }
    }
    Facts {
        service: service.to_string(),
        pods,
        events,
        claims,
        logs,
        offline,
        profile,
    }
}
