//! What an update may not change on an existing object, as the real API server refuses it — so a
//! client that re-applies a changed claim size or claim template fails here the way it would on a
//! cluster (review #20 finding 1: a grown MinIO claim broke the first `up` after an upgrade).
//!
//! The rules, read from kubernetes/kubernetes (the revisions the stored index holds):
//! - PersistentVolumeClaim, `pkg/apis/core/validation/validation.go` (commit 000f2605)
//!   `ValidatePersistentVolumeClaimUpdate`: the spec may not change, except that `volumeName` may
//!   be set once (the binder) and, on a claim whose phase is Bound, `resources.requests.storage`.
//!   Else 422 `spec: Forbidden: spec is immutable after creation except resources.requests and
//!   volumeAttributesClassName for bound claims` (the real message appends a diff of the specs;
//!   left out here). A request below the old one: 422 `spec.resources.requests.storage: Forbidden:
//!   field can not be less than previous value` (without the RecoverVolumeExpansionFailure gate,
//!   whose lower bound is status.capacity instead).
//! - Growing a bound claim then passes the `PersistentVolumeClaimResize` admission plugin
//!   (`plugin/pkg/admission/storage/persistentvolume/resize/admission.go`, commit 11798964): the
//!   claim's StorageClass must exist and have `allowVolumeExpansion: true`, else 403
//!   `persistentvolumeclaims "<name>" is forbidden: only dynamically provisioned pvc can be resized
//!   and the storageclass that provisions the pvc must support resize`. (Its later check, that the
//!   PV's in-tree plugin can resize, is not modelled: CSI volumes pass it through the resizer.)
//! - StatefulSet, `pkg/apis/apps/validation/validation.go` (commit 2dd1588c)
//!   `ValidateStatefulSetUpdate`: only `replicas`, `ordinals`, `template`, `updateStrategy`,
//!   `persistentVolumeClaimRetentionPolicy` and `minReadySeconds` may change; anything else
//!   (`volumeClaimTemplates`, `selector`, `serviceName`, …) is 422 `spec: Forbidden: updates to
//!   statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy',
//!   'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden`.
//!
//! Both compare the specs after the server's defaults, as here: the caller runs the simulator's
//! defaults on the new object first.

use serde_json::Value;

use crate::error::ApiError;
use crate::resources::ResourceDef;
use crate::store::{Store, meta_str, res};

const PVC_IMMUTABLE: &str = "spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims";
const PVC_SHRINK: &str =
    "spec.resources.requests.storage: Forbidden: field can not be less than previous value";
const RESIZE_FORBIDDEN: &str = "only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize";
const STS_FORBIDDEN: &str = "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden";

/// Refuses `new` as an update of `old` (the main resource, not a subresource) where the real
/// server would.
pub(super) fn check_update(
    r: &ResourceDef,
    old: &Value,
    new: &Value,
    store: &Store,
) -> Result<(), ApiError> {
    match (r.group, r.kind) {
        ("", "PersistentVolumeClaim") => check_claim(r, old, new, store),
        ("apps", "StatefulSet") => check_statefulset(r, old, new),
        _ => Ok(()),
    }
}

fn check_claim(r: &ResourceDef, old: &Value, new: &Value, store: &Store) -> Result<(), ApiError> {
    let name = meta_str(new, "name");
    let name = name.to_string();
    let mut old_spec = old["spec"].clone();
    let mut new_spec = new["spec"].clone();
    // The binder sets volumeName once.
    if old_spec["volumeName"].as_str().unwrap_or("").is_empty() {
        old_spec["volumeName"] = new_spec["volumeName"].clone();
    }
    // The phase checked is the new object's; an update carries the stored status.
    let bound = new["status"]["phase"] == "Bound";
    if bound && !new_spec["resources"]["requests"].is_null() {
        new_spec["resources"]["requests"]["storage"] =
            old_spec["resources"]["requests"]["storage"].clone();
    }
    if canonical(&old_spec) != canonical(&new_spec) {
        return Err(ApiError::invalid(r, &name, PVC_IMMUTABLE));
    }
    let size = |v: &Value| {
        v["spec"]["resources"]["requests"]["storage"]
            .as_str()
            .and_then(bytes)
            .unwrap_or(0.0)
    };
    let (before, after) = (size(old), size(new));
    if after < before {
        return Err(ApiError::invalid(r, &name, PVC_SHRINK));
    }
    if after > before {
        // Unreachable for an unbound claim (refused above), as in the real server where
        // validation runs before validating admission.
        let class = new["spec"]["storageClassName"].as_str().unwrap_or("");
        let same = old["spec"]["storageClassName"].as_str().unwrap_or("") == class;
        let expands = !class.is_empty()
            && same
            && store
                .get(res("storage.k8s.io", "storageclasses"), "", class)
                .is_some_and(|sc| sc["allowVolumeExpansion"] == true);
        if !expands {
            return Err(ApiError::forbidden(r, &name, RESIZE_FORBIDDEN));
        }
    }
    Ok(())
}

fn check_statefulset(r: &ResourceDef, old: &Value, new: &Value) -> Result<(), ApiError> {
    let mutable = [
        "replicas",
        "ordinals",
        "template",
        "updateStrategy",
        "persistentVolumeClaimRetentionPolicy",
        "minReadySeconds",
    ];
    let rest = |v: &Value| {
        let mut spec = v["spec"].clone();
        if let Some(m) = spec.as_object_mut() {
            for k in mutable {
                m.remove(k);
            }
        }
        canonical(&spec)
    };
    if rest(old) != rest(new) {
        return Err(ApiError::invalid(r, meta_str(new, "name"), STS_FORBIDDEN));
    }
    Ok(())
}

/// A spec for comparison: `null` members dropped (an absent field and a null one are the same
/// to the server's typed comparison), and a claim template's server-set `status` ignored.
fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), canonical(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// A storage quantity in bytes (the suffixes claims use: binary, decimal, plain).
fn bytes(q: &str) -> Option<f64> {
    let units: [(&str, f64); 11] = [
        ("Ki", 1024.0),
        ("Mi", 1024.0 * 1024.0),
        ("Gi", 1024.0 * 1024.0 * 1024.0),
        ("Ti", 1024.0f64.powi(4)),
        ("Pi", 1024.0f64.powi(5)),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("", 1.0),
    ];
    units.iter().find_map(|(suffix, mult)| {
        q.strip_suffix(suffix)
            .and_then(|n| n.parse::<f64>().ok())
            .map(|n| n * mult)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(bytes("5Gi"), Some(5.0 * 1073741824.0));
        assert!(bytes("30Gi").unwrap() > bytes("5Gi").unwrap());
        assert_eq!(bytes("1G"), Some(1e9));
        assert_eq!(bytes("100"), Some(100.0));
        assert_eq!(bytes("x"), None);
    }
}
