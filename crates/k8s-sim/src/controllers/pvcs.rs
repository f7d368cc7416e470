//! Step 4 of the tick: PVCs → Bound (a PersistentVolume is provisioned for each) unless a fault
//! holds them Pending or their StorageClass is missing, with the events the real
//! persistentvolume-controller records. For a StorageClass of `rancher.io/local-path` (kind's
//! `standard`), the volume's directory and the refusals are local-path-provisioner v0.0.34's
//! ([`crate::local_path`]): a `pathPattern` it refuses leaves the claim Pending with the event its
//! controller records (sig-storage-lib-external-provisioner v11 `controller.go`
//! `provisionClaimOperation`: Warning `ProvisioningFailed`, "failed to provision volume with
//! StorageClass \"<class>\": <error>").

use serde_json::json;

use super::events::event;
use super::set_status;
use crate::SimConfig;
use crate::faults::{Fault, Target};
use crate::local_path;
use crate::store::{Store, meta_str, res};

pub(super) fn pvcs(store: &mut Store, faults: &[(u64, Target, Fault)], cfg: &SimConfig) {
    let pvc_res = res("", "persistentvolumeclaims");
    let pv_res = res("", "persistentvolumes");
    for pvc in store.list(pvc_res, None) {
        if pvc["status"]["phase"] == "Bound" {
            continue;
        }
        let held = faults
            .iter()
            .any(|(_, t, f)| matches!(f, Fault::PvcPending) && t.matches(&pvc));
        let class = pvc["spec"]["storageClassName"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let class_ok = !class.is_empty()
            && store
                .get(res("storage.k8s.io", "storageclasses"), "", &class)
                .is_some();
        if held || !class_ok {
            let msg = if held || class.is_empty() {
                "no persistent volumes available for this claim and no storage class is set"
                    .to_string()
            } else {
                format!("storageclass.storage.k8s.io \"{class}\" not found")
            };
            if pvc["status"]["phase"] != "Pending" {
                set_status(store, pvc_res, &pvc, json!({"phase": "Pending"}));
            }
            event(
                store,
                &pvc,
                "Warning",
                if held || class.is_empty() {
                    "FailedBinding"
                } else {
                    "ProvisioningFailed"
                },
                &msg,
                "persistentvolume-controller",
            );
            continue;
        }
        // The external provisioner's name for the volume: "pvc-" + the claim's UID.
        let pv_name = format!("pvc-{}", meta_str(&pvc, "uid"));
        let sc = store
            .get(res("storage.k8s.io", "storageclasses"), "", &class)
            .cloned()
            .unwrap_or_default();
        let (provisioner, host_path) = if sc["provisioner"] == local_path::PROVISIONER {
            let config = store
                .get(
                    res("", "configmaps"),
                    "local-path-storage",
                    "local-path-config",
                )
                .and_then(|c| c["data"]["config.json"].as_str().map(str::to_string));
            let base = local_path::base_path(config.as_deref());
            match local_path::volume_path(&base, &sc["parameters"], &pv_name, &pvc) {
                Ok(path) => (local_path::PROVISIONER, path),
                Err(e) => {
                    if pvc["status"]["phase"] != "Pending" {
                        set_status(store, pvc_res, &pvc, json!({"phase": "Pending"}));
                    }
                    event(
                        store,
                        &pvc,
                        "Warning",
                        "ProvisioningFailed",
                        &format!("failed to provision volume with StorageClass \"{class}\": {e}"),
                        local_path::PROVISIONER,
                    );
                    continue;
                }
            }
        } else {
            ("k8s-sim/local", format!("/var/sim/{pv_name}"))
        };
        // The helper pod's `mkdir -m 0777 -p "$VOL_DIR"` (kind's local-path-config `setup`).
        if cfg.make_volume_dirs && provisioner == local_path::PROVISIONER {
            make_dir(&host_path);
        }
        let size = pvc["spec"]["resources"]["requests"]["storage"].clone();
        let access = pvc["spec"]["accessModes"].clone();
        if store.get(pv_res, "", &pv_name).is_none() {
            let _ = store.create(
                pv_res,
                json!({
                    "metadata": {"name": pv_name, "annotations": {"pv.kubernetes.io/provisioned-by": provisioner}},
                    "spec": {
                        "capacity": {"storage": size}, "accessModes": access, "persistentVolumeReclaimPolicy": "Delete",
                        "storageClassName": class, "volumeMode": "Filesystem", "hostPath": {"path": host_path},
                        "claimRef": {"kind": "PersistentVolumeClaim", "namespace": pvc["metadata"]["namespace"], "name": pvc["metadata"]["name"], "uid": pvc["metadata"]["uid"], "apiVersion": "v1"},
                    },
                    "status": {"phase": "Bound"},
                }),
            );
        }
        let mut n = pvc.clone();
        n["spec"]["volumeName"] = json!(pv_name);
        n["metadata"]["annotations"]["pv.kubernetes.io/bind-completed"] = json!("yes");
        n["metadata"]
            .as_object_mut()
            .map(|m| m.remove("resourceVersion"));
        if let Ok(n) = store.update(
            pvc_res,
            meta_str(&pvc, "namespace"),
            meta_str(&pvc, "name"),
            n,
        ) {
            set_status(
                store,
                pvc_res,
                &n,
                json!({"phase": "Bound", "accessModes": access, "capacity": {"storage": size}}),
            );
            event(
                store,
                &n,
                "Normal",
                "ProvisioningSucceeded",
                &format!("Successfully provisioned volume {pv_name}"),
                "persistentvolume-controller",
            );
        }
    }
}

fn make_dir(path: &str) {
    if std::fs::create_dir_all(path).is_ok() {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o777));
        }
    }
}
