//! Step 1 of the tick, and the cluster before it: the objects a fresh cluster has (namespaces, the
//! node, the default StorageClass, the `kubernetes` Service), and the ServiceAccount `default`
//! every namespace gets.

use serde_json::json;

use super::{DEFAULT_STORAGE_CLASS, NODE};
use crate::store::{Store, meta_str, now_rfc3339, res};

/// The objects a fresh cluster has.
pub fn seed(store: &mut Store) {
    let ns = res("", "namespaces");
    for n in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        let _ = store.create(ns, json!({"metadata": {"name": n, "labels": {"kubernetes.io/metadata.name": n}}, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}));
    }
    let _ = store.create(
        res("", "nodes"),
        json!({
            "metadata": {"name": NODE, "labels": {
                "kubernetes.io/hostname": NODE, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                "node-role.kubernetes.io/control-plane": ""}},
            "spec": {"podCIDR": "10.244.0.0/24"},
            "status": {
                "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"},
                "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"},
                "conditions": [
                    {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory", "message": "kubelet has sufficient memory available", "lastHeartbeatTime": now_rfc3339(), "lastTransitionTime": now_rfc3339()},
                    {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure", "message": "kubelet has no disk pressure", "lastHeartbeatTime": now_rfc3339(), "lastTransitionTime": now_rfc3339()},
                    {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID", "message": "kubelet has sufficient PID available", "lastHeartbeatTime": now_rfc3339(), "lastTransitionTime": now_rfc3339()},
                    {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status", "lastHeartbeatTime": now_rfc3339(), "lastTransitionTime": now_rfc3339()}
                ],
                "addresses": [{"type": "InternalIP", "address": "172.18.0.2"}, {"type": "Hostname", "address": NODE}],
                "nodeInfo": {"kubeletVersion": "v1.33.0-sim", "kubeProxyVersion": "v1.33.0-sim", "containerRuntimeVersion": "sim://1.0", "osImage": "k8s-sim", "operatingSystem": "linux", "architecture": "amd64", "kernelVersion": "sim", "machineID": "sim", "systemUUID": "sim", "bootID": "sim"}
            }
        }),
    );
    let _ = store.create(
        res("storage.k8s.io", "storageclasses"),
        json!({
            "metadata": {"name": DEFAULT_STORAGE_CLASS, "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "k8s-sim/local", "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"
        }),
    );
    let _ = store.create(
        res("", "services"),
        json!({"metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver", "provider": "kubernetes"}},
               "spec": {"ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}], "type": "ClusterIP", "clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.1"]}}),
    );
}

pub(super) fn service_accounts(store: &mut Store) {
    let sa = res("", "serviceaccounts");
    for ns in store.list(res("", "namespaces"), None) {
        let n = meta_str(&ns, "name").to_string();
        if store.get(sa, &n, "default").is_none() {
            let _ = store.create(sa, json!({"metadata": {"name": "default", "namespace": n}}));
        }
    }
}
