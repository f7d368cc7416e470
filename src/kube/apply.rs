//! Server-side apply of the rendered stack, layer by layer.
//!
//! 1. [`existing_credentials`]: read the stack's Secrets from the cluster first, so a re-run renders
//!    the same passwords (data volumes keep the passwords they were initialised with); skipped in
//!    a namespace this run created. On onyx's own cluster a copy kept with the data fills in
//!    what the cluster lacks ([`crate::cluster::credentials`]).
//! 2. [`keep_claim_sizes`]: a claim that exists keeps its size. The API server refuses any
//!    spec change to an unbound claim and growing a bound one whose StorageClass lacks
//!    `allowVolumeExpansion` (kind's `standard` has none), and never shrinks one; a StatefulSet's
//!    claim templates can't change at all (see crates/k8s-sim/src/api/immutable.rs for the
//!    rules and their sources). So a size this version renders differently (MinIO's 5Gi → 30Gi)
//!    is for new installs only, and the re-apply carries the size already there.
//! 3. [`apply_all`]: apply every object (field manager `onyx`, force) in layer order; the objects
//!    of one layer go in parallel. Transient API errors (5xx, 429, dropped connections) are
//!    retried with backoff; anything else stops the apply with the object named.

use futures_util::future::join_all;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Secret};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};

use super::{KubeError, Target, retry};
use crate::stack::object::Object;
use crate::stack::render::Rendered;
use crate::stack::secrets::{Credentials, SECRETS};

/// The field manager recorded on everything onyx applies.
pub const FIELD_MANAGER: &str = "onyx";
/// Attempts per object before a transient error counts.
const TRIES: u32 = 8;

/// The stack's credentials as stored in the cluster: every stack Secret that exists keeps its
/// values; any that is missing (first install, or deleted by hand) gets fresh ones.
pub async fn existing_credentials(target: &Target) -> Result<Credentials, KubeError> {
    let mut credentials = Credentials::generate();
    credentials
        .0
        .extend(credentials_in_cluster(target).await?.0);
    Ok(credentials)
}

/// The values of every stack Secret in the cluster that holds every key (a partial one counts
/// as missing: it is replaced whole); only those, nothing generated.
pub async fn credentials_in_cluster(target: &Target) -> Result<Credentials, KubeError> {
    let mut credentials = Credentials(Default::default());
    // A namespace made by this run holds no Secrets: no need to ask.
    if target.created_namespace {
        return Ok(credentials);
    }
    let secrets: Api<Secret> = Api::namespaced(target.client.clone(), &target.namespace);
    let reads = join_all(SECRETS.iter().map(|(name, _)| {
        let secrets = &secrets;
        async move {
            retry(TRIES, || secrets.get_opt(name))
                .await
                .map_err(|e| target.classify(&format!("read Secret {name}"), e))
        }
    }))
    .await;
    let mut found = Vec::new();
    for read in reads {
        found.extend(read?);
    }
    for secret in &found {
        if let Ok(one) = Credentials::from_secrets_partial(secret) {
            credentials.0.extend(one.0);
        }
    }
    Ok(credentials)
}

/// A claim whose size stays as it is in the cluster, not as rendered.
#[derive(Debug, Clone, PartialEq)]
pub struct KeptClaim {
    /// The PersistentVolumeClaim, or `<template> of StatefulSet <name>`.
    pub what: String,
    pub kept: String,
    pub rendered: String,
}

fn storage_of(
    r: Option<&k8s_openapi::api::core::v1::VolumeResourceRequirements>,
) -> Option<&Quantity> {
    r?.requests.as_ref()?.get("storage")
}

fn set_storage(
    r: &mut Option<k8s_openapi::api::core::v1::VolumeResourceRequirements>,
    q: Quantity,
) {
    r.get_or_insert_with(Default::default)
        .requests
        .get_or_insert_with(Default::default)
        .insert("storage".into(), q);
}

/// Give every rendered claim (PersistentVolumeClaims, StatefulSet claim templates) that already
/// exists the size it has in the cluster, so the apply changes no claim spec; returns those whose
/// rendered size differed. Nothing to read in a namespace this run created.
pub async fn keep_claim_sizes(
    target: &Target,
    objects: &mut [Rendered],
) -> Result<Vec<KeptClaim>, KubeError> {
    let mut kept = Vec::new();
    if target.created_namespace {
        return Ok(kept);
    }
    let claims: Api<PersistentVolumeClaim> =
        Api::namespaced(target.client.clone(), &target.namespace);
    let sets: Api<StatefulSet> = Api::namespaced(target.client.clone(), &target.namespace);
    for r in objects.iter_mut() {
        match &mut r.object {
            Object::PersistentVolumeClaim(pvc) => {
                let name = pvc.metadata.name.clone().unwrap_or_default();
                let Some(old) = retry(TRIES, || claims.get_opt(&name)).await.map_err(|e| {
                    target.classify(&format!("read PersistentVolumeClaim {name}"), e)
                })?
                else {
                    continue;
                };
                let old_q = old
                    .spec
                    .as_ref()
                    .and_then(|s| storage_of(s.resources.as_ref()));
                let spec = pvc.spec.get_or_insert_with(Default::default);
                let new_q = storage_of(spec.resources.as_ref());
                if let Some(old_q) = old_q
                    && Some(old_q) != new_q
                {
                    kept.push(KeptClaim {
                        what: format!("PersistentVolumeClaim {name}"),
                        kept: old_q.0.clone(),
                        rendered: new_q.map(|q| q.0.clone()).unwrap_or_default(),
                    });
                    set_storage(&mut spec.resources, old_q.clone());
                }
            }
            Object::StatefulSet(sts) => {
                let name = sts.metadata.name.clone().unwrap_or_default();
                let Some(old) = retry(TRIES, || sets.get_opt(&name))
                    .await
                    .map_err(|e| target.classify(&format!("read StatefulSet {name}"), e))?
                else {
                    continue;
                };
                let old_templates = old
                    .spec
                    .and_then(|s| s.volume_claim_templates)
                    .unwrap_or_default();
                let Some(templates) = sts
                    .spec
                    .as_mut()
                    .and_then(|s| s.volume_claim_templates.as_mut())
                else {
                    continue;
                };
                for t in templates.iter_mut() {
                    let tname = t.metadata.name.clone().unwrap_or_default();
                    let Some(old_q) = old_templates
                        .iter()
                        .find(|o| o.metadata.name.as_deref() == Some(tname.as_str()))
                        .and_then(|o| o.spec.as_ref())
                        .and_then(|s| storage_of(s.resources.as_ref()))
                    else {
                        continue;
                    };
                    let spec = t.spec.get_or_insert_with(Default::default);
                    let new_q = storage_of(spec.resources.as_ref());
                    if Some(old_q) != new_q {
                        kept.push(KeptClaim {
                            what: format!("claim template {tname} of StatefulSet {name}"),
                            kept: old_q.0.clone(),
                            rendered: new_q.map(|q| q.0.clone()).unwrap_or_default(),
                        });
                        set_storage(&mut spec.resources, old_q.clone());
                    }
                }
            }
            _ => {}
        }
    }
    Ok(kept)
}

/// Apply `objects` (already in layer order) into the target's namespace.
pub async fn apply_all(target: &Target, objects: &[Rendered]) -> Result<usize, KubeError> {
    let mut start = 0;
    let mut applied = 0;
    while start < objects.len() {
        let layer = objects[start].layer;
        let end = objects[start..]
            .iter()
            .position(|r| r.layer != layer)
            .map_or(objects.len(), |n| start + n);
        let results = join_all(objects[start..end].iter().map(|r| apply_one(target, r))).await;
        for r in results {
            r?;
            applied += 1;
        }
        start = end;
    }
    Ok(applied)
}

async fn apply_one(target: &Target, r: &Rendered) -> Result<(), KubeError> {
    let mut value = serde_json::to_value(&r.object).map_err(|e| KubeError::Api {
        action: format!("cannot encode {} {}", r.object.kind(), r.object.name()),
        message: e.to_string(),
    })?;
    if let Some(meta) = value.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        meta.insert("namespace".into(), target.namespace.clone().into());
    }
    let (group, version) = match value["apiVersion"].as_str().unwrap_or("v1").split_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (
            String::new(),
            value["apiVersion"].as_str().unwrap_or("v1").to_string(),
        ),
    };
    let gvk = GroupVersionKind::gvk(&group, &version, r.object.kind());
    let resource = ApiResource::from_gvk(&gvk);
    let api: Api<DynamicObject> =
        Api::namespaced_with(target.client.clone(), &target.namespace, &resource);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let name = r.object.name().to_string();
    let patch = Patch::Apply(&value);
    retry(TRIES, || api.patch(&name, &params, &patch))
        .await
        .map_err(|e| target.classify(&format!("apply {} {name}", r.object.kind()), e))?;
    Ok(())
}
