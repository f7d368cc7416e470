//! Step 1 of the tick, and the cluster before it: the objects a fresh cluster has (namespaces, the
//! node, the node's own pods with their requests, the default StorageClass, the `kubernetes`
//! Service), and the ServiceAccount `default` every namespace gets.

use serde_json::json;

use super::{DEFAULT_STORAGE_CLASS, NODE};
use crate::SimConfig;
use crate::store::{Store, meta_str, now_rfc3339, res};

/// The pods a kind node (kind v0.32.0, `kindest/node:v1.36.1`) runs before anything is applied,
/// with their requests: (name, replicas, CPU millicores, memory MiB). The scheduler counts them
/// against the node's allocatable, as the real one does. Sources: kubeadm
/// `cmd/kubeadm/app/phases/controlplane/manifests.go` (`ComponentResources("250m"/"200m"/
/// "100m")`, CPU only), `phases/etcd/local.go` (100m, 100Mi), `phases/addons/dns/manifests.go`
/// (CoreDNS 100m, 70Mi, 2 replicas); kind v0.32.0 `pkg/build/nodeimage/const_cni.go` (kindnet
/// 100m, 50Mi). onyx's own copy is `src/stack/profile.rs` `NODE_PODS`; a contract test holds the
/// two equal.
pub const NODE_PODS: &[(&str, u32, u64, u64)] = &[
    ("kube-apiserver", 1, 250, 0),
    ("kube-controller-manager", 1, 200, 0),
    ("kube-scheduler", 1, 100, 0),
    ("etcd", 1, 100, 100),
    ("coredns", 2, 100, 70),
    ("kindnet", 1, 100, 50),
];

/// A pod bound to the node, running, with one container requesting `cpu_m` and `memory`.
fn running_pod(ns: &str, name: &str, cpu_m: u64, memory: u64) -> serde_json::Value {
    let mut requests = serde_json::Map::new();
    if cpu_m > 0 {
        requests.insert("cpu".into(), json!(format!("{cpu_m}m")));
    }
    if memory > 0 {
        requests.insert("memory".into(), json!(memory.to_string()));
    }
    json!({
        "metadata": {"name": name, "namespace": ns, "labels": {"tier": "node"}},
        "spec": {
            "nodeName": NODE,
            "containers": [{"name": name, "image": format!("registry.k8s.io/{name}:sim"),
                            "resources": {"requests": requests}}]
        },
        "status": {"phase": "Running", "qosClass": "Burstable"}
    })
}

/// The objects a fresh cluster has.
pub fn seed(store: &mut Store, config: &SimConfig) {
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
                "capacity": {"cpu": format!("{}m", config.node_cpu_m), "memory": config.node_memory_bytes.to_string(), "pods": "110", "ephemeral-storage": "100Gi"},
                "allocatable": {"cpu": format!("{}m", config.node_cpu_m), "memory": config.node_memory_bytes.to_string(), "pods": "110", "ephemeral-storage": "100Gi"},
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
    let pods = res("", "pods");
    for &(name, replicas, cpu_m, mib) in NODE_PODS {
        for i in 0..replicas {
            let pod = if replicas > 1 {
                format!("{name}-{i}")
            } else {
                format!("{name}-{NODE}")
            };
            let _ = store.create(pods, running_pod("kube-system", &pod, cpu_m, mib << 20));
        }
    }
    for (ns, name, cpu_m, memory) in &config.extra_pods {
        if store.get(res("", "namespaces"), "", ns).is_none() {
            let _ = store.create(
                res("", "namespaces"),
                json!({"metadata": {"name": ns}, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}),
            );
        }
        let _ = store.create(pods, running_pod(ns, name, *cpu_m, *memory));
    }
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
